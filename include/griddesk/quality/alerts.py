"""Data-quality alert emails: render one per failed (suite, market, delivery day), send it at most once.

Rendering is pure (no Airflow, no GX). Sending goes through the Airflow SMTP provider's ``SmtpHook``
(Airflow 3.2+ ignores ``email_backend`` for ``email_on_failure``), deduplicated through ``raw.alerts_sent``
so task retries and reruns never email the desk twice for the same key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from urllib.parse import urlsplit

import psycopg2.extensions

from griddesk.quality.gx_runner import MarketDayResult

log = logging.getLogger(__name__)

#: Link schemes allowed in an alert (a ``javascript:`` URL from a bad config must not become a link).
SAFE_LINK_SCHEMES = ("http", "https", "file")

_TABLE_STYLE = "border-collapse:collapse;font-family:sans-serif;font-size:13px"
_CELL_STYLE = "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top"
_COLUMNS = ("Expectation", "Column", "Observed", "Expected", "Severity")


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


def _consequence(result: MarketDayResult, level: str) -> str:
    what = f"{result.market_code} {result.delivery_date_local.isoformat()}"
    if level == "CRITICAL":
        return f"No forecast is published and no orders go out for {what}."
    return f"The forecast and the orders for {what} go ahead; the warnings below need a look."


def _link(label: str, url: str) -> str:
    if urlsplit(url).scheme.lower() not in SAFE_LINK_SCHEMES:
        return f"{escape(label)}: {escape(url)} (not linked: scheme not in {', '.join(SAFE_LINK_SCHEMES)})"
    return f'<a href="{escape(url, quote=True)}">{escape(label)}</a>'


def render_quality_alert(
    result: MarketDayResult, links: Mapping[str, str] | None = None, consequence: str | None = None
) -> tuple[str, str]:
    """Subject and HTML body of the alert for one failed market-day.

    Args:
        result: a validation with at least one failed expectation.
        links: label -> URL shown under the table, e.g. ``{"Data Docs": result.data_docs_url}``; empty or
            None values are skipped. Only http(s) and file URLs become links.
        consequence: what the failure means downstream; default: the market-day rule (no forecast, no orders).

    Returns:
        (subject, html), e.g. ``[GridDesk][CRITICAL] raw_day_ahead_prices failed for FR 2016-12-24``. Every
        value from the data is HTML-escaped.

    Raises:
        ValueError: the result has no failed expectation.
    """
    level = alert_level(result)
    day = result.delivery_date_local.isoformat()
    verb = "failed" if level == "CRITICAL" else "has warnings"
    subject = f"[GridDesk][{level}] {result.suite_name} {verb} for {result.market_code} {day}"

    rows = [(o.expectation_id, o.column or "", o.observed, o.expected, o.severity) for o in result.failed]
    footer = f"Validated at {result.validated_at_utc.isoformat()} (UTC)."
    body = _html_body(subject, consequence or _consequence(result, level), _COLUMNS, rows, links, footer)
    return subject, body


def _html_body(
    subject: str,
    consequence: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    links: Mapping[str, str] | None,
    footer: str | None = None,
) -> str:
    """The one alert layout: subject line, consequence, a small escaped table, an optional footer, the links."""
    cell = f'style="{_CELL_STYLE}"'
    header = "".join(f"<th {cell}>{escape(str(c))}</th>" for c in columns)
    body_rows = "".join(
        "<tr>" + "".join(f"<td {cell}>{escape('' if v is None else str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    link_items = [_link(label, url) for label, url in (links or {}).items() if url]
    return (
        "<html><body>"
        f"<p><strong>{escape(subject)}</strong></p>"
        f"<p>{escape(consequence)}</p>"
        f'<table style="{_TABLE_STYLE}"><thead><tr>{header}</tr></thead><tbody>{body_rows}</tbody></table>'
        + (f"<p>{escape(footer)}</p>" if footer else "")
        + (("<p>" + " · ".join(link_items) + "</p>") if link_items else "")
        + "</body></html>"
    )


def render_table_alert(
    level: str,
    title: str,
    scope: str,
    day: str,
    consequence: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    links: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Subject and HTML body of a non-GX alert (data gap, API health, drift, execution, deadline).

    Same layout as :func:`render_quality_alert`: ``[GridDesk][LEVEL] <title> for <scope> <day>``, the
    consequence, a small table and the links. Every value is HTML-escaped.

    Raises:
        ValueError: a level other than CRITICAL/WARNING, or no rows.
    """
    if level not in ("CRITICAL", "WARNING"):
        raise ValueError(f"alert level must be CRITICAL or WARNING, got {level!r}")
    rows = [list(r) for r in rows]
    if not rows:
        raise ValueError(f"{title} for {scope} {day}: no rows, nothing to alert")
    subject = f"[GridDesk][{level}] {title} for {scope} {day}"
    return subject, _html_body(subject, consequence, columns, rows, links)


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
        from airflow.providers.smtp.hooks.smtp import SmtpHook  # lazy: importing Airflow is slow

        with SmtpHook(smtp_conn_id=conn_id) as hook:
            hook.send_email_smtp(to=recipients, subject=subject, html_content=html)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info("alert %s sent to %s", alert_key, ", ".join(recipients))
    return True


__all__ = ["alert_level", "quality_alert_key", "render_quality_alert", "render_table_alert", "send_alert_once"]
