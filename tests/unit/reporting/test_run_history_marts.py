"""The marts the run summary and ``griddesk digest`` flag as run history are the call-log marts, and exist."""

from __future__ import annotations

from griddesk.reporting.summary import RUN_HISTORY_MARTS
from griddesk.settings import PROJECT_ROOT

MARTS = PROJECT_ROOT / "dbt_project" / "models" / "marts"


def test_every_run_history_mart_exists_and_reads_the_call_log() -> None:
    for name in RUN_HISTORY_MARTS:
        (sql,) = MARTS.rglob(f"{name}.sql")
        assert "stg_griddesk_api__call_log" in sql.read_text(), name


def test_every_call_log_mart_is_flagged() -> None:
    readers = {p.stem for p in MARTS.rglob("*.sql") if "stg_griddesk_api__call_log" in p.read_text()}
    assert readers == set(RUN_HISTORY_MARTS)
