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


def test_training_is_mapped_per_meter_and_a_failed_meter_does_not_stop_the_bid(dag):
    train = dag.get_task("train_meter")
    assert train.__class__.__name__.endswith("MappedOperator")
    assert dag.get_task("meters").upstream_task_ids == {"fetch_at_cutoff"}
    assert dag.get_task("portfolio_bid").upstream_task_ids == {"train_meter"}
    assert dag.get_task("portfolio_bid").trigger_rule == "all_done"
    assert dag.get_task("dbt_build_consumption").trigger_rule == "all_done"
    assert all(t.retries >= 1 for t in dag.tasks)
