"""Consumption forecasting end to end on the real warehouse: the real meters and Bedford weather served by the
simulator over HTTP, loaded by the feeds' clients and loader, per-meter training and forecasts as of the cut-off,
the portfolio's joint bid, and the dbt marts (accuracy checked against values computed here)."""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest

from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.controls import BiddingSettings
from griddesk.clock import MORNING, RunClock
from griddesk.consumption import store, tasks
from griddesk.consumption.marts import dbt_build_consumption
from griddesk.consumption.models import MODEL_CODE_VERSION
from griddesk.consumption.settings import ConsumptionSettings
from griddesk.feeds import store as feeds_store
from griddesk.feeds import tasks as feed_tasks
from griddesk.feeds.meters import published_until_utc
from griddesk.markets import get_market
from griddesk.settings import Settings
from tests.conftest import _drop_database, _fresh_database
from tests.integration.conftest import default_simulator_kwargs
from tests.integration.helpers import insert_price_forecast

D = date(2018, 3, 14)
METERS = ["b1", "b40"]
SETTINGS = ConsumptionSettings(training_window_days=84, min_clean_days=28, uncertainty_samples=20, refit_every_days=7)


def query(url: str, sql: str, *args) -> pd.DataFrame:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="module")
def pipeline(pg_server_url, start_simulator, shared_data_dir):
    sim = start_simulator(**default_simulator_kwargs())  # feeds serve ../shared/data: the real meters and weather
    name = f"gd_consumption_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    platform = Settings(warehouse_url=url, simulator_url=sim, markets="NP", weather_locations="bedford")
    # history through the feeds DAG's own extraction (run day D-2, 18:00 Zurich)
    for feed, key in (("meter_readings", "portfolio"), ("weather_observations", "bedford")):
        feed_tasks.extract_feed_job({"feed": feed, "key": key}, D - timedelta(days=2), platform, history_days=110)
    out = {"url": url, "sim": sim, "platform": platform}
    out["fetched"] = tasks.fetch_at_cutoff(D, SETTINGS, url, simulator_url=sim)
    out["trained"] = {m: tasks.train_and_forecast_meter(m, D, SETTINGS, url, run_id="t1") for m in METERS}
    out["skipped"] = tasks.train_and_forecast_meter("b_unknown", D, SETTINGS, url)
    yield out
    _drop_database(pg_server_url, name)


def test_meters_are_trained_and_forecast_from_what_was_published_by_the_cut_off(pipeline):
    url = pipeline["url"]
    cutoff = get_market("NP").gate_closure_utc(D)
    assert pipeline["fetched"]["weather_issued_at_utc"] is not None
    for m in METERS:
        assert pipeline["trained"][m]["status"] == "trained", pipeline["trained"][m]
        assert set(pipeline["trained"][m]["refitted_models"]) == {"prophet", "gbm", "gbm_median", "weekly_naive"}
    f = query(url, "select * from raw.consumption_forecasts where delivery_date_local = %s", D)
    assert len(f) == len(METERS) * 5 * 24  # prophet, gbm, gbm_median, weekly naive, ensemble; 24 hours (no DST on D)
    assert (f.groupby(["meter_id", "interval_start_utc"])["is_champion"].sum() == 1).all()
    assert (pd.to_datetime(f["weather_issued_at_utc"]) <= pd.Timestamp(cutoff)).all()
    assert (pd.to_datetime(f["cutoff_utc"]) == pd.Timestamp(cutoff)).all()
    assert (f["lower_kwh"] <= f["upper_kwh"]).all() and f["forecast_kwh"].notna().all()
    # what the models could read: nothing after the readings published by the cut-off
    with psycopg2.connect(url) as conn:
        seen = feeds_store.readings_as_of(conn, "b1", datetime(2017, 1, 1, tzinfo=UTC), cutoff)
    assert seen.index.max() < published_until_utc(cutoff)
    assert seen.index.max() >= published_until_utc(cutoff) - timedelta(hours=1)  # D-2's readings arrived in time
    reg = query(url, "select market_code, model_name, is_champion from raw.forecast_model_registry")
    assert set(reg["market_code"]) == {"METER:B1", "METER:B40"}
    assert reg.groupby("market_code")["is_champion"].sum().eq(1).all()


def test_a_meter_without_data_is_skipped_with_a_reason(pipeline):
    assert pipeline["skipped"]["status"] == "skipped"
    row = query(
        pipeline["url"], "select status, reason from raw.consumption_training_runs where meter_id = 'b_unknown'"
    )
    assert row["status"].tolist() == ["skipped"] and "no readings published by the cut-off" in row["reason"][0]


def test_next_day_reuses_the_weekly_fit_and_predicts(pipeline):
    url, sim = pipeline["url"], pipeline["sim"]
    nxt = D + timedelta(days=1)
    tasks.fetch_at_cutoff(nxt, SETTINGS, url, simulator_url=sim)
    out = tasks.train_and_forecast_meter("b1", nxt, SETTINGS, url)
    assert out["status"] == "trained" and out["refitted_models"] == []
    assert len(query(url, "select 1 from raw.consumption_forecasts where delivery_date_local = %s", nxt)) == 5 * 24


def test_a_fit_stored_by_older_model_code_is_refit_not_reused(pipeline):
    url, nxt = pipeline["url"], D + timedelta(days=1)
    with psycopg2.connect(url) as conn:
        old = pickle.loads(store.load_fit(conn, "b1", "gbm")[2])
        del old.code_version  # as pickled before MODEL_CODE_VERSION was recorded on a fit
        with conn.cursor() as cur:
            cur.execute(
                "update raw.consumption_model_fits set payload = %s where meter_id = 'b1' and model_name = 'gbm'",
                (pickle.dumps(old),),
            )
    out = tasks.train_and_forecast_meter("b1", nxt, SETTINGS, url)
    assert out["status"] == "trained" and out["refitted_models"] == ["gbm"]
    with psycopg2.connect(url) as conn:
        assert pickle.loads(store.load_fit(conn, "b1", "gbm")[2]).code_version == MODEL_CODE_VERSION


def test_portfolio_bid_and_marts(pipeline):
    url, platform = pipeline["url"], pipeline["platform"]
    insert_price_forecast(url, "NP", D)  # an input: D's price forecast (morning DAG's job)
    bid = bidding_tasks.generate_order_set(
        "NP", RunClock(D, MORNING), platform, BiddingSettings(predict_demand_response=False)
    )
    assert bid["status"] == "generated" and "joint" in bid["portfolio"], bid
    b = query(url, "select * from raw.portfolio_bids where delivery_date_local = %s order by delivery_start_utc", D)
    champ = query(
        url,
        """select interval_start_utc, sum(forecast_kwh) as kwh from raw.consumption_forecasts
                          where delivery_date_local = %s and is_champion group by 1 order by 1""",
        D,
    )
    np.testing.assert_allclose(b["consumption_forecast_mwh"], champ["kwh"] / 1000.0, rtol=1e-12)
    assert (b["buy_mwh"] + b["discharge_to_load_mwh"] >= b["consumption_forecast_mwh"] - 1e-6).all()
    battery = BatteryConfig()
    assert b["soc_mwh"].between(battery.soc_min_mwh - 1e-6, battery.soc_max_mwh + 1e-6).all()
    assert set(b["decision"]) <= {"sell", "store", "consume", "buy"}

    # D's readings arrive (run day D+2), then the marts score the forecasts
    feed_tasks.extract_feed_job(
        {"feed": "meter_readings", "key": "portfolio"}, D + timedelta(days=2), platform, history_days=3
    )
    dbt_build_consumption(url)
    acc = query(url, "select * from marts.fct_consumption_forecast_accuracy where delivery_date_local = %s", D)
    assert len(acc) == len(METERS) * 5  # prophet, gbm, gbm_median, weekly naive, ensemble
    raw = query(
        url,
        """select f.meter_id, f.model_name, f.forecast_kwh, r.energy_kwh
                        from raw.consumption_forecasts f join raw.meter_readings r
                          on r.meter_id = f.meter_id and r.interval_start_utc = f.interval_start_utc
                        where f.delivery_date_local = %s and r.energy_kwh <> 0""",
        D,
    )
    raw = raw.drop_duplicates(["meter_id", "model_name", "forecast_kwh", "energy_kwh"])
    for (m, model), g in raw.groupby(["meter_id", "model_name"]):
        row = acc[(acc["meter_id"] == m) & (acc["model_name"] == model)].iloc[0]
        err = g["forecast_kwh"].to_numpy() - g["energy_kwh"].to_numpy()
        a = g["energy_kwh"].to_numpy()
        assert row["n_hours"] == 24
        assert row["mae_kwh"] == pytest.approx(np.abs(err).mean())
        assert row["rmse_kwh"] == pytest.approx(np.sqrt((err**2).mean()))
        assert row["mape_pct"] == pytest.approx(np.abs(err / a).mean() * 100)
        assert row["r2"] == pytest.approx(1 - (err**2).sum() / ((a - a.mean()) ** 2).sum())
        assert row["mape_note"].startswith("MAPE skips zero actuals")
    port = query(url, "select * from marts.fct_portfolio_consumption_forecast where delivery_date_local = %s", D)
    assert len(port) == 24 and (port["n_meters"] == len(METERS)).all()
    np.testing.assert_allclose(port.sort_values("interval_start_utc")["forecast_kwh"], champ["kwh"], rtol=1e-9)
    assert port["actual_kwh"].notna().all()
    bids = query(url, "select covers_consumption from marts.fct_portfolio_bids")
    assert len(bids) == 24 and bids["covers_consumption"].all()


def test_a_failing_meter_is_recorded_as_failed_and_raises(pipeline):
    broken = SETTINGS.model_copy(update={"weather_location": "atlantis"})  # no such weather location
    with pytest.raises(LookupError, match="atlantis"):
        tasks.train_and_forecast_meter("b1", D + timedelta(days=3), broken, pipeline["url"])
    row = query(
        pipeline["url"],
        "select status, reason from raw.consumption_training_runs where delivery_date_local = %s",
        D + timedelta(days=3),
    )
    assert row["status"].tolist() == ["failed"] and "atlantis" in row["reason"][0]
