"""Local runtime settings: ports, login, users, generated secrets, and who may reuse a port (no servers started)."""

from __future__ import annotations

import json
import os
import socket
import stat

import pytest

from griddesk import runtime
from griddesk.settings import Settings


def settings(tmp_path, **kw) -> Settings:
    # A configured warehouse URL: airflow_env then needs no embedded server.
    return Settings(state_dir=tmp_path, warehouse_url="postgresql://u@127.0.0.1:1/griddesk", **kw)


def test_airflow_requires_a_login_and_listens_on_loopback_by_default(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
        monkeypatch.delenv(key)
    env = runtime.airflow_env(settings(tmp_path))
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,trader:viewer"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(tmp_path / "airflow" / "passwords.json")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] and env["AIRFLOW__API__SECRET_KEY"]


def test_every_port_comes_from_the_settings(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
        monkeypatch.delenv(key)
    s = settings(tmp_path, mail_port=18325, airflow_port=18380, docs_port=18381)
    env = runtime.airflow_env(s)
    assert env["AIRFLOW__API__PORT"] == "18380"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18380/execution/"
    assert json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])["port"] == 18325
    assert s.docs_public_url == "http://127.0.0.1:18381"
    assert settings(tmp_path, public_url="https://docs.desk.example/").docs_public_url == "https://docs.desk.example"


def test_anonymous_admins_only_with_the_explicit_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", raising=False)
    env = runtime.airflow_env(settings(tmp_path, airflow_all_admins=True))
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"


def test_passwords_are_generated_once_into_a_private_file(tmp_path):
    s = settings(tmp_path)
    first = runtime.ensure_passwords(s)
    assert set(first) == {"admin", "trader"} and all(len(p) >= 12 for p in first.values())
    path = runtime.passwords_file(s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert runtime.ensure_passwords(s) == {}  # printed once: a rerun generates nothing
    assert json.loads(path.read_text()) == first
    assert runtime.state_secret(s, "jwt_secret") == runtime.state_secret(s, "jwt_secret")


#: GRIDDESK_AIRFLOW_USERS values that cannot be right -> (a pattern of) the reason given.
BAD_USER_LISTS = {
    "admin:admin,bob:root": "role one of",
    "trader:viewer": "no admin",
    "a:admin,a:viewer": "twice",
    "admin": "expected name:role",
}


@pytest.mark.parametrize(("spec", "error"), BAD_USER_LISTS.items())
def test_bad_user_lists_are_refused_with_the_reason(spec, error):
    with pytest.raises(ValueError, match=error):
        runtime.parse_users(spec)


def test_a_listener_is_ours_only_when_it_is_our_pid_or_its_child():
    lineage = {10: [5, 1], 20: [7, 1]}.get
    assert runtime.is_own_listener(5, 5, lineage)
    assert runtime.is_own_listener(10, 5, lineage)  # a worker forked by our server
    assert not runtime.is_own_listener(20, 5, lineage)
    assert not runtime.is_own_listener(20, None, lineage)  # no pid file: nothing on the port is ours
    assert not runtime.is_own_listener(None, 5, lineage)


def test_a_port_held_by_another_process_is_an_error_naming_port_and_holder(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        s = settings(tmp_path)
        with pytest.raises(runtime.PortInUse, match=rf"port {port} is held by pid {os.getpid()}.*GRIDDESK_MAIL_PORT"):
            runtime.claim_port(s, "mailcatcher", port, "griddesk.mailcatcher", "GRIDDESK_MAIL_PORT")
        # The same listener named by this state dir's pid file (and running the marker) is reused.
        runtime.pid_file(s, "mailcatcher").write_text(str(os.getpid()))
        assert runtime.claim_port(s, "mailcatcher", port, "pytest", "GRIDDESK_MAIL_PORT") is True
    assert runtime.claim_port(s, "mailcatcher", port, "pytest", "GRIDDESK_MAIL_PORT") is False  # free now
