"""Exclusive groups of block orders in the production path: the pure pieces beside the strategy (per-step group
clearing, error paths by local minute, group order steps, a block's schedule, demand-response filtering),
compliance per block, the steps hash, shadow executions and the simulated exchange's validation."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from griddesk.bidding import BatteryConfig
from griddesk.bidding.blocks import (
    GROUP_STEP_COLUMNS,
    ExclusiveGroup,
    block_schedule,
    build_exclusive_group,
    daily_error_paths,
    group_order_steps,
    minute_of_day_keys,
    restrict_to_windows,
)
from griddesk.bidding.clearing import accepted_block_steps, clear_exclusive_group
from griddesk.bidding.compliance import CHECKS, check_order_set, is_block_group, passed
from griddesk.bidding.controls import BiddingSettings
from griddesk.bidding.execution import shadow_results
from griddesk.bidding.gate import block_of, frame_digest
from griddesk.bidding.optimiser import MtuConstraint
from griddesk.bidding.orders import check_schedule_feasible
from griddesk.bidding.rules import block_order_rules, exclusive_group_refusal, market_rules
from griddesk.markets import get_market
from griddesk.simulator.orders import OrderSetIn, block_group_reasons, position_breaches

DAY = date(2017, 3, 1)
RULES = market_rules("DE", DAY)
BEFORE_GATE = RULES.gate_closure_utc - timedelta(hours=1)
PRICES = np.round(40 + 20 * np.sin(np.arange(24) / 24 * 4 * np.pi), 2)


@pytest.fixture(scope="module")
def group() -> ExclusiveGroup:
    scenarios = PRICES[:, None] + np.random.default_rng(3).normal(0, 12, (24, 20))
    return build_exclusive_group(PRICES, scenarios, BatteryConfig(), RULES, block_order_rules("DE"))


@pytest.fixture(scope="module")
def steps(group) -> pd.DataFrame:
    return group_order_steps(group, RULES)


def _failed(results) -> dict[str, str]:
    return {r.name: r.reason for r in results if not r.passed}


# ------------------------------------------------------------------------------------------------ clearing


def test_accepted_block_steps_accepts_the_block_clear_exclusive_group_accepts():
    rng = np.random.default_rng(11)
    for _ in range(200):
        n_blocks, n_mtus = int(rng.integers(1, 8)), 6
        net = rng.integers(-5, 6, (n_blocks, n_mtus)) / 10
        limits = rng.integers(-3000, 3000, n_blocks) / 100
        prices = rng.normal(40, 20, n_mtus)
        expected = clear_exclusive_group(net, limits, prices, 1.0)
        b, t = np.nonzero(net)
        ids = b * 3 + 1  # any block numbers, in order
        accepted = accepted_block_steps(
            ids, t, np.where(net[b, t] > 0, "sell", "buy"), np.abs(net[b, t]), limits[b], prices[t], 1.0
        )
        assert (accepted == (b == expected)).all() if expected is not None else not accepted.any()


def test_accepted_block_steps_refuses_two_limits_in_a_block_and_two_steps_in_one_mtu():
    with pytest.raises(ValueError, match="block 4 has more than one limit"):
        accepted_block_steps([4, 4], [0, 1], ["sell", "sell"], [0.1, 0.1], [1.0, 2.0], [50.0, 50.0], 1.0)
    with pytest.raises(ValueError, match="two steps of one block in one MTU"):
        accepted_block_steps([0, 0], [3, 3], ["sell", "buy"], [0.1, 0.1], [1.0, 1.0], [50.0, 50.0], 1.0)
    assert accepted_block_steps([], [], [], [], [], [], 1.0).size == 0


# ------------------------------------------------------------------------------------- scenarios and steps


def test_minute_of_day_keys_on_the_autumn_dst_day_repeat_the_doubled_hour():
    market = get_market("DE")
    start, end = market.delivery_day_bounds_utc(date(2017, 10, 29))
    starts = pd.date_range(start, end, freq="h", inclusive="left")
    keys = minute_of_day_keys(starts, market.tz)
    assert len(keys) == 25 and list(keys[:4]) == [0, 60, 120, 120] and keys[-1] == 23 * 60


def test_daily_error_paths_give_one_path_per_local_day_without_missing_prices():
    market = get_market("DE")
    starts = pd.date_range(market.delivery_day_bounds_utc(date(2017, 3, 1))[0], periods=48, freq="h")
    realised = np.arange(48, dtype=float)
    realised[5] = np.nan  # not published by the cut-off
    paths = daily_error_paths(starts, np.zeros(48), realised, market.tz)
    assert len(paths) == 2 and len(paths[0][0]) == 23 and len(paths[1][0]) == 24
    assert paths[1][1][0] == 24.0 and paths[0][0][0] == 0
    with pytest.raises(ValueError, match="48 starts, 47 forecasts"):
        daily_error_paths(starts, np.zeros(47), realised, market.tz)


def test_group_order_steps_are_one_non_price_taker_step_per_block_and_mtu(group, steps):
    assert list(steps.columns) == GROUP_STEP_COLUMNS and group.n_blocks >= 2
    assert (steps["step_index"] == steps["block_index"]).all() and not steps["is_price_taker"].any()
    assert steps.groupby(["block_index", "mtu_index"]).size().max() == 1
    assert steps["acceptance_probability"].isna().all()
    assert (steps["limit_price_per_mwh"] == RULES.price_from_ticks(int(group.limit_price_ticks[0]))).all()


def test_every_block_schedule_of_a_built_group_is_feasible(group):
    battery = BatteryConfig()
    for net in group.net_ticks:
        schedule = block_schedule(net, battery, 60, RULES.volume_tick_mw)
        assert check_schedule_feasible(schedule, battery, 60, RULES.volume_tick_mw) == []


def test_restrict_to_windows_drops_blocks_that_charge_in_a_no_charging_window():
    net = np.array([[-3, 0, 3], [0, -3, 3], [0, 0, 0]])
    group = ExclusiveGroup(net, np.zeros(3, dtype=np.int64), 1.0, 1.0, 5, 3)
    window = MtuConstraint("DR morning", (0,), max_charge_mw=0.0)
    kept = restrict_to_windows(group, [window], np.array([0, -2, 2]), 0.1)
    # the point block (row 0) breaks it: the fixed schedule stands in for it; row 1 and the idle row stay
    assert kept.net_ticks.tolist() == [[0, -2, 2], [0, -3, 3], [0, 0, 0]] and len(kept.limit_price_ticks) == 3
    assert restrict_to_windows(group, [], np.zeros(3), 0.1) is group


# ---------------------------------------------------------------------------------------------- compliance


def test_a_built_group_passes_every_check(steps):
    results = check_order_set(steps, BatteryConfig(), RULES, 24, BEFORE_GATE)
    assert [r.name for r in results] == list(CHECKS) and passed(results), _failed(results)
    assert is_block_group(steps) and not is_block_group(steps.drop(columns="block_index"))


def test_one_infeasible_block_rejects_the_group_naming_the_block_and_the_mtu(steps):
    b = int(steps["block_index"].max())
    idle = sorted(set(range(24)) - set(steps.loc[steps["block_index"] == b, "mtu_index"]))[0]
    extra = (
        steps[steps["block_index"] == b].iloc[:1].assign(mtu_index=idle, side="sell", volume_ticks=10, volume_mw=1.0)
    )
    failed = _failed(check_order_set(pd.concat([steps, extra]), BatteryConfig(), RULES, 24, BEFORE_GATE))
    assert set(failed) == {"soc_feasibility"}, failed
    assert f"block {b}: MTU " in failed["soc_feasibility"] and "block 0:" not in failed["soc_feasibility"]


def test_the_position_limit_is_the_largest_block_not_the_sum():
    rows = [(b, 5, "sell", 10, 1.0) for b in range(3)] + [(0, 6, "buy", 10, 1.0)]  # three 1 MW blocks in MTU 5
    steps = pd.DataFrame(rows, columns=["block_index", "mtu_index", "side", "volume_ticks", "volume_mw"]).assign(
        step_index=lambda f: f["block_index"],
        limit_price_per_mwh=0.0,
        price_ticks=0,
        is_price_taker=False,
        acceptance_probability=np.nan,
    )
    failed = _failed(check_order_set(steps, BatteryConfig(), RULES, 24, BEFORE_GATE))
    assert "position_limit" not in failed  # 1 MW per block is within the battery's 1 MW
    big = steps.assign(volume_ticks=12, volume_mw=1.2)
    failed = _failed(check_order_set(big, BatteryConfig(power_mw=1.0), RULES, 24, BEFORE_GATE))
    assert "block 0 MTU 5: sell 1.2 MW, above the 1 MW position limit" in failed["position_limit"]


def test_the_block_group_check_refuses_25_blocks_and_a_market_without_groups(steps):
    many = pd.concat([steps[steps["block_index"] == 0].assign(block_index=b, step_index=b) for b in range(25)])
    failed = _failed(check_order_set(many, BatteryConfig(), RULES, 24, BEFORE_GATE))
    assert "25 blocks in the group, above DE's limit of 24" in failed["block_group"]
    pjm = market_rules("PJM", date(2016, 6, 15))
    failed = _failed(check_order_set(steps, BatteryConfig(), pjm, 24, pjm.gate_closure_utc - timedelta(hours=1)))
    assert "PJM: exclusive groups of block orders are not applicable" in failed["block_group"]
    assert exclusive_group_refusal("DE") is None and "no block-order rules" in exclusive_group_refusal("XX")


# ------------------------------------------------------------------------------ the hash, shadow, controls


def _stored(steps: pd.DataFrame) -> pd.DataFrame:
    start = get_market("DE").delivery_day_bounds_utc(DAY)[0]
    return steps.assign(
        delivery_start_utc=[start + timedelta(hours=int(t)) for t in steps["mtu_index"]], resolution_minutes=60
    )


def test_the_steps_hash_covers_the_block_and_leaves_other_steps_as_they_were(steps):
    stored = _stored(steps)
    moved = stored.copy()
    moved.loc[moved.index[0], "block_index"] = 23
    assert frame_digest("DE", stored) != frame_digest("DE", moved)
    plain = stored.drop(columns="block_index")
    assert frame_digest("DE", plain) == frame_digest("DE", plain.assign(block_index=None))


def test_block_of_gives_the_accepted_block_as_price_taker_orders():
    orders = [{"side": "sell", "volume_mw": 0.5, "limit_price_per_mwh": 2.0, "block_index": b} for b in (0, 1, 1)]
    assert block_of(orders, 1) == [{"side": "sell", "volume_mw": 0.5, "limit_price_per_mwh": None}] * 2
    assert block_of(orders, None) == []


def test_shadow_results_clear_a_group_like_the_exchange(steps, group):
    stored = _stored(steps)
    start = get_market("DE").delivery_day_bounds_utc(DAY)[0]
    realised = PRICES + np.random.default_rng(5).normal(0, 10, 24)
    prices = pd.DataFrame(
        {
            "delivery_start_utc": [start + timedelta(hours=h) for h in range(24)],
            "resolution_minutes": 60,
            "price_per_mwh": realised,
        }
    )
    results = shadow_results(stored, prices)
    best = clear_exclusive_group(group.net_mw(0.1), group.limit_price_ticks * 0.01, realised, 1.0)
    assert (results["accepted"].to_numpy() == (stored["block_index"].to_numpy() == best)).all()
    assert list(results["block_index"]) == list(stored["block_index"])


def test_the_settings_take_the_strategy_and_a_positive_max_blocks():
    assert BiddingSettings(strategy="exclusive_blocks").max_blocks == 24
    with pytest.raises(ValidationError):
        BiddingSettings(strategy="exclusive_blocks", max_blocks=0)


# ------------------------------------------------------------------------------------- the simulated exchange


def _body(orders: list[dict], market: str = "FR") -> OrderSetIn:
    start = get_market(market).delivery_day_bounds_utc(date(2016, 6, 15))[0]
    return OrderSetIn.model_validate(
        {
            "market": market,
            "delivery_date": "2016-06-15",
            "client_order_set_id": "k",
            "orders": [
                {**o, "delivery_start_utc": (start + timedelta(hours=o.pop("hour"))).isoformat()} for o in orders
            ],
        }
    )


def _order(hour: int, block: int | None, volume: float = 0.5, side: str = "sell", limit: float = 1.0) -> dict:
    return {"hour": hour, "side": side, "volume_mw": volume, "limit_price_per_mwh": limit, "block_index": block}


def test_the_exchange_validates_a_group():
    assert block_group_reasons(_body([_order(1, 0), _order(2, 1)])) == []
    assert block_group_reasons(_body([_order(1, None)])) == []  # not a group
    reasons = block_group_reasons(_body([_order(1, 0), _order(1, 0), _order(2, 0, limit=3.0), _order(3, None)]))
    assert any("block_index on every order" in r for r in reasons)
    assert any("block 0: 1 MTU(s) with more than one step" in r for r in reasons)
    assert any("block 0: more than one limit price" in r for r in reasons)
    assert "PJM" in block_group_reasons(_body([_order(1, 0)], market="PJM"))[0]


def test_the_exchange_counts_a_group_at_its_largest_block_with_other_live_sets():
    group = _body([_order(5, 0, 0.6), _order(5, 1, 0.8), _order(5, 2, 0.7)])
    assert position_breaches(group, [], 1.0) == []
    other = _body([_order(5, None, 0.3)])
    (reason,) = position_breaches(other, [group], 1.0)
    assert "up to 1.1 MW" in reason
