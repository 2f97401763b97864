"""Bodies of the bidding tasks: generate, check, approve, submit and settle one order set per market and day.

Each function is one unit of I/O around the pure components of :mod:`griddesk.bidding`:

- :func:`generate_order_set` (the morning ``bid`` task): the point-forecast schedule (market rules from
  ``dim_markets``, demand-response windows, end-SoC mode), the order set of the configured strategy (the
  schedule's price-taker orders, or bid curves), stored with status ``generated``; an infeasible day falls back
  to idle, names the conflicting constraints and alerts. In the portfolio's paired market
  (``GRIDDESK_CONSUMPTION_MARKET``) the schedule is the joint one of the battery and the portfolio's forecast
  consumption (:mod:`griddesk.pipeline.portfolio_bidding`); without that forecast at the cut-off the battery is
  bid alone, and the reason is recorded and alerted;
- :func:`check_compliance` (``compliance``): the pre-trade checks; a failure rejects the set with its reasons and
  alerts; a pass makes it ``recorded`` (paper mode), ``pending_approval`` or ``ready``;
- :func:`record_approval` (after the Airflow human-in-the-loop task): ``pending_approval`` -> ``ready`` or
  ``rejected``;
- :func:`submit_order_set` (``submit``): sends a ``ready`` set unless the kill switch is on; never anything else;
- :func:`fetch_executions` (afternoon): the auction results of submitted sets, into ``raw.bid_executions``; for a
  paper-mode set, its shadow executions (cleared by the exchange's rule at the realised prices, never sent).

Every transition is in the audit trail (``raw.bid_audit_events``) with its actor.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg2

from griddesk.bidding import controls, gate
from griddesk.bidding.alerts import send_bidding_alert
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.blocks import (
    build_exclusive_group,
    daily_error_paths,
    group_order_steps,
    joint_error_scenarios,
    minute_of_day_keys,
    restrict_to_windows,
)
from griddesk.bidding.compliance import ComplianceLimits, check_order_set, passed, rejection_reasons
from griddesk.bidding.curves import (
    build_bid_curves,
    scenarios_from_errors,
    scenarios_from_interval,
    schedule_as_curves,
)
from griddesk.bidding.demand_response import (
    parse_windows,
    predict_windows,
    read_control_signals,
    signal_dates,
    to_mtu_constraints,
)
from griddesk.bidding.execution import (
    NotClearedYet,
    OrderApiClient,
    OrderApiError,
    order_payload,
    shadow_results,
    success_rate,
)
from griddesk.bidding.optimiser import InfeasibleScheduleError, idle_schedule, optimise_schedule
from griddesk.bidding.orders import schedule_to_orders
from griddesk.bidding.portfolio import (
    PortfolioInfeasible,
    joint_order_steps,
    optimise_portfolio,
    position_as_schedule,
)
from griddesk.bidding.rules import (
    BlockOrderRules,
    MarketRules,
    block_order_rules,
    exclusive_group_refusal,
    rules_from_dim_markets,
)
from griddesk.clock import RunClock
from griddesk.feeds.api_health import write_call_log
from griddesk.forecasting import store as forecast_store
from griddesk.markets import Market, get_market
from griddesk.pipeline import portfolio_bidding
from griddesk.settings import Settings, get_settings
from griddesk.warehouse import db
from griddesk.warehouse.pit import prices_as_of

log = logging.getLogger(__name__)

ACTOR_BID = "airflow:griddesk_morning.bid"
ACTOR_COMPLIANCE = "airflow:griddesk_morning.compliance"
ACTOR_SUBMIT = "airflow:griddesk_morning.submit"
ACTOR_EXECUTIONS = "airflow:griddesk_afternoon.fetch_executions"
#: Days of past forecasts behind the curve scenarios in production, and the fewest that make them usable.
ERROR_WINDOW_DAYS = 56
MIN_ERROR_DAYS = 7


def order_set_id(market_code: str, delivery_date: date, strategy: str, model_version: str) -> str:
    """``<market>|<day>|<strategy>|<forecast model version>``: a rerun replaces the same set."""
    return f"{market_code}|{delivery_date.isoformat()}|{strategy}|{model_version}"


def _resolve(
    market_code: str, settings: Settings | None, bidding: controls.BiddingSettings | None
) -> tuple[Settings, controls.BiddingSettings, Market, str]:
    """The settings (from the environment unless given), the market and the warehouse URL of a task."""
    settings = settings or get_settings()
    return settings, bidding or controls.get_bidding_settings(), get_market(market_code), db.warehouse_url(settings)


def _recipients(settings: Settings, bidding: controls.BiddingSettings) -> str:
    return bidding.alert_email_to or settings.alert_email_to


def _alert(url: str, kind: str, market: str, day: date, reasons: list[str], to: str, order_set: str | None, **details):
    """Send a bidding alert on its own connection (the sender commits); a mail failure is logged, not raised,
    so it never turns a safe outcome (nothing submitted) into a failed task."""
    conn = psycopg2.connect(url)
    try:
        send_bidding_alert(conn, kind, market, day, reasons, to, order_set, details)
    except Exception:  # noqa: BLE001 - the alert is best effort; the state is already recorded
        log.exception("could not send the %s alert for %s %s", kind, market, day)
    finally:
        conn.close()


def _battery(settings: Settings, conn, market_code: str, delivery_date: date, valued: bool) -> BatteryConfig:
    """The battery; with a valued end SoC it starts where D-1's schedule ended (else at the default 50 %)."""
    battery = BatteryConfig(power_mw=settings.battery_power_mw, energy_mwh=settings.battery_energy_mwh)
    if not valued:
        return battery
    with conn.cursor() as cur:
        cur.execute(
            """select soc_pct from raw.bid_schedules where market_code = %s and delivery_date_local = %s
               order by delivery_start_utc desc limit 1""",
            (market_code, delivery_date - timedelta(days=1)),
        )
        row = cur.fetchone()
    if row is None:
        return battery
    soc = min(max(float(row[0]), battery.soc_min_pct), battery.soc_max_pct)
    return battery.model_copy(update={"initial_soc_pct": soc})


def _end_soc_value(conn, market_code: str, clock: RunClock, bidding: controls.BiddingSettings, battery) -> float | None:
    if bidding.end_soc_mode != "valued":
        return None
    market = get_market(market_code)
    start = market.delivery_day_bounds_utc(clock.delivery_date - timedelta(days=bidding.end_soc_value_window_days))[0]
    end = market.delivery_day_bounds_utc(clock.delivery_date)[0]
    recent = prices_as_of(conn, market.code, start, end, clock.cutoff(market))
    if recent.empty:
        return 0.0
    return (
        float(np.percentile(recent["price_per_mwh"], bidding.end_soc_value_percentile)) * bidding.end_soc_value_factor
    )


def _demand_response(conn, market_code: str, day: date, starts, mtu_minutes: int, bidding) -> tuple[list, str | None]:
    """D's demand-response constraints, and why predicted windows left signal dates out (None: nothing left out).

    Configured windows always apply. Predicted windows do not learn from a TRA signal date whose GX verdict is
    critical (the newest ``griddesk_feeds`` run failed a critical check): bad switching data must not move the
    windows; the other days of the lookback still give them.
    """
    from griddesk.quality.blocking import blocked_feed_days, blocking_reason

    windows = parse_windows(bidding.demand_response_windows)
    note = None
    if bidding.predict_demand_response:
        blocked = blocked_feed_days(conn, "ckw_tra_signals", "tra", signal_dates(day))
        cutoff = get_market(market_code).gate_closure_utc(day)  # as of the cut-off: a rerun bids the same
        windows += predict_windows(read_control_signals(conn, day, cutoff), day, exclude_days=blocked)
        if blocked:
            reason = blocking_reason({("ckw_tra_signals", "tra"): blocked})
            note = f"predicted demand-response windows leave out TRA signal dates {reason}"
            log.warning("%s %s: %s", market_code, day, note)
    return to_mtu_constraints(windows, get_market(market_code), day, list(starts), mtu_minutes), note


def _past_forecast_errors(conn, market: Market, clock: RunClock) -> pd.DataFrame:
    """The last 56 days' production forecasts made by this run's cut-off (the newest per interval) and their
    realised prices as published by the cut-off: ``delivery_start_utc``, ``forecast_price_per_mwh``,
    ``realised_price_per_mwh`` (NaN where none was published), so a rerun sees what the first run saw."""
    cutoff = clock.cutoff(market)
    first = clock.delivery_date - timedelta(days=ERROR_WINDOW_DAYS)
    rows = forecast_store.newest_production_forecasts(conn, market.code, first, clock.delivery_date, cutoff)
    past = pd.DataFrame(rows, columns=["delivery_start_utc", "forecast_price_per_mwh"])
    past["forecast_price_per_mwh"] = past["forecast_price_per_mwh"].astype(float)
    past["realised_price_per_mwh"] = np.nan
    if not past.empty:
        past["delivery_start_utc"] = pd.to_datetime(past["delivery_start_utc"], utc=True)
        start = market.delivery_day_bounds_utc(first)[0]
        end = market.delivery_day_bounds_utc(clock.delivery_date)[0]
        realised = prices_as_of(conn, market.code, start, end, cutoff).set_index("delivery_start_utc")["price_per_mwh"]
        past["realised_price_per_mwh"] = realised.reindex(past["delivery_start_utc"]).to_numpy(dtype=float)
    return past


def _scenarios(conn, market_code: str, clock: RunClock, forecast: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Price scenarios for the curves: the forecast plus past production-forecast errors (same local hour +-1,
    the last 56 days, scored on prices published by the cut-off); the forecast's own interval when fewer than 7
    days are scored."""
    market = get_market(market_code)
    past = _past_forecast_errors(conn, market, clock)
    point = forecast["forecast_price_per_mwh"].to_numpy(dtype=float)
    if not past.empty:
        errors = (past["realised_price_per_mwh"] - past["forecast_price_per_mwh"]).to_numpy()
        local = pd.DatetimeIndex(past["delivery_start_utc"]).tz_convert(market.tz)
        frame = pd.DataFrame({"hour": local.hour, "day": local.date, "error": errors}).dropna()
        if frame["day"].nunique() >= MIN_ERROR_DAYS:
            hours = pd.DatetimeIndex(forecast["delivery_start_utc"]).tz_convert(market.tz).hour
            rows = [frame.loc[frame["hour"].between(h - 1, h + 1), "error"].to_list() for h in hours]
            width = max(len(r) for r in rows)
            matrix = np.array([r + [np.nan] * (width - len(r)) for r in rows], dtype=float)
            return scenarios_from_errors(point, matrix), f"past errors of {frame['day'].nunique()} days"
    lower = forecast["lower_price_per_mwh"].to_numpy(dtype=float)
    upper = forecast["upper_price_per_mwh"].to_numpy(dtype=float)
    width_pct = float(forecast["interval_width_pct"].iloc[0]) if "interval_width_pct" in forecast else 90.0
    return scenarios_from_interval(point, lower, upper, width_pct), "the forecast's own interval"


def _block_scenarios(conn, market: Market, clock: RunClock, forecast: pd.DataFrame, point: np.ndarray
                     ) -> tuple[np.ndarray, str]:  # fmt: skip
    """Scenarios for an exclusive group: ``point`` plus each past day's whole error path (same data as the curves,
    aligned by local minute of day); none (the point schedule alone) when fewer than 7 days are scored."""
    past = _past_forecast_errors(conn, market, clock)
    paths = daily_error_paths(past["delivery_start_utc"], past["forecast_price_per_mwh"],
                              past["realised_price_per_mwh"], market.tz)  # fmt: skip
    if len(paths) < MIN_ERROR_DAYS:
        why = f"the point forecast alone ({len(paths)} scored days, fewer than {MIN_ERROR_DAYS})"
        return np.zeros((len(point), 0)), why
    keys = minute_of_day_keys(forecast["delivery_start_utc"], market.tz)
    return joint_error_scenarios(point, keys, paths), f"whole error paths of {len(paths)} past days"


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
    settings, bidding, market, url = _resolve(market_code, settings, bidding)
    day = clock.delivery_date
    valued = bidding.end_soc_mode == "valued"
    with db.connect(url) as conn:
        forecast = forecast_store.latest_forecast(conn, market.code, day, clock.cutoff(market))
        if forecast.empty:
            raise LookupError(f"no forecast for {market.code} {day} created before the cut-off")
        mtu_minutes = int(forecast["resolution_minutes"].iloc[0])
        rules = rules_from_dim_markets(conn, market.code, day, mtu_minutes)
        battery = _battery(settings, conn, market.code, day, valued)
        value = _end_soc_value(conn, market.code, clock, bidding, battery)
        constraints, dr_note = _demand_response(
            conn, market.code, day, forecast["delivery_start_utc"], mtu_minutes, bidding
        )
        consumption, n_meters, missing_portfolio = None, 0, None
        if portfolio_bidding.is_paired_market(market.code):
            consumption, n_meters, missing_portfolio = portfolio_bidding.consumption_at_cutoff(
                conn, market, day, clock.cutoff(market), forecast["delivery_start_utc"], mtu_minutes
            )
        configured_strategy = bidding.strategy
        if consumption is not None:
            bidding = bidding.model_copy(update={"strategy": "fixed"})  # the joint schedule is a fixed one
        scenarios = block_rules = refusal = None
        if bidding.strategy == "curves":
            scenarios, scenario_source = _scenarios(conn, market.code, clock, forecast)
        if bidding.strategy == "exclusive_blocks":
            block_rules, refusal = _block_rules_or_refusal(market.code)
            if refusal is None:
                point = np.clip(forecast["forecast_price_per_mwh"].to_numpy(dtype=float), *rules.price_bounds)
                scenarios, scenario_source = _block_scenarios(conn, market, clock, forecast, point)
    if bidding.strategy == "exclusive_blocks" and refusal is not None:
        return _refuse_strategy(url, settings, bidding, market, day, refusal, actor)

    forecast_prices = forecast["forecast_price_per_mwh"].to_numpy(dtype=float)
    # The auction cannot clear outside the bounds valid on D: a forecast beyond them is taken at the bound.
    prices = np.clip(forecast_prices, *rules.price_bounds)
    clipped = int((prices != forecast_prices).sum())
    if clipped:
        log.warning("%s %s: %d forecast prices outside the bounds %s taken at the bound", market.code, day, clipped,
                    rules.price_bounds)  # fmt: skip
    model_version = str(forecast["model_version"].iloc[0])
    os_id = order_set_id(market.code, day, bidding.strategy, model_version)
    schedule_id = f"{market.code}|{day}|{model_version}"
    infeasible: InfeasibleScheduleError | None = None
    if consumption is not None:
        return _generate_joint_order_set(
            url, settings, bidding, market, day, forecast, prices, forecast_prices, consumption, n_meters, rules,
            battery, mtu_minutes, os_id, schedule_id, model_version, value, constraints, dr_note, clipped, actor,
            configured_strategy, clock.sim_now(market),
        )  # fmt: skip
    try:
        result = optimise_schedule(
            prices, mtu_minutes, battery, price_bounds=rules.price_bounds, volume_tick_mw=rules.volume_tick_mw,
            mtu_constraints=constraints, end_soc_value_per_mwh=value, confirm_with_cbc=bidding.confirm_with_cbc,
        )  # fmt: skip
    except InfeasibleScheduleError as exc:
        infeasible = exc
        result = idle_schedule(len(prices), mtu_minutes, battery, prices, rules.volume_tick_mw)
    steps = schedule_as_curves(result.schedule, rules)
    expected_value, solve_ms = result.objective_value, result.solve_ms
    detail = {"forecast_prices_clipped_to_bounds": clipped} if clipped else {}
    if dr_note:
        detail["demand_response_blocked"] = dr_note
    if missing_portfolio:
        detail["portfolio_forecast_missing"] = missing_portfolio
    if infeasible is None and block_rules is not None:
        try:
            steps, expected_value, solve_ms, block_detail = _exclusive_group_steps(
                prices, scenarios, battery, rules, block_rules, bidding, constraints, result
            )
            detail = {**detail, "scenarios": scenario_source, **block_detail}
        except InfeasibleScheduleError as exc:
            infeasible = exc
            steps = steps.iloc[0:0]
    elif infeasible is None and scenarios is not None:
        try:
            curves = build_bid_curves(
                scenarios, battery, rules, mtu_constraints=constraints, end_soc_value_per_mwh=value
            )
            steps, expected_value, solve_ms = curves.steps, curves.expected_value, curves.solve_ms
            detail = {**detail, "scenarios": scenario_source, "solved_by": curves.solved_by}
        except InfeasibleScheduleError as exc:
            infeasible = exc
            steps = steps.iloc[0:0]
    status = "infeasible_fallback" if infeasible else "generated"
    reason = str(infeasible) if infeasible else ""

    schedule = result.schedule.assign(
        delivery_start_utc=pd.to_datetime(forecast["delivery_start_utc"], utc=True).to_numpy(),
        forecast_price_per_mwh=forecast_prices,  # as forecast; price_per_mwh is what was optimised
    )
    steps = steps.assign(
        delivery_start_utc=schedule.set_index("mtu_index").loc[steps["mtu_index"], "delivery_start_utc"].to_numpy()
    )
    kept = _keep_submitted_set(url, settings, bidding, market, day, clock.sim_now(market), rules, steps, mtu_minutes,
                               actor)  # fmt: skip
    if kept is not None:
        return kept
    _store(url, market.code, day, schedule, schedule_id, model_version, battery, rules, mtu_minutes, steps, os_id,
           bidding, status, reason, value, expected_value, solve_ms, actor, detail, infeasible)  # fmt: skip
    if infeasible:
        _alert(url, "infeasible_fallback", market.code, day, infeasible.reasons, _recipients(settings, bidding), os_id,
               conflicts=" + ".join(infeasible.conflicts) or "-")  # fmt: skip
    if portfolio_bidding.is_paired_market(market.code):
        _write_portfolio_bid(url, market.code, day, None, rules, 0, None)  # no stale joint bid behind this set
    if missing_portfolio:
        log.warning("%s %s: %s; the battery is bid alone", market.code, day, missing_portfolio)
        _alert(url, "portfolio_forecast_missing", market.code, day, [missing_portfolio], _recipients(settings, bidding),
               os_id)  # fmt: skip
    return _bid_outcome(market.code, day, os_id, bidding.strategy, status, int((schedule["action"] != "idle").sum()),
                        steps, float(schedule["expected_revenue"].sum()), solve_ms, constraints, dr_note,
                        portfolio=f"missing: {missing_portfolio}" if missing_portfolio else None)  # fmt: skip


def _block_rules_or_refusal(market_code: str) -> tuple[BlockOrderRules | None, str | None]:
    """The market's block-order rules, or why ``exclusive_blocks`` cannot be bid there (naming market and rule)."""
    refusal = exclusive_group_refusal(market_code)
    if refusal:
        return None, f"strategy exclusive_blocks refused: {refusal}"
    return block_order_rules(market_code), None


def _refuse_strategy(url, settings, bidding, market: Market, day: date, reason: str, actor: str) -> dict:
    """The configured strategy cannot be bid in this market: nothing is written (no schedule, no order set), the
    reason is logged and alerted, and the task returns it."""
    log.error("%s %s: %s", market.code, day, reason)
    _alert(url, "strategy_not_applicable", market.code, day, [reason], _recipients(settings, bidding), None,
           actor=actor)  # fmt: skip
    return {"market": market.code, "delivery_date": str(day), "order_set_id": None, "strategy": bidding.strategy,
            "status": "refused", "reason": reason}  # fmt: skip


def _exclusive_group_steps(prices, scenarios, battery, rules: MarketRules, block_rules: BlockOrderRules, bidding,
                           constraints, result) -> tuple[pd.DataFrame, float, float, dict]:  # fmt: skip
    """The exclusive group's order steps, expected value, solve time (ms) and audit detail.

    Blocks that break a demand-response window are dropped (the fixed schedule stands in for the point block).

    Raises:
        InfeasibleScheduleError: the battery has no schedule on the SoC grid.
    """
    import time

    started = time.perf_counter()
    group = build_exclusive_group(prices, scenarios, battery, rules, block_rules, max_blocks=bidding.max_blocks)
    fixed_ticks = np.rint(result.schedule["net_position_mw"].to_numpy(dtype=float) / rules.volume_tick_mw)
    windowed = restrict_to_windows(group, constraints, fixed_ticks.astype(np.int64), rules.volume_tick_mw)
    steps = group_order_steps(windowed, rules)
    solve_ms = (time.perf_counter() - started) * 1000.0
    detail = {"blocks": windowed.n_blocks, "candidate_schedules": group.n_candidates,
              "max_blocks": min(bidding.max_blocks, block_rules.max_blocks_per_group),
              "point_value": round(group.point_value, 4)}  # fmt: skip
    if windowed.n_blocks != group.n_blocks or not np.array_equal(windowed.net_ticks[0], group.net_ticks[0]):
        detail["blocks_outside_demand_response_windows"] = "dropped (the fixed schedule stands in for the point block)"
    return steps, float(group.expected_value), solve_ms, detail


#: Statuses of an order set the exchange holds (submitted and not cancelled).
AT_EXCHANGE = ("submitted", "executed")


def _keep_submitted_set(url, settings, bidding, market, day, now, rules: MarketRules, steps: pd.DataFrame,
                        mtu_minutes: int, actor: str) -> dict | None:  # fmt: skip
    """The rerun rule: what to do when D already has an order set at the exchange.

    Returns None when the regenerated set may be stored: there is no set at the exchange, or it differs, gate
    closure is ahead, the kill switch is off, the mode is live and the exchange cancelled the old set
    (cancel-and-replace: the new set then goes through compliance and the submission gate like any other).
    Otherwise the submitted set stays as it is (exchange id, status, steps) and the outcome says why: identical
    (``reused``), or not replaceable (``refused``: gate closure passed, kill switch, paper mode, or the exchange did
    not cancel). Every case is audited; a refusal is logged as a warning.
    """
    with db.connect(url) as conn:
        header, old_steps = _load_order_set(conn, market.code, day)
        if header is None or header["status"] not in AT_EXCHANGE or not header["exchange_order_set_id"]:
            return None
        os_id, exchange_id = header["order_set_id"], header["exchange_order_set_id"]
        old_digest = gate.frame_digest(market.code, old_steps)
        new_digest = gate.frame_digest(market.code, steps, mtu_minutes)
        detail = {"exchange_order_set_id": exchange_id, "submitted_steps_sha256": old_digest,
                  "regenerated_steps_sha256": new_digest}  # fmt: skip
        if old_digest == new_digest:
            controls.record_event(conn, os_id, market.code, day, "rerun_reused", actor, detail)
            log.info("%s %s: the rerun regenerated the submitted order set %s unchanged; kept", market.code, day,
                     exchange_id)  # fmt: skip
            return _kept(market.code, day, header, "reused", "the regenerated set is identical to the submitted one")
        margin = timedelta(minutes=bidding.gate_closure_margin_minutes)
        kill = controls.kill_switch_reason(conn, market.code, bidding)
        if not rules.is_before_gate_closure(now, margin):
            reason = f"gate closure {rules.gate_closure_utc:%Y-%m-%d %H:%M} UTC (less {margin}) has passed"
        elif kill:
            reason = kill
        elif bidding.mode != controls.LIVE:
            reason = "paper mode: the exchange is not touched"
        else:
            reason = None
        if reason is not None:
            return _refuse_rerun(conn, header, detail, reason, actor)
    try:
        with _order_api(settings, bidding, now, url) as client:
            client.cancel(exchange_id)
    except OrderApiError as exc:
        with db.connect(url) as conn:
            out = _refuse_rerun(conn, header, {**detail, "error": str(exc)}, f"the exchange did not cancel: {exc}",
                                actor)  # fmt: skip
        _alert(url, "submission_failed", market.code, day, [out["reason"]], _recipients(settings, bidding), os_id)
        return out
    with db.connect(url) as conn:
        controls.record_event(conn, os_id, market.code, day, "cancelled", actor,
                              {**detail, "reason": "replaced by a rerun before gate closure"})  # fmt: skip
    log.info("%s %s: cancelled %s at the exchange; the rerun's set replaces it", market.code, day, exchange_id)
    return None


def _refuse_rerun(conn, header: dict, detail: dict, reason: str, actor: str) -> dict:
    market_code, day = header["market_code"], header["delivery_date_local"]
    controls.record_event(conn, header["order_set_id"], market_code, day, "rerun_refused", actor,
                          {**detail, "reason": reason})  # fmt: skip
    log.warning("%s %s: the rerun's order set differs from the submitted one (%s), which is kept: %s", market_code,
                day, header["exchange_order_set_id"], reason)  # fmt: skip
    return _kept(market_code, day, header, "refused", reason)


def _kept(market_code: str, day: date, header: dict, rerun: str, reason: str) -> dict:
    return {"market": market_code, "delivery_date": str(day), "order_set_id": header["order_set_id"],
            "status": header["status"], "exchange_order_set_id": header["exchange_order_set_id"], "rerun": rerun,
            "reason": reason}  # fmt: skip


def _bid_outcome(market_code, day, os_id, strategy, status, orders, steps, expected_revenue, solve_ms, constraints,
                 dr_note, **extra) -> dict:  # fmt: skip
    """What the bid task returns (shown in the Airflow UI as its XCom)."""
    return {
        "market": market_code,
        "delivery_date": str(day),
        "order_set_id": os_id,
        "strategy": strategy,
        "status": status,
        "orders": orders,
        "steps": len(steps),
        "expected_revenue": round(float(expected_revenue), 2),
        "solve_ms": round(float(solve_ms), 1),
        "demand_response_windows": [c.name for c in constraints],
        "demand_response_blocked": dr_note,
        **extra,
    }


def _generate_joint_order_set(url, settings, bidding, market, day, forecast, prices, forecast_prices, consumption,
                              n_meters, rules, battery, mtu_minutes, os_id, schedule_id, model_version, value,
                              constraints, dr_note, clipped, actor, configured_strategy, now) -> dict:  # fmt: skip
    """The paired market's order set: the joint schedule of the battery and the portfolio's consumption."""
    import time

    detail = {"portfolio": f"joint with the forecast consumption of {n_meters} meters",
              "consumption_mwh": round(float(consumption.sum()), 4)}  # fmt: skip
    if clipped:
        detail["forecast_prices_clipped_to_bounds"] = clipped
    if configured_strategy == "curves":
        detail["joint_fixed_schedule"] = portfolio_bidding.CURVES_NOT_JOINT
    elif configured_strategy == "exclusive_blocks":
        detail["joint_fixed_schedule"] = portfolio_bidding.BLOCKS_NOT_JOINT
    if dr_note:
        detail["demand_response_blocked"] = dr_note
    if value is not None:  # nor an end-SoC value: the battery returns to its start
        detail["end_soc"] = "fixed at the start SoC in the joint bid (the valued end SoC models the battery alone)"
    infeasible = None
    started = time.perf_counter()
    try:
        joint = optimise_portfolio(pd.Series(prices, index=consumption.index), consumption, battery, mtu_minutes,
                                   volume_tick_mw=rules.volume_tick_mw, mtu_constraints=constraints)  # fmt: skip
        schedule = portfolio_bidding.joint_schedule(joint, battery, mtu_minutes)
        steps = joint_order_steps(joint, rules, bidding.max_order_volume_mw)
        orders_view = position_as_schedule(joint, mtu_minutes)
        expected_value = -float(joint.attrs["objective"])
    except PortfolioInfeasible as exc:
        joint = None
        infeasible = InfeasibleScheduleError([f"joint bid with the portfolio: {exc}"],
                                             ["portfolio + battery", *(c.name for c in constraints)])  # fmt: skip
        schedule = idle_schedule(len(prices), mtu_minutes, battery, prices, rules.volume_tick_mw)
        steps = schedule_as_curves(schedule, rules)
        orders_view, expected_value = None, 0.0
    solve_ms = (time.perf_counter() - started) * 1000.0
    schedule = schedule.assign(
        delivery_start_utc=pd.to_datetime(forecast["delivery_start_utc"], utc=True).to_numpy(),
        forecast_price_per_mwh=forecast_prices,
    )
    steps = steps.assign(
        delivery_start_utc=schedule.set_index("mtu_index").loc[steps["mtu_index"], "delivery_start_utc"].to_numpy()
    )
    status = "infeasible_fallback" if infeasible else "generated"
    kept = _keep_submitted_set(url, settings, bidding, market, day, now, rules, steps, mtu_minutes, actor)
    if kept is not None:
        return kept
    _store(url, market.code, day, schedule, schedule_id, model_version, battery, rules, mtu_minutes, steps, os_id,
           bidding, status, str(infeasible or ""), value, expected_value, solve_ms, actor, detail, infeasible,
           orders_view=orders_view)  # fmt: skip
    _write_portfolio_bid(url, market.code, day, joint, rules, n_meters, schedule_id)
    if infeasible:
        _alert(url, "infeasible_fallback", market.code, day, infeasible.reasons, _recipients(settings, bidding), os_id,
               conflicts=" + ".join(infeasible.conflicts))  # fmt: skip
    decisions = joint["decision"].value_counts().to_dict() if joint is not None else {}
    return _bid_outcome(market.code, day, os_id, bidding.strategy, status, int(steps["mtu_index"].nunique()), steps,
                        expected_value, solve_ms, constraints, dr_note, portfolio=detail["portfolio"],
                        decisions=decisions)  # fmt: skip


def _write_portfolio_bid(url, market_code, day, joint, rules: MarketRules, n_meters, schedule_id) -> None:
    """Record the joint decision per MTU (``raw.portfolio_bids``), or clear D's when the battery was bid alone."""
    from griddesk.consumption import store

    with db.connect(url) as conn:
        if joint is None:
            with conn.cursor() as cur:
                cur.execute("delete from raw.portfolio_bids where market_code = %s and delivery_date_local = %s",
                            (market_code, day))  # fmt: skip
            return
        store.write_portfolio_bid(conn, market_code, day, joint, rules.currency, n_meters, rules.gate_closure_utc,
                                  rules.mtu_minutes, None, schedule_id)  # fmt: skip


def _store(url, market_code, day, schedule, schedule_id, model_version, battery, rules: MarketRules, mtu_minutes,
           steps, os_id, bidding, status, reason, value, expected_value, solve_ms, actor, detail, infeasible,
           orders_view=None):  # fmt: skip
    """Store the schedule, its legacy orders (from ``orders_view`` when the market position is not the battery's,
    as in a joint bid), the order set and its steps, and the audit event."""
    from griddesk.warehouse.frames import insert_frame

    currency = rules.currency
    rows = schedule.assign(
        schedule_id=schedule_id, market_code=market_code, delivery_date_local=day, resolution_minutes=mtu_minutes,
        currency=currency, forecast_model_version=model_version, battery_power_mw=battery.power_mw,
        battery_energy_mwh=battery.energy_mwh,
    )  # fmt: skip
    orders = schedule_to_orders(
        schedule if orders_view is None else orders_view,
        volume_tick_mw=rules.volume_tick_mw, price_bounds=rules.price_bounds,
    )  # fmt: skip
    orders = orders.assign(
        delivery_start_utc=schedule.set_index("mtu_index").loc[orders["mtu_index"], "delivery_start_utc"].to_numpy(),
        schedule_id=schedule_id, market_code=market_code, delivery_date_local=day, currency=currency,
        status="recorded",  # the schedule's orders as generated; the order set below carries the live status
    )  # fmt: skip
    sched_cols = [
        "schedule_id", "market_code", "delivery_date_local", "delivery_start_utc", "mtu_index", "resolution_minutes",
        "action", "decision", "charge_mw", "discharge_mw", "net_position_mw", "soc_mwh", "soc_pct",
        "forecast_price_per_mwh", "currency", "expected_revenue", "forecast_model_version", "battery_power_mw",
        "battery_energy_mwh",
    ]  # fmt: skip
    order_cols = [
        "schedule_id", "market_code", "delivery_date_local", "delivery_start_utc", "side", "volume_mw",
        "limit_price_per_mwh", "currency", "status",
    ]  # fmt: skip
    step_rows = steps.assign(
        order_set_id=os_id, market_code=market_code, delivery_date_local=day, resolution_minutes=mtu_minutes,
        currency=currency,
    )  # fmt: skip
    if "block_index" not in step_rows:  # only an exclusive group's steps belong to blocks
        step_rows["block_index"] = None
    step_cols = [
        "order_set_id", "market_code", "delivery_date_local", "delivery_start_utc", "mtu_index", "resolution_minutes",
        "step_index", "side", "volume_mw", "volume_ticks", "limit_price_per_mwh", "price_ticks", "is_price_taker",
        "acceptance_probability", "currency", "block_index",
    ]  # fmt: skip
    with db.connect(url) as conn, conn.cursor() as cur:
        for table in ("raw.bid_orders", "raw.bid_schedules", "raw.bid_order_sets"):
            cur.execute(f"delete from {table} where market_code=%s and delivery_date_local=%s", (market_code, day))
        joint_cols = [c for c in ("consumption_mw", "excess_mw") if c in rows]  # the paired market's joint schedule
        insert_frame(cur, "raw.bid_schedules", rows[sched_cols + joint_cols])
        if not orders.empty:
            insert_frame(cur, "raw.bid_orders", orders[order_cols])
        cur.execute(
            """insert into raw.bid_order_sets
                   (order_set_id, market_code, delivery_date_local, schedule_id, strategy, trading_mode, status,
                    status_reason, forecast_model_version, end_soc_mode, end_soc_value_per_mwh, expected_value,
                    currency, n_steps, gate_closure_utc, solve_ms)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                os_id, market_code, day, schedule_id, bidding.strategy, bidding.mode, status, reason, model_version,
                bidding.end_soc_mode, value, float(expected_value), currency, len(steps), rules.gate_closure_utc,
                float(solve_ms),
            ),
        )  # fmt: skip
        if len(step_rows):
            insert_frame(cur, "raw.bid_order_steps", step_rows[step_cols])
        controls.record_event(
            conn, os_id, market_code, day, "generated", actor,
            {"strategy": bidding.strategy, "steps": len(steps), "expected_value": float(expected_value), **detail},
        )  # fmt: skip
        if infeasible:
            controls.record_event(
                conn, os_id, market_code, day, "infeasible_fallback", actor,
                {"reasons": infeasible.reasons, "conflicts": infeasible.conflicts},
            )  # fmt: skip


def _load_order_set(conn, market_code: str, day: date) -> tuple[dict | None, pd.DataFrame]:
    return gate.load_order_set(conn, market_code, day)


def check_compliance(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_COMPLIANCE,
) -> dict:
    """Run the pre-trade checks on D's order set as of the run's clock; record, move its status, alert on failure."""
    settings, bidding, market, url = _resolve(market_code, settings, bidding)
    day = clock.delivery_date
    with db.connect(url) as conn:
        header, steps = _load_order_set(conn, market.code, day)
        if header is None:
            return {"market": market.code, "delivery_date": str(day), "status": "no order set"}
        if header["status"] != "generated":
            return {"market": market.code, "delivery_date": str(day), "status": header["status"], "checked": False}
        rules = rules_from_dim_markets(conn, market.code, day, int(steps["resolution_minutes"].iloc[0]) if len(steps)
                                       else None)  # fmt: skip
        with conn.cursor() as cur:
            cur.execute("select count(*) from raw.bid_schedules where schedule_id = %s", (header["schedule_id"],))
            n_mtus = int(cur.fetchone()[0])
        valued = header["end_soc_mode"] == "valued"
        battery = _battery(settings, conn, market.code, day, valued)
        limits = ComplianceLimits(
            max_order_volume_mw=bidding.max_order_volume_mw,
            max_position_mw=bidding.max_position_mw,
            gate_closure_margin=timedelta(minutes=bidding.gate_closure_margin_minutes),
        )
        # a joint order set (the portfolio's paired market) buys the forecast consumption too
        consumption_mw = portfolio_bidding.consumption_mw_of_schedule(conn, header["schedule_id"])
        results = check_order_set(
            steps, battery, rules, n_mtus, clock.sim_now(market), limits,
            end_soc_fixed=not valued or consumption_mw is not None, consumption_mw=consumption_mw,
        )  # fmt: skip
        ok = passed(results)
        # the hash of exactly the steps checked: the submission gate sends nothing else
        digest = gate.frame_digest(market.code, steps)
        with conn.cursor() as cur:
            cur.execute("delete from raw.bid_compliance_results where order_set_id = %s", (header["order_set_id"],))
            for r in results:
                cur.execute(
                    """insert into raw.bid_compliance_results (order_set_id, check_name, passed, reason, steps_sha256)
                       values (%s, %s, %s, %s, %s)""",
                    (header["order_set_id"], r.name, r.passed, r.reason, digest),
                )
        os_id = header["order_set_id"]
        if not ok:
            reasons = rejection_reasons(results)
            controls.set_status(conn, os_id, "compliance_rejected", "; ".join(reasons))
            controls.record_event(conn, os_id, market.code, day, "compliance_rejected", actor, {"reasons": reasons})
            status = "compliance_rejected"
        else:
            controls.record_event(conn, os_id, market.code, day, "compliance_passed", actor, {"steps_sha256": digest})
            if bidding.mode == controls.PAPER:
                status = "recorded"
                controls.record_event(conn, os_id, market.code, day, "recorded_paper", actor)
            elif bidding.require_approval:
                status = "pending_approval"
                controls.record_event(conn, os_id, market.code, day, "approval_requested", actor)
            else:
                status = "ready"
            controls.set_status(conn, os_id, status, "")
    if not ok:
        _alert(url, "compliance_rejected", market.code, day, reasons, _recipients(settings, bidding), os_id,
               mode=bidding.mode)  # fmt: skip
    return {"market": market.code, "delivery_date": str(day), "order_set_id": os_id, "status": status, "passed": ok}


def pending_approvals(market_codes: list[str], delivery_date: date, settings: Settings | None = None) -> list[str]:
    """Order sets of these markets for D waiting for a person."""
    settings = settings or get_settings()
    with db.connect(db.warehouse_url(settings)) as conn, conn.cursor() as cur:
        cur.execute(
            """select order_set_id from raw.bid_order_sets
               where market_code = any(%s) and delivery_date_local = %s and status = 'pending_approval'
               order by order_set_id""",
            ([m.upper() for m in market_codes], delivery_date),
        )
        return [r[0] for r in cur.fetchall()]


def apply_approval_answer(market_codes: list[str], delivery_date: date, answer: dict | None) -> dict | None:
    """Apply the morning DAG's HITL answer to D's pending order sets; None when no approval was asked."""
    decision = controls.approval_from_answer(answer)
    if decision is None:
        return None
    approved, approver = decision
    return record_approval(pending_approvals(market_codes, delivery_date), approved=approved, approver=approver)


def record_approval(
    order_set_ids: list[str],
    approved: bool,
    approver: str | None,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
) -> dict:
    """Apply a person's decision to pending order sets: ``ready`` when approved, else ``rejected`` (alerted).

    ``approver`` None means nobody answered in time: the sets are rejected as expired.
    """
    settings = settings or get_settings()
    bidding = bidding or controls.get_bidding_settings()
    url = db.warehouse_url(settings)
    actor = f"airflow-user:{approver}" if approver else "airflow:approval-timeout"
    changed = []
    with db.connect(url) as conn:
        for os_id in order_set_ids:
            header_sql = "select market_code, delivery_date_local, status from raw.bid_order_sets where order_set_id=%s"
            with conn.cursor() as cur:
                cur.execute(header_sql, (os_id,))
                row = cur.fetchone()
            if row is None or row[2] != "pending_approval":
                continue
            market_code, day, _ = row
            if approved:
                controls.set_status(conn, os_id, "ready", f"approved by {approver}")
                controls.record_event(conn, os_id, market_code, day, "approved", actor)
            else:
                reason = f"rejected by {approver}" if approver else "approval expired"
                controls.set_status(conn, os_id, "rejected", reason)
                controls.record_event(conn, os_id, market_code, day, "rejected", actor, {"reason": reason})
            changed.append((os_id, market_code, day))
    if not approved:
        for os_id, market_code, day in changed:
            _alert(url, "approval_rejected", market_code, day, [f"{actor} did not approve"],
                   _recipients(settings, bidding), os_id)  # fmt: skip
    return {"approved": approved, "approver": approver, "order_sets": [c[0] for c in changed]}


def _client(settings: Settings, bidding: controls.BiddingSettings, sim_now) -> OrderApiClient:
    return OrderApiClient(
        base_url=bidding.order_api_url or settings.simulator_url,
        token=bidding.order_api_token,
        sim_now=sim_now,
        timeout_s=bidding.http_timeout_s,
        max_attempts=bidding.http_max_attempts,
    )


@contextmanager
def _order_api(settings: Settings, bidding: controls.BiddingSettings, sim_now, url: str):
    """The order API client; every attempt it made is written to ``raw.api_call_log`` afterwards, whatever happened."""
    client = _client(settings, bidding, sim_now)
    try:
        yield client
    finally:
        with db.connect(url) as conn:
            write_call_log(conn, client.call_log)


#: What a refusal of the submission gate does to an order set on the exchange path: (status, audit event, alert).
_REFUSALS = {
    "compliance_failed": ("compliance_rejected", "submission_refused", "compliance_rejected"),
    "steps_changed": ("compliance_rejected", "submission_refused", "steps_changed"),
    "not_approved": ("rejected", "submission_refused", "approval_rejected"),
    "kill_switch": ("blocked", "submission_blocked", "submission_blocked"),
    "paper_mode": ("recorded", "recorded_paper", None),
}


def _record_refusal(conn, header: dict, decision: gate.GateDecision, actor: str) -> tuple[str, str | None] | None:
    """Move a refused order set to its status and audit why; None when nothing changes (no eligible set)."""
    if decision.outcome not in _REFUSALS:
        return None
    status, event, alert_kind = _REFUSALS[decision.outcome]
    os_id = header["order_set_id"]
    controls.set_status(conn, os_id, status, decision.reason)
    controls.record_event(conn, os_id, header["market_code"], header["delivery_date_local"], event, actor,
                          {"target": decision.target, "check": decision.outcome, "reason": decision.reason})  # fmt: skip
    return status, alert_kind


def _client_key(conn, order_set_id: str) -> str:
    """The order API's idempotency key of an order set: its id, then ``<id>|r<n>`` after ``n`` cancellations, so a
    replacement of a cancelled set is a new submission while a retried one stays idempotent."""
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from raw.bid_audit_events where order_set_id = %s and event = 'cancelled'",
            (order_set_id,),
        )
        n = int(cur.fetchone()[0])
    return order_set_id if n == 0 else f"{order_set_id}|r{n}"


def submit_order_set(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_SUBMIT,
) -> dict:
    """Send D's order set if, and only if, the submission gate allows it (:mod:`griddesk.bidding.gate`: ``ready``,
    every compliance check passed on exactly these steps, approved where required, kill switch off, live mode);
    record the outcome and alert on failures and refusals."""
    settings, bidding, market, url = _resolve(market_code, settings, bidding)
    day = clock.delivery_date
    out = {"market": market.code, "delivery_date": str(day)}
    with db.connect(url) as conn:
        header, steps = _load_order_set(conn, market.code, day)
        if header is None:
            return {**out, "status": "no order set", "submitted": False}
        os_id = header["order_set_id"]
        out["order_set_id"] = os_id
        mtu_minutes = int(steps["resolution_minutes"].iloc[0]) if len(steps) else market.mtu_minutes
        payload = order_payload(market.code, day, _client_key(conn, os_id), steps, mtu_minutes)
        decision = gate.submission_gate(conn, header, gate.EXCHANGE, market.code, payload["orders"], bidding)
        if not decision.allowed:
            refused = _record_refusal(conn, header, decision, actor)
    if not decision.allowed:
        if refused is None:
            return {**out, "status": header["status"], "submitted": False}
        status, alert_kind = refused
        if alert_kind:
            _alert(url, alert_kind, market.code, day, [decision.reason], _recipients(settings, bidding), os_id,
                   refused_by="submission gate", check=decision.outcome)  # fmt: skip
        return {**out, "status": status, "submitted": False, "reason": decision.reason}

    now = clock.sim_now(market)
    try:
        with _order_api(settings, bidding, now, url) as client:
            receipt = gate.send_to_exchange(client, payload, decision)
    except OrderApiError as exc:
        kind = "order_rejected" if exc.kind == "rejected" else "submission_failed"
        detail = exc.detail if isinstance(exc.detail, list) else [str(exc)]
        with db.connect(url) as conn:
            controls.set_status(conn, os_id, "submission_failed", str(exc))
            controls.record_event(
                conn, os_id, market.code, day, "submission_failed", actor,
                {"kind": exc.kind, "status_code": exc.status_code, "detail": exc.detail},
            )  # fmt: skip
        _alert(url, kind, market.code, day, [str(d) for d in detail], _recipients(settings, bidding), os_id,
               http_status=exc.status_code or "-")  # fmt: skip
        return {**out, "status": "submission_failed", "submitted": False, "error": str(exc)}
    with db.connect(url) as conn:
        controls.set_status(conn, os_id, "submitted", f"exchange id {receipt.exchange_order_set_id}")
        with conn.cursor() as cur:
            cur.execute(
                "update raw.bid_order_sets set exchange_order_set_id = %s where order_set_id = %s",
                (receipt.exchange_order_set_id, os_id),
            )
            cur.execute(
                "update raw.bid_orders set status = 'submitted' where market_code = %s and delivery_date_local = %s",
                (market.code, day),
            )
        controls.record_event(
            conn, os_id, market.code, day, "submitted", actor,
            {"exchange_order_set_id": receipt.exchange_order_set_id, "steps": len(steps),
             "client_order_set_id": payload["client_order_set_id"], "steps_sha256": decision.digest},
        )  # fmt: skip
    return {**out, "status": "submitted", "submitted": True, "exchange_order_set_id": receipt.exchange_order_set_id}


def cancel_order_set(
    market_code: str, clock: RunClock, actor: str, settings: Settings | None = None, bidding=None
) -> dict:
    """Withdraw D's submitted order set before gate closure (a trader's action); recorded in the audit trail.

    Raises:
        OrderApiError: the exchange refused (e.g. after gate closure) or failed.
    """
    settings, bidding, market, url = _resolve(market_code, settings, bidding)
    with db.connect(url) as conn:
        header, _ = _load_order_set(conn, market.code, clock.delivery_date)
    if header is None or header["status"] != "submitted":
        return {"market": market.code, "status": header["status"] if header else "no order set", "cancelled": False}
    with _order_api(settings, bidding, clock.sim_now(market), url) as client:
        client.cancel(header["exchange_order_set_id"])
    with db.connect(url) as conn:
        controls.set_status(conn, header["order_set_id"], "cancelled", f"cancelled by {actor}")
        controls.record_event(conn, header["order_set_id"], market.code, clock.delivery_date, "cancelled", actor)
    return {"market": market.code, "status": "cancelled", "cancelled": True}


EXECUTION_COLUMNS = [
    "order_set_id", "exchange_order_set_id", "market_code", "delivery_date_local", "delivery_start_utc",
    "step_index", "side", "volume_mw", "limit_price_per_mwh", "clearing_price_per_mwh", "is_accepted",
    "accepted_volume_mw", "resolution_minutes", "currency", "block_index",
]  # fmt: skip

#: The realised price of each interval: the first version published by the run's clock (what the auction cleared
#: at; a later correction does not re-clear an auction).
_REALISED_PRICES_SQL = """
select distinct on (delivery_start_utc) delivery_start_utc, resolution_minutes, price_per_mwh
from raw.entsoe_day_ahead_prices
where market_code = %s and delivery_date_local = %s and published_at_utc <= %s
order by delivery_start_utc, version
"""


def _execution_rows(results: pd.DataFrame, header: dict, steps: pd.DataFrame, market: Market, day: date):
    """The exchange's (or the shadow clearing's) per-order results as ``raw.bid_executions`` rows."""
    mtu_minutes = int(steps["resolution_minutes"].iloc[0]) if len(steps) else market.mtu_minutes
    blocks = results["block_index"] if "block_index" in results else [None] * len(results)
    return results.rename(columns={"accepted": "is_accepted"}).assign(
        order_set_id=header["order_set_id"], exchange_order_set_id=header["exchange_order_set_id"],
        market_code=market.code, delivery_date_local=day, resolution_minutes=mtu_minutes, currency=header["currency"],
        block_index=[None if pd.isna(b) else int(b) for b in blocks],  # plain ints for the driver
    )  # fmt: skip


def _replace_executions(cur, order_set_id: str, rows: pd.DataFrame) -> None:
    """Replace the set's execution rows in the caller's transaction (a refetch or rerun never adds rows)."""
    from griddesk.warehouse.frames import insert_frame

    cur.execute("delete from raw.bid_executions where order_set_id = %s", (order_set_id,))
    if len(rows):
        insert_frame(cur, "raw.bid_executions", rows[EXECUTION_COLUMNS])


def _record_shadow_executions(url, market, day, clock: RunClock, header, steps, actor, out) -> dict:
    """Paper mode: clear the recorded (never sent) set by the exchange's rule at the realised prices, as shadow
    executions in ``raw.bid_executions`` (no exchange id). Nothing is sent; the set stays ``recorded``."""

    os_id = header["order_set_id"]
    with db.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_REALISED_PRICES_SQL, (market.code, day, clock.sim_now(market)))
        prices = pd.DataFrame(cur.fetchall(), columns=["delivery_start_utc", "resolution_minutes", "price_per_mwh"])
    if prices.empty:
        return {**out, "status": "awaiting_prices", "executions": 0, "order_set_id": os_id}
    try:
        results = shadow_results(steps, prices)
    except ValueError as exc:  # an incomplete price day: record nothing rather than part of a day
        return {**out, "status": "awaiting_prices", "executions": 0, "order_set_id": os_id, "detail": str(exc)}
    rows = _execution_rows(results, header, steps, market, day)  # a paper set has no exchange id
    with db.connect(url) as conn, conn.cursor() as cur:
        _replace_executions(cur, os_id, rows)
        controls.record_event(conn, os_id, market.code, day, "shadow_executed", actor,
                              {"steps": len(rows), "accepted": int(rows["is_accepted"].sum()) if len(rows) else 0})  # fmt: skip
    return {**out, "status": "shadow_executed", "executions": len(rows), "success_rate_pct": success_rate(rows)}


def fetch_executions(
    market_code: str,
    clock: RunClock,
    settings: Settings | None = None,
    bidding: controls.BiddingSettings | None = None,
    actor: str = ACTOR_EXECUTIONS,
) -> dict:
    """Fetch the auction results of D's submitted order set into ``raw.bid_executions`` (afternoon run)."""

    settings, bidding, market, url = _resolve(market_code, settings, bidding)
    day = clock.delivery_date
    out = {"market": market.code, "delivery_date": str(day)}
    with db.connect(url) as conn:
        header, steps = _load_order_set(conn, market.code, day)
    if header is not None and header["status"] == "recorded" and header["trading_mode"] == "paper":
        return _record_shadow_executions(url, market, day, clock, header, steps, actor, out)
    if header is None or header["status"] not in ("submitted", "executed"):
        return {**out, "status": header["status"] if header else "no order set", "executions": 0}
    os_id = header["order_set_id"]
    try:
        with _order_api(settings, bidding, clock.sim_now(market), url) as client:
            results = client.results(header["exchange_order_set_id"])
    except NotClearedYet as exc:
        return {**out, "status": "awaiting_results", "executions": 0, "detail": str(exc)}
    except OrderApiError as exc:
        with db.connect(url) as conn:
            controls.record_event(conn, os_id, market.code, day, "submission_failed", actor,
                                  {"phase": "fetch_executions", "error": str(exc)})  # fmt: skip
        _alert(url, "execution_fetch_failed", market.code, day, [str(exc)], _recipients(settings, bidding), os_id)
        return {**out, "status": "fetch_failed", "executions": 0, "error": str(exc)}
    rows = _execution_rows(results, header, steps, market, day)
    with db.connect(url) as conn, conn.cursor() as cur:
        _replace_executions(cur, os_id, rows)
        if header["status"] != "executed":
            controls.set_status(conn, os_id, "executed", "")
            controls.record_event(conn, os_id, market.code, day, "executed", actor,
                                  {"steps": len(rows), "accepted": int(rows["is_accepted"].sum()) if len(rows) else 0})  # fmt: skip
    return {**out, "status": "executed", "executions": len(rows), "success_rate_pct": success_rate(rows)}
