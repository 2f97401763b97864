"""The feed loader, retention and the ingest benchmark on a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg2
import pytest

from griddesk.feeds.api_health import write_call_log
from griddesk.feeds.batch import FeedBatch, Gap
from griddesk.feeds.http import ApiCall
from griddesk.feeds.loader import LoadError, load_batch, load_batches
from griddesk.feeds.retention import apply_retention
from griddesk.feeds.tables import ALL_TABLES, BATTERY_STATUS, PLANT_TELEMETRY
from griddesk.settings import Settings

PG_TYPES = {
    "int8": "bigint",
    "int4": "integer",
    "int2": "smallint",
    "float8": "double precision",
    "timestamptz": "timestamp with time zone",
    "date": "date",
    "text": "text",
    "bool": "boolean",
}
T0 = datetime(2016, 6, 1, tzinfo=UTC)


def query(url: str, sql: str, *args) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def plant_batch(n: int = 4, power: float = 1.0, start: datetime = T0) -> FeedBatch:
    times = np.datetime64(start.replace(tzinfo=None), "us") + np.arange(n) * np.timedelta64(5, "m")
    columns = {
        "plant_id": np.array(["lutersarni"] * n, dtype=object),
        "measured_at_utc": times,
        "operating_status": np.array((["running", "fault"] * n)[:n], dtype=object),
        "operating_status_source": np.array((["in Betrieb", "Störung"] * n)[:n], dtype=object),
        "active_power_mw": np.full(n, power),
        "reactive_power_mvar": np.array([np.nan if i % 2 else -0.02 for i in range(n)]),
        "voltage_kv": np.full(n, 20.7),
        "current_a": np.full(n, np.nan),
        "wind_speed_kmh": np.arange(n, dtype=float),
    }
    return FeedBatch(
        feed="ckw_plant_telemetry",
        source_key="lutersarni",
        table=PLANT_TELEMETRY,
        columns=columns,
        window_start_utc=start,
        window_end_utc=start + timedelta(minutes=5 * n),
        extracted_at_utc=start,
        source_url="/live",
    )


def test_raw_feed_tables_match_the_loader_specs(warehouse_url):
    for spec in ALL_TABLES:
        schema, table = spec.name.split(".")
        rows = query(
            warehouse_url,
            """select column_name, data_type, is_nullable = 'YES' from information_schema.columns
               where table_schema = %s and table_name = %s order by ordinal_position""",
            schema,
            table,
        )
        assert rows == [(c.name, PG_TYPES[c.kind], c.nullable) for c in spec.columns], spec.name
        pk = query(
            warehouse_url,
            """select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
               where i.indrelid = %s::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)""",
            spec.name,
        )
        assert tuple(r[0] for r in pk) == ("batch_id", *spec.key), spec.name


def test_binary_copy_round_trips_nulls_unicode_and_text_of_any_length(warehouse_url):
    batch = plant_batch(6)
    conn = psycopg2.connect(warehouse_url)
    outcome = load_batch(conn, batch)
    assert (outcome.status, outcome.version, outcome.n_rows) == ("inserted", 1, 6)
    rows = query(
        warehouse_url,
        """select measured_at_utc, operating_status, operating_status_source, reactive_power_mvar, current_a,
                  wind_speed_kmh from raw.ckw_plant_telemetry order by measured_at_utc""",
    )
    assert [r[2] for r in rows] == ["in Betrieb", "Störung"] * 3
    assert [r[1] for r in rows] == ["running", "fault"] * 3
    assert [r[3] for r in rows] == [-0.02, None] * 3 and all(r[4] is None for r in rows)
    assert rows[1][0] == T0 + timedelta(minutes=5) and [r[5] for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_same_content_is_unchanged_and_changed_content_is_a_new_version(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    assert load_batch(conn, plant_batch()).status == "inserted"
    assert load_batch(conn, plant_batch()).status == "unchanged"
    changed = load_batch(conn, plant_batch(power=2.0))
    assert (changed.status, changed.version) == ("inserted", 2)
    assert query(warehouse_url, "select count(*) from raw.ckw_plant_telemetry") == [(8,)]


def test_a_batch_failing_after_its_copy_leaves_nothing_behind(warehouse_url):
    batch = plant_batch()
    gap = Gap("lutersarni", T0, T0 + timedelta(minutes=5), 1, "absent")
    batch.gaps = [gap, gap]  # the second insert of the same gap violates raw.feed_gaps' key, after the COPY
    with pytest.raises(psycopg2.errors.UniqueViolation):
        load_batch(psycopg2.connect(warehouse_url), batch)
    for table in ("raw.feed_batches", "raw.ckw_plant_telemetry", "raw.feed_gaps"):
        assert query(warehouse_url, f"select count(*) from {table}") == [(0,)], table


def test_a_repeated_key_is_refused_before_anything_is_written(warehouse_url):
    batch = plant_batch(3)
    batch.columns["measured_at_utc"][2] = batch.columns["measured_at_utc"][1]
    with pytest.raises(LoadError, match="duplicated key"):
        load_batch(psycopg2.connect(warehouse_url), batch)
    assert query(warehouse_url, "select count(*) from raw.feed_batches") == [(0,)]


def test_a_null_in_a_required_column_is_refused(warehouse_url):
    batch = plant_batch(2)
    batch.columns["operating_status"][1] = None
    with pytest.raises(LoadError, match="operating_status is not nullable"):
        load_batch(psycopg2.connect(warehouse_url), batch)


def test_parallel_load_keeps_input_order_and_numbers_versions_of_one_window_in_order(warehouse_url):
    days = [plant_batch(start=T0 + timedelta(days=d)) for d in range(5)]
    # the same window three times: versions 1, 2 and "unchanged", exactly as a sequential load would number them
    same_window = [plant_batch(power=1.0), plant_batch(power=2.0), plant_batch(power=2.0)]
    batches = [same_window[0], *days[1:3], same_window[1], *days[3:], same_window[2]]
    outcomes = load_batches(lambda: psycopg2.connect(warehouse_url), batches, workers=3)
    assert [(o.status, o.version) for o in outcomes] == [
        ("inserted", 1),
        ("inserted", 1),
        ("inserted", 1),
        ("inserted", 2),
        ("inserted", 1),
        ("inserted", 1),
        ("unchanged", 2),
    ]
    assert [o.n_rows for o in outcomes] == [4] * 7
    assert query(warehouse_url, "select count(*), count(distinct batch_id) from raw.ckw_plant_telemetry") == [
        (24, 6)
    ]  # the unchanged one adds nothing


def test_parallel_load_stops_at_a_bad_batch_and_leaves_no_part_of_it(warehouse_url):
    bad = plant_batch(3, start=T0 + timedelta(days=1))
    bad.columns["measured_at_utc"][2] = bad.columns["measured_at_utc"][1]
    opened: list = []

    def connect():
        opened.append(psycopg2.connect(warehouse_url))
        return opened[-1]

    with pytest.raises(LoadError, match="duplicated key"):
        load_batches(connect, [plant_batch(), bad, plant_batch(start=T0 + timedelta(days=2))], workers=2)
    assert len(opened) == 2 and all(c.closed for c in opened)
    stored = query(warehouse_url, "select window_start_utc from raw.feed_batches order by 1")
    assert T0 + timedelta(days=1) not in [r[0] for r in stored]
    assert query(warehouse_url, "select count(*) from raw.ckw_plant_telemetry") == [(4 * len(stored),)]


# ------------------------------------------------------------------------------------------------ retention


def _battery_batch(start: datetime, hours: int, soc: float) -> FeedBatch:
    n = hours * 12
    times = np.datetime64(start.replace(tzinfo=None), "us") + np.arange(n) * np.timedelta64(5, "m")
    return FeedBatch(
        feed="battery_status",
        source_key="griddesk-bess-fr",
        table=BATTERY_STATUS,
        columns={
            "battery_id": np.array(["griddesk-bess-fr"] * n, dtype=object),
            "measured_at_utc": times,
            "soc_pct": np.full(n, soc),
            "active_power_mw": np.full(n, 0.5),
            "available_charge_power_mw": np.full(n, 1.0),
            "available_discharge_power_mw": np.full(n, 1.0),
            "availability": np.array(["available"] * n, dtype=object),
        },
        window_start_utc=start,
        window_end_utc=start + timedelta(hours=hours),
        extracted_at_utc=start,
        source_url="/status",
    )


def _call(at: datetime, status: int | None, latency: float) -> ApiCall:
    return ApiCall(
        "ckw", "ckw.dynamic_prices", "GET", "/p", status, latency, 10, None if status == 200 else "x", 1, at, None
    )


def test_retention_folds_old_telemetry_and_calls_into_exact_hourly_aggregates(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    old, recent = T0, T0 + timedelta(days=100)
    load_batch(conn, plant_batch(12, power=1.5, start=old))  # one old hour of plant samples
    load_batch(conn, plant_batch(12, power=2.0, start=recent))
    load_batch(conn, _battery_batch(old, 2, soc=40.0))
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    write_call_log(
        conn,
        [
            _call(wall - timedelta(days=95), 200, 10.0),
            _call(wall - timedelta(days=95), 503, 30.0),
            _call(wall - timedelta(days=1), 200, 5.0),
        ],
    )
    outcome = apply_retention(conn, recent + timedelta(hours=2), 90, call_log_now_utc=wall)
    assert (outcome.plant_rows_folded, outcome.battery_rows_folded, outcome.call_log_rows_folded) == (12, 24, 2)
    assert query(warehouse_url, "select count(*), min(measured_at_utc) from raw.ckw_plant_telemetry") == [(12, recent)]
    plant = query(
        warehouse_url,
        "select n_samples, n_running, active_power_sum_mw / n_active_power from raw.ckw_plant_telemetry_hourly",
    )
    assert plant == [(12, 6, 1.5)]
    battery = query(
        warehouse_url,
        "select hour_start_utc, n_samples, soc_sum_pct / n_soc from raw.bms_battery_status_hourly order by 1",
    )
    assert battery == [(old, 12, 40.0), (old + timedelta(hours=1), 12, 40.0)]
    assert query(
        warehouse_url, "select n_calls, n_success, n_http_5xx, latency_p50_ms from raw.api_call_log_hourly"
    ) == [(2, 1, 1, 20.0)]
    assert query(warehouse_url, "select count(*) from raw.api_call_log") == [(1,)]
    # a rerun folds nothing twice; a late sample of a folded hour is merged exactly
    again = apply_retention(conn, recent + timedelta(hours=2), 90, call_log_now_utc=wall)
    assert (again.plant_rows_folded, again.battery_rows_folded, again.call_log_rows_folded) == (0, 0, 0)
    late = plant_batch(1, power=3.0, start=old + timedelta(minutes=2))
    load_batch(conn, late)
    apply_retention(conn, recent + timedelta(hours=2), 90, call_log_now_utc=wall)
    assert query(warehouse_url, "select n_samples, active_power_sum_mw from raw.ckw_plant_telemetry_hourly") == [
        (13, 21.0)
    ]


def test_retention_needs_a_positive_period(warehouse_url):
    with pytest.raises(ValueError, match="keep_days"):
        apply_retention(psycopg2.connect(warehouse_url), T0, 0)


# ------------------------------------------------------------------------------------------------ benchmark


def test_ingest_benchmark_writes_its_report(pg_server_url, tmp_path):
    from griddesk.reporting.ingest_benchmark import run

    report = tmp_path / "ingest_benchmark.json"
    result = run(rows=24 * 50 * 3, n_meters=50, settings=Settings(warehouse_url=pg_server_url), report=report)
    assert json.loads(report.read_text()) == result
    assert set(result) == {"rows", "seconds", "rows_per_second", "parse_rows_per_second"}
    assert result["rows"] == 3600 and result["rows_per_second"] > 0
    reference = json.loads(report.with_name("ingest_benchmark_reference.json").read_text())
    assert reference["load_workers"] == 2 and reference["single_connection_rows_per_second"] > 0
