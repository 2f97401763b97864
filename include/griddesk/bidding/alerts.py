"""Bidding alert emails: compliance rejections, infeasible days, order-API failures and rejections.

Rendering is pure; sending reuses the data-quality alerts' deduplicated sender
(:func:`griddesk.quality.alerts.send_alert_once`), so a retried task never emails the desk twice for the same
(kind, market, delivery day, order set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

KINDS = {
    "compliance_rejected": ("CRITICAL", "order set rejected by pre-trade compliance"),
    "infeasible_fallback": ("CRITICAL", "no feasible schedule: battery left idle"),
    "submission_failed": ("CRITICAL", "order set could not be submitted"),
    "order_rejected": ("CRITICAL", "order set refused by the exchange"),
    "execution_fetch_failed": ("WARNING", "auction results could not be fetched"),
    "submission_blocked": ("WARNING", "submission stopped by the kill switch"),
    "steps_changed": ("CRITICAL", "order set changed after compliance: not sent"),
    "approval_rejected": ("WARNING", "order set rejected by the approver"),
    "portfolio_forecast_missing": ("CRITICAL", "portfolio consumption not in the bid: battery bid alone"),
    "strategy_not_applicable": ("CRITICAL", "the configured strategy is not possible in this market: no order set"),
}
_TABLE_STYLE = "border-collapse:collapse;font-family:sans-serif;font-size:13px"
_CELL_STYLE = "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top"
_CONSEQUENCE = {
    "compliance_rejected": "Nothing was sent for {what}. Fix the cause and rerun the bid task before gate closure.",
    "infeasible_fallback": "GridDesk planned the safe idle schedule for {what}; no order goes out.",
    "submission_failed": "The orders for {what} did not reach the exchange. Check the order API; resubmit before "
    "gate closure (submissions are idempotent).",
    "order_rejected": "The exchange refused the orders for {what}; nothing is in the auction.",
    "execution_fetch_failed": "The results for {what} are not in the warehouse yet; the afternoon run retries.",
    "submission_blocked": "The orders for {what} were recorded but not sent.",
    "steps_changed": "The steps of {what} differ from the ones compliance approved; nothing was sent. Find who or "
    "what changed them (audit trail), then rerun the bid and compliance tasks before gate closure.",
    "approval_rejected": "The orders for {what} were not sent.",
    "portfolio_forecast_missing": "The battery was bid alone for {what}; the portfolio's consumption is not bought "
    "day-ahead. Run griddesk_consumption for the day and rerun the bid task before gate closure.",
    "strategy_not_applicable": "Nothing was generated or sent for {what}. Set GRIDDESK_BIDDING_STRATEGY to a "
    "strategy the market takes (e.g. fixed) and rerun the bid task before gate closure.",
}


def bidding_alert_key(kind: str, market_code: str, delivery_date: date, order_set_id: str | None) -> str:
    """``bid_<kind>|<market>|<day>|<order set>``: one email per kind and order set (dedup key)."""
    if kind not in KINDS:
        raise ValueError(f"unknown bidding alert kind {kind!r}; known: {', '.join(KINDS)}")
    return f"bid_{kind}|{market_code}|{delivery_date.isoformat()}|{order_set_id or '-'}"


def render_bidding_alert(
    kind: str,
    market_code: str,
    delivery_date: date,
    reasons: Sequence[str],
    order_set_id: str | None = None,
    details: Mapping[str, object] | None = None,
) -> tuple[str, str]:
    """Subject and HTML body of a bidding alert; every value from the data is HTML-escaped.

    Args:
        kind: One of ``KINDS``.
        reasons: Plain-words reasons (one table row each), e.g. failed compliance checks or conflicting
            constraints.
        order_set_id: The order set concerned, if any.
        details: Extra facts shown under the reasons (e.g. ``{"HTTP status": 503, "mode": "live"}``).

    Raises:
        ValueError: unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown bidding alert kind {kind!r}; known: {', '.join(KINDS)}")
    level, what_happened = KINDS[kind]
    what = f"{market_code} {delivery_date.isoformat()}"
    subject = f"[GridDesk][{level}] bidding: {what_happened} for {what}"
    cell = f'style="{_CELL_STYLE}"'
    rows = "".join(f"<tr><td {cell}>{escape(str(r))}</td></tr>" for r in reasons) or f"<tr><td {cell}>-</td></tr>"
    facts = dict(details or {})
    if order_set_id:
        facts = {"order set": order_set_id, **facts}
    facts_html = "".join(f"<li>{escape(str(k))}: {escape(str(v))}</li>" for k, v in facts.items())
    body = (
        "<html><body>"
        f"<p><strong>{escape(subject)}</strong></p>"
        f"<p>{escape(_CONSEQUENCE[kind].format(what=what))}</p>"
        f'<table style="{_TABLE_STYLE}"><thead><tr><th {cell}>Reason</th></tr></thead><tbody>{rows}</tbody></table>'
        f"{'<ul>' + facts_html + '</ul>' if facts_html else ''}"
        "</body></html>"
    )
    return subject, body


@dataclass(frozen=True)
class BiddingAlert:
    """What one bidding alert is about (see :func:`render_bidding_alert` for the fields)."""

    kind: str
    market_code: str
    delivery_date: date
    reasons: Sequence[str]
    order_set_id: str | None = None
    details: Mapping[str, object] | None = None


def send_bidding_alert(conn, alert: BiddingAlert, to: str | Sequence[str], conn_id: str = "smtp_default") -> bool:
    """Render and send one bidding alert at most once (see :func:`griddesk.quality.alerts.send_alert_once`).

    ``conn`` must have no open transaction (the dedup key commits after the send). Returns True if this call sent.
    """
    from griddesk.quality.alerts import send_alert_once

    a = alert
    subject, html = render_bidding_alert(a.kind, a.market_code, a.delivery_date, a.reasons, a.order_set_id, a.details)
    key = bidding_alert_key(a.kind, a.market_code, a.delivery_date, a.order_set_id)
    return send_alert_once(conn, key, subject, html, to, conn_id, kind=f"bid_{a.kind}")
