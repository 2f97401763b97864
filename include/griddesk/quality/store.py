"""SQL of the data-quality tables (``raw.dq_validation_results``): the GX results written by every quality task,
and the reads of the gate's verdicts (blocking, Data Docs, watches, the runs' notes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from psycopg2.extras import execute_values

from griddesk.quality.gx_runner import MarketDayResult

_DELETE_SQL = """
delete from raw.dq_validation_results
where run_id = %s and suite_name = %s and market_code = %s and delivery_date_local = %s
"""
_INSERT_SQL = """
insert into raw.dq_validation_results (
    run_id, suite_name, expectation_type, expectation_id, severity, market_code, delivery_date_local,
    success, observed_value, expected, validated_at_utc
) values %s
"""


def result_rows(results: Iterable[MarketDayResult], run_id: str) -> list[tuple]:
    """Rows of ``raw.dq_validation_results`` for these results (one per expectation and market-day)."""
    return [
        (
            run_id,
            r.suite_name,
            o.expectation_type,
            o.expectation_id,
            o.severity,
            r.market_code,
            r.delivery_date_local,
            o.success,
            o.observed,
            o.expected,
            r.validated_at_utc,
        )
        for r in results
        for o in r.outcomes
    ]


def store_results(conn, results: Sequence[MarketDayResult], run_id: str) -> int:
    """Write results to ``raw.dq_validation_results``, replacing earlier rows of the same run and market-day.

    Delete-then-insert per (run_id, suite, market, day), so a rerun of the same run never duplicates.
    Runs in the caller's transaction (``griddesk.warehouse.db.connect`` commits it). Returns the rows written.

    Raises:
        ValueError: empty ``run_id``.
    """
    if not run_id:
        raise ValueError("run_id must be a non-empty string")
    with conn.cursor() as cur:
        for r in results:
            cur.execute(_DELETE_SQL, (run_id, r.suite_name, r.market_code, r.delivery_date_local))
        rows = result_rows(results, run_id)
        if rows:
            execute_values(cur, _INSERT_SQL, rows)
    return len(rows)


_NEWEST_RUN_FAILED_SQL = """
with runs as (
    select run_id, delivery_date_local, max(validated_at_utc) as validated_at_utc
    from raw.dq_validation_results
    where suite_name = %(suite)s and market_code = %(scope)s and delivery_date_local = any(%(days)s)
    group by 1, 2
),
newest as (
    select distinct on (delivery_date_local) run_id, delivery_date_local
    from runs
    order by delivery_date_local, validated_at_utc desc, run_id desc
)
select r.delivery_date_local, r.expectation_id
from raw.dq_validation_results r
join newest n using (run_id, delivery_date_local)
where r.suite_name = %(suite)s and r.market_code = %(scope)s and r.severity = 'critical' and not r.success
order by 1, 2
"""


def failed_critical_in_newest_run(conn, suite: str, scope: str, days: Iterable[date]) -> list[tuple[date, str]]:
    """(day, expectation id) of every critical expectation of ``suite`` that failed for ``scope`` in the newest
    validation run of each of ``days``, in day and id order."""
    params = {"suite": suite, "scope": scope, "days": sorted(set(days))}
    with conn.cursor() as cur:
        cur.execute(_NEWEST_RUN_FAILED_SQL, params)
        return cur.fetchall()


_RESULTS_SQL = """
select run_id, suite_name, market_code, delivery_date_local, expectation_id, expectation_type, severity, success,
       observed_value, expected, to_char(validated_at_utc at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as validated_at
from raw.dq_validation_results
{where}
order by validated_at_utc desc, run_id, suite_name, market_code, delivery_date_local, expectation_id
"""


def _fetch(conn, where: str = "", params: tuple = ()) -> list[dict]:
    """Result rows as dicts (``_RESULTS_SQL`` filtered by ``where``), newest validation first."""
    with conn.cursor() as cur:
        cur.execute(_RESULTS_SQL.format(where=where), params)
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def validation_rows(conn, run_id: str | None = None) -> list[dict]:
    """Every stored result row (or those of ``run_id``) as dicts, newest validation first (the Data Docs pages)."""
    if run_id is None:
        return _fetch(conn)
    return _fetch(conn, "where run_id = %s", (run_id,))


def validation_index(conn, limit: int) -> list[tuple]:
    """The newest ``limit`` validations: (run_id, suite, scope, day, validated at, failed critical, failed, n)."""
    with conn.cursor() as cur:
        cur.execute(
            """select run_id, suite_name, market_code, delivery_date_local,
                      to_char(max(validated_at_utc) at time zone 'UTC', 'YYYY-MM-DD HH24:MI') as validated_at,
                      count(*) filter (where not success and severity = 'critical') as failed_critical,
                      count(*) filter (where not success) as failed, count(*) as n
               from raw.dq_validation_results group by 1, 2, 3, 4
               order by max(validated_at_utc) desc, 2, 3, 4 limit %s""",
            (limit,),
        )
        return cur.fetchall()


_MARKETS_FAILED_SQL = """
select distinct market_code from raw.dq_validation_results
where suite_name = %(suite)s and delivery_date_local = %(day)s and market_code = any(%(markets)s)
  and severity = 'critical' and not success
"""


def markets_failed_critical(conn, suite: str, day: date, markets: Sequence[str]) -> list[str]:
    """The ``markets`` with a failed critical expectation of ``suite`` on ``day`` in any run."""
    with conn.cursor() as cur:
        cur.execute(_MARKETS_FAILED_SQL, {"suite": suite, "day": day, "markets": list(markets)})
        return [r[0] for r in cur.fetchall()]


_FAILED_CHECKS_SQL = """
select suite_name, delivery_date_local, string_agg(expectation_id, ', ' order by expectation_id)
from raw.dq_validation_results
where run_id = %s and market_code = %s and severity = 'critical' and not success
group by 1, 2 order by 1, 2
"""


def failed_critical_checks(conn, run_id: str, market: str) -> list[tuple[str, date, str]]:
    """(suite, data day, comma-separated expectation ids) of the critical failures of ``market`` in ``run_id``."""
    with conn.cursor() as cur:
        cur.execute(_FAILED_CHECKS_SQL, (run_id, market))
        return cur.fetchall()


def count_results(conn, run_id: str) -> int:
    """Result rows stored for ``run_id``."""
    with conn.cursor() as cur:
        cur.execute("select count(*) from raw.dq_validation_results where run_id = %s", (run_id,))
        return cur.fetchone()[0]


__all__ = [
    "count_results",
    "failed_critical_checks",
    "failed_critical_in_newest_run",
    "markets_failed_critical",
    "result_rows",
    "store_results",
    "validation_index",
    "validation_rows",
]
