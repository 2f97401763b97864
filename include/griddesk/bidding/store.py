"""Every read and write of bidding's raw tables (``raw.bid_*``, see ``warehouse/schema_bidding.sql``).

Small named functions on the caller's connection (or cursor): the caller owns the transaction. The task bodies
(:mod:`griddesk.bidding.tasks`), the controls and the submission gate call these; no other bidding module holds
SQL on these tables. Two reads of other packages' published tables that the bid task needs as of its cut-off
(the production price forecasts and the realised day-ahead prices) are here too, next to the reads they feed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from griddesk.bidding.backtest import DAILY_COLUMNS
from griddesk.bidding.curves import CURVE_COLUMNS
from griddesk.bidding.execution import CLEARED_STEP_COLUMNS
from griddesk.warehouse.frames import insert_frame

#: Columns of ``raw.bid_order_sets`` written when the bid task creates an order set, in insert order.
ORDER_SET_COLUMNS = (
    "order_set_id",
    "market_code",
    "delivery_date_local",
    "schedule_id",
    "strategy",
    "trading_mode",
    "status",
    "status_reason",
    "forecast_model_version",
    "end_soc_mode",
    "end_soc_value_per_mwh",
    "expected_value",
    "currency",
    "n_steps",
    "gate_closure_utc",
    "solve_ms",
)
#: Columns of ``raw.bid_schedules`` written for a schedule (a joint schedule adds ``consumption_mw``, ``excess_mw``).
SCHEDULE_COLUMNS = [
    "schedule_id",
    "market_code",
    "delivery_date_local",
    "delivery_start_utc",
    "mtu_index",
    "resolution_minutes",
    "action",
    "decision",
    "charge_mw",
    "discharge_mw",
    "net_position_mw",
    "soc_mwh",
    "soc_pct",
    "forecast_price_per_mwh",
    "currency",
    "expected_revenue",
    "forecast_model_version",
    "battery_power_mw",
    "battery_energy_mwh",
]
#: Columns of ``raw.bid_orders`` (the schedule's legacy orders).
ORDER_COLUMNS = [
    "schedule_id",
    "market_code",
    "delivery_date_local",
    "delivery_start_utc",
    "side",
    "volume_mw",
    "limit_price_per_mwh",
    "currency",
    "status",
]
#: Columns of ``raw.bid_order_steps``.
STEP_COLUMNS = [
    "order_set_id",
    "market_code",
    "delivery_date_local",
    "delivery_start_utc",
    CURVE_COLUMNS[0],  # mtu_index
    "resolution_minutes",
    *CURVE_COLUMNS[1:],  # the step itself, as in the curve table
    "currency",
    "block_index",
]
#: Columns of ``raw.bid_executions``.
EXECUTION_COLUMNS = [
    "order_set_id",
    "exchange_order_set_id",
    "market_code",
    "delivery_date_local",
    *CLEARED_STEP_COLUMNS,
    "is_accepted",
    "accepted_volume_mw",
    "resolution_minutes",
    "currency",
    "block_index",
]


# --------------------------------------------------------------------------------------------------------------------
# order sets and their steps
# --------------------------------------------------------------------------------------------------------------------


def load_order_set(conn, market_code: str, day) -> tuple[dict | None, pd.DataFrame]:
    """The newest order set of a market and delivery day (its row) and its steps, as stored."""
    with conn.cursor() as cur:
        cur.execute(
            """select * from raw.bid_order_sets where market_code = %s and delivery_date_local = %s
               order by created_at_utc desc limit 1""",
            (market_code, day),
        )
        row = cur.fetchone()
        if row is None:
            return None, pd.DataFrame(columns=[*CURVE_COLUMNS, "delivery_start_utc"])
        header = dict(zip([d.name for d in cur.description], row, strict=True))
        cur.execute(
            "select * from raw.bid_order_steps where order_set_id = %s order by mtu_index, step_index",
            (header["order_set_id"],),
        )
        steps = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    return header, steps


def order_set_state(conn, order_set_id: str) -> tuple[str, date, str] | None:
    """``(market_code, delivery_date_local, status)`` of an order set, None when there is none."""
    with conn.cursor() as cur:
        cur.execute(
            "select market_code, delivery_date_local, status from raw.bid_order_sets where order_set_id=%s",
            (order_set_id,),
        )
        return cur.fetchone()


def pending_approval_ids(conn, market_codes: Sequence[str], day: date) -> list[str]:
    """Order sets of these markets for ``day`` waiting for a person, by id."""
    with conn.cursor() as cur:
        cur.execute(
            """select order_set_id from raw.bid_order_sets
               where market_code = any(%s) and delivery_date_local = %s and status = 'pending_approval'
               order by order_set_id""",
            ([m.upper() for m in market_codes], day),
        )
        return [r[0] for r in cur.fetchall()]


def market_days_between(conn, first: date, last: date) -> list[tuple[str, date]]:
    """The (market, delivery day) pairs with an order set in ``first .. last``, in that order."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct market_code, delivery_date_local from raw.bid_order_sets
               where delivery_date_local between %s and %s order by 1, 2""",
            (first, last),
        )
        return cur.fetchall()


def update_status(conn, order_set_id: str, status: str, reason: str = "") -> None:
    """Write an order set's status and reason (the caller checked the move, :mod:`griddesk.bidding.lifecycle`).

    Raises:
        LookupError: no such order set.
    """
    with conn.cursor() as cur:
        cur.execute(
            """update raw.bid_order_sets set status = %s, status_reason = %s, updated_at_utc = now()
               where order_set_id = %s""",
            (status, reason, order_set_id),
        )
        if cur.rowcount != 1:
            raise LookupError(f"no order set {order_set_id}")


def mark_submitted(conn, order_set_id: str, market_code: str, day: date, exchange_order_set_id: str) -> None:
    """Record the exchange's id of a submitted set, and its day's legacy orders as submitted."""
    with conn.cursor() as cur:
        cur.execute(
            "update raw.bid_order_sets set exchange_order_set_id = %s where order_set_id = %s",
            (exchange_order_set_id, order_set_id),
        )
        cur.execute(
            "update raw.bid_orders set status = 'submitted' where market_code = %s and delivery_date_local = %s",
            (market_code, day),
        )


def replace_day(
    cur,
    market_code: str,
    day: date,
    schedule_rows: pd.DataFrame,
    order_rows: pd.DataFrame,
    order_set: Sequence,
    step_rows: pd.DataFrame,
) -> None:
    """Replace a market-day's schedule, legacy orders and order set (with its steps) in the caller's transaction.

    ``order_set`` is the new ``raw.bid_order_sets`` row, values in :data:`ORDER_SET_COLUMNS` order; the frames
    hold exactly the columns to insert (an empty ``order_rows`` or ``step_rows`` inserts none).
    """
    for table in ("raw.bid_orders", "raw.bid_schedules", "raw.bid_order_sets"):
        cur.execute(f"delete from {table} where market_code=%s and delivery_date_local=%s", (market_code, day))
    insert_frame(cur, "raw.bid_schedules", schedule_rows)
    if not order_rows.empty:
        insert_frame(cur, "raw.bid_orders", order_rows)
    cur.execute(
        f"""insert into raw.bid_order_sets
               ({", ".join(ORDER_SET_COLUMNS)})
           values ({", ".join(["%s"] * len(ORDER_SET_COLUMNS))})""",
        tuple(order_set),
    )
    if len(step_rows):
        insert_frame(cur, "raw.bid_order_steps", step_rows)


# --------------------------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------------------------


def last_soc_pct(conn, market_code: str, day: date) -> float | None:
    """The state of charge (%) at the end of ``day``'s stored schedule, None when there is none."""
    with conn.cursor() as cur:
        cur.execute(
            """select soc_pct from raw.bid_schedules where market_code = %s and delivery_date_local = %s
               order by delivery_start_utc desc limit 1""",
            (market_code, day),
        )
        row = cur.fetchone()
    return None if row is None else row[0]


def schedule_mtus(conn, schedule_id: str) -> int:
    """How many MTUs a stored schedule has."""
    with conn.cursor() as cur:
        cur.execute("select count(*) from raw.bid_schedules where schedule_id = %s", (schedule_id,))
        return int(cur.fetchone()[0])


# --------------------------------------------------------------------------------------------------------------------
# compliance
# --------------------------------------------------------------------------------------------------------------------


def replace_compliance_results(conn, order_set_id: str, results: Sequence, steps_sha256: str) -> None:
    """Replace an order set's compliance rows (one per check result: ``name``, ``passed``, ``reason``), each with
    the hash of the steps checked."""
    with conn.cursor() as cur:
        cur.execute("delete from raw.bid_compliance_results where order_set_id = %s", (order_set_id,))
        for r in results:
            cur.execute(
                """insert into raw.bid_compliance_results (order_set_id, check_name, passed, reason, steps_sha256)
                   values (%s, %s, %s, %s, %s)""",
                (order_set_id, r.name, r.passed, r.reason, steps_sha256),
            )


def compliance_checks(conn, order_set_id: str) -> tuple[tuple[str, bool, str | None], ...]:
    """``(check name, passed, steps hash)`` of every compliance row of an order set."""
    with conn.cursor() as cur:
        cur.execute(
            "select check_name, passed, steps_sha256 from raw.bid_compliance_results where order_set_id = %s",
            (order_set_id,),
        )
        return tuple((n, bool(p), d) for n, p, d in cur.fetchall())


# --------------------------------------------------------------------------------------------------------------------
# the audit trail and the controls
# --------------------------------------------------------------------------------------------------------------------


def insert_audit_event(
    conn, order_set_id: str | None, market_code: str, day: date | None, event: str, actor: str, detail: dict
) -> None:
    """Append one row to ``raw.bid_audit_events`` (the caller validated the event)."""
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_audit_events (order_set_id, market_code, delivery_date_local, event, actor, detail)
               values (%s, %s, %s, %s, %s, %s::jsonb)""",
            (order_set_id, market_code, day, event, actor, json.dumps(detail or {}, default=str)),
        )


def audit_events(conn, order_set_id: str) -> list[dict[str, Any]]:
    """The audit events of one order set, oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            """select event, actor, detail, occurred_at_utc from raw.bid_audit_events
               where order_set_id = %s order by event_id""",
            (order_set_id,),
        )
        return [{"event": e, "actor": a, "detail": d, "occurred_at_utc": t} for e, a, d, t in cur.fetchall()]


def approved_since_generated(conn, order_set_id: str) -> bool:
    """Whether a person approved the order set after it was (last) generated."""
    with conn.cursor() as cur:
        cur.execute(
            """select exists (select 1 from raw.bid_audit_events a where a.order_set_id = %(id)s
                   and a.event = 'approved'
                   and a.event_id > coalesce((select max(event_id) from raw.bid_audit_events
                                              where order_set_id = %(id)s and event = 'generated'), 0))""",
            {"id": order_set_id},
        )
        return bool(cur.fetchone()[0])


def cancellations(conn, order_set_id: str) -> int:
    """How often the exchange cancelled an order set (its ``cancelled`` audit events)."""
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from raw.bid_audit_events where order_set_id = %s and event = 'cancelled'",
            (order_set_id,),
        )
        return int(cur.fetchone()[0])


def set_control(conn, control: str, market_code: str, active: bool, reason: str, actor: str) -> None:
    """Upsert a trader control (``raw.bid_controls``), recording who set it and why."""
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_controls (control, market_code, is_active, reason, set_by)
               values (%s, %s, %s, %s, %s)
               on conflict (control, market_code) do update
               set is_active = excluded.is_active, reason = excluded.reason, set_by = excluded.set_by,
                   set_at_utc = now()""",
            (control, market_code, active, reason, actor),
        )


def active_control(conn, control: str, all_markets: str, market_code: str) -> tuple | None:
    """``(market_code, reason, set_by, set_at_utc)`` of the active control for the market (preferred) or all
    markets, None when neither is active."""
    with conn.cursor() as cur:
        cur.execute(
            """select market_code, reason, set_by, set_at_utc from raw.bid_controls
               where control = %s and is_active and market_code in (%s, %s)
               order by market_code = %s desc limit 1""",
            (control, all_markets, market_code, market_code),
        )
        return cur.fetchone()


# --------------------------------------------------------------------------------------------------------------------
# executions
# --------------------------------------------------------------------------------------------------------------------


def replace_executions(cur, order_set_id: str, rows: pd.DataFrame) -> None:
    """Replace the set's execution rows in the caller's transaction (a refetch or rerun never adds rows)."""
    cur.execute("delete from raw.bid_executions where order_set_id = %s", (order_set_id,))
    if len(rows):
        insert_frame(cur, "raw.bid_executions", rows[EXECUTION_COLUMNS])


def accepted_blocks(conn, order_set_id: str) -> list:
    """The blocks of an exclusive group the exchange accepted (at most one when the exchange is right)."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct block_index from raw.bid_executions
               where order_set_id = %s and is_accepted and block_index is not null""",
            (order_set_id,),
        )
        return [r[0] for r in cur.fetchall()]


# --------------------------------------------------------------------------------------------------------------------
# published prices and forecasts, as of a cut-off
# --------------------------------------------------------------------------------------------------------------------


#: The realised price of each interval: the first version published by the run's clock (what the auction cleared
#: at; a later correction does not re-clear an auction).
_REALISED_PRICES_SQL = """
select distinct on (delivery_start_utc) delivery_start_utc, resolution_minutes, price_per_mwh
from raw.entsoe_day_ahead_prices
where market_code = %s and delivery_date_local = %s and published_at_utc <= %s
order by delivery_start_utc, version
"""


def first_published_prices(conn, market_code: str, day: date, now: datetime) -> pd.DataFrame:
    """``day``'s day-ahead prices as first published by ``now``: ``delivery_start_utc``, ``resolution_minutes``,
    ``price_per_mwh``."""
    with conn.cursor() as cur:
        cur.execute(_REALISED_PRICES_SQL, (market_code, day, now))
        return pd.DataFrame(cur.fetchall(), columns=["delivery_start_utc", "resolution_minutes", "price_per_mwh"])


# --------------------------------------------------------------------------------------------------------------------
# backtest runs (the bidding benchmark)
# --------------------------------------------------------------------------------------------------------------------


#: Columns of ``raw.bid_backtest_days`` (inserted by name): the run's keys, then a backtest day's own columns.
BACKTEST_DAY_COLUMNS = [
    "run_id",
    "market_code",
    "source_name",
    "strategy",
    "currency",
    *DAILY_COLUMNS,
    "perfect_foresight_revenue",
]


def insert_backtest_run(cur, values: Sequence) -> None:
    """Insert one ``raw.bid_backtest_runs`` row; ``values`` in the insert's column order (``battery`` and
    ``config`` as JSON text)."""
    cur.execute(
        """insert into raw.bid_backtest_runs
               (run_id, market_code, test_start, test_end, n_days, is_full_test_period, power_mw, energy_mwh,
                battery, config, forecast_model, production_strategy, currency, perfect_foresight_daily_revenue,
                perfect_foresight_multiday_revenue, wall_seconds, optimiser_seconds, started_at_utc)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)""",
        tuple(values),
    )


def insert_backtest_days(cur, days: pd.DataFrame) -> None:
    """Insert a run's per-day rows into ``raw.bid_backtest_days`` (``days`` holds :data:`BACKTEST_DAY_COLUMNS`)."""
    insert_frame(cur, "raw.bid_backtest_days", days[BACKTEST_DAY_COLUMNS])
