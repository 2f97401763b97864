"""Bid curves: every combination of accepted steps is SoC-feasible, the DP is the true optimum of the curve model,
steps are whole ticks on the price grid, at least three steps per trading MTU, and the clearing rule."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from griddesk.bidding import BatteryConfig
from griddesk.bidding.clearing import accepted_mask, is_accepted
from griddesk.bidding.curves import (
    build_bid_curves,
    check_curves_feasible,
    clear_curves,
    price_segments,
    scenarios_from_errors,
    scenarios_from_interval,
)
from griddesk.bidding.optimiser import InfeasibleScheduleError, MtuConstraint, optimise_schedule
from griddesk.bidding.rules import market_rules

RULES = market_rules("DE", date(2017, 3, 1))
ROUND_TRIP_BATTERY = BatteryConfig(power_mw=0.2, energy_mwh=0.3)


def _outcomes(group: pd.DataFrame, bounds: tuple[float, float]) -> list[float]:
    """Net positions (MW, +sell) one MTU's steps can end at over every clearing price within the bounds."""
    limits = np.unique(group["limit_price_per_mwh"].to_numpy())
    prices = np.unique(np.clip(np.concatenate([limits, limits - 0.005, limits + 0.005, bounds]), *bounds))
    nets = set()
    for p in prices:
        accepted = accepted_mask(
            group["side"].to_numpy(), group["limit_price_per_mwh"].to_numpy(), np.full(len(group), p)
        )
        signed = np.where(group["side"].to_numpy() == "sell", 1.0, -1.0) * group["volume_mw"].to_numpy()
        nets.add(round(float(signed[accepted].sum()), 9))
    return sorted(nets)


def _all_paths_feasible(steps: pd.DataFrame, battery: BatteryConfig, n: int, mtu_minutes: int, end_fixed: bool):
    """Brute force: every combination of per-MTU outcomes keeps the SoC in the window (and the end band)."""
    dt = mtu_minutes / 60
    per_mtu = [
        _outcomes(steps[steps["mtu_index"] == t], RULES.price_bounds) if (steps["mtu_index"] == t).any() else [0.0]
        for t in range(n)
    ]
    for combo in itertools.product(*per_mtu):
        soc = battery.initial_soc_mwh
        for net in combo:
            soc += -net * dt / battery.discharge_efficiency if net > 0 else -net * dt * battery.charge_efficiency
            if not battery.soc_min_mwh - 1e-9 <= soc <= battery.soc_max_mwh + 1e-9:
                return False, combo
        if end_fixed and abs(soc - battery.end_soc_target_mwh) > battery.end_soc_tolerance_mwh + 1e-9:
            return False, combo
    return True, None


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 4),
    initial=st.integers(20, 80),
    valued=st.booleans(),
    min_steps=st.sampled_from([1, 3]),
)
def test_every_combination_of_accepted_steps_stays_soc_feasible(seed, n, initial, valued, min_steps):
    rng = np.random.default_rng(seed)
    battery = ROUND_TRIP_BATTERY.model_copy(update={"initial_soc_pct": float(initial), "end_soc_tolerance_pct": 20.0})
    scenarios = 40 + rng.normal(0, 15, (n, 1)) + rng.normal(0, 8, (n, 30))
    curves = build_bid_curves(
        scenarios, battery, RULES, min_steps_per_mtu=min_steps, end_soc_value_per_mwh=30.0 if valued else None
    )
    ok, combo = _all_paths_feasible(curves.steps, battery, n, 60, end_fixed=not valued)
    assert ok, f"combination {combo} breaks the SoC window\n{curves.steps}"
    assert check_curves_feasible(curves.steps, battery, n, 60, RULES, end_soc_fixed=not valued) == []


def _expected_value(positions, scenarios, battery, value, dt=1.0, tick=0.1):
    """Average over scenarios of the money a curve makes (positions per MTU and segment), independently computed."""
    segments = price_segments(scenarios, RULES, (0.5,))
    ticks = np.clip(np.rint(scenarios / RULES.price_tick), RULES.min_price_ticks, RULES.max_price_ticks)
    total = 0.0
    for t, yt in enumerate(positions):
        for s in range(scenarios.shape[1]):
            j = int(np.searchsorted(segments.levels[t], ticks[t, s], side="right"))
            y = yt[j] * tick
            price = ticks[t, s] * RULES.price_tick
            soc_change = -y * dt / battery.discharge_efficiency if y > 0 else -y * dt * battery.charge_efficiency
            total += price * y * dt - (battery.degradation_cost_per_mwh + 1e-6) * abs(y) * dt + value * soc_change
    return total / scenarios.shape[1]


def _steps_of(yt) -> int:
    steps = int(yt[0] > 0) + int(yt[-1] < 0)
    for prev, new in itertools.pairwise(yt):
        steps += int(min(new, 0) > prev) + int(new > max(prev, 0))
    return steps


@pytest.mark.parametrize("min_steps", [1, 2])
@pytest.mark.parametrize("seed", [1, 7])
def test_curve_dp_finds_the_best_curve_of_a_brute_force_search(seed, min_steps):
    """Tiny instance: 3 MTUs, 2 ticks of power, 2 price segments: every monotone curve is tried."""
    rng = np.random.default_rng(seed)
    battery = ROUND_TRIP_BATTERY.model_copy(update={"initial_soc_pct": 40.0})
    scenarios = 40 + rng.normal(0, 20, (3, 1)) + rng.normal(0, 10, (3, 25))
    value = 35.0
    curves = build_bid_curves(
        scenarios, battery, RULES, step_quantiles=(0.5,), min_steps_per_mtu=min_steps, end_soc_value_per_mwh=value
    )
    monotone = [(a, c) for a in range(-2, 3) for c in range(a, 3)]
    best = -math.inf
    for combo in itertools.product(monotone, repeat=3):
        if any((a, c) != (0, 0) and _steps_of((a, c)) < min_steps for a, c in combo):
            continue
        high = low = battery.initial_soc_mwh
        feasible = True
        for a, c in combo:
            high += -a * 0.1 / battery.discharge_efficiency if a > 0 else -a * 0.1 * battery.charge_efficiency
            low += -c * 0.1 / battery.discharge_efficiency if c > 0 else -c * 0.1 * battery.charge_efficiency
            if high > battery.soc_max_mwh + 1e-9 or low < battery.soc_min_mwh - 1e-9:
                feasible = False
                break
        if feasible:
            best = max(best, _expected_value([np.array(p) for p in combo], scenarios, battery, value))
    assert curves.expected_value == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert curves.solved_by == "SoC-grid DP"


def test_every_trading_mtu_has_at_least_three_steps():
    rng = np.random.default_rng(3)
    battery = BatteryConfig(power_mw=1.0, energy_mwh=4.0)
    scenarios = 40 + 15 * np.sin(np.arange(24) / 24 * 2 * np.pi)[:, None] + rng.normal(0, 6, (24, 60))
    curves = build_bid_curves(scenarios, battery, RULES, end_soc_value_per_mwh=30.0)
    assert not curves.steps.empty, "a day with this spread should trade"
    assert curves.steps.groupby("mtu_index").size().min() >= 3


def test_steps_are_whole_ticks_on_the_price_grid_within_bounds():
    rng = np.random.default_rng(5)
    scenarios = 37.123 + rng.normal(0, 9, (24, 50))  # forecasts off the price grid
    curves = build_bid_curves(scenarios, BatteryConfig(), RULES, end_soc_value_per_mwh=30.0, min_steps_per_mtu=1)
    steps = curves.steps
    assert np.allclose(steps["volume_ticks"] * 0.1, steps["volume_mw"])
    assert np.allclose(steps["price_ticks"] * 0.01, steps["limit_price_per_mwh"])
    assert (steps["limit_price_per_mwh"].between(*RULES.price_bounds)).all()
    assert steps["volume_ticks"].dtype == np.int64 and steps["price_ticks"].dtype == np.int64


def test_no_price_accepts_a_buy_and_a_sell_of_one_mtu():
    rng = np.random.default_rng(11)
    scenarios = 40 + rng.normal(0, 25, (24, 60))
    steps = build_bid_curves(scenarios, BatteryConfig(), RULES, end_soc_value_per_mwh=38.0).steps
    for _, group in steps.groupby("mtu_index"):
        buys, sells = group[group["side"] == "buy"], group[group["side"] == "sell"]
        if len(buys) and len(sells):
            assert buys["limit_price_per_mwh"].max() < sells["limit_price_per_mwh"].min()


def test_a_certain_price_gives_the_schedule_of_the_optimiser():
    """Scenarios without spread: the curve model is the valued-end schedule, and earns the same expected value."""
    prices = 40 + 20 * np.sin(np.arange(24) / 24 * 4 * np.pi)
    battery = BatteryConfig()
    curves = build_bid_curves(
        np.repeat(prices[:, None], 5, axis=1), battery, RULES, min_steps_per_mtu=1, end_soc_value_per_mwh=30.0
    )
    schedule = optimise_schedule(np.round(prices, 2), 60, battery, end_soc_value_per_mwh=30.0)
    wear = 1e-6 * (schedule.schedule["charge_mw"] + schedule.schedule["discharge_mw"]).sum()
    assert curves.expected_value == pytest.approx(schedule.objective_value - wear, abs=1e-6)
    assert curves.steps["is_price_taker"].all() or curves.steps.empty


def test_cleared_curves_follow_the_realised_price():
    battery = BatteryConfig()
    steps = build_bid_curves(
        40 + np.random.default_rng(2).normal(0, 20, (24, 60)), battery, RULES, end_soc_value_per_mwh=40.0
    ).steps
    low, high = np.full(24, -100.0), np.full(24, 500.0)
    cleared_low, cleared_high = clear_curves(steps, low, battery, 60), clear_curves(steps, high, battery, 60)
    # Higher prices never leave the battery with a smaller net sale in any MTU (a supply curve).
    assert (cleared_high["net_position_mw"].to_numpy() >= cleared_low["net_position_mw"].to_numpy() - 1e-9).all()


@pytest.mark.parametrize(
    ("side", "limit", "price", "accepted"),
    [
        ("buy", 50.0, 50.0, True),
        ("buy", 50.0, 50.01, False),
        ("sell", 50.0, 50.0, True),
        ("sell", 50.0, 49.99, False),
    ],
)
def test_price_taker_clearing_accepts_at_equality(side, limit, price, accepted):
    assert is_accepted(side, limit, price) is accepted


def test_clearing_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="side must be 'buy' or 'sell'"):
        is_accepted("hold", 1.0, 1.0)


@pytest.mark.parametrize("n_mtus", [23, 25])
def test_curves_on_dst_days_have_one_curve_per_real_hour(n_mtus):
    rng = np.random.default_rng(n_mtus)
    curves = build_bid_curves(40 + rng.normal(0, 15, (n_mtus, 40)), BatteryConfig(), RULES, end_soc_value_per_mwh=35.0)
    assert curves.n_mtus == n_mtus and len(curves.worst_case_soc) == n_mtus
    assert check_curves_feasible(curves.steps, BatteryConfig(), n_mtus, 60, RULES, end_soc_fixed=False) == []


def test_a_cycle_cap_falls_back_to_cbc_and_stays_feasible():
    rules = market_rules("DE", date(2017, 3, 1), mtu_minutes=15)
    rng = np.random.default_rng(4)
    battery = BatteryConfig(power_mw=0.3, energy_mwh=0.6, max_cycles_per_day=0.5)
    curves = build_bid_curves(
        40 + rng.normal(0, 10, (8, 20)), battery, rules, min_steps_per_mtu=1, end_soc_value_per_mwh=35.0
    )
    assert curves.solved_by == "CBC"
    assert check_curves_feasible(curves.steps, battery, 8, 15, rules, end_soc_fixed=False) == []


def test_mandatory_consumption_becomes_a_price_taker_buy():
    window = MtuConstraint("DR test (mandatory consumption >= 0.3 MW)", (5, 6), min_charge_mw=0.3)
    curves = build_bid_curves(
        40 + np.random.default_rng(1).normal(0, 10, (24, 30)),
        BatteryConfig(),
        RULES,
        mtu_constraints=[window],
        end_soc_value_per_mwh=35.0,
    )
    for t in (5, 6):
        steps = curves.steps[curves.steps["mtu_index"] == t]
        firm_buy = steps[(steps["side"] == "buy") & steps["is_price_taker"]]["volume_mw"].sum()
        assert firm_buy >= 0.3 - 1e-9 and (steps["side"] == "buy").all()


def test_an_impossible_curve_day_names_the_conflict():
    # Mandatory consumption all day pushes the SoC over the top of the window.
    window = MtuConstraint("DR all day (mandatory consumption >= 0.5 MW)", tuple(range(24)), min_charge_mw=0.5)
    with pytest.raises(InfeasibleScheduleError) as info:
        build_bid_curves(
            np.full((24, 5), 40.0), BatteryConfig(), RULES, mtu_constraints=[window], end_soc_value_per_mwh=35.0
        )
    assert "DR all day" in " ".join(info.value.conflicts)


def test_scenarios_from_errors_and_from_an_interval():
    point = np.array([10.0, 20.0])
    errors = np.array([[1.0, -1.0, np.nan], [2.0, 0.0, -2.0]])
    sc = scenarios_from_errors(point, errors)
    assert sc.shape == (2, 3) and np.allclose(sc[1], [22.0, 20.0, 18.0]) and np.isfinite(sc).all()
    interval = scenarios_from_interval(point, point - 5, point + 5, 90.0, n_scenarios=101)
    assert np.allclose(np.quantile(interval, [0.05, 0.95], axis=1).T, [[5, 15], [15, 25]], atol=0.3)
    with pytest.raises(ValueError, match="every MTU needs at least one finite past error"):
        scenarios_from_errors(point, np.array([[np.nan], [1.0]]))
