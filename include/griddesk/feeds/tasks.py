"""Bodies of the feed tasks (``dags/griddesk_feeds.py``, ``dags/griddesk_plant_telemetry.py``).

Each job: fetch every page of a window (a failure fails the job before anything is written), parse, dedupe,
record gaps, then load one batch per day (each in its own transaction). The call log of the job is written in
a ``finally`` block, so failed calls reach ``fct_api_health`` too.

The daily feeds run on run day X at 18:00 Europe/Zurich (simulated clock), after CKW published X+1's tariffs:

=====================  ==========================================================================
feed                   window
=====================  ==========================================================================
ckw_dynamic_tariffs    local (Zurich) days X-6 .. X+1, per tariff name
ckw_tra_signals        the dates X-7 .. ``last`` (published up to the previous day)
weather_observations   UTC days X-7 .. X-1, per location
weather_forecasts      the forecast issued at the run's clock, 48 h, per location
battery_status         UTC days X-7 .. X-1, per market's battery
meter_readings         local (London) days X-7 .. X-1, all meters
=====================  ==========================================================================

A week of history per run heals late or corrected data; unchanged days cost a hash and no write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import psycopg2

from griddesk.feeds import battery, ckw, meters, weather
from griddesk.feeds.auth import ClientCredentials
from griddesk.feeds.batch import FeedBatch
from griddesk.feeds.http import CallLog, FeedHttpClient, RetryPolicy
from griddesk.feeds.loader import BatchOutcome, load_batches
from griddesk.feeds.reference import (
    CKW_TZ,
    PLANTS,
    battery_id_for,
    default_weather_locations,
    weather_location,
)
from griddesk.feeds.retention import apply_retention
from griddesk.feeds.store import upsert_reference, write_call_log
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

#: Local time (Europe/Zurich) of the daily feeds run on run day X.
FEEDS_RUN_LOCAL = dtime(18, 0)
HISTORY_DAYS = 7


def feeds_sim_now(run_date: date) -> datetime:
    """The simulated clock of the daily feeds run on ``run_date``: 18:00 Europe/Zurich, as UTC."""
    return datetime.combine(run_date, FEEDS_RUN_LOCAL, tzinfo=CKW_TZ).astimezone(UTC)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def weather_location_codes(settings: Settings) -> list[str]:
    """``GRIDDESK_WEATHER_LOCATIONS``, else ERA5 for the configured markets plus Bedford."""
    return _split(settings.weather_locations) or default_weather_locations(settings.market_codes)


def feed_jobs(settings: Settings | None = None) -> list[dict[str, str]]:
    """One mapped job per (feed, key): tariff names, TRA, weather locations, batteries, the meter portfolio."""
    settings = settings or get_settings()
    jobs = [{"feed": ckw.FEED_TARIFFS, "key": name} for name in _split(settings.ckw_tariff_names)]
    jobs.append({"feed": ckw.FEED_TRA, "key": "tra"})
    for code in weather_location_codes(settings):
        jobs.append({"feed": weather.FEED_OBSERVATIONS, "key": code})
        jobs.append({"feed": weather.FEED_FORECASTS, "key": code})
    jobs += [{"feed": battery.FEED_BATTERY, "key": code} for code in settings.market_codes]
    jobs.append({"feed": meters.FEED_METERS, "key": meters.PORTFOLIO})
    return jobs


# ------------------------------------------------------------------------------------------------------------
# clients
# ------------------------------------------------------------------------------------------------------------


def retry_policy(settings: Settings) -> RetryPolicy:
    """The feed clients' bounded retries (``GRIDDESK_FEEDS_*``)."""
    return RetryPolicy(
        max_attempts=settings.feeds_max_attempts, backoff_s=settings.feeds_backoff_s, timeout_s=settings.feeds_timeout_s
    )


def _root(settings: Settings) -> str:
    return settings.simulator_url.rstrip("/")


def ckw_client(settings: Settings, sim_now: datetime | None, call_log: CallLog) -> ckw.CkwClient:
    """The CKW client: OAuth2 client credentials unless ``ckw_auth`` is off (the real endpoints are open)."""
    auth = None
    if settings.ckw_auth:
        auth = ClientCredentials(
            settings.ckw_token_url or f"{_root(settings)}/oauth/token",
            settings.ckw_client_id,
            settings.ckw_client_secret,
        )
    http = FeedHttpClient(
        settings.ckw_base_url or f"{_root(settings)}/ckw/api",
        "ckw",
        auth=auth,
        sim_now=sim_now,
        policy=retry_policy(settings),
        call_log=call_log,
    )
    return ckw.CkwClient(http)


def http_client(
    settings: Settings, feed: str, prefix: str, sim_now: datetime | None, call_log: CallLog
) -> FeedHttpClient:
    return FeedHttpClient(
        f"{_root(settings)}/{prefix}", feed, sim_now=sim_now, policy=retry_policy(settings), call_log=call_log
    )


# ------------------------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------------------------


def _load(url: str, batches: list[FeedBatch], workers: int) -> list[BatchOutcome]:
    return load_batches(lambda: psycopg2.connect(url), batches, workers)


def _summary(job: dict, outcomes: list[BatchOutcome], batches: list[FeedBatch], calls: int, started: float) -> dict:
    inserted = [o for o in outcomes if o.status == "inserted"]
    return {
        **job,
        "batches_seen": len(outcomes),
        "batches_inserted": len(inserted),
        "rows_inserted": sum(o.n_rows for o in inserted),
        "gaps": sum(len(b.gaps) for b in batches),
        "duplicates_removed": sum(b.n_duplicates_removed for b in batches),
        "calls": calls,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _run_logged(
    settings: Settings, run_id: str | None, body: Callable[[CallLog], tuple[list[FeedBatch], list]]
) -> tuple[list[FeedBatch], list[BatchOutcome], int]:
    """Run ``body`` (fetch and parse) with a fresh call log, load its batches, and write the log whatever happens.

    Returns the batches, their load outcomes and the number of HTTP calls made.
    """
    call_log = CallLog()
    url = db.warehouse_url(settings)
    n_calls = 0
    try:
        batches, refs = body(call_log)
        n_calls = len(call_log.calls)
        with db.connect(url) as conn:
            for table, rows, key in refs:
                upsert_reference(conn, table, rows, key)
        return batches, _load(url, batches, settings.feeds_load_workers), n_calls
    finally:
        with db.connect(url) as conn:
            write_call_log(conn, call_log, run_id)


def location_rows(codes: list[str]) -> list[dict]:
    """``raw.weather_locations`` rows of the locations ``codes``."""
    return [
        {
            "location_code": loc.location_code,
            "location_name": loc.location_name,
            "data_source": loc.data_source,
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "is_reanalysis": loc.is_reanalysis,
        }
        for loc in (weather_location(c) for c in codes)
    ]


def extract_feed_job(
    job: dict[str, str],
    run_date: date,
    settings: Settings | None = None,
    run_id: str | None = None,
    history_days: int = HISTORY_DAYS,
    sim_now: datetime | None = None,
) -> dict:
    """Extract one (feed, key) job for run day ``run_date`` as of :func:`feeds_sim_now` (or ``sim_now``: an
    extraction at another time of the day, e.g. before a morning cut-off) and load it.

    Raises:
        KeyError: unknown feed.
        griddesk.feeds.errors.FeedError: the API failed after its retries, or the payload drifted (the message
            names the field); nothing of the job's failing window was written.
    """
    settings = settings or get_settings()
    started = time.perf_counter()
    now = sim_now or feeds_sim_now(run_date)
    feed, key = job["feed"], job["key"]
    first = run_date - timedelta(days=history_days)
    last = run_date - timedelta(days=1)

    def body(call_log: CallLog) -> tuple[list[FeedBatch], list]:
        if feed == ckw.FEED_TARIFFS:
            client = ckw_client(settings, now, call_log)
            pages = client.dynamic_prices(key, first + timedelta(days=1), run_date + timedelta(days=1))
            return ckw.tariff_batches(pages, key, first + timedelta(days=1), run_date + timedelta(days=1), now), []
        if feed == ckw.FEED_TRA:
            client = ckw_client(settings, now, call_log)
            last_page = client.tra_signals("last")
            newest = ckw.last_published_date(last_page) or last
            pages = [client.tra_signals(d) for d in _days(first, newest - timedelta(days=1))] + [last_page]
            return ckw.tra_batches(pages, now), []
        if feed in (weather.FEED_OBSERVATIONS, weather.FEED_FORECASTS):
            loc = weather_location(key)
            client = weather.WeatherClient(http_client(settings, "weather", "openmeteo", now, call_log))
            refs = [("raw.weather_locations", location_rows([key]), "location_code")]
            if feed == weather.FEED_OBSERVATIONS:
                return weather.observation_batches(client.archive(loc, first, last), loc, first, last, now), refs
            fb = weather.forecast_batch(client.forecast(loc), loc, now)
            return ([fb] if fb is not None else []), refs
        if feed == battery.FEED_BATTERY:
            client = battery.BmsClient(http_client(settings, "bms", "bms", now, call_log))
            battery_id = battery_id_for(key)
            return battery.battery_batches(client.status(battery_id, first, last), battery_id, first, last, now), []
        if feed == meters.FEED_METERS:
            client = meters.MeterClient(http_client(settings, "meters", "meters", now, call_log))
            portfolio = meters.parse_meter_list(client.meters().payload)
            ids = [m["meter_id"] for m in portfolio]
            refs = [("raw.meters", [{**m, "data_source": "cambridge_estates"} for m in portfolio], "meter_id")]
            return meters.meter_batches(client.consumption(first, last), ids, first, last, now), refs
        raise KeyError(f"unknown feed {feed!r}")

    batches, outcomes, n_calls = _run_logged(settings, run_id, body)
    summary = _summary(job, outcomes, batches, n_calls, started)
    log.info("feed job %s", summary)
    return summary


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def poll_plant(
    plant_id: str, sim_now: datetime | None, settings: Settings | None = None, run_id: str | None = None
) -> dict:
    """One live poll of a plant (the 5-minute DAG): one sample, loaded once whatever the number of polls."""
    settings = settings or get_settings()
    started = time.perf_counter()
    plant = PLANTS[plant_id]
    refs = [
        (
            "raw.plants",
            [
                {
                    k: getattr(plant, k)
                    for k in ("plant_id", "plant_name", "technology", "rated_power_mw", "timezone", "operator", "notes")
                }
            ],
            "plant_id",
        )
    ]

    def body(call_log: CallLog) -> tuple[list[FeedBatch], list]:
        page = ckw_client(settings, sim_now, call_log).plant_live(plant_id)
        return [ckw.plant_batch(page, plant_id, sim_now or datetime.now(UTC))], refs

    batches, outcomes, n_calls = _run_logged(settings, run_id, body)
    return _summary({"feed": ckw.FEED_PLANT, "key": plant_id}, outcomes, batches, n_calls, started)


def plant_ids(settings: Settings | None = None) -> list[str]:
    return _split((settings or get_settings()).ckw_plants)


def apply_retention_for_run(run_date: date, settings: Settings | None = None) -> dict:
    """Fold 5-minute telemetry older than the retention period (on the run's clock) and old call-log rows."""
    settings = settings or get_settings()
    with db.connect(db.warehouse_url(settings)) as conn:
        outcome = apply_retention(conn, feeds_sim_now(run_date), settings.feeds_retention_days)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in outcome.__dict__.items()}


__all__ = [
    "FEEDS_RUN_LOCAL",
    "HISTORY_DAYS",
    "apply_retention_for_run",
    "ckw_client",
    "extract_feed_job",
    "feed_jobs",
    "feeds_sim_now",
    "http_client",
    "location_rows",
    "plant_ids",
    "poll_plant",
    "retry_policy",
    "weather_location_codes",
]
