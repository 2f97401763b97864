"""Alert emails: render one per failed (suite, market, day) or watch finding, send it at most once.

Every alert says, before any evidence: the severity, the market (or feed source), the **delivery day affected**
and the **data day that caused it**, what GridDesk did (e.g. "No forecast and no orders for FR on 2016-12-31")
and what to do next (the same words as docs/alerts.md, from :data:`NEXT_STEPS`). Links use the public base URL
(``GRIDDESK_PUBLIC_URL``) and point to the exact validation page in the Data Docs.

Rendering is pure (no Airflow, no GX). Sending goes through the Airflow SMTP provider's ``SmtpHook``
(Airflow 3.2+ ignores ``email_backend`` for ``email_on_failure``) as multipart/alternative (plain text, then
HTML), deduplicated through ``raw.alerts_sent`` so task retries and reruns never email the desk twice for the
same key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape, unescape
from urllib.parse import urlsplit

import psycopg2.extensions

from griddesk.quality.gx_runner import MarketDayResult

log = logging.getLogger(__name__)

#: Link schemes allowed in an alert (a ``javascript:`` URL from a bad config must not become a link).
SAFE_LINK_SCHEMES = ("http", "https", "file")

_TABLE_STYLE = "border-collapse:collapse;font-family:sans-serif;font-size:13px"
_CELL_STYLE = "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top"
_COLUMNS = ("Expectation", "Column", "Observed", "Expected", "Severity")

#: What to do next, per alert kind: the same sentences as docs/alerts.md (a test keeps them in step).
NEXT_STEPS = {
    "prices_morning": "Open the validation result linked below and check the ENTSO-E publication of the data day "
    "(a revision may follow). Once corrected data is loaded, clear the griddesk_morning run of the delivery day "
    "before gate closure; otherwise the market stays out of the auction for that day.",
    "prices_afternoon": "Open the validation result linked below; the morning forecast of the delivery day is scored "
    "and its executions settled against these prices, so treat both as provisional until a corrected publication "
    "is loaded and the griddesk_afternoon run is cleared.",
    "inputs_missing": "Check the source (ENTSO-E or the simulator) for the missing publication. If it arrives before "
    "gate closure, clear the failed run in Airflow; otherwise bid manually or stay out of the auction.",
    "feed": "Open the validation result linked below; for a gap or a stale feed check the API-health alert and the "
    "source, then rerun griddesk_feeds for the run date (it re-extracts a week and stores only changed days).",
    "outputs": "Check the orders of that market-day before gate closure and withdraw or correct them if they rest "
    "on the failed dataset.",
    "data_gap": "If the source publishes late, the next run heals it; if the gap persists, ask the provider.",
    "api_health": "Look at marts.fct_api_health: persistent 401 = credentials, 429 = rate limit (poll less), "
    "5xx or timeouts = the provider.",
    "forecast_drift": "Compare with the weekly-naive benchmark in marts.fct_price_forecast_daily_scores, check the "
    "exogenous inputs, and retrain or switch the champion.",
    "bid_executions": "Check the exchange's answer in raw.bid_executions; hedge manually before gate closure if the "
    "position differs from the schedule.",
    "deadline": "Open the griddesk_morning run of the delivery day in Airflow; if it cannot finish in time, submit "
    "manually.",
}


def alert_level(result: MarketDayResult) -> str:
    """``CRITICAL`` when a critical expectation failed, else ``WARNING``.

    Raises:
        ValueError: nothing failed, so there is nothing to alert on.
    """
    if result.passed_all:
        raise ValueError(
            f"{result.suite_name} passed for {result.market_code} {result.delivery_date_local}: nothing to alert"
        )
    return "WARNING" if result.passed_critical else "CRITICAL"


def quality_alert_key(result: MarketDayResult) -> str:
    """``kind|suite|market|delivery day``, e.g. ``dq_critical|raw_day_ahead_prices|FR|2016-12-24``.

    The level is in the kind, so a warning email does not suppress a later critical one for the same day.
    """
    kind = f"dq_{alert_level(result).lower()}"
    return f"{kind}|{result.suite_name}|{result.market_code}|{result.delivery_date_local.isoformat()}"


def _consequence(result: MarketDayResult, level: str, delivery_day: date | None = None) -> str:
    what = f"{result.market_code} on {(delivery_day or result.delivery_date_local).isoformat()}"
    if level == "CRITICAL":
        return f"No forecast and no orders for {what}."
    return f"The forecast and the orders for {what} go ahead; the warnings below need a look."


def _link(label: str, url: str) -> str:
    if urlsplit(url).scheme.lower() not in SAFE_LINK_SCHEMES:
        return f"{escape(label)}: {escape(url)} (not linked: scheme not in {', '.join(SAFE_LINK_SCHEMES)})"
    return f'<a href="{escape(url, quote=True)}">{escape(label)}</a>'


def render_quality_alert(
    result: MarketDayResult,
    links: Mapping[str, str] | None = None,
    consequence: str | None = None,
    *,
    delivery_day: date | None = None,
    next_steps: str | None = None,
) -> tuple[str, str]:
    """Subject and HTML body of the alert for one failed market-day (or feed-day).

    Args:
        result: a validation with at least one failed expectation; its day is the *data day*.
        links: label -> URL shown under the table, e.g. ``{"Validation result": <its Data Docs page>}``; empty or
            None values are skipped. Only http(s) and file URLs become links.
        consequence: what GridDesk did; default: the market-day rule (no forecast, no orders for the delivery day).
        delivery_day: the delivery day the failure affects (the morning gate checks D-1's prices for D); default:
            the data day.
        next_steps: what the reader should do; default: the morning price gate's (:data:`NEXT_STEPS`).

    Returns:
        (subject, html), e.g. ``[GridDesk][CRITICAL] raw_day_ahead_prices failed for FR delivery day 2016-12-31
        (data of 2016-12-30)`` with a delivery day, ``... failed for home_dynamic 2016-11-15`` without one. Every
        value from the data is HTML-escaped.

    Raises:
        ValueError: the result has no failed expectation.
    """
    level = alert_level(result)
    data_day = result.delivery_date_local
    affected = delivery_day or data_day
    verb = "failed" if level == "CRITICAL" else "has warnings"
    if delivery_day is None:  # a feed-day or an output: the data day is the day it is about
        subject = f"[GridDesk][{level}] {result.suite_name} {verb} for {result.market_code} {data_day.isoformat()}"
    else:
        subject = (
            f"[GridDesk][{level}] {result.suite_name} {verb} for {result.market_code} delivery day "
            f"{affected.isoformat()} (data of {data_day.isoformat()})"
        )
    rows = [(o.expectation_id, o.column or "", o.observed, o.expected, o.severity) for o in result.failed]
    footer = f"Validated at {result.validated_at_utc.isoformat()} (UTC)."
    facts = alert_facts(
        level,
        result.market_code,
        affected,
        data_day,
        consequence or _consequence(result, level, affected),
        next_steps or NEXT_STEPS["prices_morning"],
    )
    body = _html_body(subject, facts, _COLUMNS, rows, links, footer)
    return subject, body


def alert_facts(
    level: str, scope: str, delivery_day: date | str | None, data_day: date | str | None, action: str, next_steps: str
) -> list[tuple[str, str]]:
    """The lines every alert starts with, in this order (the plain-text part shows them as ``Label | value``)."""

    def text(d) -> str:
        return d.isoformat() if isinstance(d, date) else (d or "-")

    return [
        ("Severity", level),
        ("Market / source", scope),
        ("Delivery day affected", text(delivery_day)),
        ("Data day that caused it", text(data_day)),
        ("What GridDesk did", action),
        ("What to do next", next_steps),
    ]


def _html_body(
    subject: str,
    facts: Sequence[tuple[str, str]] | str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    links: Mapping[str, str] | None,
    footer: str | None = None,
) -> str:
    """The one alert layout: subject line, the facts (severity, scope, days, action, next steps), a small escaped
    table of evidence, an optional footer, the links."""
    cell = f'style="{_CELL_STYLE}"'
    if isinstance(facts, str):
        facts = [("What GridDesk did", facts)]
    facts_html = "".join(f"<tr><th {cell}>{escape(k)}</th><td {cell}>{escape(v)}</td></tr>" for k, v in facts)
    header = "".join(f"<th {cell}>{escape(str(c))}</th>" for c in columns)
    body_rows = "".join(
        "<tr>" + "".join(f"<td {cell}>{escape('' if v is None else str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    link_items = [_link(label, url) for label, url in (links or {}).items() if url]
    return (
        "<html><body>"
        f"<p><strong>{escape(subject)}</strong></p>"
        f'<table style="{_TABLE_STYLE}"><tbody>{facts_html}</tbody></table>'
        "<p>Evidence:</p>"
        f'<table style="{_TABLE_STYLE}"><thead><tr>{header}</tr></thead><tbody>{body_rows}</tbody></table>'
        + (f"<p>{escape(footer)}</p>" if footer else "")
        + (("<p>" + " · ".join(link_items) + "</p>") if link_items else "")
        + "</body></html>"
    )


def html_to_text(html: str) -> str:
    """The plain-text part of an alert from its HTML (our own small layout): one line per paragraph and table
    row, cells separated by `` | ``, links as ``label: URL``."""
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', lambda m: f"{m.group(2)}: {unescape(m.group(1))}", html)
    text = re.sub(r"</t[hd]>\s*<t[hd][^>]*>", " | ", text)
    text = re.sub(r"</(p|tr|thead|table)>", "\n", text)
    text = text.replace(" · ", "\n")
    text = re.sub(r"<[^>]+>", "", text)
    lines = [unescape(line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line) + "\n"


@dataclass(frozen=True)
class TableAlert:
    """A non-GX alert (data gap, API health, drift, execution, deadline, missing inputs), rendered by
    :func:`render_table_alert`.

    Attributes:
        level: CRITICAL or WARNING.
        title, scope, day: The subject reads ``[GridDesk][LEVEL] <title> for <scope> <day>``.
        consequence: What GridDesk did.
        columns, rows: The evidence table (at least one row).
        delivery_day: Delivery day affected (default ``day``).
        data_day: Data day that caused it (default ``day``).
        next_steps: What to do next (default ``-``).
    """

    level: str
    title: str
    scope: str
    day: str
    consequence: str
    columns: Sequence[str]
    rows: Iterable[Sequence[object]]
    delivery_day: date | str | None = None
    data_day: date | str | None = None
    next_steps: str = ""


def render_table_alert(alert: TableAlert, links: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Subject and HTML body of a non-GX alert (data gap, API health, drift, execution, deadline, missing inputs).

    Same layout as :func:`render_quality_alert`: ``[GridDesk][LEVEL] <title> for <scope> <day>``, the facts
    (delivery day affected, data day that caused it, what GridDesk did = ``consequence``, ``next_steps``), a
    small table and the links. Every value is HTML-escaped.

    Raises:
        ValueError: a level other than CRITICAL/WARNING, or no rows.
    """
    a = alert
    if a.level not in ("CRITICAL", "WARNING"):
        raise ValueError(f"alert level must be CRITICAL or WARNING, got {a.level!r}")
    rows = [list(r) for r in a.rows]
    if not rows:
        raise ValueError(f"{a.title} for {a.scope} {a.day}: no rows, nothing to alert")
    subject = f"[GridDesk][{a.level}] {a.title} for {a.scope} {a.day}"
    facts = alert_facts(
        a.level, a.scope, a.delivery_day or a.day, a.data_day or a.day, a.consequence, a.next_steps or "-"
    )
    return subject, _html_body(subject, facts, a.columns, rows, links)


_CLAIM_SQL = """
insert into raw.alerts_sent (alert_key, kind, subject, recipients)
values (%s, %s, %s, %s)
on conflict (alert_key) do nothing
returning alert_key
"""


def _recipients(to: str | Iterable[str]) -> list[str]:
    items = [to] if isinstance(to, str) else list(to)
    out = [addr.strip() for item in items for addr in item.replace(";", ",").split(",") if addr.strip()]
    if not out:
        raise ValueError("an alert needs at least one recipient")
    return out


def send_alert_once(
    conn,
    alert_key: str,
    subject: str,
    html: str,
    to: str | Sequence[str],
    conn_id: str = "smtp_default",
    *,
    kind: str | None = None,
) -> bool:
    """Email ``subject`` with HTML body ``html`` unless ``alert_key`` was already sent; True if this call sent it.

    The key is inserted into ``raw.alerts_sent`` in a transaction that is committed only after the SMTP
    server accepted the message, and rolled back if sending fails (so a retry sends it). A concurrent
    caller with the same key waits on the uncommitted row and then sends nothing. If the commit itself
    fails after a successful send, a retry may send once more (at-least-once).

    Args:
        conn: psycopg2 connection to the warehouse, not in autocommit and with no open transaction
            (this function commits or rolls back).
        alert_key: e.g. ``quality_alert_key(result)``.
        to: one address, a comma-separated string or a list.
        conn_id: Airflow connection of the SMTP server (``AIRFLOW_CONN_SMTP_DEFAULT`` works outside Airflow).
        kind: stored in ``raw.alerts_sent.kind``; defaults to the key's part before the first ``|``.

    Raises:
        ValueError: empty key or recipients, autocommit connection, or a transaction already open.
        Whatever ``SmtpHook`` raises when the server cannot be reached or refuses the message.
    """
    if not alert_key:
        raise ValueError("alert_key must be a non-empty string")
    recipients = _recipients(to)
    if conn.autocommit:
        raise ValueError("send_alert_once needs a connection with autocommit off: the key commits after the send")
    if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        raise ValueError("send_alert_once commits: call it on a connection with no open transaction")

    try:
        with conn.cursor() as cur:
            cur.execute(_CLAIM_SQL, (alert_key, kind or alert_key.split("|", 1)[0], subject, ", ".join(recipients)))
            claimed = cur.fetchone() is not None
        if not claimed:
            conn.rollback()
            log.info("alert %s already sent; not sending again", alert_key)
            return False
        _send_multipart(conn_id, recipients, subject, html)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info("alert %s sent to %s", alert_key, ", ".join(recipients))
    return True


def alert_message(subject: str, html: str, recipients: Sequence[str], from_email: str | None):
    """multipart/alternative: the plain-text part first (what a terminal or a phone shows), then the HTML."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.utils import formatdate

    msg = MIMEMultipart("alternative")
    msg["Subject"] = subject
    if from_email:
        msg["From"] = from_email
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg.attach(MIMEText(html_to_text(html), "plain", "utf-8"))
    msg.attach(MIMEText(html, "html", "utf-8"))
    return msg


def _send_multipart(conn_id: str, recipients: Sequence[str], subject: str, html: str) -> None:
    """Send through the SMTP provider's connection (host, TLS, login from ``conn_id``) with its retry limit.

    The hook's own ``send_email_smtp`` sends HTML only, so the message is built here and handed to the client
    the hook opened.
    """
    from airflow.providers.smtp.hooks.smtp import SmtpHook  # lazy: importing Airflow is slow

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        from_email = hook.from_email or "griddesk@localhost"
        msg = alert_message(subject, html, recipients, from_email)
        for attempt in range(hook.smtp_retry_limit + 1):
            try:
                hook._smtp_client.sendmail(from_email, list(recipients), msg.as_string())
                break
            except Exception:
                if attempt == hook.smtp_retry_limit:
                    raise


__all__ = [
    "NEXT_STEPS",
    "TableAlert",
    "alert_facts",
    "alert_level",
    "alert_message",
    "html_to_text",
    "quality_alert_key",
    "render_quality_alert",
    "render_table_alert",
    "send_alert_once",
]
