"""Ingest benchmark (``make bench-ingest``): parse meter-consumption payloads and load them into ``raw``.

What is measured, on a scratch database of the configured server (created, schema applied, dropped after):

1. The payloads: the simulator's ``/meters/v1/consumption`` answers (``consumption_payload``, 31-day requests)
   for a portfolio of ``meters`` meters: the 20 real Cambridge buildings (or their synthetic stand-in),
   replicated under new ids to a utility-sized portfolio. Built before the clock starts.
2. ``parse``: JSON decoding, :func:`griddesk.feeds.meters.meter_batches` (field checks, times, deduplication,
   zero-reading gaps, one batch per local day): ``parse_rows_per_second``.
3. ``load``: :func:`griddesk.feeds.loader.load_batches` for every batch into ``raw.meter_readings`` with its
   primary key, through the real loader as the extraction tasks call it (hash, version check, binary COPY, gaps,
   one transaction per batch, ``GRIDDESK_FEEDS_LOAD_WORKERS`` connections): ``rows_per_second`` is
   ``rows / seconds`` of this step alone.

Writes ``reports/ingest_benchmark.json``: ``{"rows", "seconds", "rows_per_second", "parse_rows_per_second"}``,
and beside it ``ingest_benchmark_reference.json``: the loader on a single connection into a fresh database, and the
same payloads COPYed alone (no hash, no version check) into a scratch table without keys and into one with the same
primary key, measured in the same run, with the loader's share of each.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg2

from griddesk.feeds import meters
from griddesk.feeds.batch import Page
from griddesk.feeds.loader import encode_copy_binary, load_batches
from griddesk.reporting.report import REPORT_DIR, write_json
from griddesk.settings import Settings, get_settings
from griddesk.simulator.feeds.data import load_buildings, shared_data_root
from griddesk.simulator.feeds.meters import consumption_payload
from griddesk.warehouse import db

log = logging.getLogger(__name__)

REPORT = REPORT_DIR / "ingest_benchmark.json"
BENCH_DB = "griddesk_bench_ingest"
#: A summer stretch of the data (no DST change inside, so every day has 24 hours).
FIRST_DAY = date(2017, 5, 1)


def portfolio(n_meters: int, settings: Settings) -> pd.DataFrame:
    """Hourly kWh of ``n_meters`` meters: the real buildings repeated under ids ``<id>-<copy>``."""
    base = load_buildings(shared_data_root(settings))
    copies = -(-n_meters // base.shape[1])
    frames = [base.rename(columns=lambda c, k=k: f"{c}-{k:03d}") for k in range(copies)]
    return pd.concat(frames, axis=1).iloc[:, :n_meters]


def build_payloads(df: pd.DataFrame, first_day: date, days: int) -> list[tuple[dict[str, str], bytes]]:
    """The consumption answers (31 local days each) as JSON bytes, with their request parameters."""
    pages = []
    day, last = first_day, first_day + timedelta(days=days - 1)
    while day <= last:
        end_day = min(day + timedelta(days=meters.MAX_CONSUMPTION_DAYS - 1), last)
        start = pd.Timestamp(datetime.combine(day, datetime.min.time()), tz=meters.METER_TZ).tz_convert("UTC")
        end = pd.Timestamp(datetime.combine(end_day + timedelta(days=1), datetime.min.time()), tz=meters.METER_TZ)
        payload = consumption_payload(df, start, end.tz_convert("UTC"), list(df.columns))
        params = {"start": start.isoformat(), "end": end.tz_convert("UTC").isoformat()}
        pages.append((params, json.dumps(payload, separators=(",", ":")).encode()))
        day = end_day + timedelta(days=1)
    return pages


def plain_copy_seconds(conn, batches, keyed: bool = False) -> float:
    """Seconds to COPY the same binary payloads, one transaction per batch, into a scratch copy of the table.

    The references the loader is judged against: what this server does with no hashing, no version check and no
    gaps, into a table without keys (``keyed=False``) or with the same primary key (``keyed=True``).
    """
    table = batches[0].table
    columns = ", ".join(c.name for c in table.columns)
    payloads = [encode_copy_binary(b.table, b.columns, i) for i, b in enumerate(batches)]
    with conn, conn.cursor() as cur:
        cur.execute(
            "create table raw.bench_plain_copy (like raw.meter_readings including all)"
            if keyed
            else "create table raw.bench_plain_copy as select * from raw.meter_readings with no data"
        )
    started = time.perf_counter()
    for payload in payloads:
        with conn, conn.cursor() as cur:
            cur.execute("set local synchronous_commit to off")
            cur.copy_expert(
                f"copy raw.bench_plain_copy ({columns}) from stdin with (format binary)",
                io.BytesIO(payload),
                size=1 << 20,
            )
    seconds = time.perf_counter() - started
    with conn, conn.cursor() as cur:
        cur.execute("drop table raw.bench_plain_copy")
    return seconds


def _timed_load(url: str, batches, workers: int) -> tuple[float, list, int]:
    """Seconds to load every batch on ``workers`` connections, the outcomes, and the rows then stored."""
    started = time.perf_counter()
    outcomes = load_batches(lambda: psycopg2.connect(url), batches, workers)
    seconds = time.perf_counter() - started
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from raw.meter_readings")
            return seconds, outcomes, cur.fetchone()[0]
    finally:
        conn.close()


def run(
    rows: int = 1_000_000,
    n_meters: int = 1000,
    settings: Settings | None = None,
    report: Path = REPORT,
    workers: int | None = None,
) -> dict:
    """Run the benchmark for about ``rows`` rows (whole days of ``n_meters`` meters) and write the report."""
    settings = settings or get_settings()
    workers = workers or settings.feeds_load_workers
    days = max(1, -(-rows // (24 * n_meters)))
    df = portfolio(n_meters, settings)
    payloads = build_payloads(df, FIRST_DAY, days)
    last_day = FIRST_DAY + timedelta(days=days - 1)
    url = db.fresh_database(db.server_url(settings), BENCH_DB)
    try:
        started = time.perf_counter()
        pages = [Page(params, json.loads(body), meters.CONSUMPTION_PATH) for params, body in payloads]
        batches = meters.meter_batches(pages, list(df.columns), FIRST_DAY, last_day, datetime.now(UTC))
        parse_s = time.perf_counter() - started
        n_rows = sum(b.n_rows for b in batches)

        # The single-connection reference first, into its own fresh database, so both loads start from empty tables.
        single_s, single_outcomes, single_stored = _timed_load(url, batches, 1)
        db.drop_database(db.server_url(settings), BENCH_DB)
        url = db.fresh_database(db.server_url(settings), BENCH_DB)
        load_s, outcomes, stored = _timed_load(url, batches, workers)
        conn = psycopg2.connect(url)
        try:
            plain_s = plain_copy_seconds(conn, batches)
            keyed_s = plain_copy_seconds(conn, batches, keyed=True)
        finally:
            conn.close()
    finally:
        db.drop_database(db.server_url(settings), BENCH_DB)
    for count, done in ((stored, outcomes), (single_stored, single_outcomes)):
        if count != n_rows or len(done) != len(batches) or any(o.status != "inserted" for o in done):
            raise RuntimeError(f"benchmark loaded {count} rows, expected {n_rows}")
    result = {
        "rows": int(n_rows),
        "seconds": round(load_s, 4),
        "rows_per_second": round(n_rows / load_s, 1),
        "parse_rows_per_second": round(n_rows / parse_s, 1),
    }
    report.parent.mkdir(parents=True, exist_ok=True)
    write_json(report, result)
    # The machine's ceilings, measured in the same run: the same bytes, COPY alone, without and with the key.
    reference = {
        "load_workers": workers,
        "single_connection_rows_per_second": round(n_rows / single_s, 1),
        "plain_copy_rows_per_second": round(n_rows / plain_s, 1),
        "keyed_copy_rows_per_second": round(n_rows / keyed_s, 1),
        "loader_share_of_plain_copy": round(plain_s / load_s, 3),
        "loader_share_of_keyed_copy": round(keyed_s / load_s, 3),
    }
    write_json(report.with_name("ingest_benchmark_reference.json"), reference)
    log.info(
        "plain COPY without keys: %.0f rows/s; the loader reaches %.0f %% of it",
        n_rows / plain_s,
        100 * plain_s / load_s,
    )
    log.info(
        "ingest benchmark: %d rows in %d batches of %d meters; parse %.2f s, load %.2f s on %d connection(s) "
        "(%.2f s on one) -> %s",
        n_rows,
        len(batches),
        n_meters,
        parse_s,
        load_s,
        workers,
        single_s,
        report,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.ingest_benchmark", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to load (rounded up to whole days)")
    parser.add_argument("--meters", type=int, default=1000, help="meters in the portfolio (one batch per day)")
    parser.add_argument("--workers", type=int, help="loader connections (default GRIDDESK_FEEDS_LOAD_WORKERS)")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps(run(args.rows, args.meters, workers=args.workers), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
