"""Pure parts of the feeds-wide gate: the declared registry, DST-aware days, derived dq_* columns, alert rendering."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from griddesk.quality.alerts import TableAlert, render_table_alert
from griddesk.quality.feeds_gate import (
    FEEDS_FILE,
    abs_robust_z,
    derive_columns,
    feed_parameters,
    flat_run_lengths,
    intervals_in_day,
    load_feed_specs,
    parse_feed_specs,
    scope_days_for_run,
)
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR

AS_OF = datetime(2016, 10, 31, 17, tzinfo=UTC)


def test_every_declared_feed_has_its_suite_and_validation_definition():
    specs = load_feed_specs()
    assert set(specs) == {
        "ckw_dynamic_tariffs",
        "ckw_tra_signals",
        "weather_observations",
        "weather_forecasts",
        "battery_status",
        "meter_readings",
        "ckw_plant_telemetry",
        "entsoe_exogenous_forecasts",
        "day_ahead_prices",
        "price_forecasts",
        "bid_schedules",
        "bid_executions",
    }
    # The key outputs are validated on the dbt marts users see, not on GridDesk's own raw writes.
    assert {specs[n].table for n in ("day_ahead_prices", "price_forecasts", "bid_schedules", "bid_executions")} == {
        "marts.fct_day_ahead_prices",
        "marts.fct_price_forecasts",
        "marts.fct_bid_schedules",
        "marts.fct_bid_executions",
    }
    assert specs["day_ahead_prices"].only_where == "is_native_resolution"
    for spec in specs.values():
        suite = json.loads((DEFAULT_CONTEXT_DIR / "expectations" / f"{spec.suite}.json").read_text())
        vd = json.loads(
            (DEFAULT_CONTEXT_DIR / "validation_definitions" / f"{spec.validation_definition}.json").read_text()
        )
        assert vd["suite"] == {"id": suite["id"], "name": spec.suite}
        names = [e["meta"]["name"] for e in suite["expectations"]]
        assert len(names) == len(set(names)), spec.suite
        for e in suite["expectations"]:
            assert e["severity"] == e["meta"]["severity"] in ("critical", "warning"), (spec.suite, e["meta"]["name"])
            column = e["kwargs"].get("column", "")
            if column.startswith("dq_"):  # every derived column a suite checks is one the gate derives
                frame = derive_columns(spec, pd.DataFrame(columns=_columns(spec)))
                assert column in frame.columns, (spec.suite, column)


def _columns(spec) -> list[str]:
    cols = {spec.day_column, spec.time_column, *spec.value_columns, *spec.flatline_columns, *spec.spike_columns}
    if spec.series_column:
        cols.add(spec.series_column)
    return sorted(cols)


@pytest.mark.parametrize(
    ("day", "tz", "minutes", "n"),
    [
        (date(2016, 10, 30), "Europe/Zurich", 15, 100),
        (date(2016, 3, 27), "Europe/Zurich", 15, 92),
        (date(2016, 10, 30), "Europe/London", 60, 25),
        (date(2016, 3, 27), "Europe/London", 60, 23),
        (date(2016, 10, 30), "UTC", 5, 288),
    ],
)
def test_intervals_in_day_follow_dst(day, tz, minutes, n):
    assert intervals_in_day(day, tz, minutes) == n


def test_feed_parameters_apply_the_sla():
    spec = load_feed_specs()["meter_readings"]
    params = feed_parameters(spec, date(2016, 10, 30), AS_OF, n_series=20)
    assert params["expected_row_count"] == 500  # 20 meters x 25 London hours
    assert params["min_row_count"] == 490  # 98 % completeness SLA
    assert params["freshness_min_utc"] == pd.Timestamp("2016-10-30T22:00Z")  # last hour 23:00 minus 60 min lag
    with pytest.raises(ValueError, match="timezone-aware"):
        feed_parameters(spec, date(2016, 10, 30), AS_OF.replace(tzinfo=None), 20)


def test_flat_runs_and_robust_z():
    values = pd.Series([1.0, 2.0, 2.0, 2.0, np.nan, 2.0, 3.0])
    assert flat_run_lengths(values).tolist()[:4] == [1.0, 3.0, 3.0, 3.0]
    assert np.isnan(flat_run_lengths(values)[4]) and flat_run_lengths(values)[5] == 1.0
    z = abs_robust_z(pd.Series([10.0, 11.0, 9.0, 10.0, 10.5, 9.5, 100.0]))
    assert z.iloc[-1] > 50 and z.iloc[:-1].max() < 2
    # All equal to a median of 0: no spike (it used to be NaN, which no spike check could ever fail; issue 21).
    assert abs_robust_z(pd.Series([0.0, 0.0, 0.0])).tolist() == [0.0, 0.0, 0.0]


def test_meter_zeros_count_as_missing_and_break_no_flatline():
    spec = load_feed_specs()["meter_readings"]
    times = pd.date_range("2016-06-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {"meter_id": ["m1"] * 4, "interval_start_utc": times, "resolution_minutes": 60, "energy_kwh": [0.0, 5, 5, 0]}
    )
    out = derive_columns(spec, frame)
    assert out["dq_value_present"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert out["dq_energy_kwh_flat_run"].tolist()[1:3] == [2.0, 2.0] and out["dq_energy_kwh_flat_run"].isna().sum() == 2


def test_tariff_residual_is_integrated_minus_grid_minus_electricity():
    spec = load_feed_specs()["ckw_dynamic_tariffs"]
    t = pd.Timestamp("2016-06-01T00:00Z")
    frame = pd.DataFrame(
        {
            "tariff_type": ["grid", "electricity", "integrated", "grid_usage"],
            "interval_start_utc": [t] * 4,
            "price_per_kwh": [0.10, 0.05, 0.16, 0.07],
        }
    )
    out = derive_columns(spec, frame).set_index("tariff_type")["dq_integrated_residual_chf_kwh"]
    assert out["integrated"] == pytest.approx(0.01) and out.drop("integrated").isna().all()


def test_registry_errors_name_the_feed_and_key():
    with pytest.raises(ValueError, match="'x' lacks"):
        parse_feed_specs({"feeds": {"x": {"suite": "s"}}})
    base = yaml_base()
    with pytest.raises(ValueError, match="unknown key"):
        parse_feed_specs({"feeds": {"x": {**base, "colour": "red"}}})
    with pytest.raises(ValueError, match="derives unknown"):
        parse_feed_specs({"feeds": {"x": {**base, "derive": ["nope"]}}})
    assert FEEDS_FILE.is_file()


def yaml_base() -> dict:
    return {
        "suite": "s",
        "table": "raw.t",
        "day_column": "t_utc",
        "day_timezone": "UTC",
        "time_column": "t_utc",
        "sla": {"day_offset": -1, "completeness_min_ratio": 1.0},
    }


def test_scope_days_use_each_feeds_sla_day():
    specs = load_feed_specs()
    days = scope_days_for_run(
        specs, {"ckw_dynamic_tariffs": ["home_dynamic"], "meter_readings": ["portfolio"]}, date(2016, 10, 31)
    )
    assert days == {
        "ckw_dynamic_tariffs": [("home_dynamic", date(2016, 11, 1))],
        "meter_readings": [("portfolio", date(2016, 10, 30))],
    }


def test_table_alert_escapes_and_refuses_empty():
    subject, body = render_table_alert(
        TableAlert("WARNING", "data gap in x", "m<1>", "2016-01-01", "be <careful>", ("A",), [("<script>",)]),
        {"Docs": "javascript:alert(1)"},
    )
    assert subject == "[GridDesk][WARNING] data gap in x for m<1> 2016-01-01"
    assert "<script>" not in body and "&lt;careful&gt;" in body and 'href="javascript' not in body
    with pytest.raises(ValueError, match="no rows"):
        render_table_alert(TableAlert("WARNING", "t", "s", "d", "c", ("A",), []))
    with pytest.raises(ValueError, match="level"):
        render_table_alert(TableAlert("INFO", "t", "s", "d", "c", ("A",), [(1,)]))


def test_every_quality_setting_is_documented_in_docs_alerts():
    from griddesk.quality.settings import QualitySettings
    from griddesk.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "alerts.md").read_text()
    missing = [
        f"GRIDDESK_QUALITY_{n.upper()}"
        for n in QualitySettings.model_fields
        if f"GRIDDESK_QUALITY_{n.upper()}" not in text
    ]
    assert missing == []


def test_blocking_reason_names_every_blocked_feed_day_and_check():
    from griddesk.quality.blocking import blocking_reason

    assert blocking_reason({}) is None
    assert blocking_reason({("meter_readings", "portfolio"): {}}) is None
    reason = blocking_reason(
        {
            ("weather_forecasts", "bedford"): {date(2018, 3, 13): ["forecast_after_issue"]},
            ("meter_readings", "portfolio"): {
                date(2018, 3, 11): ["row_count_matches_day", "key_unique"],
                date(2018, 3, 9): ["hourly_intervals"],
            },
        }
    )
    assert reason == (
        "blocked by a critical data-quality failure of meter_readings portfolio 2018-03-09 (hourly_intervals); "
        "meter_readings portfolio 2018-03-11 (row_count_matches_day, key_unique); "
        "weather_forecasts bedford 2018-03-13 (forecast_after_issue)"
    )


def test_blocked_consequence_says_what_checks_the_verdict():
    from griddesk.quality.blocking import BLOCKED_CONSUMERS, NOT_READ, blocked_consequence

    specs = load_feed_specs()
    assert set(BLOCKED_CONSUMERS) | set(NOT_READ) <= set(specs)  # consumers name declared feeds
    assert not set(BLOCKED_CONSUMERS) & set(NOT_READ)
    assert "predicted demand-response windows" in blocked_consequence("ckw_tra_signals")
    battery = blocked_consequence("battery_status")
    assert "no GridDesk task reads" in battery and "do not check the verdict" not in battery
    assert "no meter forecast and no portfolio bid" in blocked_consequence("meter_readings")
    assert "lifts the block" in blocked_consequence("weather_forecasts")
    tariffs = blocked_consequence("ckw_dynamic_tariffs")
    assert "do not check the verdict" in tariffs and "no meter forecast" not in tariffs
