"""Point-in-time storage: the content-hash versioned writes of ``raw`` and the reads as of an instant.

Writes: both point-in-time loaders (ENTSO-E deliveries, :mod:`griddesk.warehouse.loader`; feed batches,
:mod:`griddesk.feeds.loader`) store a unit (a delivery day, a feed window) the same way, through
:func:`versioned_write` and :func:`content_version`: one transaction, serialised per unit by an advisory lock,
reading the unit's stored versions under that lock; content equal to the newest version adds nothing, changed
content becomes version n+1 (1 for the first). Nothing is updated in place.

Reads: the latest version of each value that was published as of a given instant. Forecasting and bidding read
the warehouse only through these functions, with ``as_of_utc`` set to the run's cut-off, so nothing published
later can influence them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import pandas as pd


@contextmanager
def versioned_write(conn, lock_key: str, versions_sql: str, params) -> Iterator[tuple[object, list[tuple]]]:
    """One point-in-time write: yields (cursor, the unit's stored version rows as ``versions_sql`` returns them).

    The transaction commits when the block ends and rolls back whole on any error (the connection must not be in
    a transaction). Concurrent writes of the same ``lock_key`` are serialised, so versions cannot collide.
    """
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
        cur.execute(versions_sql, params)
        yield cur, cur.fetchall()


def content_version(stored: Sequence[tuple[int, str]], digest: str) -> tuple[bool, int]:
    """(is new content, version) of content ``digest`` given the stored (version, content_sha256), newest first:
    the newest version when the content equals it, else a new version, one after the newest (1 for the first)."""
    if not stored:
        return True, 1
    latest_version, latest_digest = stored[0]
    if digest == latest_digest:
        return False, latest_version
    return True, latest_version + 1


def skip_commit_wait(cur) -> None:
    """Commit this transaction without waiting for the WAL flush.

    Raw is re-extractable from the source, so a crash may lose the last commits but never half a unit: atomicity
    stays, only the fsync wait goes.
    """
    cur.execute("set local synchronous_commit to off")


# --------------------------------------------------------------------------- reads

_PRICES_AS_OF = """
select distinct on (market_code, delivery_start_utc)
    market_code, delivery_start_utc, delivery_date_local, resolution_minutes,
    price_per_mwh, currency, is_imputed, version, published_at_utc
from raw.entsoe_day_ahead_prices
where market_code = %(market)s
  and delivery_start_utc >= %(start)s and delivery_start_utc < %(end)s
  and published_at_utc <= %(as_of)s
order by market_code, delivery_start_utc, version desc
"""

_EXOGENOUS_AS_OF = """
select distinct on (market_code, series_code, delivery_start_utc)
    market_code, series_code, delivery_start_utc, delivery_date_local, resolution_minutes,
    quantity_mw, is_imputed, version, published_at_utc
from raw.entsoe_exogenous_forecasts
where market_code = %(market)s
  and delivery_start_utc >= %(start)s and delivery_start_utc < %(end)s
  and published_at_utc <= %(as_of)s
order by market_code, series_code, delivery_start_utc, version desc
"""


def _read(conn, sql: str, params: tuple | dict) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description]
        df = pd.DataFrame(cur.fetchall(), columns=cols)
    for col in ("delivery_start_utc", "published_at_utc"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


def prices_as_of(conn, market_code: str, start_utc: datetime, end_utc: datetime, as_of_utc: datetime) -> pd.DataFrame:
    """Day-ahead prices of ``market_code`` delivered in [start, end), latest version published by ``as_of_utc``."""
    return _read(conn, _PRICES_AS_OF, {"market": market_code, "start": start_utc, "end": end_utc, "as_of": as_of_utc})


def exogenous_as_of(
    conn, market_code: str, start_utc: datetime, end_utc: datetime, as_of_utc: datetime
) -> pd.DataFrame:
    """Exogenous forecasts (long format, one row per series and MTU) published by ``as_of_utc``."""
    return _read(
        conn, _EXOGENOUS_AS_OF, {"market": market_code, "start": start_utc, "end": end_utc, "as_of": as_of_utc}
    )


def price_versions(conn, market_code: str) -> pd.DataFrame:
    """Every stored version of the market's day-ahead prices (unordered): ``delivery_start_utc``,
    ``delivery_date_local``, ``resolution_minutes``, ``price_per_mwh``, ``version``, ``published_at_utc``."""
    return _read(
        conn,
        """select delivery_start_utc, delivery_date_local, resolution_minutes, price_per_mwh, version,
                  published_at_utc
           from raw.entsoe_day_ahead_prices where market_code = %s""",
        (market_code,),
    )


def exogenous_versions(conn, market_code: str) -> pd.DataFrame:
    """Every stored version of the market's exogenous forecasts (long format, unordered): ``series_code``,
    ``delivery_start_utc``, ``delivery_date_local``, ``resolution_minutes``, ``quantity_mw``, ``version``,
    ``published_at_utc``."""
    return _read(
        conn,
        """select series_code, delivery_start_utc, delivery_date_local, resolution_minutes, quantity_mw, version,
                  published_at_utc
           from raw.entsoe_exogenous_forecasts where market_code = %s""",
        (market_code,),
    )
