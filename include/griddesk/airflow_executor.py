"""A LocalExecutor whose worker processes start with the libraries GridDesk's tasks import already loaded.

The LocalExecutor forks its workers from the scheduler, and each task is forked from a worker, then parses its
DAG file and imports what its body needs. On the 2-core machine that import is most of a short task: Airflow's SDK
and the DAG's modules 5-10 s, Great Expectations 7-35 s, dbt 3-10 s, Prophet 2-5 s, depending on the load. Loading
them once in the scheduler before the workers are forked makes every task start warm (copy-on-write pages, no
extra memory per task). Nothing else changes: same queues, same supervisor, same logs; ``AIRFLOW__CORE__EXECUTOR``
set to ``LocalExecutor`` works the same, only slower to start each task. ``GRIDDESK_EXECUTOR=celery`` runs the tasks
on Celery workers instead (griddesk.runtime.start_workers, `make cluster`, docker compose).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

#: What the DAG files and the task bodies of the daily runs import (heaviest last).
PRELOAD = (
    "pandas",
    "psycopg2",
    "requests",
    "airflow.providers.standard.operators.hitl",
    "airflow.providers.smtp.hooks.smtp",
    "griddesk.pipeline.dag_support",
    "griddesk.forecasting.tasks",
    "griddesk.extraction.tasks",
    "griddesk.quality.tasks",
    "griddesk.bidding.tasks",
    "griddesk.feeds.tasks",
    "griddesk.transform.tasks",
    "griddesk.bidding.controls",
    "griddesk.quality.gx_runner",
    "great_expectations",
    "dbt.cli.main",
    "prophet",
)


def preload(modules=PRELOAD) -> dict[str, float]:
    """Import ``modules``; returns seconds per module. A module that fails to import is logged and skipped."""
    took = {}
    for name in modules:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a task that needs it will fail with the real error
            log.warning("preload of %s failed: %s", name, exc)
        took[name] = round(time.perf_counter() - t0, 2)
    return took


class GridDeskLocalExecutor(LocalExecutor):
    """LocalExecutor that preloads :data:`PRELOAD` before forking its workers."""

    def start(self) -> None:
        took = preload()
        log.info("preloaded for the task processes in %.1f s: %s", sum(took.values()), took)
        super().start()


def worker_hostname() -> str:
    """Airflow's ``hostname_callable``: ``<GRIDDESK_WORKER_NAME>@<fqdn>`` when set, else the fqdn.

    Two Celery workers on one host (`make cluster`) would otherwise record the same hostname in the task
    instances they run; in docker compose every worker container has its own hostname and no name is set.
    """
    host = socket.getfqdn()
    name = os.environ.get("GRIDDESK_WORKER_NAME", "").strip()
    return f"{name}@{host}" if name else host
