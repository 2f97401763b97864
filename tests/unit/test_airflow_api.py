"""`make run` polls its DAG runs through the REST API: a busy API server (slow answer, 5xx) is waited out, a dead one
is reported with the last error, and a refusal (4xx) is raised at once. A real HTTP server on loopback plays the
API server."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from griddesk.airflow_api import AirflowApi, AirflowApiError


class _Api(http.server.BaseHTTPRequestHandler):
    script: list = []  # what each GET of the run answers, in order: ("sleep", s) | (status, state)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # /auth/token
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(201, {"access_token": "t"})

    def do_GET(self) -> None:
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step[0] == "sleep":
            time.sleep(step[1])
            step = (200, "running")
        status, state = step
        self._send(status, {"state": state} if status == 200 else {"detail": "Database error"})


@pytest.fixture
def api() -> Iterator[AirflowApi]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield AirflowApi(f"http://127.0.0.1:{server.server_address[1]}", "admin", "pw", timeout_s=0.3)
    server.shutdown()


def test_a_slow_or_failing_poll_is_repeated_until_the_run_ends(api):
    _Api.script = [("sleep", 1.0), (500, ""), (200, "running"), (503, ""), (200, "success")]
    assert api.wait_run("d", "r", poll_s=0.01)["state"] == "success"


def test_an_api_server_failing_for_too_long_is_reported_with_its_last_answer(api):
    _Api.script = [(500, "")]
    with pytest.raises(AirflowApiError, match=r"polling d r failed for 0 s: .*HTTP 500"):
        api.wait_run("d", "r", poll_s=0.01, unreachable_s=0.2)


def test_a_refusal_is_raised_at_once(api):
    _Api.script = [(403, "")]
    with pytest.raises(AirflowApiError, match="HTTP 403"):
        api.wait_run("d", "r", poll_s=0.01)
