"""The morning ``bid`` task: D's order set from the point forecast, stored with status ``generated``.

The point-forecast schedule (market rules from ``dim_markets``, demand-response windows, end-SoC mode), the order
set of the configured strategy (the schedule's price-taker orders, bid curves, or an exclusive group of block
orders), stored with status ``generated``; an infeasible day falls back to idle (``infeasible_fallback``), names
the conflicting constraints and alerts. In the portfolio's paired market (``GRIDDESK_CONSUMPTION_MARKET``) the
schedule is the joint one of the battery and the portfolio's forecast consumption
(:mod:`griddesk.bidding.paired_market`); without that forecast at the cut-off the battery is bid alone, and the
reason is recorded and alerted. A rerun when D's set is already at the exchange follows the rerun rule
(:func:`griddesk.bidding.submission.keep_submitted_set`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from griddesk.bidding import controls, lifecycle, paired_market, store
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.blocks import (
    build_exclusive_group,
    group_order_steps,
    restrict_to_windows,
)
from griddesk.bidding.curves import (
    build_bid_curves,
    schedule_as_curves,
)
from griddesk.bidding.inputs import (
    block_rules_or_refusal,
    block_scenarios,
    curve_scenarios,
    demand_response,
    end_soc_value,
)
from griddesk.bidding.optimiser import InfeasibleScheduleError, ScheduleMarket, idle_schedule, optimise_schedule
from griddesk.bidding.orders import schedule_to_orders
from griddesk.bidding.portfolio import PortfolioInfeasible, joint_order_steps, optimise_portfolio, position_as_schedule
from griddesk.bidding.rules import (
    BlockOrderRules,
    MarketRules,
    rules_from_dim_markets,
)
from griddesk.bidding.submission import keep_submitted_set
from griddesk.bidding.task_support import ACTOR_BID, TaskContext, alert, battery_config, resolve
from griddesk.clock import RunClock
from griddesk.forecasting import store as forecast_store
from griddesk.markets import Market
from griddesk.settings import Settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)


def order_set_id(market_code: str, delivery_date: date, strategy: str, model_version: str) -> str:
    """``<market>|<day>|<strategy>|<forecast model version>``: a rerun replaces the same set."""
    return f"{market_code}|{delivery_date.isoformat()}|{strategy}|{model_version}"


# --------------------------------------------------------------------------------------------------------------------
# the inputs, as of the cut-off (read by griddesk.bidding.inputs)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidInputs:
    """D's inputs to the bid, read by the cut-off, and the ids of what it stores."""

    forecast: pd.DataFrame
    forecast_prices: np.ndarray  # as forecast
    prices: np.ndarray  # clipped to the price bounds valid on D: what is optimised
    clipped: int  # how many forecast prices were clipped
    rules: MarketRules
    battery: BatteryConfig
    mtu_minutes: int
    value: float | None  # the end-SoC value per MWh (valued mode)
    constraints: list
    dr_note: str | None
    model_version: str
    os_id: str
    schedule_id: str


@dataclass(frozen=True)
class Portfolio:
    """The paired market's portfolio at the cut-off: its forecast consumption per MTU (None: not a joint bid)."""

    paired: bool = False
    consumption: pd.Series | None = None
    n_meters: int = 0
    missing: str | None = None  # why the battery is bid alone in the paired market
    configured_strategy: str = "fixed"


@dataclass(frozen=True)
class Scenarios:
    """The strategy's price scenarios (curves, exclusive group) and where they came from."""

    scenarios: np.ndarray | None = None
    source: str | None = None
    block_rules: BlockOrderRules | None = None
    refusal: str | None = None  # why exclusive_blocks cannot be bid in this market


@dataclass(frozen=True)
class GeneratedSet:
    """What the bid stores: the schedule, the order steps, the status and the audit detail."""

    schedule: pd.DataFrame
    steps: pd.DataFrame
    status: str
    expected_value: float
    solve_ms: float
    detail: dict = field(default_factory=dict)
    infeasible: InfeasibleScheduleError | None = None
    orders_view: pd.DataFrame | None = None  # the legacy orders' schedule when the position is not the battery's

    @property
    def reason(self) -> str:
        return str(self.infeasible or "")


def _read_portfolio(
    conn, market: Market, clock: RunClock, forecast: pd.DataFrame, mtu_minutes: int, strategy: str
) -> Portfolio:
    if not paired_market.is_paired_market(market.code):
        return Portfolio(configured_strategy=strategy)
    consumption, n_meters, missing = paired_market.consumption_at_cutoff(
        conn, market, clock.delivery_date, clock.cutoff(market), forecast["delivery_start_utc"], mtu_minutes
    )
    return Portfolio(True, consumption, n_meters, missing, strategy)


def _read_scenarios(
    conn, market: Market, clock: RunClock, forecast: pd.DataFrame, rules: MarketRules, strategy: str
) -> Scenarios:
    if strategy == "curves":
        return Scenarios(*curve_scenarios(conn, market.code, clock, forecast))
    if strategy == "exclusive_blocks":
        block_rules, refusal = block_rules_or_refusal(market.code)
        if refusal is not None:
            return Scenarios(refusal=refusal)
        point = np.clip(forecast["forecast_price_per_mwh"].to_numpy(dtype=float), *rules.price_bounds)
        return Scenarios(*block_scenarios(conn, market, clock, forecast, point), block_rules=block_rules)
    return Scenarios()


def _inputs(forecast: pd.DataFrame, market: Market, day: date, strategy: str, **read) -> BidInputs:
    """The clipped prices and the ids of D's bid (``read``: rules, battery, mtu_minutes, value, constraints,
    dr_note as read by the cut-off)."""
    forecast_prices = forecast["forecast_price_per_mwh"].to_numpy(dtype=float)
    rules = read["rules"]
    # The auction cannot clear outside the bounds valid on D: a forecast beyond them is taken at the bound.
    prices = np.clip(forecast_prices, *rules.price_bounds)
    clipped = int((prices != forecast_prices).sum())
    if clipped:
        log.warning(
            "%s %s: %d forecast prices outside the bounds %s taken at the bound",
            market.code,
            day,
            clipped,
            rules.price_bounds,
        )
    model_version = str(forecast["model_version"].iloc[0])
    return BidInputs(
        forecast=forecast,
        forecast_prices=forecast_prices,
        prices=prices,
        clipped=clipped,
        model_version=model_version,
        os_id=order_set_id(market.code, day, strategy, model_version),
        schedule_id=f"{market.code}|{day}|{model_version}",
        **read,
    )


# --------------------------------------------------------------------------------------------------------------------
# the task
# --------------------------------------------------------------------------------------------------------------------


def generate_order_set(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_BID,
) -> dict:
    """Optimise the battery on D's forecast and store the schedule, the legacy orders and the order set.

    In the portfolio's paired market the battery and the portfolio's forecast consumption are optimised jointly
    (one fixed schedule whatever the strategy: the curves model the battery alone) and the joint decision per MTU
    is recorded in ``raw.portfolio_bids``; when that forecast is missing at the cut-off the battery is bid alone,
    the reason recorded in the audit trail and emailed (the consumption is then not bought day-ahead).

    Raises:
        LookupError: no forecast for D created before the cut-off.
    """
    settings, bidding, market, url = resolve(market_code, settings, bidding)
    day = clock.delivery_date
    valued = bidding.end_soc_mode == "valued"
    with db.connect(url) as conn:
        forecast = forecast_store.latest_forecast(conn, market.code, day, clock.cutoff(market))
        if forecast.empty:
            raise LookupError(f"no forecast for {market.code} {day} created before the cut-off")
        mtu_minutes = int(forecast["resolution_minutes"].iloc[0])
        rules = rules_from_dim_markets(conn, market.code, day, mtu_minutes)
        battery = battery_config(settings, conn, market.code, day, valued)
        value = end_soc_value(conn, market.code, clock, bidding)
        constraints, dr_note = demand_response(
            conn, market.code, day, forecast["delivery_start_utc"], mtu_minutes, bidding
        )
        portfolio = _read_portfolio(conn, market, clock, forecast, mtu_minutes, bidding.strategy)
        if portfolio.consumption is not None:
            bidding = bidding.model_copy(update={"strategy": "fixed"})  # the joint schedule is a fixed one
        scen = _read_scenarios(conn, market, clock, forecast, rules, bidding.strategy)
    task = TaskContext(url, settings, bidding, market, day, clock.sim_now(market), actor)
    if scen.refusal is not None:
        return _refuse_strategy(task, scen.refusal)
    inputs = _inputs(
        forecast,
        market,
        day,
        bidding.strategy,
        rules=rules,
        battery=battery,
        mtu_minutes=mtu_minutes,
        value=value,
        constraints=constraints,
        dr_note=dr_note,
    )
    if portfolio.consumption is not None:
        return _generate_joint_order_set(task, inputs, portfolio)
    return _generate_battery_order_set(task, inputs, portfolio, scen)


def _refuse_strategy(task: TaskContext, reason: str) -> dict:
    """The configured strategy cannot be bid in this market: nothing is written (no schedule, no order set), the
    reason is logged and alerted, and the task returns it."""
    market, day = task.market, task.day
    log.error("%s %s: %s", market.code, day, reason)
    alert(task.url, "strategy_not_applicable", market.code, day, [reason], task.recipients, None, actor=task.actor)
    return {
        "market": market.code,
        "delivery_date": str(day),
        "order_set_id": None,
        "strategy": task.bidding.strategy,
        "status": "refused",
        "reason": reason,
    }


def _strategy_steps(inputs: BidInputs, scen: Scenarios, bidding, result) -> tuple[pd.DataFrame, float, float, dict]:
    """The steps of the configured strategy beyond the point schedule's: the exclusive group's or the curves'
    (steps, expected value, solve ms, audit detail).

    Raises:
        InfeasibleScheduleError: the strategy found no schedule.
    """
    if scen.block_rules is not None:
        steps, expected_value, solve_ms, block_detail = exclusive_group_steps(
            inputs.prices,
            scen.scenarios,
            inputs.battery,
            inputs.rules,
            scen.block_rules,
            bidding,
            inputs.constraints,
            result,
        )
        return steps, expected_value, solve_ms, {"scenarios": scen.source, **block_detail}
    curves = build_bid_curves(
        scen.scenarios,
        inputs.battery,
        inputs.rules,
        mtu_constraints=inputs.constraints,
        end_soc_value_per_mwh=inputs.value,
    )
    return (
        curves.steps,
        curves.expected_value,
        curves.solve_ms,
        {"scenarios": scen.source, "solved_by": curves.solved_by},
    )


def _battery_set(task: TaskContext, inputs: BidInputs, portfolio: Portfolio, scen: Scenarios) -> GeneratedSet:
    """The battery's order set (the point schedule, then the strategy's steps); idle when infeasible."""
    rules, battery = inputs.rules, inputs.battery
    infeasible: InfeasibleScheduleError | None = None
    try:
        result = optimise_schedule(
            inputs.prices,
            inputs.mtu_minutes,
            battery,
            ScheduleMarket(rules.price_bounds, rules.volume_tick_mw),
            mtu_constraints=inputs.constraints,
            end_soc_value_per_mwh=inputs.value,
            confirm_with_cbc=task.bidding.confirm_with_cbc,
        )
    except InfeasibleScheduleError as exc:
        infeasible = exc
        result = idle_schedule(len(inputs.prices), inputs.mtu_minutes, battery, inputs.prices, rules.volume_tick_mw)
    steps = schedule_as_curves(result.schedule, rules)
    expected_value, solve_ms = result.objective_value, result.solve_ms
    detail = {"forecast_prices_clipped_to_bounds": inputs.clipped} if inputs.clipped else {}
    if inputs.dr_note:
        detail["demand_response_blocked"] = inputs.dr_note
    if portfolio.missing:
        detail["portfolio_forecast_missing"] = portfolio.missing
    if infeasible is None and (scen.block_rules is not None or scen.scenarios is not None):
        try:
            steps, expected_value, solve_ms, extra = _strategy_steps(inputs, scen, task.bidding, result)
            detail = {**detail, **extra}
        except InfeasibleScheduleError as exc:
            infeasible = exc
            steps = steps.iloc[0:0]
    return GeneratedSet(
        schedule=_dated(result.schedule, inputs),
        steps=steps,
        status=_status(infeasible),
        expected_value=expected_value,
        solve_ms=solve_ms,
        detail=detail,
        infeasible=infeasible,
    )


def _status(infeasible) -> str:
    return lifecycle.INFEASIBLE_FALLBACK if infeasible else lifecycle.GENERATED


def _dated(schedule: pd.DataFrame, inputs: BidInputs) -> pd.DataFrame:
    return schedule.assign(
        delivery_start_utc=pd.to_datetime(inputs.forecast["delivery_start_utc"], utc=True).to_numpy(),
        forecast_price_per_mwh=inputs.forecast_prices,  # as forecast; price_per_mwh is what was optimised
    )


def _dated_steps(steps: pd.DataFrame, schedule: pd.DataFrame) -> pd.DataFrame:
    return steps.assign(
        delivery_start_utc=schedule.set_index("mtu_index").loc[steps["mtu_index"], "delivery_start_utc"].to_numpy()
    )


def _generate_battery_order_set(task: TaskContext, inputs: BidInputs, portfolio: Portfolio, scen: Scenarios) -> dict:
    """The battery's order set (any market but a paired one with the portfolio's forecast): store, alert, outcome."""
    market, day = task.market, task.day
    generated = _battery_set(task, inputs, portfolio, scen)
    steps = _dated_steps(generated.steps, generated.schedule)
    generated = replace(generated, steps=steps)
    kept = keep_submitted_set(task, inputs.rules, steps, inputs.mtu_minutes)
    if kept is not None:
        return kept
    store_generated(task, inputs, generated)
    infeasible = generated.infeasible
    if infeasible:
        alert(
            task.url,
            "infeasible_fallback",
            market.code,
            day,
            infeasible.reasons,
            task.recipients,
            inputs.os_id,
            conflicts=" + ".join(infeasible.conflicts) or "-",
        )
    if portfolio.paired:
        _write_portfolio_bid(task, None, inputs.rules, 0, None)  # no stale joint bid behind this set
    if portfolio.missing:
        log.warning("%s %s: %s; the battery is bid alone", market.code, day, portfolio.missing)
        alert(
            task.url, "portfolio_forecast_missing", market.code, day, [portfolio.missing], task.recipients, inputs.os_id
        )
    schedule = generated.schedule
    return bid_outcome(
        task,
        inputs,
        generated,
        int((schedule["action"] != "idle").sum()),
        float(schedule["expected_revenue"].sum()),
        portfolio=f"missing: {portfolio.missing}" if portfolio.missing else None,
    )


def exclusive_group_steps(
    prices, scenarios, battery, rules: MarketRules, block_rules: BlockOrderRules, bidding, constraints, result
) -> tuple[pd.DataFrame, float, float, dict]:
    """The exclusive group's order steps, expected value, solve time (ms) and audit detail.

    Blocks that break a demand-response window are dropped (the fixed schedule stands in for the point block).

    Raises:
        InfeasibleScheduleError: the battery has no schedule on the SoC grid.
    """
    started = time.perf_counter()
    group = build_exclusive_group(prices, scenarios, battery, rules, block_rules, max_blocks=bidding.max_blocks)
    fixed_ticks = np.rint(result.schedule["net_position_mw"].to_numpy(dtype=float) / rules.volume_tick_mw)
    windowed = restrict_to_windows(group, constraints, fixed_ticks.astype(np.int64), rules.volume_tick_mw)
    steps = group_order_steps(windowed, rules)
    solve_ms = (time.perf_counter() - started) * 1000.0
    detail = {
        "blocks": windowed.n_blocks,
        "candidate_schedules": group.n_candidates,
        "max_blocks": min(bidding.max_blocks, block_rules.max_blocks_per_group),
        "point_value": round(group.point_value, 4),
    }
    if windowed.n_blocks != group.n_blocks or not np.array_equal(windowed.net_ticks[0], group.net_ticks[0]):
        detail["blocks_outside_demand_response_windows"] = "dropped (the fixed schedule stands in for the point block)"
    return steps, float(group.expected_value), solve_ms, detail


def bid_outcome(
    task: TaskContext, inputs: BidInputs, generated: GeneratedSet, orders: int, expected_revenue, **extra
) -> dict:
    """What the bid task returns (shown in the Airflow UI as its XCom)."""
    return {
        "market": task.market.code,
        "delivery_date": str(task.day),
        "order_set_id": inputs.os_id,
        "strategy": task.bidding.strategy,
        "status": generated.status,
        "orders": orders,
        "steps": len(generated.steps),
        "expected_revenue": round(float(expected_revenue), 2),
        "solve_ms": round(float(generated.solve_ms), 1),
        "demand_response_windows": [c.name for c in inputs.constraints],
        "demand_response_blocked": inputs.dr_note,
        **extra,
    }


# --------------------------------------------------------------------------------------------------------------------
# the paired market: the joint bid of the battery and the portfolio
# --------------------------------------------------------------------------------------------------------------------


def _joint_detail(inputs: BidInputs, portfolio: Portfolio) -> dict:
    detail = {
        "portfolio": f"joint with the forecast consumption of {portfolio.n_meters} meters",
        "consumption_mwh": round(float(portfolio.consumption.sum()), 4),
    }
    if inputs.clipped:
        detail["forecast_prices_clipped_to_bounds"] = inputs.clipped
    if portfolio.configured_strategy == "curves":
        detail["joint_fixed_schedule"] = paired_market.CURVES_NOT_JOINT
    elif portfolio.configured_strategy == "exclusive_blocks":
        detail["joint_fixed_schedule"] = paired_market.BLOCKS_NOT_JOINT
    if inputs.dr_note:
        detail["demand_response_blocked"] = inputs.dr_note
    if inputs.value is not None:  # nor an end-SoC value: the battery returns to its start
        detail["end_soc"] = "fixed at the start SoC in the joint bid (the valued end SoC models the battery alone)"
    return detail


def _joint_set(task: TaskContext, inputs: BidInputs, portfolio: Portfolio) -> tuple[GeneratedSet, pd.DataFrame | None]:
    """The joint schedule and its steps (idle when infeasible), and the joint decision per MTU (None: infeasible)."""
    rules, battery, mtu_minutes, consumption = inputs.rules, inputs.battery, inputs.mtu_minutes, portfolio.consumption
    detail = _joint_detail(inputs, portfolio)
    infeasible = None
    started = time.perf_counter()
    try:
        joint = optimise_portfolio(
            pd.Series(inputs.prices, index=consumption.index),
            consumption,
            battery,
            mtu_minutes,
            volume_tick_mw=rules.volume_tick_mw,
            mtu_constraints=inputs.constraints,
        )
        schedule = paired_market.joint_schedule(joint, battery, mtu_minutes)
        steps = joint_order_steps(joint, rules, task.bidding.max_order_volume_mw)
        orders_view = position_as_schedule(joint, mtu_minutes)
        expected_value = -float(joint.attrs["objective"])
    except PortfolioInfeasible as exc:
        joint = None
        infeasible = InfeasibleScheduleError(
            [f"joint bid with the portfolio: {exc}"], ["portfolio + battery", *(c.name for c in inputs.constraints)]
        )
        schedule = idle_schedule(len(inputs.prices), mtu_minutes, battery, inputs.prices, rules.volume_tick_mw)
        steps = schedule_as_curves(schedule, rules)
        orders_view, expected_value = None, 0.0
    solve_ms = (time.perf_counter() - started) * 1000.0
    schedule = _dated(schedule, inputs)
    generated = GeneratedSet(
        schedule=schedule,
        steps=_dated_steps(steps, schedule),
        status=_status(infeasible),
        expected_value=expected_value,
        solve_ms=solve_ms,
        detail=detail,
        infeasible=infeasible,
        orders_view=orders_view,
    )
    return generated, joint


def _generate_joint_order_set(task: TaskContext, inputs: BidInputs, portfolio: Portfolio) -> dict:
    """The paired market's order set: the joint schedule of the battery and the portfolio's consumption."""
    generated, joint = _joint_set(task, inputs, portfolio)
    kept = keep_submitted_set(task, inputs.rules, generated.steps, inputs.mtu_minutes)
    if kept is not None:
        return kept
    store_generated(task, inputs, generated)
    _write_portfolio_bid(task, joint, inputs.rules, portfolio.n_meters, inputs.schedule_id)
    infeasible = generated.infeasible
    if infeasible:
        alert(
            task.url,
            "infeasible_fallback",
            task.market.code,
            task.day,
            infeasible.reasons,
            task.recipients,
            inputs.os_id,
            conflicts=" + ".join(infeasible.conflicts),
        )
    decisions = joint["decision"].value_counts().to_dict() if joint is not None else {}
    return bid_outcome(
        task,
        inputs,
        generated,
        int(generated.steps["mtu_index"].nunique()),
        generated.expected_value,
        portfolio=generated.detail["portfolio"],
        decisions=decisions,
    )


def _write_portfolio_bid(task: TaskContext, joint, rules: MarketRules, n_meters, schedule_id) -> None:
    """Record the joint decision per MTU (``raw.portfolio_bids``), or clear D's when the battery was bid alone."""
    with db.connect(task.url) as conn:
        paired_market.record_joint_bid(conn, task.market.code, task.day, joint, rules, n_meters, schedule_id)


# --------------------------------------------------------------------------------------------------------------------
# storing the set
# --------------------------------------------------------------------------------------------------------------------


def store_generated(task: TaskContext, inputs: BidInputs, generated: GeneratedSet) -> None:
    """Store the schedule, its legacy orders (from ``orders_view`` when the market position is not the battery's,
    as in a joint bid), the order set and its steps (a new set: any earlier one of the day is replaced), and the
    audit events."""
    market_code, day, rules, bidding = task.market.code, task.day, inputs.rules, task.bidding
    schedule, steps, os_id = generated.schedule, generated.steps, inputs.os_id
    status = lifecycle.transition(lifecycle.NEW, generated.status)
    rows = schedule.assign(
        schedule_id=inputs.schedule_id,
        market_code=market_code,
        delivery_date_local=day,
        resolution_minutes=inputs.mtu_minutes,
        currency=rules.currency,
        forecast_model_version=inputs.model_version,
        battery_power_mw=inputs.battery.power_mw,
        battery_energy_mwh=inputs.battery.energy_mwh,
    )
    orders = schedule_to_orders(
        schedule if generated.orders_view is None else generated.orders_view,
        volume_tick_mw=rules.volume_tick_mw,
        price_bounds=rules.price_bounds,
    )
    orders = orders.assign(
        delivery_start_utc=schedule.set_index("mtu_index").loc[orders["mtu_index"], "delivery_start_utc"].to_numpy(),
        schedule_id=inputs.schedule_id,
        market_code=market_code,
        delivery_date_local=day,
        currency=rules.currency,
        status="recorded",  # the schedule's orders as generated; the order set below carries the live status
    )
    step_rows = steps.assign(
        order_set_id=os_id,
        market_code=market_code,
        delivery_date_local=day,
        resolution_minutes=inputs.mtu_minutes,
        currency=rules.currency,
    )
    if "block_index" not in step_rows:  # only an exclusive group's steps belong to blocks
        step_rows["block_index"] = None
    order_set = (
        os_id,
        market_code,
        day,
        inputs.schedule_id,
        bidding.strategy,
        bidding.mode,
        status,
        generated.reason,
        inputs.model_version,
        bidding.end_soc_mode,
        inputs.value,
        float(generated.expected_value),
        rules.currency,
        len(steps),
        rules.gate_closure_utc,
        float(generated.solve_ms),
    )
    joint_cols = [c for c in ("consumption_mw", "excess_mw") if c in rows]  # the paired market's joint schedule
    with db.connect(task.url) as conn, conn.cursor() as cur:
        store.replace_day(
            cur,
            market_code,
            day,
            rows[store.SCHEDULE_COLUMNS + joint_cols],
            orders[store.ORDER_COLUMNS] if not orders.empty else orders,
            order_set,
            step_rows[store.STEP_COLUMNS] if len(step_rows) else step_rows,
        )
        _record_generated(conn, task, inputs, generated)


def _record_generated(conn, task: TaskContext, inputs: BidInputs, generated: GeneratedSet) -> None:
    os_id, market_code, day = inputs.os_id, task.market.code, task.day
    controls.record_event(
        conn,
        os_id,
        market_code,
        day,
        "generated",
        task.actor,
        {
            "strategy": task.bidding.strategy,
            "steps": len(generated.steps),
            "expected_value": float(generated.expected_value),
            **generated.detail,
        },
    )
    if generated.infeasible:
        controls.record_event(
            conn,
            os_id,
            market_code,
            day,
            "infeasible_fallback",
            task.actor,
            {"reasons": generated.infeasible.reasons, "conflicts": generated.infeasible.conflicts},
        )
