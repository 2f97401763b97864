"""Where tasks run: Celery queues and Airflow pools (no Airflow import, so the runtime and compose share it).

- Queue ``default``: I/O-bound work (extraction, checks, dbt, bids); queue ``models``: model fitting (Prophet,
  LEAR, per-meter consumption models), so a deployment can give the fits their own CPU-heavy workers. The
  LocalExecutor ignores queues: the same DAGs run unchanged under `make run`.
- Pools keep the warehouse within its connection budget on every executor: every task holds at most one
  warehouse connection at a time, so ``griddesk_warehouse`` + ``griddesk_models`` slots bound the connections the
  tasks open, however many workers there are (PostgreSQL's ``max_connections`` is 100).
"""

from __future__ import annotations

from griddesk.settings import Settings

DEFAULT_QUEUE = "default"
MODELS_QUEUE = "models"
QUEUES = (DEFAULT_QUEUE, MODELS_QUEUE)
WAREHOUSE_POOL = "griddesk_warehouse"
MODELS_POOL = "griddesk_models"

#: Task arguments of a model-fitting task (``@task(**MODEL_TASK)``).
MODEL_TASK = {"queue": MODELS_QUEUE, "pool": MODELS_POOL}
#: Default task arguments of every other task (merged into the DAGs' ``default_args``).
IO_TASK = {"queue": DEFAULT_QUEUE, "pool": WAREHOUSE_POOL}


def pools(settings: Settings) -> dict[str, tuple[int, str]]:
    """Pool name -> (slots, description) as the platform creates them."""
    return {
        WAREHOUSE_POOL: (settings.warehouse_pool_slots, "GridDesk tasks holding a warehouse connection (not fits)"),
        MODELS_POOL: (settings.models_pool_slots, "GridDesk model fits (Prophet, LEAR, per-meter consumption)"),
    }


def parse_workers(spec: str) -> dict[str, list[str]]:
    """``"worker-a=default,models;worker-b=default"`` -> {"worker-a": ["default", "models"], "worker-b": [...]}.

    Raises:
        ValueError: an entry without ``=``, a bad name, an unknown queue, a duplicate name, no worker at all, or
            a queue no worker consumes (its tasks would wait forever).
    """
    workers: dict[str, list[str]] = {}
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        name, sep, queues = entry.partition("=")
        name = name.strip()
        names = [q.strip() for q in queues.split(",") if q.strip()]
        if not sep or not name.replace("-", "").isalnum() or not names:
            raise ValueError(
                f"GRIDDESK_CELERY_WORKERS entry {entry!r}: expected name=queue[,queue], name of letters, digits and '-'"
            )
        unknown = set(names) - set(QUEUES)
        if unknown:
            raise ValueError(
                f"GRIDDESK_CELERY_WORKERS entry {entry!r}: unknown queue(s) {sorted(unknown)}; "
                f"queues are {', '.join(QUEUES)}"
            )
        if name in workers:
            raise ValueError(f"GRIDDESK_CELERY_WORKERS names worker {name!r} twice")
        workers[name] = names
    if not workers:
        raise ValueError("GRIDDESK_CELERY_WORKERS names no worker")
    idle = set(QUEUES) - {q for qs in workers.values() for q in qs}
    if idle:
        raise ValueError(
            f"GRIDDESK_CELERY_WORKERS={spec!r}: no worker consumes queue(s) {sorted(idle)}; their tasks would never run"
        )
    return workers
