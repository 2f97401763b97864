"""Exclusive groups of block orders (strategy ``exclusive_blocks``): every block is a feasible day on its own, the
exchange accepts at most one block per group and the one a brute-force welfare maximisation picks, the selection
is the greedy best-of-K it claims, nothing published after the cut-off shapes the group, and the group never earns
less than the fixed schedule it contains."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from griddesk import datasets
from griddesk.bidding import BatteryConfig
from griddesk.bidding.backtest import (
    EXCLUSIVE_BLOCKS,
    FIXED,
    BacktestConfig,
    ForecastSource,
    RealisedPrices,
    exclusive_group_for_day,
    run_strategy,
    test_period,
)
from griddesk.bidding.blocks import (
    block_steps,
    block_values,
    build_exclusive_group,
    candidate_schedules,
    joint_error_scenarios,
    net_ticks_from_steps,
    select_blocks,
)
from griddesk.bidding.clearing import block_surplus, clear_exclusive_group
from griddesk.bidding.optimiser import ScheduleMarket, optimise_schedule, schedule_frame
from griddesk.bidding.orders import check_schedule_feasible
from griddesk.bidding.rules import BLOCK_ORDER_RULES, block_order_rules, market_rules

RULES = market_rules("DE", date(2017, 3, 1))
BLOCK_RULES = block_order_rules("DE")


def _schedule(net_ticks: np.ndarray, battery: BatteryConfig, mtu_minutes: int = 60) -> pd.DataFrame:
    net = np.asarray(net_ticks)
    return schedule_frame(np.maximum(-net, 0), np.maximum(net, 0), None, mtu_minutes, battery, 0.1)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    energy=st.sampled_from([1.0, 2.0, 4.0]),
    n_scenarios=st.integers(0, 40),
    max_blocks=st.integers(1, 30),
    mtu=st.sampled_from([60, 15]),
)
def test_every_block_is_a_feasible_day_for_the_battery_on_its_own(seed, energy, n_scenarios, max_blocks, mtu):
    rng = np.random.default_rng(seed)
    n = 24 * 60 // mtu
    battery = BatteryConfig(power_mw=1.0, energy_mwh=energy, degradation_cost_per_mwh=float(rng.choice([0.0, 2.5])))
    rules = market_rules("DE", date(2017, 3, 1), mtu_minutes=mtu)
    point = 40 + 25 * np.sin(np.arange(n) / n * 2 * np.pi) + rng.normal(0, 8, n)
    scenarios = point[:, None] + rng.normal(0, 15, (n, n_scenarios))
    group = build_exclusive_group(point, scenarios, battery, rules, BLOCK_RULES, max_blocks=max_blocks)

    assert 1 <= group.n_blocks <= min(max_blocks, BLOCK_RULES.max_blocks_per_group)
    for b, net in enumerate(group.net_ticks):
        assert check_schedule_feasible(_schedule(net, battery, mtu), battery, mtu_minutes=mtu) == [], f"block {b}"
    # Block 0 is the fixed schedule on the point forecast (same optimum value as the production optimiser).
    fixed = optimise_schedule(point, mtu, battery, ScheduleMarket(rules.price_bounds), confirm_with_cbc=False)
    assert group.point_value == pytest.approx(fixed.objective_value, abs=1e-6)
    assert len({net.tobytes() for net in group.net_ticks}) == group.n_blocks  # no duplicate blocks
    # The steps are the blocks: one per (block, MTU with a volume), each carrying its block's limit.
    steps = block_steps(group, rules)
    np.testing.assert_array_equal(
        net_ticks_from_steps(steps, n)[: group.n_blocks],
        group.net_ticks[: int(steps["block_index"].max()) + 1 if len(steps) else 0],
    )
    assert (steps["volume_ticks"] > 0).all() and steps.groupby(["block_index", "mtu_index"]).size().max() <= 1


def _brute_force_acceptance(net_mw: np.ndarray, limits: np.ndarray, prices: np.ndarray, h: float) -> int | None:
    """Every acceptance vector of the group (each block in or out) that respects the exclusive constraint (at most
    one in), the one with the highest welfare; welfare 0 (nothing accepted) wins ties, then the lowest index."""
    best_value, best = 0.0, None
    for accept in itertools.product((0, 1), repeat=len(net_mw)):
        if sum(accept) > 1:
            continue
        value = sum(
            a * (float(q @ prices) * h - lim * float(np.abs(q).sum()) * h)
            for a, q, lim in zip(accept, net_mw, limits, strict=True)
        )
        chosen = accept.index(1) if 1 in accept else None
        if value > best_value + 1e-9 or (
            abs(value - best_value) <= 1e-9 and chosen is not None and best is not None and chosen < best
        ):
            best_value, best = value, chosen
    return best


def test_the_exchange_accepts_at_most_one_block_the_one_brute_force_finds():
    rng = np.random.default_rng(7)
    for case in range(400):
        n_blocks, n = int(rng.integers(1, 9)), int(rng.choice([23, 24, 25]))
        net = rng.integers(-10, 11, (n_blocks, n)) * 0.1
        limits = rng.choice([0.0, 0.0, 1.5, 5.0], n_blocks)
        prices = rng.normal(30, 40, n)
        if case % 5 == 0:
            net[1 % n_blocks] = net[0]  # an exact tie: the lowest index wins
        h = float(rng.choice([1.0, 0.25]))
        assert clear_exclusive_group(net, limits, prices, h) == _brute_force_acceptance(net, limits, prices, h), case


def test_no_block_in_the_money_rejects_the_whole_group():
    net = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert clear_exclusive_group(net, np.zeros(2), np.array([20.0, 20.0]), 1.0) is None  # surplus 0: not positive
    assert clear_exclusive_group(net, np.array([6.0, 6.0]), np.array([10.0, 20.0]), 1.0) is None  # margin 5 < 6
    assert clear_exclusive_group(net, np.array([4.0, 4.0]), np.array([10.0, 20.0]), 1.0) == 1
    assert block_surplus(net, np.array([4.0, 4.0]), np.array([10.0, 20.0]), 1.0).tolist() == [-18.0, 2.0]


def test_greedy_selection_keeps_the_forced_block_and_never_lowers_the_best_of_k():
    rng = np.random.default_rng(3)
    values = rng.normal(0, 10, (12, 30))
    previous = -np.inf
    for k in range(1, 8):
        chosen = select_blocks(values, k)
        assert chosen[0] == 0 and len(chosen) <= k and len(set(chosen)) == len(chosen)
        objective = np.maximum(values[chosen].max(axis=0), 0).mean()
        assert objective >= previous - 1e-12
        previous = objective
    # Within (1 - 1/e) of the best 3-subset containing the forced block (submodular greedy bound).
    best = max(np.maximum(values[[0, *c]].max(axis=0), 0).mean() for c in itertools.combinations(range(1, 12), 2))
    greedy = np.maximum(values[select_blocks(values, 3)].max(axis=0), 0).mean()
    assert greedy >= (1 - 1 / np.e) * best


def test_candidates_are_each_paths_optimum_and_distinct():
    battery = BatteryConfig()
    rng = np.random.default_rng(1)
    point = rng.normal(40, 10, 24)
    scenarios = np.column_stack([point, point + rng.normal(0, 20, 24), point])  # duplicates of the point drop out
    candidates = candidate_schedules(point, scenarios, battery, 60, 0.1)
    assert len(candidates) == 2
    values = block_values(candidates, scenarios, battery, 60, 0.1)
    assert values[1, 1] >= values[0, 1] - 1e-9  # scenario 1's own optimum is best on scenario 1


def test_joint_scenarios_keep_each_past_days_whole_path_across_dst():
    point = np.arange(23, dtype=float)  # a spring-forward day: 23 local hours, no 02:00
    keys = np.array([h for h in range(24) if h != 2]) * 60
    normal_day = (np.arange(24) * 60, np.arange(24) * 10.0)
    autumn_day = (np.array([0, 1, 2, 2, *range(3, 24)]) * 60, np.arange(25) * 1.0)  # 02:00 twice
    gappy_day = (np.arange(24) * 60, np.where(np.arange(24) == 5, np.nan, 7.0))
    scenarios = joint_error_scenarios(
        point, keys, [normal_day, autumn_day, gappy_day, (np.arange(24), np.full(24, np.nan))]
    )
    assert scenarios.shape == (23, 3)  # an all-NaN day is no scenario
    np.testing.assert_allclose(scenarios[:, 0], point + keys / 60 * 10.0)  # each hour its own past hour's error
    assert scenarios[2, 1] == point[2] + 4.0  # 03:00 takes the autumn day's 03:00 (after the repeated 02:00)
    np.testing.assert_allclose(scenarios[:, 2], point + 7.0)  # the missing hour takes its nearest neighbour
    with pytest.raises(ValueError, match="MTU keys"):
        joint_error_scenarios(point, keys[:-1], [])


def test_markets_without_exclusive_groups_are_refused_with_the_reason():
    assert set(BLOCK_ORDER_RULES) == {"DE", "FR", "BE", "NP", "PJM"}
    assert not block_order_rules("PJM").usable and all(block_order_rules(c).usable for c in ("DE", "FR", "BE", "NP"))
    with pytest.raises(ValueError, match="PJM: exclusive groups of block orders are not applicable"):
        build_exclusive_group(
            np.zeros(24),
            np.zeros((24, 0)),
            BatteryConfig(),
            market_rules("PJM", date(2017, 3, 1)),
            block_order_rules("PJM"),
        )
    with pytest.raises(KeyError, match="no block-order rules for market 'XX'"):
        block_order_rules("XX")


@pytest.fixture(scope="module")
def realised() -> RealisedPrices:
    frame = datasets.synthetic_epftoolbox("DE", start=date(2016, 9, 1), days=90)
    return RealisedPrices.from_frame(frame, "DE")


def _noisy(realised: RealisedPrices, scale: float) -> ForecastSource:
    """Realised prices plus noise seeded by the day (the same forecast of a day on every call)."""

    def fn(day: date) -> pd.DataFrame:
        starts, prices = realised.day(day)
        noise = np.random.default_rng(day.toordinal()).normal(0, scale, len(prices))
        return pd.DataFrame({"delivery_start_utc": starts, "forecast_price_per_mwh": prices + noise})

    return ForecastSource(f"noisy_{scale}", fn)


def test_nothing_published_after_the_cut_off_shapes_the_group(realised):
    """The group of D uses D's forecast and the errors of days before D only: poisoning D's realised prices and every
    later day's prices and forecasts leaves it unchanged."""
    day = date(2016, 11, 20)
    config = BacktestConfig()
    battery, rules = BatteryConfig(), market_rules("DE", day)
    clean = exclusive_group_for_day(_noisy(realised, 8.0), realised, day, battery, rules, config)
    poisoned_prices = {d: (p if d < day else np.full(len(p), -500.0)) for d, p in realised.prices.items()}
    poisoned = RealisedPrices(realised.market_code, realised.mtu_minutes, realised.starts, poisoned_prices)
    assert clean.n_scenarios == config.error_window_days and clean.n_blocks > 1
    np.testing.assert_array_equal(clean.net_ticks, _rebuilt_with_clean_forecast(realised, poisoned, day, config))


def _rebuilt_with_clean_forecast(realised, poisoned, day, config):
    """D's group on the poisoned data, D's forecast taken from the clean source (the forecast was made before the
    cut-off: poisoning D's realised prices must not reach it)."""
    clean_source = _noisy(realised, 8.0)
    source = ForecastSource(
        "mixed",
        lambda d: (
            clean_source.forecast(d)
            if d <= day
            else pd.DataFrame({"delivery_start_utc": poisoned.starts[d], "forecast_price_per_mwh": 9_999.0})
        ),
    )
    return exclusive_group_for_day(source, poisoned, day, BatteryConfig(), market_rules("DE", day), config).net_ticks


def test_the_group_never_earns_less_than_the_fixed_schedule_it_contains(realised):
    days = test_period(realised, 21)
    source = _noisy(realised, 12.0)
    fixed = run_strategy(source, FIXED, days, realised)
    blocks = run_strategy(source, EXCLUSIVE_BLOCKS, days, realised)
    pnl = blocks.daily["pnl"].to_numpy() - fixed.daily["pnl"].to_numpy()
    assert (pnl >= -1e-9).all(), "a day where the group earned less than its own fixed block"
    assert blocks.revenue > fixed.revenue  # and on noisy forecasts the recourse is worth something
    np.testing.assert_allclose(
        blocks.daily["soc_end_pct"], BatteryConfig().initial_soc_pct
    )  # every block ends at the start
    assert (blocks.daily["steps"] >= blocks.daily["trades"]).all()
    assert days[0] - timedelta(days=1) in realised.prices


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    energy=st.sampled_from([1.0, 2.0, 4.0]),
    mtu=st.sampled_from([60, 15]),
    wear=st.sampled_from([0.0, 3.0]),
    n_paths=st.integers(1, 12),
)
def test_planning_many_paths_at_once_gives_each_paths_own_plan_exactly(seed, energy, mtu, wear, n_paths):
    from griddesk.bidding.optimiser import plan_on_soc_grid, plan_paths_on_soc_grid

    rng = np.random.default_rng(seed)
    battery = BatteryConfig(power_mw=1.0, energy_mwh=energy, degradation_cost_per_mwh=wear)
    paths = np.round(rng.normal(50, 25, (n_paths, 24 * 60 // mtu)), 2)
    paths[-1] = paths[0]  # repeated paths and flat stretches: ties must break alike
    paths[:, :3] = 50.0
    for path, plan in zip(paths, plan_paths_on_soc_grid(paths, mtu, battery, 0.1), strict=True):
        alone = plan_on_soc_grid(path, mtu, battery, 0.1)
        np.testing.assert_array_equal(plan.ticks_charge, alone.ticks_charge)
        np.testing.assert_array_equal(plan.ticks_discharge, alone.ticks_discharge)
        assert plan.objective_value == alone.objective_value


def test_large_grids_plan_the_scenario_candidates_coarser_and_the_point_block_exactly():
    from griddesk.bidding.blocks import candidate_tick_multiple
    from griddesk.bidding.optimiser import plan_on_soc_grid

    for energy, n, mtu in ((1.0, 24, 60), (4.0, 24, 60), (1.0, 96, 15), (2.0, 96, 15)):
        assert candidate_tick_multiple(BatteryConfig(energy_mwh=energy), mtu, 0.1, n) == 1  # exact: as benchmarked
    battery = BatteryConfig(energy_mwh=4.0)
    assert candidate_tick_multiple(battery, 15, 0.1, 96) == 2  # 0.2 MW: 10 ticks of power divide by it
    rng = np.random.default_rng(5)
    point = 45 + 20 * np.sin(np.arange(96) / 96 * 2 * np.pi) + rng.normal(0, 5, 96)
    scenarios = point[:, None] + rng.normal(0, 12, (96, 8))
    candidates = candidate_schedules(point, scenarios, battery, 15, 0.1)
    exact = plan_on_soc_grid(point, 15, battery, 0.1)
    np.testing.assert_array_equal(candidates[0], exact.ticks_discharge - exact.ticks_charge)  # block 0 = fixed
    assert (candidates[1:] % 2 == 0).all() and len(candidates) > 1
    for net in candidates:
        assert check_schedule_feasible(_schedule(net, battery, 15), battery, mtu_minutes=15) == []
