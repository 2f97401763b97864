"""Bodies of the Airflow tasks. DAG files call these; each is one unit of I/O around a pure component."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from griddesk.clock import RunClock
from griddesk.markets import get_market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db
from griddesk.warehouse.frames import insert_frame

log = logging.getLogger(__name__)


def forecast_for_run(market_code: str, clock: RunClock, settings: Settings | None = None, plan=None) -> dict:
    """Forecast D's prices with the market's champion and store them in raw.price_forecasts.

    The champion comes from the model registry (:func:`griddesk.forecasting.production.champion_forecast`;
    the production Prophet when the market has none). It reads only what was published by gate closure on D-1,
    and the rows carry its registry ``model_id``, so every stored forecast names the model that produced it.
    ``plan`` overrides the models names stand for (default: the benchmark's, Prophet trained on
    ``forecast_history_days``).
    """
    from griddesk.forecasting.production import champion_forecast, production_plan
    from griddesk.forecasting.registry import register_model

    settings = settings or get_settings()
    market = get_market(market_code)
    cutoff = clock.cutoff(market)
    plan = plan or production_plan(settings.forecast_history_days)
    with db.connect(db.warehouse_url(settings)) as conn:
        result = champion_forecast(conn, market.code, clock.delivery_date, plan=plan)
    if result.cutoff_utc != cutoff:
        raise RuntimeError(f"{market.code} {clock.delivery_date}: forecast cut-off {result.cutoff_utc} != {cutoff}")
    specs = {m.spec.name: m.spec for m in (*plan.production, *plan.challengers, *plan.ensembles)}
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
        cutoff_utc=cutoff,
        interval_width_pct=90,
        forecast_run_id=f"{market.code}|{clock.delivery_date}|{version}",
    )
    cols = [
        "forecast_run_id", "market_code", "delivery_date_local", "delivery_start_utc", "resolution_minutes",
        "forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh", "interval_width_pct", "currency",
        "model_family", "model_version", "model_id", "training_start_utc", "training_end_utc", "cutoff_utc",
    ]  # fmt: skip
    with db.connect(db.warehouse_url(settings)) as conn, conn.cursor() as cur:
        register_model(conn, market.code, specs[result.model_name])  # no-op when the champion is registered
        # Replace this day's forecast of this model: a rerun leaves one identical set of rows.
        cur.execute(
            "delete from raw.price_forecasts where market_code=%s and delivery_date_local=%s and model_version=%s",
            (market.code, clock.delivery_date, version),
        )
        insert_frame(cur, "raw.price_forecasts", rows[cols])
    log.info("%s %s: %s", market.code, clock.delivery_date, result.reason)
    return {
        "market": market.code,
        "delivery_date": str(clock.delivery_date),
        "mtus": len(rows),
        "model_id": result.model_id,
        "model_name": result.model_name,
        "model_version": version,
        "champion_source": result.source,
        "reason": result.reason,
        "interval_method": result.interval_method,
        "fit_seconds": round(result.compute_seconds, 2),
    }


def bid_for_run(market_code: str, clock: RunClock, settings: Settings | None = None) -> dict:
    """Optimise the battery on D's forecast and store the schedule, the orders and the order set (status
    ``generated``; see :func:`griddesk.pipeline.bidding_tasks.generate_order_set`)."""
    from griddesk.pipeline.bidding_tasks import generate_order_set

    return generate_order_set(market_code, clock, settings)


def latest_forecast(conn, market_code: str, delivery_date: date, cutoff) -> pd.DataFrame:
    """The newest forecast run for (market, D) whose cut-off is not after ``cutoff``, in MTU order."""
    with conn.cursor() as cur:
        cur.execute(
            """select * from raw.price_forecasts
               where market_code=%s and delivery_date_local=%s and cutoff_utc <= %s
                 and forecast_run_id = (
                     select forecast_run_id from raw.price_forecasts
                     where market_code=%s and delivery_date_local=%s and cutoff_utc <= %s
                     order by created_at_utc desc limit 1)
               order by delivery_start_utc""",
            (market_code, delivery_date, cutoff) * 2,
        )
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)
