"""Pre-trade compliance (every check rejects with a reason), the bidding alert emails, and the control settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk.bidding import BatteryConfig, optimise_schedule
from griddesk.bidding.alerts import bidding_alert_key, render_bidding_alert
from griddesk.bidding.compliance import CHECKS, ComplianceLimits, check_order_set, passed, rejection_reasons
from griddesk.bidding.controls import BiddingSettings
from griddesk.bidding.curves import build_bid_curves, curve_frame, schedule_as_curves
from griddesk.bidding.portfolio import joint_order_steps, optimise_portfolio
from griddesk.bidding.rules import market_rules

DAY = date(2017, 3, 1)
RULES = market_rules("DE", DAY)
BEFORE_GATE = RULES.gate_closure_utc - timedelta(hours=1)


@pytest.fixture(scope="module")
def fixed_steps() -> pd.DataFrame:
    prices = 40 + 20 * np.sin(np.arange(24) / 24 * 4 * np.pi)
    return schedule_as_curves(optimise_schedule(np.round(prices, 2), 60, BatteryConfig()).schedule, RULES)


def _failed(results) -> dict[str, str]:
    return {r.name: r.reason for r in results if not r.passed}


def test_a_compliant_fixed_schedule_passes_every_check(fixed_steps):
    results = check_order_set(fixed_steps, BatteryConfig(), RULES, 24, BEFORE_GATE)
    assert [r.name for r in results] == list(CHECKS) and passed(results), _failed(results)


def test_robust_curves_pass_the_soc_check():
    curves = build_bid_curves(
        40 + np.random.default_rng(0).normal(0, 15, (24, 40)), BatteryConfig(), RULES, end_soc_value_per_mwh=35.0
    )
    results = check_order_set(curves.steps, BatteryConfig(), RULES, 24, BEFORE_GATE, end_soc_fixed=False)
    assert passed(results), _failed(results)


def test_an_order_above_the_volume_limit_is_rejected_with_its_mtu(fixed_steps):
    results = check_order_set(fixed_steps, BatteryConfig(), RULES, 24, BEFORE_GATE, ComplianceLimits(0.5))
    failed = _failed(results)
    assert set(failed) == {"volume_limit"} and "above the 0.5 MW limit per order" in failed["volume_limit"]
    assert rejection_reasons(results)[0].startswith("volume_limit: MTU ")


def test_a_position_above_the_limit_is_rejected(fixed_steps):
    results = check_order_set(fixed_steps, BatteryConfig(), RULES, 24, BEFORE_GATE, ComplianceLimits(1.0, 0.4))
    assert "above the 0.4 MW position limit" in _failed(results)["position_limit"]


def test_a_limit_outside_the_price_bounds_or_off_the_grid_is_rejected(fixed_steps):
    bad = fixed_steps.copy()
    bad.loc[0, "limit_price_per_mwh"] = 3500.0
    bad.loc[1, "limit_price_per_mwh"] = 12.345
    reason = _failed(check_order_set(bad, BatteryConfig(), RULES, 24, BEFORE_GATE))["price_bounds"]
    assert "outside the bounds [-500, 3000]" in reason and "not a whole number of 0.01 ticks" in reason


def test_an_order_set_after_gate_closure_is_rejected(fixed_steps):
    late = RULES.gate_closure_utc - timedelta(minutes=2)  # inside the 5-minute margin
    reason = _failed(check_order_set(fixed_steps, BatteryConfig(), RULES, 24, late))["gate_closure"]
    assert "before gate closure 2017-02-28 11:00 UTC" in reason


def test_an_infeasible_combination_is_rejected_by_the_soc_check(fixed_steps):
    # Two extra firm buys at night push the SoC over the top whatever clears.
    extra = curve_frame(
        [(1, "buy", 10, RULES.max_price_ticks, True, 1.0), (2, "buy", 10, RULES.max_price_ticks, True, 1.0)], RULES
    )
    steps = pd.concat([fixed_steps[~fixed_steps["mtu_index"].isin([1, 2])], extra], ignore_index=True)
    reason = _failed(check_order_set(steps, BatteryConfig(), RULES, 24, BEFORE_GATE))["soc_feasibility"]
    assert "above soc_max" in reason or "outside its band" in reason


def test_every_failed_check_is_reported_not_only_the_first(fixed_steps):
    bad = fixed_steps.copy()
    bad.loc[0, "limit_price_per_mwh"] = 9999.0
    results = check_order_set(bad, BatteryConfig(), RULES, 24, RULES.gate_closure_utc, ComplianceLimits(0.05))
    assert {"volume_limit", "price_bounds", "gate_closure"} <= set(_failed(results))


def test_bidding_alert_names_the_reasons_and_escapes_them():
    subject, html = render_bidding_alert(
        "compliance_rejected", "DE", DAY, ["volume_limit: MTU 3 <script>"], "DE|2017-03-01|fixed|v1", {"mode": "live"}
    )
    assert subject == "[GridDesk][CRITICAL] bidding: order set rejected by pre-trade compliance for DE 2017-03-01"
    assert "&lt;script&gt;" in html and "<script>" not in html and "Nothing was sent" in html
    assert bidding_alert_key("compliance_rejected", "DE", DAY, "x") == "bid_compliance_rejected|DE|2017-03-01|x"
    with pytest.raises(ValueError, match="unknown bidding alert kind"):
        render_bidding_alert("oops", "DE", DAY, [])


def test_paper_mode_is_the_default_and_the_kill_switch_reads_from_the_environment(monkeypatch):
    assert BiddingSettings().mode == "paper" and BiddingSettings().kill_switch is False
    monkeypatch.setenv("GRIDDESK_BIDDING_KILL_SWITCH", "true")
    monkeypatch.setenv("GRIDDESK_BIDDING_MODE", "live")
    assert BiddingSettings().kill_switch is True and BiddingSettings().mode == "live"


def test_rules_gate_closure_needs_an_aware_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        RULES.is_before_gate_closure(datetime(2017, 2, 28, 10, 0))
    assert RULES.is_before_gate_closure(datetime(2017, 2, 28, 10, 0, tzinfo=UTC))


def test_approval_answer_of_the_hitl_step():
    from griddesk.bidding.controls import approval_from_answer

    assert approval_from_answer(None) is None
    assert approval_from_answer({"chosen_options": ["Approve"], "responded_by_user": {"id": "7", "name": "ana"}}) == (
        True,
        "ana",
    )
    assert approval_from_answer({"chosen_options": ["Reject"], "responded_by_user": {"id": "7"}}) == (False, "7")
    assert approval_from_answer({"chosen_options": ["Approve"], "responded_by_user": "bob"}) == (True, "bob")
    # timed out: the default (Reject) applies and nobody answered, which records the rejection as expired
    assert approval_from_answer({"chosen_options": ["Reject"], "responded_by_user": None}) == (False, None)


# ---------------------------------------------------------------- joint order sets of the portfolio and the battery


@pytest.fixture(scope="module")
def joint_bid() -> pd.DataFrame:
    """A 24-hour joint bid buying a portfolio of 2-4 MW with the battery (prices high in the evening)."""
    idx = pd.date_range("2017-03-01", periods=24, freq="h", tz="UTC")
    prices = pd.Series(np.round(40 + 20 * np.sin(np.arange(24) / 24 * 4 * np.pi), 2), index=idx)
    load = pd.Series(3.0 + np.cos(np.arange(24) / 24 * 2 * np.pi) + 0.037, index=idx)  # off the tick grid
    return optimise_portfolio(prices, load, BatteryConfig(), volume_tick_mw=RULES.volume_tick_mw)


def test_a_compliant_joint_order_set_buying_several_mw_passes_every_check(joint_bid):
    steps = joint_order_steps(joint_bid, RULES, max_order_volume_mw=1.0)
    assert steps["volume_mw"].max() <= 1.0 and steps.groupby("mtu_index")["volume_mw"].sum().max() > 3.0
    results = check_order_set(
        steps, BatteryConfig(), RULES, 24, BEFORE_GATE, consumption_mw=joint_bid["consumption_mwh"].to_numpy()
    )
    assert passed(results), _failed(results)
    # the same purchase without the consumption is a battery over-position, and the battery could not store it
    alone = _failed(check_order_set(steps, BatteryConfig(), RULES, 24, BEFORE_GATE))
    assert "position_limit" in alone and "soc_feasibility" in alone


def test_a_joint_set_buying_beyond_the_consumption_and_the_battery_is_rejected(joint_bid):
    steps = joint_order_steps(joint_bid, RULES, max_order_volume_mw=1.0)
    extra = curve_frame([(5, "buy", 10, RULES.max_price_ticks, True, 1.0)] * 2, RULES)  # 2 MW more in MTU 5
    bad = pd.concat([steps, extra], ignore_index=True)
    failed = _failed(
        check_order_set(
            bad, BatteryConfig(), RULES, 24, BEFORE_GATE, consumption_mw=joint_bid["consumption_mwh"].to_numpy()
        )
    )
    assert (
        "MTU 5: buy steps add up to" in failed["position_limit"] and "forecast consumption" in failed["position_limit"]
    )
    assert "MTU 5" in failed["soc_feasibility"] and "more than the battery can store" in failed["soc_feasibility"]


def test_a_joint_set_that_leaves_the_battery_to_serve_too_much_is_rejected(joint_bid):
    steps = joint_order_steps(joint_bid, RULES, max_order_volume_mw=1.0)
    bought = steps[steps["side"] == "buy"]
    short = steps.drop(bought.index[bought["mtu_index"].isin([2, 3, 4])])  # the battery would serve 3 h of load
    failed = _failed(
        check_order_set(
            short, BatteryConfig(), RULES, 24, BEFORE_GATE, consumption_mw=joint_bid["consumption_mwh"].to_numpy()
        )
    )
    assert (
        set(failed) == {"soc_feasibility"} and "MTU 2: the battery would have to deliver" in failed["soc_feasibility"]
    )


def test_the_consumption_of_a_joint_check_must_cover_the_day(joint_bid):
    steps = joint_order_steps(joint_bid, RULES, max_order_volume_mw=1.0)
    with pytest.raises(ValueError, match="consumption_mw must have 24"):
        check_order_set(steps, BatteryConfig(), RULES, 24, BEFORE_GATE, consumption_mw=[1.0] * 23)
