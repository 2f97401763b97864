"""The portfolio's joint buy bid with the battery: limits kept, forecast consumption covered in every MTU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.portfolio import (
    CONSUME,
    DECISIONS,
    SELL,
    STORE,
    PortfolioInfeasible,
    check_portfolio_bid,
    optimise_portfolio,
)


def _day(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    idx = pd.date_range("2018-03-25 00:00", periods=n, freq="h", tz="UTC")  # 23-hour DST day in NP for n=23
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    prices = pd.Series(35 + 12 * np.sin(2 * np.pi * (hours - 7) / 24) + rng.normal(0, 4, n), index=idx)
    load = pd.Series(
        np.clip(3.0 + 1.2 * np.sin(2 * np.pi * (hours - 9) / 24) + rng.normal(0, 0.2, n), 0.05, None), index=idx
    )
    return prices, load


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [23, 24, 25])
def test_joint_bid_keeps_the_battery_within_limits_and_covers_consumption(seed, n):
    battery = BatteryConfig()
    prices, load = _day(n, seed)
    bid = optimise_portfolio(prices, load, battery)
    assert check_portfolio_bid(bid, battery) == []
    assert len(bid) == n and set(bid["decision"]) <= set(DECISIONS)
    assert (bid["buy_mwh"] + bid["discharge_to_load_mwh"] >= load - 1e-6).all()
    assert (bid["soc_mwh"] >= battery.soc_min_mwh - 1e-6).all() and (bid["soc_mwh"] <= battery.soc_max_mwh + 1e-6).all()
    assert (
        (bid[["charge_mwh", "discharge_to_load_mwh", "discharge_to_grid_mwh"]] <= battery.power_mw + 1e-6).all().all()
    )
    # the joint position never costs more than buying the load alone with an idle battery
    assert bid.attrs["objective"] <= float((prices * load).sum()) + 1e-6


def test_battery_serves_the_load_at_the_peak_and_stores_in_the_trough():
    idx = pd.date_range("2018-06-01", periods=24, freq="h", tz="UTC")
    prices = pd.Series([20.0] * 6 + [40.0] * 12 + [80.0] * 6, index=idx)
    load = pd.Series(2.0, index=idx)
    bid = optimise_portfolio(prices, load, BatteryConfig())
    assert (bid["decision"].iloc[:6] == STORE).any()
    assert (bid["decision"].iloc[18:] == CONSUME).any()  # serving its own load is preferred to selling
    assert not (bid["decision"] == SELL).any()
    assert check_portfolio_bid(bid, BatteryConfig()) == []


def test_battery_sells_what_the_load_cannot_absorb():
    idx = pd.date_range("2018-06-01", periods=24, freq="h", tz="UTC")
    prices = pd.Series([10.0] * 20 + [90.0] * 4, index=idx)
    load = pd.Series(0.05, index=idx)  # the load absorbs 0.2 MWh of the peak: the rest goes to the grid
    bid = optimise_portfolio(prices, load, BatteryConfig())
    assert (bid["decision"] == SELL).any()
    assert (bid.loc[bid["decision"] == SELL, "position_mwh"] < 0).all()
    assert check_portfolio_bid(bid, BatteryConfig()) == []


def test_the_checker_catches_an_uncovered_mtu_and_a_broken_soc():
    prices, load = _day(24, 1)
    bid = optimise_portfolio(prices, load, BatteryConfig())
    bad = bid.copy()
    bad.iloc[3, bad.columns.get_loc("buy_mwh")] = 0.0
    assert any("not covered" in p for p in check_portfolio_bid(bad, BatteryConfig()))
    bad = bid.copy()
    bad["discharge_to_grid_mwh"] = 1.0
    assert any("outside the window" in p or "at once" in p for p in check_portfolio_bid(bad, BatteryConfig()))


def test_bad_inputs_are_named_and_an_unreachable_end_target_is_infeasible():
    prices, load = _day(24, 2)
    with pytest.raises(ValueError, match="same MTUs"):
        optimise_portfolio(prices, load.iloc[:-1], BatteryConfig())
    with pytest.raises(ValueError, match="non-negative"):
        optimise_portfolio(prices, -load, BatteryConfig())
    with pytest.raises(PortfolioInfeasible, match="end target"):
        optimise_portfolio(prices.iloc[:1], load.iloc[:1], BatteryConfig(initial_soc_pct=10, end_soc_pct=90))
