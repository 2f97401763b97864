"""The real GX gate on a real warehouse, results stored in raw.dq_validation_results, alerts to a real SMTP server.

GX is imported once for the module (~7-11 s); each test gets a fresh database (``warehouse_url``).
The GX context is a copy of the repository's ``expectations/`` so test runs write nothing into the repo.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from griddesk.markets import get_market
from griddesk.quality.alerts import quality_alert_key, render_quality_alert, send_alert_once
from griddesk.quality.gx_runner import (
    DEFAULT_CONTEXT_DIR,
    QualityGate,
    expectation_parameters,
)
from griddesk.quality.store import result_rows, store_results
from griddesk.warehouse.db import connect

AS_OF_UTC = datetime(2017, 1, 1, tzinfo=UTC)
CLEAN_DAY = ("FR", date(2016, 12, 24))
AUTUMN_DST_DAY = ("FR", date(2016, 10, 30))  # 25 hours in Paris
SPRING_DST_DAY = ("FR", date(2016, 3, 27))  # 23 hours in Paris
AUTUMN_DST_PT15M_DAY = ("DE", date(2016, 10, 30))  # 100 quarter-hours in Berlin
BAD_DAY = ("FR", date(2016, 12, 26))  # revision v2 lacks two hours and has a price above +3,000
FUTURE_REVISION_DAY = ("BE", date(2016, 12, 24))  # clean, but v2 was published after AS_OF_UTC
PRICE_ABOVE_BOUND = 3120.5


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> QualityGate:
    """One gate (one GX import) for the module, over a throw-away copy of the committed context."""
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return QualityGate(root, build_data_docs=True)


def insert_delivery(
    cur,
    market_code: str,
    day: date,
    *,
    version: int = 1,
    mtu_minutes: int = 60,
    published_at_utc: datetime | None = None,
    drop_mtus: tuple[int, ...] = (),
    price_overrides: dict[int, float] | None = None,
) -> int:
    """Store one version of one day's prices like the loader does; returns the number of price rows."""
    market = get_market(market_code)
    published = published_at_utc or market.price_publication_utc(day)
    start, end = market.delivery_day_bounds_utc(day)
    n_mtus = int((end - start) / timedelta(minutes=mtu_minutes))
    keep = [i for i in range(n_mtus) if i not in drop_mtus]
    cur.execute(
        """insert into raw.entsoe_deliveries (feed, market_code, series_code, delivery_date_local, version,
               content_sha256, n_points, published_at_utc, extracted_at_utc, source_url)
           values ('day_ahead_prices', %s, 'price', %s, %s, 'sha', %s, %s, %s, 'http://127.0.0.1/api')
           returning delivery_id""",
        (market.code, day, version, len(keep), published, published),
    )
    delivery_id = cur.fetchone()[0]
    overrides = price_overrides or {}
    for i in keep:
        cur.execute(
            """insert into raw.entsoe_day_ahead_prices (delivery_id, market_code, delivery_date_local,
                   delivery_start_utc, resolution_minutes, price_per_mwh, currency, version, published_at_utc)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                delivery_id,
                market.code,
                day,
                start + i * timedelta(minutes=mtu_minutes),
                mtu_minutes,
                overrides.get(i, 30.0 + i % 24),
                market.currency,
                version,
                published,
            ),
        )
    return len(keep)


def load_scenario(warehouse_url: str) -> None:
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        assert insert_delivery(cur, *CLEAN_DAY) == 24
        assert insert_delivery(cur, *AUTUMN_DST_DAY) == 25
        assert insert_delivery(cur, *SPRING_DST_DAY) == 23
        assert insert_delivery(cur, *AUTUMN_DST_PT15M_DAY, mtu_minutes=15) == 100
        # The bad day: a clean v1, then a revision v2 that is partial and out of bounds. v2 is what counts.
        assert insert_delivery(cur, *BAD_DAY) == 24
        published_v2 = get_market("FR").price_publication_utc(BAD_DAY[1]) + timedelta(hours=2)
        n_v2 = insert_delivery(
            cur,
            *BAD_DAY,
            version=2,
            published_at_utc=published_v2,
            drop_mtus=(3, 4),
            price_overrides={18: PRICE_ABOVE_BOUND},
        )
        assert n_v2 == 22
        assert insert_delivery(cur, *FUTURE_REVISION_DAY) == 24
        assert insert_delivery(cur, *FUTURE_REVISION_DAY, version=2, published_at_utc=AS_OF_UTC + timedelta(days=4))


ALL_DAYS = [CLEAN_DAY, AUTUMN_DST_DAY, SPRING_DST_DAY, AUTUMN_DST_PT15M_DAY, BAD_DAY, FUTURE_REVISION_DAY]


def _db_rows(warehouse_url: str, run_id: str) -> list[tuple]:
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select run_id, suite_name, expectation_type, expectation_id, severity, market_code,
                      delivery_date_local, success, observed_value, expected, validated_at_utc
               from raw.dq_validation_results where run_id = %s""",
            (run_id,),
        )
        return cur.fetchall()


def test_gate_passes_clean_and_dst_days_and_fails_partial_out_of_bounds_revision(gate, warehouse_url):
    load_scenario(warehouse_url)
    run_id = "scheduled__2016-12-25T11:00:00+00:00"

    results = gate.validate_prices(warehouse_url, ALL_DAYS, AS_OF_UTC, run_id)

    by_day = {(r.market_code, r.delivery_date_local): r for r in results}
    assert list(by_day) == ALL_DAYS
    failed = {md: {o.expectation_id for o in r.failed} for md, r in by_day.items()}
    assert failed == {
        CLEAN_DAY: set(),
        AUTUMN_DST_DAY: set(),
        SPRING_DST_DAY: set(),
        AUTUMN_DST_PT15M_DAY: set(),
        BAD_DAY: {"mtu_count_matches_day", "price_within_market_bounds"},
        FUTURE_REVISION_DAY: {"published_within_window"},
    }
    assert [r.passed_critical for r in results] == [True, True, True, True, False, True]

    # DST-aware completeness: what GX observed on the latest version of each day.
    observed_count = {
        md: next(o for o in r.outcomes if o.expectation_id == "mtu_count_matches_day") for md, r in by_day.items()
    }
    assert observed_count[AUTUMN_DST_DAY].observed == "25"
    assert observed_count[SPRING_DST_DAY].observed == "23"
    assert observed_count[AUTUMN_DST_PT15M_DAY].observed == "100"
    assert observed_count[AUTUMN_DST_PT15M_DAY].expected == "100 rows [latest version]"

    bad = {o.expectation_id: o for o in by_day[BAD_DAY].failed}
    assert bad["mtu_count_matches_day"].observed == "22"
    assert bad["mtu_count_matches_day"].expected == "24 rows [latest version]"
    assert bad["price_within_market_bounds"].severity == "critical"
    assert bad["price_within_market_bounds"].observed == f"1 of 22 rows unexpected: {PRICE_ABOVE_BOUND}"
    assert bad["price_within_market_bounds"].expected == ">= -500.0 and <= 3000.0 [latest version]"
    late = by_day[FUTURE_REVISION_DAY].failed[0]
    assert late.severity == "warning"
    assert late.observed.startswith("24 of 48 rows unexpected: 2017-01-05T00:00:00+00:00")

    assert by_day[BAD_DAY].data_docs_url.startswith("file://")
    assert by_day[BAD_DAY].data_docs_url.endswith(".html")
    assert "context_load" in gate.timings_s and gate.timings_s["validate"] > 0


def test_stored_results_match_gx_results_and_rerun_does_not_duplicate(gate, warehouse_url):
    load_scenario(warehouse_url)
    run_id = "manual__rerun-check"
    results = gate.validate_prices(warehouse_url, ALL_DAYS, AS_OF_UTC, run_id)

    with connect(warehouse_url) as conn:
        written = store_results(conn, results, run_id)
    n_expectations = len(gate.suite.expectations)
    assert written == n_expectations * len(ALL_DAYS)
    assert sorted(_db_rows(warehouse_url, run_id)) == sorted(result_rows(results, run_id))

    # A task retry stores the same results again; a rerun validates and stores anew. Neither duplicates.
    with connect(warehouse_url) as conn:
        store_results(conn, results, run_id)
    rerun = gate.validate_prices(warehouse_url, ALL_DAYS, AS_OF_UTC, run_id)
    with connect(warehouse_url) as conn:
        store_results(conn, rerun, run_id)
    rows = _db_rows(warehouse_url, run_id)
    assert len(rows) == n_expectations * len(ALL_DAYS)
    assert sorted(rows) == sorted(result_rows(rerun, run_id))


@pytest.fixture
def prices_without_primary_key(warehouse_url) -> str:
    """A staging-like copy of raw.entsoe_day_ahead_prices holding a clean day plus one duplicated row."""
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        insert_delivery(cur, *CLEAN_DAY)
        cur.execute("create schema qa_staging")
        cur.execute("create table qa_staging.day_ahead_prices as select * from raw.entsoe_day_ahead_prices")
        cur.execute(
            "insert into qa_staging.day_ahead_prices "
            "select * from raw.entsoe_day_ahead_prices order by delivery_start_utc limit 1"
        )
    return "qa_staging.day_ahead_prices"


def test_raw_primary_key_refuses_a_duplicated_key(warehouse_url):
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        insert_delivery(cur, *CLEAN_DAY)
    with pytest.raises(psycopg2.errors.UniqueViolation), connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.entsoe_day_ahead_prices "
            "select * from raw.entsoe_day_ahead_prices order by delivery_start_utc limit 1"
        )


def test_duplicated_key_fails_uniqueness_and_completeness_in_staging_relation(
    gate, warehouse_url, prices_without_primary_key
):
    (result,) = gate.validate_prices(
        warehouse_url, [CLEAN_DAY], AS_OF_UTC, "manual__staging", relation=prices_without_primary_key
    )
    failed = {o.expectation_id: o for o in result.failed}
    assert set(failed) == {"key_unique_across_versions", "mtu_count_matches_day"}
    assert not result.passed_critical
    assert failed["key_unique_across_versions"].observed.startswith("2 of 25 rows unexpected: (market_code=FR")
    assert failed["mtu_count_matches_day"].observed == "25"


def test_critical_alert_is_sent_once_to_the_desk(gate, warehouse_url, smtp_server):
    load_scenario(warehouse_url)
    (bad,) = gate.validate_prices(warehouse_url, [BAD_DAY], AS_OF_UTC, "scheduled__alert")
    subject, html = render_quality_alert(bad, {"Data Docs": bad.data_docs_url})
    key = quality_alert_key(bad)
    assert key == "dq_critical|raw_day_ahead_prices|FR|2016-12-26"

    with connect(warehouse_url) as conn:
        assert send_alert_once(conn, key, subject, html, "trading-desk@example.com") is True
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "[GridDesk][CRITICAL] raw_day_ahead_prices failed for FR 2016-12-26"
    assert message["To"] == "trading-desk@example.com"
    body = message.get_body(preferencelist=("html",)).get_content()
    for text in (
        "mtu_count_matches_day",
        "price_within_market_bounds",
        '<td style="border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top">22</td>',
        str(PRICE_ABOVE_BOUND),
        "No forecast and no orders for FR on 2016-12-26.",
        bad.data_docs_url,
    ):
        assert text in body

    # A task retry or a rerun renders the same alert again: nothing is sent.
    with connect(warehouse_url) as conn:
        assert send_alert_once(conn, key, subject, html, "trading-desk@example.com") is False
    assert len(smtp_server.messages) == 1
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select kind, subject, recipients from raw.alerts_sent")
        assert cur.fetchall() == [("dq_critical", subject, "trading-desk@example.com")]


def test_failed_send_keeps_no_key_so_the_retry_sends(gate, warehouse_url, smtp_server, monkeypatch):
    load_scenario(warehouse_url)
    (bad,) = gate.validate_prices(warehouse_url, [BAD_DAY], AS_OF_UTC, "scheduled__retry")
    subject, html = render_quality_alert(bad)
    key = quality_alert_key(bad)
    with monkeypatch.context() as m:
        # Nothing listens on port 1 of loopback: the first attempt fails like an SMTP outage.
        m.setenv(
            "AIRFLOW_CONN_SMTP_DEFAULT",
            '{"conn_type": "smtp", "host": "127.0.0.1", "port": 1, "extra": {"disable_tls": true, '
            '"disable_ssl": true, "from_email": "griddesk@example.com", "retry_limit": 0, "timeout": 5}}',
        )
        with pytest.raises(OSError), connect(warehouse_url) as conn:
            send_alert_once(conn, key, subject, html, ["trading-desk@example.com"])
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.alerts_sent")
        assert cur.fetchone()[0] == 0

    with connect(warehouse_url) as conn:
        assert send_alert_once(conn, key, subject, html, ["trading-desk@example.com"]) is True
    assert len(smtp_server.messages) == 1


def test_send_alert_once_refuses_a_connection_with_pending_work(warehouse_url):
    with connect(warehouse_url) as conn:
        with conn.cursor() as cur:
            cur.execute("select 1")
        with pytest.raises(ValueError, match="no open transaction"):
            send_alert_once(conn, "dq_critical|x|FR|2016-12-26", "s", "<p>h</p>", "desk@example.com")


@pytest.mark.parametrize(
    ("market_code", "day", "mtu_minutes", "expected"),
    [
        ("FR", date(2016, 3, 27), 60, 23),
        ("FR", date(2016, 10, 30), 60, 25),
        ("FR", date(2016, 10, 30), 15, 100),
        ("DE", date(2016, 3, 27), 15, 92),
        ("PJM", date(2016, 11, 6), 60, 25),
    ],
)
def test_expected_mtu_count_parameter_is_dst_aware(market_code, day, mtu_minutes, expected):
    params = expectation_parameters(market_code, day, AS_OF_UTC, mtu_minutes)
    assert params["expected_mtu_count"] == expected


def test_price_bound_parameter_follows_the_may_2022_change():
    assert expectation_parameters("FR", date(2022, 5, 9), AS_OF_UTC)["max_price_per_mwh"] == 3000.0
    assert expectation_parameters("FR", date(2022, 5, 10), AS_OF_UTC)["max_price_per_mwh"] == 4000.0


def test_naive_as_of_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        expectation_parameters("FR", date(2016, 12, 24), datetime(2017, 1, 1))


def test_suite_whose_meta_severity_disagrees_with_gx_severity_is_refused(gate, tmp_path):
    _ = gate.context  # GX imported once for the module; this context load is then cheap
    root = tmp_path / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    suite_file = root / "expectations" / "raw_day_ahead_prices.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"][0]["meta"]["severity"] = "warning"
    suite_file.write_text(json.dumps(suite))
    with pytest.raises(ValueError, match="mtu_count_matches_day|disagrees with severity"):
        _ = QualityGate(root).context
