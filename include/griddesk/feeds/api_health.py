"""The API call log: every attempt of every feed client, stored in ``raw.api_call_log``.

``fct_api_health`` turns it into success rates and latency percentiles per endpoint and hour. What is stored is
the :class:`~griddesk.feeds.http.ApiCall` record: endpoint label, path, status, latency, bytes, error. No header,
query string, token or secret is ever part of it.
"""

from __future__ import annotations

from collections.abc import Iterable

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
