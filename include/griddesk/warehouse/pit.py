"""Point-in-time reads: the latest version of each value that was published as of a given instant.

Forecasting and bidding read the warehouse only through these functions, with ``as_of_utc`` set to
the run's cut-off, so nothing published later can influence them.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

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


def _read(conn, sql: str, params: dict) -> pd.DataFrame:
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
