"""Integration fixtures: the market simulator on a free loopback port, served by uvicorn in a background thread.

- ``start_simulator(**create_app_kwargs) -> url``: session-scoped factory; each call starts one server (stopped at
  the end of the session). Arguments go to ``griddesk.simulator.create_app`` (settings, markets, frames, tokens);
  unless given: ``tokens=TEST_TOKENS``, ``backtest=True`` (the tests replay past days by the X-GridDesk-Sim-Now
  header) and the admin token of the tests' state dir, which ``griddesk.simulator.security.admin_headers()`` sends.
- ``simulator_url``: a module-scoped server. Default: synthetic FR, BE, DE, NP, PJM, with DE prices at PT15M, so it
  runs without ../shared. Parametrise it indirectly with a dict of ``create_app`` kwargs::

      @pytest.mark.parametrize("simulator_url", [{"markets": ["FR"], "tokens": ["t"]}], indirect=True)

- ``server_state_dir(name) -> Path``: session-scoped factory of state dirs for tests that start an embedded
  PostgreSQL (``make run``'s own). Not under pytest's ``tmp_path``: pgserver runs postgres as another user when run
  as root, and every new pytest session on the machine resets ``/tmp/pytest-of-<user>`` to mode 0700, which cuts a
  running server off its data directory (PANIC on pg_control). Removed at the end of the session.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from griddesk import datasets
from griddesk.settings import Settings
from griddesk.simulator import create_app
from griddesk.simulator.security import admin_token

DEFAULT_SIM_MARKETS = ("FR", "BE", "DE", "NP", "PJM")
#: The participant tokens a test simulator accepts unless told otherwise: GridDesk's default client token and the
#: tokens the tests' own clients send. Any other token is refused (401), as by the real exchange.
TEST_TOKENS = ("griddesk-dev-token", "t", "test-token", "backtest-token")


def default_simulator_kwargs() -> dict:
    """Synthetic data for every market (deterministic), DE prices at PT15M."""
    return {
        "settings": Settings(markets=",".join(DEFAULT_SIM_MARKETS), pt15m_markets="DE", data_dir=None),
        "frames": {code: datasets.synthetic_epftoolbox(code) for code in DEFAULT_SIM_MARKETS},
    }


class _ServerThread:
    """uvicorn serving one app on an already-bound loopback socket (no port race), in a daemon thread."""

    def __init__(self, app) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout_s: float = 30.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="session")
def start_simulator() -> Iterator[Callable[..., str]]:
    """Factory: ``start_simulator(**create_app_kwargs)`` starts a simulator and returns its base URL."""
    running: list[_ServerThread] = []

    def start(**kwargs) -> str:
        # The tests replay historical days side by side, each request at its own time: backtest mode (the
        # X-GridDesk-Sim-Now header is the clock). The admin token is the test state dir's (admin_headers()).
        kwargs.setdefault("backtest", True)
        kwargs.setdefault("tokens", TEST_TOKENS)
        kwargs.setdefault("admin", admin_token())
        server = _ServerThread(create_app(**kwargs))
        running.append(server)
        return server.start()

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def simulator_url(request, start_simulator) -> str:
    """Base URL of a simulator for this module; indirect parameter: ``create_app`` kwargs (default synthetic)."""
    kwargs = getattr(request, "param", None) or default_simulator_kwargs()
    return start_simulator(**kwargs)


@pytest.fixture(scope="session")
def server_state_dir() -> Iterator[Callable[[str], Path]]:
    """Factory: ``server_state_dir(name)`` makes a fresh state dir for an embedded server (see module docstring)."""
    made: list[Path] = []

    def make(name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"gd-{name}-"))
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
