"""Critically blocked TRA signal dates are left out of the battery bid's predicted demand-response windows.

The simulator serves the CKW TRA signals over HTTP (a ``missing_intervals`` fault drops channels of 8 dates), the
feed's own extraction loads them, the real GX suite validates the 14 signal dates into raw.dq_validation_results,
real dbt builds marts.fct_control_signals, then the real morning bid task (``bid_for_run``) for delivery day D.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.demand_response import parse_windows, predict_windows, signal_dates, to_mtu_constraints
from griddesk.clock import MORNING, RunClock
from griddesk.feeds import tasks as feed_tasks
from griddesk.markets import get_market
from griddesk.quality.blocking import blocked_feed_days
from tests.integration import test_quality_blocking as shared
from tests.integration.helpers import demand_response_env, inject_fault, simulator_env, synthetic_simulator
from tests.integration.helpers import query_rows as query

pytestmark = pytest.mark.slow
gate = shared.gate  # the module's GX gate over a throw-away copy of the committed context (a fixture)

MARKET = "FR"
D = date(2016, 6, 15)  # delivery day, bid on D-1; the TRA signals published by then end at D-2
TRA_DAYS = signal_dates(D)  # D-15 .. D-2
# The extraction asks for 'last' (D-2) first, then D-15, D-14, ...: the first 8 requests take the fault.
BAD_DAYS = sorted([TRA_DAYS[-1], *TRA_DAYS[:7]])
TRA_JOB = {"feed": "ckw_tra_signals", "key": "tra"}
CONFIGURED = [{"name": "DR evening peak", "start_local": "17:00", "end_local": "19:00", "kind": "no_charging"}]


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    return synthetic_simulator(start_simulator, MARKET)


@pytest.fixture
def env(warehouse_url, sim, monkeypatch) -> dict:
    with simulator_env(monkeypatch, demand_response_env(warehouse_url, sim, MARKET, CONFIGURED), sim):
        yield {"url": warehouse_url, "sim": sim}


def extract_tra(history_days: int) -> dict:
    """griddesk_feeds' TRA job on D-1, run before the cut-off (the bid reads what was extracted by then): the signal
    dates D-1-history_days .. D-2."""
    before_cutoff = get_market(MARKET).gate_closure_utc(D) - timedelta(hours=2)
    return feed_tasks.extract_feed_job(TRA_JOB, D - timedelta(days=1), history_days=history_days, sim_now=before_cutoff)


def validate(gate, url: str, days: list[date], run_id: str):
    cutoff = get_market(MARKET).gate_closure_utc(D)
    return shared.validate_and_store(gate, url, {"ckw_tra_signals": [("tra", d) for d in days]}, cutoff, run_id)


def expected_windows(url: str, starts: pd.DatetimeIndex, exclude: set[date]) -> list[str]:
    """The constraint names the bid should carry: configured + predicted from the mart's signals of the kept days."""
    signals = pd.DataFrame(
        query(
            url,
            """select signal_name, switch_on_utc, switch_off_utc, signal_date_local
                      from marts.fct_control_signals""",
        ),
        columns=["signal_name", "switch_on_utc", "switch_off_utc", "signal_date_local"],
    )
    windows = parse_windows(json.dumps(CONFIGURED)) + predict_windows(signals, D, exclude_days=exclude)
    return [c.name for c in to_mtu_constraints(windows, get_market(MARKET), D, list(starts), 60)]


def test_blocked_tra_dates_are_left_out_of_the_predicted_windows_until_a_passing_rerun(gate, env):
    from griddesk.transform.dbt import run_dbt

    url, sim = env["url"], env["sim"]
    # The simulator drops 3 of the 5 channels (002R-004R) of 8 of the 14 signal dates; the other 6 are clean.
    inject_fault(sim, "ckw.tra_signals", "missing_intervals", n_intervals=3, times=8)
    extract_tra(history_days=len(TRA_DAYS))
    results = validate(gate, url, TRA_DAYS, "feeds-tra-bad")
    failed = {r.delivery_date_local: [o.expectation_id for o in r.failed_critical] for r in results}
    blocked = {d: ["every_channel_signalled"] for d in BAD_DAYS}
    assert {d: ids for d, ids in failed.items() if ids} == blocked
    with psycopg2.connect(url) as conn:
        assert blocked_feed_days(conn, "ckw_tra_signals", "tra", TRA_DAYS) == blocked

    built = run_dbt(["run", "--select", "+fct_control_signals"], url, {"as_of_utc": datetime.now(UTC)})
    assert "fct_control_signals" in {n.name for n in built.nodes if n.status == "success"}
    per_day = dict(
        query(url, "select signal_date_local, count(distinct signal_name) from marts.fct_control_signals group by 1")
    )
    assert per_day == {d: 2 if d in BAD_DAYS else 5 for d in TRA_DAYS}  # the bad dates reached the mart
    shared.insert_price_forecast(url, MARKET, D)
    starts = pd.date_range(get_market(MARKET).delivery_day_bounds_utc(D)[0], periods=24, freq="h")

    clock = RunClock(D, MORNING)
    bid = bidding_tasks.bid_for_run(MARKET, clock)
    reasons = [f"ckw_tra_signals tra {d} (every_channel_signalled)" for d in BAD_DAYS]
    assert bid["status"] == "generated" and all(r in bid["demand_response_blocked"] for r in reasons)
    # Learnt from the 6 clean dates only: all 5 channels get their window. Learning from all 14 would lose the 3
    # channels missing on 8 of them (on in 6/14 < min_share of the days).
    names = bid["demand_response_windows"]
    assert names == expected_windows(url, starts, set(BAD_DAYS))
    assert {n.split()[3] for n in names if "(predicted)" in n} == {"000R", "001R", "002R", "003R", "004R"}
    unguarded = expected_windows(url, starts, set())
    assert {n.split()[3] for n in unguarded if "(predicted)" in n} == {"000R", "001R"}
    assert names[0].startswith("demand-response window DR evening peak")  # the configured window still applies
    (detail,) = query(url, "select detail from raw.bid_audit_events where event = 'generated'")
    assert detail[0]["demand_response_blocked"] == bid["demand_response_blocked"]

    # A rerun of the feed that loads every channel again and passes lifts the block.
    extract_tra(history_days=len(TRA_DAYS))
    assert all(r.passed_critical for r in validate(gate, url, TRA_DAYS, "feeds-tra-rerun"))
    again = bidding_tasks.bid_for_run(MARKET, clock)
    assert again["demand_response_blocked"] is None
    events = query(url, "select detail from raw.bid_audit_events where event = 'generated' order by event_id")
    assert len(events) == 2 and "demand_response_blocked" not in events[-1][0]
