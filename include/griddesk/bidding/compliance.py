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
  the part of the forecast consumption that is not bought).

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
from griddesk.bidding.rules import MarketRules

CHECKS = ("volume_limit", "position_limit", "price_bounds", "gate_closure", "soc_feasibility")
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
    load_mw = None
    if consumption_mw is not None:
        load_mw = np.asarray(consumption_mw, dtype=float)
        if len(load_mw) != n_mtus or not np.isfinite(load_mw).all() or (load_mw < 0).any():
            raise ValueError(f"consumption_mw must have {n_mtus} finite non-negative values (one per MTU)")
    results = []

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
    results.append(CheckResult("volume_limit", not problems, _summary(problems)))

    cap = min(limits.max_position_mw or battery.power_mw, battery.power_mw)
    problems = []
    if len(steps):
        by_side = steps.groupby(["mtu_index", "side"])["volume_mw"].sum()
        for (mtu, side), total in by_side.items():
            limit, what = cap, "position limit"
            if load_mw is not None and side == BUY and 0 <= mtu < n_mtus:
                limit = cap + load_mw[mtu] + rules.volume_tick_mw
                what = f"position limit plus the forecast consumption {load_mw[mtu]:.4f} MW and one tick"
            if side not in (BUY, SELL):
                problems.append(f"MTU {mtu}: unknown side {side!r}")
            elif total > limit + 1e-9:
                problems.append(f"MTU {mtu}: {side} steps add up to {total:g} MW, above the {limit:g} MW {what}")
    results.append(CheckResult("position_limit", not problems, _summary(problems)))

    problems = []
    for row in steps.itertuples(index=False):
        where = f"MTU {row.mtu_index} step {row.step_index}"
        try:
            rules.price_ticks(float(row.limit_price_per_mwh))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
        if not rules.min_price_per_mwh <= row.limit_price_per_mwh <= rules.max_price_per_mwh:
            problems.append(
                f"{where}: limit {row.limit_price_per_mwh:g} outside the bounds [{rules.min_price_per_mwh:g}, "
                f"{rules.max_price_per_mwh:g}] valid on {rules.delivery_date}"
            )
    results.append(CheckResult("price_bounds", not problems, _summary(problems)))

    on_time = rules.is_before_gate_closure(now_utc, limits.gate_closure_margin)
    reason = "" if on_time else (
        f"sent at {now_utc:%Y-%m-%d %H:%M} UTC, not {limits.gate_closure_margin} before gate closure "
        f"{rules.gate_closure_utc:%Y-%m-%d %H:%M} UTC"
    )  # fmt: skip
    results.append(CheckResult("gate_closure", on_time, reason))

    if load_mw is None:
        problems = check_curves_feasible(steps, battery, n_mtus, rules.mtu_minutes, rules, end_soc_fixed=end_soc_fixed)
    else:
        problems = check_joint_steps_feasible(steps, battery, load_mw, rules, end_soc_fixed=end_soc_fixed)
    results.append(CheckResult("soc_feasibility", not problems, _summary(problems)))
    return results


def passed(results: list[CheckResult]) -> bool:
    """Whether every check passed."""
    return all(r.passed for r in results)


def rejection_reasons(results: list[CheckResult]) -> list[str]:
    """``"<check>: <reason>"`` for every failed check."""
    return [f"{r.name}: {r.reason}" for r in results if not r.passed]
