"""The morning and afternoon DAGs end to end, as real Airflow DAG runs (``dag.test()``).

Real PostgreSQL, real HTTP to the simulator (real epftoolbox data when ../shared is present, else the
synthetic generator), real GX, real dbt, real Prophet and CBC, and a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
import psycopg2
import pytest

from griddesk import datasets
from griddesk.bidding.tasks import bid_for_run
from griddesk.cli import load_dag, run_dag
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.forecasting.tasks import forecast_for_run
from griddesk.markets import get_market
from griddesk.reporting.summary import RUN_HISTORY_MARTS
from griddesk.settings import Settings, get_settings
from tests.conftest import SHARED_DATA, _drop_database, _fresh_database
from tests.integration.helpers import revise_fr_prices

pytestmark = pytest.mark.slow

MARKETS = ("FR", "BE")
HISTORY_DAYS = 35


class Pipeline:
    def __init__(self, url: str, sim_url: str, days: list) -> None:
        self.url, self.sim_url, self.days = url, sim_url, days
        self.backfill = load_dag("griddesk_backfill")
        self.morning = load_dag("griddesk_morning")
        self.afternoon = load_dag("griddesk_afternoon")

    def run(self, kind: str, day) -> None:
        dag = self.morning if kind == MORNING else self.afternoon
        run_dag(dag, RunClock(day, kind).sim_now("FR"), {"delivery_date": str(day), "markets": ",".join(MARKETS)})

    def query(self, sql: str, *args) -> pd.DataFrame:
        with psycopg2.connect(self.url) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="module")
def pipeline(pg_server_url, start_simulator):
    from griddesk.runtime import migrate_airflow_db

    real = SHARED_DATA.is_dir()
    sim_settings = Settings(markets=",".join(MARKETS), data_dir=SHARED_DATA / "epftoolbox_datasets" if real else None)
    frames = None if real else {m: datasets.synthetic_epftoolbox(m) for m in MARKETS}
    sim_url = start_simulator(settings=sim_settings, frames=frames)
    name = f"gd_e2e_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    last = (frames or {"FR": datasets.load_epftoolbox("FR", sim_settings.resolved_data_dir)})["FR"][
        "delivery_date_local"
    ].max()
    days = [last - timedelta(days=1), last]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "GRIDDESK_WAREHOUSE_URL": url,
            "GRIDDESK_SIMULATOR_URL": sim_url,
            "GRIDDESK_MARKETS": ",".join(MARKETS),
            "GRIDDESK_FORECAST_HISTORY_DAYS": str(HISTORY_DAYS - 8),
        }.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        migrate_airflow_db({})
        p = Pipeline(url, sim_url, days)
        first = days[0] - timedelta(days=HISTORY_DAYS)
        run_dag(
            p.backfill,
            RunClock(days[0], MORNING).sim_now("FR") - timedelta(hours=1),
            {"first_day": str(first), "last_day": str(days[0] - timedelta(days=1)), "markets": ",".join(MARKETS)},
        )
        p.run(MORNING, days[0])
        p.run(AFTERNOON, days[0])
        yield p
    get_settings.cache_clear()
    _drop_database(pg_server_url, name)


def _mart_snapshot(p: Pipeline) -> dict[str, pd.DataFrame]:
    """Every mart's business columns (all but ``audit_*``), sorted, for exact comparison."""
    tables = p.query("select table_name from information_schema.tables where table_schema='marts'")["table_name"]
    snap = {}
    for table in sorted(tables):
        df = p.query(f'select * from marts."{table}"')
        df = df[[c for c in df.columns if not c.startswith("audit_")]]
        snap[table] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return snap


def test_morning_and_afternoon_dags_run_end_to_end(pipeline):
    d = pipeline.days[0]
    sched = pipeline.query(
        "select market_code, count(*) as n, sum(charge_mw) as charged from marts.fct_bid_schedules "
        "where delivery_date_local=%s group by 1 order by 1",
        d,
    )
    assert list(sched["market_code"]) == ["BE", "FR"]
    assert set(sched["n"]) == {get_market("FR").mtus_in_day(d)}
    orders = pipeline.query("select side, status, volume_mw from marts.fct_bid_orders where delivery_date_local=%s", d)
    assert not orders.empty and set(orders["status"]) == {"recorded"}  # paper trading: nothing submitted
    scores = pipeline.query(
        "select market_code, scored_mtu_count, forecast_mae_per_mwh, weekly_naive_mae_per_mwh "
        "from marts.fct_price_forecast_daily_scores where delivery_date_local=%s order by 1",
        d,
    )
    assert list(scores["scored_mtu_count"]) == [24, 24]  # the afternoon run scored the morning forecast
    assert scores["forecast_mae_per_mwh"].notna().all() and scores["weekly_naive_mae_per_mwh"].notna().all()
    dq = pipeline.query("select distinct market_code, is_success from marts.fct_data_quality_results")
    assert set(dq["market_code"]) == set(MARKETS)
    forecasts = pipeline.query("select * from marts.fct_price_forecasts where delivery_date_local=%s", d)
    # Trained on delivery hours before D only (D-1's prices were published on D-2, before the cut-off).
    assert (forecasts["training_end_utc"] <= forecasts["delivery_start_utc"].min()).all()
    assert (forecasts["cutoff_utc"] == get_market("FR").gate_closure_utc(d)).all()
    assert forecasts["model_version"].str.startswith("prophet-").all()


def test_rerun_same_day_is_idempotent(pipeline):
    before = _mart_snapshot(pipeline)
    assert sum(len(df) for df in before.values()) > 0
    pipeline.run(MORNING, pipeline.days[0])
    pipeline.run(AFTERNOON, pipeline.days[0])
    after = _mart_snapshot(pipeline)
    assert before.keys() == after.keys()
    # The call-log marts are run history: a rerun makes its API calls again (documented, flagged by the summary).
    for table in sorted(set(before) - set(RUN_HISTORY_MARTS)):
        pd.testing.assert_frame_equal(before[table], after[table], obj=table, check_exact=True)


def test_poisoned_rows_published_after_the_cutoff_change_no_forecast_and_no_order(pipeline):
    """Everything published after gate closure on D-1 is poisoned; the forecast and the orders stay identical."""
    d = pipeline.days[0]
    clock = RunClock(d, MORNING)
    forecast_sql = (
        "select delivery_start_utc, forecast_price_per_mwh, lower_price_per_mwh, upper_price_per_mwh "
        "from raw.price_forecasts where delivery_date_local=%s and market_code=%s order by 1"
    )
    orders_sql = (
        "select delivery_start_utc, side, volume_mw from raw.bid_orders where delivery_date_local=%s order by 1, 2, 3"
    )
    forecast_before = pipeline.query(forecast_sql, d, "FR")
    orders_before = pipeline.query(orders_sql, d)
    after_cutoff = clock.cutoff("FR") + timedelta(minutes=1)
    with psycopg2.connect(pipeline.url) as conn, conn.cursor() as cur:
        # A later version of every price and exogenous value, all published just after the cut-off.
        for table, value in (
            ("entsoe_day_ahead_prices", "price_per_mwh"),
            ("entsoe_exogenous_forecasts", "quantity_mw"),
        ):
            poison = {value: f"{value} * -37 + 2999", "version": "version + 100", "published_at_utc": "%(pub)s"}
            select_list = ", ".join(poison.get(c, c) for c in _columns(cur, table))
            cur.execute(
                f"insert into raw.{table} select {select_list} from raw.{table} where market_code = 'FR'",
                {"pub": after_cutoff},
            )
            assert cur.rowcount > 0
    forecast_for_run("FR", clock)
    bid_for_run("FR", clock)
    bid_for_run("BE", clock)
    pd.testing.assert_frame_equal(pipeline.query(forecast_sql, d, "FR"), forecast_before)
    pd.testing.assert_frame_equal(pipeline.query(orders_sql, d), orders_before)
    # The poison is really there: read as of its own publication time, it wins.
    poisoned = pipeline.query(
        "select count(*) as n from raw.entsoe_day_ahead_prices where market_code='FR' and version > 100"
    )
    assert poisoned["n"].iloc[0] > 0
    with psycopg2.connect(pipeline.url) as conn, conn.cursor() as cur:
        for table in ("entsoe_day_ahead_prices", "entsoe_exogenous_forecasts"):
            cur.execute(f"delete from raw.{table} where version > 100")


def _columns(cur, table: str) -> list[str]:
    cur.execute(
        "select column_name from information_schema.columns where table_schema='raw' and table_name=%s "
        "order by ordinal_position",
        (table,),
    )
    return [r[0] for r in cur.fetchall()]


def test_quality_gate_failure_emails_once_and_no_orders_go_out(pipeline, smtp_server):
    """A corrected FR price day above the +3,000 bound is refused by the loader; the refusal fails the critical
    check ``no_refused_publication`` for the next morning, so FR does not trade on the older version silently."""
    d1, d2 = pipeline.days
    fr = get_market("FR")
    published = RunClock(d2, MORNING).sim_now(fr) - timedelta(hours=1)
    revise_fr_prices(pipeline.sim_url, d1, 1000, published)
    pipeline.run(MORNING, d2)
    orders = pipeline.query(
        "select market_code, count(*) as n from raw.bid_orders where delivery_date_local=%s group by 1", d2
    )
    assert list(orders["market_code"]) == ["BE"]  # FR is blocked, BE is traded
    assert (
        pipeline.query(
            "select count(*) as n from raw.price_forecasts where market_code='FR' and delivery_date_local=%s", d2
        )["n"].iloc[0]
        == 0
    )
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert f"FR delivery day {d2} (data of {d1})" in msg["Subject"] and "CRITICAL" in msg["Subject"]
    body = msg.get_body(preferencelist=("html",)).get_content()
    assert "no_refused_publication" in body and "outside the market&#x27;s bounds -500..3000" in body
    assert f"No forecast and no orders for FR on {d2}" in body
    text = msg.get_body(preferencelist=("plain",)).get_content()  # multipart: the plain-text part says it too
    assert f"Delivery day affected | {d2}" in text and f"No forecast and no orders for FR on {d2}" in text
    assert (
        pipeline.query(
            "select count(*) as n from raw.entsoe_day_ahead_prices where market_code='FR' and price_per_mwh > 3000"
        )["n"].iloc[0]
        == 0
    )
    # A rerun (or a retry) sends no second email and still writes no FR order.
    pipeline.run(MORNING, d2)
    assert len(smtp_server.messages) == 1
    assert (
        pipeline.query(
            "select count(*) as n from raw.bid_orders where market_code='FR' and delivery_date_local=%s", d2
        )["n"].iloc[0]
        == 0
    )
