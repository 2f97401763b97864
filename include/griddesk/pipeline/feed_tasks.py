"""The feeds DAG's order hand-over to the battery (``submit_orders``); waiting to move into ``griddesk.bidding``.

The feed task bodies live in :mod:`griddesk.feeds.tasks`, the feeds' dbt build in :mod:`griddesk.transform.tasks`.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, timedelta

import psycopg2

from griddesk.feeds import battery
from griddesk.feeds.api_health import write_call_log
from griddesk.feeds.http import CallLog
from griddesk.feeds.tasks import HISTORY_DAYS, feeds_sim_now
from griddesk.feeds.tasks import http_client as _http
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)


ACTOR_BATTERY = "airflow:griddesk_feeds.submit_orders"


def submit_orders_for_run(
    run_date: date, settings: Settings | None = None, run_id: str | None = None, bidding=None
) -> dict:
    """Hand the battery the orders the exchange holds for delivery days X-7 .. X+1 (idempotent per day).

    Per market and day, the order set's steps go to the simulated BMS (``POST /bms/v1/executions``), whose telemetry
    then follows what cleared, only if the submission gate (:mod:`griddesk.bidding.gate`, target ``battery``)
    allows them: the set is at the exchange (``submitted`` or ``executed``), compliance passed on exactly these
    steps, approved where required, the kill switch is off and the mode is live. A paper, blocked, rejected or
    non-compliant set is never posted. A refused set that is at the exchange is audited (and alerted when its steps
    changed or its compliance is not there). An exclusive group of block orders is handed over once its results
    are in (``executed``): the gate decides on the whole group, the battery gets the accepted block's steps as
    price-taker orders (none accepted: an empty day); a group still awaiting its results waits for a later run.
    """
    from griddesk.bidding import controls, gate
    from griddesk.bidding.alerts import send_bidding_alert

    settings = settings or get_settings()
    bidding = bidding or controls.get_bidding_settings()
    url = db.warehouse_url(settings)
    first, last = run_date - timedelta(days=HISTORY_DAYS), run_date + timedelta(days=1)
    allowed: list[tuple[str, date, list[dict], gate.GateDecision, tuple[bool, int | None]]] = []
    refused: dict[str, str] = {}
    awaiting: list[str] = []
    alerts = []
    with db.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute(
                """select distinct market_code, delivery_date_local from raw.bid_order_sets
                   where delivery_date_local between %s and %s order by 1, 2""",
                (first, last),
            )
            market_days = cur.fetchall()
        for market, day in market_days:
            header, steps = gate.load_order_set(conn, market, day)
            orders = [_bms_order(row) for row in steps.itertuples(index=False)]
            decision = gate.submission_gate(conn, header, gate.BATTERY, market, orders, bidding)
            if decision.allowed:
                group = _accepted_block(conn, header, steps)
                if group is None:
                    awaiting.append(f"{market} {day}")
                else:
                    allowed.append((market, day, orders, decision, group))
                continue
            refused[f"{market} {day}"] = decision.outcome
            if header is not None and header["status"] in gate.ELIGIBLE_STATUSES[gate.BATTERY]:
                event = "submission_blocked" if decision.outcome == "kill_switch" else "submission_refused"
                controls.record_event(conn, header["order_set_id"], market, day, event, ACTOR_BATTERY,
                                      {"target": gate.BATTERY, "check": decision.outcome, "reason": decision.reason})  # fmt: skip
                log.warning("%s %s: not handed to the battery: %s", market, day, decision.reason)
                kind = {"steps_changed": "steps_changed", "compliance_failed": "compliance_rejected"}.get(
                    decision.outcome
                )
                if kind:
                    alerts.append((kind, market, day, decision.reason, header["order_set_id"]))
    for kind, market, day, reason, os_id in alerts:
        conn = psycopg2.connect(url)
        try:
            send_bidding_alert(conn, kind, market, day, [reason], bidding.alert_email_to or settings.alert_email_to,
                               os_id, {"refused_by": "submission gate", "target": gate.BATTERY})  # fmt: skip
        except Exception:  # noqa: BLE001 - best effort: the refusal is recorded; nothing was posted
            log.exception("could not send the %s alert for %s %s", kind, market, day)
        finally:
            conn.close()
    call_log = CallLog()
    cleared = 0
    try:
        client = battery.BmsClient(_http(settings, "bms", "bms", feeds_sim_now(run_date), call_log))
        for market, day, orders, decision, (is_group, block) in allowed:
            result = gate.send_to_battery(client, market, day, orders, decision, exclusive_group=is_group,
                                          accepted_block=block)  # fmt: skip
            cleared += sum(1 for e in result["executions"] if e["cleared"])
    finally:
        with db.connect(url) as conn:
            write_call_log(conn, call_log, run_id)
    return {"days": len(allowed), "orders": sum(len(a[2]) for a in allowed), "cleared": cleared, "refused": refused,
            "awaiting_results": awaiting}  # fmt: skip


def _bms_order(row) -> dict:
    """One stored step as a BMS order; a block's step keeps its block (the gate hashes the group as checked)."""
    order = {
        "delivery_start_utc": pd_utc_iso(row.delivery_start_utc),
        "resolution_minutes": int(row.resolution_minutes),
        "side": row.side,
        "volume_mw": float(row.volume_mw),
        "limit_price_per_mwh": float(row.limit_price_per_mwh),
    }
    block = getattr(row, "block_index", None)
    if block is not None and block == block:  # not null (None or NaN)
        order["block_index"] = int(block)
    return order


def _accepted_block(conn, header: dict, steps) -> tuple[bool, int | None] | None:
    """(is an exclusive group, its accepted block or None) of an order set; None while a group's results are not
    in (the battery can only follow the block the exchange accepted)."""
    from griddesk.bidding.compliance import is_block_group

    if not is_block_group(steps):
        return False, None
    if header["status"] != "executed":
        return None
    with conn.cursor() as cur:
        cur.execute(
            """select distinct block_index from raw.bid_executions
               where order_set_id = %s and is_accepted and block_index is not null""",
            (header["order_set_id"],),
        )
        blocks = [r[0] for r in cur.fetchall()]
    if len(blocks) > 1:  # the exchange accepts at most one block: never hand the battery two
        raise ValueError(f"order set {header['order_set_id']} has {len(blocks)} accepted blocks {blocks}; at most one")
    return True, (int(blocks[0]) if blocks else None)


def pd_utc_iso(value) -> str:
    """ISO-8601 UTC of a timestamp from the warehouse."""
    return value.astimezone(UTC).isoformat()


__all__ = ["submit_orders_for_run"]
