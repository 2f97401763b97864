"""Bodies of the data-quality tasks: the price gate of the morning and afternoon runs, the feeds-wide GX run of
the feeds DAG and the watches of ``griddesk_quality_watch``; each stores its results and sends its alerts once."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from griddesk.clock import RunClock
from griddesk.feeds import battery, ckw, meters, weather
from griddesk.feeds.reference import battery_id_for
from griddesk.feeds.store import registered_plant_ids
from griddesk.feeds.tasks import feeds_sim_now, weather_location_codes
from griddesk.quality import gx_runner, watches
from griddesk.quality.alerts import NEXT_STEPS, quality_alert_key, render_quality_alert, send_alert_once
from griddesk.quality.blocking import blocked_consequence
from griddesk.quality.docs_site import publish_results, validation_url
from griddesk.quality.feeds_gate import load_feed_specs, scope_days_for_run, validate_feeds
from griddesk.quality.settings import get_quality_settings
from griddesk.quality.store import store_results
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)


def validate_for_run(
    market_codes: list[str], clock: RunClock, run_id: str, settings: Settings | None = None
) -> dict[str, bool]:
    """Validate the newest price day of each market; store the results; email one alert per failing market-day.

    Returns market -> True when no critical expectation failed, i.e. forecasting and bidding may go on.
    """
    settings = settings or get_settings()
    url = db.warehouse_url(settings)
    day = clock.validated_price_day
    as_of = max(clock.sim_now(code) for code in market_codes)
    # One GX context per process (its import alone costs seconds), one run over all market-days.
    results = gx_runner.default_gate().validate_prices(url, [(code, day) for code in market_codes], as_of, run_id)
    with db.connect(url) as conn:
        store_results(conn, results, run_id)
    publish_docs(url, run_id)
    d = clock.delivery_date.isoformat()

    def consequence(r) -> str | None:
        if clock.kind == "morning":  # D-1's prices gate D's forecast and orders: the default sentence
            return None
        return (
            f"{r.market_code} prices of {d} are kept but not trusted: the forecast score and the settlement of "
            f"{r.market_code} on {d} rest on them; no order is touched."
        )

    steps = "prices_morning" if clock.kind == "morning" else "prices_afternoon"
    alert_failed_results(
        url,
        results,
        consequence,
        settings.alert_email_to,
        run_id=run_id,
        delivery_day=lambda r: clock.delivery_date,
        next_steps=steps,
    )
    return {r.market_code: r.passed_critical for r in results}


def publish_docs(url: str, run_id: str) -> None:
    """Rewrite the Data Docs pages of this validation run and the index (never fails the task: the results are
    stored already, and the docs can be rebuilt with `make docs`)."""
    try:
        with db.connect(url) as conn:
            publish_results(conn, run_id)
    except Exception:  # noqa: BLE001 - the docs are a view of stored results; log and go on
        log.exception("Data Docs not updated for %s; `make docs` rebuilds them", run_id)


def feed_sources(conn, settings: Settings) -> dict[str, list[str]]:
    """Source keys per feed for the daily run: configured tariffs, locations and batteries; registered plants."""
    plants = registered_plant_ids(conn)
    locations = weather_location_codes(settings)
    return {
        ckw.FEED_TARIFFS: [t.strip() for t in settings.ckw_tariff_names.split(",") if t.strip()],
        ckw.FEED_TRA: ["tra"],
        weather.FEED_OBSERVATIONS: locations,
        weather.FEED_FORECASTS: locations,
        battery.FEED_BATTERY: [battery_id_for(code) for code in settings.market_codes],
        meters.FEED_METERS: [meters.PORTFOLIO],
        # Plants count once the 5-minute poller registered them (raw.plants): a dead poller is then caught.
        ckw.FEED_PLANT: plants,
    }


def feed_consequence(result, spec) -> str:
    """What a failed feed-day means downstream, in the alert's words."""
    what = f"{spec.feed} {result.market_code} {result.delivery_date_local.isoformat()}"
    if result.passed_critical:
        return f"{what} is used as it is; the warnings below need a look."
    return f"{what} is blocked: {blocked_consequence(spec.feed)}"


def alert_failed_results(
    url: str, results, consequence, to: str, *, run_id: str | None = None, delivery_day=None, next_steps: str = "feed"
) -> list[str]:
    """One email per failed (suite, scope, day), at most once per key; ``consequence(result)`` says what GridDesk
    did, ``delivery_day(result)`` which delivery day it affects (default: the data day), ``next_steps`` names the
    entry of :data:`griddesk.quality.alerts.NEXT_STEPS`. The link points to the validation's own Data Docs page.

    Returns the keys this call sent.
    """
    q = get_quality_settings()
    sent = []
    for result in results:
        if not result.failed:
            continue
        links = {
            "Validation result (Data Docs)": validation_url(
                q.docs_base_url, result.suite_name, result.market_code, result.delivery_date_local, run_id
            )
            if run_id
            else None,
            "All validations": q.gx_docs_url,
        }
        affected = delivery_day(result) if delivery_day else None
        subject, html = render_quality_alert(
            result, links, consequence(result), delivery_day=affected, next_steps=NEXT_STEPS[next_steps]
        )
        with db.connect(url) as conn:
            if send_alert_once(conn, quality_alert_key(result), subject, html, to):
                sent.append(quality_alert_key(result))
        log.warning("%s", subject)
    return sent


def publish_and_alert(url: str, run, run_id: str, specs, consequence, to: str, next_steps: str) -> list[str]:
    """After a stored GX run: publish its Data Docs, then alert once per failed (suite, market, day).

    ``consequence(result, spec)`` says what the failure means downstream, ``spec`` being the result's dataset in
    ``specs``; ``next_steps`` names the alert's advice (``NEXT_STEPS``). Returns the keys of the alerts sent.
    """
    publish_docs(url, run_id)
    by_suite = {s.suite: s for s in specs.values()}
    return alert_failed_results(
        url,
        run.results,
        lambda r: consequence(r, by_suite[r.suite_name]),
        to,
        run_id=run_id,
        next_steps=next_steps,
    )


def validate_feeds_for_run(run_date, run_id: str, settings: Settings | None = None) -> dict:
    """ONE GX run over every feed's SLA day for the daily feeds run on ``run_date``; results stored, alerts sent.

    Returns per-suite verdicts (``source key -> passed critical``), the alerts sent and the timings (seconds).
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    url = db.warehouse_url(settings)
    specs = load_feed_specs()
    gate = gx_runner.default_gate()
    _ = gate.context  # the GX import, timed on its own
    imported = time.perf_counter()
    with db.connect(url) as conn:
        scopes = scope_days_for_run(specs, feed_sources(conn, settings), run_date)
        run = validate_feeds(gate, conn, scopes, feeds_sim_now(run_date), run_id, specs)
        store_results(conn, run.results, run_id)
    sent = publish_and_alert(url, run, run_id, specs, feed_consequence, settings.alert_email_to, "feed")
    verdicts: dict[str, dict[str, bool]] = {}
    for r in run.results:
        verdicts.setdefault(r.suite_name, {})[r.market_code] = r.passed_critical
    return {
        "verdicts": verdicts,
        "alerts_sent": sent,
        "seconds_gx_import": round(imported - started, 3),
        "seconds_validate": round(time.perf_counter() - imported, 3),
        "timings_s": {k: round(v, 3) for k, v in run.timings_s.items()},
    }


WATCHES = ("data_gaps", "api_health", "forecast_drift", "bid_executions", "deadline", "outputs")

#: Market datasets of expectations/feeds.yml that the "outputs" watch validates: the exogenous inputs (raw) and
#: the key marts (prices, forecasts, schedules, executions) as griddesk_morning / griddesk_afternoon built them.
MARKET_DATASETS = (
    "entsoe_exogenous_forecasts",
    "day_ahead_prices",
    "price_forecasts",
    "bid_schedules",
    "bid_executions",
)


def output_consequence(result, spec) -> str:
    """What a failed market dataset means, in the alert's words."""
    what = f"{spec.feed} for {result.market_code} {result.delivery_date_local.isoformat()}"
    if result.passed_critical:
        return f"{what} is used as it is; the warnings below need a look."
    return (
        f"{what} failed a critical check and is marked blocked in marts.fct_data_quality_daily_summary. Check the "
        "orders of that market-day before gate closure and withdraw or correct them if they rest on it."
    )


def validate_outputs_for_run(run_date, run_id: str, settings: Settings | None = None) -> dict:
    """One GX run over the market datasets (exogenous inputs; the prices, forecasts, schedules and executions
    marts) of ``run_date``.

    Each dataset's day is ``run_date + sla.day_offset``. A dataset whose table does not exist yet (the marts
    before the first ``dbt build``) is skipped and named in ``missing``. Results stored, one alert per failed
    (suite, market, day).
    """
    settings = settings or get_settings()
    url = db.warehouse_url(settings)
    specs = load_feed_specs()
    with db.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "select t, to_regclass(t) is not null from unnest(%s::text[]) t",
                ([specs[n].table for n in MARKET_DATASETS],),
            )
            exists = dict(cur.fetchall())
        names = [n for n in MARKET_DATASETS if exists[specs[n].table]]
        missing = [specs[n].table for n in MARKET_DATASETS if not exists[specs[n].table]]
        if missing:
            log.warning("outputs watch: %s not built yet; not validated", ", ".join(missing))
        scopes = scope_days_for_run(specs, {n: settings.market_codes for n in names}, run_date)
        run = validate_feeds(gx_runner.default_gate(), conn, scopes, datetime.now(UTC), run_id, specs)
        store_results(conn, run.results, run_id)
    sent = publish_and_alert(url, run, run_id, specs, output_consequence, settings.alert_email_to, "outputs")
    failed = [f"{r.suite_name}|{r.market_code}|{r.delivery_date_local}" for r in run.results if r.failed]
    return {"watch": "outputs", "alerts": failed, "sent": sent, "missing": missing}


def run_watch(kind: str, run_date, now_utc, settings: Settings | None = None) -> dict:
    """Run one watch of ``griddesk.quality.watches`` for run day ``run_date`` and send its alerts once per key.

    ``now_utc`` is the run's clock (the simulated clock in backtests): the deadline watch compares it with gate
    closure of delivery day ``run_date + 1``. The API-health watch looks at the last 24 h of the wall clock,
    because the call log is stamped with the wall clock. ``missing`` lists the marts a watch needs that dbt has
    not built yet (the drift watch's accuracy mart): nothing is checked or sent for them.

    Raises:
        KeyError: an unknown watch.
    """
    settings = settings or get_settings()
    if kind == "outputs":
        return validate_outputs_for_run(run_date, f"watch-outputs-{run_date.isoformat()}", settings)
    q = get_quality_settings()
    url = db.warehouse_url(settings)
    markets = settings.market_codes
    missing: list[str] = []
    with db.connect(url) as conn:
        if kind == "data_gaps":
            alerts = watches.data_gap_alerts(conn, run_date - timedelta(days=7), run_date, q.gap_min_intervals)
        elif kind == "api_health":
            wall = datetime.now(UTC)
            alerts = watches.api_health_alerts(
                conn, wall - timedelta(hours=24), wall, q.api_min_success_rate, q.api_min_calls
            )
        elif kind == "forecast_drift":
            # The figures come from the accuracy mart; before the first dbt build there is nothing to check.
            if not watches.table_exists(conn, watches.DRIFT_MART):
                missing.append(watches.DRIFT_MART)
            alerts = watches.forecast_drift_alerts(conn, markets, run_date)
        elif kind == "bid_executions":
            alerts = watches.bid_execution_alerts(conn, run_date - timedelta(days=1), run_date + timedelta(days=1))
        elif kind == "deadline":
            alerts = watches.deadline_alerts(
                conn, markets, run_date + timedelta(days=1), now_utc, timedelta(minutes=q.deadline_margin_minutes)
            )
        else:
            raise KeyError(f"unknown watch {kind!r}; known: {', '.join(WATCHES)}")
    links = {"Data Docs": q.gx_docs_url, "dbt docs": q.dbt_docs_url}
    sent = watches.send_watch_alerts(url, alerts, settings.alert_email_to, links)
    return {"watch": kind, "alerts": [a.key for a in alerts], "sent": sent, "missing": missing}


__all__ = [
    "MARKET_DATASETS",
    "WATCHES",
    "alert_failed_results",
    "feed_consequence",
    "feed_sources",
    "output_consequence",
    "publish_docs",
    "run_watch",
    "validate_feeds_for_run",
    "validate_for_run",
    "validate_outputs_for_run",
]
