"""A small client of Airflow's REST API (``/api/v2``), as `make run`, `griddesk trigger` and the DAGs use it.

Triggering a run and polling its state through the API server is executor-agnostic: the scheduler runs the
tasks with whatever executor it has (LocalExecutor today, Celery later), exactly as for a scheduled run.
Passwords and tokens are never logged and never part of an exception message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import requests

TERMINAL_STATES = ("success", "failed")


class AirflowApiError(RuntimeError):
    """An Airflow API call answered with an error (the message names the call and the status, never secrets)."""


@dataclass
class AirflowApi:
    """Logged-in client: ``base_url`` like ``http://127.0.0.1:8080``; a JWT from ``/auth/token`` per instance."""

    base_url: str
    username: str
    password: str = field(repr=False)
    timeout_s: float = 30.0
    _token: str | None = field(default=None, repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def token(self) -> str:
        if self._token is None:
            resp = self.session.post(
                f"{self.base_url}/auth/token",
                timeout=self.timeout_s,
                json={"username": self.username, "password": self.password},
            )
            if resp.status_code not in (200, 201):
                raise AirflowApiError(f"login as {self.username!r} at {self.base_url} refused: HTTP {resp.status_code}")
            self._token = resp.json()["access_token"]
        return self._token

    def call(self, method: str, path: str, ok=(200,), **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        resp = self.session.request(
            method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=self.timeout_s, **kwargs
        )
        if resp.status_code not in ok:
            raise AirflowApiError(f"{method} /api/v2{path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp

    # ---- DAGs
    def wait_for_dag(self, dag_id: str, timeout_s: float = 300) -> dict:
        """Wait until the dag-processor has parsed ``dag_id`` (the API knows it); returns the DAG."""
        deadline = time.monotonic() + timeout_s
        while True:
            resp = self.call("GET", f"/dags/{dag_id}", ok=(200, 404))
            if resp.status_code == 200:
                return resp.json()
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed after {timeout_s:.0f} s; see the dag-processor log")
            time.sleep(1)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", params={"update_mask": "is_paused"}, json={"is_paused": paused})

    # ---- runs
    def get_run(self, dag_id: str, run_id: str) -> dict | None:
        resp = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}", ok=(200, 404))
        return resp.json() if resp.status_code == 200 else None

    def trigger(self, dag_id: str, run_id: str, logical_date: datetime, conf: dict, note: str | None = None) -> dict:
        """Create run ``run_id`` with ``logical_date`` as its logical date and run-after (a past day replays as its
        schedule would have run it); the scheduler picks it up."""
        body = {
            "dag_run_id": run_id,
            "logical_date": logical_date.isoformat(),
            "run_after": logical_date.isoformat(),
            "conf": conf,
            "note": note,
        }
        return self.call("POST", f"/dags/{dag_id}/dagRuns", ok=(200,), json=body).json()

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Clear every task of an existing run: the scheduler runs it again (a rerun of the same delivery day)."""
        self.call("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False})

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", params={"update_mask": "note"}, json={"note": note})

    def wait_run(
        self, dag_id: str, run_id: str, timeout_s: float = 3600, poll_s: float = 2.0, unreachable_s: float = 300
    ) -> dict:
        """Poll until the run is success or failed; returns the run.

        A poll that times out or gets a 5xx (the API server is busy serving the tasks on a loaded machine) is
        repeated; only ``unreachable_s`` of failed polls in a row raise :class:`AirflowApiError`, with the last one.
        """
        deadline = time.monotonic() + timeout_s
        failing_since: float | None = None
        run = None
        while True:
            try:
                run = self.get_run(dag_id, run_id)
                failing_since = None
            except (requests.ConnectionError, requests.Timeout, AirflowApiError) as exc:
                if isinstance(exc, AirflowApiError) and " HTTP 5" not in str(exc):
                    raise
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > unreachable_s:
                    raise AirflowApiError(
                        f"polling {dag_id} {run_id} failed for {unreachable_s:.0f} s: {type(exc).__name__}: "
                        f"{str(exc)[:300]}"
                    ) from None
            if run and run["state"] in TERMINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {run and run['state']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        resp = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return resp.json()["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task's log as text (one line per event), as the API server serves it to the UI."""
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        resp = self.session.get(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": "true"},
            headers=headers,
            timeout=self.timeout_s,
        )
        if resp.status_code != 200:
            raise AirflowApiError(f"log of {dag_id} {run_id} {task_id}: HTTP {resp.status_code} {resp.text[:200]}")
        content = resp.json()["content"]
        return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in content)


def run_id_for(delivery_day) -> str:
    """The run id of a delivery day's run: ``delivery__2016-12-31`` (the same for a rerun, which clears it)."""
    return f"delivery__{delivery_day.isoformat()}"
