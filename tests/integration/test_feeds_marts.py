"""The operations marts, built for real with dbt on a fresh warehouse filled through the feed clients over HTTP.

One module, one warehouse: the feeds are extracted for two run days (with injected faults, DST days for the
tariffs, an order set at the exchange handed to the battery and an old plant sample that retention folds), then dbt
builds the marts; a second build on top checks the incremental marts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.bidding import gate
from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.compliance import CHECKS
from griddesk.bidding.controls import BiddingSettings
from griddesk.feeds import tasks as feed_tasks
from griddesk.feeds.errors import FeedHttpError
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from griddesk.transform.dbt import build
from griddesk.transform.tasks import DBT_SELECT
from tests.conftest import _drop_database, _fresh_database
from tests.integration.helpers import feeds_settings

SPRING, AUTUMN = date(2016, 3, 27), date(2016, 10, 30)
RUN_DATE = date(2016, 10, 31)
#: Faults injected on the weather archive before its one successful answer.
ARCHIVE_FAULTS = [
    ("http_5xx", {"status": 503}),
    ("http_5xx", {"status": 500}),
    ("rate_limit", {"retry_after_s": 1}),
    ("timeout", {"delay_s": 2.5}),
    ("truncated", {}),
]


def query(url: str, sql: str, *args) -> pd.DataFrame:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def inject(sim: str, endpoint: str, kind: str, **params) -> None:
    requests.post(
        f"{sim}/admin/faults", headers=admin_headers(), json={"endpoint": endpoint, "kind": kind, **params}, timeout=5
    ).raise_for_status()


def _record_orders(url: str, day: date) -> None:
    """An FR order set at the exchange for ``day`` (as the morning DAG leaves it after a live submission): buy 1 MW at
    02:00 UTC, sell 1 MW at 17:00 UTC, both price-takers, with the passed compliance checks of exactly these steps
    (the submission gate hands nothing else to the battery)."""
    os_id = f"FR|{day}|fixed|test"
    steps = []
    for mtu, (hour, side, limit) in enumerate(((2, "buy", 3000.0), (17, "sell", -500.0))):
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)
        steps.append(
            {
                "delivery_start_utc": start,
                "resolution_minutes": 60,
                "side": side,
                "volume_mw": 1.0,
                "limit_price_per_mwh": limit,
                "mtu_index": mtu,
            }
        )
    digest = gate.steps_digest("FR", steps)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_order_sets (order_set_id, market_code, delivery_date_local, schedule_id, strategy,
                   trading_mode, status, forecast_model_version, end_soc_mode, expected_value, currency, n_steps,
                   gate_closure_utc, exchange_order_set_id)
               values (%s, 'FR', %s, 's', 'fixed', 'live', 'submitted', 'test', 'fixed', 0, 'EUR', 2, %s, 'OS-test')""",
            (os_id, day, datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=12)),
        )
        for step in steps:
            cur.execute(
                """insert into raw.bid_order_steps (order_set_id, market_code, delivery_date_local, delivery_start_utc,
                       mtu_index, resolution_minutes, step_index, side, volume_mw, volume_ticks, limit_price_per_mwh,
                       price_ticks, is_price_taker, currency)
                   values (%s, 'FR', %s, %s, %s, 60, 0, %s, 1.0, 10, %s, %s, true, 'EUR')""",
                (
                    os_id,
                    day,
                    step["delivery_start_utc"],
                    step["mtu_index"],
                    step["side"],
                    step["limit_price_per_mwh"],
                    round(step["limit_price_per_mwh"] * 100),
                ),
            )
        for check in CHECKS:
            cur.execute(
                """insert into raw.bid_compliance_results (order_set_id, check_name, passed, steps_sha256)
                   values (%s, %s, true, %s)""",
                (os_id, check, digest),
            )


@pytest.fixture(scope="module")
def built(pg_server_url, start_simulator):
    sim = start_simulator(
        settings=Settings(markets="FR", ckw_reference_market="FR"), frames={"FR": datasets.synthetic_epftoolbox("FR")}
    )
    name = f"gd_feedmarts_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    settings = feeds_settings(url, sim, weather_locations="FR,bedford", feeds_timeout_s=1.5, feeds_max_attempts=6)
    # the tariffs of both DST days
    for run_date in (SPRING, AUTUMN):
        feed_tasks.extract_feed_job({"feed": "ckw_dynamic_tariffs", "key": "home_dynamic"}, run_date, settings)
    # an order set at the exchange, handed to the battery through the submission gate
    _record_orders(url, RUN_DATE - date.resolution * 2)
    submitted = bidding_tasks.submit_orders_for_run(RUN_DATE, settings, bidding=BiddingSettings(mode="live"))
    # faults: five failed attempts on the weather archive before it answers; an expired token once; a job that
    # fails for good (its calls still count)
    for kind, params in ARCHIVE_FAULTS:
        inject(sim, "weather.archive", kind, **params)
    inject(sim, "ckw.tra_signals", "expired_token")
    for job in feed_tasks.feed_jobs(settings):
        feed_tasks.extract_feed_job(job, RUN_DATE, settings)
    inject(sim, "bms.status", "http_5xx", times=6)
    with pytest.raises(FeedHttpError):
        feed_tasks.extract_feed_job({"feed": "battery_status", "key": "FR"}, RUN_DATE + timedelta(days=1), settings)
    injected = requests.get(f"{sim}/admin/faults", headers=admin_headers(), timeout=5).json()["injected"]
    # plant: three polls now, one 100 days ago that retention folds into an hourly aggregate
    now = feed_tasks.feeds_sim_now(RUN_DATE)
    for k in range(3):
        feed_tasks.poll_plant("lutersarni", now + timedelta(minutes=5 * k), settings)
    feed_tasks.poll_plant("lutersarni", now - timedelta(days=100), settings)
    feed_tasks.apply_retention_for_run(RUN_DATE, settings)
    first = build(url, select=DBT_SELECT)
    yield {"url": url, "sim": sim, "settings": settings, "injected": injected, "submitted": submitted, "build": first}
    _drop_database(pg_server_url, name)


def test_dbt_builds_every_feed_model_and_test(built):
    names = {n.name for n in built["build"].nodes}
    for mart in (
        "fct_dynamic_tariffs",
        "fct_plant_status",
        "dim_plants",
        "fct_control_signals",
        "fct_weather",
        "fct_battery_status",
        "fct_meter_consumption",
        "dim_meters",
        "fct_api_health",
    ):
        assert mart in names
    assert not built["build"].failures


def test_dst_days_have_92_and_100_quarter_hours_in_the_tariff_mart(built):
    days = query(
        built["url"],
        """select delivery_date_local, tariff_type, count(*) as n, count(distinct utc_offset_minutes) as offsets
           from marts.fct_dynamic_tariffs where delivery_date_local in (%s, %s)
           group by 1, 2 order by 1, 2""",
        SPRING,
        AUTUMN,
    )
    assert set(days.loc[days["delivery_date_local"] == SPRING, "n"]) == {92}
    assert set(days.loc[days["delivery_date_local"] == AUTUMN, "n"]) == {100}
    assert set(days["offsets"]) == {2} and len(days) == 8
    units = query(built["url"], "select distinct currency, unit from marts.fct_dynamic_tariffs")
    assert units.values.tolist() == [["CHF", "CHF_kWh"]]


def test_api_health_counts_the_injected_failures_exactly(built):
    health = query(
        built["url"],
        """select endpoint, sum(n_calls) as calls, sum(n_success) as ok, sum(n_failures) as failed,
                  sum(n_http_5xx) as s5xx, sum(n_http_429) as s429, sum(n_timeouts) as timeouts,
                  sum(n_http_401) as s401, sum(n_other_failures) as other, min(success_rate) as rate
           from marts.fct_api_health group by endpoint""",
    ).set_index("endpoint")
    archive = health.loc["weather.archive"]
    # two locations, one request each; the five faults hit the first one
    assert (archive.calls, archive.ok, archive.failed) == (7, 2, 5)
    assert (archive.s5xx, archive.s429, archive.timeouts, archive.other) == (2, 1, 1, 1)
    assert health.loc["ckw.tra_signals"].s401 == 1
    assert (health.loc["bms.status"].s5xx, health.loc["bms.status"].failed) == (6, 6)
    injected = pd.Series([f["endpoint"] for f in built["injected"]]).value_counts()
    assert injected["weather.archive"] == archive.failed
    assert injected["bms.status"] == health.loc["bms.status"].failed
    assert health.loc["oauth.token", "failed"] == 0


def test_api_health_has_percentiles_per_endpoint_and_hour(built):
    rows = query(
        built["url"],
        "select latency_p50_ms, latency_p95_ms, success_rate from marts.fct_api_health where n_calls > 1",
    )
    assert len(rows) > 0
    assert (rows["latency_p50_ms"] <= rows["latency_p95_ms"]).all()
    assert rows["success_rate"].between(0, 1).all()


def test_meter_zeros_become_missing_readings_in_the_mart(built):
    counts = query(
        built["url"],
        """select (select count(*) from raw.meter_readings where energy_kwh = 0) as raw_zeros,
                  (select count(*) from marts.fct_meter_consumption where missing_reason = 'zero_reading'
                       and energy_kwh is null and reported_energy_kwh = 0) as mart_missing,
                  (select count(*) from marts.fct_meter_consumption) as mart_rows,
                  (select count(*) from raw.meter_readings) as raw_rows,
                  (select count(*) from marts.dim_meters) as meters""",
    ).iloc[0]
    assert counts.raw_zeros == counts.mart_missing
    assert counts.mart_rows == counts.raw_rows and counts.meters == 20


def test_battery_status_follows_the_cleared_orders(built):
    assert built["submitted"]["cleared"] == 2
    day = RUN_DATE - date.resolution * 2
    rows = query(
        built["url"],
        """select interval_start_utc, soc_pct, active_power_mw from marts.fct_battery_status
           where battery_id = 'griddesk-bess-fr' and interval_start_utc::date = %s order by 1""",
        day,
    ).set_index("interval_start_utc")
    midnight = pd.Timestamp(datetime.combine(day, datetime.min.time())).tz_localize(UTC)

    def at(hours: int, minutes: int = 0) -> pd.Series:
        return rows.loc[midnight + timedelta(hours=hours, minutes=minutes)]

    assert at(2, 30).active_power_mw == -1.0 and at(17, 30).active_power_mw == 1.0
    assert at(3).soc_pct > at(2).soc_pct and at(18).soc_pct < at(17).soc_pct


def test_plant_status_keeps_recent_samples_and_hourly_aggregates_of_old_ones(built):
    rows = query(
        built["url"],
        "select resolution_minutes, is_hourly_aggregate, count(*) as n from marts.fct_plant_status group by 1, 2 order by 1",
    )
    assert rows.values.tolist() == [[5, False, 3], [60, True, 1]]
    plant = query(built["url"], "select plant_id, n_samples, rated_power_mw from marts.dim_plants")
    assert plant.values.tolist() == [["lutersarni", 4, 2.3]]


def test_weather_forecasts_only_look_ahead_of_their_issue_time(built):
    kinds = query(
        built["url"],
        """select value_kind, location_code, count(*) as n, min(lead_hours) as min_lead
           from marts.fct_weather group by 1, 2 order by 1, 2""",
    )
    forecasts = kinds[kinds["value_kind"] == "forecast"]
    assert set(forecasts["min_lead"]) == {1} and set(forecasts["n"]) == {48}
    observations = kinds[kinds["value_kind"] == "observation"]
    assert set(observations["n"]) == {24 * 7}


def test_control_signals_are_published_up_to_the_previous_day(built):
    last = query(built["url"], "select max(signal_date_local) as last from marts.fct_control_signals").iloc[0, 0]
    assert last == RUN_DATE - timedelta(days=1)


def test_an_incremental_build_picks_up_new_days_and_rebuilds_nothing_else(built):
    url, settings = built["url"], built["settings"]
    before = query(
        url, "select delivery_date_local, max(audit_invocation_id) as inv from marts.fct_dynamic_tariffs group by 1"
    )
    feed_tasks.extract_feed_job(
        {"feed": "ckw_dynamic_tariffs", "key": "home_dynamic"}, RUN_DATE + timedelta(days=1), settings
    )
    feed_tasks.extract_feed_job({"feed": "meter_readings", "key": "portfolio"}, RUN_DATE + timedelta(days=1), settings)
    build(url, select=DBT_SELECT)
    after = query(
        url, "select delivery_date_local, max(audit_invocation_id) as inv from marts.fct_dynamic_tariffs group by 1"
    )
    merged = before.merge(after, on="delivery_date_local", suffixes=("_before", "_after"))
    assert (merged["inv_before"] == merged["inv_after"]).all()  # old days untouched
    assert len(after) == len(before) + 1
    dup = query(
        url, "select count(*) - count(distinct (meter_id, interval_start_utc)) as d from marts.fct_meter_consumption"
    )
    assert dup.iloc[0, 0] == 0
    raw = query(url, "select count(distinct (meter_id, interval_start_utc)) as n from raw.meter_readings").iloc[0, 0]
    assert query(url, "select count(*) as n from marts.fct_meter_consumption").iloc[0, 0] == raw
