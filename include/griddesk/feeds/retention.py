"""Retention: 5-minute telemetry and the API call log stay raw for N days, then live on as hourly aggregates.

:func:`apply_retention` folds every whole hour before the cut-off into ``raw.*_hourly`` and deletes the raw
rows, in one transaction. Telemetry is aged on its own clock (the measurement time, i.e. the simulated clock
of the run); the call log on the wall clock of the calls. Aggregates keep sums and counts, so an hour that gets
late rows after it was folded is merged exactly (means, counts, success rates); its call-latency percentiles
stay those of the first fold, as percentiles cannot be merged. Batch rows in ``raw.feed_batches`` are kept, so
a re-extracted old sample is recognised as already loaded and never counted twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

_CALL_LOG_SQL = """
insert into raw.api_call_log_hourly as h (feed, endpoint, hour_start_utc, n_calls, n_success, n_timeouts,
    n_http_401, n_http_429, n_http_5xx, latency_sum_ms, latency_p50_ms, latency_p95_ms, response_bytes)
select
    feed,
    endpoint,
    date_trunc('hour', requested_at_utc at time zone 'UTC') at time zone 'UTC',
    count(*),
    count(*) filter (where error is null and status_code between 200 and 299),
    count(*) filter (where status_code is null),
    count(*) filter (where status_code = 401),
    count(*) filter (where status_code = 429),
    count(*) filter (where status_code >= 500),
    sum(latency_ms),
    percentile_cont(0.5) within group (order by latency_ms),
    percentile_cont(0.95) within group (order by latency_ms),
    sum(response_bytes)
from raw.api_call_log
where requested_at_utc < %(cutoff)s
group by 1, 2, 3
on conflict (feed, endpoint, hour_start_utc) do update set
    n_calls = h.n_calls + excluded.n_calls,
    n_success = h.n_success + excluded.n_success,
    n_timeouts = h.n_timeouts + excluded.n_timeouts,
    n_http_401 = h.n_http_401 + excluded.n_http_401,
    n_http_429 = h.n_http_429 + excluded.n_http_429,
    n_http_5xx = h.n_http_5xx + excluded.n_http_5xx,
    latency_sum_ms = h.latency_sum_ms + excluded.latency_sum_ms,
    response_bytes = h.response_bytes + excluded.response_bytes,
    aggregated_at_utc = now();
delete from raw.api_call_log where requested_at_utc < %(cutoff)s;
"""


def _telemetry_fold_sql(
    table: str, key: str, flag: tuple[str, str], ranged: tuple[str, str, str], summed: tuple[str, str, str]
) -> str:
    """Fold the newest version of every sample (a reloaded window is a new batch) of ``table`` per hour.

    ``flag`` is (count column, condition); ``ranged`` and ``summed`` are (raw column, stem, unit): both keep
    ``<stem>_sum_<unit>`` and ``n_<stem>``, ``ranged`` also ``<stem>_min_<unit>`` and ``<stem>_max_<unit>``.
    """
    n_flag, condition = flag
    (r_col, r_stem, r_unit), (s_col, s_stem, s_unit) = ranged, summed
    r_sum, r_n, r_min, r_max = (
        f"{r_stem}_sum_{r_unit}",
        f"n_{r_stem}",
        f"{r_stem}_min_{r_unit}",
        f"{r_stem}_max_{r_unit}",
    )
    s_sum, s_n = f"{s_stem}_sum_{s_unit}", f"n_{s_stem}"
    return f"""
insert into {table}_hourly as h ({key}, hour_start_utc, n_samples, {n_flag}, {r_sum},
    {r_n}, {r_min}, {r_max}, {s_sum}, {s_n})
select
    {key},
    date_trunc('hour', measured_at_utc at time zone 'UTC') at time zone 'UTC',
    count(*),
    count(*) filter (where {condition}),
    coalesce(sum({r_col}), 0),
    count({r_col}),
    min({r_col}),
    max({r_col}),
    coalesce(sum({s_col}), 0),
    count({s_col})
from (
    select distinct on ({key}, measured_at_utc) *
    from {table}
    where measured_at_utc < %(cutoff)s
    order by {key}, measured_at_utc, batch_id desc
) as newest
group by 1, 2
on conflict ({key}, hour_start_utc) do update set
    n_samples = h.n_samples + excluded.n_samples,
    {n_flag} = h.{n_flag} + excluded.{n_flag},
    {r_sum} = h.{r_sum} + excluded.{r_sum},
    {r_n} = h.{r_n} + excluded.{r_n},
    {r_min} = least(h.{r_min}, excluded.{r_min}),
    {r_max} = greatest(h.{r_max}, excluded.{r_max}),
    {s_sum} = h.{s_sum} + excluded.{s_sum},
    {s_n} = h.{s_n} + excluded.{s_n},
    aggregated_at_utc = now();
delete from {table} where measured_at_utc < %(cutoff)s;
"""


#: (table, key, flag, ranged, summed) of each telemetry table, see :func:`_telemetry_fold_sql`.
_PLANT_SQL, _BATTERY_SQL = (
    _telemetry_fold_sql(*spec)
    for spec in (
        (
            "raw.ckw_plant_telemetry",
            "plant_id",
            ("n_running", "operating_status = 'running'"),
            ("active_power_mw", "active_power", "mw"),
            ("wind_speed_kmh", "wind_speed", "kmh"),
        ),
        (
            "raw.bms_battery_status",
            "battery_id",
            ("n_available", "availability = 'available'"),
            ("soc_pct", "soc", "pct"),
            ("active_power_mw", "active_power", "mw"),
        ),
    )
)


@dataclass(frozen=True)
class RetentionOutcome:
    telemetry_cutoff_utc: datetime
    call_log_cutoff_utc: datetime
    plant_rows_folded: int
    battery_rows_folded: int
    call_log_rows_folded: int


def hour_floor(ts: datetime) -> datetime:
    """``ts`` truncated to the hour, UTC (only whole hours are folded)."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def apply_retention(
    conn, telemetry_now_utc: datetime, keep_days: int, call_log_now_utc: datetime | None = None
) -> RetentionOutcome:
    """Fold raw telemetry older than ``telemetry_now - keep_days`` and call-log rows older than
    ``call_log_now - keep_days`` (default: the wall clock) into the hourly tables, in one transaction.

    Raises:
        ValueError: ``keep_days`` < 1 or a naive datetime.
    """
    if keep_days < 1:
        raise ValueError(f"keep_days must be >= 1, got {keep_days}")
    if telemetry_now_utc.tzinfo is None or (call_log_now_utc is not None and call_log_now_utc.tzinfo is None):
        raise ValueError("retention clocks must be timezone-aware")
    telemetry_cutoff = hour_floor(telemetry_now_utc - timedelta(days=keep_days))
    call_cutoff = hour_floor((call_log_now_utc or datetime.now(UTC)) - timedelta(days=keep_days))
    counts = []
    with conn, conn.cursor() as cur:
        for sql, cutoff in (
            (_PLANT_SQL, telemetry_cutoff),
            (_BATTERY_SQL, telemetry_cutoff),
            (_CALL_LOG_SQL, call_cutoff),
        ):
            insert_sql, delete_sql = sql.strip().rstrip(";").rsplit(";", 1)
            cur.execute(insert_sql, {"cutoff": cutoff})
            cur.execute(delete_sql, {"cutoff": cutoff})
            counts.append(cur.rowcount)
    outcome = RetentionOutcome(telemetry_cutoff, call_cutoff, *counts)
    log.info("retention: %s", outcome)
    return outcome
