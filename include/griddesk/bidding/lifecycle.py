"""The order-set lifecycle: the statuses an order set passes through and the moves allowed between them.

The status strings are the ones stored in ``raw.bid_order_sets.status``. Every status change of the bidding tasks
goes through :func:`transition`, which refuses any move not in :data:`TRANSITIONS` (naming both statuses).

::

    (new) ──> generated ──> ready ──> submitted ──> executed
      │          │  │  │      ^ │ │        │
      │          │  │  └─> pending_approval  └──> cancelled
      │          │  │          └──> rejected
      │          │  └─> recorded           (paper mode)
      │          └────> compliance_rejected
      └─> infeasible_fallback

From ``ready`` the submission gate may also refuse (``compliance_rejected``, ``rejected``, ``blocked``,
``recorded``) or the exchange may fail (``submission_failed``). ``(new)`` is no stored set (``None``): the bid task
creates a set (a rerun deletes the day's set and creates a new one). Only :data:`SUBMITTABLE` sets may reach the
exchange through the submission gate; only :data:`AT_EXCHANGE` sets may be handed to the battery.
"""

from __future__ import annotations

from collections.abc import Mapping

GENERATED = "generated"  # built from the forecast, not yet checked
COMPLIANCE_REJECTED = "compliance_rejected"  # a pre-trade check failed: never sent
INFEASIBLE_FALLBACK = "infeasible_fallback"  # the optimiser found no schedule: idle, nothing sent
RECORDED = "recorded"  # paper mode: checked and recorded, not sent
PENDING_APPROVAL = "pending_approval"  # waiting for a person
READY = "ready"  # compliant (and approved where required): may be submitted
REJECTED = "rejected"  # a person rejected it, or nobody answered in time
BLOCKED = "blocked"  # the kill switch stopped the submission
SUBMITTED = "submitted"  # accepted by the order API before gate closure
SUBMISSION_FAILED = "submission_failed"  # HTTP failure or rejection by the exchange
CANCELLED = "cancelled"  # withdrawn before gate closure
EXECUTED = "executed"  # results fetched after the auction

#: Order-set statuses, in the order an order set can pass through them.
STATUSES = (
    GENERATED,
    COMPLIANCE_REJECTED,
    INFEASIBLE_FALLBACK,
    RECORDED,
    PENDING_APPROVAL,
    READY,
    REJECTED,
    BLOCKED,
    SUBMITTED,
    SUBMISSION_FAILED,
    CANCELLED,
    EXECUTED,
)

#: No stored order set yet (the state before the bid task creates one).
NEW = None

#: Statuses from which an order set may be submitted to the exchange (through the submission gate).
SUBMITTABLE = (READY,)
#: Statuses of an order set the exchange holds (submitted and not cancelled): what the battery may be handed.
AT_EXCHANGE = (SUBMITTED, EXECUTED)

#: The allowed moves: status -> the statuses it may move to. Statuses without an entry are final.
TRANSITIONS: Mapping[str | None, tuple[str, ...]] = {
    NEW: (GENERATED, INFEASIBLE_FALLBACK),
    GENERATED: (COMPLIANCE_REJECTED, RECORDED, PENDING_APPROVAL, READY),
    PENDING_APPROVAL: (READY, REJECTED),
    READY: (SUBMITTED, SUBMISSION_FAILED, COMPLIANCE_REJECTED, REJECTED, BLOCKED, RECORDED),
    SUBMITTED: (EXECUTED, CANCELLED),
}


class TransitionNotAllowed(ValueError):
    """A status change the lifecycle does not allow (or a status it does not know)."""


def _name(status: str | None) -> str:
    return "(no order set)" if status is None else repr(status)


def allowed_targets(current: str | None) -> tuple[str, ...]:
    """The statuses an order set in ``current`` may move to (none: ``current`` is final)."""
    return TRANSITIONS.get(current, ())


def is_allowed(current: str | None, target: str) -> bool:
    """Whether an order set may move from ``current`` to ``target``."""
    return target in allowed_targets(current)


def transition(current: str | None, target: str) -> str:
    """Check the move of an order set from ``current`` (None: no stored set) to ``target``; returns ``target``.

    Raises:
        TransitionNotAllowed: an unknown status, or a move the lifecycle does not allow (naming both statuses).
    """
    for status in (current, target):
        if status is not None and status not in STATUSES:
            raise TransitionNotAllowed(f"unknown order-set status {status!r}; known: {', '.join(STATUSES)}")
    if not is_allowed(current, target):
        allowed = ", ".join(allowed_targets(current)) or "nothing (final status)"
        raise TransitionNotAllowed(
            f"an order set cannot move from {_name(current)} to {_name(target)}; from {_name(current)} only to: "
            f"{allowed}"
        )
    return target


def may_submit(status: str | None) -> bool:
    """Whether an order set in ``status`` may be sent to the exchange (then the submission gate decides)."""
    return status in SUBMITTABLE


def is_at_exchange(status: str | None) -> bool:
    """Whether the exchange holds an order set in ``status`` (so it may be handed to the battery)."""
    return status in AT_EXCHANGE
