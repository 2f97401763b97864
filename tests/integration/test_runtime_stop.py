"""`griddesk stop` (and `make clean`, which calls it) stops the real services `make run` leaves running."""

from __future__ import annotations

import time

import psutil

from griddesk import runtime
from griddesk.settings import Settings
from griddesk.warehouse.db import embedded_server_url
from tests.plugins.smtp import _free_port


def _gone(pid: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_stop_services_stops_simulator_mailcatcher_and_embedded_postgres(server_state_dir):
    tmp_path = server_state_dir("stop")  # an embedded server's state dir (tests/integration/conftest.py)
    settings = Settings(state_dir=tmp_path, simulator_url=f"http://127.0.0.1:{_free_port()}")
    mail_port = _free_port()
    runtime.start_simulator(settings)
    runtime.start_mailcatcher(settings, port=mail_port)
    embedded_server_url(tmp_path)
    pids = {
        "simulator": int((tmp_path / "simulator.pid").read_text()),
        "mailcatcher": int((tmp_path / "mailcatcher.pid").read_text()),
        "pgserver": int((tmp_path / "pgdata" / "postmaster.pid").read_text().split()[0]),
    }

    assert sorted(runtime.stop_services(settings)) == ["mailcatcher", "pgserver", "simulator"]
    for name, pid in pids.items():
        assert _gone(pid), f"{name} (pid {pid}) still running"
    assert not runtime.simulator_healthy(settings.simulator_url)
    assert not (tmp_path / "simulator.pid").exists()
    # A second stop finds nothing to stop and does not fail.
    assert runtime.stop_services(settings) == []


def test_stop_services_leaves_a_process_that_reused_a_stale_pid(tmp_path):
    # The pid file names this very test process, which is not a simulator: it must not be signalled.
    import os

    (tmp_path / "simulator.pid").write_text(str(os.getpid()))
    assert runtime.stop_services(Settings(state_dir=tmp_path)) == []
    assert not (tmp_path / "simulator.pid").exists()


def test_a_second_checkout_never_reuses_the_first_ones_mail_catcher(tmp_path):
    """Two state dirs, one port: the second gets a clear error naming the port and the holder, not a shared catcher."""
    import pytest

    first = Settings(state_dir=tmp_path / "a", mail_port=_free_port())
    second = Settings(state_dir=tmp_path / "b", mail_port=first.mail_port)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert runtime.start_mailcatcher(first) == "started"
    try:
        with pytest.raises(
            runtime.PortInUse,
            match=rf"port {first.mail_port} is held by pid \d+ \(.*griddesk"
            r"\.mailcatcher.*GRIDDESK_MAIL_PORT",
        ):
            runtime.start_mailcatcher(second)
        assert not (tmp_path / "b" / "mailcatcher.pid").exists()
        assert runtime.start_mailcatcher(first) == "reused"  # its own checkout reuses it
    finally:
        runtime.stop_services(first)
