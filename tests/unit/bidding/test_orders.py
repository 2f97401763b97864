"""Orders from a battery schedule, and the independent feasibility check catching broken schedules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from griddesk.bidding import (
    BatteryConfig,
    check_schedule_feasible,
    idle_schedule,
    optimise_schedule,
    schedule_to_orders,
)
from griddesk.bidding.orders import ORDER_COLUMNS

BATTERY = BatteryConfig()
TWO_PRICE_DAY = [10.0] * 12 + [100.0] * 12


@pytest.fixture(scope="module")
def two_price_schedule() -> pd.DataFrame:
    return optimise_schedule(TWO_PRICE_DAY, 60, BATTERY).schedule


def test_one_price_taker_order_per_non_idle_mtu(two_price_schedule: pd.DataFrame) -> None:
    orders = schedule_to_orders(two_price_schedule, price_bounds=(-500.0, 4000.0))
    active = two_price_schedule[two_price_schedule["action"] != "idle"]
    assert list(orders.columns) == ORDER_COLUMNS
    assert list(orders["mtu_index"]) == list(active["mtu_index"])
    assert (orders["volume_mw"] > 0).all()
    counts = orders["volume_mw"] / 0.1
    assert np.all(np.abs(counts - counts.round()) <= 1e-9)
    assert (orders["order_type"] == "price_taker").all()


def test_charging_is_a_buy_at_the_max_price_and_discharging_a_sell_at_the_min(
    two_price_schedule: pd.DataFrame,
) -> None:
    orders = schedule_to_orders(two_price_schedule, price_bounds=(-500.0, 4000.0)).set_index("mtu_index")
    schedule = two_price_schedule.set_index("mtu_index")
    for mtu, order in orders.iterrows():
        if order["side"] == "buy":
            assert order["volume_mw"] == schedule.loc[mtu, "charge_mw"] and order["limit_price_per_mwh"] == 4000.0
        else:
            assert order["volume_mw"] == schedule.loc[mtu, "discharge_mw"] and order["limit_price_per_mwh"] == -500.0
    signed = np.where(orders["side"] == "sell", orders["volume_mw"], -orders["volume_mw"])
    assert signed.sum() == pytest.approx(schedule["net_position_mw"].sum())


def test_orders_without_bounds_have_no_limit_price(two_price_schedule: pd.DataFrame) -> None:
    orders = schedule_to_orders(two_price_schedule)
    assert orders["limit_price_per_mwh"].isna().all()
    assert (orders["expected_price_per_mwh"].isin([10.0, 100.0])).all()


def test_idle_schedule_produces_no_orders() -> None:
    orders = schedule_to_orders(idle_schedule(24, 60, BATTERY).schedule)
    assert orders.empty and list(orders.columns) == ORDER_COLUMNS


def _schedule(charge_mw: list[float], discharge_mw: list[float], mtu_minutes: int = 60) -> pd.DataFrame:
    """A schedule table built by hand, with SoC following the volumes (so only what a test breaks is wrong)."""
    b = BATTERY
    charge, discharge = np.array(charge_mw), np.array(discharge_mw)
    dt_h = mtu_minutes / 60
    soc = b.initial_soc_mwh + np.cumsum(charge * b.charge_efficiency * dt_h - discharge / b.discharge_efficiency * dt_h)
    return pd.DataFrame(
        {
            "mtu_index": np.arange(len(charge)),
            "charge_mw": charge,
            "discharge_mw": discharge,
            "net_position_mw": discharge - charge,
            "soc_mwh": soc,
            "soc_pct": soc / b.energy_mwh * 100,
            "action": np.where(charge > 0, "charge", np.where(discharge > 0, "discharge", "idle")),
            "price_per_mwh": 50.0,
        }
    )


def test_volume_off_the_tick_is_refused_naming_the_mtu() -> None:
    with pytest.raises(ValueError, match=r"MTU 1: volume 0.25 MW is not a whole number of 0.1 MW ticks"):
        schedule_to_orders(_schedule([0.0, 0.25, 0.0], [0.0, 0.0, 0.0]))


def test_charge_and_discharge_in_one_mtu_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MTU 0: charges 0.5 MW and discharges 0.5 MW at once"):
        schedule_to_orders(_schedule([0.5], [0.5]))


def test_feasible_schedules_pass_the_check(two_price_schedule: pd.DataFrame) -> None:
    assert check_schedule_feasible(two_price_schedule, BATTERY, mtu_minutes=60) == []
    assert check_schedule_feasible(idle_schedule(96, 15, BATTERY), BATTERY) == []


def test_check_catches_soc_above_max() -> None:
    # Four hours at 1 MW from 50 % stores 3.79 MWh into a 2 MWh battery capped at 90 %.
    df = _schedule([1.0, 1.0, 1.0, 1.0, 0.0], [0.0] * 5)
    violations = check_schedule_feasible(df, BATTERY, mtu_minutes=60)
    assert any("MTU 1: SoC" in v and "above soc_max" in v for v in violations), violations


def test_check_catches_simultaneous_charge_and_discharge_and_off_tick_volumes() -> None:
    df = _schedule([0.3, 0.05], [0.3, 0.0])
    violations = check_schedule_feasible(df, BATTERY, mtu_minutes=60)
    assert any("MTU 0: charges 0.3 MW and discharges 0.3 MW" in v for v in violations), violations
    assert any("MTU 1: charge 0.05 MW is not a whole number" in v for v in violations), violations


def test_check_catches_end_soc_away_from_start() -> None:
    violations = check_schedule_feasible(_schedule([0.5, 0.0], [0.0, 0.0]), BATTERY, mtu_minutes=60)
    assert any(v.startswith("end SoC") for v in violations), violations


def test_check_catches_soc_column_that_ignores_efficiency() -> None:
    df = _schedule([1.0, 0.0], [0.0, 0.9])
    df["soc_mwh"] = BATTERY.initial_soc_mwh + np.cumsum([1.0, -0.9])  # lossless bookkeeping: wrong
    violations = check_schedule_feasible(df, BATTERY, mtu_minutes=60)
    assert any("MTU 0: soc_mwh" in v and "the volumes give" in v for v in violations), violations


def test_check_catches_too_many_cycles() -> None:
    capped = BatteryConfig(max_cycles_per_day=0.25, end_soc_tolerance_pct=100)
    df = _schedule([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0])
    violations = check_schedule_feasible(df, capped, mtu_minutes=60)
    assert any("exceeds max_cycles_per_day 0.25" in v for v in violations), violations


def test_check_catches_wrong_action_and_net_position() -> None:
    df = _schedule([0.5, 0.0], [0.0, 0.0])
    df.loc[0, "action"] = "discharge"
    df.loc[1, "net_position_mw"] = 0.2
    violations = check_schedule_feasible(df, BATTERY.model_copy(update={"end_soc_tolerance_pct": 100}), 60)
    assert any("MTU 0: action 'discharge' but volumes say 'charge'" in v for v in violations), violations
    assert any("MTU 1: net_position_mw 0.2" in v for v in violations), violations


def test_check_of_a_bare_dataframe_needs_the_mtu_length(two_price_schedule: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="mtu_minutes is required"):
        check_schedule_feasible(two_price_schedule, BATTERY)
