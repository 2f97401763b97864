"""Bodies of the Airflow tasks. DAG files call these; each is one unit of I/O around a pure component."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, timedelta

import pandas as pd

from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import ExtractionError, FeedSpec, backfill_feed, extract_feed, feeds_of
from griddesk.feeds.api_health import write_call_log
from griddesk.markets import get_market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db
from griddesk.warehouse.frames import insert_frame

log = logging.getLogger(__name__)


def feed_jobs(market_codes: list[str]) -> list[dict[str, str]]:
    """One mapped extraction job per (market, feed, series), for dynamic task mapping."""
    return [
        {"market": s.market.code, "feed": s.feed, "series": s.series_code}
        for code in market_codes
        for s in feeds_of(get_market(code))
    ]


def _spec(job: dict[str, str]) -> FeedSpec:
    for spec in feeds_of(get_market(job["market"])):
        if spec.feed == job["feed"] and spec.series_code == job["series"]:
            return spec
    raise KeyError(f"no feed {job} for market {job['market']}")


def _client(settings: Settings, sim_now) -> EntsoeClient:
    return EntsoeClient(settings.simulator_url, settings.entsoe_token, sim_now=sim_now)


@contextmanager
def _calls_logged(conn, client: EntsoeClient, run_id: str | None):
    """Write every ENTSO-E attempt of the block into ``raw.api_call_log``, whatever happens (like the feeds do)."""
    try:
        yield
    finally:
        write_call_log(conn, client.call_log, run_id)


def extract_for_run(
    job: dict[str, str], clock: RunClock, settings: Settings | None = None, run_id: str | None = None
) -> dict:
    """Extract one feed of one market for a morning or afternoon run, as of that run's simulated clock.

    A publication the loader refuses does not fail the task (the other markets' runs go on): it is recorded in
    ``raw.entsoe_delivery_refusals``, which blocks that market-day at the quality gate with the reason, and it is
    listed in the summary (``refused``).
    """
    settings = settings or get_settings()
    spec = _spec(job)
    first, last = clock.price_days if spec.feed == "day_ahead_prices" else clock.exogenous_days
    client = _client(settings, clock.sim_now(spec.market))
    with db.connect(db.warehouse_url(settings)) as conn, _calls_logged(conn, client, run_id):
        try:
            outcomes, refused = extract_feed(client, conn, spec, first, last), []
        except ExtractionError as exc:
            log.error("%s", exc)
            outcomes, refused = exc.outcomes, exc.errors
    return {**_summary(job, outcomes), "refused": refused}


def backfill_job(
    job: dict[str, str], first_day: date, last_day: date, settings: Settings | None = None, run_id: str | None = None
) -> dict:
    """Load history for one feed through the extraction path, as of the first run's morning; skips loaded days."""
    settings = settings or get_settings()
    spec = _spec(job)
    # History must be what was public before the first run: no later correction leaks into it.
    sim_now = RunClock(last_day + timedelta(days=1), MORNING).sim_now(spec.market)
    client = _client(settings, sim_now)
    with db.connect(db.warehouse_url(settings)) as conn, _calls_logged(conn, client, run_id):
        try:
            outcomes, refused = backfill_feed(client, conn, spec, first_day, last_day), []
        except ExtractionError as exc:  # recorded in raw.entsoe_delivery_refusals, as in extract_for_run
            log.error("%s", exc)
            outcomes, refused = exc.outcomes, exc.errors
    return {**_summary(job, outcomes), "refused": refused}


def _summary(job: dict[str, str], outcomes) -> dict:
    inserted = [o for o in outcomes if o.status == "inserted"]
    return {
        **job,
        "days_seen": len(outcomes),
        "versions_inserted": len(inserted),
        "points_inserted": sum(o.n_points for o in inserted),
    }


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
