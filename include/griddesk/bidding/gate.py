"""The submission gate: the one place that decides whether an order set may leave GridDesk.

Two paths send orders out: the morning ``submit`` task posts an order set to the exchange's order API
(``target="exchange"``), and the feeds DAG hands the orders the exchange holds to the battery's BMS
(``target="battery"``, ``POST /bms/v1/executions``). Both call :func:`submission_gate` and then post only through
:func:`send_to_exchange` / :func:`send_to_battery`, which refuse unless the gate's decision allows exactly the orders
being posted (same content hash). The decision itself is the pure :func:`decide`; the checks, in order:

1. an order set exists for the market and day;
2. its status is eligible: ``ready`` for the exchange; ``submitted`` or ``executed`` (what the exchange holds) for
   the battery;
3. compliance: every check of :data:`griddesk.bidding.compliance.CHECKS` is recorded and passed;
4. the steps hash: the SHA-256 of the steps compliance checked (:func:`steps_digest`, stored with every compliance
   row) equals the hash of the orders being sent, so a step edited after compliance is never sent;
5. approval: when required, a person approved the set after it was generated;
6. the kill switch (environment or ``raw.bid_controls``) is off;
7. the mode is ``live`` (paper mode sends nothing).

The hash is canonical: the sorted (market, delivery start UTC, delivery end UTC, side, volume MW, limit price)
tuples of the steps, numbers at six decimals, as JSON; a step of an exclusive group of block orders appends its
``block_index`` (moving a step to another block changes what can trade together). Step numbering and row order do
not change it; any change of what would trade does. Steps without a block hash exactly as before blocks existed.

An exclusive group goes to the battery as the accepted block's schedule only (:func:`send_to_battery`): the
gate still decides on, and hashes, the whole group compliance checked.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from griddesk.bidding import lifecycle, store
from griddesk.bidding.compliance import CHECKS
from griddesk.bidding.controls import kill_switch_reason

EXCHANGE, BATTERY = "exchange", "battery"
TARGETS = (EXCHANGE, BATTERY)
#: Statuses from which an order set may be sent to each target.
ELIGIBLE_STATUSES = {EXCHANGE: lifecycle.SUBMITTABLE, BATTERY: lifecycle.AT_EXCHANGE}
#: Refusal outcomes of :func:`decide`, in the order the checks run.
OUTCOMES = (
    "no_order_set",
    "not_eligible",
    "compliance_failed",
    "steps_changed",
    "not_approved",
    "kill_switch",
    "paper_mode",
)


class GateRefused(RuntimeError):
    """An attempt to post orders the gate did not allow (or other orders than it allowed)."""


def _number(value) -> str:
    return f"{round(float(value), 6) + 0.0:.6f}"  # + 0.0: no "-0.000000"


def _utc(value) -> datetime:
    """An aware UTC datetime (a pandas Timestamp stays one) from a datetime or an ISO-8601 string."""
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(t, datetime):
        t = pd.Timestamp(t)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def steps_digest(market_code: str, orders: Iterable[Mapping]) -> str:
    """SHA-256 (hex) of the canonical form of ``orders`` for ``market_code``.

    Each order needs ``delivery_start_utc`` (datetime or ISO-8601), its length (``resolution_minutes`` or
    ``mtu_minutes``), ``side``, ``volume_mw`` and ``limit_price_per_mwh`` (None: price-taker without a limit);
    optionally ``block_index`` (None or absent: not a block).

    Raises:
        ValueError: an order without its length. KeyError: a field missing.
    """
    market = market_code.upper()
    rows = []
    for order in orders:
        minutes = order.get("resolution_minutes", order.get("mtu_minutes"))
        if minutes is None:
            raise ValueError(f"order {dict(order)!r} has neither resolution_minutes nor mtu_minutes")
        start = _utc(order["delivery_start_utc"])
        limit = order["limit_price_per_mwh"]
        row = (
            market,
            start.isoformat(),
            (start + timedelta(minutes=int(minutes))).isoformat(),
            str(order["side"]),
            _number(order["volume_mw"]),
            None if _missing(limit) else _number(limit),
        )
        block = order.get("block_index")
        rows.append(row if _missing(block) or block is pd.NA else (*row, int(block)))
    rows.sort(key=lambda r: (*r[:5], r[5] or "", *r[6:]))
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def frame_digest(market_code: str, steps: pd.DataFrame, mtu_minutes: int | None = None) -> str:
    """:func:`steps_digest` of steps as stored (``raw.bid_order_steps``) or generated (``mtu_minutes`` given)."""
    cols = ["delivery_start_utc", "side", "volume_mw", "limit_price_per_mwh"]
    cols += [c for c in ("resolution_minutes", "block_index") if c in steps]
    frame = steps[cols].astype({"block_index": object} if "block_index" in steps else {})
    if "resolution_minutes" not in frame:
        if mtu_minutes is None:
            raise ValueError("steps without resolution_minutes need mtu_minutes")
        frame["resolution_minutes"] = mtu_minutes
    return steps_digest(market_code, frame.to_dict("records"))


def block_of(orders: Iterable[Mapping], block_index: int | None) -> list[dict]:
    """The orders of one block of an exclusive group as price-taker orders (``limit_price_per_mwh`` None, no
    ``block_index``): the exchange accepted the block whole, so its steps are to be delivered whatever the price.
    None (no block accepted): no orders."""
    if block_index is None:
        return []
    chosen = [o for o in orders if not _missing(o.get("block_index")) and int(o["block_index"]) == int(block_index)]
    return [{**{k: v for k, v in o.items() if k != "block_index"}, "limit_price_per_mwh": None} for o in chosen]


@dataclass(frozen=True)
class GateFacts:
    """Everything the gate decides on, gathered from the warehouse and the settings.

    Attributes:
        target: ``exchange`` or ``battery``.
        status: The order set's status; None when there is no order set.
        checks: ``(check name, passed, stored steps hash)`` of every compliance row of the set.
        sending_digest: :func:`steps_digest` of the orders about to be posted.
        require_approval: Whether a person must approve.
        approved: Whether a person approved the set after it was generated.
        kill_switch: Why the kill switch stops submissions, None when it is off.
        mode: ``paper`` or ``live``.
    """

    target: str
    status: str | None
    checks: tuple[tuple[str, bool, str | None], ...]
    sending_digest: str
    require_approval: bool
    approved: bool
    kill_switch: str | None
    mode: str


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer: ``allowed`` with the hash of exactly what may be sent, or the refusal and why."""

    allowed: bool
    outcome: str  # "allowed" or one of OUTCOMES
    reason: str
    target: str
    digest: str | None = None  # the allowed orders' hash (None when refused)
    order_set_id: str | None = None


def decide(facts: GateFacts, order_set_id: str | None = None) -> GateDecision:
    """The gate's pure decision (checks in the order of the module docstring; the first failing one is reported).

    Raises:
        ValueError: an unknown target.
    """
    if facts.target not in TARGETS:
        raise ValueError(f"unknown gate target {facts.target!r}; known: {', '.join(TARGETS)}")

    def refuse(outcome: str, reason: str) -> GateDecision:
        return GateDecision(False, outcome, reason, facts.target, None, order_set_id)

    if facts.status is None:
        return refuse("no_order_set", "no order set")
    eligible = ELIGIBLE_STATUSES[facts.target]
    if facts.status not in eligible:
        return refuse(
            "not_eligible", f"status {facts.status!r}: only {' or '.join(eligible)} goes to the {facts.target}"
        )
    recorded = {name for name, _, _ in facts.checks}
    missing = [c for c in CHECKS if c not in recorded]
    failed = sorted({name for name, ok, _ in facts.checks if not ok})
    if missing or failed:
        parts = ([f"missing checks: {', '.join(missing)}"] if missing else []) + (
            [f"failed checks: {', '.join(failed)}"] if failed else []
        )
        return refuse("compliance_failed", "compliance " + "; ".join(parts))
    stored = {digest for _, _, digest in facts.checks}
    if stored != {facts.sending_digest}:
        shown = ", ".join(sorted(str(d)[:12] for d in stored))
        return refuse(
            "steps_changed",
            f"the steps being sent (sha256 {facts.sending_digest[:12]}) are not the steps compliance checked "
            f"(sha256 {shown})",
        )
    if facts.require_approval and not facts.approved:
        return refuse("not_approved", "approval required and no approval recorded since the set was generated")
    if facts.kill_switch:
        return refuse("kill_switch", facts.kill_switch)
    if facts.mode != "live":
        return refuse("paper_mode", "paper mode")
    return GateDecision(True, "allowed", "", facts.target, facts.sending_digest, order_set_id)


# --------------------------------------------------------------------------------------------------------------------
# the warehouse side (the reads are in griddesk.bidding.store)
# --------------------------------------------------------------------------------------------------------------------


def _facts(conn, header: Mapping | None, target: str, market_code: str, digest: str, bidding) -> GateFacts:
    status = header["status"] if header else None
    checks: tuple = ()
    approved = False
    if header is not None:
        checks = store.compliance_checks(conn, header["order_set_id"])
        approved = store.approved_since_generated(conn, header["order_set_id"])
    return GateFacts(
        target=target,
        status=status,
        checks=checks,
        sending_digest=digest,
        require_approval=bidding.require_approval,
        approved=approved,
        kill_switch=kill_switch_reason(conn, market_code, bidding),
        mode=bidding.mode,
    )


def submission_gate(
    conn, header: Mapping | None, target: str, market_code: str, orders: Iterable[Mapping], bidding
) -> GateDecision:
    """Decide whether ``orders`` (the payload's orders) of the order set ``header`` may go to ``target`` now.

    Reads the compliance rows, the approval and the kill switch on ``conn``; writes nothing (the caller records the
    outcome, because the status it moves to depends on the path).
    """
    digest = steps_digest(market_code, orders)
    facts = _facts(conn, header, target, market_code, digest, bidding)
    return decide(facts, header["order_set_id"] if header else None)


def _require(decision: GateDecision, target: str, market_code: str, orders: Iterable[Mapping]) -> None:
    if not isinstance(decision, GateDecision) or not decision.allowed or decision.target != target:
        raise GateRefused(f"the submission gate did not allow sending to the {target}")
    if steps_digest(market_code, orders) != decision.digest:
        raise GateRefused(f"the orders posted to the {target} are not the ones the submission gate allowed")


def send_to_exchange(client, payload: dict, decision: GateDecision):
    """Post ``payload`` through the order API ``client`` if, and only if, ``decision`` allows exactly its orders.

    Raises:
        GateRefused: not allowed, or other orders than the allowed ones. OrderApiError: from the client.
    """
    _require(decision, EXCHANGE, payload["market"], payload["orders"])
    return client.submit(payload)


def send_to_battery(
    client,
    market_code: str,
    delivery_date,
    orders: list[dict],
    decision: GateDecision,
    exclusive_group: bool = False,
    accepted_block: int | None = None,
) -> dict:
    """Hand ``orders`` to the battery's BMS ``client`` if, and only if, ``decision`` allows exactly them.

    For an exclusive group of block orders (``exclusive_group``) the gate's decision covers the whole group (what
    compliance checked) and the battery gets only the accepted block (:func:`block_of`; None: an empty day).

    Raises:
        GateRefused: not allowed, or other orders than the allowed ones.
    """
    _require(decision, BATTERY, market_code, orders)
    posted = block_of(orders, accepted_block) if exclusive_group else orders
    return client.submit_orders(market_code, delivery_date, posted)
