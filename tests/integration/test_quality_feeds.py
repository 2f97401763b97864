"""The feeds-wide GX run and the watches, end to end: simulator over HTTP (with injected faults) -> real loaders ->
real Postgres -> real GX -> raw.dq_validation_results -> real dbt marts, and alerts to a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from griddesk.feeds import tasks as feed_tasks
from griddesk.quality import gx_runner
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, QualityGate
from griddesk.quality.tasks import validate_feeds_for_run
from griddesk.settings import get_settings
from tests.conftest import _drop_database, _fresh_database
from tests.integration.helpers import clear_faults, feeds_env, set_env, synthetic_simulator
from tests.integration.helpers import html_body as html
from tests.integration.helpers import inject_fault as inject
from tests.integration.helpers import query_frame as query

pytestmark = pytest.mark.slow

RUN_DAY = date(2016, 10, 31)  # tariffs for X+1 = 1 Nov; the London/UTC days before include the 25-hour 30 Oct
TARIFF_DAY = RUN_DAY + timedelta(days=1)


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """One GX import for the module, over a throw-away copy of the committed context."""
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return QualityGate(root)


@pytest.fixture(scope="module")
def sim(start_simulator):
    return synthetic_simulator(start_simulator, "FR")


@pytest.fixture
def env(pg_server_url, sim, gate, monkeypatch):
    """A fresh warehouse with a clean week of every daily feed for RUN_DAY; the gate used by the task is ``gate``."""
    name = f"gd_dqfeeds_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    set_env(monkeypatch, feeds_env(url, sim))
    get_settings.cache_clear()
    monkeypatch.setattr(gx_runner, "default_gate", lambda: gate)
    clear_faults(sim)
    for job in feed_tasks.feed_jobs():
        feed_tasks.extract_feed_job(job, RUN_DAY, history_days=2)
    yield url
    get_settings.cache_clear()
    _drop_database(pg_server_url, name)


def test_clean_feeds_pass_and_the_marts_match_the_gx_run(env, smtp_server):
    from griddesk.transform.dbt import build

    out = validate_feeds_for_run(RUN_DAY, "run-clean")
    assert out["alerts_sent"] == [] and smtp_server.messages == []
    assert set(out["verdicts"]) == {
        "raw_ckw_dynamic_tariffs",
        "raw_ckw_tra_signals",
        "raw_weather_observations",
        "raw_weather_forecasts",
        "raw_bms_battery_status",
        "raw_meter_readings",
    }
    assert all(ok for suite in out["verdicts"].values() for ok in suite.values())
    # The 25-hour London day 30 Oct 2016: 20 meters x 25 hours.
    meters = query(
        env,
        "select observed_value from raw.dq_validation_results where suite_name='raw_meter_readings' "
        "and expectation_id='row_count_matches_day'",
    )
    assert meters["observed_value"].tolist() == ["500"]

    result = build(env, select=["+tag:monitoring"])  # the monitoring marts and their staging views
    assert result.success, [n for n in result.nodes if n.status not in ("success", "pass")]
    raw = query(
        env,
        "select suite_name, expectation_id, severity, market_code, delivery_date_local, success, "
        "observed_value, expected from raw.dq_validation_results where run_id='run-clean'",
    )
    mart = query(
        env,
        "select suite_name, expectation_id, severity, market_code, delivery_date_local, "
        "is_success as success, observed_value, expected_value as expected, audit_run_id "
        "from marts.fct_data_quality_results",
    )
    assert set(mart["audit_run_id"]) == {"run-clean"}
    key = ["suite_name", "market_code", "expectation_id"]
    pd.testing.assert_frame_equal(
        raw.sort_values(key).reset_index(drop=True),
        mart.drop(columns="audit_run_id").sort_values(key).reset_index(drop=True),
    )
    summary = query(env, "select suite_name, status, n_expectations from marts.fct_data_quality_daily_summary")
    assert set(summary["status"]) == {"trusted"}
    assert summary.set_index("suite_name")["n_expectations"].to_dict() == raw.groupby("suite_name").size().to_dict()


def test_missing_tariff_intervals_block_the_feed_day_and_email_once(env, sim, smtp_server):
    # The simulator drops 3 quarter-hours in the middle of X+1's answer: a new, incomplete version of the day.
    inject(sim, "ckw.dynamic_prices", "missing_intervals", n_intervals=3, times=1)
    feed_tasks.extract_feed_job({"feed": "ckw_dynamic_tariffs", "key": "home_dynamic"}, RUN_DAY, history_days=0)

    out = validate_feeds_for_run(RUN_DAY, "run-bad")
    assert out["verdicts"]["raw_ckw_dynamic_tariffs"] == {"home_dynamic": False}
    assert all(ok for suite, v in out["verdicts"].items() if suite != "raw_ckw_dynamic_tariffs" for ok in v.values())
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["Subject"] == f"[GridDesk][CRITICAL] raw_ckw_dynamic_tariffs failed for home_dynamic {TARIFF_DAY}"
    body = html(msg)
    assert "row_count_matches_day" in body and "<td" in body
    assert ">372<" in body and ">384 rows<" in body  # 4 types x 93 of the 96 quarter-hours, observed vs expected
    assert "is blocked" in body and "/gx/index.html" in body

    # A retry (same run) and a rerun (new run id) send nothing more.
    validate_feeds_for_run(RUN_DAY, "run-bad")
    validate_feeds_for_run(RUN_DAY, "run-bad-rerun")
    assert len(smtp_server.messages) == 1

    # The same run's data gap goes out through the watch machinery, once.
    from griddesk.quality.watches import data_gap_alerts, send_watch_alerts

    with psycopg2.connect(env) as conn:
        gaps = data_gap_alerts(conn, TARIFF_DAY - timedelta(days=1), TARIFF_DAY)
    assert [a.key for a in gaps] == [f"data_gap|home_dynamic|{TARIFF_DAY}"]
    assert sorted(r[0] for r in gaps[0].rows) == ["electricity", "grid", "grid_usage", "integrated"]
    assert {r[3] for r in gaps[0].rows} == {3}
    assert send_watch_alerts(env, gaps, "desk@example.com") == [gaps[0].key]
    assert len(smtp_server.messages) == 2
    assert send_watch_alerts(env, gaps, "desk@example.com") == []
    gap_msg = smtp_server.messages[-1]
    assert gap_msg["Subject"].startswith("[GridDesk][WARNING] data gap in ckw_dynamic_tariffs for home_dynamic")
    assert "absent" in html(gap_msg) and "Nothing is blocked" in html(gap_msg)


def test_a_warning_alerts_but_does_not_block(env, smtp_server):
    # One poll registers the plant; a day with a single 5-minute sample misses its completeness SLA (a warning).
    feed_tasks.poll_plant("lutersarni", datetime(2016, 10, 30, 12, 5, tzinfo=UTC))
    out = validate_feeds_for_run(RUN_DAY, "run-warn")
    assert out["verdicts"]["raw_ckw_plant_telemetry"] == {"lutersarni": True}
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["Subject"] == "[GridDesk][WARNING] raw_ckw_plant_telemetry has warnings for lutersarni 2016-10-30"
    body = html(msg)
    assert "row_count_matches_day" in body and "&gt;= 274 and &lt;= 288" in body and "is used as it is" in body


def test_api_health_alert_counts_injected_failures(env, sim, smtp_server):
    from griddesk.quality.watches import api_health_alerts, send_watch_alerts

    since = datetime.now(UTC)  # after the fixture's own clean extraction
    inject(sim, "weather.archive", "http_5xx", status=503, times=2)
    feed_tasks.extract_feed_job({"feed": "weather_observations", "key": "FR"}, RUN_DAY, history_days=1)
    with psycopg2.connect(env) as conn:
        alerts = api_health_alerts(conn, since, datetime.now(UTC) + timedelta(seconds=1), 0.9, 3)
    assert [a.scope for a in alerts] == ["weather.archive"]
    assert alerts[0].rows[0][2:4] == (3, 1)  # 2 injected 503s, then the retry that succeeded
    assert send_watch_alerts(env, alerts, "desk@example.com") == [alerts[0].key]
    msg = smtp_server.messages[0]
    assert msg["Subject"] == f"[GridDesk][WARNING] API health below threshold for weather.archive {alerts[0].day}"
    assert "33%" in html(msg) and "503" in html(msg)


def _insert_day(url: str, market: str, day: date, actual: float, forecast: float, actual_hours: int | None = None):
    """A day of hourly forecasts, and realised prices for its first ``actual_hours`` hours (default: all)."""
    from griddesk.markets import get_market

    m = get_market(market)
    start, end = m.delivery_day_bounds_utc(day)
    hours = int((end - start).total_seconds() // 3600)
    n_actual = hours if actual_hours is None else actual_hours
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.entsoe_deliveries (feed, market_code, series_code, delivery_date_local, version,
                   content_sha256, n_points, published_at_utc, extracted_at_utc, source_url)
               values ('day_ahead_prices', %s, 'price', %s, 1, 'sha', %s, %s, %s, 'test') returning delivery_id""",
            (market, day, n_actual, start, start),
        )
        did = cur.fetchone()[0]
        for h in range(hours):
            t = start + timedelta(hours=h)
            if h < n_actual:
                cur.execute(
                    """insert into raw.entsoe_day_ahead_prices (delivery_id, market_code, delivery_date_local,
                           delivery_start_utc, resolution_minutes, price_per_mwh, currency, version, published_at_utc)
                       values (%s, %s, %s, %s, 60, %s, 'EUR', 1, %s)""",
                    (did, market, day, t, actual, start),
                )
            cur.execute(
                """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
                       delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
                       upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
                       training_start_utc, training_end_utc, cutoff_utc)
                   values (%s, %s, %s, %s, 60, %s, %s, %s, 80, 'EUR', 'prophet', 'v1', %s, %s, %s)""",
                (f"{market}|{day}|v1", market, day, t, forecast, forecast - 5, forecast + 5, start, start, start),
            )


def test_watch_thresholds_on_stored_rows(warehouse_url, caplog, monkeypatch):
    """The thresholds of the drift, execution and deadline watches on hand-made rows (no email: the alerts
    themselves come from simulator faults in test_quality_alerts_sim.py). Drift reads fct_forecast_drift, built
    here by real dbt with the rule set through its env vars: the last day is 30 EUR/MWh off on the 12 hours with
    a price, the two before are exact."""
    from griddesk.markets import get_market
    from griddesk.quality.watches import bid_execution_alerts, deadline_alerts, forecast_drift_alerts

    env = warehouse_url
    day = date(2016, 11, 1)
    for d in range(3):
        _insert_day(
            env,
            "FR",
            day - timedelta(days=d),
            actual=40.0,
            forecast=40.0 + 30.0 * (d == 0),
            actual_hours=12 if d == 0 else None,
        )
    with psycopg2.connect(env) as conn:
        unbuilt = forecast_drift_alerts(conn, ["FR"], day)
    assert unbuilt == [] and "marts.fct_forecast_drift does not exist yet" in caplog.text

    def drift_alerts(window_days: int, max_mae: float):
        monkeypatch.setenv("GRIDDESK_QUALITY_DRIFT_WINDOW_DAYS", str(window_days))
        monkeypatch.setenv("GRIDDESK_QUALITY_DRIFT_MAE_PER_MWH", str(max_mae))
        build_marts(env, "fct_forecast_drift")
        with psycopg2.connect(env) as conn:
            return forecast_drift_alerts(conn, ["FR"], day)

    drift_low = drift_alerts(3, 25.0)  # MAE 30 x 12 / (12 + 24 + 25) over 3 days
    weighted = drift_alerts(3, 5.0)  # 5.90, not the mean of daily MAEs (10)
    drift = drift_alerts(1, 25.0)  # MAE 30 on the last day
    drift_at = drift_alerts(1, 30.0)  # not above the threshold
    with psycopg2.connect(env) as conn:
        with conn.cursor() as cur:
            cur.execute(
                """insert into raw.bid_orders (schedule_id, market_code, delivery_date_local, delivery_start_utc,
                       side, volume_mw, limit_price_per_mwh, currency, status)
                   values ('s1', 'FR', %s, %s, 'sell', 1.5, 50, 'EUR', 'rejected')""",
                (day, get_market("FR").delivery_day_bounds_utc(day)[0]),
            )
        executions = bid_execution_alerts(conn, day, day)
        other_days = bid_execution_alerts(conn, day + timedelta(days=1), day + timedelta(days=2))
        closure = get_market("FR").gate_closure_utc(day + timedelta(days=1))
        too_early = deadline_alerts(
            conn, ["FR"], day + timedelta(days=1), closure - timedelta(minutes=31), timedelta(minutes=30)
        )
        late = deadline_alerts(
            conn, ["FR"], day + timedelta(days=1), closure - timedelta(minutes=30), timedelta(minutes=30)
        )
        has_orders = deadline_alerts(conn, ["FR"], day, closure, timedelta(minutes=30))
    assert drift_low == [] and drift_at == [] and too_early == [] and has_orders == [] and other_days == []
    assert [a.key for a in drift] == [f"forecast_drift|FR|{day}"]
    assert drift[0].rows == (("v1", 1, 12, "30.00", "25.00", "EUR"),)
    # model, days, scored MTUs (30 Oct has 25 hours), MAE, threshold, currency
    assert weighted[0].rows == (("v1", 3, 61, "5.90", "5.00", "EUR"),)
    assert [a.key for a in executions] == [f"bid_execution|FR|{day}"]
    assert executions[0].rows[0][-1] == "order rejected"
    assert [a.key for a in late] == [f"deadline|FR|{day + timedelta(days=1)}"]


def test_real_meter_zeros_and_dst_days_are_caught_without_being_told_where(env, gate, shared_data_dir):
    """40 London days of the real Cambridge meters: the GX verdict per day equals an independent count of zeros."""
    from griddesk.quality.feeds_gate import validate_feeds

    run_day = date(2018, 5, 1)
    feed_tasks.extract_feed_job({"feed": "meter_readings", "key": "portfolio"}, run_day, history_days=40)
    days = [run_day - timedelta(days=i) for i in range(40, 0, -1)]
    with psycopg2.connect(env) as conn:
        run = validate_feeds(
            gate,
            conn,
            {"meter_readings": [("portfolio", d) for d in days]},
            datetime(2018, 5, 1, 16, tzinfo=UTC),
            "run-real",
        )
    independent = query(
        env,
        """
        select (interval_start_utc at time zone 'Europe/London')::date as day, count(*) as n_rows,
               avg(case when energy_kwh is null or energy_kwh = 0 then 0.0 else 1.0 end) as present
        from raw.meter_readings group by 1""",
    ).set_index("day")
    verdicts = {}
    for r in run.results:
        outcome = {o.expectation_id: o for o in r.outcomes}
        ratio = float(outcome["values_present_ratio"].observed)
        assert ratio == pytest.approx(float(independent.loc[r.delivery_date_local, "present"]), abs=1e-9)
        assert outcome["values_present_ratio"].success == (ratio >= 0.98)
        assert outcome["row_count_matches_day"].observed == str(independent.loc[r.delivery_date_local, "n_rows"])
        verdicts[r.delivery_date_local] = outcome["values_present_ratio"].success
    assert independent.loc[date(2018, 3, 25), "n_rows"] == 20 * 23  # spring DST: 23 London hours, complete
    flagged = sorted(d for d, ok in verdicts.items() if not ok)
    assert flagged and len(flagged) < len(days)  # the real zeros are caught, on some days only


def _insert_outputs(url: str, day: date, *, bad_mtu: int) -> None:
    """A day of FR price forecasts and a battery schedule, one MTU broken (lower > forecast, SoC 120 %)."""
    from griddesk.markets import get_market

    m = get_market("FR")
    start, end = m.delivery_day_bounds_utc(day)
    closure = m.gate_closure_utc(day)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for h in range(int((end - start).total_seconds() // 3600)):
            t = start + timedelta(hours=h)
            lower = 60.0 if h == bad_mtu else 30.0
            cur.execute(
                """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
                       delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
                       upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
                       training_start_utc, training_end_utc, cutoff_utc)
                   values ('r', 'FR', %s, %s, 60, 40, %s, 50, 80, 'EUR', 'prophet', 'v1', %s, %s, %s)""",
                (day, t, lower, start, start, closure - timedelta(hours=2)),
            )
            cur.execute(
                """insert into raw.bid_schedules (schedule_id, market_code, delivery_date_local, delivery_start_utc,
                       mtu_index, resolution_minutes, action, charge_mw, discharge_mw, net_position_mw, soc_mwh,
                       soc_pct, forecast_price_per_mwh, currency, expected_revenue, forecast_model_version,
                       battery_power_mw, battery_energy_mwh)
                   values ('s', 'FR', %s, %s, %s, 60, 'idle', 0, 0, 0, 1, %s, 40, 'EUR', 0, 'v1', 1, 2)""",
                (day, t, h, 120.0 if h == bad_mtu else 50.0),
            )


def build_marts(url: str, *models: str) -> None:
    """The marts the outputs watch reads, built by real dbt (``dbt run``: the models only, because dbt's own
    tests fail on the broken rows too, as they would in griddesk_morning's dbt_build_trading)."""
    from griddesk.transform.dbt import run_dbt

    result = run_dbt(["run", "--select", *(f"+{m}" for m in models)], url, {"as_of_utc": datetime.now(UTC)})
    assert set(models) <= {n.name for n in result.nodes if n.status == "success"}


def test_outputs_watch_validates_the_marts_and_inputs_in_one_gx_run(env, smtp_server):
    from griddesk.clock import MORNING, RunClock
    from griddesk.extraction import tasks as extraction
    from griddesk.quality.tasks import run_watch

    day = RUN_DAY + timedelta(days=1)
    _insert_outputs(env, day, bad_mtu=5)
    # The real morning extraction loads the clean prices of X-6 .. X from the simulator.
    (prices,) = [j for j in extraction.feed_jobs(["FR"]) if j["feed"] == "day_ahead_prices"]
    extraction.extract_for_run(prices, RunClock(day, MORNING))
    before = run_watch("outputs", RUN_DAY, datetime.now(UTC))  # the marts are not built yet: nothing to validate
    assert set(before["missing"]) >= {"marts.fct_price_forecasts", "marts.fct_bid_schedules"}
    assert [m["Subject"] for m in smtp_server.messages] == [
        f"[GridDesk][CRITICAL] raw_entsoe_exogenous_forecasts failed for FR {day}"  # no inputs loaded at all
    ]
    build_marts(env, "fct_price_forecasts", "fct_bid_schedules", "fct_day_ahead_prices")
    out = run_watch("outputs", RUN_DAY, datetime.now(UTC))
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == sorted(
        [
            f"[GridDesk][CRITICAL] mart_price_forecasts failed for FR {day}",
            f"[GridDesk][CRITICAL] mart_bid_schedules failed for FR {day}",
            f"[GridDesk][CRITICAL] raw_entsoe_exogenous_forecasts failed for FR {day}",
        ]
    )
    bodies = {m["Subject"].split()[1]: html(m) for m in smtp_server.messages}
    assert "interval_contains_forecast" in bodies["mart_price_forecasts"]
    assert "soc_within_0_100" in bodies["mart_bid_schedules"] and "120.0" in bodies["mart_bid_schedules"]
    assert "row_count_matches_day" in bodies["raw_entsoe_exogenous_forecasts"]
    assert all("withdraw or correct" in b for b in bodies.values())
    assert len(out["sent"]) == 2 and out["missing"] == ["marts.fct_bid_executions"]
    # What the marts hold is what GX saw: 24 forecast and 24 schedule rows of X+1 (one broken), and the clean
    # prices of X in the prices mart, which pass every check.
    stored = query(
        env,
        "select suite_name, delivery_date_local as day, bool_and(success) as ok, "
        "max(observed_value) filter (where expectation_id = 'row_count_matches_day') as n_rows "
        "from raw.dq_validation_results where run_id = %s group by 1, 2",
        f"watch-outputs-{RUN_DAY}",
    )
    assert stored.set_index("suite_name").to_dict("index") == {
        "mart_day_ahead_prices": {"day": RUN_DAY, "ok": True, "n_rows": "24"},
        "mart_price_forecasts": {"day": day, "ok": False, "n_rows": "24"},
        "mart_bid_schedules": {"day": day, "ok": False, "n_rows": "24"},
        "raw_entsoe_exogenous_forecasts": {"day": day, "ok": False, "n_rows": "0"},
    }
    run_watch("outputs", RUN_DAY, datetime.now(UTC))  # a retry: nothing new
    assert len(smtp_server.messages) == 3


def test_executed_volume_above_submitted_is_critical(env, smtp_server):
    """Cross-source: an execution reporting more than its order's volume (needs the bidding schema)."""
    from griddesk.markets import get_market
    from griddesk.quality.tasks import run_watch

    if not bool(query(env, "select to_regclass('raw.bid_executions') is not null as ok")["ok"].iloc[0]):
        pytest.skip("raw.bid_executions is created by the bidding schema (schema_bidding.sql), absent here")
    day = RUN_DAY - timedelta(days=1)
    start = get_market("FR").delivery_day_bounds_utc(day)[0]
    with psycopg2.connect(env) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_order_sets (order_set_id, market_code, delivery_date_local, schedule_id, strategy,
                   trading_mode, status, forecast_model_version, end_soc_mode, expected_value, currency, n_steps,
                   gate_closure_utc)
               values ('os1', 'FR', %s, 's', 'fixed', 'paper', 'executed', 'v1', 'fixed', 0, 'EUR', 2, %s)""",
            (day, start),
        )
        for step, (volume, accepted) in enumerate([(1.0, 1.0), (0.5, 0.8)]):
            cur.execute(
                """insert into raw.bid_executions (order_set_id, exchange_order_set_id, market_code,
                       delivery_date_local, delivery_start_utc, step_index, side, volume_mw, limit_price_per_mwh,
                       clearing_price_per_mwh, is_accepted, accepted_volume_mw, resolution_minutes, currency)
                   values ('os1', 'x1', 'FR', %s, %s, %s, 'sell', %s, 40, 45, true, %s, 60, 'EUR')""",
                (day, start, step, volume, accepted),
            )
    build_marts(env, "fct_bid_executions")
    run_watch("outputs", RUN_DAY, datetime.now(UTC))
    bad = [m for m in smtp_server.messages if "mart_bid_executions" in m["Subject"]]
    assert [m["Subject"] for m in bad] == [f"[GridDesk][CRITICAL] mart_bid_executions failed for FR {day}"]
    body = html(bad[0])
    assert "executed_not_above_submitted" in body and "1 of 2 rows unexpected" in body
