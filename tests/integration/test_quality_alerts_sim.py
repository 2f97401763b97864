"""The watch alerts from bad data injected through the simulator over HTTP: forecast drift (a price publication
shifted by ``value_shift``, scored by the accuracy mart that real dbt builds), a bid execution failure (the order
API refuses the live order set) and a missed deadline (the price endpoint fails beyond the client's retry budget,
so the morning path records no orders).

Real simulator, real extraction and bidding task bodies, real Prophet, real PostgreSQL, real SMTP (aiosmtpd).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.bidding import tasks as bidding_tasks
from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeHttpError
from griddesk.extraction import tasks as extraction
from griddesk.markets import get_market
from griddesk.quality.settings import get_quality_settings
from griddesk.quality.tasks import run_watch
from griddesk.settings import Settings, get_settings
from griddesk.simulator.security import admin_headers
from tests.integration.helpers import clear_faults
from tests.integration.helpers import html_body as html
from tests.integration.helpers import inject_fault as inject
from tests.integration.helpers import query_rows as query

pytestmark = pytest.mark.slow

MARKET = "FR"
DAY = date(2016, 6, 15)  # delivery day D; the morning run is on D-1 = run day X
RUN_DAY = DAY - timedelta(days=1)
DRIFT_WINDOW_DAYS = 3
SHIFT_PER_MWH = 40.0


@pytest.fixture(scope="module")
def frame():
    return datasets.synthetic_epftoolbox(MARKET)


@pytest.fixture(scope="module")
def sim(start_simulator, frame) -> str:
    return start_simulator(settings=Settings(markets=MARKET, data_dir=None), frames={MARKET: frame})


@pytest.fixture
def env(warehouse_url, sim, monkeypatch) -> str:
    for key, value in {
        "GRIDDESK_WAREHOUSE_URL": warehouse_url,
        "GRIDDESK_SIMULATOR_URL": sim,
        "GRIDDESK_MARKETS": MARKET,
        "GRIDDESK_FORECAST_HISTORY_DAYS": "21",
        "GRIDDESK_QUALITY_DRIFT_WINDOW_DAYS": str(DRIFT_WINDOW_DAYS),
        "GRIDDESK_ALERT_EMAIL_TO": "desk@example.com",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    get_quality_settings.cache_clear()
    clear_faults(sim)
    yield warehouse_url
    get_settings.cache_clear()
    get_quality_settings.cache_clear()


def price_job() -> dict:
    (job,) = [j for j in extraction.feed_jobs([MARKET]) if j["feed"] == "day_ahead_prices"]
    return job


def insert_forecasts(url: str, frame, days: list[date], model_version: str) -> None:
    """The forecast side of the drift check: forecasts equal to the dataset's prices (the simulator's truth)."""
    market = get_market(MARKET)
    rows = frame[frame["delivery_date_local"].isin(days)]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for r in rows.itertuples(index=False):
            t = r.delivery_start_utc.to_pydatetime()
            cutoff = market.gate_closure_utc(r.delivery_date_local)
            cur.execute(
                """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
                       delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
                       upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
                       training_start_utc, training_end_utc, cutoff_utc)
                   values (%s, %s, %s, %s, 60, %s, %s, %s, 90, 'EUR', 'prophet', %s, %s, %s, %s)""",
                (
                    f"{MARKET}|{r.delivery_date_local}|{model_version}",
                    MARKET,
                    r.delivery_date_local,
                    t,
                    r.price_per_mwh,
                    r.price_per_mwh - 10,
                    r.price_per_mwh + 10,
                    model_version,
                    cutoff - timedelta(days=365),
                    cutoff - timedelta(days=1),
                    cutoff,
                ),
            )


def build_scores(url: str) -> None:
    """The live forecast-error mart the drift watch reads, built by real dbt from the raw forecasts and prices."""
    from griddesk.transform.dbt import run_dbt

    result = run_dbt(["run", "--select", "+fct_forecast_drift"], url, {"as_of_utc": datetime.now(UTC)})
    assert "fct_forecast_drift" in {n.name for n in result.nodes if n.status == "success"}


def test_shifted_price_publication_raises_the_forecast_drift_alert(env, sim, frame, smtp_server):
    days = [RUN_DAY - timedelta(days=i) for i in range(DRIFT_WINDOW_DAYS)]
    insert_forecasts(env, frame, days, "truth/v1")
    clock = RunClock(DAY, MORNING)  # extracts prices of D-7 .. D-1
    now = clock.sim_now(MARKET)

    extraction.extract_for_run(price_job(), clock)
    before = run_watch("forecast_drift", RUN_DAY, now)  # no dbt build yet: said so, nothing sent
    assert before["missing"] == ["marts.fct_forecast_drift"] and before["alerts"] == []
    assert smtp_server.messages == []

    # The price endpoint publishes the whole requested week 40 EUR/MWh too high; the real extraction loads it.
    inject(sim, "entsoe.A44", "value_shift", offset=SHIFT_PER_MWH)
    summary = extraction.extract_for_run(price_job(), clock)
    assert summary["versions_inserted"] == 7
    newest = query(
        env,
        """select distinct on (delivery_start_utc) delivery_start_utc, price_per_mwh
                           from raw.entsoe_day_ahead_prices where delivery_date_local = %s
                           order by delivery_start_utc, version desc""",
        RUN_DAY,
    )
    truth = frame[frame["delivery_date_local"] == RUN_DAY]["price_per_mwh"].to_numpy()
    assert np.allclose([r[1] for r in newest], truth + SHIFT_PER_MWH)

    build_scores(env)  # (a clean window below the threshold: test_watch_thresholds_on_stored_rows)
    out = run_watch("forecast_drift", RUN_DAY, now)
    assert out["alerts"] == out["sent"] == [f"forecast_drift|{MARKET}|{RUN_DAY}"] and out["missing"] == []
    run_watch("forecast_drift", RUN_DAY, now)  # a retry: nothing new
    assert [m["Subject"] for m in smtp_server.messages] == [
        f"[GridDesk][WARNING] forecast drift (rolling {DRIFT_WINDOW_DAYS}-day MAE) for {MARKET} {RUN_DAY}"
    ]
    # The email's figures are the mart's: scored MTUs and the MTU-weighted MAE of the window's days.
    (mart,) = query(
        env,
        """select sum(scored_mtu_count), sum(forecast_mae_per_mwh * scored_mtu_count)
                                / sum(scored_mtu_count)
                            from marts.fct_price_forecast_daily_scores
                            where market_code = %s and delivery_date_local between %s and %s""",
        MARKET,
        days[-1],
        RUN_DAY,
    )
    assert mart[0] == 72 and abs(mart[1] - SHIFT_PER_MWH) < 1e-6  # 3 days x 24 MTUs, all 40 EUR/MWh off
    body = html(smtp_server.messages[0])
    assert f">{mart[1]:.2f}<" in body and ">25.00<" in body and "truth/v1" in body and f">{mart[0]}<" in body
    assert "Forecasts and orders still go out" in body


def test_order_api_rejection_of_the_live_order_set_raises_the_bid_execution_alert(
    env, sim, frame, smtp_server, monkeypatch
):
    monkeypatch.setenv("GRIDDESK_BIDDING_MODE", "live")
    monkeypatch.setenv("GRIDDESK_BIDDING_PREDICT_DEMAND_RESPONSE", "false")
    clock = RunClock(DAY, MORNING)
    # D's price forecast as the morning's forecast task stores it (the real Prophet run costs ~4 min here, so it
    # is stored directly, as in test_bidding_execution); then the real bid, compliance and submit task bodies.
    extraction.extract_for_run(price_job(), clock)
    insert_forecasts(env, frame, [DAY], "truth/v1")
    bidding_tasks.bid_for_run(MARKET, clock)
    assert bidding_tasks.check_compliance(MARKET, clock)["status"] == "ready"

    reason = "order 3: limit price rejected by the plausibility check of the exchange"
    inject(sim, "orders.submit", "order_rejected", reason=reason)
    outcome = bidding_tasks.submit_order_set(MARKET, clock)
    assert outcome["status"] == "submission_failed" and outcome["submitted"] is False

    closure = get_market(MARKET).gate_closure_utc(DAY)
    out = run_watch("bid_executions", RUN_DAY, closure - timedelta(minutes=30))
    assert out["alerts"] == out["sent"] == [f"bid_execution|{MARKET}|{DAY}"]
    run_watch("bid_executions", RUN_DAY, closure - timedelta(minutes=30))  # a retry: nothing new
    # The orders were recorded (only their submission failed): no deadline alert on top.
    assert run_watch("deadline", RUN_DAY, closure - timedelta(minutes=10))["alerts"] == []
    watch = [m for m in smtp_server.messages if "bid execution failure" in m["Subject"]]
    assert [m["Subject"] for m in watch] == [f"[GridDesk][CRITICAL] bid execution failure for {MARKET} {DAY}"]
    body = html(watch[0])
    assert "submission failed" in body and reason in body and outcome["order_set_id"] in body
    assert "hedge manually before gate closure" in body


def test_price_endpoint_failing_beyond_the_retry_budget_raises_the_deadline_alert(env, sim, smtp_server):
    clock = RunClock(DAY, MORNING)
    closure = get_market(MARKET).gate_closure_utc(DAY)
    inject(sim, "entsoe.A44", "http_5xx", status=503, times=4)  # EntsoeClient makes 4 attempts
    with pytest.raises(EntsoeHttpError, match="503"):
        extraction.extract_for_run(price_job(), clock)  # the morning's first task fails; nothing downstream runs
    faults = requests.get(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).json()
    assert [f["kind"] for f in faults["injected"]] == ["http_5xx"] * 4 and faults["queued"] == []
    assert query(env, "select count(*) from raw.bid_orders where delivery_date_local = %s", DAY) == [(0,)]

    assert run_watch("deadline", RUN_DAY, closure - timedelta(hours=3))["alerts"] == []  # before the deadline
    out = run_watch("deadline", RUN_DAY, closure - timedelta(minutes=20))
    assert out["sent"] == [f"deadline|{MARKET}|{DAY}"]
    run_watch("deadline", RUN_DAY, closure - timedelta(minutes=10))  # a rerun: nothing new
    assert [m["Subject"] for m in smtp_server.messages] == [
        f"[GridDesk][CRITICAL] griddesk_morning missed its deadline for {MARKET} {DAY}"
    ]
    body = html(smtp_server.messages[0])
    assert f"No orders for {MARKET} {DAY}" in body and closure.isoformat() in body
