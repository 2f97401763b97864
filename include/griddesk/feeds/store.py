"""SQL of the feeds' raw tables outside the binary COPY loader (:mod:`griddesk.feeds.loader`): reference rows
(plants, meters, weather locations), the API call log, and the reads other packages need.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from griddesk.feeds.http import ApiCall, CallLog

_COLUMNS = ("feed", "endpoint", "method", "url_path", "status_code", "latency_ms", "response_bytes", "error",
            "attempt", "requested_at_utc", "sim_now_utc", "run_id")  # fmt: skip


def write_call_log(conn, calls: Iterable[ApiCall] | CallLog, run_id: str | None = None) -> int:
    """Insert ``calls`` (a :class:`CallLog` is drained) in one transaction; returns the number of rows.

    Called in a ``finally`` block by the tasks, so failed extractions leave their calls behind too.
    """
    records = calls.drain() if isinstance(calls, CallLog) else list(calls)
    if not records:
        return 0
    from psycopg2.extras import execute_values

    rows = [
        (c.feed, c.endpoint, c.method, c.url_path, c.status_code, round(c.latency_ms, 3), c.response_bytes, c.error,
         c.attempt, c.requested_at_utc, c.sim_now_utc, run_id)
        for c in records
    ]  # fmt: skip
    with conn, conn.cursor() as cur:
        execute_values(cur, f"insert into raw.api_call_log ({', '.join(_COLUMNS)}) values %s", rows)
    return len(rows)


def upsert_reference(conn, table: str, rows: list[dict], key: str) -> int:
    """Insert or update reference rows (plants, meters, weather locations) by ``key``, in one transaction."""
    if not rows:
        return 0
    from psycopg2.extras import execute_values

    columns = list(rows[0])
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    with conn, conn.cursor() as cur:
        execute_values(
            cur,
            f"insert into {table} ({', '.join(columns)}) values %s "
            f"on conflict ({key}) do update set {updates}, updated_at_utc = now()",
            [tuple(r[c] for c in columns) for r in rows],
        )
    return len(rows)


def registered_plant_ids(conn) -> list[str]:
    """Plants the 5-minute poller registered (``raw.plants``), in id order."""
    with conn.cursor() as cur:
        cur.execute("select plant_id from raw.plants order by 1")
        return [r[0] for r in cur.fetchall()]


def latest_weather_issue_utc(conn, location_code: str, as_of_utc: datetime) -> datetime | None:
    """Issue time of the newest weather forecast of ``location_code`` issued by ``as_of_utc`` (None: none)."""
    with conn.cursor() as cur:
        cur.execute(
            """select max(issued_at_utc) from raw.weather_forecasts
               where location_code = %s and issued_at_utc <= %s""",
            (location_code, as_of_utc),
        )
        return cur.fetchone()[0]


__all__ = ["latest_weather_issue_utc", "registered_plant_ids", "upsert_reference", "write_call_log"]
