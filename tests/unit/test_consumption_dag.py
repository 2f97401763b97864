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


def test_the_morning_dag_waits_for_the_consumption_forecast_before_bidding():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "griddesk_morning.py"))
    assert bag.import_errors == {}
    morning = bag.dags["griddesk_morning"]
    trigger = morning.get_task("consumption_forecast")
    assert trigger.trigger_dag_id == "griddesk_consumption" and trigger.wait_for_completion
    assert "consumption_forecast" in morning.get_task("bid").upstream_task_ids
    # a failed consumption run must not stop the bids: it counts as done, not failed
    assert trigger.failed_states == [] and "failed" in trigger.allowed_states
