"""Exclusive groups of block orders from forecast scenarios: the ``exclusive_blocks`` strategy.

Day-ahead gives a battery no recourse: once the auction clears, the schedule is fixed. Price-dependent curves try
to buy recourse per MTU, but every combination of accepted steps must stay feasible, which costs most of the
value (docs/bidding.md). EUPHEMIA's *exclusive groups* of *block orders* give the recourse another way: submit K
complete schedules, each feasible on its own, and the auction accepts at most one, the one with the highest
surplus at the prices that clear (:func:`griddesk.bidding.clearing.clear_exclusive_group`).

How the K blocks are chosen (all pure, no I/O):

1. **Scenarios** (:func:`joint_error_scenarios`): the point forecast plus the whole error path (realised -
   forecast) of each of the last days whose prices were published by the cut-off, aligned by local time of day.
   A past day's path keeps the day's joint shape (a cloudy day lowers every solar hour at once), which per-hour
   error samples lose; ranking the hours is what earns a battery money.
2. **Candidates** (:func:`candidate_schedules`): the exact optimum on the SoC grid (the same dynamic programme as
   the fixed schedule, run over all paths at once, :func:`griddesk.bidding.optimiser.plan_paths_on_soc_grid`) for
   the point forecast and for every scenario, each returning to the start SoC, so every block is a feasible day for the battery by construction.
3. **Selection** (:func:`select_blocks`): greedy maximisation of the scenario mean of the best-of-K value, where a
   day whose best block is out of the money earns 0 (the group is rejected). The point-forecast schedule is always
   in the group, so at the realised prices the group earns at least what the fixed schedule earns. The objective
   is monotone submodular, so greedy is within (1 - 1/e) of the best K-subset.
4. **Limit price**: the block's minimum average margin per MWh traded is the battery's wear cost per MWh
   (rounded up to the price tick), so a block is accepted only when its value (revenue - wear) is positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.clearing import BUY, SELL, clear_exclusive_group
from griddesk.bidding.curves import CURVE_COLUMNS
from griddesk.bidding.optimiser import (
    InfeasibleScheduleError,
    max_ticks,
    mtu_hours,
    plan_on_soc_grid,
    plan_paths_on_soc_grid,
    schedule_frame,
    soc_grid,
)
from griddesk.bidding.rules import BlockOrderRules, MarketRules

#: Blocks per group when the market allows more (EUPHEMIA's exclusive-group limit, see BLOCK_ORDER_RULES).
DEFAULT_MAX_BLOCKS = 24
#: Columns of :func:`block_steps`: one row per (block, MTU with a non-zero volume).
BLOCK_STEP_COLUMNS = [
    "block_index",
    "mtu_index",
    "side",
    "volume_ticks",
    "volume_mw",
    "price_ticks",
    "limit_price_per_mwh",
]


@dataclass(frozen=True)
class ExclusiveGroup:
    """The blocks of one exclusive group for one market and delivery day.

    Attributes:
        net_ticks: ``n_blocks x n_mtus`` net volume ticks (sell positive, buy negative); row 0 is the point
            forecast's schedule.
        limit_price_ticks: Each block's limit (minimum average margin per MWh traded) in price ticks.
        expected_value: Scenario mean of the best block's value (0 where none is in the money), currency.
        point_value: The point-forecast schedule's value on the point forecast, currency.
        n_scenarios: Scenarios behind the selection (0: the point forecast alone).
        n_candidates: Distinct candidate schedules the blocks were chosen from.
    """

    net_ticks: np.ndarray
    limit_price_ticks: np.ndarray
    expected_value: float
    point_value: float
    n_scenarios: int
    n_candidates: int

    @property
    def n_blocks(self) -> int:
        return int(self.net_ticks.shape[0])

    def net_mw(self, volume_tick_mw: float) -> np.ndarray:
        return self.net_ticks * volume_tick_mw


def joint_error_scenarios(
    point_forecast: np.ndarray,
    mtu_keys: np.ndarray,
    past_days: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Price scenarios ``n_mtus x n_days``: the point forecast plus each past day's whole error path.

    Args:
        point_forecast: The forecast price per MTU of the delivery day.
        mtu_keys: Local time of day of each MTU (e.g. minutes after local midnight).
        past_days: Per past day, its MTUs' keys and errors (realised - forecast). A key the past day lacks (a DST
            day) takes the error of the past day's nearest key; NaN errors are dropped first.

    Raises:
        ValueError: ``mtu_keys`` and ``point_forecast`` differ in length.
    """
    f = np.asarray(point_forecast, dtype=float)
    keys = np.asarray(mtu_keys)
    if keys.shape != f.shape:
        raise ValueError(f"{len(keys)} MTU keys for {len(f)} forecast MTUs")
    columns = []
    for past_keys, errors in past_days:
        past_keys, errors = np.asarray(past_keys, dtype=float), np.asarray(errors, dtype=float)
        ok = np.isfinite(errors)
        if not ok.any():
            continue
        past_keys, errors = past_keys[ok], errors[ok]
        nearest = np.abs(keys.astype(float)[:, None] - past_keys[None, :]).argmin(axis=1)  # first on a repeated key
        columns.append(f + errors[nearest])
    return np.column_stack(columns) if columns else np.zeros((len(f), 0))


#: Work of one scenario's dynamic programme (MTUs x volume choices x SoC levels) above which the scenario candidates
#: are planned on a coarser volume grid. The exact grid of a 4 MWh battery on 96 quarter-hours is 2.4 M (about 20 ms
#: a path, over 1 s for 57 paths); 1 and 2 MWh on 96 MTUs and every battery on 24 MTUs stay exact.
CANDIDATE_DP_BUDGET = 1_500_000


def candidate_tick_multiple(battery: BatteryConfig, mtu_minutes: int, volume_tick_mw: float, n_mtus: int) -> int:
    """The volume-tick multiple the scenario candidates are planned on: 1 (the market's tick) unless one path's DP
    exceeds :data:`CANDIDATE_DP_BUDGET`, then the smallest divisor of the power in ticks that fits (so full power
    stays reachable). A coarser schedule is still whole market ticks and still feasible (the same SoC rules on a
    coarser grid); it may just be a little worse on its own scenario. The point forecast's block is always exact."""
    power_ticks = max_ticks(battery.power_mw, volume_tick_mw)
    for m in (d for d in range(1, power_ticks + 1) if power_ticks % d == 0):
        grid = soc_grid(battery, mtu_minutes, volume_tick_mw * m)
        if grid is None:
            return 1  # no SoC grid at a coarser tick: plan exactly (the slow path is still correct)
        levels = grid.steps_at_most(battery.soc_max_mwh - battery.soc_min_mwh) + 1
        if n_mtus * (2 * (power_ticks // m) + 1) * levels <= CANDIDATE_DP_BUDGET:
            return m
    return power_ticks


def candidate_schedules(
    point_forecast: np.ndarray,
    scenarios: np.ndarray,
    battery: BatteryConfig,
    mtu_minutes: int,
    volume_tick_mw: float,
) -> np.ndarray:
    """Distinct optimal schedules, ``n_candidates x n_mtus`` net ticks; row 0 is the point forecast's.

    Each is the whole-tick optimum of one price path (the point forecast, then each scenario column) with the end
    SoC back at the start, so each is feasible alone; the scenario paths on :func:`candidate_tick_multiple` ticks. Duplicates and all-idle schedules are dropped
    (an idle block earns nothing), except the point forecast's, which stays row 0 even when idle.

    Raises:
        InfeasibleScheduleError: the battery has no schedule at all on the SoC grid (no block can be built).
    """
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    point = np.asarray(point_forecast, dtype=float)
    multiple = candidate_tick_multiple(battery, mtu_minutes, volume_tick_mw, len(point))
    if multiple == 1:
        paths = np.vstack([point[None, :], np.asarray(scenarios, dtype=float).T])
        plans = plan_paths_on_soc_grid(paths, mtu_minutes, battery, volume_tick_mw)
    else:  # the point block exact, the scenario candidates on the coarser grid
        plans = [plan_on_soc_grid(point, mtu_minutes, battery, volume_tick_mw)] + plan_paths_on_soc_grid(
            np.asarray(scenarios, dtype=float).T, mtu_minutes, battery, volume_tick_mw * multiple
        )
    for i, plan in enumerate(plans):
        if plan is None:
            if i == 0:
                raise InfeasibleScheduleError(["no whole-tick schedule on the SoC grid returns to the start SoC"])
            continue
        net = (plan.ticks_discharge - plan.ticks_charge).astype(np.int64) * (multiple if i > 0 else 1)
        key = net.tobytes()
        if i > 0 and (key in seen or not net.any()):
            continue
        seen.add(key)
        rows.append(net)
    return np.vstack(rows)


def block_values(
    net_ticks: np.ndarray, prices: np.ndarray, battery: BatteryConfig, mtu_minutes: int, volume_tick_mw: float
) -> np.ndarray:
    """Value (revenue - wear) of each block under each price path: ``n_blocks x n_paths`` for ``n_mtus x n_paths``
    prices (a 1-d ``prices`` gives one value per block)."""
    dt_h = mtu_hours(mtu_minutes)
    net_mw = np.asarray(net_ticks, dtype=float) * volume_tick_mw
    wear = battery.degradation_cost_per_mwh * np.abs(net_mw).sum(axis=1) * dt_h
    revenue = (net_mw @ np.asarray(prices, dtype=float)) * dt_h
    return revenue - (wear[:, None] if revenue.ndim == 2 else wear)


def select_blocks(values: np.ndarray, k: int, forced: Sequence[int] = (0,)) -> list[int]:
    """Greedy choice of at most ``k`` rows of ``values`` (``n_candidates x n_scenarios``) maximising the mean over
    scenarios of ``max(0, best chosen value)``; ``forced`` rows come first. Stops early when no row adds value.
    Ties go to the lowest row, so the choice is deterministic."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    values = np.asarray(values, dtype=float)
    chosen = list(dict.fromkeys(int(i) for i in forced))[:k]
    best = np.zeros(values.shape[1])
    for i in chosen:
        best = np.maximum(best, values[i])
    while len(chosen) < min(k, values.shape[0]) and values.shape[1]:
        gains = np.maximum(values - best[None, :], 0.0).mean(axis=1)
        gains[chosen] = -np.inf
        i = int(np.argmax(gains))
        if not gains[i] > 0:
            break
        chosen.append(i)
        best = np.maximum(best, values[i])
    return chosen


def block_limit_ticks(battery: BatteryConfig, rules: MarketRules) -> int:
    """A block's limit price in ticks: the wear cost per MWh traded, rounded up to the price tick."""
    return max(0, math.ceil(battery.degradation_cost_per_mwh / rules.price_tick - 1e-9))


def build_exclusive_group(
    point_forecast: np.ndarray,
    scenarios: np.ndarray,
    battery: BatteryConfig,
    rules: MarketRules,
    block_rules: BlockOrderRules,
    max_blocks: int = DEFAULT_MAX_BLOCKS,
) -> ExclusiveGroup:
    """Up to ``min(max_blocks, block_rules.max_blocks_per_group)`` blocks maximising the expected best-of-K value.

    Raises:
        ValueError: the market does not take exclusive groups (naming it and why).
        InfeasibleScheduleError: the battery has no schedule on the SoC grid.
    """
    if not block_rules.usable:
        raise ValueError(f"{block_rules.market_code}: exclusive groups of block orders are {block_rules.status}")
    k = max(1, min(max_blocks, block_rules.max_blocks_per_group))
    scenarios = np.asarray(scenarios, dtype=float).reshape(len(point_forecast), -1)
    tick = rules.volume_tick_mw
    candidates = candidate_schedules(point_forecast, scenarios, battery, rules.mtu_minutes, tick)
    if scenarios.shape[1]:
        values = block_values(candidates, scenarios, battery, rules.mtu_minutes, tick)
        chosen = select_blocks(values, k)
        expected = float(np.maximum(values[chosen].max(axis=0), 0.0).mean())
    else:
        chosen, expected = [0], 0.0
    point_value = float(block_values(candidates[:1], point_forecast, battery, rules.mtu_minutes, tick)[0])
    if not scenarios.shape[1]:
        expected = max(point_value, 0.0)
    net = candidates[chosen]
    limit = block_limit_ticks(battery, rules)
    return ExclusiveGroup(
        net_ticks=net,
        limit_price_ticks=np.full(len(chosen), limit, dtype=np.int64),
        expected_value=expected,
        point_value=point_value,
        n_scenarios=int(scenarios.shape[1]),
        n_candidates=int(candidates.shape[0]),
    )


def block_steps(group: ExclusiveGroup, rules: MarketRules) -> pd.DataFrame:
    """The group as order steps: one row per (block, MTU with a volume), ``BLOCK_STEP_COLUMNS``; each step of a
    block carries the block's limit (the block is accepted or rejected whole)."""
    rows = []
    for b, (net, limit) in enumerate(zip(group.net_ticks, group.limit_price_ticks, strict=True)):
        for t in np.flatnonzero(net):
            side = SELL if net[t] > 0 else BUY
            rows.append(
                (
                    b,
                    int(t),
                    side,
                    int(abs(net[t])),
                    rules.volume_from_ticks(int(abs(net[t]))),
                    int(limit),
                    rules.price_from_ticks(int(limit)),
                )
            )
    return pd.DataFrame(rows, columns=BLOCK_STEP_COLUMNS).astype(
        {"block_index": "int64", "mtu_index": "int64", "volume_ticks": "int64", "price_ticks": "int64"}
    )


def net_ticks_from_steps(steps: pd.DataFrame, n_mtus: int) -> np.ndarray:
    """``n_blocks x n_mtus`` net ticks from :func:`block_steps` rows (blocks numbered 0..n-1)."""
    n_blocks = int(steps["block_index"].max()) + 1 if len(steps) else 0
    net = np.zeros((n_blocks, n_mtus), dtype=np.int64)
    sign = np.where(steps["side"].to_numpy() == SELL, 1, -1)
    np.add.at(net, (steps["block_index"].to_numpy(), steps["mtu_index"].to_numpy()), sign * steps["volume_ticks"])
    return net


def clear_group(group: ExclusiveGroup, prices: np.ndarray, rules: MarketRules) -> tuple[int | None, np.ndarray]:
    """The accepted block at the realised ``prices`` (or None) and the net ticks the battery delivers."""
    limits = group.limit_price_ticks * rules.price_tick
    accepted = clear_exclusive_group(group.net_mw(rules.volume_tick_mw), limits, prices, mtu_hours(rules.mtu_minutes))
    n = group.net_ticks.shape[1]
    return accepted, (group.net_ticks[accepted] if accepted is not None else np.zeros(n, dtype=np.int64))


# --------------------------------------------------------------------------------------------------------------------
# the production path: past error paths in, order steps out, each block's schedule for compliance
# --------------------------------------------------------------------------------------------------------------------

#: Columns of :func:`group_order_steps`: the curve table's (``griddesk.bidding.curves.CURVE_COLUMNS``) plus the block.
GROUP_STEP_COLUMNS = [*CURVE_COLUMNS, "block_index"]


def minute_of_day_keys(delivery_start_utc, tz) -> np.ndarray:
    """Local minute of day (0..1439) of each MTU start: the key :func:`joint_error_scenarios` aligns days by
    (a DST day repeats or skips keys; the nearest key of the other day stands in)."""
    local = pd.DatetimeIndex(pd.to_datetime(delivery_start_utc, utc=True)).tz_convert(tz)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)


def daily_error_paths(
    delivery_start_utc, forecast_per_mwh, realised_per_mwh, tz
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per past local day, oldest first: its MTUs' local minutes of day and errors (realised - forecast), for
    :func:`joint_error_scenarios`. Intervals without a realised price are dropped; a day left empty is skipped.

    Raises:
        ValueError: the three inputs differ in length.
    """
    starts = pd.DatetimeIndex(pd.to_datetime(delivery_start_utc, utc=True))
    forecast = np.asarray(forecast_per_mwh, dtype=float)
    realised = np.asarray(realised_per_mwh, dtype=float)
    if not len(starts) == len(forecast) == len(realised):
        raise ValueError(f"{len(starts)} starts, {len(forecast)} forecasts and {len(realised)} realised prices")
    frame = pd.DataFrame(
        {
            "day": starts.tz_convert(tz).date,
            "key": minute_of_day_keys(starts, tz),
            "error": realised - forecast,
        }
    ).dropna()
    return [(g["key"].to_numpy(), g["error"].to_numpy()) for _, g in frame.sort_values(["day", "key"]).groupby("day")]


def group_order_steps(group: ExclusiveGroup, rules: MarketRules) -> pd.DataFrame:
    """The group as stored order steps (``GROUP_STEP_COLUMNS``): :func:`block_steps` with ``step_index`` =
    ``block_index`` (one step per block and MTU), sorted by MTU then block; none is a price-taker (a block clears
    on its limit), and the acceptance probability is unknown (null)."""
    steps = block_steps(group, rules)
    return (
        steps.assign(step_index=steps["block_index"], is_price_taker=False, acceptance_probability=np.nan)
        .sort_values(["mtu_index", "block_index"], kind="stable")
        .reset_index(drop=True)[GROUP_STEP_COLUMNS]
        .astype({"step_index": "int64", "is_price_taker": "bool", "acceptance_probability": "float64"})
    )


def block_schedule(
    net_ticks: np.ndarray, battery: BatteryConfig, mtu_minutes: int, volume_tick_mw: float
) -> pd.DataFrame:
    """One block's net ticks (sell positive) as a schedule for
    :func:`griddesk.bidding.orders.check_schedule_feasible`: the optimiser's schedule table
    (:func:`griddesk.bidding.optimiser.schedule_frame`, SoC from the battery's start), without prices."""
    net = np.asarray(net_ticks, dtype=np.int64)
    return schedule_frame(np.maximum(-net, 0), np.maximum(net, 0), None, mtu_minutes, battery, volume_tick_mw)


def restrict_to_windows(
    group: ExclusiveGroup, constraints: Sequence, fallback_net_ticks: np.ndarray, volume_tick_mw: float
) -> ExclusiveGroup:
    """The group without the blocks that break a demand-response window (``MtuConstraint``: a charging or
    discharging cap, a mandatory consumption); the candidates are planned without the windows, so this keeps the
    production bid inside them. When the point block breaks one, ``fallback_net_ticks`` (the fixed schedule, which
    the optimiser planned inside the windows) takes row 0, so the group is never empty."""
    net = np.asarray(group.net_ticks, dtype=np.int64)
    keep = np.ones(len(net), dtype=bool)
    for c in constraints:
        idx = [t for t in c.mtu_indices if 0 <= t < net.shape[1]]
        charge, discharge = np.maximum(-net[:, idx], 0), np.maximum(net[:, idx], 0)
        if c.max_charge_mw is not None:
            keep &= (charge <= math.floor(c.max_charge_mw / volume_tick_mw + 1e-9)).all(axis=1)
        if c.max_discharge_mw is not None:
            keep &= (discharge <= math.floor(c.max_discharge_mw / volume_tick_mw + 1e-9)).all(axis=1)
        if c.min_charge_mw > 0:
            keep &= (charge >= math.ceil(c.min_charge_mw / volume_tick_mw - 1e-9)).all(axis=1)
    if keep.all():
        return group
    rows, limits = net[keep], group.limit_price_ticks[keep]
    if not keep[0]:
        rows = np.vstack([np.asarray(fallback_net_ticks, dtype=np.int64), rows])
        limits = np.concatenate([group.limit_price_ticks[:1], limits])
    return replace(group, net_ticks=rows, limit_price_ticks=limits)
