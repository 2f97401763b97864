"""Task bodies of ``griddesk_consumption``: train and forecast one meter for delivery day D. Everything is read as
of D's cut-off (the paired market's gate closure on D-1). The portfolio's joint buy bid is the morning ``bid``
task of the paired market (:mod:`griddesk.bidding.paired_market`), which sums the champions stored here.

A feed-day these tasks read that a critical data-quality failure blocked (the portfolio's meter readings of the
last ``BLOCKING_METER_DAYS`` days, the weather forecast issued by the cut-off; :mod:`griddesk.quality.blocking`)
stops D: no meter forecast (the training run is recorded as ``skipped`` with the reason), so the morning bid of
the paired market bids the battery alone and alerts.

Models are registered in the forecasting registry (``raw.forecast_model_registry``) under the key
``METER:<meter id>`` (the registry's market column holds it), one champion per meter, chosen with
:func:`griddesk.forecasting.champion.decide`.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from griddesk.consumption import store
from griddesk.consumption.backtest import training_frame
from griddesk.consumption.features import weekly_naive
from griddesk.consumption.models import (
    CANDIDATES,
    ENSEMBLE,
    ENSEMBLE_MEMBERS,
    GBM,
    GBM_MEDIAN,
    INITIAL_CHAMPION,
    MODEL_CODE_VERSION,
    MODEL_NAMES,
    PROPHET,
    GradientBoostingModel,
    ProphetModel,
    WeeklyNaiveModel,
    empirical_interval,
    ensemble_forecast,
)
from griddesk.consumption.quality import assess_meter
from griddesk.consumption.settings import ConsumptionSettings
from griddesk.feeds import meters, weather
from griddesk.feeds import store as feeds_store
from griddesk.feeds.http import CallLog, FeedHttpClient
from griddesk.feeds.loader import load_batch
from griddesk.feeds.meters import PORTFOLIO, published_until_utc
from griddesk.feeds.reference import weather_location
from griddesk.feeds.tasks import location_rows, retry_policy
from griddesk.forecasting.champion import ChampionPolicy, decide, rolling_mae_as_known
from griddesk.forecasting.registry import FAMILIES, ModelSpec
from griddesk.forecasting.store import register_model, set_champion
from griddesk.markets import get_market
from griddesk.quality.blocking import blocked_feed_days, blocking_reason
from griddesk.settings import get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)
#: History read per meter: enough years to see a level shift between years.
HISTORY_DAYS = 3 * 366
#: Meter feed-days before D whose critical data-quality failure blocks D: the recent days the forecast leans on
#: most (weekly naive, lags), and those :func:`fetch_at_cutoff` reloads. Older history is cleaned per hour.
BLOCKING_METER_DAYS = 7


@dataclass(frozen=True)
class ConsumptionModelSpec(ModelSpec):
    """A registry spec that also accepts the gradient-boosting family (the registry's own list has no "gbm")."""

    def __post_init__(self) -> None:
        if self.family not in (*FAMILIES, "gbm"):
            raise ValueError(f"model {self.name!r}: unknown family {self.family!r}")


def registry_key(meter_id: str) -> str:
    """The registry's market column for a meter."""
    return f"METER:{meter_id}".upper()


def _new_model(name: str, s: ConsumptionSettings):
    return {
        PROPHET: lambda: ProphetModel(s.interval_width, s.uncertainty_samples),
        GBM: GradientBoostingModel,
        GBM_MEDIAN: lambda: GradientBoostingModel(GBM_MEDIAN),
        "weekly_naive": WeeklyNaiveModel,
    }[name]()


def _spec(model, s: ConsumptionSettings) -> ConsumptionModelSpec:
    return ConsumptionModelSpec(
        name=model.name,
        family=model.family,
        version=MODEL_CODE_VERSION,
        hyperparameters={**model.hyperparameters, "refit_every_days": s.refit_every_days},
        training_window_days=0 if model.name == "weekly_naive" else s.training_window_days,
    )


def train_and_forecast_meter(
    meter_id: str,
    day: date,
    settings: ConsumptionSettings | None = None,
    url: str | None = None,
    run_id: str | None = None,
) -> dict:
    """Train (when due) and forecast one meter for ``day``; store forecasts and the outcome.

    A meter with too little clean data is recorded as ``skipped`` with the reason and returns normally; an error
    is recorded as ``failed`` and re-raised (the task fails, the other meters do not).
    """
    s = settings or ConsumptionSettings()
    url = url or db.warehouse_url()
    market = get_market(s.market)
    cutoff = market.gate_closure_utc(day)
    outcome = {
        "market_code": market.code,
        "meter_id": meter_id,
        "delivery_date_local": day,
        "cutoff_utc": cutoff,
        "run_id": run_id,
    }
    try:
        with db.connect(url) as conn:
            result = _train_and_forecast(conn, meter_id, day, s, market, cutoff, outcome)
            store.record_training(conn, outcome)
        return result
    except Exception as exc:
        with db.connect(url) as conn:
            store.record_training(
                conn, {**outcome, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:2000]}
            )
        raise


def input_blocking_reason(conn, day: date, s: ConsumptionSettings) -> str | None:
    """Why nothing may be produced for ``day``: the critically blocked feed-days it would read, or None.

    Read: the portfolio's meter readings of the ``BLOCKING_METER_DAYS`` days before ``day``, and the issue day
    (UTC, the feed's SLA day) of the newest weather forecast issued by the cut-off.
    """
    cutoff = get_market(s.market).gate_closure_utc(day)
    issued = feeds_store.latest_weather_issue_utc(conn, s.weather_location, cutoff)
    meter_days = [day - timedelta(days=k) for k in range(1, BLOCKING_METER_DAYS + 1)]
    blocked = {("meter_readings", PORTFOLIO): blocked_feed_days(conn, "meter_readings", PORTFOLIO, meter_days)}
    if issued is not None:
        issue_day = pd.Timestamp(issued).tz_convert("UTC").date()
        blocked[("weather_forecasts", s.weather_location)] = blocked_feed_days(
            conn, "weather_forecasts", s.weather_location, [issue_day]
        )
    return blocking_reason(blocked)


def _train_and_forecast(conn, meter_id, day, s, market, cutoff, outcome) -> dict:
    blocked = input_blocking_reason(conn, day, s)
    if blocked:
        outcome.update(status="skipped", reason=blocked)
        log.warning("%s %s: %s", meter_id, day, blocked)
        return _plain(outcome)
    start = cutoff - timedelta(days=HISTORY_DAYS)
    known_until = published_until_utc(cutoff)
    readings = feeds_store.readings_as_of(conn, meter_id, start, cutoff)
    readings = readings[readings.index < known_until]
    if readings.empty:
        outcome.update(status="skipped", reason=f"meter {meter_id}: no readings published by the cut-off {cutoff}")
        return {**_plain(outcome)}
    flags, q = assess_meter(meter_id, readings, s.min_clean_days, s.max_missing_hours_clean)
    outcome.update(
        is_clean=q.is_clean, n_clean_hours=q.n_clean_hours, flag_counts=q.flag_counts, level_shifts=q.level_shifts
    )
    if not q.is_usable:
        outcome.update(status="skipped", reason=q.skip_reason)
        return _plain(outcome)
    clean = readings.where(flags["is_clean"])
    lag = pd.Timedelta(minutes=60)
    temperature = feeds_store.temperature_as_of(conn, s.weather_location, start, cutoff, lag)
    day_start, day_end = market.delivery_day_bounds_utc(day)
    target = pd.date_range(pd.Timestamp(day_start), pd.Timestamp(day_end), freq="h", inclusive="left")
    temp_fc, issued = feeds_store.temperature_forecast_as_of(conn, s.weather_location, target, cutoff)
    key = registry_key(meter_id)
    refitted, preds, ids = [], {}, {}
    for name in MODEL_NAMES:
        stored = store.load_fit(conn, meter_id, name)
        model = pickle.loads(stored[2]) if stored else _new_model(name, s)
        # A fit stored by older model code (other features) is refit, not used with today's features.
        stale = stored is not None and getattr(model, "code_version", None) != MODEL_CODE_VERSION
        if stale:
            model = _new_model(name, s)
        if stored is None or stale or (day - stored[0]).days >= s.refit_every_days or (day - stored[0]).days < 0:
            train = training_frame(clean, temperature, s.training_window_days, known_until)
            model.fit_history(train, clean) if hasattr(model, "fit_history") else model.fit(train)
            model.code_version = MODEL_CODE_VERSION
            ids[name] = register_model(conn, key, _spec(model, s))
            store.save_fit(conn, meter_id, name, ids[name], day, known_until, len(train), pickle.dumps(model))
            refitted.append(name)
        else:
            ids[name] = stored[1]
        preds[name] = model.predict(target, temp_fc, clean, known_until)
    preds[ENSEMBLE] = ensemble_forecast(preds)
    ids[ENSEMBLE] = register_model(
        conn,
        key,
        ConsumptionModelSpec(
            name=ENSEMBLE,
            family="ensemble",
            version=MODEL_CODE_VERSION,
            hyperparameters={"method": "mean"},
            members=ENSEMBLE_MEMBERS,
        ),
    )
    # Champion: each model's MAE over the last window of stored forecasts, scored on readings known now.
    policy = ChampionPolicy(
        window_days=s.champion_window_days, margin_pct=s.champion_margin_pct, min_days=s.champion_min_days
    )
    past = store.past_forecasts(
        conn, market.code, meter_id, day - timedelta(days=policy.window_days), day - timedelta(days=1)
    )
    incumbent = store.previous_champion(conn, market.code, meter_id, day) or INITIAL_CHAMPION
    if past.empty:
        maes, n_days = dict.fromkeys(CANDIDATES, float("nan")), 0
        wide = None
    else:
        wide = past.pivot_table(
            index=["delivery_date_local", "interval_start_utc"], columns="model_name", values="forecast_kwh"
        )
        wide.index = pd.MultiIndex.from_arrays(
            [wide.index.get_level_values(0), pd.DatetimeIndex(wide.index.get_level_values(1)).tz_convert("UTC")]
        )
        wide = wide.reindex(columns=list(CANDIDATES))
        maes, n_days = rolling_mae_as_known(wide, clean, day, policy.window_days)
    decision = decide(day, incumbent, maes, n_days, policy, list(CANDIDATES))
    frames = []
    for name, p in preds.items():
        method = "model"
        if p["lower_kwh"].isna().all():
            method = "empirical"
            errors = None
            if wide is not None and name in wide.columns:
                col = wide[name].dropna()
                errors = clean.reindex(col.index.get_level_values(1)).to_numpy(float) - col.to_numpy(float)
            if errors is None or np.isfinite(errors).sum() < 24:
                recent = clean.iloc[-24 * policy.window_days :]
                errors = recent.to_numpy() - weekly_naive(clean, recent.index)
            p["lower_kwh"], p["upper_kwh"] = empirical_interval(p["forecast_kwh"].to_numpy(), errors, s.interval_width)
        frames.append(
            pd.DataFrame(
                {
                    "market_code": market.code,
                    "meter_id": meter_id,
                    "model_name": name,
                    "model_id": ids[name],
                    "delivery_date_local": day,
                    "interval_start_utc": target,
                    "forecast_kwh": p["forecast_kwh"].to_numpy(),
                    "lower_kwh": p["lower_kwh"].to_numpy(),
                    "upper_kwh": p["upper_kwh"].to_numpy(),
                    "interval_width_pct": int(round(s.interval_width * 100)),
                    "interval_method": method,
                    "is_champion": name == decision.champion,
                    "cutoff_utc": cutoff,
                    "weather_issued_at_utc": issued,
                    "run_id": outcome.get("run_id"),
                }
            )
        )
    n = store.write_forecasts(conn, pd.concat(frames, ignore_index=True))
    set_champion(conn, key, ids[decision.champion])
    outcome.update(
        status="trained",
        reason=None,
        refitted_models=refitted,
        champion_model_name=decision.champion,
        champion_reason=decision.reason,
    )
    return {**_plain(outcome), "n_forecast_rows": n}


def _plain(outcome: dict) -> dict:
    """JSON-friendly outcome for XCom."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in outcome.items()}


def _feed_client(prefix: str, feed: str, now, simulator_url: str | None, call_log):
    platform = get_settings()
    root = (simulator_url or platform.simulator_url).rstrip("/")
    return FeedHttpClient(f"{root}/{prefix}", feed, sim_now=now, policy=retry_policy(platform), call_log=call_log)


def fetch_at_cutoff(
    day: date,
    settings: ConsumptionSettings | None = None,
    url: str | None = None,
    simulator_url: str | None = None,
    run_id: str | None = None,
    meter_days: int = 7,
) -> dict:
    """Fetch and load, as of one minute before D's cut-off, the newest weather forecast (covering all of D) and
    the meter readings of the last ``meter_days`` local days that are published by then.

    The feeds DAG runs at 18:00 Zurich: its newest forecast (issued at 18:00 on D-2) ends before D does, and it
    has not yet seen the readings of D-2 (published at 06:00 London on D-1). The consumption run asks again at
    its own time, through the feeds' own clients, parsers and loader (content-hashed: unchanged data adds nothing).
    """
    s = settings or ConsumptionSettings()
    url = url or db.warehouse_url()
    now = get_market(s.market).gate_closure_utc(day) - timedelta(minutes=1)
    loc = weather_location(s.weather_location)
    call_log = CallLog()
    try:
        wclient = weather.WeatherClient(_feed_client("openmeteo", "weather", now, simulator_url, call_log))
        forecast = weather.forecast_batch(wclient.forecast(loc, forecast_days=2), loc, now)
        mclient = meters.MeterClient(_feed_client("meters", "meters", now, simulator_url, call_log))
        ids = [m["meter_id"] for m in meters.parse_meter_list(mclient.meters().payload)]
        first, last = day - timedelta(days=meter_days), day - timedelta(days=1)
        batches = meters.meter_batches(mclient.consumption(first, last), ids, first, last, now)
        with db.connect(url) as conn:
            feeds_store.upsert_reference(
                conn, "raw.weather_locations", location_rows([loc.location_code]), "location_code"
            )
            outcomes = [load_batch(conn, b) for b in ([forecast] if forecast else []) + batches]
    finally:
        with db.connect(url) as conn:
            feeds_store.write_call_log(conn, call_log, run_id)
    return {
        "weather_issued_at_utc": str(forecast.published_at_utc) if forecast else None,
        "meter_days": len(batches),
        "inserted": sum(o.status == "inserted" for o in outcomes),
    }


def meter_list(url: str | None = None, only: str | None = None) -> list[str]:
    """The portfolio's meters, restricted to ``only`` (default ``GRIDDESK_CONSUMPTION_METERS``) when set.

    Raises:
        ValueError: ``only`` names a meter the portfolio does not have.
    """
    only = ConsumptionSettings().meters if only is None else only
    with db.connect(url or db.warehouse_url()) as conn:
        return select_meters(feeds_store.meter_ids(conn), only)


def select_meters(meters: list[str], only: str) -> list[str]:
    """``meters`` (in their order) restricted to the comma-separated ``only``; all of them when ``only`` is empty.

    Raises:
        ValueError: ``only`` names a meter that is not in ``meters``.
    """
    wanted = [m.strip() for m in only.split(",") if m.strip()]
    if not wanted:
        return list(meters)
    unknown = sorted(set(wanted) - set(meters))
    if unknown:
        raise ValueError(f"GRIDDESK_CONSUMPTION_METERS names meters the portfolio does not have: {unknown}")
    return [m for m in meters if m in wanted]


__all__ = [
    "fetch_at_cutoff",
    "input_blocking_reason",
    "meter_list",
    "registry_key",
    "select_meters",
    "train_and_forecast_meter",
]
