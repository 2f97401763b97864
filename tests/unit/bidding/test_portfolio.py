"""The portfolio's joint buy bid with the battery: limits kept, forecast consumption covered in every MTU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.optimiser import MtuConstraint
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


# ------------------------------------------------------------------------------------------- whole volume ticks


def _quarter_hour_day(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    """``n`` 15-minute MTUs (92 / 96 / 100 on a 23 / 24 / 25-hour day), consumption in MWh per MTU."""
    prices, load = _day(n // 4, seed)
    idx = pd.date_range("2018-03-25 00:00", periods=n, freq="15min", tz="UTC")
    return (
        pd.Series(np.repeat(prices.to_numpy(), 4), index=idx),
        pd.Series(np.repeat(load.to_numpy(), 4) / 4, index=idx),
    )


def _assert_whole_ticks(bid: pd.DataFrame, tick_mwh: float) -> None:
    for column, ticks in (("buy_mwh", "buy_ticks"), ("sell_mwh", "sell_ticks"), ("position_mwh", "position_ticks")):
        assert np.allclose(bid[column], bid[ticks] * tick_mwh, atol=1e-9), column
        assert (bid[ticks] == bid[ticks].astype(int)).all(), ticks


@pytest.mark.parametrize("n", [92, 96, 100])
def test_quarter_hour_joint_bid_buys_whole_ticks_and_covers_consumption(n):
    battery = BatteryConfig()
    prices, load = _quarter_hour_day(n, seed=n)
    bid = optimise_portfolio(prices, load, battery, mtu_minutes=15)
    _assert_whole_ticks(bid, 0.1 * 0.25)
    assert check_portfolio_bid(bid, battery, mtu_minutes=15) == []
    assert (bid["buy_mwh"] + bid["discharge_to_load_mwh"] >= load - 1e-6).all()
    assert (bid["excess_mwh"] < 0.025).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hours=st.sampled_from([23, 24, 25]),
    seed=st.integers(0, 10_000),
    load_scale=st.floats(0.0, 6.0),
    initial_soc_pct=st.floats(10.0, 90.0),
)
def test_any_day_is_bought_in_whole_ticks_within_the_battery_limits(hours, seed, load_scale, initial_soc_pct):
    battery = BatteryConfig(initial_soc_pct=initial_soc_pct)
    prices, load = _day(hours, seed)
    load = load * load_scale / 3.0
    bid = optimise_portfolio(prices, load, battery)
    _assert_whole_ticks(bid, 0.1)
    assert check_portfolio_bid(bid, battery) == []
    assert (bid["buy_mwh"] + bid["discharge_to_load_mwh"] >= load - 1e-6).all()
    assert (bid["sell_mwh"] <= battery.power_mw + 1e-9).all()
    # rounding up to a tick leaves less than one tick bought and not used
    assert (bid["excess_mwh"] < 0.1).all()


def test_the_checker_catches_an_off_tick_purchase_and_a_whole_tick_bought_for_nothing():
    prices, load = _day(24, 3)
    bid = optimise_portfolio(prices, load, BatteryConfig())
    bad = bid.copy()
    bad.iloc[5, bad.columns.get_loc("buy_mwh")] += 0.04
    assert any("MTU 5: buy" in p and "whole number" in p for p in check_portfolio_bid(bad, BatteryConfig()))
    bad = bid.copy()
    bad.iloc[7, bad.columns.get_loc("buy_mwh")] += 0.2
    assert any("MTU 7" in p and "neither consumed nor stored" in p for p in check_portfolio_bid(bad, BatteryConfig()))


def test_a_tick_larger_than_the_battery_power_is_refused_by_name():
    prices, load = _day(24, 4)
    with pytest.raises(ValueError, match="volume_tick_mw"):
        optimise_portfolio(prices, load, BatteryConfig(power_mw=0.5), volume_tick_mw=1.0)


def test_demand_response_windows_bind_the_joint_bid_and_an_impossible_one_is_named():
    idx = pd.date_range("2018-06-01", periods=24, freq="h", tz="UTC")
    prices = pd.Series([20.0] * 6 + [40.0] * 12 + [80.0] * 6, index=idx)
    load = pd.Series(2.0, index=idx)
    battery = BatteryConfig()
    free = optimise_portfolio(prices, load, battery)
    assert free["charge_mwh"].iloc[:6].sum() > 0.5  # without a window the battery stores in the cheap night
    no_charge = MtuConstraint("demand-response window 00:00-06:00 (no charging)", tuple(range(6)), max_charge_mw=0.0)
    no_discharge = MtuConstraint(
        "demand-response window 18:00-24:00 (no discharge)", tuple(range(18, 24)), max_discharge_mw=0.0
    )
    bid = optimise_portfolio(prices, load, battery, mtu_constraints=[no_charge, no_discharge])
    assert check_portfolio_bid(bid, battery) == []
    assert (bid["charge_mwh"].iloc[:6] <= 1e-9).all()
    assert (bid[["discharge_to_load_mwh", "discharge_to_grid_mwh"]].iloc[18:].sum(axis=1) <= 1e-9).all()
    assert bid.attrs["objective"] >= free.attrs["objective"] - 1e-6  # a constraint never makes the day cheaper
    must_charge = MtuConstraint("mandatory consumption 12:00-13:00", (12,), min_charge_mw=0.4)
    bid = optimise_portfolio(prices, load, battery, mtu_constraints=[must_charge])
    assert bid["charge_mwh"].iloc[12] >= 0.4 - 1e-9 and bid["decision"].iloc[12] == STORE
    # charging 1 MW for every hour of the day cannot end where it started: infeasible, the window named
    always = MtuConstraint("mandatory consumption all day", tuple(range(24)), min_charge_mw=1.0)
    with pytest.raises(PortfolioInfeasible, match="mandatory consumption all day"):
        optimise_portfolio(prices, load, battery, mtu_constraints=[always])
    with pytest.raises(ValueError, match="MTU indices must lie in 0..23"):
        optimise_portfolio(prices, load, battery, mtu_constraints=[MtuConstraint("late", (30,), max_charge_mw=0.0)])
