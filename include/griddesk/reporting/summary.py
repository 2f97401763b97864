"""The summary `make run` prints: marts, forecast accuracy against the weekly naive, the last bid schedule."""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg2

from griddesk.settings import Settings
from griddesk.warehouse.db import redact

#: Marts that record the runs themselves rather than the market data: the feed clients' HTTP call log
#: (``raw.api_call_log``, stamped with the wall clock of each attempt). A rerun makes the calls again, so these differ
#: between two otherwise identical runs, by design; every other mart's business columns are a function of the data
#: and the run days, and ``griddesk digest`` shows them unchanged on a rerun.
RUN_HISTORY_MARTS = {
    "fct_api_health": "one row per feed, endpoint and wall-clock hour of the calls: each run adds the hours it ran in",
    "fct_api_health_daily": "one row per endpoint and wall-clock day of the calls: each run adds to the counts",
    "fct_api_call_failures": "one row per failed attempt (a retry that healed it included): grows with each run",
    "dim_external_apis": "first and last call time of each API (wall clock): the row count stays, the times move",
}


def _query(conn, sql: str, params=None) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def mart_row_counts(conn) -> pd.DataFrame:
    """Rows per table or view in the ``marts`` schema."""
    names = _query(
        conn,
        "select table_name from information_schema.tables where table_schema = 'marts' order by table_name",
    )["table_name"]
    counts = [(n, _query(conn, f'select count(*) as n from marts."{n}"')["n"].iloc[0]) for n in names]
    return pd.DataFrame(counts, columns=["mart", "rows"])


def forecast_accuracy(conn, days: list[date]) -> pd.DataFrame:
    """MAE of GridDesk's forecasts and of the weekly naive over the scored hours of ``days``, per market."""
    return _query(
        conn,
        """select market_code, currency, count(distinct delivery_date_local) as days,
                  sum(scored_mtu_count) as hours,
                  sum(forecast_mae_per_mwh * scored_mtu_count) / nullif(sum(scored_mtu_count), 0) as forecast_mae,
                  sum(weekly_naive_mae_per_mwh * naive_scored_mtu_count)
                      / nullif(sum(naive_scored_mtu_count), 0) as weekly_naive_mae,
                  avg(interval_coverage_pct) as interval_coverage_pct
           from marts.fct_price_forecast_daily_scores
           where delivery_date_local = any(%s)
           group by market_code, currency order by market_code""",
        (days,),
    )


def last_schedule(conn, day: date) -> pd.DataFrame:
    """The bid schedule of ``day`` per market and MTU."""
    return _query(
        conn,
        """select market_code, delivery_label_local as mtu, action,
                  round((discharge_mw - charge_mw)::numeric, 1) as net_mw,
                  round(soc_pct::numeric, 1) as soc_pct,
                  round(forecast_price_per_mwh::numeric, 2) as forecast_price,
                  currency
           from marts.fct_bid_schedules where delivery_date_local = %s
           order by market_code, delivery_start_utc""",
        (day,),
    )


def print_run_summary(url: str, settings: Settings, days: list[date], wall_seconds: float | None) -> None:
    """Print the run summary to stdout."""
    with psycopg2.connect(url) as conn:
        counts = mart_row_counts(conn)
        accuracy = forecast_accuracy(conn, days)
        schedule = last_schedule(conn, days[-1])
    line = "=" * 78
    print(f"\n{line}\nGridDesk summary: delivery days {days[0]} .. {days[-1]}, markets {settings.markets}\n{line}")
    data_dir = settings.resolved_data_dir
    print(f"Data: {data_dir}" if data_dir else "Data: SYNTHETIC (no GRIDDESK_DATA_DIR, no ../shared): not real prices")
    print("\nRows per mart (* = run history, grows with every run; the rest is identical on a rerun):")
    counts["mart"] = [f"{m} *" if m in RUN_HISTORY_MARTS else m for m in counts["mart"]]
    print(counts.to_string(index=False))
    print("  * the feed clients' HTTP call log by wall-clock time (raw.api_call_log): a rerun calls the APIs again.")
    print("\nForecast accuracy over those days (per MWh, market currency):")
    if accuracy.empty:
        print("  (no scored forecasts)")
    else:
        acc = accuracy.assign(
            ratio=(accuracy["forecast_mae"] / accuracy["weekly_naive_mae"]).round(3),
            forecast_mae=accuracy["forecast_mae"].astype(float).round(3),
            weekly_naive_mae=accuracy["weekly_naive_mae"].astype(float).round(3),
            interval_coverage_pct=accuracy["interval_coverage_pct"].astype(float).round(1),
        )
        print(acc.to_string(index=False, na_rep="n/a"))
        if acc["interval_coverage_pct"].isna().any():
            print("  interval coverage n/a: the champion had too few scored days for an empirical interval")
    print(f"\nBid schedule for {days[-1]} (+ sell / - buy; SoC at the end of the MTU; paper orders):")
    print(schedule.to_string(index=False) if not schedule.empty else "  (no schedule: see the quality gate)")
    print(f"\nWarehouse (pipelines, as griddesk_loader): {redact(url)}")
    print_bi_access(settings)
    print(
        f"Airflow UI: `make ui`, then {settings.airflow_public_url} (log in: users and passwords in "
        f"{settings.state_dir / 'airflow' / 'passwords.json'}); Data Docs: {settings.docs_public_url}/gx/"
    )
    print(f"Airflow logs: {settings.state_dir / 'logs'}")
    print(f"Alert emails caught in: {settings.state_dir / 'mail'}")
    if wall_seconds is not None:
        print(f"Wall time: {wall_seconds:.0f} s")


def print_bi_access(settings: Settings) -> None:
    """The read-only BI connection string and the local dashboard: what an analyst needs after `make run`.

    The string carries no password: libpq tools read it from the ``passfile=`` it names (0600, griddesk_bi's
    entry only); tools without passfile support take the password from that file.
    """
    from griddesk.dashboards.local import build_local_dashboard, default_output
    from griddesk.warehouse import db, roles

    try:
        conninfo, passfile = db.bi_connection(settings)
    except db.EmbeddedServerError as exc:
        print(f"BI access: none ({exc})")
        return
    print(f"BI (read-only marts, role {roles.BI}): psql '{conninfo}'")
    print(f"  password for tools without passfile= support: the last field of {passfile}")
    try:
        page, results = build_local_dashboard(
            db.role_url(db.warehouse_url(settings), roles.BI, settings), default_output(settings)
        )
    except Exception as exc:  # the dashboard is a convenience: never fail the run summary for it
        print(f"Local dashboard: not built ({type(exc).__name__}: {exc}); try `make dashboard`")
        return
    failed = sum(1 for r in results if r.error)
    print(
        f"Local dashboard ({len(results)} panels{f', {failed} failed' if failed else ''}): file://{page}"
        "  (rebuild: `make dashboard`; Grafana: docker compose, README 'For analysts')"
    )


def mart_digests(conn) -> dict[str, str]:
    """SHA-256 of each mart's business columns (every column but ``audit_*``), in a stable row order.

    Two runs that leave the marts' business content identical give identical digests.
    """
    import hashlib

    digests = {}
    for name in mart_row_counts(conn)["mart"]:
        cols = _query(
            conn,
            """select column_name from information_schema.columns
               where table_schema = 'marts' and table_name = %s and column_name not like 'audit\\_%%'
               order by column_name""",
            (name,),
        )["column_name"].tolist()
        col_list = ", ".join(f'"{c}"' for c in cols)
        rows = _query(conn, f'select {col_list} from marts."{name}" order by {col_list}')
        digests[name] = hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()[:16]
    return digests
