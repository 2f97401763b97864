"""Pre-trade compliance: the checks an order set must pass before it may be submitted.

Every check runs (one failure does not hide another) and says why in plain words:

- ``volume_limit``: every step is a positive whole number of volume ticks and at most ``max_order_volume_mw``;
- ``position_limit``: per MTU, the buy steps and the sell steps each add up to at most the position limit (the
  battery's power unless a lower one is set), so no clearing price takes the battery beyond it; for a joint
  order set of the portfolio and the battery the buy side may add the forecast consumption of the MTU (plus the
  one tick a purchase may be rounded up by): buying the portfolio's load is no battery over-position;
- ``price_bounds``: every limit is a whole number of price ticks within the bounds valid on the day;
- ``gate_closure``: the order set goes out at least ``gate_closure_margin`` before gate closure;
- ``soc_feasibility``: every combination of accepted steps keeps the SoC in its window (and the end band when the
  end is fixed), re-verified independently of the optimiser (:func:`griddesk.bidding.curves.check_curves_feasible`;
  for a joint set :func:`griddesk.bidding.portfolio.check_joint_steps_feasible`, where the battery also serves
  the part of the forecast consumption that is not bought);
- ``block_group``: an exclusive group of block orders (steps with a ``block_index``, strategy ``exclusive_blocks``)
  respects the market's block rules (:data:`griddesk.bidding.rules.BLOCK_ORDER_RULES`): the market takes exclusive
  groups, at most the allowed blocks per group and participant, one step per block and MTU, one limit per block,
  no block volume below the minimum. Passes trivially for any other order set.

For an exclusive group the auction accepts at most one block, whole, so ``position_limit`` holds each block to the
limit on its own (the worst case is the largest block, not the sum of the blocks) and ``soc_feasibility`` checks
every block's schedule on its own (:func:`griddesk.bidding.orders.check_schedule_feasible`), naming the block and
the MTU; one infeasible block rejects the group.

An order set passes when every check passes; otherwise it is rejected, the reasons are recorded
(``raw.bid_compliance_results``) and alerted, and it is never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.clearing import BUY, SELL
from griddesk.bidding.curves import check_curves_feasible
from griddesk.bidding.portfolio import check_joint_steps_feasible
from griddesk.bidding.rules import MarketRules, block_order_rules, exclusive_group_refusal

CHECKS = ("volume_limit", "position_limit", "price_bounds", "gate_closure", "soc_feasibility", "block_group")
#: At most this many reasons per check are kept (the first ones); the count says how many there were.
MAX_REASONS = 5


@dataclass(frozen=True)
class ComplianceLimits:
    """Limits beyond the market rules and the battery."""

    max_order_volume_mw: float = 1.0
    max_position_mw: float | None = None  # None: the battery's power
    gate_closure_margin: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckResult:
    """One check of one order set."""

    name: str
    passed: bool
    reason: str = ""


def _summary(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_REASONS])
    more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
    return shown + more


def _volume_result(steps: pd.DataFrame, rules: MarketRules, limits: ComplianceLimits) -> CheckResult:
    problems = []
    for row in steps.itertuples(index=False):
        where = f"MTU {row.mtu_index} step {row.step_index} ({row.side} {row.volume_mw:g} MW)"
        try:
            ticks = rules.volume_ticks(float(row.volume_mw))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if ticks <= 0:
            problems.append(f"{where}: volume must be positive")
        if row.volume_mw > limits.max_order_volume_mw + 1e-9:
            problems.append(f"{where}: above the {limits.max_order_volume_mw:g} MW limit per order")
    return CheckResult("volume_limit", not problems, _summary(problems))


def _price_result(steps: pd.DataFrame, rules: MarketRules) -> CheckResult:
    problems = []
    for row in steps.itertuples(index=False):
        where = f"MTU {row.mtu_index} step {row.step_index}"
        problems += [f"{where}: {p}" for p in rules.limit_price_problems(row.limit_price_per_mwh)]
    return CheckResult("price_bounds", not problems, _summary(problems))


def _gate_result(rules: MarketRules, now_utc: datetime, limits: ComplianceLimits) -> CheckResult:
    on_time = rules.is_before_gate_closure(now_utc, limits.gate_closure_margin)
    reason = (
        ""
        if on_time
        else (
            f"sent at {now_utc:%Y-%m-%d %H:%M} UTC, not {limits.gate_closure_margin} before gate closure "
            f"{rules.gate_closure_utc:%Y-%m-%d %H:%M} UTC"
        )
    )
    return CheckResult("gate_closure", on_time, reason)


def check_order_set(
    steps: pd.DataFrame,
    battery: BatteryConfig,
    rules: MarketRules,
    n_mtus: int,
    now_utc: datetime,
    limits: ComplianceLimits | None = None,
    end_soc_fixed: bool = True,
    consumption_mw: Sequence[float] | None = None,
) -> list[CheckResult]:
    """Run every pre-trade check on ``steps`` (``griddesk.bidding.curves.CURVE_COLUMNS``).

    Args:
        steps: The order set's steps.
        battery: The battery, with the SoC the day starts at.
        rules: Market rules of the delivery day (ticks, bounds, gate closure).
        n_mtus: MTUs in the delivery day.
        now_utc: When the order set would be sent (aware).
        limits: Volume, position and gate-closure-margin limits.
        end_soc_fixed: Whether the end SoC must stay in the battery's end band whatever clears.
        consumption_mw: For a joint order set of the portfolio and the battery: the forecast consumption per MTU,
            MW (``n_mtus`` values); None for the battery alone.

    Raises:
        ValueError: ``consumption_mw`` does not have ``n_mtus`` finite non-negative values.

    Returns:
        One ``CheckResult`` per name in ``CHECKS``, in that order.
    """
    limits = limits or ComplianceLimits()
    cap = min(limits.max_position_mw or battery.power_mw, battery.power_mw)
    if is_block_group(steps):
        if consumption_mw is not None:
            raise ValueError("an exclusive group of block orders is never a joint order set with the portfolio")
        # volumes, prices and gate closure as for any order set; the position limit and the SoC per block (the
        # module docstring says why); the market's block rules
        steps = steps.assign(block_index=steps["block_index"].astype("Int64"))  # "block 3", never "block 3.0"
        position = _block_position_problems(steps, cap)
        soc = _block_soc_problems(steps, battery, n_mtus, rules, end_soc_fixed)
        group = _block_group_problems(steps, rules)
    else:
        load_mw = _consumption_per_mtu(consumption_mw, n_mtus)
        position = _position_problems(steps, cap, load_mw, rules)
        if load_mw is None:
            soc = check_curves_feasible(steps, battery, n_mtus, rules.mtu_minutes, rules, end_soc_fixed=end_soc_fixed)
        else:
            soc = check_joint_steps_feasible(steps, battery, load_mw, rules, end_soc_fixed=end_soc_fixed)
        group = []
    return [
        _volume_result(steps, rules, limits),
        CheckResult("position_limit", not position, _summary(position)),
        _price_result(steps, rules),
        _gate_result(rules, now_utc, limits),
        CheckResult("soc_feasibility", not soc, _summary(soc)),
        CheckResult("block_group", not group, _summary(group)),
    ]


def _consumption_per_mtu(consumption_mw: Sequence[float] | None, n_mtus: int) -> np.ndarray | None:
    if consumption_mw is None:
        return None
    load_mw = np.asarray(consumption_mw, dtype=float)
    if len(load_mw) != n_mtus or not np.isfinite(load_mw).all() or (load_mw < 0).any():
        raise ValueError(f"consumption_mw must have {n_mtus} finite non-negative values (one per MTU)")
    return load_mw


def _position_problems(steps: pd.DataFrame, cap: float, load_mw: np.ndarray | None, rules: MarketRules) -> list[str]:
    """Per MTU and side, the steps within ``cap``; a joint set's buys also within the MTU's forecast consumption."""
    problems = []
    if not len(steps):
        return problems
    by_side = steps.groupby(["mtu_index", "side"])["volume_mw"].sum()
    for (mtu, side), total in by_side.items():
        limit, what = cap, "position limit"
        if load_mw is not None and side == BUY and 0 <= mtu < len(load_mw):
            limit = cap + load_mw[mtu] + rules.volume_tick_mw
            what = f"position limit plus the forecast consumption {load_mw[mtu]:.4f} MW and one tick"
        if side not in (BUY, SELL):
            problems.append(f"MTU {mtu}: unknown side {side!r}")
        elif total > limit + 1e-9:
            problems.append(f"MTU {mtu}: {side} steps add up to {total:g} MW, above the {limit:g} MW {what}")
    return problems


def is_block_group(steps: pd.DataFrame) -> bool:
    """Whether ``steps`` are an exclusive group of block orders (any step carries a ``block_index``)."""
    return "block_index" in steps and bool(steps["block_index"].notna().any())


def _block_position_problems(steps: pd.DataFrame, cap: float) -> list[str]:
    """Per block and MTU, each side within ``cap``: only one block is ever accepted, so the group's worst case per
    MTU is its largest block, not the sum of the blocks."""
    problems = []
    by_block = steps.groupby(["block_index", "mtu_index", "side"])["volume_mw"].sum()
    for (block, mtu, side), total in by_block.items():
        if side not in (BUY, SELL):
            problems.append(f"block {block} MTU {mtu}: unknown side {side!r}")
        elif total > cap + 1e-9:
            problems.append(f"block {block} MTU {mtu}: {side} {total:g} MW, above the {cap:g} MW position limit")
    return problems


def _block_group_problems(steps: pd.DataFrame, rules: MarketRules) -> list[str]:
    """The market's block-order rules on a group's steps (see the module docstring)."""
    refusal = exclusive_group_refusal(rules.market_code)
    if refusal:
        return [refusal]
    block_rules = block_order_rules(rules.market_code)
    problems = []
    if steps["block_index"].isna().any():
        problems.append(f"{int(steps['block_index'].isna().sum())} steps carry no block_index in an exclusive group")
    blocked = steps.dropna(subset=["block_index"])
    n_blocks = blocked["block_index"].nunique()
    cap = min(block_rules.max_blocks_per_group, block_rules.max_blocks_per_participant)
    if n_blocks > cap:
        problems.append(
            f"{n_blocks} blocks in the group, above {rules.market_code}'s limit of {block_rules.max_blocks_per_group} "
            f"per exclusive group ({block_rules.max_blocks_per_participant} per participant)"
        )
    for (block, mtu), n in blocked.groupby(["block_index", "mtu_index"]).size().items():
        if n > 1:
            problems.append(f"block {block} MTU {mtu}: {n} steps, one per block and MTU allowed")
    for block, limits in blocked.groupby("block_index")["limit_price_per_mwh"].unique().items():
        if len(limits) > 1:
            problems.append(f"block {block}: {len(limits)} limit prices, one per block allowed")
    small = blocked[blocked["volume_mw"] < block_rules.min_block_volume_mw - 1e-9]
    for row in small.itertuples(index=False):
        problems.append(
            f"block {row.block_index} MTU {row.mtu_index}: {row.volume_mw:g} MW below the minimum block volume "
            f"{block_rules.min_block_volume_mw:g} MW"
        )
    return problems


def _block_soc_problems(
    steps: pd.DataFrame, battery: BatteryConfig, n_mtus: int, rules: MarketRules, end_soc_fixed: bool = True
) -> list[str]:
    """Every block's schedule re-verified on its own (any one of them may be the one accepted)."""
    from griddesk.bidding.blocks import block_schedule, net_ticks_from_steps
    from griddesk.bidding.orders import check_schedule_feasible

    problems = []
    for block, rows in steps.dropna(subset=["block_index"]).groupby("block_index"):
        outside = rows[(rows["mtu_index"] < 0) | (rows["mtu_index"] >= n_mtus)]
        if len(outside):
            first = int(outside["mtu_index"].iloc[0])
            problems.append(f"block {int(block)}: MTU {first} is not in the day (0..{n_mtus - 1})")
            continue
        net = net_ticks_from_steps(rows.assign(block_index=0), n_mtus)[0]
        schedule = block_schedule(net, battery, rules.mtu_minutes, rules.volume_tick_mw)
        violations = check_schedule_feasible(schedule, battery, rules.mtu_minutes, rules.volume_tick_mw)
        problems += [f"block {int(block)}: {v}" for v in violations if end_soc_fixed or not v.startswith("end SoC")]
    return problems


def passed(results: list[CheckResult]) -> bool:
    """Whether every check passed."""
    return all(r.passed for r in results)


def rejection_reasons(results: list[CheckResult]) -> list[str]:
    """``"<check>: <reason>"`` for every failed check."""
    return [f"{r.name}: {r.reason}" for r in results if not r.passed]
