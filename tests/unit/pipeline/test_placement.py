"""The CeleryExecutor configuration without servers: queues and pools of every task, the worker spec, the Airflow
environment `GRIDDESK_EXECUTOR=celery` produces, the hostname workers record, and the meters filter."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from griddesk import airflow_executor, runtime
from griddesk.consumption.tasks import select_meters
from griddesk.pipeline import placement
from griddesk.reporting.scale_benchmark import task_seconds
from griddesk.settings import PROJECT_ROOT, Settings

#: Tasks that fit models (CPU-heavy): on the models queue, in the models pool. Every other task: default/warehouse.
MODEL_TASKS = {
    ("griddesk_morning", "forecast"),
    ("griddesk_consumption", "train_meter"),
    ("griddesk_forecast_backtest", "backtest"),
    ("griddesk_bidding_backtest", "backtest"),
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_model_fits_run_on_the_models_queue_and_everything_else_on_default(dagbag):
    assert dagbag.import_errors == {}
    seen = set()
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            fit = (dag_id, task.task_id) in MODEL_TASKS
            seen |= {(dag_id, task.task_id)} if fit else set()
            expected = placement.MODEL_TASK if fit else placement.IO_TASK
            assert (task.queue, task.pool) == (expected["queue"], expected["pool"]), f"{dag_id}.{task.task_id}"
    assert seen == MODEL_TASKS


def test_pools_follow_the_settings():
    pools = placement.pools(Settings(warehouse_pool_slots=5, models_pool_slots=3))
    assert {name: slots for name, (slots, _) in pools.items()} == {"griddesk_warehouse": 5, "griddesk_models": 3}


def test_worker_spec_parses_names_and_queues():
    assert placement.parse_workers("worker-a=default,models; worker-b=default") == {
        "worker-a": ["default", "models"],
        "worker-b": ["default"],
    }
    assert placement.parse_workers(Settings().celery_workers) == {
        "worker-a": ["default", "models"],
        "worker-b": ["default"],
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("worker-a", "expected name=queue"),
        ("a=default,gpu", "unknown queue"),
        ("a=default,models;a=models", "twice"),
        ("", "no worker"),
        ("a=default", r"no worker consumes queue\(s\) \['models'\]"),
        ("bad name=default,models", "expected name=queue"),
    ],
)
def test_worker_spec_refuses_what_would_strand_tasks(spec, message):
    with pytest.raises(ValueError, match=message):
        placement.parse_workers(spec)


def _clean_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
        monkeypatch.delenv(key)


def test_local_executor_stays_the_default(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    env = runtime.airflow_env(Settings(state_dir=tmp_path, warehouse_url="postgresql://u@127.0.0.1:1/griddesk"))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "griddesk.airflow_executor.GridDeskLocalExecutor"
    assert not any(k.startswith("AIRFLOW__CELERY") for k in env)


def test_celery_executor_uses_the_state_dirs_redis_and_the_metadata_database(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    s = Settings(
        state_dir=tmp_path,
        warehouse_url="postgresql://u@127.0.0.1:1/griddesk",
        executor="celery",
        redis_port=16399,
        worker_concurrency=3,
    )
    env = runtime.airflow_env(s)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    password = (tmp_path / "airflow" / "redis_password").read_text().strip()
    assert len(password) >= 32 and oct((tmp_path / "airflow" / "redis_password").stat().st_mode & 0o777) == "0o600"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{password}@127.0.0.1:16399/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "3"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) == 6  # two workers x 3
    assert runtime.airflow_env(s)["AIRFLOW__CELERY__BROKER_URL"] == env["AIRFLOW__CELERY__BROKER_URL"]  # kept


def test_redis_config_binds_loopback_with_the_password_in_a_private_file(tmp_path, monkeypatch):
    started = {}
    monkeypatch.setattr(runtime, "start_service", lambda settings, svc: started.setdefault("svc", svc) and "started")
    s = Settings(state_dir=tmp_path, warehouse_url="postgresql://u@127.0.0.1:1/griddesk", redis_port=16398)
    if not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("no redis-server binary here")
    runtime.start_redis(s)
    conf = tmp_path / "redis" / "redis.conf"
    text = conf.read_text()
    assert "bind 127.0.0.1\n" in text and "port 16398\n" in text and "protected-mode yes" in text
    assert f"requirepass {runtime.state_secret(s, 'redis_password')}\n" in text
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    svc = started["svc"]
    assert svc.argv[1:] == [str(conf)] and svc.port == 16398  # the password is on no command line


def test_workers_record_their_name_in_the_hostname(monkeypatch):
    monkeypatch.setenv("GRIDDESK_WORKER_NAME", "worker-b")
    assert airflow_executor.worker_hostname().startswith("worker-b@")
    monkeypatch.delenv("GRIDDESK_WORKER_NAME")
    assert "@" not in airflow_executor.worker_hostname()


def test_consumption_meters_filter_keeps_the_portfolio_order_and_refuses_unknown_meters():
    portfolio = ["b0", "b1", "b2", "b40"]
    assert select_meters(portfolio, "") == portfolio
    assert select_meters(portfolio, "b40, b1") == ["b1", "b40"]
    with pytest.raises(ValueError, match=r"\['b99'\]"):
        select_meters(portfolio, "b1,b99")


def test_scale_benchmark_sums_task_times_of_finished_tasks():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    tis = [
        {"start_date": iso(t0), "end_date": iso(t0 + timedelta(seconds=12))},
        {"start_date": iso(t0), "end_date": iso(t0 + timedelta(seconds=3.5))},
        {"start_date": iso(t0), "end_date": None},
        {"start_date": None, "end_date": None},
    ]
    assert task_seconds(tis) == pytest.approx(15.5)
