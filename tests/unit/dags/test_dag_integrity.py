"""Every DAG file imports cleanly and follows the house rules: docs, tags, retries, no logic at import."""

from __future__ import annotations

import pytest

from griddesk.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"griddesk_backfill", "griddesk_morning", "griddesk_afternoon"} <= set(dagbag.dag_ids)


def test_every_dag_has_docs_tags_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 80, f"{dag_id} needs a markdown docstring"
        assert "griddesk" in dag.tags, dag_id
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_morning_run_blocks_forecast_on_the_quality_gate(dagbag):
    """Forecasts and orders wait for the quality gate: every step of the chain depends on the one before, from
    extraction through validation to the order API, so a market the gate blocks never gets a forecast or an order."""
    dag = dagbag.dags["griddesk_morning"]
    order = [
        "plan",
        "extract",
        "validate",
        "dbt_build",
        "forecast",
        "bid",
        "compliance",
        "record_approval",
        "submit",
        "dbt_build_trading",
    ]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert upstream in dag.get_task(downstream).upstream_task_ids, f"{upstream} -> {downstream}"
    # The approval step sits between compliance and submission, and only the gate's markets reach submit.
    assert "approval_gate" in dag.get_task("approve_orders").upstream_task_ids
    assert "approve_orders" in dag.get_task("record_approval").upstream_task_ids
    assert dag.get_task("forecast").upstream_task_ids == {"dbt_build"}


def test_params_whose_help_says_empty_are_optional_in_the_trigger_form(dagbag):
    """The trigger form marks a param required unless its schema accepts null; "Empty: ..." must mean optional."""
    for dag_id, names in {
        "griddesk_morning": ("delivery_date", "markets"),
        "griddesk_afternoon": ("delivery_date", "markets"),
        "griddesk_feeds": ("run_date",),
    }.items():
        params = dagbag.dags[dag_id].params
        for name in names:
            param = params.get_param(name)
            assert "Empty:" in param.description and "null" in param.schema["type"], f"{dag_id}.{name}"
            assert param.resolve(None) is None  # validates: an empty field is accepted


def test_a_blocked_market_is_a_task_in_the_grid_and_runs_wait_for_their_inputs(dagbag):
    morning, afternoon = dagbag.dags["griddesk_morning"], dagbag.dags["griddesk_afternoon"]
    assert "validate" in morning.get_task("quality_gate").upstream_task_ids
    assert "wait_for_inputs" in morning.get_task("plan").upstream_task_ids
    assert "wait_for_prices" in afternoon.get_task("plan").upstream_task_ids
    for dag, sensor in ((morning, "wait_for_inputs"), (afternoon, "wait_for_prices")):
        assert dag.get_task(sensor).mode == "reschedule"  # waiting holds no worker slot
