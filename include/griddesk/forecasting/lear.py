"""LEAR, the LASSO-estimated autoregressive benchmark of Lago et al. (2021), as in epftoolbox.

One LASSO per hour of the day on the dataset's 24-hour grid (real-DST days are mapped onto it with
:func:`griddesk.datasets.to_dataset_grid`, exactly as the benchmark datasets were built). Inputs of day D, in
epftoolbox's column order:

- prices of D-1, D-2, D-3 and D-7, all 24 hours (96 columns, hour-major);
- the two exogenous day-ahead forecasts at D, D-1 and D-7, all 24 hours (144 columns);
- seven weekday dummies (Monday first).

Scaling as in epftoolbox: every column but the dummies, and every hour of the target, goes through its own
asinh-median transform ``asinh((x - median) / (MAD / 0.6745))`` fitted on the calibration window. The
calibration window of W days holds W - 7 training days (epftoolbox drops the first week, which feeds the lags).

Estimation as in the paper's scikit-learn (0.2x): ``LassoLarsIC(criterion="aic")`` picks the penalty on
*normalised* inputs (that version's default ``normalize=True``: centred columns of unit L2 norm) with the AIC
noise variance ``var(y)``; then ``Lasso(alpha)`` is refitted with that penalty on the unnormalised inputs.
scikit-learn >= 1.1 estimates the noise variance by OLS instead, which fails when a window has fewer days than
inputs (epftoolbox #10); passing ``noise_variance=var(y)`` restores the old criterion (same argmin), so all four
windows (56, 84, 1092, 1456) work. The AIC is read from the LARS path's first :data:`IC_PATH_STEPS` knots
(:func:`_aic_alpha`), where its minimum lies. No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import time as _time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoLarsIC

from griddesk.forecasting.features import DayMatrices, daily_grid, grid_to_mtus
from griddesk.markets import Market

#: Calibration windows of the paper's four LEARs (days); LEAR-Ens is their mean.
LEAR_WINDOWS_DAYS: tuple[int, ...] = (56, 84, 1092, 1456)
#: Bump when features or estimation change in a way that changes forecasts.
LEAR_CODE_VERSION = "v3"  # v2: the AIC reads a path cut at IC_PATH_STEPS knots; v3: lost exogenous hours imputed
PRICE_LAG_DAYS: tuple[int, ...] = (1, 2, 3, 7)
EXOGENOUS_LAG_DAYS: tuple[int, ...] = (0, 1, 7)
HOURS = 24
#: Days before the calibration window that its first training day's lags reach back to.
MAX_LAG_DAYS = 7
_MAD_TO_SIGMA = 1.0 / 0.6745  # statsmodels.robust.mad, which epftoolbox uses
#: LARS steps computed before the AIC is read. The full path has 160-410 knots, but the AIC's minimum came at knot
#: 7-84 on the fits we sampled; the cut path is a deterministic prefix of the full one, so its argmin is the same
#: unless the criterion dips lower again beyond the cut. A cut at 64 missed such a second dip on 14 of 480 DE fits;
#: at 120 none of 1,056 sampled NP and DE fits (windows 1092 and 1456) differed, and NP's forecasts of all four
#: windows were identical on 8 sampled days. When the cut path's minimum lies in its last quarter, the full path is
#: computed (see ``_aic_alpha``). 2.5x faster fits than the full path.
IC_PATH_STEPS = 120


class LearConfig(BaseModel):
    """Settings of one LEAR; every field enters the model version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calibration_window_days: int = Field(
        ..., ge=14, description="Days of history the model is recalibrated on each day (paper: 56, 84, 1092, 1456)."
    )
    max_iter: int = Field(2500, ge=1, description="Iteration cap of LARS and of the Lasso refit (paper: 2500).")
    noise_variance: str = Field(
        "target_variance",
        pattern="^(target_variance|sklearn_estimate)$",
        description="AIC noise variance: var(y) as scikit-learn < 1.1 did (paper), or scikit-learn's OLS estimate "
        "(fails for windows shorter than the number of inputs).",
    )
    normalize_for_ic: bool = Field(
        True, description="Select the penalty on normalised inputs, as scikit-learn < 1.2's default did (paper)."
    )

    @property
    def name(self) -> str:
        """Model name, e.g. ``lear_1456``."""
        return f"lear_{self.calibration_window_days}"

    @property
    def version(self) -> str:
        """Deterministic version of code and config, e.g. ``lear/v1/1a2b3c4d``."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return f"lear/{LEAR_CODE_VERSION}/{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class AsinhMedianScaler:
    """Column-wise ``asinh((x - median) / (MAD / 0.6745))``, epftoolbox's "Invariant" scaler."""

    median: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> AsinhMedianScaler:
        """Fit on a 2-D array (rows are days); a zero MAD falls back to the std, then to 1 (constant column)."""
        values = np.asarray(values, dtype=float)
        median = np.median(values, axis=0)
        scale = np.median(np.abs(values - median), axis=0) * _MAD_TO_SIGMA
        flat = ~(scale > 0)
        if flat.any():
            std = np.std(values[:, flat], axis=0)
            scale[flat] = np.where(std > 0, std, 1.0)
        return cls(median=median, scale=scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return np.arcsinh((np.asarray(values, dtype=float) - self.median) / self.scale)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.sinh(np.asarray(values, dtype=float)) * self.scale + self.median


@dataclass
class LearState:
    """What one day's fit hands to the next: the 24 Lasso models, reused as warm starts (same optimum, faster)."""

    lassos: list[Lasso] = field(default_factory=list)


@dataclass(frozen=True)
class LearInfo:
    """What :func:`forecast_day_lear` did: training days (local) and timings."""

    market_code: str
    delivery_date: date
    model_name: str
    model_version: str
    first_training_day: date
    last_training_day: date
    n_training_days: int
    n_inputs: int
    nonzero_coefficients: int  # summed over the 24 hourly models
    fit_seconds: float


def _day_matrix(grid: pd.DataFrame | DayMatrices, column: str, days: pd.DatetimeIndex) -> np.ndarray:
    """``days x 24`` values of ``column``; NaN where the grid lacks a day."""
    matrices = grid if isinstance(grid, DayMatrices) else DayMatrices.of(grid)
    return matrices.rows(column, days)


def lear_features(grid: pd.DataFrame | DayMatrices, target_days: pd.DatetimeIndex) -> np.ndarray:
    """The LEAR input rows of ``target_days`` (naive local midnights), epftoolbox's column order.

    Returns:
        ``len(target_days) x 247`` (with two exogenous series); NaN where an input is unknown.
    """
    m = grid if isinstance(grid, DayMatrices) else DayMatrices.of(grid)
    prices = {lag: m.rows("price_per_mwh", target_days, lag) for lag in PRICE_LAG_DAYS}
    exog = {c: {lag: m.rows(c, target_days, lag) for lag in EXOGENOUS_LAG_DAYS} for c in ("exog_1", "exog_2")}
    columns = [prices[lag][:, hour] for hour in range(HOURS) for lag in PRICE_LAG_DAYS]
    columns += [
        exog[column][lag][:, hour]
        for hour in range(HOURS)
        for lag in EXOGENOUS_LAG_DAYS
        for column in ("exog_1", "exog_2")
    ]
    weekday = np.asarray(target_days.dayofweek)
    columns += [(weekday == dow).astype(float) for dow in range(7)]
    return np.column_stack(columns)


def _normalised(x: np.ndarray) -> np.ndarray:
    """Centred columns of unit L2 norm: what ``normalize=True`` did inside scikit-learn < 1.2's LARS."""
    centred = x - x.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    norm[norm == 0.0] = 1.0
    return centred / norm


def _aic_alpha(x: np.ndarray, y: np.ndarray, gram: np.ndarray, noise: float | None, max_iter: int) -> float:
    """The LARS knot with the lowest AIC, from a path cut at :data:`IC_PATH_STEPS` steps when that is safe.

    Most of a LEAR fit is scikit-learn's LARS walking its whole path in Python, although the AIC picks a knot near
    its start. A path cut after ``n`` steps equals the first ``n`` steps of the full path, so its argmin is the
    full path's unless the criterion dips lower beyond the cut; when the cut path's minimum sits in its last
    quarter (the criterion may still be falling), the full path is computed.
    """
    steps = min(IC_PATH_STEPS, max_iter)
    ic = LassoLarsIC(criterion="aic", max_iter=steps, noise_variance=noise, precompute=gram).fit(x, y)
    cut = len(ic.alphas_) - 1 >= steps  # the path stopped at the cap, not at its end
    if cut and int(np.argmin(ic.criterion_)) > steps * 3 // 4 and steps < max_iter:
        ic = LassoLarsIC(criterion="aic", max_iter=max_iter, noise_variance=noise, precompute=gram).fit(x, y)
    return float(ic.alpha_)


class LearForecaster:
    """24 hourly LASSOs; ``fit(x, y)`` on days x inputs and days x 24, then ``predict(x)``.

    Warm starts: pass the previous day's :class:`LearState`; the Lasso refit starts from its coefficients. The
    optimum is the same (coordinate descent is run to the same tolerance), only reached sooner.
    """

    def __init__(self, config: LearConfig) -> None:
        self.config = config
        self._x_scaler: AsinhMedianScaler | None = None
        self._y_scaler: AsinhMedianScaler | None = None
        self._lassos: list[Lasso] = []
        self._x_mean: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, state: LearState | None = None) -> LearState:
        """Fit on ``x`` (days x inputs, the last 7 columns weekday dummies) and ``y`` (days x 24, per MWh).

        Raises:
            ValueError: On NaNs, mismatched shapes or fewer than 2 days.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 2 or y.shape != (x.shape[0], HOURS):
            raise ValueError(f"LEAR fit needs x days x inputs and y days x 24; got {x.shape} and {y.shape}")
        if x.shape[0] < 2:
            raise ValueError(f"LEAR fit needs at least 2 training days, got {x.shape[0]}")
        if np.isnan(x).any() or np.isnan(y).any():
            raise ValueError("LEAR fit got NaN inputs or targets; the calibration window has holes")
        self._x_scaler = AsinhMedianScaler.fit(x[:, :-7])
        self._y_scaler = AsinhMedianScaler.fit(y)
        xs = x.copy()
        xs[:, :-7] = self._x_scaler.transform(x[:, :-7])
        ys = self._y_scaler.transform(y)
        # Centre once and share the Gram matrices across the 24 hours: same solutions, several times faster.
        self._x_mean = xs.mean(axis=0)
        xc = xs - self._x_mean
        gram = xc.T @ xc
        x_ic = _normalised(xs) if self.config.normalize_for_ic else xc
        gram_ic = x_ic.T @ x_ic
        previous = state.lassos if state is not None and len(state.lassos) == HOURS else None
        lassos = []
        with warnings.catch_warnings():
            # Short windows end some paths early and some refits at max_iter, as in the paper's runs.
            warnings.simplefilter("ignore", ConvergenceWarning)
            for hour in range(HOURS):
                target = ys[:, hour]
                variance = float(np.var(target))
                noise = (variance if variance > 0 else 1.0) if self.config.noise_variance == "target_variance" else None
                alpha = _aic_alpha(x_ic, target, gram_ic, noise, self.config.max_iter)
                lasso = Lasso(
                    alpha=alpha, max_iter=self.config.max_iter, precompute=gram, warm_start=previous is not None
                )
                if previous is not None and previous[hour].coef_.shape == (xs.shape[1],):
                    lasso.coef_ = previous[hour].coef_.copy()
                lasso.fit(xc, target)
                lassos.append(lasso)
        self._lassos = lassos
        return LearState(lassos=lassos)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forecast rows ``x`` (days x inputs); returns days x 24 in price per MWh.

        Raises:
            RuntimeError: Before ``fit``.
            ValueError: On NaN inputs.
        """
        if not self._lassos or self._x_scaler is None or self._y_scaler is None:
            raise RuntimeError("LearForecaster.predict called before fit")
        x = np.atleast_2d(np.asarray(x, dtype=float)).copy()
        if np.isnan(x).any():
            raise ValueError("LEAR predict got NaN inputs (missing lagged prices or exogenous forecasts for D)")
        x[:, :-7] = self._x_scaler.transform(x[:, :-7])
        x = x - self._x_mean  # the Lassos were fitted on centred inputs
        scaled = np.column_stack([lasso.predict(x) for lasso in self._lassos])
        return self._y_scaler.inverse(scaled)

    @property
    def nonzero_coefficients(self) -> int:
        return int(sum(np.count_nonzero(lasso.coef_) for lasso in self._lassos))


def forecast_day_lear(
    prices: pd.DataFrame,
    exogenous: pd.DataFrame,
    market: Market,
    delivery_date: date,
    config: LearConfig,
    state: LearState | None = None,
) -> tuple[pd.DataFrame, LearInfo, LearState]:
    """Recalibrate LEAR on the window before D and forecast D's MTUs.

    Args:
        prices: Point-in-time prices as of the cut-off (``delivery_start_utc``, ``price_per_mwh``,
            ``resolution_minutes``); must cover the window plus 7 days and end with D-1.
        exogenous: Exogenous forecasts as of the cut-off (long format), up to and including D.
        market: The market.
        delivery_date: Local delivery day D.
        config: The LEAR's settings (window).
        state: The previous day's state for warm starts (optional).

    Returns:
        ``(forecast_df, info, state)``: ``forecast_df`` has ``delivery_start_utc``, ``forecast_price_per_mwh``
        and interval columns equal to the point (LEAR has no intervals of its own), one row per MTU of D at the
        prices' resolution.

    Raises:
        ValueError: Prices at or after D's start (look-ahead), or inputs missing for D or in the window.
    """
    day_start, _ = market.delivery_day_bounds_utc(delivery_date)
    starts = pd.DatetimeIndex(prices["delivery_start_utc"])
    if len(starts) and starts.max() >= pd.Timestamp(day_start):
        raise ValueError(
            f"prices reach {starts.max().isoformat()}, at or after the start of {delivery_date}: look-ahead"
        )
    window = config.calibration_window_days
    first_day = delivery_date - timedelta(days=window)
    oldest = pd.Timestamp(market.delivery_day_bounds_utc(first_day)[0])
    prices = prices[pd.DatetimeIndex(prices["delivery_start_utc"]) >= oldest]
    exogenous = exogenous[pd.DatetimeIndex(exogenous["delivery_start_utc"]) >= oldest]
    grid = DayMatrices.of(daily_grid(prices, exogenous, market))

    # epftoolbox: the window is the last W days before D; its first week only feeds the lags.
    train_days = pd.date_range(pd.Timestamp(first_day + timedelta(days=MAX_LAG_DAYS)), periods=window - MAX_LAG_DAYS)
    target_day = pd.DatetimeIndex([pd.Timestamp(delivery_date)])
    x_train = lear_features(grid, train_days)
    y_train = _day_matrix(grid, "price_per_mwh", train_days)
    x_test = lear_features(grid, target_day)
    missing_days = train_days[np.isnan(x_train).any(axis=1) | np.isnan(y_train).any(axis=1)]
    if len(missing_days):
        raise ValueError(
            f"{market.code} {delivery_date}: LEAR calibration window lacks prices or exogenous forecasts for "
            f"{len(missing_days)} day(s), first {missing_days[0].date()} (needs {window} complete days before D)"
        )
    if np.isnan(x_test).any():
        raise ValueError(
            f"{market.code} {delivery_date}: LEAR inputs for D are incomplete (needs prices of D-1, D-2, D-3, D-7 "
            "and both exogenous forecasts for D, D-1 and D-7)"
        )

    model = LearForecaster(config)
    t0 = _time.perf_counter()
    new_state = model.fit(x_train, y_train, state)
    values = model.predict(x_test)[0]
    fit_seconds = _time.perf_counter() - t0

    mtu = int(pd.Series(prices["resolution_minutes"]).iloc[-1]) if "resolution_minutes" in prices else 60
    forecast = grid_to_mtus(values, market, delivery_date, mtu)
    forecast["lower_price_per_mwh"] = forecast["forecast_price_per_mwh"]
    forecast["upper_price_per_mwh"] = forecast["forecast_price_per_mwh"]
    info = LearInfo(
        market_code=market.code,
        delivery_date=delivery_date,
        model_name=config.name,
        model_version=config.version,
        first_training_day=train_days[0].date(),
        last_training_day=train_days[-1].date(),
        n_training_days=len(train_days),
        n_inputs=x_train.shape[1],
        nonzero_coefficients=model.nonzero_coefficients,
        fit_seconds=fit_seconds,
    )
    return forecast, info, new_state
