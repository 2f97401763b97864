"""Trader controls: paper mode by default, a kill switch, optional human approval, and the audit trail.

- **Paper mode** (``GRIDDESK_BIDDING_MODE=paper``, the default): order sets are generated, checked and recorded,
  never sent. ``live`` sends them to the order API.
- **Kill switch**: no order set is submitted while it is on. Two places turn it on: the environment
  (``GRIDDESK_BIDDING_KILL_SWITCH=true``, for operations) and the warehouse (``raw.bid_controls``, which a trader
  flips with :func:`set_kill_switch`, from the CLI or a notebook, for all markets or one). Either one is enough.
- **Approval** (``GRIDDESK_BIDDING_REQUIRE_APPROVAL=true``): order sets wait in ``pending_approval`` until a person
  approves them in the Airflow UI (the morning DAG's human-in-the-loop task); unapproved sets are never sent.
- **Submission gate** (:mod:`griddesk.bidding.gate`): every path that sends orders to the exchange or the battery
  asks it first; it honours all of the above plus compliance on exactly the steps being sent (their hash).
- **Audit trail**: every step of an order set's life (generated, compliance passed/rejected, approval requested,
  approved/rejected, submitted, blocked, refused by the gate, failed, cancelled, executed, idle fallback, rerun
  kept or refused) is a row in
  ``raw.bid_audit_events`` saying who or what did it and when.

These settings live in their own pydantic-settings class (prefix ``GRIDDESK_BIDDING_``) next to the platform's
``Settings``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from griddesk.bidding import lifecycle, store

PAPER = "paper"
LIVE = "live"
#: Order-set statuses, in the order an order set can pass through them (see griddesk.bidding.lifecycle).
STATUSES = lifecycle.STATUSES
#: Audit events.
EVENTS = (
    "generated",
    "compliance_passed",
    "compliance_rejected",
    "infeasible_fallback",
    "recorded_paper",
    "approval_requested",
    "approved",
    "rejected",
    "submission_blocked",
    "submission_refused",  # the submission gate refused (compliance, changed steps, approval), see bidding.gate
    "submitted",
    "submission_failed",
    "cancelled",
    "executed",
    "shadow_executed",  # paper mode: the recorded set cleared at the realised prices, never sent
    "rerun_reused",  # a rerun regenerated the submitted set unchanged: kept with its exchange id
    "rerun_refused",  # a rerun's set differs but the submitted one cannot be replaced: kept, with the reason
    "kill_switch_on",
    "kill_switch_off",
)
KILL_SWITCH = "kill_switch"
ALL_MARKETS = "*"


class BiddingSettings(BaseSettings):
    """Settings of the bidding engine and its controls. Every field maps to ``GRIDDESK_BIDDING_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDDESK_BIDDING_", extra="ignore")

    mode: Literal["paper", "live"] = Field(PAPER, description="paper: record orders only (default); live: submit.")
    kill_switch: bool = Field(False, description="Stop every submission (also settable in raw.bid_controls).")
    require_approval: bool = Field(False, description="Hold order sets until a person approves them in Airflow.")
    approval_timeout_minutes: int = Field(30, ge=1, description="Unanswered approvals expire (and are rejected).")
    strategy: Literal["fixed", "curves", "exclusive_blocks"] = Field(
        "fixed",
        description="fixed: the price-taker schedule; curves: price-dependent bid curves; exclusive_blocks: an "
        "exclusive group of block orders (at most one accepted).",
    )
    max_blocks: int = Field(
        24, ge=1, description="exclusive_blocks: most blocks per group (also capped by the market's block rules)."
    )
    end_soc_mode: Literal["fixed", "valued"] = Field(
        "fixed", description="fixed: end SoC back at the start; valued: free, worth a percentile of recent prices."
    )
    end_soc_value_percentile: float = Field(50.0, ge=0, le=100, description="Valued end SoC: percentile ...")
    end_soc_value_window_days: int = Field(7, ge=1, description="... of the realised prices of this many days ...")
    end_soc_value_factor: float = Field(0.8, ge=0, description="... times this factor, per MWh stored.")
    confirm_with_cbc: bool = Field(
        False,
        description="Also run CBC on the exact SoC-grid plan: a second proof of the optimum costing 0.2-1.5 s a day.",
    )
    max_order_volume_mw: float = Field(1.0, gt=0, description="Compliance: largest volume of one order step, MW.")
    max_position_mw: float | None = Field(
        None, gt=0, description="Compliance: largest net position per MTU, MW; None: the battery's power."
    )
    gate_closure_margin_minutes: int = Field(
        5, ge=0, description="Compliance: an order set must be sent at least this long before gate closure."
    )
    demand_response_windows: str = Field("", description="JSON list of configured demand-response windows.")
    predict_demand_response: bool = Field(
        True, description="Predict windows from the TRA control-signal feed when it exists."
    )
    order_api_url: str = Field("", description="Base URL of the order API; empty: the simulator's URL.")
    order_api_token: str = Field("griddesk-dev-token", description="Bearer token for the order API; never logged.")
    http_timeout_s: float = Field(10.0, gt=0, description="Timeout of one order-API request, s.")
    http_max_attempts: int = Field(3, ge=1, description="Attempts per order-API request (5xx and network errors).")
    alert_email_to: str = Field("", description="Recipients of bidding alerts; empty: GRIDDESK_ALERT_EMAIL_TO.")


def get_bidding_settings() -> BiddingSettings:
    """Fresh settings from the environment (cheap; not cached, so a flipped env kill switch takes effect)."""
    return BiddingSettings()


#: The options of the approval step in the morning DAG; an unanswered request falls back to the default.
APPROVE, REJECT = "Approve", "Reject"


def approval_from_answer(answer: dict | None) -> tuple[bool, str | None] | None:
    """(approved, approver) from an Airflow HITL answer (its XCom), or None when nobody was asked.

    ``responded_by_user`` may be a dict (``name`` / ``id``), a plain string, or missing when the request timed out
    and the operator's default applied: the approver is then None, which records the rejection as expired.
    """
    if not answer:
        return None
    user = answer.get("responded_by_user")
    approver = (user.get("name") or user.get("id")) if isinstance(user, dict) else user
    return APPROVE in (answer.get("chosen_options") or []), (str(approver) if approver else None)


# --------------------------------------------------------------------------------------------------------------------
# kill switch (warehouse)
# --------------------------------------------------------------------------------------------------------------------


def set_kill_switch(conn, active: bool, actor: str, reason: str = "", market_code: str = ALL_MARKETS) -> None:
    """Turn the warehouse kill switch on or off for one market or all (``"*"``), recording who and why.

    Raises:
        ValueError: an empty actor (the audit trail needs one).
    """
    if not actor.strip():
        raise ValueError("set_kill_switch needs the actor (who flips the switch)")
    scope = market_code.upper() if market_code != ALL_MARKETS else ALL_MARKETS
    store.set_control(conn, KILL_SWITCH, scope, active, reason, actor)
    store.insert_audit_event(
        conn, None, market_code, None, "kill_switch_on" if active else "kill_switch_off", actor, {"reason": reason}
    )


def kill_switch_reason(conn, market_code: str, settings: BiddingSettings | None = None) -> str | None:
    """Why submissions to ``market_code`` are stopped, or None when they are not."""
    settings = settings or get_bidding_settings()
    if settings.kill_switch:
        return "kill switch on in the environment (GRIDDESK_BIDDING_KILL_SWITCH)"
    row = store.active_control(conn, KILL_SWITCH, ALL_MARKETS, market_code.upper())
    if row is None:
        return None
    scope = "all markets" if row[0] == ALL_MARKETS else row[0]
    return f"kill switch on for {scope} since {row[3]:%Y-%m-%d %H:%M} UTC by {row[2]}: {row[1] or 'no reason given'}"


# --------------------------------------------------------------------------------------------------------------------
# audit trail
# --------------------------------------------------------------------------------------------------------------------


def record_event(
    conn,
    order_set_id: str | None,
    market_code: str,
    delivery_date: date | None,
    event: str,
    actor: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event (``raw.bid_audit_events``).

    Raises:
        ValueError: an unknown event or an empty actor.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; known: {', '.join(EVENTS)}")
    if not actor.strip():
        raise ValueError("an audit event needs an actor")
    store.insert_audit_event(conn, order_set_id, market_code, delivery_date, event, actor, detail or {})


def set_status(conn, order_set_id: str, current: str | None, status: str, reason: str = "") -> None:
    """Move an order set from ``current`` to ``status``, with the reason.

    Raises:
        TransitionNotAllowed: (a ``ValueError``) an unknown status or a move :mod:`griddesk.bidding.lifecycle` does
            not allow. LookupError: no such order set.
    """
    lifecycle.transition(current, status)
    store.update_status(conn, order_set_id, status, reason)


def audit_trail(conn, order_set_id: str) -> list[dict[str, Any]]:
    """The audit events of one order set, oldest first."""
    return store.audit_events(conn, order_set_id)
