"""Bodies of the ENTSO-E extraction tasks (``griddesk_morning``, ``griddesk_afternoon``, ``griddesk_backfill``):
one mapped job per (market, feed, series), extracted as of the run's simulated clock and loaded point-in-time."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, timedelta

from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import ExtractionError, FeedSpec, backfill_feed, extract_feed, feeds_of
from griddesk.feeds.store import write_call_log
from griddesk.markets import get_market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

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


def entsoe_client(settings: Settings, sim_now) -> EntsoeClient:
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
    client = entsoe_client(settings, clock.sim_now(spec.market))
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
    client = entsoe_client(settings, sim_now)
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


__all__ = ["backfill_job", "extract_for_run", "feed_jobs"]
