"""The morning bid of the portfolio's paired market (NP) on a real PostgreSQL and the simulator's order API: one
joint order set for the battery and the portfolio's forecast consumption, compliant and submitted; without the
consumption forecast at the cut-off the battery is bid alone, with the reason recorded and emailed."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest

from griddesk import datasets
from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.controls import BiddingSettings, audit_trail
from griddesk.bidding.portfolio import check_portfolio_bid
from griddesk.clock import MORNING, RunClock
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.transform.dbt import run_dbt

MARKET = "NP"
DAY = date(2016, 6, 15)
TOKEN = "test-token"
METERS = ("b1", "b2", "b7")


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    frames = {MARKET: datasets.synthetic_epftoolbox(MARKET)}
    return start_simulator(settings=Settings(markets=MARKET, data_dir=None), frames=frames, tokens=[TOKEN])


@pytest.fixture
def warehouse(warehouse_url, sim) -> Settings:
    """A fresh warehouse with NP's price forecast for D made before the cut-off."""
    market = get_market(MARKET)
    df = datasets.synthetic_epftoolbox(MARKET)
    day = df[df["delivery_date_local"] == DAY]
    forecast = day["price_per_mwh"].to_numpy() + np.random.default_rng(0).normal(0, 2, len(day))
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        for t, f in zip(pd.DatetimeIndex(day["delivery_start_utc"]), forecast, strict=True):
            cur.execute(
                """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
                   delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
                   upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
                   training_start_utc, training_end_utc, cutoff_utc)
                   values (%s, %s, %s, %s, 60, %s, %s, %s, 90, 'EUR', 'prophet', 'test/v1', %s, %s, %s)""",
                (
                    f"NP|{DAY}|test/v1",
                    MARKET,
                    DAY,
                    t.to_pydatetime(),
                    float(f),
                    float(f - 10),
                    float(f + 10),
                    t.to_pydatetime() - timedelta(days=365),
                    t.to_pydatetime() - timedelta(days=1),
                    market.gate_closure_utc(DAY),
                ),
            )
    return Settings(warehouse_url=warehouse_url, simulator_url=sim, markets=MARKET, alert_email_to="desk@example.com")


def _store_consumption(url: str, kwh_per_meter: np.ndarray, champion: bool = True) -> None:
    """Champion forecasts of three meters for D, as griddesk_consumption stores them by the cut-off."""
    market = get_market(MARKET)
    start, _ = market.delivery_day_bounds_utc(DAY)
    hours = pd.date_range(start, periods=len(kwh_per_meter), freq="h")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for meter in METERS:
            for t, kwh in zip(hours, kwh_per_meter, strict=True):
                cur.execute(
                    """insert into raw.consumption_forecasts (market_code, meter_id, model_name, model_id,
                       delivery_date_local, interval_start_utc, forecast_kwh, interval_width_pct, interval_method,
                       is_champion, cutoff_utc) values (%s, %s, 'gbm', 'm1', %s, %s, %s, 80, 'empirical', %s, %s)""",
                    (MARKET, meter, DAY, t.to_pydatetime(), float(kwh), champion, market.gate_closure_utc(DAY)),
                )


def _bidding(**kwargs) -> BiddingSettings:
    return BiddingSettings(order_api_token=TOKEN, predict_demand_response=False, http_max_attempts=2, **kwargs)


def _frame(url: str, sql: str, *args) -> pd.DataFrame:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _run_morning(settings: Settings, bidding: BiddingSettings) -> tuple[dict, dict, dict]:
    clock = RunClock(DAY, MORNING)
    generated = bidding_tasks.generate_order_set(MARKET, clock, settings, bidding)
    checked = bidding_tasks.check_compliance(MARKET, clock, settings, bidding)
    return generated, checked, bidding_tasks.submit_order_set(MARKET, clock, settings, bidding)


def test_the_paired_market_bids_one_joint_order_set_covering_the_consumption(warehouse, tmp_path):
    kwh = 900.0 + 400.0 * np.sin(np.arange(24) / 24 * 2 * np.pi) + 13.7  # 1.5-3.9 MWh per hour, off the ticks
    _store_consumption(warehouse.warehouse_url, kwh)
    generated, checked, submitted = _run_morning(warehouse, _bidding(mode="live", strategy="curves"))
    assert generated["status"] == "generated" and "joint" in generated["portfolio"], generated
    assert checked["passed"] is True and submitted["submitted"] is True, (checked, submitted)

    url = warehouse.warehouse_url
    joint = _frame(url, "select * from raw.portfolio_bids where delivery_date_local = %s order by 3", DAY)
    header = _frame(url, "select * from raw.bid_order_sets where market_code = %s", MARKET).iloc[0]
    assert len(joint) == 24 and (joint["schedule_id"] == header["schedule_id"]).all()
    assert header["strategy"] == "fixed"  # the curves model the battery alone
    assert np.allclose(joint["consumption_forecast_mwh"], kwh * len(METERS) / 1000.0)
    bid = joint.rename(columns={"consumption_forecast_mwh": "consumption_mwh"})
    assert check_portfolio_bid(bid, BatteryConfig()) == []  # within the battery's limits, consumption covered
    assert (bid["buy_mwh"] + bid["discharge_to_load_mwh"] >= bid["consumption_mwh"] - 1e-6).all()

    # The order steps carry the net position of every MTU, each step within the per-order limit.
    steps = _frame(url, "select * from raw.bid_order_steps where order_set_id = %s", header["order_set_id"])
    signed = np.where(steps["side"] == "buy", 1.0, -1.0) * steps["volume_mw"]
    net = signed.groupby(steps["mtu_index"]).sum().reindex(range(24), fill_value=0.0)
    assert np.allclose(net.to_numpy(), joint["position_mwh"].to_numpy(), atol=1e-9)
    assert steps["volume_mw"].max() <= 1.0 and net.max() > 1.0 and steps["is_price_taker"].all()

    schedule = _frame(url, "select * from raw.bid_schedules where market_code = %s order by mtu_index", MARKET)
    assert np.allclose(-schedule["net_position_mw"], joint["position_mwh"])
    assert set(schedule["decision"]) <= {"sold", "stored", "served_consumption", "held"}
    trail = audit_trail(psycopg2.connect(url), header["order_set_id"])
    assert [e["event"] for e in trail] == ["generated", "compliance_passed", "submitted"]
    assert "cannot carry the portfolio" in trail[0]["detail"]["joint_fixed_schedule"]

    # The marts build with their tests (the position identity with consumption, covers_consumption).
    dbt = [
        "build",
        "--select",
        "+dim_markets",
        "+fct_bid_schedules",
        "+fct_portfolio_bids",
        "--indirect-selection",
        "cautious",
    ]
    assert run_dbt(dbt, url, work_dir=tmp_path).success
    marts = _frame(
        url,
        """select s.net_position_mw, s.consumption_mw, p.covers_consumption
                           from marts.fct_bid_schedules s join marts.fct_portfolio_bids p using (delivery_start_utc)
                           order by s.delivery_start_utc""",
    )
    assert len(marts) == 24 and marts["covers_consumption"].all()
    assert np.allclose(marts["consumption_mw"], joint["consumption_forecast_mwh"])


def test_without_the_consumption_forecast_the_battery_is_bid_alone_and_the_desk_is_told(warehouse, smtp_server):
    _store_consumption(warehouse.warehouse_url, np.full(24, 800.0), champion=False)  # no champion: not usable
    generated, checked, _ = _run_morning(warehouse, _bidding())
    assert generated["status"] == "generated" and "no champion consumption forecast" in generated["portfolio"]
    assert checked["passed"] is True
    url = warehouse.warehouse_url
    assert _frame(url, "select count(*) as n from raw.portfolio_bids")["n"].iloc[0] == 0
    schedule = _frame(url, "select decision from raw.bid_schedules where market_code = %s", MARKET)
    assert "served_consumption" not in set(schedule["decision"])
    header = _frame(url, "select * from raw.bid_order_sets where market_code = %s", MARKET).iloc[0]
    trail = audit_trail(psycopg2.connect(url), header["order_set_id"])
    assert "no champion consumption forecast" in trail[0]["detail"]["portfolio_forecast_missing"]
    assert len(smtp_server.messages) == 1 and "battery bid alone" in smtp_server.messages[0]["Subject"]


def test_a_rerun_without_the_forecast_leaves_no_stale_joint_bid_behind(warehouse, smtp_server):
    _store_consumption(warehouse.warehouse_url, np.full(24, 800.0))
    _run_morning(warehouse, _bidding())
    url = warehouse.warehouse_url
    assert _frame(url, "select count(*) as n from raw.portfolio_bids")["n"].iloc[0] == 24
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("delete from raw.consumption_forecasts")
    _, checked, _ = _run_morning(warehouse, _bidding())
    # the battery-only set passes a battery-only compliance check: no consumption is read for it
    assert checked["passed"] is True
    assert _frame(url, "select count(*) as n from raw.portfolio_bids")["n"].iloc[0] == 0


def test_a_joint_set_with_a_battery_over_position_is_rejected_emailed_and_never_submitted(warehouse, smtp_server):
    _store_consumption(warehouse.warehouse_url, np.full(24, 800.0))  # 2.4 MW of consumption every hour
    # The schedule charges the battery at up to 1 MW on top of the consumption: above a 0.2 MW position limit.
    generated, checked, submitted = _run_morning(warehouse, _bidding(mode="live", max_position_mw=0.2))
    assert "joint" in generated["portfolio"] and checked["status"] == "compliance_rejected"
    assert submitted["submitted"] is False
    failed = _frame(
        warehouse.warehouse_url, "select check_name, reason from raw.bid_compliance_results where not passed"
    )
    assert list(failed["check_name"]) == ["position_limit"]
    assert "forecast consumption 2.4000 MW and one tick" in failed["reason"].iloc[0]
    assert len(smtp_server.messages) == 1 and "pre-trade compliance" in smtp_server.messages[0]["Subject"]
