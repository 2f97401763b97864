"""Feed parsers and batch checks without HTTP or a database: units, German names, drift, duplicates, gaps, DST."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from griddesk.feeds import battery, ckw, meters, weather
from griddesk.feeds.batch import Page, check_fields, day_ranges, parse_times, sort_and_dedupe, split_by_local_day
from griddesk.feeds.errors import PayloadError, SchemaDriftError, UnitError
from griddesk.feeds.reference import CKW_TZ, weather_location

NOW = datetime(2016, 10, 31, 17, 0, tzinfo=UTC)


def _tariff_payload(day: date, quarter_hours: int | None = None, unit: str = "CHF_kWh") -> dict:
    """A dynamic-prices answer for one Zurich day, in CKW's shape (grid = 0.1, electricity = 0.2)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=CKW_TZ).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=CKW_TZ).astimezone(UTC)
    n = int((end - start) / timedelta(minutes=15)) if quarter_hours is None else quarter_hours
    prices = []
    for i in range(n):
        s = (start + timedelta(minutes=15 * i)).astimezone(CKW_TZ)
        e = (start + timedelta(minutes=15 * (i + 1))).astimezone(CKW_TZ)  # via UTC: wall-clock maths breaks at DST
        prices.append(
            {
                "start_timestamp": s.isoformat(timespec="minutes"),
                "end_timestamp": e.isoformat(timespec="minutes"),
                "grid": [{"unit": unit, "value": 0.1}],
                "electricity": [{"unit": unit, "value": 0.2}],
                "integrated": [{"unit": unit, "value": 0.3}],
                "grid_usage": [{"unit": unit, "value": 0.07}],
            }
        )
    return {"publication_timestamp": "2016-03-26T17:30+01:00", "prices": prices}


def _tariff_batches(payload: dict, day: date) -> list:
    page = Page({"start_timestamp": "x", "end_timestamp": "y"}, payload, "/prices")
    return ckw.tariff_batches([page], "home_dynamic", day, day, NOW)


@pytest.fixture
def live(shared_data_dir) -> dict:
    """The spec's example answer of the Lutersarni plant's live endpoint (German names, units); a fresh copy."""
    path = shared_data_dir / "ckw_e-ckw-public-data_raml_1.0.23" / "examples" / "example_lutersarni_live.json"
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------------ CKW tariffs


def test_ckw_spec_example_parses_in_chf_per_kwh_without_conversion(shared_data_dir):
    path = shared_data_dir / "ckw_e-ckw-public-data_raml_1.0.23" / "examples" / "example_energyprices.json"
    cols, published = ckw.parse_dynamic_prices(json.loads(path.read_text()), "home_dynamic")
    assert published == np.datetime64("2025-11-12T12:35")
    assert len(cols["tariff_type"]) == 5 * 4
    first = {t: v for t, v in zip(cols["tariff_type"][:4], cols["price_per_kwh"][:4], strict=True)}
    assert first == {"grid": 0.1635, "electricity": 0.12, "integrated": 0.2835, "grid_usage": 0.1332}
    assert set(cols["currency"]) == {"CHF"} and set(cols["unit"]) == {"CHF_kWh"}
    # 2025-10-08T08:00+02:00 is 06:00 UTC
    assert cols["interval_start_utc"][0] == np.datetime64("2025-10-08T06:00")


def test_a_tariff_in_rappen_is_refused_rather_than_converted():
    with pytest.raises(UnitError, match="Rp_kWh"):
        ckw.parse_dynamic_prices(_tariff_payload(date(2016, 6, 1), 4, unit="Rp_kWh"), "home_dynamic")


def test_a_tariff_in_another_currency_keeps_that_currency():
    cols, _ = ckw.parse_dynamic_prices(_tariff_payload(date(2016, 6, 1), 4, unit="EUR_kWh"), "home_dynamic")
    assert set(cols["currency"]) == {"EUR"}


@pytest.mark.parametrize(
    ("day", "quarter_hours"), [(date(2016, 3, 27), 92), (date(2016, 6, 1), 96), (date(2016, 10, 30), 100)]
)
def test_dst_days_have_92_and_100_quarter_hours(day, quarter_hours):
    (batch,) = _tariff_batches(_tariff_payload(day), day)
    assert batch.n_rows == 4 * quarter_hours
    assert batch.gaps == []
    assert (batch.window_end_utc - batch.window_start_utc) == timedelta(minutes=15 * quarter_hours)


def test_renamed_tariff_field_raises_an_error_naming_the_field():
    payload = _tariff_payload(date(2016, 6, 1), 4)
    payload["prices"][2]["grid"][0] = {"unit": "CHF_kWh", "wert": 0.1}
    with pytest.raises(SchemaDriftError, match="'value' is missing.*'wert'") as exc:
        ckw.parse_dynamic_prices(payload, "home_dynamic")
    assert exc.value.field == "value"


def test_extra_tariff_field_raises_an_error_naming_the_field():
    payload = _tariff_payload(date(2016, 6, 1), 4)
    payload["prices"][0]["levy"] = [{"unit": "CHF_kWh", "value": 0.01}]
    with pytest.raises(SchemaDriftError, match="'levy'"):
        ckw.parse_dynamic_prices(payload, "home_dynamic")


def test_non_numeric_tariff_value_is_a_payload_error():
    payload = _tariff_payload(date(2016, 6, 1), 4)
    payload["prices"][1]["grid"][0]["value"] = "n/a"
    with pytest.raises(PayloadError, match="'n/a'"):
        ckw.parse_dynamic_prices(payload, "home_dynamic")


def test_duplicated_interval_is_removed_and_a_missing_one_recorded_as_gap():
    day = date(2016, 6, 1)
    payload = _tariff_payload(day)
    payload["prices"].insert(11, copy.deepcopy(payload["prices"][10]))  # repeat 02:30
    del payload["prices"][40]  # drop one quarter-hour
    (batch,) = _tariff_batches(payload, day)
    assert batch.n_duplicates_removed == 4 and batch.n_conflicting_duplicates == 0
    assert batch.n_rows == 4 * 95
    assert {g.series_key for g in batch.gaps} == {"grid", "electricity", "integrated", "grid_usage"}
    assert all(g.n_intervals == 1 and g.reason == "absent" for g in batch.gaps)


def test_conflicting_duplicate_keeps_the_first_value_and_is_counted():
    day = date(2016, 6, 1)
    payload = _tariff_payload(day)
    twin = copy.deepcopy(payload["prices"][10])
    twin["grid"][0]["value"] = 9.9
    payload["prices"].insert(11, twin)
    (batch,) = _tariff_batches(payload, day)
    assert batch.n_conflicting_duplicates == 1
    assert 9.9 not in batch.columns["price_per_kwh"]


def test_tariff_windows_page_by_30_days_and_shorten_over_the_autumn_change():
    windows = ckw.tariff_windows(date(2016, 10, 1), date(2016, 12, 10))
    assert windows[0][0].date() == date(2016, 10, 1)
    assert windows[-1][1].date() == date(2016, 12, 11)
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end == start  # contiguous, no day lost
    assert all(e.astimezone(UTC) - s.astimezone(UTC) <= timedelta(days=30) for s, e in windows)
    assert len(windows) == 3  # 71 days: 29 (Oct 30 would make it 30 days + 1 h) + 29 + 13


# ------------------------------------------------------------------------------------------------ plant, TRA


def test_german_live_fields_become_english_columns_with_units(live):
    row = ckw.parse_plant_live(live, "lutersarni")
    assert row["active_power_mw"][0] == pytest.approx(0.08)
    assert row["voltage_kv"][0] == pytest.approx(20.697998)
    assert row["reactive_power_mvar"][0] == pytest.approx(-0.02)
    assert row["wind_speed_kmh"][0] == pytest.approx(12.959999)
    assert np.isnan(row["current_a"][0])
    assert row["operating_status"][0] == "running" and row["operating_status_source"][0] == "in Betrieb"
    assert row["measured_at_utc"][0] == np.datetime64("2025-12-03T13:40")


def test_live_power_in_kw_is_refused_rather_than_converted(live):
    live["einheiten"]["wirkleistung"] = "kW"
    with pytest.raises(UnitError, match="wirkleistung.*kW"):
        ckw.parse_plant_live(live, "lutersarni")


def test_renamed_live_field_names_the_field(live):
    renamed = {("wirkleistung_mw" if k == "wirkleistung" else k): v for k, v in live.items()}
    with pytest.raises(SchemaDriftError, match="'wirkleistung' is missing") as exc:
        ckw.parse_plant_live(renamed, "lutersarni")
    assert exc.value.field == "wirkleistung"


def test_unknown_operating_status_is_kept_verbatim_as_unknown(live):
    row = ckw.parse_plant_live({**live, "betriebsstatus": "Revision"}, "lutersarni")
    assert row["operating_status"][0] == "unknown" and row["operating_status_source"][0] == "Revision"


def test_tra_example_parses_with_zurich_times(shared_data_dir):
    path = shared_data_dir / "ckw_e-ckw-public-data_raml_1.0.23" / "examples" / "example_trasignale.json"
    page = Page({}, json.loads(path.read_text()), "/trasignale/2025-07-08")
    (batch,) = ckw.tra_batches([page], NOW)
    assert batch.n_rows == 3
    assert batch.window_start_utc == datetime(2025, 7, 7, 22, 0, tzinfo=UTC)
    assert batch.columns["switch_on_utc"].min() == np.datetime64("2025-07-08T00:23")


# ------------------------------------------------------------------------------------------------ weather


def _weather_payload(hours: int = 24, wind_unit: str = "m/s") -> dict:
    times = [(datetime(2016, 6, 1) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in range(hours)]
    return {
        "latitude": 52.227,
        "longitude": -0.465,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 0.0,
        "hourly_units": {
            "time": "iso8601",
            "temperature_2m": "°C",
            "wind_speed_10m": wind_unit,
            "shortwave_radiation": "W/m²",
        },
        "hourly": {
            "time": times,
            "temperature_2m": [10.0] * hours,
            "wind_speed_10m": [3.0] * hours,
            "shortwave_radiation": [0.0] * hours,
        },
    }


def test_weather_nulls_are_stored_as_nulls_and_recorded_as_gaps():
    payload = _weather_payload()
    payload["hourly"]["temperature_2m"][5:8] = [None, None, None]
    loc = weather_location("bedford")
    page = Page({"start_date": "2016-06-01", "end_date": "2016-06-01"}, payload, "/archive")
    (batch,) = weather.observation_batches([page], loc, date(2016, 6, 1), date(2016, 6, 1), NOW)
    assert batch.n_rows == 24 and np.isnan(batch.columns["temperature_2m_c"][5:8]).all()
    (gap,) = batch.gaps
    assert (gap.series_key, gap.n_intervals, gap.reason) == ("temperature_2m_c", 3, "null_value")


def test_wind_in_kmh_is_refused_rather_than_converted():
    with pytest.raises(UnitError, match="wind_speed_10m"):
        weather.parse_hourly(_weather_payload(wind_unit="km/h"), weather_location("bedford"), "archive")


def test_weather_answer_for_another_place_is_refused():
    with pytest.raises(PayloadError, match="not FR"):
        weather.parse_hourly(_weather_payload(), weather_location("FR"), "archive")


# ------------------------------------------------------------------------------------------------ meters, BMS


def _consumption(values: dict[str, list[float | None]]) -> dict:
    n = len(next(iter(values.values())))
    stamps = [
        (datetime(2016, 6, 1) + timedelta(hours=h) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for h in range(n)
    ]
    return {
        "unit": "kWh",
        "resolution_minutes": 60,
        "meters": [{"meter_id": m, "timestamps": list(stamps), "energy_kwh": v} for m, v in values.items()],
    }


def test_meter_zeros_are_kept_verbatim_and_recorded_as_missing_readings():
    day = date(2016, 6, 1)  # London BST: 2016-05-31 23:00 UTC .. 2016-06-01 23:00 UTC
    a = [5.0] * 24
    b = [7.0] * 24
    b[3:6] = [0.0, 0.0, 0.0]
    page = Page(
        {"start": "2016-05-31T23:00:00+00:00", "end": "2016-06-01T23:00:00+00:00"}, _consumption({"a": a, "b": b}), "/c"
    )
    (batch,) = meters.meter_batches([page], ["a", "b", "c"], day, day, NOW)
    assert batch.n_rows == 48 and (batch.columns["energy_kwh"] == 0).sum() == 3
    reasons = {(g.series_key, g.reason, g.n_intervals) for g in batch.gaps}
    assert reasons == {("b", "zero_reading", 3), ("c", "absent", 24)}


def test_meter_energy_in_mwh_is_refused():
    payload = _consumption({"a": [1.0] * 24})
    payload["unit"] = "MWh"
    with pytest.raises(UnitError, match="MWh"):
        meters.parse_consumption(payload)


def test_battery_record_with_renamed_field_names_it():
    payload = {
        "battery_id": "b1",
        "interval_minutes": 5,
        "units": dict(zip(battery.STATUS_FIELDS, ["%", "MW", "MW", "MW"], strict=True)),
        "records": [
            {
                "timestamp": "2016-06-01T00:00:00Z",
                "state_of_charge": 50.0,
                "active_power": 0.0,
                "available_charge_power": 1.0,
                "available_discharge_power": 1.0,
                "availability": "available",
            }
        ],
    }
    with pytest.raises(SchemaDriftError, match="'soc' is missing.*state_of_charge"):
        battery.parse_status(payload, "b1")


# ------------------------------------------------------------------------------------------------ helpers


def test_check_fields_names_the_first_missing_field():
    with pytest.raises(SchemaDriftError, match="'b'"):
        check_fields({"a": 1}, ("a", "b"), "x")


def test_parse_times_reads_offsets_and_z_and_rejects_garbage():
    out = parse_times(["2016-03-27T03:00+02:00", "2016-03-27T01:00:00Z", "2016-03-27T01:00"], "t")
    assert (out == np.datetime64("2016-03-27T01:00")).all()
    with pytest.raises(PayloadError, match="t:"):
        parse_times(["yesterday"], "t")


def test_sort_and_dedupe_keeps_the_first_occurrence():
    cols = {"k": np.array(["b", "a", "b"], dtype=object), "v": np.array([1.0, 2.0, 3.0])}
    out, n_dup, n_conflicting = sort_and_dedupe(cols, ("k",))
    assert out["k"].tolist() == ["a", "b"] and out["v"].tolist() == [2.0, 1.0]
    assert (n_dup, n_conflicting) == (1, 1)


def test_split_by_local_day_uses_the_local_calendar():
    times = np.array(
        ["2016-10-29T21:45", "2016-10-29T22:00", "2016-10-30T22:45", "2016-10-30T23:00"], dtype="datetime64[us]"
    )
    days = split_by_local_day({"t": times}, "t", CKW_TZ)
    assert {d: len(c["t"]) for d, c in days.items()} == {
        date(2016, 10, 29): 1,
        date(2016, 10, 30): 2,
        date(2016, 10, 31): 1,
    }


def test_day_ranges_cover_the_days_in_requests_of_at_most_max_days():
    assert day_ranges(date(2016, 1, 1), date(2016, 1, 10), 4) == [
        (date(2016, 1, 1), date(2016, 1, 4)),
        (date(2016, 1, 5), date(2016, 1, 8)),
        (date(2016, 1, 9), date(2016, 1, 10)),
    ]
    assert day_ranges(date(2016, 1, 1), date(2016, 1, 1), 7) == [(date(2016, 1, 1), date(2016, 1, 1))]
    with pytest.raises(ValueError, match="empty day range: 2016-01-02 .. 2016-01-01"):
        day_ranges(date(2016, 1, 2), date(2016, 1, 1), 7)
