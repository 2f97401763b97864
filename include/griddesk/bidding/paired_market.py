"""The morning bid of the portfolio's paired market: the consumption forecast at the cut-off, the joint schedule.

In ``GRIDDESK_CONSUMPTION_MARKET`` (NP by default) the battery and the portfolio's consumption share one
day-ahead position, decided once by :func:`griddesk.bidding.portfolio.optimise_portfolio`. This module reads
what ``griddesk_consumption`` stored for D by the cut-off (the meters' champion forecasts, summed) and turns the
joint result into the tables the rest of the bidding pipeline reads: the schedule (``raw.bid_schedules``: the
battery's flows, the market position, the decision per MTU), the net position as price-taker steps, and the
joint decision per MTU in ``raw.portfolio_bids`` (linked by ``schedule_id``; compliance reads the consumption
from there). The consumption capability owns ``raw.consumption_forecasts`` and ``raw.portfolio_bids``: this module
reads and writes them through :mod:`griddesk.consumption.store` only.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from griddesk.bidding.portfolio import CONSUME, SELL, STORE
from griddesk.consumption import store as consumption_store
from griddesk.consumption.settings import ConsumptionSettings
from griddesk.markets import Market

#: The joint decision as a schedule decision (``raw.bid_schedules.decision``; ``served_consumption`` was reserved).
SCHEDULE_DECISIONS = {SELL: "sold", STORE: "stored", CONSUME: "served_consumption", "buy": "held"}
#: Why the paired market does not bid curves: the scenario curves model the battery alone.
CURVES_NOT_JOINT = (
    "bid curves model the battery alone and cannot carry the portfolio's consumption: the paired market bids the "
    "joint fixed schedule"
)
BLOCKS_NOT_JOINT = (
    "exclusive groups of block orders model the battery alone and cannot carry the portfolio's consumption: the "
    "paired market bids the joint fixed schedule"
)


def is_paired_market(market_code: str, settings: ConsumptionSettings | None = None) -> bool:
    """Whether ``market_code`` is the market the portfolio buys in (``GRIDDESK_CONSUMPTION_MARKET``)."""
    return market_code.upper() == (settings or ConsumptionSettings()).market.upper()


def consumption_at_cutoff(
    conn, market: Market, day: date, cutoff: datetime, starts_utc: pd.DatetimeIndex, mtu_minutes: int
) -> tuple[pd.Series | None, int, str | None]:
    """The portfolio's forecast consumption per MTU of D, MWh, as stored by the cut-off.

    The sum of the meters' champion forecasts (hourly kWh) made with a cut-off not after ``cutoff``; a 15- or
    30-minute MTU gets its hour's energy split evenly. Returns ``(consumption, n_meters, None)``, or
    ``(None, 0, reason)`` when there is none or it does not cover every MTU of D.
    """
    champ = consumption_store.champion_forecasts(conn, market.code, day)
    if not champ.empty:
        champ = champ[pd.to_datetime(champ["cutoff_utc"], utc=True) <= pd.Timestamp(cutoff)]
    if champ.empty:
        reason = (
            f"no champion consumption forecast for {market.code} {day} stored by the cut-off {cutoff:%Y-%m-%d %H:%M}"
        )
        return None, 0, reason + " UTC"
    hours = pd.DatetimeIndex(champ["interval_start_utc"]).tz_convert("UTC")
    hourly_mwh = champ.assign(hour=hours).groupby("hour")["forecast_kwh"].sum() / 1000.0
    starts = pd.DatetimeIndex(starts_utc).tz_convert("UTC")
    per_mtu = hourly_mwh.reindex(starts.floor("h")).to_numpy(float) * mtu_minutes / 60.0
    missing = int(np.isnan(per_mtu).sum())
    if missing:
        return (
            None,
            0,
            f"the portfolio's consumption forecast for {market.code} {day} misses {missing} of {len(starts)} MTU",
        )
    return pd.Series(per_mtu, index=starts), int(champ["meter_id"].nunique()), None


def joint_schedule(bid: pd.DataFrame, battery, mtu_minutes: int) -> pd.DataFrame:
    """The joint bid in the schedule table's shape (``raw.bid_schedules``), one row per MTU.

    ``charge_mw`` / ``discharge_mw`` are the battery's flows (discharge to the load and to the grid);
    ``net_position_mw`` is the market position (+ sell, - buy: the purchase of the consumption included), so
    ``expected_revenue`` is minus the forecast cost of the position; ``net_position_mw = discharge_mw - charge_mw
    - consumption_mw - excess_mw``.
    """
    h = mtu_minutes / 60.0
    charge = bid["charge_mwh"].to_numpy(float) / h
    discharge = (bid["discharge_to_load_mwh"] + bid["discharge_to_grid_mwh"]).to_numpy(float) / h
    net = -bid["position_mwh"].to_numpy(float) / h
    price = bid["price_per_mwh"].to_numpy(float)
    soc = bid["soc_mwh"].to_numpy(float)
    return pd.DataFrame(
        {
            "mtu_index": np.arange(len(bid), dtype=np.int64),
            "charge_mw": charge,
            "discharge_mw": discharge,
            "net_position_mw": net,
            "consumption_mw": bid["consumption_mwh"].to_numpy(float) / h,
            "excess_mw": bid["excess_mwh"].to_numpy(float) / h,
            "soc_mwh": soc,
            "soc_pct": soc / battery.energy_mwh * 100.0,
            "action": np.where(charge > 1e-6, "charge", np.where(discharge > 1e-6, "discharge", "idle")).astype(object),
            "decision": bid["decision"].map(SCHEDULE_DECISIONS).to_numpy(object),
            "price_per_mwh": price,
            "expected_revenue": price * net * h,
        }
    )


def consumption_mw_of_schedule(conn, schedule_id: str) -> np.ndarray | None:
    """The forecast consumption per MTU (MW) behind a joint schedule, None for a battery-only schedule."""
    rows = consumption_store.consumption_mw_of_schedule(conn, schedule_id)
    return np.array(rows) if rows else None


def record_joint_bid(
    conn, market_code: str, day: date, joint: pd.DataFrame | None, rules, n_meters: int, schedule_id: str | None
) -> None:
    """Record the joint decision per MTU (``raw.portfolio_bids``), or clear D's when the battery was bid alone."""
    if joint is None:
        consumption_store.clear_portfolio_bid(conn, market_code, day)
        return
    meta = consumption_store.PortfolioBidMeta(
        rules.currency, n_meters, rules.gate_closure_utc, rules.mtu_minutes, None, schedule_id
    )
    consumption_store.write_portfolio_bid(conn, market_code, day, joint, meta)
