"""Watches that are not GX suites: data gaps, API health, forecast drift, bid executions, missed deadlines.

Each watch is one SQL query over the warehouse and returns :class:`WatchAlert` values; :func:`send_watch_alerts`
renders them with :func:`griddesk.quality.alerts.render_table_alert` and sends each at most once per key
(``kind|scope|day``) through ``send_alert_once``, like the GX alerts. Thresholds: ``QualitySettings``
(``GRIDDESK_QUALITY_*``), documented in docs/alerts.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from griddesk.feeds.store import api_call_hours, newest_gaps
from griddesk.markets import get_market
from griddesk.quality.store import markets_failed_critical

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchAlert:
    """One alert: ``kind`` and ``scope``/``day`` make its dedup key; the rows are the evidence."""

    kind: str
    level: str
    title: str
    scope: str
    day: date
    consequence: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.scope}|{self.day.isoformat()}"


def _fetch(conn, query: str, params: dict) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _table_exists(conn, name: str) -> bool:
    return _fetch(conn, "select to_regclass(%(n)s) is not null", {"n": name})[0][0]


def _group(rows: Iterable[tuple], n_key: int) -> dict[tuple, list[tuple]]:
    out: dict[tuple, list[tuple]] = {}
    for r in rows:
        out.setdefault(tuple(r[:n_key]), []).append(tuple(r[n_key:]))
    return out


# --------------------------------------------------------------------------- data gaps


def data_gap_alerts(conn, first_day: date, last_day: date, min_intervals: int = 1) -> list[WatchAlert]:
    """One WARNING per (feed, source key, UTC day) whose newest batches recorded >= ``min_intervals`` missing."""
    start, end = _utc_midnight(first_day), _utc_midnight(last_day + timedelta(days=1))
    alerts = []
    for (feed, source, day), rows in _group(newest_gaps(conn, start, end), 3).items():
        missing = sum(r[3] for r in rows)
        if missing < min_intervals:
            continue
        alerts.append(
            WatchAlert(
                "data_gap",
                "WARNING",
                f"data gap in {feed}",
                source,
                day,
                f"{missing} interval(s) of {feed} ({source}) are missing or marked missing on {day} (UTC). They are "
                "recorded, not filled: the marts show them as null. Nothing is blocked.",
                ("Series", "Gap start (UTC)", "Gap end (UTC)", "Intervals", "Reason"),
                tuple((r[0], r[1].isoformat(), r[2].isoformat(), r[3], r[4]) for r in rows),
            )
        )
    return alerts


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


# --------------------------------------------------------------------------- API health


def api_health_alerts(
    conn, since_utc: datetime, until_utc: datetime, min_success_rate: float, min_calls: int
) -> list[WatchAlert]:
    """One WARNING per (endpoint, UTC day) with an hour of >= ``min_calls`` calls below ``min_success_rate``.

    Every attempt counts (a failure a retry healed is still a failure), as in ``fct_api_health``.
    """
    alerts = []
    rows = api_call_hours(conn, since_utc, until_utc)
    for (endpoint, day), hours in _group(rows, 2).items():
        bad = [
            (h[0].isoformat(), h[1], h[2], h[3], f"{h[3] / h[2]:.0%}", f"{h[4]:.0f}", h[5] or "")
            for h in hours
            if h[2] >= min_calls and h[3] / h[2] < min_success_rate
        ]
        if bad:
            alerts.append(
                WatchAlert(
                    "api_health",
                    "WARNING",
                    "API health below threshold",
                    endpoint,
                    day,
                    f"{endpoint} answered fewer than {min_success_rate:.0%} of calls successfully in {len(bad)} hour(s). "
                    "The clients retried; data arrived only if the job succeeded. Nothing is blocked.",
                    ("Hour (UTC)", "Feed", "Calls", "Successes", "Success rate", "p95 latency (ms)", "Failures"),
                    tuple(bad),
                )
            )
    return alerts


# --------------------------------------------------------------------------- forecast drift

#: The live forecast-error mart (built by dbt): it applies the one drift rule (dbt_project.yml's
#: forecast_drift_* vars, macros/forecast_drift_rule.sql), and the watch sends what its is_drifting says.
DRIFT_MART = "marts.fct_forecast_drift"

# The newest verdict of each market up to the run day: the drift window ending on the last scored day.
_DRIFT_SQL = """
select distinct on (market_code)
       market_code, delivery_date_local, drift_window_model_versions, drift_window_day_count,
       drift_window_mtu_count, drift_window_mae_per_mwh, drift_max_mae_per_mwh, currency, drift_window_days,
       is_drifting
from marts.fct_forecast_drift
where market_code = any(%(markets)s) and delivery_date_local <= %(day)s
order by market_code, delivery_date_local desc
"""


def table_exists(conn, name: str) -> bool:
    """True when the table (or view) ``name`` exists, e.g. a mart that dbt has not built yet."""
    return _table_exists(conn, name)


def forecast_drift_alerts(conn, markets: Sequence[str], day: date) -> list[WatchAlert]:
    """One WARNING per market whose newest drift verdict up to ``day`` in :data:`DRIFT_MART` is ``is_drifting``.

    The rule (window and threshold) is the mart's, so the email, the mart and Grafana's alert never disagree; the
    figures in the email are the mart's drift-window columns. Before the first dbt build the mart does not exist:
    the watch logs that and raises nothing.
    """
    if not _table_exists(conn, DRIFT_MART):
        log.warning("forecast drift not checked: %s does not exist yet (no dbt build of the marts)", DRIFT_MART)
        return []
    alerts = []
    for market, scored_day, versions, n_days, n_mtus, mae, threshold, currency, window_days, drifting in _fetch(
        conn, _DRIFT_SQL, {"markets": list(markets), "day": day}
    ):
        if not drifting:
            continue
        alerts.append(
            WatchAlert(
                "forecast_drift",
                "WARNING",
                f"forecast drift (rolling {window_days}-day MAE)",
                market,
                day,
                f"The {window_days}-day MAE of {market}'s price forecast up to {scored_day} is above "
                f"{threshold:g} per MWh. Forecasts and orders still go out; review the model (champion, retraining, "
                "inputs).",
                ("Model version", "Days scored", "MTUs scored", "MAE per MWh", "Threshold", "Currency"),
                ((versions, n_days, n_mtus, f"{mae:.2f}", f"{threshold:.2f}", currency),),
            )
        )
    return alerts


# --------------------------------------------------------------------------- bid executions

_REJECTED_SQL = """
select market_code, delivery_date_local, delivery_start_utc, side, volume_mw, limit_price_per_mwh, status
from raw.bid_orders
where delivery_date_local between %(first)s and %(last)s and status = 'rejected'
order by 1, 2, 3, 4
"""
_FAILED_SETS_SQL = """
select market_code, delivery_date_local, order_set_id, n_steps, status_reason
from raw.bid_order_sets
where delivery_date_local between %(first)s and %(last)s and status = 'submission_failed'
order by 1, 2, 3
"""
_OVERFILL_SQL = """
select market_code, delivery_date_local, delivery_start_utc, side, volume_mw, accepted_volume_mw
from raw.bid_executions
where delivery_date_local between %(first)s and %(last)s and accepted_volume_mw > volume_mw + 1e-9
order by 1, 2, 3, 4
"""


def bid_execution_alerts(conn, first_day: date, last_day: date) -> list[WatchAlert]:
    """One CRITICAL per market-day with rejected orders, an order set the order API refused or could not take
    (``raw.bid_order_sets.status = 'submission_failed'``), or an execution above its submitted volume."""
    params = {"first": first_day, "last": last_day}
    evidence: dict[tuple, list[tuple]] = {}
    for r in _fetch(conn, _REJECTED_SQL, params):
        evidence.setdefault((r[0], r[1]), []).append((r[2].isoformat(), r[3], r[4], "", f"order {r[6]}"))
    if _table_exists(conn, "raw.bid_order_sets"):  # the bidding schema: the live submission path's outcome
        for r in _fetch(conn, _FAILED_SETS_SQL, params):
            evidence.setdefault((r[0], r[1]), []).append(
                ("whole day", f"order set {r[2]}", f"{r[3]} steps", 0, f"submission failed: {r[4]}")
            )
    if _table_exists(conn, "raw.bid_executions"):  # written by the bidding capability once it executes orders
        for r in _fetch(conn, _OVERFILL_SQL, params):
            evidence.setdefault((r[0], r[1]), []).append(
                (r[2].isoformat(), r[3], r[4], r[5], "executed volume above submitted volume")
            )
    return [
        WatchAlert(
            "bid_execution",
            "CRITICAL",
            "bid execution failure",
            market,
            day,
            f"Orders for {market} {day} did not execute as submitted: the battery position differs from the "
            "schedule. Check the exchange answer and hedge manually before gate closure if needed.",
            ("Delivery start (UTC)", "Side", "Submitted MW", "Executed MW", "Problem"),
            tuple(rows),
        )
        for (market, day), rows in sorted(evidence.items())
    ]


# --------------------------------------------------------------------------- deadlines

_ORDERS_SQL = """
select market_code, count(*) from raw.bid_orders
where delivery_date_local = %(day)s and market_code = any(%(markets)s) group by 1
"""


def deadline_alerts(
    conn, markets: Sequence[str], delivery_day: date, now_utc: datetime, margin: timedelta
) -> list[WatchAlert]:
    """One CRITICAL per market whose orders for ``delivery_day`` are missing ``margin`` before gate closure.

    A market-day that the quality gate blocked on purpose is not a missed deadline (its own alert went out).
    """
    params = {"day": delivery_day, "markets": list(markets)}
    have_orders = dict(_fetch(conn, _ORDERS_SQL, params))
    blocked = set(markets_failed_critical(conn, "raw_day_ahead_prices", delivery_day, markets))
    alerts = []
    for code in markets:
        closure = get_market(code).gate_closure_utc(delivery_day)
        if now_utc < closure - margin or have_orders.get(code) or code in blocked:
            continue
        alerts.append(
            WatchAlert(
                "deadline",
                "CRITICAL",
                "griddesk_morning missed its deadline",
                code,
                delivery_day,
                f"No orders for {code} {delivery_day} were recorded by {(closure - margin).isoformat()}, "
                f"{margin.total_seconds() / 60:.0f} min before gate closure at {closure.isoformat()}. "
                "Check the griddesk_morning run in Airflow and submit manually if it cannot finish in time.",
                ("Market", "Delivery day", "Gate closure (UTC)", "Checked at (UTC)", "Orders recorded"),
                ((code, delivery_day.isoformat(), closure.isoformat(), now_utc.isoformat(), 0),),
            )
        )
    return alerts


# --------------------------------------------------------------------------- sending


def send_watch_alerts(
    url: str, alerts: Iterable[WatchAlert], to: str, links: dict[str, str] | None = None
) -> list[str]:
    """Render and send every alert at most once per key; returns the keys sent by this call."""
    from datetime import timedelta

    from griddesk.quality.alerts import NEXT_STEPS, TableAlert, render_table_alert, send_alert_once
    from griddesk.warehouse import db

    sent = []
    for a in alerts:
        # The day of a watch is the day it checked; the delivery day it affects is that day for deadlines and
        # executions (they are about D itself), the next day for the inputs (gaps, API health, drift feed D+1).
        affected = a.day if a.kind in ("deadline", "bid_execution") else a.day + timedelta(days=1)
        data_day = a.day - timedelta(days=1) if a.kind == "deadline" else a.day
        subject, html = render_table_alert(
            TableAlert(
                a.level,
                a.title,
                a.scope,
                a.day.isoformat(),
                a.consequence,
                a.columns,
                a.rows,
                delivery_day=affected,
                data_day=data_day,
                next_steps=NEXT_STEPS.get({"bid_execution": "bid_executions"}.get(a.kind, a.kind), ""),
            ),
            links,
        )
        with db.connect(url) as conn:
            if send_alert_once(conn, a.key, subject, html, to, kind=a.kind):
                sent.append(a.key)
    return sent


__all__ = [
    "DRIFT_MART",
    "WatchAlert",
    "api_health_alerts",
    "bid_execution_alerts",
    "data_gap_alerts",
    "deadline_alerts",
    "forecast_drift_alerts",
    "send_watch_alerts",
    "table_exists",
]
