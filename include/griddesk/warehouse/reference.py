"""Write ``griddesk.markets`` into the raw reference tables that dbt's ``dim_markets`` reads."""

from __future__ import annotations

from griddesk.markets import MARKETS, PRICE_BOUNDS


def write_market_reference(cur) -> None:
    """Replace ``raw.market_reference`` and ``raw.market_price_bounds`` inside the caller's transaction."""
    cur.execute("delete from raw.market_reference")
    cur.execute("delete from raw.market_price_bounds")
    for m in MARKETS.values():
        cur.execute(
            "insert into raw.market_reference values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                m.code,
                m.name,
                m.bidding_zone_eic,
                m.timezone,
                m.currency,
                m.mtu_minutes,
                m.gate_closure_local,
                m.price_publication_local,
                m.exogenous_publication_local,
                m.is_tradable,
                m.notes,
            ),
        )
    for b in PRICE_BOUNDS:
        cur.execute(
            "insert into raw.market_price_bounds values (%s,%s,%s,%s,%s,%s)",
            (b.market_code, b.valid_from, b.valid_to, b.min_price_per_mwh, b.max_price_per_mwh, b.source),
        )
