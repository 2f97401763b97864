"""The GridDesk platform on real processes for the end-to-end tests: a throw-away state dir on free loopback ports,
the `griddesk` CLI run in it, the background `griddesk ui` / `griddesk cluster`, the REST API and caught mail.

Shared by tests/integration/test_operations_e2e.py (LocalExecutor) and test_celery_cluster.py (CeleryExecutor).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from griddesk.airflow_api import AirflowApi
from tests.plugins.smtp import _free_port


class Platform:
    """The state dir, its environment, and helpers to run the CLI and read what it produced."""

    def __init__(self, root: Path, **extra_env: str) -> None:
        self.root = root
        self.state = root / "state"
        self.ports = {name: _free_port() for name in ("sim", "mail", "api", "docs", "pg", "redis")}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GRIDDESK_"))}
        env.update(
            {
                "GRIDDESK_STATE_DIR": str(self.state),
                "GRIDDESK_SIMULATOR_URL": f"http://127.0.0.1:{self.ports['sim']}",
                "GRIDDESK_MAIL_PORT": str(self.ports["mail"]),
                "GRIDDESK_AIRFLOW_PORT": str(self.ports["api"]),
                "GRIDDESK_DOCS_PORT": str(self.ports["docs"]),
                "GRIDDESK_WAREHOUSE_TCP_PORT": str(self.ports["pg"]),
                "GRIDDESK_REDIS_PORT": str(self.ports["redis"]),
                "GRIDDESK_MARKETS": "FR",
                "GRIDDESK_RUN_DAYS": "1",
                "GRIDDESK_HISTORY_DAYS": "35",
                "GRIDDESK_FORECAST_HISTORY_DAYS": "27",
            }
        )
        env.update(extra_env)
        if "GRIDDESK_SHARED_DIR" in os.environ:
            env["GRIDDESK_DATA_DIR"] = str(Path(os.environ["GRIDDESK_SHARED_DIR"]) / "data" / "epftoolbox_datasets")
        self.env = env
        self.base = f"http://127.0.0.1:{self.ports['api']}"
        self.docs = f"http://127.0.0.1:{self.ports['docs']}"
        self.ui_procs: list[subprocess.Popen] = []
        self.ui_seconds: list[float] = []

    def cli(self, *args: str, timeout: float = 1800) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "griddesk.cli", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        log = self.root / f"cli-{args[0]}-{time.time_ns()}.log"
        log.write_text(out.stdout + out.stderr)
        assert out.returncode == 0, f"griddesk {' '.join(args)} failed; see {log}:\n{(out.stdout + out.stderr)[-3000:]}"
        return out.stdout

    def start_ui(self, command: str = "ui") -> None:
        """`griddesk <command> --replay` (ui or cluster) in the background, until it says it is up."""
        t0 = time.monotonic()
        log = open(self.root / f"ui-{len(self.ui_procs)}.log", "w")  # noqa: SIM115 - the process keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", "griddesk.cli", command, "--replay"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ui_procs.append(proc)
        while "Ctrl-C stops" not in (self.root / f"ui-{len(self.ui_procs) - 1}.log").read_text():
            assert proc.poll() is None, (self.root / f"ui-{len(self.ui_procs) - 1}.log").read_text()[-3000:]
            assert time.monotonic() - t0 < 900, "make ui did not come up in 15 min"
            time.sleep(1)
        self.ui_seconds.append(time.monotonic() - t0)

    def stop_ui(self) -> None:
        for proc in self.ui_procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=120)

    def password(self, user: str) -> str:
        import json

        return json.loads((self.state / "airflow" / "passwords.json").read_text())[user]

    def api(self, user: str = "admin") -> AirflowApi:
        return AirflowApi(self.base, user, self.password(user))

    def mails(self) -> list[email.message.EmailMessage]:
        folder = self.state / "mail"
        return (
            [
                email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(folder.glob("*.eml"))
            ]
            if folder.is_dir()
            else []
        )

    def stop_all(self) -> None:
        """Stop the background `ui`/`cluster` and every service of the state dir (`griddesk stop`)."""
        self.stop_ui()
        subprocess.run([sys.executable, "-m", "griddesk.cli", "stop"], env=self.env, capture_output=True, timeout=120)
