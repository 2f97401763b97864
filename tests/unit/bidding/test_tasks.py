"""The pure parts of the bidding task bodies (griddesk.bidding.tasks, generation, submission)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from griddesk.bidding import controls, lifecycle, submission, tasks
from griddesk.bidding.generation import (
    BidInputs,
    GeneratedSet,
    bid_outcome,
    order_set_id,
)
from griddesk.bidding.inputs import block_rules_or_refusal
from griddesk.bidding.optimiser import InfeasibleScheduleError
from griddesk.bidding.task_support import TaskContext, recipients
from griddesk.markets import get_market
from griddesk.settings import Settings

DAY = date(2024, 3, 5)


def test_order_set_id_names_market_day_strategy_and_model():
    assert order_set_id("FR", DAY, "curves", "prophet-1") == "FR|2024-03-05|curves|prophet-1"


@pytest.mark.parametrize(
    ("ok", "mode", "approval", "status", "events"),
    [
        (False, "live", True, "compliance_rejected", []),
        (False, "paper", False, "compliance_rejected", []),
        (True, "paper", True, "recorded", ["recorded_paper"]),
        (True, "live", True, "pending_approval", ["approval_requested"]),
        (True, "live", False, "ready", []),
    ],
)
def test_compliance_outcome(ok, mode, approval, status, events):
    assert tasks.compliance_outcome(ok, mode, approval) == (status, events)
    assert lifecycle.is_allowed(lifecycle.GENERATED, status)  # a checked set moves from generated only
    assert all(e in controls.EVENTS for e in events)


def test_every_gate_refusal_moves_a_ready_set_along_the_lifecycle():
    for outcome, (status, event, alert_kind) in submission.REFUSALS.items():
        assert lifecycle.is_allowed(lifecycle.READY, status), outcome
        assert event in controls.EVENTS
        assert alert_kind is None or isinstance(alert_kind, str)
    assert set(submission.REFUSALS) < {"no_order_set", "not_eligible", *submission.REFUSALS}


def _header(**changes) -> dict:
    return {"order_set_id": "FR|x", "exchange_order_set_id": "E1", "currency": "EUR", **changes}


def test_execution_rows_as_stored():
    starts = pd.to_datetime(["2024-03-04T23:00Z", "2024-03-05T00:00Z"])
    results = pd.DataFrame(
        {
            "delivery_start_utc": starts,
            "step_index": [0, 0],
            "side": ["buy", "sell"],
            "volume_mw": [1.0, 0.5],
            "limit_price_per_mwh": [50.0, 60.0],
            "clearing_price_per_mwh": [55.0, 55.0],
            "accepted": [False, False],
            "accepted_volume_mw": [0.0, 0.0],
            "block_index": [np.nan, 2.0],
        }
    )
    steps = pd.DataFrame({"resolution_minutes": [60, 60]})
    rows = tasks.execution_rows(results, _header(), steps, get_market("FR"), DAY)
    assert list(rows["is_accepted"]) == [False, False]
    assert pd.isna(rows["block_index"].iloc[0]) and rows["block_index"].iloc[1] == 2
    assert set(rows["order_set_id"]) == {"FR|x"} and set(rows["exchange_order_set_id"]) == {"E1"}
    assert set(rows["resolution_minutes"]) == {60} and set(rows["currency"]) == {"EUR"}
    assert rows["delivery_date_local"].iloc[0] == DAY
    from griddesk.bidding.store import EXECUTION_COLUMNS

    assert set(EXECUTION_COLUMNS) <= set(rows.columns)


def test_execution_rows_without_steps_take_the_market_mtu_and_no_blocks():
    results = pd.DataFrame({"delivery_start_utc": [], "accepted": []})
    rows = tasks.execution_rows(results, _header(exchange_order_set_id=None), pd.DataFrame(), get_market("FR"), DAY)
    assert rows.empty and "block_index" in rows and "is_accepted" in rows


def test_bms_order_keeps_a_block_and_drops_a_missing_one():
    row = pd.DataFrame(
        {
            "delivery_start_utc": [pd.Timestamp("2024-03-05T01:00", tz="Europe/Paris")] * 2,
            "resolution_minutes": [15, 15],
            "side": ["sell", "buy"],
            "volume_mw": [0.5, 1],
            "limit_price_per_mwh": [-500, 4000],
            "block_index": [3, None],
        }
    )
    rows = list(row.itertuples(index=False))
    first = submission.bms_order(rows[0])
    assert first == {
        "delivery_start_utc": "2024-03-05T00:00:00+00:00",
        "resolution_minutes": 15,
        "side": "sell",
        "volume_mw": 0.5,
        "limit_price_per_mwh": -500.0,
        "block_index": 3,
    }
    assert "block_index" not in submission.bms_order(rows[1])


def test_the_battery_handoff_runs_on_the_feeds_clock():
    assert submission.handoff_sim_now(date(2024, 7, 1)) == datetime(2024, 7, 1, 16, 0, tzinfo=UTC)  # CEST
    assert submission.handoff_sim_now(date(2024, 1, 10)) == datetime(2024, 1, 10, 17, 0, tzinfo=UTC)  # CET


def test_a_price_taker_set_is_not_a_block_group():
    steps = pd.DataFrame({"mtu_index": [0], "step_index": [0], "block_index": [None]})
    assert submission.accepted_block(None, _header(status="submitted"), steps) == (False, None)


def test_block_rules_or_refusal_names_the_market():
    rules, refusal = block_rules_or_refusal("NOPE")
    assert rules is None and refusal.startswith("strategy exclusive_blocks refused: ")


def test_recipients_prefer_the_bidding_list():
    settings = Settings(alert_email_to="ops@x")
    assert recipients(settings, controls.BiddingSettings()) == "ops@x"
    assert recipients(settings, controls.BiddingSettings(alert_email_to="desk@x")) == "desk@x"


def _generated(infeasible=None) -> GeneratedSet:
    schedule = pd.DataFrame({"action": ["idle", "charge"], "expected_revenue": [0.0, -1.234]})
    steps = pd.DataFrame({"mtu_index": [1, 1, 2]})
    status = lifecycle.INFEASIBLE_FALLBACK if infeasible else lifecycle.GENERATED
    return GeneratedSet(schedule, steps, status, 12.3456, 7.891, infeasible=infeasible)


def test_generated_set_reason_is_the_infeasibility():
    assert _generated().reason == ""
    infeasible = InfeasibleScheduleError(["no way"], ["soc"])
    assert _generated(infeasible).reason == str(infeasible)


def test_bid_outcome_is_the_xcom_in_its_order():
    market = get_market("FR")
    task = TaskContext(
        "postgresql://x",
        Settings(),
        controls.BiddingSettings(strategy="curves"),
        market,
        DAY,
        datetime(2024, 3, 4, 8, tzinfo=UTC),
        "test",
    )
    constraint = type("C", (), {"name": "dr-1"})()
    inputs = BidInputs(
        forecast=pd.DataFrame(),
        forecast_prices=np.array([]),
        prices=np.array([]),
        clipped=0,
        rules=None,
        battery=None,
        mtu_minutes=60,
        value=None,
        constraints=[constraint],
        dr_note="left out",
        model_version="m",
        os_id="FR|2024-03-05|curves|m",
        schedule_id="FR|2024-03-05|m",
    )
    out = bid_outcome(task, inputs, _generated(), 1, -1.234, portfolio=None)
    assert list(out) == [
        "market",
        "delivery_date",
        "order_set_id",
        "strategy",
        "status",
        "orders",
        "steps",
        "expected_revenue",
        "solve_ms",
        "demand_response_windows",
        "demand_response_blocked",
        "portfolio",
    ]
    assert out["expected_revenue"] == -1.23 and out["solve_ms"] == 7.9 and out["steps"] == 3
    assert out["demand_response_windows"] == ["dr-1"] and out["strategy"] == "curves"
