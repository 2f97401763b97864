"""dbt build for real, on a real PostgreSQL database, with a small hand-made raw fixture.

The fixture covers the tricky cases of the marts:
- FR (Europe/Paris, hourly): 2016-10-23, 2016-10-24 in two versions (v2 published two days after v1), and the
  autumn DST day 2016-10-30 with 25 hours; a forecast for 2016-10-30 (actual + 2) and one for 2016-10-31
  (no prices yet), a battery schedule and its orders, two validation runs.
- DE (Europe/Berlin, 15-minute): 2025-10-02 (96 quarter-hours) and the autumn DST day 2025-10-26 (100).

One database and one full build serve the whole module; the last two tests build again on top of it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg2
import pytest

from griddesk.transform.dbt import DbtError, build
from griddesk.warehouse.db import drop_database, fresh_database

# Prices: FR day d1 = 30 + i, d2 v1 = 50 + i, d2 v2 = 60 + i, d3 (25 h) = 40 + i (i = hour index in the day);
# DE 15-minute days: price = 100 + q on 2025-10-02 and q on 2025-10-26 (q = quarter-hour index).
RAW_FIXTURE_SQL = """
insert into raw.entsoe_deliveries
    (delivery_id, feed, market_code, series_code, delivery_date_local, version, content_sha256, n_points,
     published_at_utc, extracted_at_utc, source_url)
values
    (1, 'day_ahead_prices', 'FR', 'price', '2016-10-23', 1, 'a', 24, '2016-10-22 10:45Z', '2016-10-22 11:00Z', 'u'),
    (2, 'day_ahead_prices', 'FR', 'price', '2016-10-24', 1, 'b', 24, '2016-10-23 10:45Z', '2016-10-23 11:00Z', 'u'),
    (3, 'day_ahead_prices', 'FR', 'price', '2016-10-24', 2, 'c', 24, '2016-10-25 08:00Z', '2016-10-25 09:00Z', 'u'),
    (4, 'day_ahead_prices', 'FR', 'price', '2016-10-30', 1, 'd', 25, '2016-10-29 10:45Z', '2016-10-29 11:00Z', 'u'),
    (5, 'day_ahead_prices', 'DE', 'price', '2025-10-02', 1, 'e', 96, '2025-10-01 10:45Z', '2025-10-01 11:00Z', 'u'),
    (6, 'day_ahead_prices', 'DE', 'price', '2025-10-26', 1, 'f', 100, '2025-10-25 10:45Z', '2025-10-25 11:00Z', 'u'),
    (7, 'exogenous_forecasts', 'FR', 'generation_forecast', '2016-10-30', 1, 'g', 25,
     '2016-10-29 08:00Z', '2016-10-29 09:00Z', 'u'),
    (8, 'exogenous_forecasts', 'FR', 'load_forecast', '2016-10-30', 1, 'h', 25,
     '2016-10-29 08:00Z', '2016-10-29 09:00Z', 'u'),
    (9, 'exogenous_forecasts', 'DE', 'load_forecast', '2025-10-02', 1, 'i', 96,
     '2025-10-01 08:00Z', '2025-10-01 09:00Z', 'u');

insert into raw.entsoe_day_ahead_prices
    (delivery_id, market_code, delivery_date_local, delivery_start_utc, resolution_minutes, price_per_mwh,
     currency, version, published_at_utc)
select d.delivery_id, d.market_code, d.delivery_date_local,
       d.first_start + make_interval(mins => d.minutes * i), d.minutes, d.base + i, 'EUR', d.version, d.published
from (values
    (1, 'FR', date '2016-10-23', timestamptz '2016-10-22 22:00Z', 60, 24, 30, 1, timestamptz '2016-10-22 10:45Z'),
    (2, 'FR', date '2016-10-24', timestamptz '2016-10-23 22:00Z', 60, 24, 50, 1, timestamptz '2016-10-23 10:45Z'),
    (3, 'FR', date '2016-10-24', timestamptz '2016-10-23 22:00Z', 60, 24, 60, 2, timestamptz '2016-10-25 08:00Z'),
    (4, 'FR', date '2016-10-30', timestamptz '2016-10-29 22:00Z', 60, 25, 40, 1, timestamptz '2016-10-29 10:45Z'),
    (5, 'DE', date '2025-10-02', timestamptz '2025-10-01 22:00Z', 15, 96, 100, 1, timestamptz '2025-10-01 10:45Z'),
    (6, 'DE', date '2025-10-26', timestamptz '2025-10-25 22:00Z', 15, 100, 0, 1, timestamptz '2025-10-25 10:45Z')
) as d (delivery_id, market_code, delivery_date_local, first_start, minutes, n, base, version, published)
cross join lateral generate_series(0, d.n - 1) as i;

insert into raw.entsoe_exogenous_forecasts
    (delivery_id, market_code, series_code, document_type, domain_eic, delivery_date_local, delivery_start_utc,
     resolution_minutes, quantity_mw, version, published_at_utc)
select d.delivery_id, d.market_code, d.series_code, d.document_type, d.domain_eic, d.delivery_date_local,
       d.first_start + make_interval(mins => d.minutes * i), d.minutes, d.base + i, 1, d.published
from (values
    (7, 'FR', 'generation_forecast', 'A71', '10YFR-RTE------C', date '2016-10-30',
     timestamptz '2016-10-29 22:00Z', 60, 25, 50000, timestamptz '2016-10-29 08:00Z'),
    (8, 'FR', 'load_forecast', 'A65', '10YFR-RTE------C', date '2016-10-30',
     timestamptz '2016-10-29 22:00Z', 60, 25, 60000, timestamptz '2016-10-29 08:00Z'),
    (9, 'DE', 'load_forecast', 'A65', '10YDE-RWENET---I', date '2025-10-02',
     timestamptz '2025-10-01 22:00Z', 15, 96, 40000, timestamptz '2025-10-01 08:00Z')
) as d (delivery_id, market_code, series_code, document_type, domain_eic, delivery_date_local, first_start,
        minutes, n, base, published)
cross join lateral generate_series(0, d.n - 1) as i;

-- Forecast of 2016-10-30 = actual + 2 (interval +-5); of 2016-10-31 (CET, 24 h): no prices yet.
insert into raw.price_forecasts
    (forecast_run_id, market_code, delivery_date_local, delivery_start_utc, resolution_minutes,
     forecast_price_per_mwh, lower_price_per_mwh, upper_price_per_mwh, interval_width_pct, currency,
     model_family, model_version, training_start_utc, training_end_utc, cutoff_utc, created_at_utc)
select 'FR|' || d.day || '|test-1', 'FR', d.day, d.first_start + make_interval(hours => i), 60,
       42 + i, 37 + i, 47 + i, 80, 'EUR', 'prophet', 'test-1',
       d.cutoff - interval '365 days', d.cutoff, d.cutoff, d.cutoff + interval '5 minutes'
from (values
    (date '2016-10-30', timestamptz '2016-10-29 22:00Z', 25, timestamptz '2016-10-29 10:00Z'),
    (date '2016-10-31', timestamptz '2016-10-30 23:00Z', 24, timestamptz '2016-10-30 11:00Z')
) as d (day, first_start, n, cutoff)
cross join lateral generate_series(0, d.n - 1) as i;

-- Battery: charge 1 MW in both 02:00 hours (i = 2, 3), discharge 1 MW at i = 19, 20, idle otherwise.
insert into raw.bid_schedules
    (schedule_id, market_code, delivery_date_local, delivery_start_utc, mtu_index, resolution_minutes, action,
     charge_mw, discharge_mw, net_position_mw, soc_mwh, soc_pct, forecast_price_per_mwh, currency,
     expected_revenue, forecast_model_version, battery_power_mw, battery_energy_mwh, created_at_utc)
select 'FR|2016-10-30|test-1', 'FR', '2016-10-30', timestamptz '2016-10-29 22:00Z' + make_interval(hours => i), i, 60,
       s.action, s.charge_mw, s.discharge_mw, s.discharge_mw - s.charge_mw, s.soc_mwh, 50 * s.soc_mwh, 42 + i, 'EUR',
       (s.discharge_mw - s.charge_mw) * (42 + i), 'test-1', 1, 2, '2016-10-29 10:10Z'
from generate_series(0, 24) as i
cross join lateral (
    select
        case when i in (2, 3) then 'charge' when i in (19, 20) then 'discharge' else 'idle' end as action,
        case when i in (2, 3) then 1.0 else 0.0 end as charge_mw,
        case when i in (19, 20) then 1.0 else 0.0 end as discharge_mw,
        case when i < 2 or i > 20 then 1.0 when i in (2, 20) then 1.45 else 1.9 end as soc_mwh
) as s;

insert into raw.bid_orders
    (schedule_id, market_code, delivery_date_local, delivery_start_utc, side, volume_mw, currency, status,
     created_at_utc)
select 'FR|2016-10-30|test-1', 'FR', '2016-10-30', timestamptz '2016-10-29 22:00Z' + make_interval(hours => i),
       case when i in (2, 3) then 'buy' else 'sell' end, 1.0, 'EUR', 'recorded', '2016-10-29 10:10Z'
from unnest(array[2, 3, 19, 20]) as i;

insert into raw.dq_validation_results
    (run_id, suite_name, expectation_type, expectation_id, severity, market_code, delivery_date_local, success,
     observed_value, expected, validated_at_utc)
values
    ('run-1', 'day_ahead_prices', 'expect_table_row_count_to_equal', 'row_count', 'critical', 'FR', '2016-10-30',
     false, '24', '25', '2016-10-29 11:00Z'),
    ('run-2', 'day_ahead_prices', 'expect_table_row_count_to_equal', 'row_count', 'critical', 'FR', '2016-10-30',
     true, '25', '25', '2016-10-29 11:30Z');
"""

MART_TABLES = (
    "dim_markets",
    "fct_day_ahead_prices",
    "fct_exogenous_forecasts",
    "fct_price_forecasts",
    "fct_price_forecast_daily_scores",
    "fct_bid_schedules",
    "fct_bid_orders",
    "fct_data_quality_results",
)


def query_free(url: str, sql: str, params: dict | None = None) -> None:
    """Run statements that return nothing, in one committed transaction."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


def insert_fr_hourly_delivery(
    url: str, delivery_id: int, day: str, *, version: int, prices: list[float], published: str
) -> None:
    """One more raw FR delivery of ``day`` (version ``version``, published at ``published`` UTC and extracted ten
    minutes later) with its hourly ``prices``, the first at the day's midnight in Paris: as many hours as prices."""
    query_free(
        url,
        """
        insert into raw.entsoe_deliveries (delivery_id, feed, market_code, series_code, delivery_date_local, version,
            content_sha256, n_points, published_at_utc, extracted_at_utc, source_url)
        values (%(delivery_id)s, 'day_ahead_prices', 'FR', 'price', %(day)s, %(version)s, 'sha-' || %(delivery_id)s,
            cardinality(%(prices)s), %(published)s, %(published)s::timestamptz + interval '10 minutes', 'u');
        insert into raw.entsoe_day_ahead_prices (delivery_id, market_code, delivery_date_local, delivery_start_utc,
            resolution_minutes, price_per_mwh, currency, version, published_at_utc)
        select %(delivery_id)s, 'FR', %(day)s,
            (%(day)s::date::timestamp at time zone 'Europe/Paris') + make_interval(hours => (p.n - 1)::int), 60,
            p.price, 'EUR', %(version)s, %(published)s
        from unnest(%(prices)s::double precision[]) with ordinality as p (price, n)
        """,
        {"delivery_id": delivery_id, "day": day, "version": version, "prices": prices, "published": published},
    )


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def business_snapshot(url: str) -> dict[str, list[tuple]]:
    """Every mart's rows, all columns except the audit_* ones, in a deterministic order."""
    snapshot = {}
    for table in MART_TABLES:
        columns = [
            name
            for (name,) in query(
                url,
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = %s and column_name not like 'audit\\_%%' "
                "order by ordinal_position",
                (table,),
            )
        ]
        assert columns, f"marts.{table} has no columns: was it built?"
        column_list = ", ".join(columns)
        snapshot[table] = query(url, f"select {column_list} from marts.{table} order by {column_list}")
    return snapshot


@pytest.fixture(scope="module")
def dbt_work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def first_build(pg_server_url, dbt_work_dir):
    """A fresh warehouse with the raw fixture, and the result of its first full `dbt build`; dropped after."""
    name = f"gd_test_dbt_{uuid.uuid4().hex[:8]}"
    url = fresh_database(pg_server_url, name)
    query_free(url, RAW_FIXTURE_SQL)
    result = build(url, work_dir=dbt_work_dir)
    print(f"full dbt build: {result.elapsed_s:.1f} s, {len(result.nodes)} nodes")
    yield url, result
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def built_url(first_build) -> str:
    return first_build[0]


def test_first_build_runs_every_mart_and_passes_every_test_without_warnings(first_build):
    _, result = first_build
    assert result.success
    assert set(MART_TABLES) <= {n.name for n in result.nodes}
    assert "assert_day_ahead_price_days_have_dst_aware_mtu_counts" in {n.name for n in result.nodes}
    # dbt lists the dashboards' exposures as nodes that do nothing ("no-op"): they only declare lineage.
    exposures = {n.name for n in result.nodes if n.unique_id.startswith("exposure.")}
    assert exposures == {"griddesk_trading_desk", "griddesk_energy_trading_monitor", "griddesk_data_quality"}
    assert [
        (n.name, n.status) for n in result.nodes if n.status not in ("success", "pass") and n.name not in exposures
    ] == []


def test_latest_version_wins_in_fct_day_ahead_prices(built_url):
    rows = query(
        built_url,
        "select version, price_per_mwh, published_at_utc from marts.fct_day_ahead_prices "
        "where market_code = 'FR' and delivery_date_local = '2016-10-24' order by delivery_start_utc",
    )
    assert len(rows) == 24
    assert {r[0] for r in rows} == {2}
    assert [r[1] for r in rows] == [60.0 + i for i in range(24)]
    assert rows[0][2] == datetime(2016, 10, 25, 8, tzinfo=UTC)


def test_dst_autumn_day_has_25_hours_with_distinct_labels(built_url):
    rows = query(
        built_url,
        "select delivery_label_local, delivery_hour_local, utc_offset_minutes, is_dst_repeated_hour "
        "from marts.fct_day_ahead_prices "
        "where market_code = 'FR' and delivery_date_local = '2016-10-30' order by delivery_start_utc",
    )
    labels = [r[0] for r in rows]
    assert len(rows) == 25
    assert len(set(labels)) == 25
    assert labels[:5] == [
        "2016-10-30 00:00 +02:00",
        "2016-10-30 01:00 +02:00",
        "2016-10-30 02:00 +02:00",
        "2016-10-30 02:00 +01:00",
        "2016-10-30 03:00 +01:00",
    ]
    assert [r[1] for r in rows] == [0, 1, 2, 2, *range(3, 24)]
    assert [r[2] for r in rows] == [120] * 3 + [60] * 22
    assert [r[3] for r in rows] == [False, False, True, True] + [False] * 21


def test_quarter_hour_days_roll_up_to_hourly_means(built_url):
    counts = query(
        built_url,
        "select delivery_date_local::text, resolution_minutes, count(*), bool_and(is_native_resolution) "
        "from marts.fct_day_ahead_prices where market_code = 'DE' group by 1, 2 order by 1, 2",
    )
    assert counts == [
        ("2025-10-02", 15, 96, True),
        ("2025-10-02", 60, 24, False),
        ("2025-10-26", 15, 100, True),
        ("2025-10-26", 60, 25, False),
    ]
    hourly = query(
        built_url,
        "select price_per_mwh, source_mtu_count, source_resolution_minutes from marts.fct_day_ahead_prices "
        "where market_code = 'DE' and delivery_date_local = '2025-10-02' and resolution_minutes = 60 "
        "order by delivery_start_utc",
    )
    # quarter-hours q = 4h .. 4h+3 cost 100 + q: their mean is 101.5 + 4h
    assert [r[0] for r in hourly] == pytest.approx([101.5 + 4 * h for h in range(24)])
    assert {(r[1], r[2]) for r in hourly} == {(4, 15)}
    dst_labels = query(
        built_url,
        "select delivery_label_local, price_per_mwh from marts.fct_day_ahead_prices "
        "where market_code = 'DE' and delivery_date_local = '2025-10-26' and resolution_minutes = 60 "
        "and is_dst_repeated_hour order by delivery_start_utc",
    )
    assert dst_labels == [("2025-10-26 02:00 +02:00", 9.5), ("2025-10-26 02:00 +01:00", 13.5)]


def test_exogenous_forecasts_stay_long_and_roll_up_15_minute_power(built_url):
    counts = query(
        built_url,
        "select market_code, series_code, resolution_minutes, count(*) from marts.fct_exogenous_forecasts "
        "group by 1, 2, 3 order by 1, 2, 3",
    )
    assert counts == [
        ("DE", "load_forecast", 15, 96),
        ("DE", "load_forecast", 60, 24),
        ("FR", "generation_forecast", 60, 25),
        ("FR", "load_forecast", 60, 25),
    ]
    first_hour = query(
        built_url,
        "select quantity_mw from marts.fct_exogenous_forecasts where market_code = 'DE' "
        "and resolution_minutes = 60 order by delivery_start_utc limit 1",
    )
    assert first_hour == [(40001.5,)]


def test_forecast_rows_carry_actual_and_error_once_the_price_is_known(built_url):
    rows = query(
        built_url,
        "select delivery_date_local::text, count(*), count(actual_price_per_mwh), avg(error_per_mwh), "
        "bool_and(coalesce(is_actual_within_interval, false)) "
        "from marts.fct_price_forecasts group by 1 order by 1",
    )
    assert rows == [("2016-10-30", 25, 25, 2.0, True), ("2016-10-31", 24, 0, None, False)]


def test_weekly_naive_mae_matches_hand_computation(built_url):
    rows = query(
        built_url,
        "select delivery_date_local::text, expected_mtu_count, scored_mtu_count, naive_scored_mtu_count, "
        "is_fully_scored, forecast_mae_per_mwh, weekly_naive_mae_per_mwh, relative_mae, interval_coverage_pct "
        "from marts.fct_price_forecast_daily_scores order by delivery_date_local",
    )
    scored, unscored = rows
    # 168 h before the 25 hours of 2016-10-30: the 24 hours of 2016-10-23 (30 + i against 40 + i: error 10)
    # and 00:00 of 2016-10-24, whose latest version v2 costs 60 against 64 for the 25th hour: error 4.
    naive_mae = (24 * 10 + 4) / 25
    assert scored[:5] == ("2016-10-30", 25, 25, 25, True)
    assert scored[5] == pytest.approx(2.0)
    assert scored[6] == pytest.approx(naive_mae)
    assert scored[7] == pytest.approx(2.0 / naive_mae)
    assert scored[8] == pytest.approx(100.0)
    assert unscored[:5] == ("2016-10-31", 24, 0, 0, False)
    assert unscored[5:8] == (None, None, None)


def test_bid_schedule_realised_revenue_uses_the_realised_price(built_url):
    rows = query(
        built_url,
        "select delivery_label_local, action, net_energy_mwh, realised_price_per_mwh, realised_revenue "
        "from marts.fct_bid_schedules where action <> 'idle' order by delivery_start_utc",
    )
    assert rows == [
        ("2016-10-30 02:00 +02:00", "charge", -1.0, 42.0, -42.0),
        ("2016-10-30 02:00 +01:00", "charge", -1.0, 43.0, -43.0),
        ("2016-10-30 18:00 +01:00", "discharge", 1.0, 59.0, 59.0),
        ("2016-10-30 19:00 +01:00", "discharge", 1.0, 60.0, 60.0),
    ]
    orders_per_side = dict(query(built_url, "select side, count(*) from marts.fct_bid_orders group by side"))
    assert orders_per_side == {"buy": 2, "sell": 2}


def test_dim_markets_has_one_row_per_price_bounds_interval(built_url):
    fr = query(
        built_url,
        "select valid_from::text, valid_to::text, max_price_per_mwh, is_current, timezone, currency "
        "from marts.dim_markets where market_code = 'FR' order by valid_from",
    )
    assert fr == [
        ("2006-01-01", "2022-05-10", 3000.0, False, "Europe/Paris", "EUR"),
        ("2022-05-10", None, 4000.0, True, "Europe/Paris", "EUR"),
    ]
    current = query(
        built_url, "select market_code, count(*) from marts.dim_markets where is_current group by 1 order by 1"
    )
    assert current == [("BE", 1), ("DE", 1), ("FR", 1), ("NP", 1), ("PJM", 1)]
    assert query(built_url, "select count(*) from marts.dim_markets") == [(9,)]


def test_data_quality_results_hold_the_newest_verdict(built_url):
    rows = query(
        built_url,
        "select audit_run_id, is_success, is_blocking_failure from marts.fct_data_quality_results",
    )
    assert rows == [("run-2", True, False)]  # run-1's failure is history, kept in staging


def test_rerun_on_unchanged_raw_is_idempotent(built_url, dbt_work_dir):
    before = business_snapshot(built_url)
    result = build(built_url, work_dir=dbt_work_dir)
    print(f"incremental dbt build: {result.elapsed_s:.1f} s")
    assert business_snapshot(built_url) == before


def test_as_of_utc_hides_a_later_version_and_a_normal_build_restores_it(built_url, dbt_work_dir):
    before = business_snapshot(built_url)
    # After 2016-10-24's first version (2016-10-23 10:45Z), before its second (2016-10-25 08:00Z).
    build(built_url, vars={"as_of_utc": datetime(2016, 10, 24, tzinfo=UTC)}, work_dir=dbt_work_dir)
    fr_24 = query(
        built_url,
        "select distinct version, audit_as_of_utc from marts.fct_day_ahead_prices "
        "where market_code = 'FR' and delivery_date_local = '2016-10-24'",
    )
    assert fr_24 == [(1, datetime(2016, 10, 24, tzinfo=UTC))]
    days = query(built_url, "select distinct delivery_date_local::text from marts.fct_day_ahead_prices order by 1")
    assert days == [("2016-10-23",), ("2016-10-24",)]  # later publications are hidden too
    assert query(built_url, "select count(actual_price_per_mwh) from marts.fct_price_forecasts") == [(0,)]

    build(built_url, work_dir=dbt_work_dir)
    assert business_snapshot(built_url) == before


def test_as_of_utc_without_offset_is_rejected(built_url, dbt_work_dir):
    with pytest.raises(DbtError, match="as_of_utc"):
        build(
            built_url,
            select="int_day_ahead_prices_versioned_as_of",
            vars={"as_of_utc": "2016-10-24 00:00"},
            work_dir=dbt_work_dir,
        )


def test_marts_refuse_views_built_for_another_as_of(built_url, dbt_work_dir):
    # The intermediate views hold the instant they were built for; a mart-only build must not mix instants.
    with pytest.raises(DbtError, match=r"built with as_of_utc unset \(latest\).*--select \+fct_day_ahead_prices"):
        build(
            built_url,
            select="fct_day_ahead_prices",
            vars={"as_of_utc": datetime(2016, 10, 24, tzinfo=UTC)},
            work_dir=dbt_work_dir,
        )
    assert query(built_url, "select count(*) from marts.fct_day_ahead_prices where audit_as_of_utc is not null") == [
        (0,)
    ]


def test_price_correction_reaches_forecast_errors_and_revenues_incrementally(built_url, dbt_work_dir):
    # A second version of 2016-10-30, every hour 1 EUR/MWh dearer: the forecast error drops from 2 to 1.
    insert_fr_hourly_delivery(
        built_url, 10, "2016-10-30", version=2, prices=[41.0 + i for i in range(25)], published="2016-10-30 09:00Z"
    )
    result = build(built_url, select=["fct_price_forecasts+", "fct_bid_schedules"], work_dir=dbt_work_dir)
    assert result.success
    forecasts = query(
        built_url,
        "select count(*), min(actual_version), avg(error_per_mwh) from marts.fct_price_forecasts "
        "where delivery_date_local = '2016-10-30'",
    )
    assert forecasts == [(25, 2, 1.0)]
    scores = query(
        built_url,
        "select forecast_mae_per_mwh from marts.fct_price_forecast_daily_scores "
        "where delivery_date_local = '2016-10-30'",
    )
    assert scores == [(1.0,)]
    revenue = query(
        built_url,
        "select sum(realised_revenue), min(realised_price_version) from marts.fct_bid_schedules where action <> 'idle'",
    )
    assert revenue == [(-43.0 - 44.0 + 60.0 + 61.0, 2)]


def test_incomplete_delivery_day_fails_the_build_naming_the_dst_aware_test(built_url, dbt_work_dir):
    # 2016-10-25 (CEST, 24 hours) with only 23 of its hours
    insert_fr_hourly_delivery(built_url, 99, "2016-10-25", version=1, prices=[50.0] * 23, published="2016-10-24 10:45Z")
    try:
        with pytest.raises(DbtError, match="assert_day_ahead_price_days_have_dst_aware_mtu_counts") as failed:
            build(built_url, select="fct_day_ahead_prices", work_dir=dbt_work_dir)
        assert [n.name for n in failed.value.failures] == ["assert_day_ahead_price_days_have_dst_aware_mtu_counts"]
    finally:
        query_free(
            built_url,
            "delete from raw.entsoe_day_ahead_prices where delivery_id = 99;"
            "delete from raw.entsoe_deliveries where delivery_id = 99",
        )
        # raw is append-only in production, so only a full refresh removes a day that left raw
        build(built_url, select="fct_day_ahead_prices", full_refresh=True, work_dir=dbt_work_dir)
