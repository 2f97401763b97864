"""Honest run state: a run waits for its inputs (or fails with one alert), and a blocked market is visible.

- :func:`check_inputs` is the poke of the morning and afternoon runs' first task (a sensor): are the inputs of
  the run published (as of the run's clock)? Until the deadline (:func:`input_deadline`, before gate closure)
  the sensor waits and pokes again; after it, ONE alert goes out and the task fails, so a scheduled run on a day
  without data never "succeeds" on an empty warehouse and never emails one CRITICAL per market.
- :func:`gate_verdict` is the body of the morning's mapped ``quality_gate`` task: a market blocked by a critical
  GX failure is a *skipped* task instance in the grid, with the reason in its log and in the run's note.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from griddesk.clock import MORNING, RunClock
from griddesk.markets import get_market
from griddesk.quality.store import failed_critical_checks
from griddesk.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: The morning waits for its inputs until this long before gate closure: time left to forecast, bid and submit.
MORNING_MARGIN = timedelta(minutes=20)
#: The afternoon waits this long after its own clock for the auction results.
AFTERNOON_WAIT = timedelta(hours=3)


def input_deadline(markets: list[str], clock: RunClock) -> datetime:
    """Until when a run waits for its inputs (UTC): before the earliest gate closure (morning), or three hours
    after the run's clock (afternoon)."""
    if clock.kind == MORNING:
        return min(get_market(m).gate_closure_utc(clock.delivery_date) for m in markets) - MORNING_MARGIN
    return max(clock.sim_now(m) for m in markets) + AFTERNOON_WAIT


def required_inputs(market: str, clock: RunClock) -> list[tuple[object, date]]:
    """(feed spec, local day) the run cannot go without: the newest price day, and (morning) D's exogenous
    forecasts."""
    from griddesk.extraction.entsoe_feeds import feeds_of
    from griddesk.warehouse.loader import PRICE_FEED

    out = []
    for spec in feeds_of(get_market(market)):
        if spec.feed == PRICE_FEED:
            out.append((spec, clock.validated_price_day))
        elif clock.kind == MORNING:
            out.append((spec, clock.delivery_date))
    return out


def missing_inputs(
    markets: list[str], clock: RunClock, settings: Settings | None = None
) -> list[tuple[str, str, date]]:
    """(market, feed/series, day) of every required input the API has not published completely by the run clock."""
    from griddesk.entsoe.client import EntsoeClient
    from griddesk.entsoe.parser import NoMatchingDataError, parse_document
    from griddesk.extraction.entsoe_feeds import split_by_delivery_day

    settings = settings or get_settings()
    missing = []
    for market in markets:
        client = EntsoeClient(settings.simulator_url, settings.entsoe_token, sim_now=clock.sim_now(market))
        for spec, day in required_inputs(market, clock):
            start, end = spec.market.delivery_day_bounds_utc(day)
            try:
                points = split_by_delivery_day(
                    parse_document(client.get(spec.request_params(start, end))).points, spec.market
                ).get(day)
            except NoMatchingDataError:
                points = None
            complete = points is not None and len(points) == spec.market.mtus_in_day(
                day, int(points["resolution_minutes"].iloc[0])
            )
            if not complete:
                missing.append((market, f"{spec.feed}/{spec.series_code}", day))
    return missing


def inputs_alert(dag_id: str, markets: list[str], clock: RunClock, missing, deadline: datetime):
    """Key, subject and HTML of the one alert of a run whose inputs never came."""
    from griddesk.quality.alerts import NEXT_STEPS, TableAlert, render_table_alert

    d = clock.delivery_date
    blocked = sorted({m for m, _, _ in missing})
    if clock.kind == MORNING:
        action = f"No forecast and no orders for {', '.join(blocked)} on {d}: {dag_id} failed at its input check."
    else:
        action = (
            f"{dag_id} failed at its input check: the morning forecast of {', '.join(blocked)} on {d} is not "
            "scored and no execution is settled."
        )
    subject, html = render_table_alert(
        TableAlert(
            "CRITICAL",
            f"{dag_id}: inputs not published by {deadline:%Y-%m-%d %H:%M} UTC",
            ", ".join(blocked),
            d.isoformat(),
            action,
            ("Market", "Input", "Data day", "Run clock (UTC)"),
            [(m, feed, day.isoformat(), clock.sim_now(m).isoformat()) for m, feed, day in missing],
            delivery_day=d,
            data_day=min(day for _, _, day in missing),
            next_steps=NEXT_STEPS["inputs_missing"],
        )
    )
    return f"inputs_missing|{dag_id}|{d.isoformat()}", subject, html


def check_inputs(
    dag_id: str, markets: list[str], clock: RunClock, now: datetime | None = None, settings: Settings | None = None
) -> bool:
    """The sensor's poke: True when every input is published. After the deadline, email one alert and raise.

    Raises:
        InputsMissing: the deadline passed with inputs still missing (the task fails; the alert went out once).
    """
    from griddesk.quality.alerts import send_alert_once
    from griddesk.warehouse import db

    settings = settings or get_settings()
    missing = missing_inputs(markets, clock, settings)
    if not missing:
        log.info("inputs of %s for delivery day %s are published", dag_id, clock.delivery_date)
        return True
    now = now or datetime.now(UTC)
    deadline = input_deadline(markets, clock)
    names = ", ".join(f"{m} {feed} {day}" for m, feed, day in missing)
    if now < deadline:
        log.info("waiting for %s (deadline %s UTC)", names, deadline)
        return False
    key, subject, html = inputs_alert(dag_id, markets, clock, missing, deadline)
    with db.connect(db.warehouse_url(settings)) as conn:
        send_alert_once(conn, key, subject, html, settings.alert_email_to, kind="inputs_missing")
    raise InputsMissing(f"{subject}. Missing: {names}.")


class InputsMissing(RuntimeError):
    """The inputs of a run did not come by its deadline."""


def blocked_reason(url: str, run_id: str, market: str, delivery_day: date) -> str:
    """Why ``market`` is blocked for ``delivery_day`` in this run: the failed critical checks, in one sentence."""
    from griddesk.warehouse import db

    with db.connect(url) as conn:
        failed = failed_critical_checks(conn, run_id, market)
    parts = [f"{suite} on the data of {day} ({ids})" for suite, day, ids in failed]
    cause = "; ".join(parts) or "a critical data-quality failure"
    return (
        f"{market} blocked for delivery day {delivery_day}: critical data-quality failure of {cause}. "
        f"No forecast and no orders for {market} on {delivery_day}."
    )


def add_run_note(dag_id: str, run_id: str, line: str) -> bool:
    """Append ``line`` to the run's note through the REST API (connection ``griddesk_airflow_api``).

    Best effort: a run outside the API server (``dag.test``) or an unreachable API logs a warning and goes on.
    """
    try:
        from airflow.sdk import Connection

        from griddesk.airflow_api import AirflowApi

        conn = Connection.get("griddesk_airflow_api")
        api = AirflowApi(conn.host, conn.login, conn.password, timeout_s=10)
        current = (api.get_run(dag_id, run_id) or {}).get("note") or ""
        if line not in current:
            api.set_note(dag_id, run_id, f"{current}\n{line}".strip())
        return True
    except Exception as exc:  # noqa: BLE001 - the note repeats what the task log and the skipped task show
        log.warning("run note not written (%s); the reason is in this log", type(exc).__name__)
        return False
