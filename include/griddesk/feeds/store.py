"""SQL of the feeds' raw tables outside the binary COPY loader (:mod:`griddesk.feeds.loader`): reference rows
(plants, meters, weather locations), the API call log, and the reads other packages need.

Point-in-time reads (meter readings, weather): a feed batch counts only when it was extracted (on the simulated
clock) by the cut-off, and of every window the newest such version is read, so nothing published later reaches
a model.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import pandas as pd

from griddesk.feeds.http import ApiCall, CallLog

_COLUMNS = (
    "feed",
    "endpoint",
    "method",
    "url_path",
    "status_code",
    "latency_ms",
    "response_bytes",
    "error",
    "attempt",
    "requested_at_utc",
    "sim_now_utc",
    "run_id",
)


def write_call_log(conn, calls: Iterable[ApiCall] | CallLog, run_id: str | None = None) -> int:
    """Insert ``calls`` (a :class:`CallLog` is drained) in one transaction; returns the number of rows.

    Called in a ``finally`` block by the tasks, so failed extractions leave their calls behind too.
    """
    records = calls.drain() if isinstance(calls, CallLog) else list(calls)
    if not records:
        return 0
    from psycopg2.extras import execute_values

    rows = [
        (
            c.feed,
            c.endpoint,
            c.method,
            c.url_path,
            c.status_code,
            round(c.latency_ms, 3),
            c.response_bytes,
            c.error,
            c.attempt,
            c.requested_at_utc,
            c.sim_now_utc,
            run_id,
        )
        for c in records
    ]
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


# --------------------------------------------------------------------------- point-in-time reads

_LATEST_BATCHES = """
    select batch_id from (
        select batch_id, row_number() over (
            partition by source_key, window_start_utc, window_end_utc order by version desc) as rk
        from raw.feed_batches
        where feed = %(feed)s and extracted_at_utc <= %(cutoff)s and window_end_utc > %(start)s
    ) b where rk = 1
"""


def _frame(cur) -> pd.DataFrame:
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def meter_ids(conn) -> list[str]:
    """Meters of the portfolio (``raw.meters``, else those with readings), in natural order."""
    with conn.cursor() as cur:
        cur.execute("select meter_id from raw.meters union select distinct meter_id from raw.meter_readings")
        ids = [r[0] for r in cur.fetchall()]
    return sorted(ids, key=lambda m: (len(m), m))


def _newest_series(
    conn, feed: str, columns: tuple[str, str, str], key: str, start: datetime, cutoff: datetime
) -> pd.Series:
    """One series of ``raw.<feed>`` from ``start`` in the newest batches extracted by ``cutoff``, UTC-indexed.

    ``columns`` is (key column, time column, value column); the last row of a repeated time wins.
    """
    key_column, time_column, value_column = columns
    with conn.cursor() as cur:
        cur.execute(
            f"""select t.{time_column}, t.{value_column} from raw.{feed} t
                where t.batch_id in ({_LATEST_BATCHES}) and t.{key_column} = %(key)s
                  and t.{time_column} >= %(start)s order by 1""",
            {"feed": feed, "cutoff": cutoff, "start": start, "key": key},
        )
        df = _frame(cur)
    if df.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    s = pd.Series(df[value_column].astype(float).to_numpy(), index=pd.DatetimeIndex(df[time_column]).tz_convert("UTC"))
    return s[~s.index.duplicated(keep="last")]


def readings_as_of(conn, meter_id: str, start: datetime, cutoff: datetime) -> pd.Series:
    """Hourly kWh of ``meter_id`` from ``start``, as published by ``cutoff``, on a complete UTC grid (NaN absent)."""
    s = _newest_series(
        conn, "meter_readings", ("meter_id", "interval_start_utc", "energy_kwh"), meter_id, start, cutoff
    )
    if s.empty:
        return s.rename(meter_id)
    grid = pd.date_range(s.index[0], s.index[-1], freq="h")
    return s.reindex(grid).rename(meter_id)


def temperature_as_of(conn, location: str, start: datetime, cutoff: datetime, lag: pd.Timedelta) -> pd.Series:
    """Observed temperature (degC) from ``start``, extracted by ``cutoff`` and published by it (t + lag)."""
    s = _newest_series(
        conn, "weather_observations", ("location_code", "valid_time_utc", "temperature_2m_c"), location, start, cutoff
    )
    if s.empty:
        return s
    s = s[s.index + lag <= pd.Timestamp(cutoff)]
    return s.reindex(pd.date_range(s.index[0], s.index[-1], freq="h")) if len(s) else s


def temperature_forecast_as_of(conn, location: str, target: pd.DatetimeIndex, cutoff: datetime):
    """The newest temperature forecast issued by ``cutoff`` for ``target`` hours: ``(values, issued_at)``.

    Raises:
        LookupError: no forecast issued by the cut-off covers the target hours.
    """
    with conn.cursor() as cur:
        cur.execute(
            """select f.issued_at_utc, f.valid_time_utc, f.temperature_2m_c from raw.weather_forecasts f
               where f.location_code = %(loc)s and f.issued_at_utc = (
                   select max(issued_at_utc) from raw.weather_forecasts
                   where location_code = %(loc)s and issued_at_utc <= %(cutoff)s)
                 and f.valid_time_utc >= %(start)s and f.valid_time_utc <= %(end)s""",
            {"loc": location, "cutoff": cutoff, "start": target[0], "end": target[-1]},
        )
        df = _frame(cur)
    if df.empty:
        raise LookupError(f"no {location} weather forecast issued by {cutoff} covers {target[0]} .. {target[-1]}")
    s = pd.Series(
        df["temperature_2m_c"].astype(float).to_numpy(), index=pd.DatetimeIndex(df["valid_time_utc"]).tz_convert("UTC")
    )
    s = s[~s.index.duplicated(keep="last")].reindex(target)
    if s.isna().all():
        raise LookupError(f"the {location} forecast issued by {cutoff} has no temperature for the target hours")
    return s.interpolate(limit_direction="both").to_numpy(float), pd.Timestamp(df["issued_at_utc"].iloc[0])


# --------------------------------------------------------------------------- gaps and API health (the watches)

_GAPS_SQL = """
with newest as (
    select distinct on (feed, source_key, window_start_utc, window_end_utc) batch_id
    from raw.feed_batches
    where window_start_utc < %(end)s and window_end_utc > %(start)s
    order by feed, source_key, window_start_utc, window_end_utc, version desc
)
select g.feed, g.source_key, (g.gap_start_utc at time zone 'UTC')::date as gap_day,
       g.series_key, g.gap_start_utc, g.gap_end_utc, g.n_intervals, g.reason
from raw.feed_gaps g join newest using (batch_id)
where g.gap_start_utc >= %(start)s and g.gap_start_utc < %(end)s
order by 1, 2, 3, g.series_key, g.gap_start_utc
"""


def newest_gaps(conn, start_utc: datetime, end_utc: datetime) -> list[tuple]:
    """Gaps starting in [start, end) recorded by the newest batch of each window: (feed, source key, UTC day,
    series key, gap start, gap end, intervals, reason), in feed, source, day, series and start order."""
    with conn.cursor() as cur:
        cur.execute(_GAPS_SQL, {"start": start_utc, "end": end_utc})
        return cur.fetchall()


_API_SQL = """
select endpoint, (date_trunc('hour', requested_at_utc) at time zone 'UTC')::date as day,
       date_trunc('hour', requested_at_utc) as hour_utc, feed,
       count(*) as n_calls,
       count(*) filter (where status_code between 200 and 299 and error is null) as n_success,
       percentile_cont(0.95) within group (order by latency_ms) as p95_latency_ms,
       string_agg(distinct coalesce(status_code::text, 'no answer'), ', ')
           filter (where not (status_code between 200 and 299 and error is null)) as failures
from raw.api_call_log
where requested_at_utc >= %(since)s and requested_at_utc < %(until)s
group by 1, 2, 3, 4
order by 1, 2, 3
"""


def api_call_hours(conn, since_utc: datetime, until_utc: datetime) -> list[tuple]:
    """Per (endpoint, UTC day, hour, feed) of the call log in [since, until): calls, successes, p95 latency (ms)
    and the failing statuses, in endpoint, day and hour order."""
    with conn.cursor() as cur:
        cur.execute(_API_SQL, {"since": since_utc, "until": until_utc})
        return cur.fetchall()


# --------------------------------------------------------------------------- control signals (demand response)


def control_signals_as_of(conn, first: date, last: date, cutoff_utc: datetime) -> pd.DataFrame:
    """CKW TRA signals of the signal dates ``first`` .. ``last``, from each feed window's newest batch version
    extracted (and published) by ``cutoff_utc``: ``signal_name``, ``switch_on_utc``, ``switch_off_utc``,
    ``signal_date_local``, in date, name and switch-on order. Empty when nothing was loaded by then."""
    with conn.cursor() as cur:
        cur.execute(
            """with known as (
                   select batch_id, row_number() over (
                       partition by source_key, window_start_utc, window_end_utc order by version desc) as rk
                   from raw.feed_batches
                   where feed = 'ckw_tra_signals' and extracted_at_utc <= %(cutoff)s
                     and coalesce(published_at_utc, extracted_at_utc) <= %(cutoff)s
               )
               select s.signal_name, s.switch_on_utc, s.switch_off_utc, s.signal_date_local
               from raw.ckw_tra_signals s join known k on k.batch_id = s.batch_id and k.rk = 1
               where s.signal_date_local >= %(first)s and s.signal_date_local <= %(last)s
               order by s.signal_date_local, s.signal_name, s.switch_on_utc""",
            {"cutoff": cutoff_utc, "first": first, "last": last},
        )
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["signal_name", "switch_on_utc", "switch_off_utc", "signal_date_local"])


__all__ = [
    "api_call_hours",
    "control_signals_as_of",
    "latest_weather_issue_utc",
    "meter_ids",
    "newest_gaps",
    "readings_as_of",
    "registered_plant_ids",
    "temperature_as_of",
    "temperature_forecast_as_of",
    "upsert_reference",
    "write_call_log",
]
