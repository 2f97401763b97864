"""The per-meter models: Prophet with temperature (production), weekly naive and gradient boosting (challengers).

Every model has ``fit(train)`` and ``predict(target, temperature, clean_history, known_until)``:

- ``train``: clean hours only (flagged hours never train), UTC index, columns ``y`` (kWh) and ``temperature_c``
  (*observed*, short gaps interpolated); rows without a temperature are dropped;
- ``temperature``: the temperature regressor for the target hours: the weather *forecast* available at the
  cut-off (observed values only in the labelled "oracle weather" run);
- ``clean_history``: readings known at the cut-off, flagged hours as NaN (lags and the naive use them);
- ``known_until``: end (exclusive) of what was published by the cut-off.

``predict`` returns a frame on ``target`` with ``forecast_kwh`` and, when the model has its own interval,
``lower_kwh``/``upper_kwh`` (else NaN; the backtest fills empirical intervals).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from griddesk.consumption.features import lag_features, local_calendar, uk_holidays, weekly_naive
from griddesk.prophet_fast import FastJsonStanModel

logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
logging.getLogger("prophet").setLevel(logging.WARNING)
logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

#: Bump when features or model code change forecasts (enters the registry version).
MODEL_CODE_VERSION = "consumption/v3"
#: Heating degree base, degC (UK convention 15.5).
HEATING_BASE_C = 15.5
#: L-BFGS iteration cap of a warm-started Prophet fit (Prophet's own: 10,000). Weekly refits of a year of hours
#: run 300-800 iterations to Stan's tolerance, the log-likelihood moving < 0.01 % over the last few hundred; capped
#: at 100 the forecasts of b1 and b36 over 8 weeks were as accurate (MAE within 0.5 %) at half the fit time, and
#: each refit starts where the last stopped, so the optimisation goes on across refits.
PROPHET_MAX_ITER = 100
PROPHET, GBM, GBM_MEDIAN, WEEKLY_NAIVE, ENSEMBLE = "prophet", "gbm", "gbm_median", "weekly_naive", "ensemble"
#: Fitted models; the ensemble (mean of the two gradient-boosting models) is built from their forecasts.
MODEL_NAMES = (PROPHET, GBM, GBM_MEDIAN, WEEKLY_NAIVE)
CANDIDATES = (*MODEL_NAMES, ENSEMBLE)
#: Chosen on a validation year before the 2018 test year (all 20 meters, every day of 2017, docs/consumption.md):
#: the portfolio MAE / weekly naive of the mean of the two boosted models (mean and median loss, weekly level) was
#: 0.718, either alone 0.726-0.727, the previous gbm + naive ensemble 0.84, prophet + gbm 0.77.
ENSEMBLE_MEMBERS = (GBM, GBM_MEDIAN)
#: A meter's champion before any forecast of it is scored. On 2017, starting from the ensemble and applying the
#: champion rule gave 0.7165, starting from prophet 0.733 (the first weeks are spent on the worse model).
INITIAL_CHAMPION = ENSEMBLE


def _nan_frame(target: pd.DatetimeIndex, point: np.ndarray) -> pd.DataFrame:
    nan = np.full(len(target), np.nan)
    return pd.DataFrame({"forecast_kwh": point, "lower_kwh": nan, "upper_kwh": nan}, index=target)


class WeeklyNaiveModel:
    """The same local hour one week earlier; where that hour is flagged, two weeks earlier."""

    name = WEEKLY_NAIVE
    family = "naive"
    hyperparameters: dict = {}

    def fit(self, train: pd.DataFrame) -> WeeklyNaiveModel:
        return self

    def predict(self, target, temperature, clean_history, known_until) -> pd.DataFrame:
        known = clean_history[clean_history.index < known_until]
        point = weekly_naive(known, target)
        if np.isnan(point).any():
            lags = lag_features(known, target)
            point = np.where(np.isnan(point), lags["lag_14d"].to_numpy(), point)
            point = np.where(np.isnan(point), lags["day_mean_7d"].to_numpy(), point)
        return _nan_frame(target, point)


class ProphetModel:
    """Prophet: local daily shapes for working days and off-days, weekly seasonality, England's holidays,
    temperature and heating degrees as regressors; warm-started from the previous fit."""

    name = PROPHET
    family = "prophet"

    def __init__(
        self,
        interval_width: float = 0.8,
        uncertainty_samples: int = 0,
        seed: int = 42,
        max_iter: int = PROPHET_MAX_ITER,
    ):
        self.hyperparameters = {
            "interval_width": interval_width,
            "uncertainty_samples": uncertainty_samples,
            "max_iter": max_iter,
            "n_changepoints": 10,
            "daily_fourier": {"workday": 10, "offday": 6},
            "weekly_fourier": 3,
            "regressors": ["temperature_c", "heating_degrees_c"],
        }
        self.seed = seed
        self.model = None
        self.fit_seconds = 0.0
        self._baseline_cache: pd.Series | None = None

    @staticmethod
    def _frame(index: pd.DatetimeIndex, temperature: np.ndarray) -> pd.DataFrame:
        cal = local_calendar(index)
        # ds is local wall-clock time: the buildings' day follows it across clock changes.
        return pd.DataFrame(
            {
                "ds": cal["ds_local"].to_numpy(),
                "temperature_c": temperature,
                "heating_degrees_c": np.clip(HEATING_BASE_C - temperature, 0.0, None),
                "workday": ~cal["is_offday"].to_numpy(),
                "offday": cal["is_offday"].to_numpy(),
            }
        )

    def _holidays(self, first_year: int, last_year: int) -> pd.DataFrame:
        hol = uk_holidays(first_year, last_year)
        return pd.DataFrame({"holiday": list(hol.values()), "ds": pd.to_datetime(list(hol))})

    def fit(self, train: pd.DataFrame) -> ProphetModel:
        from prophet import Prophet
        from prophet.utilities import warm_start_params

        train = train.dropna(subset=["y", "temperature_c"])
        if len(train) < 24 * 7:
            raise ValueError(f"prophet needs at least a week of clean hours with temperature, got {len(train)}")
        hp = self.hyperparameters
        years = train.index.year
        m = Prophet(
            growth="linear",
            n_changepoints=hp["n_changepoints"],
            yearly_seasonality=False,
            weekly_seasonality=hp["weekly_fourier"],
            daily_seasonality=False,
            holidays=self._holidays(int(years.min()), int(years.max()) + 1),
            interval_width=hp["interval_width"],
            uncertainty_samples=hp["uncertainty_samples"],
        )
        m.add_seasonality(
            "daily_workday", period=1, fourier_order=hp["daily_fourier"]["workday"], condition_name="workday"
        )
        m.add_seasonality(
            "daily_offday", period=1, fourier_order=hp["daily_fourier"]["offday"], condition_name="offday"
        )
        for r in hp["regressors"]:
            m.add_regressor(r)
        df = self._frame(train.index, train["temperature_c"].to_numpy(float))
        df["y"] = train["y"].to_numpy(float)
        init = None
        if self.model is not None:
            try:
                init = warm_start_params(self.model)
            except Exception:  # a changed shape (e.g. new holidays) just means a cold start
                init = None
        # require_converged=False: on L-BFGS's habitual "line search failed" keep the last iterate instead of
        # Prophet's Newton fallback, which is 5-20x slower (as griddesk.forecasting.prophet_model does).
        kwargs = {"algorithm": "LBFGS", "seed": self.seed, "require_converged": False}
        if init:
            kwargs["init"] = init
        stan_logger = logging.getLogger("cmdstanpy")
        level = stan_logger.level
        stan_logger.setLevel(logging.CRITICAL)
        backend = m.stan_backend
        stan_model = backend.model
        # Prophet asks for 10,000 L-BFGS iterations; a warm start is within noise of the optimum long before
        # (see PROPHET_MAX_ITER). The iteration cap is passed to cmdstan through the proxy, after Prophet's own.
        # A cold start (the meter's first fit) keeps Prophet's own cap: it has no nearby optimum to start from.
        backend.model = FastJsonStanModel(stan_model, {"iter": hp.get("max_iter", PROPHET_MAX_ITER)} if init else {})
        started = time.perf_counter()
        try:
            m.fit(df, **kwargs)
        finally:
            backend.model = stan_model
            stan_logger.setLevel(level)
        self.fit_seconds = time.perf_counter() - started
        self.model = m
        self._baseline_cache = None
        return self

    def _regressor_part(self, temperature: np.ndarray) -> np.ndarray:
        """The regressors' additive contribution, kWh: sum of coef * x (Prophet's own regressor_coefficients)."""
        from prophet.utilities import regressor_coefficients

        coef = regressor_coefficients(self.model).set_index("regressor")["coef"]
        return coef["temperature_c"] * temperature + coef["heating_degrees_c"] * np.clip(
            HEATING_BASE_C - temperature, 0.0, None
        )

    def _baseline(self, target: pd.DatetimeIndex) -> np.ndarray:
        """Prophet's forecast with both regressors at 0 (trend, seasonalities, holidays), cached per fit.

        The model is additive, so forecast = baseline + sum of coef * regressor, exactly. Building Prophet's
        features costs ~0.1 s per call whatever the length: the baseline is computed for the next
        ``BASELINE_DAYS`` from the first hour asked, and the daily forecasts until the next refit read it.
        """
        cache = getattr(self, "_baseline_cache", None)  # models pickled before the cache existed have none
        if cache is None or not target.isin(cache.index).all():
            hours = pd.date_range(target[0], target[-1] + pd.Timedelta(days=self.BASELINE_DAYS), freq="h")
            df = self._frame(hours, np.zeros(len(hours)))
            df["heating_degrees_c"] = 0.0
            out = self.model.predict(df)
            cache = self._baseline_cache = pd.Series(out["yhat"].to_numpy(float), index=hours)
        return cache.reindex(target).to_numpy(float)

    #: Days of Prophet baseline computed at once (a refit every 7 days reads 7-8 of them).
    BASELINE_DAYS = 9

    def predict(self, target, temperature, clean_history, known_until) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("prophet: predict before fit")
        temperature = np.asarray(temperature, float)
        if not self.hyperparameters["uncertainty_samples"]:
            point = np.clip(self._baseline(target) + self._regressor_part(temperature), 0.0, None)
            return _nan_frame(target, point)
        df = self._frame(target, temperature)
        np.random.seed(self.seed)  # Prophet samples intervals with numpy's global generator
        out = self.model.predict(df)
        point = np.clip(out["yhat"].to_numpy(float), 0.0, None)
        res = pd.DataFrame({"forecast_kwh": point}, index=target)
        if self.hyperparameters["uncertainty_samples"]:
            res["lower_kwh"] = np.clip(out["yhat_lower"].to_numpy(float), 0.0, None)
            res["upper_kwh"] = np.clip(out["yhat_upper"].to_numpy(float), 0.0, None)
        else:
            res["lower_kwh"] = res["upper_kwh"] = np.nan
        return res


#: Boosting rounds and step of the gradient-boosting models.
GBM_MAX_ITER, GBM_LEARNING_RATE = 80, 0.15
#: Scale-free features: the lags divided by the level (``week_mean``: the mean of the last seven known local days),
#: like the target, and whether the lag days were off-days (a bank holiday a week ago is no guide to this week).
GBM_FEATURES = (
    "hour_local",
    "dow",
    "is_offday",
    "is_holiday",
    "temperature_c",
    "lag_2d_rel",
    "lag_7d_rel",
    "lag_14d_rel",
    "day_mean_2d_rel",
    "day_mean_7d_rel",
    "offday_2d",
    "offday_7d",
)
#: scikit-learn loss of each boosted model: ``gbm`` forecasts the conditional mean, ``gbm_median`` the median
#: (robust to the odd spike or partial-outage day in training; the two err differently and their mean is the ensemble).
GBM_LOSSES = {GBM: "squared_error", GBM_MEDIAN: "absolute_error"}


class GradientBoostingModel:
    """scikit-learn HistGradientBoosting on local calendar, temperature and known-at-cut-off lags.

    The target is the reading relative to the level (the mean of the last seven known local days), so one model
    serves every season and a term or a closure shifts the level within a week.
    """

    family = "gbm"

    def __init__(
        self, name: str = GBM, seed: int = 42, max_iter: int = GBM_MAX_ITER, learning_rate: float = GBM_LEARNING_RATE
    ):
        if name not in GBM_LOSSES:
            raise ValueError(f"unknown gradient-boosting model {name!r}; known: {', '.join(GBM_LOSSES)}")
        self.name = name
        self.hyperparameters = {
            "max_iter": max_iter,
            "learning_rate": learning_rate,
            "max_leaf_nodes": 31,
            "loss": GBM_LOSSES[name],
            "target": "ratio_to_week_mean",
            "features": list(GBM_FEATURES),
        }
        self.seed = seed
        self.model = None

    def _design(self, index, temperature, clean, known_until) -> pd.DataFrame:
        cal = local_calendar(index)
        lags = lag_features(clean, index, known_until)
        x = pd.concat([cal[["hour_local", "dow", "is_offday", "is_holiday"]].astype(float), lags], axis=1)
        x["temperature_c"] = np.asarray(temperature, float)
        level = x["week_mean"].where(x["week_mean"] > 0)
        for col in ("lag_2d", "lag_7d", "lag_14d", "day_mean_2d", "day_mean_7d"):
            x[f"{col}_rel"] = x[col] / level
        return x

    def fit_history(self, train: pd.DataFrame, clean_history: pd.Series) -> GradientBoostingModel:
        """Fit on ``train`` rows with lags from ``clean_history`` (each row's lags are >= 2 days old)."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        train = train.dropna(subset=["y"])
        x = self._design(train.index, train["temperature_c"].to_numpy(float), clean_history, None)
        level = x["week_mean"].to_numpy(float)
        ok = np.isfinite(level) & (level > 0)
        if ok.sum() < 24 * 7:
            raise ValueError(f"{self.name} needs at least a week of rows with a known level, got {int(ok.sum())}")
        hp = self.hyperparameters
        model = HistGradientBoostingRegressor(
            max_iter=hp["max_iter"],
            learning_rate=hp["learning_rate"],
            max_leaf_nodes=hp["max_leaf_nodes"],
            loss=hp["loss"],
            random_state=self.seed,
        )
        # One thread: OpenMP over busy shared cores is many times slower, and the backtest parallelises by meter.
        with threadpool_limits(1):
            model.fit(x[self.hyperparameters["features"]][ok], train["y"].to_numpy(float)[ok] / level[ok])
        self.model = model
        return self

    def fit(self, train: pd.DataFrame) -> GradientBoostingModel:
        raise TypeError("GradientBoostingModel needs fit_history(train, clean_history)")

    def predict(self, target, temperature, clean_history, known_until) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError(f"{self.name}: predict before fit")
        x = self._design(target, temperature, clean_history, known_until)
        level = x["week_mean"].to_numpy(float)
        if not np.isfinite(level).all():
            # fewer than four of the level days are clean: fall back to the mean of the last known clean days
            known = clean_history[clean_history.index < known_until].dropna()
            level = np.where(np.isfinite(level), level, float(known.iloc[-24 * 7 :].mean()))
        with threadpool_limits(1):
            point = np.clip(self.model.predict(x[self.hyperparameters["features"]]) * level, 0.0, None)
        return _nan_frame(target, point)


def empirical_interval(point: np.ndarray, errors: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """``point`` plus the (1-width)/2 and (1+width)/2 quantiles of past errors (actual - forecast), clipped at 0."""
    errors = np.asarray(errors, float)
    errors = errors[np.isfinite(errors)]
    if len(errors) < 24:
        nan = np.full(len(point), np.nan)
        return nan, nan
    lo, hi = np.quantile(errors, [(1 - width) / 2, (1 + width) / 2])
    return np.clip(point + lo, 0.0, None), np.clip(point + hi, 0.0, None)


def ensemble_forecast(
    preds: dict[str, pd.DataFrame], member_mae: dict[str, float] | None = None
) -> pd.DataFrame | None:
    """Mean of the members' points (griddesk.forecasting.ensemble.combine); None without them all.

    ``member_mae``: each member's rolling MAE known at the cut-off; weights ~ 1 / MAE
    (griddesk.forecasting.ensemble.inverse_mae_weights, equal when one is missing). None: equal weights.
    """
    from griddesk.forecasting.ensemble import combine, inverse_mae_weights

    if not all(m in preds for m in ENSEMBLE_MEMBERS):
        return None
    members = pd.DataFrame({m: preds[m]["forecast_kwh"] for m in ENSEMBLE_MEMBERS})
    if members.isna().all(axis=1).any():
        return None
    # an hour a member cannot forecast (the naive's hour two weeks back flagged too) takes the others' mean
    members = members.apply(lambda col: col.fillna(members.mean(axis=1)))
    weights = None
    if member_mae is not None:
        weights = inverse_mae_weights({m: member_mae.get(m, float("nan")) for m in ENSEMBLE_MEMBERS})
    point = combine({m: members[m] for m in ENSEMBLE_MEMBERS}, weights)
    return _nan_frame(point.index, point.to_numpy(float))
