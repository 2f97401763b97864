"""Sending orders out, always through the submission gate (:mod:`griddesk.bidding.gate`).

- :func:`submit_order_set` (the morning ``submit`` task): sends D's ``ready`` set to the exchange's order API
  unless the gate refuses (compliance, changed steps, approval, kill switch, paper mode); never anything else;
- :func:`cancel_order_set` (a trader's action): withdraws a submitted set before gate closure;
- :func:`keep_submitted_set` (the bid task's rerun rule): what a rerun does when D's set is at the exchange;
- :func:`submit_orders_for_run` (the feeds DAG's ``submit_orders`` task): hands the battery's BMS the orders the
  exchange holds.

The exchange's order API and the BMS are reached over HTTP (in development the simulator serves both).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import psycopg2

from griddesk.bidding import controls, gate, lifecycle, store
from griddesk.bidding.alerts import BiddingAlert, send_bidding_alert
from griddesk.bidding.compliance import is_block_group
from griddesk.bidding.execution import OrderApiError, order_payload
from griddesk.bidding.rules import MarketRules
from griddesk.bidding.task_support import (
    ACTOR_BATTERY,
    ACTOR_SUBMIT,
    TaskContext,
    alert,
    move,
    order_api,
    recipients,
    resolve,
)
from griddesk.clock import RunClock
from griddesk.feeds import battery
from griddesk.feeds.api_health import write_call_log
from griddesk.feeds.http import CallLog, FeedHttpClient, RetryPolicy
from griddesk.feeds.reference import CKW_TZ
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

#: Statuses of an order set the exchange holds (submitted and not cancelled).
AT_EXCHANGE = lifecycle.AT_EXCHANGE


# --------------------------------------------------------------------------------------------------------------------
# the exchange
# --------------------------------------------------------------------------------------------------------------------

#: What a refusal of the submission gate does to an order set on the exchange path: (status, audit event, alert).
REFUSALS = {
    "compliance_failed": ("compliance_rejected", "submission_refused", "compliance_rejected"),
    "steps_changed": ("compliance_rejected", "submission_refused", "steps_changed"),
    "not_approved": ("rejected", "submission_refused", "approval_rejected"),
    "kill_switch": ("blocked", "submission_blocked", "submission_blocked"),
    "paper_mode": ("recorded", "recorded_paper", None),
}


def _record_refusal(conn, header: dict, decision: gate.GateDecision, actor: str) -> tuple[str, str | None] | None:
    """Move a refused order set to its status and audit why; None when nothing changes (no eligible set)."""
    if decision.outcome not in REFUSALS:
        return None
    status, event, alert_kind = REFUSALS[decision.outcome]
    os_id = header["order_set_id"]
    move(conn, header, status, decision.reason)
    controls.record_event(
        conn,
        os_id,
        header["market_code"],
        header["delivery_date_local"],
        event,
        actor,
        {"target": decision.target, "check": decision.outcome, "reason": decision.reason},
    )
    return status, alert_kind


def client_key(conn, order_set_id: str) -> str:
    """The order API's idempotency key of an order set: its id, then ``<id>|r<n>`` after ``n`` cancellations, so a
    replacement of a cancelled set is a new submission while a retried one stays idempotent."""
    n = store.cancellations(conn, order_set_id)
    return order_set_id if n == 0 else f"{order_set_id}|r{n}"


def submit_order_set(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_SUBMIT,
) -> dict:
    """Send D's order set if, and only if, the submission gate allows it (:mod:`griddesk.bidding.gate`: ``ready``,
    every compliance check passed on exactly these steps, approved where required, kill switch off, live mode);
    record the outcome and alert on failures and refusals.

    Only a set in a status the lifecycle allows to submit (:data:`griddesk.bidding.lifecycle.SUBMITTABLE`) is put
    to the gate; any other stays as it is.
    """
    settings, bidding, market, url = resolve(market_code, settings, bidding)
    task = TaskContext(url, settings, bidding, market, clock.delivery_date, clock.sim_now(market), actor)
    day = task.day
    out = {"market": market.code, "delivery_date": str(day)}
    with db.connect(url) as conn:
        header, steps = store.load_order_set(conn, market.code, day)
        if header is None:
            return {**out, "status": "no order set", "submitted": False}
        out["order_set_id"] = header["order_set_id"]
        if not lifecycle.may_submit(header["status"]):
            return {**out, "status": header["status"], "submitted": False}
        mtu_minutes = int(steps["resolution_minutes"].iloc[0]) if len(steps) else market.mtu_minutes
        payload = order_payload(market.code, day, client_key(conn, header["order_set_id"]), steps, mtu_minutes)
        decision = gate.submission_gate(conn, header, gate.EXCHANGE, market.code, payload["orders"], bidding)
        if not decision.allowed:
            refused = _record_refusal(conn, header, decision, actor)
    if not decision.allowed:
        return _refused_outcome(task, header, decision, refused, out)
    return _send(task, header, payload, decision, out, len(steps))


def _refused_outcome(task: TaskContext, header: dict, decision: gate.GateDecision, refused, out: dict) -> dict:
    if refused is None:
        return {**out, "status": header["status"], "submitted": False}
    status, alert_kind = refused
    if alert_kind:
        alert(
            task.url,
            alert_kind,
            task.market.code,
            task.day,
            [decision.reason],
            task.recipients,
            header["order_set_id"],
            refused_by="submission gate",
            check=decision.outcome,
        )
    return {**out, "status": status, "submitted": False, "reason": decision.reason}


def _send(task: TaskContext, header: dict, payload: dict, decision: gate.GateDecision, out: dict, n_steps: int) -> dict:
    """Post the allowed set to the order API; record ``submitted`` or ``submission_failed`` (alerted)."""
    market, day, url, actor, os_id = task.market, task.day, task.url, task.actor, header["order_set_id"]
    try:
        with order_api(task.settings, task.bidding, task.now, url) as client:
            receipt = gate.send_to_exchange(client, payload, decision)
    except OrderApiError as exc:
        kind = "order_rejected" if exc.kind == "rejected" else "submission_failed"
        detail = exc.detail if isinstance(exc.detail, list) else [str(exc)]
        with db.connect(url) as conn:
            move(conn, header, lifecycle.SUBMISSION_FAILED, str(exc))
            controls.record_event(
                conn,
                os_id,
                market.code,
                day,
                "submission_failed",
                actor,
                {"kind": exc.kind, "status_code": exc.status_code, "detail": exc.detail},
            )
        alert(
            url,
            kind,
            market.code,
            day,
            [str(d) for d in detail],
            task.recipients,
            os_id,
            http_status=exc.status_code or "-",
        )
        return {**out, "status": "submission_failed", "submitted": False, "error": str(exc)}
    with db.connect(url) as conn:
        move(conn, header, lifecycle.SUBMITTED, f"exchange id {receipt.exchange_order_set_id}")
        store.mark_submitted(conn, os_id, market.code, day, receipt.exchange_order_set_id)
        controls.record_event(
            conn,
            os_id,
            market.code,
            day,
            "submitted",
            actor,
            {
                "exchange_order_set_id": receipt.exchange_order_set_id,
                "steps": n_steps,
                "client_order_set_id": payload["client_order_set_id"],
                "steps_sha256": decision.digest,
            },
        )
    return {**out, "status": "submitted", "submitted": True, "exchange_order_set_id": receipt.exchange_order_set_id}


def cancel_order_set(
    market_code: str, clock: RunClock, actor: str, settings: Settings | None = None, bidding=None
) -> dict:
    """Withdraw D's submitted order set before gate closure (a trader's action); recorded in the audit trail.

    Raises:
        OrderApiError: the exchange refused (e.g. after gate closure) or failed.
    """
    settings, bidding, market, url = resolve(market_code, settings, bidding)
    with db.connect(url) as conn:
        header, _ = store.load_order_set(conn, market.code, clock.delivery_date)
    if header is None or header["status"] != lifecycle.SUBMITTED:
        return {"market": market.code, "status": header["status"] if header else "no order set", "cancelled": False}
    with order_api(settings, bidding, clock.sim_now(market), url) as client:
        client.cancel(header["exchange_order_set_id"])
    with db.connect(url) as conn:
        move(conn, header, lifecycle.CANCELLED, f"cancelled by {actor}")
        controls.record_event(conn, header["order_set_id"], market.code, clock.delivery_date, "cancelled", actor)
    return {"market": market.code, "status": "cancelled", "cancelled": True}


# --------------------------------------------------------------------------------------------------------------------
# the rerun rule
# --------------------------------------------------------------------------------------------------------------------


def _not_replaceable(conn, task: TaskContext, rules: MarketRules) -> str | None:
    """Why a submitted set cannot be cancelled and replaced now, None when it can."""
    margin = timedelta(minutes=task.bidding.gate_closure_margin_minutes)
    kill = controls.kill_switch_reason(conn, task.market.code, task.bidding)
    if not rules.is_before_gate_closure(task.now, margin):
        return f"gate closure {rules.gate_closure_utc:%Y-%m-%d %H:%M} UTC (less {margin}) has passed"
    if kill:
        return kill
    if task.bidding.mode != controls.LIVE:
        return "paper mode: the exchange is not touched"
    return None


def keep_submitted_set(task: TaskContext, rules: MarketRules, steps, mtu_minutes: int) -> dict | None:
    """The rerun rule: what to do when D already has an order set at the exchange.

    Returns None when the regenerated set may be stored: there is no set at the exchange, or it differs, gate
    closure is ahead, the kill switch is off, the mode is live and the exchange cancelled the old set
    (cancel-and-replace: the new set then goes through compliance and the submission gate like any other).
    Otherwise the submitted set stays as it is (exchange id, status, steps) and the outcome says why: identical
    (``reused``), or not replaceable (``refused``: gate closure passed, kill switch, paper mode, or the exchange did
    not cancel). Every case is audited; a refusal is logged as a warning.
    """
    market, day, actor, url = task.market, task.day, task.actor, task.url
    with db.connect(url) as conn:
        header, old_steps = store.load_order_set(conn, market.code, day)
        if header is None or header["status"] not in AT_EXCHANGE or not header["exchange_order_set_id"]:
            return None
        os_id, exchange_id = header["order_set_id"], header["exchange_order_set_id"]
        old_digest = gate.frame_digest(market.code, old_steps)
        new_digest = gate.frame_digest(market.code, steps, mtu_minutes)
        detail = {
            "exchange_order_set_id": exchange_id,
            "submitted_steps_sha256": old_digest,
            "regenerated_steps_sha256": new_digest,
        }
        if old_digest == new_digest:
            controls.record_event(conn, os_id, market.code, day, "rerun_reused", actor, detail)
            log.info(
                "%s %s: the rerun regenerated the submitted order set %s unchanged; kept", market.code, day, exchange_id
            )
            return _kept(market.code, day, header, "reused", "the regenerated set is identical to the submitted one")
        reason = _not_replaceable(conn, task, rules)
        if reason is not None:
            return _refuse_rerun(conn, header, detail, reason, actor)
    try:
        with order_api(task.settings, task.bidding, task.now, url) as client:
            client.cancel(exchange_id)
    except OrderApiError as exc:
        with db.connect(url) as conn:
            out = _refuse_rerun(
                conn, header, {**detail, "error": str(exc)}, f"the exchange did not cancel: {exc}", actor
            )
        alert(url, "submission_failed", market.code, day, [out["reason"]], task.recipients, os_id)
        return out
    with db.connect(url) as conn:
        controls.record_event(
            conn,
            os_id,
            market.code,
            day,
            "cancelled",
            actor,
            {**detail, "reason": "replaced by a rerun before gate closure"},
        )
    log.info("%s %s: cancelled %s at the exchange; the rerun's set replaces it", market.code, day, exchange_id)
    return None


def _refuse_rerun(conn, header: dict, detail: dict, reason: str, actor: str) -> dict:
    market_code, day = header["market_code"], header["delivery_date_local"]
    controls.record_event(
        conn, header["order_set_id"], market_code, day, "rerun_refused", actor, {**detail, "reason": reason}
    )
    log.warning(
        "%s %s: the rerun's order set differs from the submitted one (%s), which is kept: %s",
        market_code,
        day,
        header["exchange_order_set_id"],
        reason,
    )
    return _kept(market_code, day, header, "refused", reason)


def _kept(market_code: str, day: date, header: dict, rerun: str, reason: str) -> dict:
    return {
        "market": market_code,
        "delivery_date": str(day),
        "order_set_id": header["order_set_id"],
        "status": header["status"],
        "exchange_order_set_id": header["exchange_order_set_id"],
        "rerun": rerun,
        "reason": reason,
    }


# --------------------------------------------------------------------------------------------------------------------
# the battery (the feeds DAG's submit_orders task)
# --------------------------------------------------------------------------------------------------------------------

#: Local time (Europe/Zurich) of the daily feeds run on run day X, which hands the battery its orders.
HANDOFF_LOCAL = dtime(18, 0)
#: The handover covers delivery days X-7 .. X+1.
HANDOFF_HISTORY_DAYS = 7


def handoff_sim_now(run_date: date) -> datetime:
    """The simulated clock of the feeds run on ``run_date`` (18:00 Europe/Zurich, as UTC), told to the BMS."""
    return datetime.combine(run_date, HANDOFF_LOCAL, tzinfo=CKW_TZ).astimezone(UTC)


def bms_client(settings: Settings, sim_now: datetime, call_log: CallLog) -> battery.BmsClient:
    """The battery's BMS API over HTTP (``<simulator_url>/bms`` in development), with the feeds' retry policy."""
    policy = RetryPolicy(
        max_attempts=settings.feeds_max_attempts, backoff_s=settings.feeds_backoff_s, timeout_s=settings.feeds_timeout_s
    )
    http = FeedHttpClient(
        f"{settings.simulator_url.rstrip('/')}/bms", "bms", sim_now=sim_now, policy=policy, call_log=call_log
    )
    return battery.BmsClient(http)


def pd_utc_iso(value) -> str:
    """ISO-8601 UTC of a timestamp from the warehouse."""
    return value.astimezone(UTC).isoformat()


def bms_order(row) -> dict:
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


def accepted_block(conn, header: dict, steps) -> tuple[bool, int | None] | None:
    """(is an exclusive group, its accepted block or None) of an order set; None while a group's results are not
    in (the battery can only follow the block the exchange accepted)."""
    if not is_block_group(steps):
        return False, None
    if header["status"] != lifecycle.EXECUTED:
        return None
    blocks = store.accepted_blocks(conn, header["order_set_id"])
    if len(blocks) > 1:  # the exchange accepts at most one block: never hand the battery two
        raise ValueError(f"order set {header['order_set_id']} has {len(blocks)} accepted blocks {blocks}; at most one")
    return True, (int(blocks[0]) if blocks else None)


class _Handoff:
    """What the gate decided for each market-day of the handover."""

    def __init__(self) -> None:
        self.allowed: list[tuple[str, date, list[dict], gate.GateDecision, tuple[bool, int | None]]] = []
        self.refused: dict[str, str] = {}
        self.awaiting: list[str] = []
        self.alerts: list[tuple[str, str, date, str, str]] = []


def _refuse_handoff(conn, plan: _Handoff, market: str, day: date, header: dict | None, decision) -> None:
    """Record a refused market-day; a refused set that is at the exchange is audited (and alerted when its steps
    changed or its compliance is not there)."""
    plan.refused[f"{market} {day}"] = decision.outcome
    if header is None or not lifecycle.is_at_exchange(header["status"]):
        return
    event = "submission_blocked" if decision.outcome == "kill_switch" else "submission_refused"
    controls.record_event(
        conn,
        header["order_set_id"],
        market,
        day,
        event,
        ACTOR_BATTERY,
        {"target": gate.BATTERY, "check": decision.outcome, "reason": decision.reason},
    )
    log.warning("%s %s: not handed to the battery: %s", market, day, decision.reason)
    kind = {"steps_changed": "steps_changed", "compliance_failed": "compliance_rejected"}.get(decision.outcome)
    if kind:
        plan.alerts.append((kind, market, day, decision.reason, header["order_set_id"]))


def _plan_handoff(conn, first: date, last: date, bidding) -> _Handoff:
    """Put every market-day with an order set in ``first .. last`` to the gate (target ``battery``)."""
    plan = _Handoff()
    for market, day in store.market_days_between(conn, first, last):
        header, steps = store.load_order_set(conn, market, day)
        orders = [bms_order(row) for row in steps.itertuples(index=False)]
        if header is None or not lifecycle.is_at_exchange(header["status"]):
            # only a set the exchange holds may reach the gate's battery path: the gate would refuse it as such
            plan.refused[f"{market} {day}"] = "no_order_set" if header is None else "not_eligible"
            continue
        decision = gate.submission_gate(conn, header, gate.BATTERY, market, orders, bidding)
        if not decision.allowed:
            _refuse_handoff(conn, plan, market, day, header, decision)
            continue
        group = accepted_block(conn, header, steps)
        if group is None:
            plan.awaiting.append(f"{market} {day}")
        else:
            plan.allowed.append((market, day, orders, decision, group))
    return plan


def submit_orders_for_run(
    run_date: date, settings: Settings | None = None, run_id: str | None = None, bidding=None
) -> dict:
    """Hand the battery the orders the exchange holds for delivery days X-7 .. X+1 (idempotent per day).

    Per market and day, the order set's steps go to the battery's BMS (``POST /bms/v1/executions``), whose telemetry
    then follows what cleared, only if the submission gate (:mod:`griddesk.bidding.gate`, target ``battery``)
    allows them: the set is at the exchange (``submitted`` or ``executed``), compliance passed on exactly these
    steps, approved where required, the kill switch is off and the mode is live. A paper, blocked, rejected or
    non-compliant set is never posted. A refused set that is at the exchange is audited (and alerted when its steps
    changed or its compliance is not there). An exclusive group of block orders is handed over once its results
    are in (``executed``): the gate decides on the whole group, the battery gets the accepted block's steps as
    price-taker orders (none accepted: an empty day); a group still awaiting its results waits for a later run.
    """
    settings = settings or get_settings()
    bidding = bidding or controls.get_bidding_settings()
    url = db.warehouse_url(settings)
    first, last = run_date - timedelta(days=HANDOFF_HISTORY_DAYS), run_date + timedelta(days=1)
    with db.connect(url) as conn:
        plan = _plan_handoff(conn, first, last, bidding)
    for kind, market, day, reason, os_id in plan.alerts:
        conn = psycopg2.connect(url)
        try:
            send_bidding_alert(
                conn,
                BiddingAlert(
                    kind, market, day, [reason], os_id, {"refused_by": "submission gate", "target": gate.BATTERY}
                ),
                recipients(settings, bidding),
            )
        except Exception:  # noqa: BLE001 - best effort: the refusal is recorded; nothing was posted
            log.exception("could not send the %s alert for %s %s", kind, market, day)
        finally:
            conn.close()
    call_log = CallLog()
    cleared = 0
    try:
        client = bms_client(settings, handoff_sim_now(run_date), call_log)
        for market, day, orders, decision, (is_group, block) in plan.allowed:
            result = gate.send_to_battery(
                client, market, day, orders, decision, exclusive_group=is_group, accepted_block=block
            )
            cleared += sum(1 for e in result["executions"] if e["cleared"])
    finally:
        with db.connect(url) as conn:
            write_call_log(conn, call_log, run_id)
    return {
        "days": len(plan.allowed),
        "orders": sum(len(a[2]) for a in plan.allowed),
        "cleared": cleared,
        "refused": plan.refused,
        "awaiting_results": plan.awaiting,
    }
