"""Recovery after a crash: runs left ``running`` or ``queued`` with no scheduler to finish them are marked failed.

A database crash (or a killed machine) in the middle of a task leaves the DAG run ``running`` in Airflow's
metadata; with ``max_active_runs=1`` it blocks every later run of that DAG until someone clears it. Airflow's own
handling covers the case where the scheduler survives: a task whose process died stops heartbeating and is failed
after ``[scheduler] task_instance_heartbeat_timeout`` (GridDesk sets 120 s), then retried or failed with its run.
When the scheduler died too, nothing is left to notice: `make run` and `make ui` call :func:`recover_stuck_runs`
at startup, after the API server is up and before the scheduler starts (so no run it recovers can be live), and
`griddesk recover` does the same on demand. Each recovered run gets a note saying why, and stays in the history.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

log = logging.getLogger(__name__)

STUCK_STATES = ("running", "queued")


def recovery_note(previous_state: str, now: datetime) -> str:
    return (
        f"Marked failed by GridDesk recovery at {now:%Y-%m-%d %H:%M} UTC: this run was left {previous_state} "
        "with no scheduler alive (a crash of the database or the machine during a task). Clear it to run the "
        "day again."
    )


def recover_stuck_runs(api, now: datetime | None = None) -> list[tuple[str, str]]:
    """Mark every ``running``/``queued`` DAG run failed (their unfinished tasks with them) and note why.

    Call it only while no scheduler of this Airflow is alive. Returns the (dag_id, run_id) pairs recovered.
    """
    now = now or datetime.now(UTC)
    resp = api.call("GET", "/dags/~/dagRuns", params={"state": list(STUCK_STATES), "limit": 1000})
    recovered = []
    for run in resp.json()["dag_runs"]:
        dag_id, run_id = run["dag_id"], run["dag_run_id"]
        api.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", params={"update_mask": "state"}, json={"state": "failed"})
        api.set_note(dag_id, run_id, recovery_note(run["state"], now))
        log.warning("recovered %s %s (was %s)", dag_id, run_id, run["state"])
        recovered.append((dag_id, run_id))
    return recovered
