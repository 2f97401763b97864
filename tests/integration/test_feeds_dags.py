"""The feed DAGs as real Airflow runs (``dag.test()``) against the simulator and a fresh warehouse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg2
import pytest

from griddesk.cli import load_dag, run_dag
from griddesk.settings import get_settings
from tests.conftest import _drop_database, _fresh_database
from tests.integration.helpers import feeds_env, set_env, synthetic_simulator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(pg_server_url, start_simulator):
    from griddesk.runtime import migrate_airflow_db

    sim = synthetic_simulator(start_simulator, "FR")
    name = f"gd_feeddag_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    with pytest.MonkeyPatch.context() as mp:
        set_env(mp, feeds_env(url, sim))
        get_settings.cache_clear()
        migrate_airflow_db({})
        yield url
    get_settings.cache_clear()
    _drop_database(pg_server_url, name)


def count(url: str, table: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"select count(*) from {table}")
        return cur.fetchone()[0]


def test_daily_feeds_dag_extracts_every_feed_and_builds_the_marts(env):
    run_dag(load_dag("griddesk_feeds"), datetime(2016, 6, 15, 16, tzinfo=UTC), {"run_date": "2016-06-15"})
    for table in (
        "marts.fct_dynamic_tariffs",
        "marts.fct_weather",
        "marts.fct_meter_consumption",
        "marts.fct_battery_status",
        "marts.fct_control_signals",
        "marts.fct_api_health",
    ):
        assert count(env, table) > 0, table


def test_plant_telemetry_dag_polls_each_plant(env):
    run_dag(
        load_dag("griddesk_plant_telemetry"),
        datetime(2016, 6, 15, 12, tzinfo=UTC),
        {"sim_now": "2016-06-15T12:05:00+00:00"},
    )
    assert count(env, "raw.ckw_plant_telemetry") == 1
