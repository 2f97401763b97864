"""The quality-watch DAG as a real Airflow run (``dag.test()``): a missed deadline emails once, reruns add nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, timedelta

import pytest

from griddesk.cli import load_dag, run_dag
from griddesk.markets import get_market
from griddesk.settings import get_settings
from tests.conftest import _drop_database, _fresh_database

pytestmark = pytest.mark.slow

RUN_DAY = date(2016, 6, 15)


@pytest.fixture
def env(pg_server_url, monkeypatch):
    from griddesk.runtime import migrate_airflow_db

    name = f"gd_watch_{uuid.uuid4().hex[:8]}"
    url = _fresh_database(pg_server_url, name)
    monkeypatch.setenv("GRIDDESK_WAREHOUSE_URL", url)
    monkeypatch.setenv("GRIDDESK_MARKETS", "FR")
    get_settings.cache_clear()
    migrate_airflow_db({})
    yield url
    get_settings.cache_clear()
    _drop_database(pg_server_url, name)


def test_missed_deadline_emails_once_across_reruns(env, smtp_server):
    closure = get_market("FR").gate_closure_utc(RUN_DAY + timedelta(days=1))
    dag = load_dag("griddesk_quality_watch")
    deadline = f"[GridDesk][CRITICAL] griddesk_morning missed its deadline for FR {RUN_DAY + timedelta(days=1)}"
    run_dag(dag, closure - timedelta(hours=3), {"run_date": str(RUN_DAY)})  # before the deadline
    early = [m["Subject"] for m in smtp_server.messages]
    # The empty warehouse has no inputs for X+1 (and no marts built to validate): the outputs watch says so, but
    # no deadline yet.
    assert early == [f"[GridDesk][CRITICAL] raw_entsoe_exogenous_forecasts failed for FR {RUN_DAY + timedelta(days=1)}"]
    run_dag(dag, closure - timedelta(minutes=20), {"run_date": str(RUN_DAY)})
    run_dag(dag, closure - timedelta(minutes=10), {"run_date": str(RUN_DAY)})  # a rerun: no second email
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert subjects[len(early) :] == [deadline] and len(set(subjects)) == len(subjects)
    body = smtp_server.messages[len(early)].get_body(preferencelist=("html",)).get_content()
    assert closure.astimezone(UTC).isoformat() in body and "/gx/index.html" in body and "/dbt/index.html" in body
