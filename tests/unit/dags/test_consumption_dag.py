"""The consumption DAG's shape: training mapped per meter, and the portfolio bid runs whatever the meters did."""

from __future__ import annotations

import pytest

from griddesk.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "griddesk_consumption.py"))
    assert bag.import_errors == {}
    return bag.dags["griddesk_consumption"]


def test_training_is_mapped_per_meter_and_a_failed_meter_does_not_stop_the_marts(dag):
    train = dag.get_task("train_meter")
    assert train.__class__.__name__.endswith("MappedOperator")
    assert dag.get_task("meters").upstream_task_ids == {"fetch_at_cutoff"}
    assert dag.get_task("dbt_build_consumption").upstream_task_ids == {"train_meter"}
    assert dag.get_task("dbt_build_consumption").trigger_rule == "all_done"
    assert "portfolio_bid" not in dag.task_ids  # the morning bid decides the portfolio's position, once
    assert all(t.retries >= 1 for t in dag.tasks)


def test_the_consumption_forecast_runs_before_the_morning_bid_on_the_same_clock(dag):
    from datetime import UTC, datetime

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "griddesk_morning.py"))
    assert bag.import_errors == {}
    morning = bag.dags["griddesk_morning"]
    after = datetime(2018, 12, 23, 0, 0, tzinfo=UTC)  # D-1 of D = 2018-12-24, the same logical day for both
    consumption_at = dag.timetable._get_next(after)
    morning_at = morning.timetable._get_next(after)
    assert consumption_at.date() == morning_at.date() and consumption_at < morning_at
