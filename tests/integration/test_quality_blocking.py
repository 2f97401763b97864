"""A critical feed failure blocks what reads the feed-day; a warning does not.

The real Cambridge meters and Bedford weather served by the simulator over HTTP (a ``missing_intervals`` fault
for the critical case), loaded by the feeds' own extraction, validated by the real GX suites into
raw.dq_validation_results, then griddesk_consumption's task bodies for delivery day D on the real warehouse, and the morning bid of the
paired market that buys their forecasts jointly with the battery.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import psycopg2
import pytest
import requests

from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.controls import BiddingSettings
from griddesk.clock import MORNING, RunClock
from griddesk.consumption import tasks
from griddesk.consumption.settings import ConsumptionSettings
from griddesk.feeds import tasks as feed_tasks
from griddesk.markets import get_market
from griddesk.quality.blocking import blocked_feed_days
from griddesk.quality.feeds_gate import validate_feeds
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, QualityGate
from griddesk.quality.store import store_results
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from tests.integration.conftest import default_simulator_kwargs
from tests.integration.helpers import insert_price_forecast
from tests.integration.helpers import query_rows as rows

pytestmark = pytest.mark.slow

D = date(2018, 3, 14)  # delivery day; the feeds run on D-2 validated the meters' London day D-3
METER_DAYS = [D - timedelta(days=k) for k in range(tasks.BLOCKING_METER_DAYS, 0, -1)]
VALIDATED_DAYS = METER_DAYS[:-1]  # D-1's readings are published on D: no feeds run validated them by the cut-off
BAD_DAY = D - timedelta(days=3)
SETTINGS = ConsumptionSettings(training_window_days=28, min_clean_days=14, uncertainty_samples=20)


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> QualityGate:
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return QualityGate(root)


@pytest.fixture(scope="module")
def sim(start_simulator, shared_data_dir) -> str:
    return start_simulator(**default_simulator_kwargs())  # the feeds serve ../shared/data: real meters, weather


@pytest.fixture
def env(warehouse_url, sim):
    platform = Settings(warehouse_url=warehouse_url, simulator_url=sim, markets="NP", weather_locations="bedford")
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    for feed, key in (("meter_readings", "portfolio"), ("weather_observations", "bedford")):
        feed_tasks.extract_feed_job({"feed": feed, "key": key}, D - timedelta(days=2), platform, history_days=35)
    fetched = tasks.fetch_at_cutoff(D, SETTINGS, warehouse_url, simulator_url=sim)
    return {"url": warehouse_url, "platform": platform, "issued": fetched["weather_issued_at_utc"]}


def validate(gate, env, run_id: str):
    """The GX run of griddesk_feeds over the feed-days D reads, stored like the task stores it."""
    cutoff = get_market(SETTINGS.market).gate_closure_utc(D)
    issue_day = date.fromisoformat(env["issued"][:10])
    scopes = {
        "meter_readings": [("portfolio", d) for d in VALIDATED_DAYS],
        "weather_forecasts": [("bedford", issue_day)],
    }
    return validate_and_store(gate, env["url"], scopes, cutoff, run_id)


def validate_and_store(gate, url: str, scopes: dict, cutoff, run_id: str):
    """The GX run of griddesk_feeds over ``scopes`` as of ``cutoff``, its results stored like the task stores them."""
    with psycopg2.connect(url) as conn:
        run = validate_feeds(gate, conn, scopes, cutoff, run_id)
        store_results(conn, run.results, run_id)
    return run.results


def morning_bid(env) -> dict:
    """The morning bid task of the paired market for D (paper mode)."""
    bidding = BiddingSettings(predict_demand_response=False)
    return bidding_tasks.generate_order_set(SETTINGS.market, RunClock(D, MORNING), env["platform"], bidding)


def test_warnings_on_the_real_meters_do_not_block_the_consumption_forecast(gate, env):
    results = validate(gate, env, "feeds-clean")
    assert all(r.passed_critical for r in results)
    warned = {r.delivery_date_local: sorted(o.expectation_id for o in r.failed) for r in results if r.failed}
    # Dirty real data, caught without being told where: zeros (= missing) on 9 March, spikes on 10 March.
    assert warned == {date(2018, 3, 9): ["values_present_ratio"], date(2018, 3, 10): ["energy_kwh_no_spikes"]}
    with psycopg2.connect(env["url"]) as conn:
        assert tasks.input_blocking_reason(conn, D, SETTINGS) is None

    out = tasks.train_and_forecast_meter("b1", D, SETTINGS, env["url"])
    assert out["status"] == "trained", out
    insert_price_forecast(env["url"], SETTINGS.market, D)
    bid = morning_bid(env)
    assert bid["status"] == "generated" and "joint" in bid["portfolio"], bid
    assert rows(env["url"], "select count(*) from raw.portfolio_bids") == [(24,)]


def test_missing_meter_intervals_block_the_consumption_forecast_and_bid_until_a_passing_rerun(
    gate, env, sim, smtp_server
):
    # The simulator drops 2 hours in the middle of every meter's answer for London day D-3: a new, short version.
    resp = requests.post(
        f"{sim}/admin/faults",
        headers=admin_headers(),
        json={"endpoint": "meters.consumption", "kind": "missing_intervals", "n_intervals": 2},
        timeout=10,
    )
    assert resp.ok, resp.text
    feed_tasks.extract_feed_job(
        {"feed": "meter_readings", "key": "portfolio"}, BAD_DAY + timedelta(days=1), env["platform"], history_days=1
    )
    results = validate(gate, env, "feeds-bad")
    blocked = {r.delivery_date_local: r for r in results if not r.passed_critical}
    assert list(blocked) == [BAD_DAY] and blocked[BAD_DAY].suite_name == "raw_meter_readings"
    with psycopg2.connect(env["url"]) as conn:
        assert blocked_feed_days(conn, "meter_readings", "portfolio", METER_DAYS) == {
            BAD_DAY: ["row_count_matches_day"]
        }

    out = tasks.train_and_forecast_meter("b1", D, SETTINGS, env["url"])
    reason = f"meter_readings portfolio {BAD_DAY} (row_count_matches_day)"
    assert out["status"] == "skipped" and reason in out["reason"]
    assert rows(env["url"], "select status, reason from raw.consumption_training_runs where meter_id = 'b1'") == [
        ("skipped", out["reason"])
    ]
    insert_price_forecast(env["url"], SETTINGS.market, D)
    bid = morning_bid(env)  # no forecast of the portfolio: the battery is bid alone, and the desk is told
    assert bid["status"] == "generated" and "no champion consumption forecast" in bid["portfolio"], bid
    assert "battery bid alone" in smtp_server.messages[-1]["Subject"]
    assert rows(env["url"], "select count(*) from raw.consumption_forecasts") == [(0,)]
    assert rows(env["url"], "select count(*) from raw.portfolio_bids") == [(0,)]

    # A rerun of the feed that loads the whole day again and passes lifts the block: only the newest run counts.
    feed_tasks.extract_feed_job(
        {"feed": "meter_readings", "key": "portfolio"}, BAD_DAY + timedelta(days=1), env["platform"], history_days=1
    )
    assert all(r.passed_critical for r in validate(gate, env, "feeds-rerun"))
    with psycopg2.connect(env["url"]) as conn:
        assert tasks.input_blocking_reason(conn, D, SETTINGS) is None
