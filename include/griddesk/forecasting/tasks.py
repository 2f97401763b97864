"""Bodies of forecasting's Airflow tasks: the DAG files call these (one unit of I/O around the production forecast)."""

from __future__ import annotations

import logging

import pandas as pd

from griddesk.clock import RunClock
from griddesk.forecasting import store
from griddesk.forecasting.production import ChampionForecast, champion_forecast, production_plan
from griddesk.markets import Market, get_market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)


def price_forecast_rows(result: ChampionForecast, market: Market, clock: RunClock) -> pd.DataFrame:
    """The ``raw.price_forecasts`` rows of a champion forecast of the clock's delivery day (insert columns)."""
    starts = pd.DatetimeIndex(result.forecast["delivery_start_utc"])
    mtu_minutes = int((starts[1] - starts[0]).total_seconds() // 60) if len(starts) > 1 else 60
    version = result.model_version
    rows = result.forecast.assign(
        market_code=market.code,
        delivery_date_local=clock.delivery_date,
        resolution_minutes=mtu_minutes,
        currency=market.currency,
        model_family=result.model_family,
        model_version=version,
        model_id=result.model_id,
        training_start_utc=result.training_start_utc,
        training_end_utc=result.training_end_utc,
        cutoff_utc=clock.cutoff(market),
        interval_width_pct=90,
        forecast_run_id=f"{market.code}|{clock.delivery_date}|{version}",
    )
    return rows[store.PRICE_FORECAST_COLUMNS]


def forecast_for_run(market_code: str, clock: RunClock, settings: Settings | None = None, plan=None) -> dict:
    """Forecast D's prices with the market's champion and store them in raw.price_forecasts.

    The champion comes from the model registry (:func:`griddesk.forecasting.production.champion_forecast`;
    the production Prophet when the market has none). It reads only what was published by gate closure on D-1,
    and the rows carry its registry ``model_id``, so every stored forecast names the model that produced it.
    ``plan`` overrides the models names stand for (default: the benchmark's, Prophet trained on
    ``forecast_history_days``).
    """
    settings = settings or get_settings()
    market = get_market(market_code)
    cutoff = clock.cutoff(market)
    plan = plan or production_plan(settings.forecast_history_days)
    with db.connect(db.warehouse_url(settings)) as conn:
        result = champion_forecast(conn, market.code, clock.delivery_date, plan=plan)
    if result.cutoff_utc != cutoff:
        raise RuntimeError(f"{market.code} {clock.delivery_date}: forecast cut-off {result.cutoff_utc} != {cutoff}")
    specs = {m.spec.name: m.spec for m in (*plan.production, *plan.challengers, *plan.ensembles)}
    rows = price_forecast_rows(result, market, clock)
    with db.connect(db.warehouse_url(settings)) as conn:
        store.register_model(conn, market.code, specs[result.model_name])  # no-op when the champion is registered
        # Replace this day's forecast of this model: a rerun leaves one identical set of rows.
        store.replace_price_forecast(conn, market.code, clock.delivery_date, result.model_version, rows)
    log.info("%s %s: %s", market.code, clock.delivery_date, result.reason)
    return {
        "market": market.code,
        "delivery_date": str(clock.delivery_date),
        "mtus": len(rows),
        "model_id": result.model_id,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "champion_source": result.source,
        "reason": result.reason,
        "interval_method": result.interval_method,
        "fit_seconds": round(result.compute_seconds, 2),
    }
