"""Run the dbt project in ``dbt_project/`` in-process, against the warehouse a libpq URL names.

``dbt_project/profiles.yml`` reads host, port, user, password and database from ``GRIDDESK_DBT_*``
environment variables; :func:`run_dbt` sets them from the URL for the length of one invocation. dbt's
``target/`` (manifest, partial-parse cache) and ``logs/`` go to a folder per warehouse under
``<state_dir>/dbt``, so test databases built side by side never share a partial-parse cache or a manifest.
dbt always logs in as ``griddesk_transform`` (:mod:`griddesk.warehouse.roles`), whichever login the URL names.
dbt is not re-entrant, so invocations within one process are serialised by a lock, and invocations on the
same database from several processes (Airflow tasks) by a PostgreSQL advisory lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg2

from griddesk.settings import PROJECT_ROOT, get_settings
from griddesk.warehouse.db import libpq_params, role_url
from griddesk.warehouse.roles import TRANSFORM

log = logging.getLogger(__name__)

#: The dbt project (dbt_project.yml and the committed profiles.yml).
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

#: Node statuses that make an invocation fail (dbt's RunStatus / TestStatus values).
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

#: Environment variable that carries the ``as_of_utc`` var (see :func:`run_dbt`); read by the macro as_of_utc().
AS_OF_ENV = "GRIDDESK_DBT_AS_OF_UTC"

#: Key of the session advisory lock one dbt invocation holds on its warehouse database.
WAREHOUSE_LOCK_KEY = 4712

_DBT_LOCK = threading.Lock()


class DbtError(RuntimeError):
    """A dbt invocation failed; ``failures`` names the failing nodes, ``result`` is the full outcome."""

    def __init__(self, message: str, failures: Sequence[NodeResult] = (), result: DbtResult | None = None) -> None:
        super().__init__(message)
        self.failures = tuple(failures)
        self.result = result


@dataclass(frozen=True)
class NodeResult:
    """Outcome of one model, test, seed or unit test of an invocation."""

    unique_id: str  # e.g. model.griddesk.fct_day_ahead_prices
    name: str
    status: str  # success | error | fail | warn | pass | skipped | ...
    message: str | None
    execution_time_s: float
    failures: int | None  # failing rows of a test


@dataclass(frozen=True)
class DbtResult:
    """Outcome of one dbt invocation."""

    args: tuple[str, ...]  # the arguments as passed to dbt, paths included
    success: bool
    elapsed_s: float  # wall-clock time of the invocation, parsing included
    nodes: tuple[NodeResult, ...] = ()
    raw: Any = field(default=None, repr=False, compare=False)  # dbt's own result object (manifest, run results)

    def by_status(self, *statuses: str) -> tuple[NodeResult, ...]:
        """The nodes whose status is one of ``statuses``."""
        return tuple(n for n in self.nodes if n.status in statuses)

    @property
    def failures(self) -> tuple[NodeResult, ...]:
        return self.by_status(*FAILED_STATUSES)

    @property
    def warnings(self) -> tuple[NodeResult, ...]:
        return self.by_status("warn")


def work_dir_for(warehouse_url: str) -> Path:
    """The folder for dbt's ``target/`` and ``logs/`` of this warehouse: ``<state_dir>/dbt/<dbname>-<hash>``.

    One folder per database (host, port, name), whichever login the URL names.
    """
    params = libpq_params(warehouse_url)
    where = f"{params['host']}|{params['port']}|{params['dbname']}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:10]
    return get_settings().state_dir / "dbt" / f"{params['dbname']}-{digest}"


def dbt_env(warehouse_url: str) -> dict[str, str]:
    """The ``GRIDDESK_DBT_*`` variables ``profiles.yml`` reads, from a postgresql:// URL (socket dirs allowed)."""
    params = libpq_params(warehouse_url)
    return {
        "GRIDDESK_DBT_HOST": str(params["host"]),
        "GRIDDESK_DBT_PORT": str(params["port"]),
        "GRIDDESK_DBT_USER": str(params["user"]),
        "GRIDDESK_DBT_PASSWORD": str(params["password"]),
        "GRIDDESK_DBT_DBNAME": str(params["dbname"]),
    }


def _encode_var(value: Any) -> str:
    """JSON encoding of the var values json cannot encode: datetimes and dates as ISO-8601 strings."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"dbt var datetime {value!r} has no time zone; pass an aware (UTC) datetime")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"dbt var value {value!r} of type {type(value).__name__} is not JSON serialisable")


def vars_json(vars: Mapping[str, Any]) -> str:
    """``vars`` as the JSON that ``--vars`` takes; datetimes become ISO-8601 strings.

    Raises:
        ValueError: a datetime without a time zone (an as-of instant must be unambiguous).
        TypeError: a value JSON cannot encode.
    """
    return json.dumps(dict(vars), default=_encode_var, sort_keys=True)


def as_of_text(as_of_utc: datetime | str | None) -> str:
    """The as-of instant as the ISO-8601 text the dbt macro as_of_utc() validates; '' for None.

    Raises:
        ValueError: a datetime without a time zone.
    """
    if as_of_utc is None:
        return ""
    if isinstance(as_of_utc, datetime):
        return _encode_var(as_of_utc)
    return str(as_of_utc).strip()


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous values."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextmanager
def _warehouse_lock(warehouse_url: str) -> Iterator[None]:
    """Hold a session advisory lock on the warehouse, so two dbt builds never interleave their DDL."""
    conn = psycopg2.connect(warehouse_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (WAREHOUSE_LOCK_KEY,))
            if not cur.fetchone()[0]:
                log.info("waiting for another dbt invocation on %s", libpq_params(warehouse_url)["dbname"])
                cur.execute("select pg_advisory_lock(%s)", (WAREHOUSE_LOCK_KEY,))
        yield
    finally:
        conn.close()  # ending the session releases the lock


def _node_results(raw: Any) -> tuple[NodeResult, ...]:
    """Per-node outcomes of a run-like command (build, run, test, seed); empty for parse, ls, debug, ..."""
    nodes = []
    for r in getattr(raw, "results", None) or ():
        node = getattr(r, "node", None)
        status = getattr(r, "status", "")
        nodes.append(
            NodeResult(
                unique_id=getattr(node, "unique_id", "?"),
                name=getattr(node, "name", "?"),
                status=str(getattr(status, "value", status)),
                message=getattr(r, "message", None),
                execution_time_s=float(getattr(r, "execution_time", 0.0) or 0.0),
                failures=getattr(r, "failures", None),
            )
        )
    return tuple(nodes)


def run_dbt(
    args: list[str],
    warehouse_url: str,
    vars: Mapping[str, Any] | None = None,
    *,
    work_dir: Path | None = None,
) -> DbtResult:
    """Run one dbt command (e.g. ``["build", "--select", "tag:trading"]``) in-process against ``warehouse_url``.

    Adds ``--project-dir``/``--profiles-dir`` (dbt_project/), ``--target-path``/``--log-path`` (under
    ``work_dir``, default :func:`work_dir_for`) and ``--vars`` to ``args``. The ``as_of_utc`` var travels in
    the environment variable ``GRIDDESK_DBT_AS_OF_UTC`` instead of ``--vars``: every pipeline run passes a
    new instant, and a changed ``--vars`` makes dbt re-parse the whole project, while a changed environment
    variable re-parses only the files that read it.

    Args:
        args: The dbt command and its own options, without paths or vars.
        warehouse_url: postgresql:// URL of the warehouse database (``?host=/socket/dir`` allowed).
        vars: dbt vars, e.g. ``{"as_of_utc": datetime(..., tzinfo=UTC)}`` (or an ISO-8601 string with
            offset); datetimes must be tz-aware. Without ``as_of_utc`` the build shows the latest versions.
        work_dir: Folder for dbt's target/ and logs/.

    Returns:
        The outcome; ``nodes`` lists every model and test run, warnings included.

    Raises:
        DbtError: dbt crashed (bad project, no connection) or any node errored or failed; the message names
            the failing nodes and their messages.
        ValueError: ``args`` is empty, or a datetime var has no time zone.
        psycopg2.OperationalError: the warehouse is unreachable (checked before dbt starts).
    """
    if not args:
        raise ValueError("run_dbt needs a dbt command, e.g. ['build']")
    from dbt.cli.main import dbtRunner  # imported lazily: it takes seconds, and DAG files must parse fast

    work_dir = work_dir or work_dir_for(warehouse_url)
    # dbt runs as the transform role whatever login the caller holds: it reads raw and owns what it builds.
    warehouse_url = role_url(warehouse_url, TRANSFORM)
    dbt_vars = dict(vars or {})
    env = {**dbt_env(warehouse_url), AS_OF_ENV: as_of_text(dbt_vars.pop("as_of_utc", None))}
    cli_args = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    if dbt_vars:
        cli_args += ["--vars", vars_json(dbt_vars)]

    with _DBT_LOCK, _warehouse_lock(warehouse_url), _environ(env):
        started = time.perf_counter()
        outcome = dbtRunner().invoke(cli_args)
        elapsed = time.perf_counter() - started

    result = DbtResult(
        args=tuple(cli_args),
        success=bool(outcome.success),
        elapsed_s=elapsed,
        nodes=_node_results(outcome.result),
        raw=outcome.result,
    )
    command = " ".join(args)
    if outcome.exception is not None:
        raise DbtError(f"dbt {command} failed: {outcome.exception}", result=result) from outcome.exception
    if not result.success:
        failures = result.failures
        skipped = len(result.by_status("skipped"))
        details = "; ".join(f"{n.name} ({n.status}): {(n.message or '').strip()}" for n in failures)
        raise DbtError(
            f"dbt {command} failed: {len(failures)} node(s) failed, {skipped} skipped: {details or 'see dbt log'}",
            failures=failures,
            result=result,
        )
    log.info(
        "dbt %s: %d nodes ok, %d warnings, in %.1f s",
        command,
        len(result.nodes),
        len(result.warnings),
        elapsed,
    )
    for node in result.warnings:
        log.warning("dbt warning in %s: %s", node.name, node.message)
    return result


def build(
    warehouse_url: str,
    select: str | Sequence[str] | None = None,
    vars: Mapping[str, Any] | None = None,
    *,
    full_refresh: bool = False,
    work_dir: Path | None = None,
) -> DbtResult:
    """``dbt build`` (seeds, models, snapshots and tests in DAG order) of the whole project or of ``select``.

    Args:
        warehouse_url: postgresql:// URL of the warehouse database.
        select: dbt selection, e.g. ``"tag:trading"`` or ``["fct_day_ahead_prices+"]``; None builds everything.
        vars: dbt vars; ``as_of_utc`` (tz-aware datetime or ISO-8601 string with offset) makes the build
            point-in-time.
        full_refresh: Rebuild incremental marts from scratch.
        work_dir: Folder for dbt's target/ and logs/ (default: per warehouse under the state dir).

    Raises:
        DbtError: see :func:`run_dbt`.
    """
    args = ["build"]
    if select:
        args += ["--select", *([select] if isinstance(select, str) else select)]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, warehouse_url, vars=vars, work_dir=work_dir)
