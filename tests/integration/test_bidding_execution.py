"""Orders round-trip through the simulator's order API over real HTTP, and the bidding pipeline's controls on a real
PostgreSQL: paper mode, the kill switch, compliance rejections, the explained infeasibility fallback, HTTP failures,
approval, submission before gate closure and executions after the auction."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.controls import BiddingSettings, audit_trail, set_kill_switch
from griddesk.bidding.curves import curve_frame
from griddesk.bidding.execution import NotClearedYet, OrderApiClient, OrderApiError, order_payload
from griddesk.bidding.rules import market_rules
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from tests.integration.helpers import price_forecast_row

MARKET = "FR"
DAY = date(2016, 6, 15)
TOKEN = "test-token"


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    frames = {"FR": datasets.synthetic_epftoolbox("FR")}
    return start_simulator(settings=Settings(markets="FR", data_dir=None), frames=frames, tokens=[TOKEN])


@pytest.fixture(scope="module")
def realised() -> pd.Series:
    df = datasets.synthetic_epftoolbox("FR")
    day = df[df["delivery_date_local"] == DAY]
    return pd.Series(day["price_per_mwh"].to_numpy(), index=pd.DatetimeIndex(day["delivery_start_utc"]))


def _steps(realised: pd.Series) -> pd.DataFrame:
    rules = market_rules(MARKET, DAY)
    price_18 = int(round(realised.iloc[18] * 100))
    rows = [
        (3, "buy", 3, rules.max_price_ticks, True, 1.0),  # price-taker: always accepted
        (4, "buy", 2, 100, False, 0.5),  # buy only at or below 1.00: rejected on a normal day
        (18, "sell", 5, price_18, False, 0.5),  # sell exactly at the realised price: accepted (equality)
        (19, "sell", 1, price_18 + 100_000, False, 0.1),  # sell only above +1,000: rejected
    ]
    steps = curve_frame(rows, rules)
    return steps.assign(delivery_start_utc=realised.index[steps["mtu_index"].to_numpy()])


def _client(url: str, now) -> OrderApiClient:
    return OrderApiClient(url, TOKEN, sim_now=now, backoff_s=0.01)


def test_orders_round_trip_and_clear_at_the_realised_price(sim, realised):
    market = get_market(MARKET)
    steps = _steps(realised)
    payload = order_payload(MARKET, DAY, "round-trip-1", steps, 60)
    receipt = _client(sim, market.gate_closure_utc(DAY) - timedelta(hours=1)).submit(payload)
    assert receipt.status == "accepted" and receipt.gate_closure_utc == market.gate_closure_utc(DAY)

    with pytest.raises(NotClearedYet, match="not cleared yet"):
        _client(sim, market.gate_closure_utc(DAY) + timedelta(minutes=1)).results(receipt.exchange_order_set_id)
    results = _client(sim, market.price_publication_utc(DAY) + timedelta(minutes=1)).results(
        receipt.exchange_order_set_id
    )
    assert list(results["accepted"]) == [True, False, True, False]
    assert np.allclose(results["clearing_price_per_mwh"], realised.iloc[[3, 4, 18, 19]].to_numpy())
    assert list(results["accepted_volume_mw"]) == [0.3, 0.0, 0.5, 0.0]

    # Resubmitting the same set is idempotent; reusing its key for other orders is refused.
    again = _client(sim, market.gate_closure_utc(DAY) - timedelta(minutes=30)).submit(payload)
    assert again.exchange_order_set_id == receipt.exchange_order_set_id
    changed = {**payload, "orders": payload["orders"][:1]}
    with pytest.raises(OrderApiError, match="was used for other orders") as info:
        _client(sim, market.gate_closure_utc(DAY) - timedelta(minutes=30)).submit(changed)
    assert info.value.kind == "rejected" and info.value.status_code == 409


def test_the_order_api_refuses_orders_after_gate_closure(sim, realised):
    payload = order_payload(MARKET, DAY, "late-1", _steps(realised), 60)
    with pytest.raises(OrderApiError, match="gate closed") as info:
        _client(sim, get_market(MARKET).gate_closure_utc(DAY)).submit(payload)
    assert info.value.status_code == 409


def test_the_order_api_refuses_off_tick_volumes_and_prices_naming_the_order(sim, realised):
    payload = order_payload(MARKET, DAY, "bad-1", _steps(realised), 60)
    payload["orders"][0]["volume_mw"] = 0.25
    payload["orders"][1]["limit_price_per_mwh"] = 3000.5
    with pytest.raises(OrderApiError) as info:
        _client(sim, get_market(MARKET).gate_closure_utc(DAY) - timedelta(hours=2)).submit(payload)
    detail = info.value.detail
    assert info.value.status_code == 422 and len(detail) == 2
    assert "order 0" in detail[0] and "0.1 MW ticks" in detail[0]
    assert "order 1" in detail[1] and "outside the bounds" in detail[1]


def test_cancel_before_gate_closure_only(sim, realised):
    market = get_market(MARKET)
    payload = order_payload(MARKET, DAY, "cancel-1", _steps(realised), 60)
    receipt = _client(sim, market.gate_closure_utc(DAY) - timedelta(hours=2)).submit(payload)
    with pytest.raises(OrderApiError, match="can no longer be cancelled"):
        _client(sim, market.gate_closure_utc(DAY) + timedelta(minutes=1)).cancel(receipt.exchange_order_set_id)
    assert (
        _client(sim, market.gate_closure_utc(DAY) - timedelta(hours=1)).cancel(receipt.exchange_order_set_id)["status"]
        == "cancelled"
    )


def test_a_missing_token_is_unauthorised(sim):
    response = requests.post(f"{sim}/orders", json={}, timeout=10)
    assert response.status_code == 401


# ------------------------------------------------------------------------------------------------- the pipeline


@pytest.fixture
def warehouse(warehouse_url, realised, sim) -> Settings:
    """A fresh warehouse holding a forecast for FR D made before the cut-off, and settings pointing at the simulator."""
    market = get_market(MARKET)
    rng = np.random.default_rng(0)
    forecast = realised.to_numpy() + rng.normal(0, 3, len(realised))
    rows = [
        price_forecast_row(market, DAY, t.to_pydatetime(), (float(f), float(f - 10), float(f + 10)))
        for t, f in zip(realised.index, forecast, strict=True)
    ]
    insert_forecasts(warehouse_url, rows)
    return Settings(warehouse_url=warehouse_url, simulator_url=sim, markets=MARKET, alert_email_to="desk@example.com")


def insert_forecasts(url: str, rows: list[tuple]) -> None:
    """Rows of ``raw.price_forecasts`` (run id, market, day, start, resolution, forecast, lower, upper, interval
    width, currency, model family, model version, training start, training end, cut-off)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
               delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
               upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
               training_start_utc, training_end_utc, cutoff_utc)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )


def _bidding(**kwargs) -> BiddingSettings:
    return BiddingSettings(order_api_token=TOKEN, predict_demand_response=False, http_max_attempts=2, **kwargs)


def _order_set(url: str) -> dict:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select * from raw.bid_order_sets where market_code = %s and delivery_date_local = %s", (MARKET, DAY)
        )
        return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def _run_morning(settings: Settings, bidding: BiddingSettings) -> dict:
    clock = RunClock(DAY, MORNING)
    bidding_tasks.generate_order_set(MARKET, clock, settings, bidding)
    bidding_tasks.check_compliance(MARKET, clock, settings, bidding)
    return bidding_tasks.submit_order_set(MARKET, clock, settings, bidding)


def test_paper_mode_records_the_order_set_and_never_submits_it(warehouse):
    outcome = _run_morning(warehouse, _bidding())
    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "recorded" and header["trading_mode"] == "paper"
    assert header["exchange_order_set_id"] is None and header["n_steps"] > 0
    events = [e["event"] for e in audit_trail(psycopg2.connect(warehouse.warehouse_url), header["order_set_id"])]
    assert events == ["generated", "compliance_passed", "recorded_paper"]
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select action, decision from raw.bid_schedules where market_code = %s", (MARKET,))
        decisions = dict(cur.fetchall())
    # The decision per MTU is recorded: energy sold when discharging, stored when charging.
    assert decisions["discharge"] == "sold" and decisions["charge"] == "stored"


def test_live_orders_are_submitted_before_gate_closure_and_settled_after_the_auction(warehouse, realised):
    bidding = _bidding(mode="live")
    outcome = _run_morning(warehouse, bidding)
    assert outcome["submitted"] is True, outcome
    executions = bidding_tasks.fetch_executions(MARKET, RunClock(DAY, AFTERNOON), warehouse, bidding)
    assert (
        executions["status"] == "executed"
        and executions["executions"] == _order_set(warehouse.warehouse_url)["n_steps"]
    )
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select * from raw.bid_executions order by delivery_start_utc, step_index")
        rows = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        events = [e["event"] for e in audit_trail(conn, outcome["order_set_id"])]
    prices = realised.reindex(pd.DatetimeIndex(rows["delivery_start_utc"]).tz_convert("UTC")).to_numpy()
    assert np.allclose(rows["clearing_price_per_mwh"], prices)
    expected = np.where(
        rows["side"] == "buy", prices <= rows["limit_price_per_mwh"], prices >= rows["limit_price_per_mwh"]
    )
    assert (rows["is_accepted"].to_numpy() == expected).all()
    assert events == ["generated", "compliance_passed", "submitted", "executed"]
    # The order API's calls are in the call log (API health covers the exchange too), without the token.
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select feed, endpoint, method, status_code, error from raw.api_call_log order by requested_at_utc")
        calls = cur.fetchall()
        cur.execute(
            "select count(*) from raw.api_call_log where url_path like %s or coalesce(error, '') like %s",
            (f"%{TOKEN}%", f"%{TOKEN}%"),
        )
        assert cur.fetchone()[0] == 0
    assert [c[:4] for c in calls] == [
        ("orders", "orders.submit", "POST", 201),
        ("orders", "orders.results", "GET", 200),
    ]
    assert all(c[4] is None for c in calls)


def test_the_kill_switch_stops_every_submission_and_says_who_set_it(warehouse, smtp_server):
    with psycopg2.connect(warehouse.warehouse_url) as conn:
        set_kill_switch(conn, True, "cli:alice", "exchange incident")
    outcome = _run_morning(warehouse, _bidding(mode="live"))
    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "blocked"
    assert "cli:alice" in header["status_reason"] and "exchange incident" in header["status_reason"]
    assert len(smtp_server.messages) == 1 and "kill switch" in smtp_server.messages[0]["Subject"]


def test_a_compliance_rejection_is_recorded_emailed_once_and_never_submitted(warehouse, smtp_server):
    bidding = _bidding(mode="live", max_order_volume_mw=0.05)
    outcome = _run_morning(warehouse, bidding)
    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "compliance_rejected"
    assert "volume_limit" in header["status_reason"]
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select check_name, passed, reason from raw.bid_compliance_results where not passed")
        failed = cur.fetchall()
    assert [f[0] for f in failed] == ["volume_limit"] and "0.05 MW limit per order" in failed[0][2]
    assert len(smtp_server.messages) == 1
    assert "pre-trade compliance" in smtp_server.messages[0]["Subject"]
    # A retry of the task sends no second email and still submits nothing.
    bidding_tasks.check_compliance(MARKET, RunClock(DAY, MORNING), warehouse, bidding)
    assert bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), warehouse, bidding)["submitted"] is False
    assert len(smtp_server.messages) == 1


def test_an_infeasible_day_idles_names_the_conflict_and_alerts(warehouse, smtp_server):
    window = [
        {
            "name": "DR-late",
            "start_local": "22:00",
            "end_local": "00:00",
            "kind": "mandatory_consumption",
            "min_consumption_mw": 0.5,
        }
    ]
    bidding = _bidding(mode="live", demand_response_windows=json.dumps(window))
    outcome = _run_morning(warehouse, bidding)
    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "infeasible_fallback" and header["n_steps"] == 0
    assert "DR-late" in header["status_reason"] and "end SoC 50%" in header["status_reason"]
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select distinct action from raw.bid_schedules")
        assert cur.fetchall() == [("idle",)]
    body = smtp_server.messages[0].get_body(preferencelist=("html",)).get_content()
    assert "battery left idle" in smtp_server.messages[0]["Subject"] and "DR-late" in body


def test_an_http_failure_of_the_order_api_is_recorded_and_alerted(warehouse, smtp_server, sim):
    fault = {"endpoint": "orders.submit", "kind": "http_5xx", "status": 503, "times": 2}
    requests.post(f"{sim}/admin/faults", headers=admin_headers(), json=fault, timeout=10).raise_for_status()
    outcome = _run_morning(warehouse, _bidding(mode="live"))
    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "submission_failed"
    assert "failed after 2 attempts" in header["status_reason"] and "503" in header["status_reason"]
    assert "could not be submitted" in smtp_server.messages[0]["Subject"]


def test_approval_holds_orders_until_a_person_approves(warehouse, smtp_server):
    bidding = _bidding(mode="live", require_approval=True)
    outcome = _run_morning(warehouse, bidding)
    assert outcome["submitted"] is False and outcome["status"] == "pending_approval"
    pending = bidding_tasks.pending_approvals([MARKET], DAY, warehouse)
    bidding_tasks.record_approval(pending, approved=True, approver="alice", settings=warehouse, bidding=bidding)
    assert bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), warehouse, bidding)["submitted"] is True
    with psycopg2.connect(warehouse.warehouse_url) as conn:
        trail = audit_trail(conn, pending[0])
    assert [(e["event"], e["actor"]) for e in trail][-2:] == [
        ("approved", "airflow-user:alice"),
        ("submitted", bidding_tasks.ACTOR_SUBMIT),
    ]


def test_an_unanswered_approval_rejects_the_order_set(warehouse, smtp_server):
    bidding = _bidding(mode="live", require_approval=True)
    _run_morning(warehouse, bidding)
    pending = bidding_tasks.pending_approvals([MARKET], DAY, warehouse)
    bidding_tasks.record_approval(pending, approved=False, approver=None, settings=warehouse, bidding=bidding)
    assert _order_set(warehouse.warehouse_url)["status"] == "rejected"
    assert bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), warehouse, bidding)["submitted"] is False


def test_a_forecast_beyond_the_price_bounds_is_bid_at_the_bound_not_refused(warehouse):
    """Forecasts may stray below -500 EUR/MWh (a fitted model, not the market); the auction cannot clear there."""
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            """update raw.price_forecasts set forecast_price_per_mwh = -725.84
               where market_code = %s and delivery_date_local = %s and delivery_start_utc = (
                   select min(delivery_start_utc) from raw.price_forecasts where market_code = %s)""",
            (MARKET, DAY, MARKET),
        )
    outcome = _run_morning(warehouse, _bidding())
    header = _order_set(warehouse.warehouse_url)
    assert outcome["status"] == "recorded" and header["status"] == "recorded", header["status_reason"]
    trail = audit_trail(psycopg2.connect(warehouse.warehouse_url), header["order_set_id"])
    assert trail[0]["event"] == "generated" and trail[0]["detail"]["forecast_prices_clipped_to_bounds"] == 1
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select action from raw.bid_schedules where market_code = %s order by delivery_start_utc limit 1", (MARKET,)
        )
        assert cur.fetchone()[0] == "charge"  # paid to charge at the minimum price


@pytest.fixture
def fresh_sim(start_simulator) -> str:
    """An exchange whose book holds nothing yet (the module's ``sim`` holds the other tests' order sets)."""
    frames = {"FR": datasets.synthetic_epftoolbox("FR")}
    return start_simulator(settings=Settings(markets="FR", data_dir=None), frames=frames, tokens=[TOKEN])


def test_paper_mode_gets_shadow_executions_cleared_exactly_as_the_exchange_clears(warehouse, realised, fresh_sim):
    """Paper mode: the afternoon clears the recorded set at the realised prices (never sending it), and the result
    equals what the simulator's exchange returns for the same steps actually sent."""
    from griddesk.extraction import tasks as extraction

    sim = fresh_sim
    warehouse = warehouse.model_copy(update={"simulator_url": sim})
    bidding = _bidding()
    assert _run_morning(warehouse, bidding)["submitted"] is False
    afternoon = RunClock(DAY, AFTERNOON)
    before = bidding_tasks.fetch_executions(MARKET, afternoon, warehouse, bidding)
    assert before["status"] == "awaiting_prices" and before["executions"] == 0  # D's prices not extracted yet

    (job,) = [j for j in extraction.feed_jobs([MARKET]) if j["feed"] == "day_ahead_prices"]
    extraction.extract_for_run(job, afternoon, warehouse.model_copy(update={"entsoe_token": TOKEN}))
    out = bidding_tasks.fetch_executions(MARKET, afternoon, warehouse, bidding)
    header = _order_set(warehouse.warehouse_url)
    assert out["status"] == "shadow_executed" and out["executions"] == header["n_steps"] > 0
    assert header["status"] == "recorded" and header["exchange_order_set_id"] is None  # still never sent
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select * from raw.bid_order_steps order by delivery_start_utc, step_index")
        steps = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        cur.execute("select * from raw.bid_executions order by delivery_start_utc, step_index")
        shadow = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        events = [e["event"] for e in audit_trail(conn, header["order_set_id"])]
    assert events == ["generated", "compliance_passed", "recorded_paper", "shadow_executed"]
    assert shadow["exchange_order_set_id"].isna().all()

    market = get_market(MARKET)
    # The exchange's book never saw the paper set: its key is still free for other orders (a reused key with
    # different orders is refused, test_orders_round_trip_and_clear_at_the_realised_price).
    probe = order_payload(MARKET, DAY, header["order_set_id"], steps.iloc[:1], int(steps["resolution_minutes"].iloc[0]))
    assert _client(sim, market.gate_closure_utc(DAY) - timedelta(hours=1)).submit(probe).status == "accepted"
    payload = order_payload(MARKET, DAY, "shadow-reference", steps, int(steps["resolution_minutes"].iloc[0]))
    receipt = _client(sim, market.gate_closure_utc(DAY) - timedelta(hours=1)).submit(payload)
    exchange = (
        _client(sim, market.price_publication_utc(DAY) + timedelta(minutes=1))
        .results(receipt.exchange_order_set_id)
        .sort_values(["delivery_start_utc", "step_index"])
    )
    assert list(shadow["is_accepted"]) == list(exchange["accepted"])
    assert np.allclose(shadow["clearing_price_per_mwh"], exchange["clearing_price_per_mwh"])
    assert np.allclose(shadow["accepted_volume_mw"], exchange["accepted_volume_mw"])

    again = bidding_tasks.fetch_executions(MARKET, afternoon, warehouse, bidding)  # a rerun replaces, never adds
    assert again["executions"] == len(shadow)
    with psycopg2.connect(warehouse.warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.bid_executions")
        assert cur.fetchone()[0] == len(shadow)
