"""Day-ahead price forecaster: Prophet 1.5 on an asinh-median scale, fit/predict on DataFrames, no I/O.

The design matrix comes from :mod:`griddesk.forecasting.features` (``ds`` is UTC-naive; local daily and weekly
patterns and holidays are regressors there). Prices are modelled on the variance-stabilised scale of
Uniejewski, Weron and Ziel (2018), ``x' = asinh((x - median) / (1.4826 * MAD))``, fitted on the training target
and applied to the target and to every price-valued regressor; forecasts and interval bounds are mapped back
with the inverse (the map is monotonic, so quantiles stay quantiles).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

# Prophet logs an error at import when plotly is absent; plotting is not used here.
logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)

import prophet  # noqa: E402
from cmdstanpy.utils import get_logger as _cmdstanpy_logger  # noqa: E402
from prophet import Prophet  # noqa: E402
from prophet.utilities import warm_start_params as _warm_start_params  # noqa: E402

from griddesk.forecasting.features import (  # noqa: E402
    PRICE_FEATURE_PREFIX,
    DayMatrices,
    build_design_matrix,
    daily_grid,
    grid_to_mtus,
    holiday_flags,
)
from griddesk.markets import Market  # noqa: E402
from griddesk.prophet_fast import fast_stan, lean_prophet, predict_additive  # noqa: E402

# cmdstanpy logs every optimisation start/finish at INFO, and Prophet its seasonality choices: keep logs readable.
# cmdstanpy configures its logger on first use (level DEBUG): configure it now, then raise the level.
_cmdstanpy_logger().setLevel(logging.WARNING)
logging.getLogger("prophet").setLevel(logging.WARNING)

_log = logging.getLogger(__name__)
#: Bump when the features or the model code change in a way that changes forecasts.
MODEL_CODE_VERSION = "v2"  # v2: zero or stuck exogenous hours imputed in the calibration window
FORECAST_COLUMNS = ("delivery_start_utc", "forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh")
_MAD_TO_SIGMA = 1.4826  # makes the MAD a consistent estimator of the standard deviation under normality


class PriceForecasterConfig(BaseModel):
    """Settings of :class:`PriceForecaster`; every field enters ``model_version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_width: float = Field(0.9, gt=0.0, lt=1.0, description="Central prediction interval width (0.9 = 5-95 %).")
    uncertainty_samples: int = Field(
        100, ge=0, description="Posterior draws for the interval; 100 keeps predict fast, 0 disables intervals."
    )
    seed: int = Field(42, description="Seed of the Stan optimiser and of numpy before predict (reproducible bands).")
    transform: Literal["asinh_median", "none"] = Field(
        "asinh_median", description="Variance-stabilising transform of prices (target and price regressors)."
    )
    growth: Literal["linear", "flat"] = Field("linear", description="Prophet trend type.")
    changepoint_prior_scale: float = Field(
        0.05, gt=0.0, description="Flexibility of the piecewise-linear trend (Prophet default 0.05)."
    )
    n_changepoints: int = Field(
        10,
        ge=0,
        description="Potential trend changepoints in the first 80 % of history; 10 fits 2-3x faster than Prophet's "
        "default 25, with the same accuracy on FR/NP/DE samples.",
    )
    yearly_seasonality: bool | int = Field(
        False, description="Prophet yearly seasonality (Fourier order or bool); off: a year of history cannot fit it."
    )
    seasonality_prior_scale: float = Field(10.0, gt=0.0, description="Prior scale of Prophet seasonalities.")
    regressor_prior_scale: float = Field(
        10.0, gt=0.0, description="Prior scale of every regressor coefficient (on standardised regressors)."
    )
    newton_fallback: bool = Field(
        False,
        description="Refit with Newton when L-BFGS stops on a failed line search (Prophet's habit; 5-20x slower on "
        "a year of hourly data). Off: keep L-BFGS's last iterate, which in those cases sits at the optimum "
        "(log-prob steps ~1e-6); ``converged`` reports it.",
    )


@dataclass(frozen=True)
class AsinhMedianTransform:
    """``x' = asinh((x - median) / scale)`` with ``scale = 1.4826 * MAD`` (Uniejewski et al. 2018)."""

    median: float
    scale: float

    @classmethod
    def fit(cls, values: np.ndarray) -> AsinhMedianTransform:
        """Median and MAD scale of ``values`` (price per MWh); a zero MAD falls back to the std, then to 1."""
        values = np.asarray(values, dtype=float)
        median = float(np.median(values))
        scale = _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
        if not scale > 0.0:
            # Flat prices (MAD 0) would divide by zero; any positive scale keeps the map invertible.
            scale = float(np.std(values)) or 1.0
        return cls(median=median, scale=scale)

    def forward(self, values: np.ndarray) -> np.ndarray:
        return np.arcsinh((np.asarray(values, dtype=float) - self.median) / self.scale)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.sinh(np.asarray(values, dtype=float)) * self.scale + self.median


@dataclass(frozen=True)
class _IdentityTransform:
    def forward(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float)


class PriceForecaster:
    """Prophet price model for one market: ``fit(train_df)``, then ``predict(future_df)``.

    Every column of ``train_df`` other than ``ds`` and ``y`` is an additive regressor; columns named
    ``price_*`` are put through the price transform. Neither method touches a database.
    """

    def __init__(self, config: PriceForecasterConfig | None = None) -> None:
        self.config = config or PriceForecasterConfig()
        self._model: Prophet | None = None
        self._transform: AsinhMedianTransform | _IdentityTransform | None = None
        self._regressors: list[str] = []
        self._converged = False

    @property
    def model_version(self) -> str:
        """Deterministic id of code and config, e.g. ``prophet-1.5.0/asinh_median/v1/3f2a9c1d``."""
        payload = json.dumps(self.config.model_dump(mode="json"), sort_keys=True)
        digest = hashlib.sha256(f"{MODEL_CODE_VERSION}:{payload}".encode()).hexdigest()[:8]
        return f"prophet-{prophet.__version__}/{self.config.transform}/{MODEL_CODE_VERSION}/{digest}"

    @property
    def regressors(self) -> list[str]:
        """Regressor columns learnt in ``fit`` (empty before)."""
        return list(self._regressors)

    def fit(self, train_df: pd.DataFrame, init: Mapping[str, object] | None = None) -> PriceForecaster:
        """Fit on ``train_df`` (``ds`` UTC-naive, ``y`` price per MWh, regressors); returns ``self``.

        Args:
            train_df: The training frame of :func:`~griddesk.forecasting.features.build_design_matrix`.
            init: Warm start: :attr:`warm_start_params` of a model fitted the day before with the same config
                (Prophet's documented "updating fitted models"). The optimiser starts there instead of at
                Prophet's default, so a daily refit takes fewer iterations; the optimum is the same.

        Raises:
            ValueError: If ``ds``/``y`` are missing, the frame has fewer than two rows, or any value is null.
        """
        missing = [c for c in ("ds", "y") if c not in train_df.columns]
        if missing:
            raise ValueError(f"train_df lacks column(s) {', '.join(missing)}")
        if len(train_df) < 2:
            raise ValueError(f"train_df has {len(train_df)} row(s); Prophet needs at least 2")
        nulls = [str(c) for c in train_df.columns if train_df[c].isna().any()]
        if nulls:
            raise ValueError(f"train_df has nulls in {', '.join(nulls)}; drop incomplete rows before fitting")

        cfg = self.config
        y = train_df["y"].to_numpy(dtype=float)
        self._transform = AsinhMedianTransform.fit(y) if cfg.transform == "asinh_median" else _IdentityTransform()
        self._regressors = [str(c) for c in train_df.columns if c not in ("ds", "y")]
        df = self._to_model_scale(train_df)
        df["y"] = self._transform.forward(y)

        model = Prophet(
            growth=cfg.growth,
            changepoint_prior_scale=cfg.changepoint_prior_scale,
            n_changepoints=cfg.n_changepoints,
            yearly_seasonality=cfg.yearly_seasonality,
            weekly_seasonality=False,  # local weekday regressors instead: ds is UTC (see features.py)
            daily_seasonality=False,  # local time-of-day regressors instead
            seasonality_prior_scale=cfg.seasonality_prior_scale,
            interval_width=cfg.interval_width,
            uncertainty_samples=cfg.uncertainty_samples,
        )
        for name in self._regressors:
            model.add_regressor(name, prior_scale=cfg.regressor_prior_scale)
        fit_kwargs: dict = {"seed": cfg.seed}
        if init is not None:
            fit_kwargs["init"] = dict(init)
        if not cfg.newton_fallback:
            # cmdstanpy then returns the last iterate on "Line search failed" instead of raising.
            fit_kwargs["require_converged"] = False
        stan_logger = _cmdstanpy_logger()
        level = stan_logger.level
        # A failed line search logs an ERROR line and a page of iterations; we log one line. Real failures raise.
        stan_logger.setLevel(logging.CRITICAL)
        try:
            model.fit(df, **fit_kwargs)
        finally:
            stan_logger.setLevel(level)
        self._converged = bool(getattr(model.stan_backend.stan_fit, "converged", True))
        if not self._converged:
            _log.warning("L-BFGS stopped on a failed line search; using its last iterate (%d rows)", len(df))
        self._model = model
        return self

    @property
    def warm_start_params(self) -> dict[str, object]:
        """The fitted Stan parameters (k, m, sigma_obs, delta, beta), to warm-start tomorrow's fit.

        Raises:
            RuntimeError: Before ``fit``.
        """
        if self._model is None:
            raise RuntimeError("PriceForecaster.warm_start_params needs a fitted model")
        return _warm_start_params(self._model)

    @property
    def converged(self) -> bool | None:
        """False if the optimiser stopped on a failed line search (last iterate kept); None before ``fit``."""
        return self._converged if self._model is not None else None

    def predict(self, future_df: pd.DataFrame) -> pd.DataFrame:
        """Forecast the MTUs of ``future_df`` (``ds`` UTC-naive plus the fitted regressors).

        Returns:
            Columns ``delivery_start_utc`` (tz-aware UTC), ``forecast_price_per_mwh``, ``lower_price_per_mwh``
            and ``upper_price_per_mwh`` (market currency per MWh; bounds of the ``interval_width`` interval,
            equal to the forecast when ``uncertainty_samples`` is 0).

        Raises:
            RuntimeError: If called before ``fit``.
            ValueError: If ``ds`` or a regressor is missing, or any regressor value is null.
        """
        if self._model is None or self._transform is None:
            raise RuntimeError("PriceForecaster.predict called before fit")
        missing = [c for c in ("ds", *self._regressors) if c not in future_df.columns]
        if missing:
            raise ValueError(f"future_df lacks column(s) {', '.join(missing)}")
        nulls = [c for c in ("ds", *self._regressors) if future_df[c].isna().any()]
        if nulls:
            raise ValueError(f"future_df has nulls in {', '.join(nulls)}; the model never fills regressors")

        df = self._to_model_scale(future_df)
        # Prophet draws its interval samples from numpy's global generator: seed it, then restore the caller's state.
        saved_state = np.random.get_state()
        np.random.seed(self.config.seed)
        try:
            raw = self._model.predict(df)
        finally:
            np.random.set_state(saved_state)

        forecast = self._transform.inverse(raw["yhat"].to_numpy())
        if self.config.uncertainty_samples > 0:
            lower = self._transform.inverse(raw["yhat_lower"].to_numpy())
            upper = self._transform.inverse(raw["yhat_upper"].to_numpy())
        else:
            lower, upper = forecast.copy(), forecast.copy()
        return pd.DataFrame(
            {
                "delivery_start_utc": pd.DatetimeIndex(raw["ds"]).tz_localize("UTC"),
                "forecast_price_per_mwh": forecast,
                "lower_price_per_mwh": lower,
                "upper_price_per_mwh": upper,
            }
        )

    def _to_model_scale(self, frame: pd.DataFrame) -> pd.DataFrame:
        assert self._transform is not None
        df = pd.DataFrame({"ds": pd.DatetimeIndex(frame["ds"])})
        for name in self._regressors:
            values = frame[name].to_numpy(dtype=float)
            df[name] = self._transform.forward(values) if name.startswith(PRICE_FEATURE_PREFIX) else values
        if df["ds"].dt.tz is not None:
            raise ValueError("ds must be naive UTC (Prophet rejects tz-aware timestamps)")
        return df


def _starts_at_or_after(frame: pd.DataFrame, name: str, cutoff: pd.Timestamp) -> np.ndarray:
    if "delivery_start_utc" not in frame.columns:
        raise ValueError(f"{name} frame lacks column delivery_start_utc")
    starts = pd.DatetimeIndex(frame["delivery_start_utc"])
    if starts.tz is None:
        raise ValueError(f"{name}.delivery_start_utc must be tz-aware (UTC), got naive timestamps")
    return np.asarray(starts >= cutoff)


@dataclass(frozen=True)
class ForecastInfo:
    """What :func:`forecast_day` did: the model, its training window (UTC) and its timings."""

    market_code: str
    delivery_date: date
    model_version: str
    training_start_utc: datetime  # first training MTU start (inclusive)
    training_end_utc: datetime  # end of the last training MTU (exclusive); <= D's start
    n_training_rows: int
    optimizer_converged: bool  # False: L-BFGS stopped on a failed line search at (in practice) the optimum
    fit_seconds: float
    predict_seconds: float
    is_warm_start: bool = False
    #: The fitted parameters, to pass as ``warm_start`` to tomorrow's :func:`forecast_day`.
    warm_start_params: dict | None = field(default=None, repr=False, compare=False)


def forecast_day(
    prices: pd.DataFrame,
    exogenous: pd.DataFrame,
    market: Market,
    delivery_date: date,
    history_days: int = 365,
    config: PriceForecasterConfig | None = None,
    warm_start: Mapping[str, object] | None = None,
) -> tuple[pd.DataFrame, ForecastInfo]:
    """Build features, fit on the last ``history_days`` local days before D, and forecast every MTU of D.

    Args:
        prices: Price history as of the cut-off (see :func:`build_design_matrix`); rows older than the window
            plus 8 days are ignored.
        exogenous: Exogenous forecasts, history and all of D, long format.
        market: The market; gives the local delivery day.
        delivery_date: Local delivery day D.
        history_days: Training window length in local days ending at D's start.
        config: Model settings; defaults to :class:`PriceForecasterConfig`.
        warm_start: ``info.warm_start_params`` of the previous day's forecast with the same config (optional).

    Returns:
        ``(forecast_df, info)``: the :meth:`PriceForecaster.predict` frame with one row per MTU of D (23/24/25
        hourly, 92/96/100 quarter-hourly), and a :class:`ForecastInfo`.

    Raises:
        ValueError: As :func:`build_design_matrix` (look-ahead, missing exogenous for D, short history), or if
            ``history_days`` < 1.
    """
    if history_days < 1:
        raise ValueError(f"history_days must be >= 1, got {history_days}")
    day_start, day_end = market.delivery_day_bounds_utc(delivery_date)
    window_start = market.delivery_day_bounds_utc(delivery_date - timedelta(days=history_days))[0]
    # Lags reach 7 days back and D-1 statistics one day: keep 8 days before the window, drop the rest (speed).
    oldest_needed = pd.Timestamp(window_start - timedelta(days=8))
    prices = prices[_starts_at_or_after(prices, "prices", oldest_needed)]
    exogenous = exogenous[_starts_at_or_after(exogenous, "exogenous", oldest_needed)]

    train_df, future_df = build_design_matrix(prices, exogenous, market, day_start, day_end)
    train_df = train_df[train_df["ds"] >= pd.Timestamp(window_start).tz_convert("UTC").tz_localize(None)]
    forecaster = PriceForecaster(config)
    t0 = _time.perf_counter()
    forecaster.fit(train_df, init=warm_start)
    t1 = _time.perf_counter()
    forecast = forecaster.predict(future_df)
    t2 = _time.perf_counter()

    mtu = pd.Timedelta(minutes=int(prices["resolution_minutes"].iloc[0]))
    info = ForecastInfo(
        market_code=market.code,
        delivery_date=delivery_date,
        model_version=forecaster.model_version,
        training_start_utc=pd.Timestamp(train_df["ds"].iloc[0]).tz_localize("UTC").to_pydatetime(),
        training_end_utc=(pd.Timestamp(train_df["ds"].iloc[-1]).tz_localize("UTC") + mtu).to_pydatetime(),
        n_training_rows=len(train_df),
        optimizer_converged=bool(forecaster.converged),
        fit_seconds=t1 - t0,
        predict_seconds=t2 - t1,
        is_warm_start=warm_start is not None,
        warm_start_params=forecaster.warm_start_params,
    )
    return forecast, info


# --------------------------------------------------------------------------------------------------------------------
# per-hour Prophet: one daily-series model per local hour of the 24-hour grid (the production model)
# --------------------------------------------------------------------------------------------------------------------

#: Bump when the per-hour features or model code change in a way that changes forecasts.
#: v2: forecasts clipped to the training range; v3: warm refits capped (max_iter); v4: zero or stuck exogenous
#: hours imputed in the calibration window (griddesk.forecasting.exogenous_cleaning)
PER_HOUR_CODE_VERSION = "v4"
#: Forecasts on the transformed scale stay within the training target's range widened by this share of its span:
#: a trend or a rare regressor extrapolated on a short history must not explode through sinh (seen: -8870 EUR/MWh
#: from 27 training days).
TRANSFORMED_RANGE_PAD = 0.1


class PerHourForecasterConfig(BaseModel):
    """Settings of :func:`forecast_day_per_hour`; every field enters the model version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    history_days: int = Field(365, ge=14, description="Training days before D (each hour's model sees one per day).")
    n_changepoints: int = Field(10, ge=0, description="Potential trend changepoints in the first 80 % of history.")
    changepoint_prior_scale: float = Field(0.05, gt=0.0, description="Flexibility of the piecewise-linear trend.")
    weekly_fourier_order: int = Field(
        3,
        ge=0,
        description="Prophet weekly seasonality on the local date (0: off; weekday effects then come only "
        "from the lags).",
    )
    regressor_prior_scale: float = Field(10.0, gt=0.0, description="Prior scale of every regressor coefficient.")
    interval_width: float = Field(0.9, gt=0.0, lt=1.0, description="Central prediction interval width.")
    uncertainty_samples: int = Field(
        0,
        ge=0,
        description="Posterior draws per hourly model for Prophet's own interval; 0: no interval here "
        "(the backtest gives empirical intervals), and 24 cheaper predicts.",
    )
    seed: int = Field(42, description="Seed of the Stan optimiser and of numpy before predict.")
    max_iter: int = Field(
        100,
        ge=1,
        description="L-BFGS iteration cap of a warm-started refit (a cold start keeps Prophet's 10,000): it starts "
        "next to yesterday's optimum, and each day goes on from where the last stopped.",
    )


#: Regressors of the per-hour model for hour h of D (prices through the hour's asinh-median transform).
PER_HOUR_FEATURES: tuple[str, ...] = (
    "price_same_hour_d1",
    "price_same_hour_d2",
    "price_same_hour_d7",  # same local hour of D-1, D-2, D-7
    "price_hour_before_d1",
    "price_hour_after_d1",
    "price_last_hour_d1",  # neighbours of h and 23:00 on D-1
    "price_mean_d1",
    "price_max_d1",
    "price_min_d1",  # D-1 daily statistics
    "exog_1",
    "exog_2",
    "exog_1_d1",
    "exog_2_d1",  # both exogenous forecasts for hour h of D and of D-1
    "exog_1_day_mean",
    "exog_2_day_mean",  # their means over D
    "is_holiday",  # local public holiday (holidays package)
)


def per_hour_inputs(grid, days: pd.DatetimeIndex, market: Market) -> dict[str, np.ndarray]:
    """What every hour's design of ``days`` reads, computed once: ``days x 24`` price and exogenous matrices (D-1,
    D-2, D-7; D and D-1) and the holiday flags. Pass it to :func:`per_hour_design` for each hour."""
    return {
        "p1": grid.rows("price_per_mwh", days, 1),
        "p2": grid.rows("price_per_mwh", days, 2),
        "p7": grid.rows("price_per_mwh", days, 7),
        "e1": grid.rows("exog_1", days),
        "e2": grid.rows("exog_2", days),
        "e1_d1": grid.rows("exog_1", days, 1),
        "e2_d1": grid.rows("exog_2", days, 1),
        "is_holiday": holiday_flags(pd.DatetimeIndex(days), market),
    }


def per_hour_design(
    grid, days: pd.DatetimeIndex, hour: int, market: Market, inputs: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Raw (untransformed) regressors of ``hour`` for ``days`` (naive local midnights), columns
    :data:`PER_HOUR_FEATURES` plus ``ds`` (the local date); NaN where an input is unknown.

    Args:
        grid: :class:`~griddesk.forecasting.features.DayMatrices` of prices and exogenous forecasts.
        days: Target days.
        hour: Local hour on the 24-hour grid, 0-23.
        market: Gives the holiday country.
        inputs: :func:`per_hour_inputs` of the same grid and days (computed here when None).
    """
    x = inputs if inputs is not None else per_hour_inputs(grid, days, market)
    p1, e1, e2 = x["p1"], x["e1"], x["e2"]
    return pd.DataFrame(
        {
            "ds": days,
            "price_same_hour_d1": p1[:, hour],
            "price_same_hour_d2": x["p2"][:, hour],
            "price_same_hour_d7": x["p7"][:, hour],
            "price_hour_before_d1": p1[:, (hour - 1) % 24],
            "price_hour_after_d1": p1[:, (hour + 1) % 24],
            "price_last_hour_d1": p1[:, 23],
            "price_mean_d1": p1.mean(axis=1),
            "price_max_d1": p1.max(axis=1),
            "price_min_d1": p1.min(axis=1),
            "exog_1": e1[:, hour],
            "exog_2": e2[:, hour],
            "exog_1_d1": x["e1_d1"][:, hour],
            "exog_2_d1": x["e2_d1"][:, hour],
            "exog_1_day_mean": e1.mean(axis=1),
            "exog_2_day_mean": e2.mean(axis=1),
            "is_holiday": x["is_holiday"],
        }
    )


@dataclass(frozen=True)
class PerHourInfo:
    """What :func:`forecast_day_per_hour` did: model version, training window (UTC) and timings."""

    market_code: str
    delivery_date: date
    model_version: str
    training_start_utc: datetime
    training_end_utc: datetime
    n_training_days: int
    fit_seconds: float
    is_warm_start: bool
    #: Hour -> fitted Stan parameters, to pass as ``warm_start`` to tomorrow's forecast.
    warm_start_params: dict | None = field(default=None, repr=False, compare=False)


def per_hour_model_version(config: PerHourForecasterConfig) -> str:
    """Deterministic version of code and config, e.g. ``prophet-1.5.0/per_hour/v1/3f2a9c1d``."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    digest = hashlib.sha256(f"{PER_HOUR_CODE_VERSION}:{payload}".encode()).hexdigest()[:8]
    return f"prophet-{prophet.__version__}/per_hour/{PER_HOUR_CODE_VERSION}/{digest}"


def forecast_day_per_hour(
    prices: pd.DataFrame,
    exogenous: pd.DataFrame,
    market: Market,
    delivery_date: date,
    config: PerHourForecasterConfig | None = None,
    warm_start: Mapping[int, Mapping[str, object]] | None = None,
) -> tuple[pd.DataFrame, PerHourInfo]:
    """The production model: 24 Prophet models, one per local hour, on the dataset's 24-hour grid.

    Each hour's model is a daily series (``ds`` = local date, so Prophet's weekly seasonality runs on the local
    calendar) with the regressors of :func:`per_hour_design`: hour-specific effects of the lags and exogenous
    forecasts, which one hourly Prophet with global coefficients cannot express. Target and price regressors go
    through the hour's own asinh-median transform. Real-DST history is mapped onto the grid first
    (:func:`~griddesk.forecasting.features.daily_grid`), and the 24 values back onto D's 23/24/25 real MTUs
    (:func:`~griddesk.forecasting.features.grid_to_mtus`).

    Args:
        prices: Point-in-time prices as of the cut-off; every MTU before D's start (look-ahead raises).
        exogenous: Exogenous forecasts as of the cut-off, up to the end of D (long format).
        market: The market.
        delivery_date: Local delivery day D.
        config: Defaults to :class:`PerHourForecasterConfig`.
        warm_start: ``info.warm_start_params`` of yesterday's forecast with the same config (optional).

    Returns:
        ``(forecast_df, info)``: ``delivery_start_utc``, ``forecast_price_per_mwh``, ``lower_price_per_mwh``,
        ``upper_price_per_mwh`` (NaN without ``uncertainty_samples``), one row per MTU of D.

    Raises:
        ValueError: Prices at or after D's start; inputs missing in the window or for D.
    """
    cfg = config or PerHourForecasterConfig()
    day_start, _ = market.delivery_day_bounds_utc(delivery_date)
    late = _starts_at_or_after(prices, "prices", pd.Timestamp(day_start))
    if late.any():
        raise ValueError(
            f"prices contain {int(late.sum())} MTU(s) at or after the start of {delivery_date}: they are not known "
            "at the cut-off and would leak into training"
        )
    oldest = pd.Timestamp(market.delivery_day_bounds_utc(delivery_date - timedelta(days=cfg.history_days + 8))[0])
    prices = prices[_starts_at_or_after(prices, "prices", oldest)]
    exogenous = exogenous[_starts_at_or_after(exogenous, "exogenous", oldest)]
    grid = DayMatrices.of(daily_grid(prices, exogenous, market))
    train_days = pd.date_range(end=pd.Timestamp(delivery_date) - pd.Timedelta(days=1), periods=cfg.history_days)
    target = pd.DatetimeIndex([pd.Timestamp(delivery_date)])

    values = np.full(24, np.nan)
    lower, upper = np.full(24, np.nan), np.full(24, np.nan)
    params: dict[int, object] = {}
    t0 = _time.perf_counter()
    train_inputs, target_inputs = per_hour_inputs(grid, train_days, market), per_hour_inputs(grid, target, market)
    prices_train = grid.rows("price_per_mwh", train_days)
    for hour in range(24):
        train = per_hour_design(grid, train_days, hour, market, train_inputs)
        train["y"] = prices_train[:, hour]
        train = train.dropna()
        if len(train) < cfg.history_days // 2:
            raise ValueError(
                f"{market.code} {delivery_date}: hour {hour} has {len(train)} complete training days of "
                f"{cfg.history_days} (prices or exogenous forecasts missing in the window)"
            )
        future = per_hour_design(grid, target, hour, market, target_inputs)
        if future.drop(columns="ds").isna().any(axis=None):
            missing = [c for c in PER_HOUR_FEATURES if future[c].isna().any()]
            raise ValueError(
                f"{market.code} {delivery_date}: inputs for hour {hour} of D missing: {', '.join(missing)}"
            )
        transform = AsinhMedianTransform.fit(train["y"].to_numpy())
        model, point, lo, hi = _fit_predict_hour(train, future, transform, cfg, (warm_start or {}).get(hour))
        values[hour], lower[hour], upper[hour] = point, lo, hi
        params[hour] = _warm_start_params(model)
    fit_seconds = _time.perf_counter() - t0

    mtu = int(prices["resolution_minutes"].iloc[-1]) if "resolution_minutes" in prices else 60
    forecast = grid_to_mtus(values, market, delivery_date, mtu)
    hours = pd.DatetimeIndex(forecast["delivery_start_utc"]).tz_convert(market.tz).hour.to_numpy()
    forecast["lower_price_per_mwh"] = lower[hours]
    forecast["upper_price_per_mwh"] = upper[hours]
    first_day = train_days[0].date()
    info = PerHourInfo(
        market_code=market.code,
        delivery_date=delivery_date,
        model_version=per_hour_model_version(cfg),
        training_start_utc=market.delivery_day_bounds_utc(first_day)[0],
        training_end_utc=day_start,
        n_training_days=len(train_days),
        fit_seconds=fit_seconds,
        is_warm_start=bool(warm_start),
        warm_start_params=params,
    )
    return forecast, info


def _fit_predict_hour(
    train: pd.DataFrame,
    future: pd.DataFrame,
    transform: AsinhMedianTransform,
    cfg: PerHourForecasterConfig,
    init: Mapping[str, object] | None,
) -> tuple[Prophet, float, float, float]:
    """Fit one hour's Prophet on the transformed scale and forecast D; returns (model, point, lower, upper)."""
    regressors = [c for c in PER_HOUR_FEATURES if c in train.columns]

    def scaled(frame: pd.DataFrame) -> pd.DataFrame:
        columns = {"ds": pd.DatetimeIndex(frame["ds"])}
        for name in regressors:
            values = frame[name].to_numpy(dtype=float)
            columns[name] = transform.forward(values) if name.startswith(PRICE_FEATURE_PREFIX) else values
        return pd.DataFrame(columns)

    df = scaled(train)
    df["y"] = transform.forward(train["y"].to_numpy())
    model = lean_prophet(
        growth="linear",
        n_changepoints=cfg.n_changepoints,
        changepoint_prior_scale=cfg.changepoint_prior_scale,
        yearly_seasonality=False,
        weekly_seasonality=cfg.weekly_fourier_order if cfg.weekly_fourier_order > 0 else False,
        daily_seasonality=False,
        interval_width=cfg.interval_width,
        uncertainty_samples=cfg.uncertainty_samples,
    )
    for name in regressors:
        model.add_regressor(name, prior_scale=cfg.regressor_prior_scale)
    kwargs: dict = {"seed": cfg.seed, "require_converged": False}
    if init is not None:
        kwargs["init"] = dict(init)
    with fast_stan(model, cfg.max_iter if init is not None else None):
        model.fit(df, **kwargs)
    future_scaled = scaled(future)
    if cfg.uncertainty_samples > 0:
        saved_state = np.random.get_state()
        np.random.seed(cfg.seed)
        try:
            raw = model.predict(future_scaled)
        finally:
            np.random.set_state(saved_state)
    else:  # the same yhat as Prophet's predict without its pandas overhead (tested against it)
        raw = pd.DataFrame({"yhat": predict_additive(model, future_scaled)})
    low, high = float(df["y"].min()), float(df["y"].max())
    pad = TRANSFORMED_RANGE_PAD * (high - low)

    def back(column: str) -> float:
        return float(transform.inverse(np.clip(raw[column].to_numpy(), low - pad, high + pad))[0])

    point = back("yhat")
    if cfg.uncertainty_samples > 0:
        lo, hi = back("yhat_lower"), back("yhat_upper")
    else:
        lo = hi = float("nan")
    return model, point, lo, hi
