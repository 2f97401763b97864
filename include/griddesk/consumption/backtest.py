"""Daily backtest of one meter: what production would have forecast for each delivery day D at the cut-off.

For each D (a local day of the paired market, e.g. NP's Europe/Oslo day: 23/24/25 hours):

- the cut-off is the market's gate closure on D-1;
- readings known are those the meter service had published by then (local day X at 06:00 London on X+1:
  :func:`griddesk.feeds.meters.published_until_utc`), so the newest is two days old;
- the temperature regressor for D is the weather forecast issued at the cut-off
  (:func:`griddesk.feeds.weather.persistence_climatology_forecast`, the same generator the weather
  feed serves), built only from observations published by then. ``oracle_weather=True`` uses D's *observed*
  temperature instead: an upper bound, labelled as such, never a headline figure;
- models are refit every ``refit_every_days`` (warm-started Prophet) on the last ``training_window_days`` of
  clean hours, and predict every day;
- the champion of D is chosen with :func:`griddesk.forecasting.champion.decide` from each model's MAE over the
  previous ``champion_window_days``, scored against readings known at the cut-off.

Nothing published after the cut-off reaches a model: the inputs are cut first, then everything is computed
from the cut (the no-look-ahead test poisons the rest and gets the same forecast).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from griddesk.consumption.features import fill_short_gaps, temperature_known_at, weekly_naive
from griddesk.consumption.metrics import accuracy
from griddesk.consumption.models import (
    ENSEMBLE,
    ENSEMBLE_MEMBERS,
    GBM,
    GBM_MEDIAN,
    INITIAL_CHAMPION,
    MODEL_NAMES,
    PROPHET,
    WEEKLY_NAIVE,
    GradientBoostingModel,
    ProphetModel,
    WeeklyNaiveModel,
    empirical_interval,
    ensemble_forecast,
)
from griddesk.consumption.quality import MeterQuality, assess_meter, flag_hours
from griddesk.feeds.meters import published_until_utc
from griddesk.feeds.weather import persistence_climatology_forecast
from griddesk.forecasting.champion import ChampionDecision, ChampionPolicy, decide, rolling_mae_as_known
from griddesk.markets import get_market


@dataclass
class BacktestConfig:
    """What to backtest and how (defaults: ConsumptionSettings)."""

    days: list[date]
    market: str = "NP"
    warmup_days: int = 28
    models: tuple[str, ...] = MODEL_NAMES
    initial_champion: str = INITIAL_CHAMPION
    refit_every_days: int = 7
    training_window_days: int = 364
    min_clean_days: int = 56
    max_missing_hours_clean: int = 24
    interval_width: float = 0.8
    uncertainty_samples: int = 0
    weather_lag_minutes: int = 60
    oracle_weather: bool = False
    ensemble: bool = True
    #: ``mean`` (equal weights) or ``inverse_mae`` (weights ~ 1 / rolling MAE of the members, known at the cut-off)
    ensemble_method: str = "mean"
    champion: ChampionPolicy = field(default_factory=lambda: ChampionPolicy(window_days=28, margin_pct=5.0, min_days=7))

    def __post_init__(self) -> None:
        ensemble_runs = self.ensemble and set(ENSEMBLE_MEMBERS) <= set(self.models)
        if self.initial_champion not in self.models and not (self.initial_champion == ENSEMBLE and ensemble_runs):
            raise ValueError(
                f"initial champion {self.initial_champion!r} is not among the models run "
                f"({', '.join(self.models)}{', ensemble' if ensemble_runs else ''})"
            )


@dataclass
class DayInputs:
    """Everything known at D's cut-off, and D's hours."""

    day: date
    cutoff_utc: pd.Timestamp
    known_until_utc: pd.Timestamp
    target: pd.DatetimeIndex
    readings: pd.Series
    temperature_obs: pd.Series
    temperature_for_target: np.ndarray


def day_inputs(
    readings: pd.Series, temperature: pd.Series, day: date, market_code: str, lag_minutes: int, oracle: bool = False
) -> DayInputs:
    """Cut the inputs at D's cut-off. ``readings``/``temperature`` may extend past it: nothing later is kept
    (except D's observed temperature in the oracle run)."""
    market = get_market(market_code)
    cutoff = pd.Timestamp(market.gate_closure_utc(day))
    known_until = published_until_utc(cutoff.to_pydatetime())
    start, end = market.delivery_day_bounds_utc(day)
    target = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="h", inclusive="left")
    lag = pd.Timedelta(minutes=lag_minutes)
    obs = temperature_known_at(temperature, cutoff.to_pydatetime(), lag)
    if oracle:
        temp_target = fill_short_gaps(temperature).reindex(target).to_numpy(float)
    else:
        temp_target = persistence_climatology_forecast(obs, cutoff.floor("h"), lag, target)
    if np.isnan(temp_target).any():  # nothing known for some hour: the recent mean is the best guess left
        temp_target = np.where(np.isnan(temp_target), float(obs.dropna().iloc[-24 * 14 :].mean()), temp_target)
    return DayInputs(day, cutoff, known_until, target, readings[readings.index < known_until], obs, temp_target)


@dataclass
class MeterBacktest:
    """One meter's backtest: every model's forecast per hour, the champion per day, timings, quality."""

    meter_id: str
    forecasts: pd.DataFrame  # delivery_date, interval_start_utc, model_name, forecast_kwh, lower_kwh, upper_kwh
    decisions: list[ChampionDecision]
    quality: MeterQuality | None
    skip_reason: str | None = None
    fit_seconds: dict[str, float] = field(default_factory=dict)
    predict_seconds: dict[str, float] = field(default_factory=dict)
    n_fits: dict[str, int] = field(default_factory=dict)
    oracle_weather: bool = False

    def champion_forecasts(self) -> pd.DataFrame:
        """The champion's forecast of every day (one model per day)."""
        champ = {d.delivery_date: d.champion for d in self.decisions}
        f = self.forecasts
        return f[f["model_name"] == f["delivery_date"].map(champ)].reset_index(drop=True)


def training_frame(clean: pd.Series, temp_obs: pd.Series, window_days: int, known_until: pd.Timestamp):
    """The clean hours of the ``window_days`` before ``known_until`` (``y``) with the observed temperature
    (short gaps filled): what the backtest and the production run fit on."""
    start = known_until - pd.Timedelta(days=window_days)
    y = clean[(clean.index >= start) & (clean.index < known_until)]
    temp = fill_short_gaps(temp_obs).reindex(y.index)
    return pd.DataFrame({"y": y, "temperature_c": temp.to_numpy(float)}, index=y.index).dropna(subset=["y"])


def _make(name: str, cfg: BacktestConfig):
    if name == PROPHET:
        return ProphetModel(cfg.interval_width, cfg.uncertainty_samples)
    if name in (GBM, GBM_MEDIAN):
        return GradientBoostingModel(name)
    if name == WEEKLY_NAIVE:
        return WeeklyNaiveModel()
    raise ValueError(f"unknown consumption model {name!r}; known: {', '.join(MODEL_NAMES)}")


def forecast_day(models: dict, inputs: DayInputs, clean: pd.Series) -> dict[str, pd.DataFrame]:
    """Every fitted model's forecast of D from what is known at the cut-off."""
    return {
        name: m.predict(inputs.target, inputs.temperature_for_target, clean, inputs.known_until_utc)
        for name, m in models.items()
    }


def backtest_meter(meter_id: str, readings: pd.Series, temperature: pd.Series, cfg: BacktestConfig) -> MeterBacktest:
    """Run the daily backtest of one meter over ``cfg.days`` (after ``cfg.warmup_days`` unscored days).

    ``readings``: the meter's hourly kWh on a complete UTC grid (zeros = missing, as published);
    ``temperature``: observed hourly temperature (NaN gaps). Both are cut per day at the cut-off.
    """
    days = sorted(cfg.days)
    all_days = [days[0] - timedelta(days=k) for k in range(cfg.warmup_days, 0, -1)] + days
    models: dict = {}
    last_fit: date | None = None
    rows: list[pd.DataFrame] = []
    decisions: list[ChampionDecision] = []
    fit_s = dict.fromkeys(cfg.models, 0.0)
    pred_s = dict.fromkeys(cfg.models, 0.0)
    n_fits = dict.fromkeys(cfg.models, 0)
    incumbent = cfg.initial_champion
    wide: pd.DataFrame | None = None
    skip_reason = None
    for day in all_days:
        inputs = day_inputs(readings, temperature, day, cfg.market, cfg.weather_lag_minutes, cfg.oracle_weather)
        flags = flag_hours(inputs.readings)
        clean = inputs.readings.where(flags["is_clean"])
        if last_fit is None or (day - last_fit).days >= cfg.refit_every_days:
            _, q = assess_meter(meter_id, inputs.readings, cfg.min_clean_days, cfg.max_missing_hours_clean)
            if not q.is_usable:
                skip_reason = f"{day}: {q.skip_reason}"
                break
            train = training_frame(clean, inputs.temperature_obs, cfg.training_window_days, inputs.known_until_utc)
            for name in cfg.models:
                m = models.get(name) or _make(name, cfg)
                started = time.perf_counter()
                m.fit_history(train, clean) if hasattr(m, "fit_history") else m.fit(train)
                fit_s[name] += time.perf_counter() - started
                n_fits[name] += 1
                models[name] = m
            last_fit = day
        preds = {}
        for name, m in models.items():
            started = time.perf_counter()
            preds[name] = m.predict(inputs.target, inputs.temperature_for_target, clean, inputs.known_until_utc)
            pred_s[name] += time.perf_counter() - started
        if cfg.ensemble:
            member_mae = None
            if cfg.ensemble_method == "inverse_mae" and wide is not None and set(ENSEMBLE_MEMBERS) <= set(wide.columns):
                maes, n_days = rolling_mae_as_known(wide[list(ENSEMBLE_MEMBERS)], clean, day, cfg.champion.window_days)
                member_mae = maes if n_days >= cfg.champion.min_days else None
            if (ens := ensemble_forecast(preds, member_mae)) is not None:
                preds[ENSEMBLE] = ens
        # Champion of D from past forecasts scored against readings known at the cut-off.
        if wide is not None and cfg.initial_champion in wide.columns:
            maes, n_days = rolling_mae_as_known(wide, clean, day, cfg.champion.window_days)
        else:
            maes, n_days = dict.fromkeys(preds, float("nan")), 0
        decision = decide(day, incumbent, maes, n_days, cfg.champion, list(preds))
        decisions.append(decision)
        incumbent = decision.champion
        for name, p in preds.items():
            if p["lower_kwh"].isna().all():
                errors = _past_errors(wide, name, clean, day, cfg.champion.window_days)
                if errors is None or len(errors) < 24:
                    known = clean.iloc[-24 * cfg.champion.window_days :]
                    errors = known.to_numpy() - weekly_naive(clean, known.index)
                p["lower_kwh"], p["upper_kwh"] = empirical_interval(
                    p["forecast_kwh"].to_numpy(), errors, cfg.interval_width
                )
            rows.append(
                pd.DataFrame(
                    {
                        "delivery_date": day,
                        "interval_start_utc": p.index,
                        "model_name": name,
                        "cutoff_utc": inputs.cutoff_utc,
                        **{c: p[c].to_numpy() for c in p.columns},
                    }
                )
            )
        day_wide = pd.DataFrame(
            {n: p["forecast_kwh"].to_numpy() for n, p in preds.items()},
            index=pd.MultiIndex.from_arrays([[day] * len(inputs.target), inputs.target]),
        )
        wide = day_wide if wide is None else pd.concat([wide, day_wide])
    forecasts = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(forecasts):
        forecasts["is_warmup"] = forecasts["delivery_date"] < days[0]
    end = pd.Timestamp(get_market(cfg.market).delivery_day_bounds_utc(days[-1])[1])
    _, quality = assess_meter(meter_id, readings[readings.index < end], cfg.min_clean_days, cfg.max_missing_hours_clean)
    return MeterBacktest(
        meter_id,
        forecasts,
        [d for d in decisions if d.delivery_date >= days[0]],
        quality,
        skip_reason,
        fit_s,
        pred_s,
        n_fits,
        cfg.oracle_weather,
    )


def _past_errors(wide, name, clean, day, window_days):
    if wide is None or name not in wide.columns:
        return None
    first = day - timedelta(days=window_days)
    dates = wide.index.get_level_values(0)
    past = wide[(dates >= first) & (dates < day)][name]
    actual = clean.reindex(past.index.get_level_values(1)).to_numpy(float)
    return actual - past.to_numpy(float)


def score_meter(result: MeterBacktest, readings: pd.Series, clean_mask: pd.Series) -> dict:
    """Accuracy of the champion and the weekly naive over the scored (non-warm-up) clean hours."""
    champ = result.champion_forecasts()
    champ = champ[~champ["is_warmup"]]
    naive = result.forecasts[(result.forecasts["model_name"] == WEEKLY_NAIVE) & ~result.forecasts["is_warmup"]]
    ts = pd.DatetimeIndex(champ["interval_start_utc"])
    ok = clean_mask.reindex(ts).fillna(False).to_numpy(bool)
    actual = readings.reindex(ts).to_numpy(float)[ok]
    out = accuracy(actual, champ["forecast_kwh"].to_numpy(float)[ok])
    naive_f = naive.set_index("interval_start_utc")["forecast_kwh"].reindex(ts).to_numpy(float)[ok]
    out["weekly_naive_mae_kwh"] = accuracy(actual, naive_f)["mae_kwh"]
    per_model = {}
    for name, g in result.forecasts[~result.forecasts["is_warmup"]].groupby("model_name"):
        f = g.set_index("interval_start_utc")["forecast_kwh"].reindex(ts).to_numpy(float)[ok]
        per_model[name] = accuracy(actual, f)["mae_kwh"]
    out["mae_kwh_by_model"] = per_model
    return out
