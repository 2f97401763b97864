"""Bodies of the bidding tasks: generate, check, approve, submit and settle one order set per market and day.

Each function is one unit of I/O around the pure components of :mod:`griddesk.bidding`; the DAGs call these:

- :func:`bid_for_run` / :func:`generate_order_set` (the morning ``bid`` task, :mod:`griddesk.bidding.generation`):
  D's order set from the forecast, stored with status ``generated`` (``infeasible_fallback`` when the optimiser
  found no schedule);
- :func:`check_compliance` (``compliance``): the pre-trade checks; a failure rejects the set with its reasons and
  alerts; a pass makes it ``recorded`` (paper mode), ``pending_approval`` or ``ready``;
- :func:`record_approval` (after the Airflow human-in-the-loop task): ``pending_approval`` -> ``ready`` or
  ``rejected``;
- :func:`submit_order_set` (``submit``, :mod:`griddesk.bidding.submission`): sends a ``ready`` set unless the
  submission gate refuses; never anything else;
- :func:`fetch_executions` (afternoon): the auction results of submitted sets, into ``raw.bid_executions``; for a
  paper-mode set, its shadow executions (cleared by the exchange's rule at the realised prices, never sent);
- :func:`submit_orders_for_run` (the feeds DAG): hands the battery the orders the exchange holds.

Every status change follows :mod:`griddesk.bidding.lifecycle`; every transition is in the audit trail
(``raw.bid_audit_events``) with its actor.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from griddesk.bidding import controls, gate, lifecycle, paired_market, store
from griddesk.bidding.compliance import ComplianceLimits, check_order_set, passed, rejection_reasons
from griddesk.bidding.execution import NotClearedYet, OrderApiError, shadow_results, success_rate
from griddesk.bidding.generation import generate_order_set, order_set_id
from griddesk.bidding.rules import rules_from_dim_markets
from griddesk.bidding.submission import cancel_order_set, submit_order_set, submit_orders_for_run
from griddesk.bidding.task_support import (
    ACTOR_BATTERY,
    ACTOR_BID,
    ACTOR_COMPLIANCE,
    ACTOR_EXECUTIONS,
    ACTOR_SUBMIT,
    alert,
    battery_config,
    move,
    order_api,
    recipients,
    resolve,
)
from griddesk.clock import RunClock
from griddesk.markets import Market
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db

__all__ = [
    "ACTOR_BATTERY",
    "ACTOR_BID",
    "ACTOR_COMPLIANCE",
    "ACTOR_EXECUTIONS",
    "ACTOR_SUBMIT",
    "apply_approval_answer",
    "bid_for_run",
    "cancel_order_set",
    "check_compliance",
    "compliance_outcome",
    "fetch_executions",
    "generate_order_set",
    "order_set_id",
    "pending_approvals",
    "record_approval",
    "submit_order_set",
    "submit_orders_for_run",
]


def bid_for_run(market_code: str, clock: RunClock, settings: Settings | None = None) -> dict:
    """Optimise the battery on D's forecast and store the schedule, the orders and the order set (status
    ``generated``; see :func:`griddesk.bidding.generation.generate_order_set`)."""
    return generate_order_set(market_code, clock, settings)


# --------------------------------------------------------------------------------------------------------------------
# compliance
# --------------------------------------------------------------------------------------------------------------------


def compliance_outcome(ok: bool, mode: str, require_approval: bool) -> tuple[str, list[str]]:
    """The status a checked order set moves to, and the audit events after ``compliance_passed`` that say why.

    A failed check rejects it; a passed one is ``recorded`` in paper mode, ``pending_approval`` when a person must
    approve, else ``ready``.
    """
    if not ok:
        return lifecycle.COMPLIANCE_REJECTED, []
    if mode == controls.PAPER:
        return lifecycle.RECORDED, ["recorded_paper"]
    if require_approval:
        return lifecycle.PENDING_APPROVAL, ["approval_requested"]
    return lifecycle.READY, []


def check_compliance(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_COMPLIANCE,
) -> dict:
    """Run the pre-trade checks on D's order set as of the run's clock; record, move its status, alert on failure."""
    settings, bidding, market, url = resolve(market_code, settings, bidding)
    day = clock.delivery_date
    with db.connect(url) as conn:
        header, steps = store.load_order_set(conn, market.code, day)
        if header is None:
            return {"market": market.code, "delivery_date": str(day), "status": "no order set"}
        if header["status"] != lifecycle.GENERATED:
            return {"market": market.code, "delivery_date": str(day), "status": header["status"], "checked": False}
        results = _check(conn, header, steps, clock, market, settings, bidding)
        ok = passed(results)
        # the hash of exactly the steps checked: the submission gate sends nothing else
        digest = gate.frame_digest(market.code, steps)
        store.replace_compliance_results(conn, header["order_set_id"], results, digest)
        os_id = header["order_set_id"]
        status, events = compliance_outcome(ok, bidding.mode, bidding.require_approval)
        if not ok:
            reasons = rejection_reasons(results)
            move(conn, header, status, "; ".join(reasons))
            controls.record_event(conn, os_id, market.code, day, "compliance_rejected", actor, {"reasons": reasons})
        else:
            controls.record_event(conn, os_id, market.code, day, "compliance_passed", actor, {"steps_sha256": digest})
            for event in events:
                controls.record_event(conn, os_id, market.code, day, event, actor)
            move(conn, header, status, "")
    if not ok:
        alert(
            url,
            "compliance_rejected",
            market.code,
            day,
            reasons,
            recipients(settings, bidding),
            os_id,
            mode=bidding.mode,
        )
    return {"market": market.code, "delivery_date": str(day), "order_set_id": os_id, "status": status, "passed": ok}


def _check(
    conn, header: dict, steps: pd.DataFrame, clock: RunClock, market: Market, settings: Settings, bidding
) -> list:
    """The pre-trade check results of a stored order set as of the run's clock."""
    market_code, day = market.code, clock.delivery_date
    rules = rules_from_dim_markets(
        conn, market_code, day, int(steps["resolution_minutes"].iloc[0]) if len(steps) else None
    )
    n_mtus = store.schedule_mtus(conn, header["schedule_id"])
    valued = header["end_soc_mode"] == "valued"
    battery = battery_config(settings, conn, market_code, day, valued)
    limits = ComplianceLimits(
        max_order_volume_mw=bidding.max_order_volume_mw,
        max_position_mw=bidding.max_position_mw,
        gate_closure_margin=timedelta(minutes=bidding.gate_closure_margin_minutes),
    )
    # a joint order set (the portfolio's paired market) buys the forecast consumption too
    consumption_mw = paired_market.consumption_mw_of_schedule(conn, header["schedule_id"])
    return check_order_set(
        steps,
        battery,
        rules,
        n_mtus,
        clock.sim_now(market),
        limits,
        end_soc_fixed=not valued or consumption_mw is not None,
        consumption_mw=consumption_mw,
    )


# --------------------------------------------------------------------------------------------------------------------
# approval
# --------------------------------------------------------------------------------------------------------------------


def pending_approvals(market_codes: list[str], delivery_date: date, settings: Settings | None = None) -> list[str]:
    """Order sets of these markets for D waiting for a person."""
    settings = settings or get_settings()
    with db.connect(db.warehouse_url(settings)) as conn:
        return store.pending_approval_ids(conn, market_codes, delivery_date)


def apply_approval_answer(market_codes: list[str], delivery_date: date, answer: dict | None) -> dict | None:
    """Apply the morning DAG's HITL answer to D's pending order sets; None when no approval was asked."""
    decision = controls.approval_from_answer(answer)
    if decision is None:
        return None
    approved, approver = decision
    return record_approval(pending_approvals(market_codes, delivery_date), approved=approved, approver=approver)


def record_approval(
    order_set_ids: list[str],
    approved: bool,
    approver: str | None,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
) -> dict:
    """Apply a person's decision to pending order sets: ``ready`` when approved, else ``rejected`` (alerted).

    ``approver`` None means nobody answered in time: the sets are rejected as expired.
    """
    settings = settings or get_settings()
    bidding = bidding or controls.get_bidding_settings()
    url = db.warehouse_url(settings)
    actor = f"airflow-user:{approver}" if approver else "airflow:approval-timeout"
    changed = []
    with db.connect(url) as conn:
        for os_id in order_set_ids:
            row = store.order_set_state(conn, os_id)
            if row is None or row[2] != lifecycle.PENDING_APPROVAL:
                continue
            market_code, day, current = row
            if approved:
                controls.set_status(conn, os_id, current, lifecycle.READY, f"approved by {approver}")
                controls.record_event(conn, os_id, market_code, day, "approved", actor)
            else:
                reason = f"rejected by {approver}" if approver else "approval expired"
                controls.set_status(conn, os_id, current, lifecycle.REJECTED, reason)
                controls.record_event(conn, os_id, market_code, day, "rejected", actor, {"reason": reason})
            changed.append((os_id, market_code, day))
    if not approved:
        for os_id, market_code, day in changed:
            alert(
                url,
                "approval_rejected",
                market_code,
                day,
                [f"{actor} did not approve"],
                recipients(settings, bidding),
                os_id,
            )
    return {"approved": approved, "approver": approver, "order_sets": [c[0] for c in changed]}


# --------------------------------------------------------------------------------------------------------------------
# executions
# --------------------------------------------------------------------------------------------------------------------


def execution_rows(results: pd.DataFrame, header: dict, steps: pd.DataFrame, market: Market, day: date):
    """The exchange's (or the shadow clearing's) per-order results as ``raw.bid_executions`` rows."""
    mtu_minutes = int(steps["resolution_minutes"].iloc[0]) if len(steps) else market.mtu_minutes
    blocks = results["block_index"] if "block_index" in results else [None] * len(results)
    return results.rename(columns={"accepted": "is_accepted"}).assign(
        order_set_id=header["order_set_id"],
        exchange_order_set_id=header["exchange_order_set_id"],
        market_code=market.code,
        delivery_date_local=day,
        resolution_minutes=mtu_minutes,
        currency=header["currency"],
        block_index=[None if pd.isna(b) else int(b) for b in blocks],  # plain ints for the driver
    )


def _executed_detail(rows: pd.DataFrame) -> dict:
    return {"steps": len(rows), "accepted": int(rows["is_accepted"].sum()) if len(rows) else 0}


def _record_shadow_executions(url, market, clock: RunClock, header, steps, actor, out) -> dict:
    """Paper mode: clear the recorded (never sent) set by the exchange's rule at the realised prices, as shadow
    executions in ``raw.bid_executions`` (no exchange id). Nothing is sent; the set stays ``recorded``."""
    day = clock.delivery_date
    os_id = header["order_set_id"]
    with db.connect(url) as conn:
        prices = store.first_published_prices(conn, market.code, day, clock.sim_now(market))
    if prices.empty:
        return {**out, "status": "awaiting_prices", "executions": 0, "order_set_id": os_id}
    try:
        results = shadow_results(steps, prices)
    except ValueError as exc:  # an incomplete price day: record nothing rather than part of a day
        return {**out, "status": "awaiting_prices", "executions": 0, "order_set_id": os_id, "detail": str(exc)}
    rows = execution_rows(results, header, steps, market, day)  # a paper set has no exchange id
    with db.connect(url) as conn, conn.cursor() as cur:
        store.replace_executions(cur, os_id, rows)
        controls.record_event(conn, os_id, market.code, day, "shadow_executed", actor, _executed_detail(rows))
    return {**out, "status": "shadow_executed", "executions": len(rows), "success_rate_pct": success_rate(rows)}


def fetch_executions(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_EXECUTIONS,
) -> dict:
    """Fetch the auction results of D's submitted order set into ``raw.bid_executions`` (afternoon run)."""
    settings, bidding, market, url = resolve(market_code, settings, bidding)
    day = clock.delivery_date
    out = {"market": market.code, "delivery_date": str(day)}
    with db.connect(url) as conn:
        header, steps = store.load_order_set(conn, market.code, day)
    if header is not None and header["status"] == lifecycle.RECORDED and header["trading_mode"] == "paper":
        return _record_shadow_executions(url, market, clock, header, steps, actor, out)
    if header is None or not lifecycle.is_at_exchange(header["status"]):
        return {**out, "status": header["status"] if header else "no order set", "executions": 0}
    os_id = header["order_set_id"]
    try:
        with order_api(settings, bidding, clock.sim_now(market), url) as client:
            results = client.results(header["exchange_order_set_id"])
    except NotClearedYet as exc:
        return {**out, "status": "awaiting_results", "executions": 0, "detail": str(exc)}
    except OrderApiError as exc:
        with db.connect(url) as conn:
            controls.record_event(
                conn,
                os_id,
                market.code,
                day,
                "submission_failed",
                actor,
                {"phase": "fetch_executions", "error": str(exc)},
            )
        alert(url, "execution_fetch_failed", market.code, day, [str(exc)], recipients(settings, bidding), os_id)
        return {**out, "status": "fetch_failed", "executions": 0, "error": str(exc)}
    rows = execution_rows(results, header, steps, market, day)
    with db.connect(url) as conn, conn.cursor() as cur:
        store.replace_executions(cur, os_id, rows)
        if header["status"] != lifecycle.EXECUTED:
            move(conn, header, lifecycle.EXECUTED, "")
            controls.record_event(conn, os_id, market.code, day, "executed", actor, _executed_detail(rows))
    return {**out, "status": "executed", "executions": len(rows), "success_rate_pct": success_rate(rows)}
