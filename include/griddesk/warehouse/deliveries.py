"""Reads of the ENTSO-E delivery bookkeeping (``raw.entsoe_deliveries``, ``raw.entsoe_delivery_refusals``) that
other packages need; the writes are the loader's (:mod:`griddesk.warehouse.loader`).

Small named functions on the caller's connection: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

_REFUSALS_SQL = """
with wanted as (
    select * from unnest(%(markets)s::text[], %(days)s::date[]) as w (market_code, delivery_date_local)
)
select r.market_code, r.delivery_date_local, r.reason
from raw.entsoe_delivery_refusals as r
join wanted as w on r.market_code = w.market_code and r.delivery_date_local = w.delivery_date_local
where r.feed = 'day_ahead_prices'
  and r.refused_at_utc > coalesce(
      (select max(d.loaded_at_utc) from raw.entsoe_deliveries as d
       where d.feed = r.feed and d.market_code = r.market_code and d.delivery_date_local = r.delivery_date_local),
      '-infinity')
order by r.refused_at_utc
"""


def delivered_day_counts(conn, market_code: str, first: date, last: date) -> dict[str, int]:
    """Per feed, the number of distinct delivery days of ``market_code`` in [first, last] with a stored delivery
    (feeds without one are absent)."""
    with conn.cursor() as cur:
        cur.execute(
            """select feed, count(distinct delivery_date_local) from raw.entsoe_deliveries
               where market_code = %s and delivery_date_local between %s and %s group by feed""",
            (market_code, first, last),
        )
        return dict(cur.fetchall())


def refusals_after_newest_load(conn, market_codes: Sequence[str], days: Sequence[date]) -> list[tuple]:
    """Day-ahead price publications the loader refused after the day's newest stored version was loaded, for the
    market-days ``zip(market_codes, days)``: ``(market_code, delivery_date_local, reason)`` rows, oldest refusal
    first."""
    with conn.cursor() as cur:
        cur.execute(_REFUSALS_SQL, {"markets": market_codes, "days": days})
        return cur.fetchall()


__all__ = ["delivered_day_counts", "refusals_after_newest_load"]
