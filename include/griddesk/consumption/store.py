"""Warehouse I/O of consumption forecasting: training outcomes, fitted models, forecasts and portfolio bids
(``raw.consumption_*``, ``raw.portfolio_bids``). The point-in-time reads of the meter and weather feeds it trains
on are the feeds' own (:mod:`griddesk.feeds.store`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from psycopg2.extras import execute_values


def _frame(cur) -> pd.DataFrame:
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def record_training(conn, row: dict) -> None:
    """Insert or replace the training outcome of (market, meter, day)."""
    cols = [
        "market_code",
        "meter_id",
        "delivery_date_local",
        "cutoff_utc",
        "status",
        "reason",
        "is_clean",
        "n_clean_hours",
        "flag_counts",
        "level_shifts",
        "refitted_models",
        "champion_model_name",
        "champion_reason",
        "run_id",
    ]
    values = [
        json.dumps(row.get(c)) if c in ("flag_counts", "level_shifts") and row.get(c) is not None else row.get(c)
        for c in cols
    ]
    values[cols.index("refitted_models")] = list(row.get("refitted_models") or [])
    with conn.cursor() as cur:
        cur.execute(
            f"""insert into raw.consumption_training_runs ({", ".join(cols)}) values ({", ".join(["%s"] * len(cols))})
                on conflict (market_code, meter_id, delivery_date_local) do update set
                {", ".join(f"{c} = excluded.{c}" for c in cols[3:])}, audit_recorded_at_utc = now()""",
            values,
        )


def save_fit(conn, meter_id: str, model_name: str, model_id: str, day, training_end, n_rows: int, payload: bytes):
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.consumption_model_fits
                   (meter_id, model_name, model_id, fitted_for_date, training_end_utc, n_training_rows, payload)
               values (%s, %s, %s, %s, %s, %s, %s)
               on conflict (meter_id, model_name) do update set model_id = excluded.model_id,
                   fitted_for_date = excluded.fitted_for_date, training_end_utc = excluded.training_end_utc,
                   n_training_rows = excluded.n_training_rows, payload = excluded.payload, audit_fitted_at_utc = now()""",
            (meter_id, model_name, model_id, day, training_end, n_rows, payload),
        )


def load_fit(conn, meter_id: str, model_name: str) -> tuple | None:
    """``(fitted_for_date, model_id, payload)`` of the stored fit, or None."""
    with conn.cursor() as cur:
        cur.execute(
            "select fitted_for_date, model_id, payload from raw.consumption_model_fits where meter_id = %s and model_name = %s",
            (meter_id, model_name),
        )
        row = cur.fetchone()
    return (row[0], row[1], bytes(row[2])) if row else None


def write_forecasts(conn, frame: pd.DataFrame) -> int:
    """Replace the forecasts of the (market, meter, day)s in ``frame``."""
    keys = frame[["market_code", "meter_id", "delivery_date_local"]].drop_duplicates().itertuples(index=False)
    cols = [
        "market_code",
        "meter_id",
        "model_name",
        "model_id",
        "delivery_date_local",
        "interval_start_utc",
        "forecast_kwh",
        "lower_kwh",
        "upper_kwh",
        "interval_width_pct",
        "interval_method",
        "is_champion",
        "cutoff_utc",
        "weather_issued_at_utc",
        "run_id",
    ]
    rows = [
        tuple(None if isinstance(v, float) and np.isnan(v) else v for v in r)
        for r in frame[cols].astype(object).itertuples(index=False)
    ]
    with conn.cursor() as cur:
        for k in keys:
            cur.execute(
                "delete from raw.consumption_forecasts where market_code = %s and meter_id = %s and delivery_date_local = %s",
                tuple(k),
            )
        execute_values(cur, f"insert into raw.consumption_forecasts ({', '.join(cols)}) values %s", rows)
    return len(rows)


def past_forecasts(conn, market_code: str, meter_id: str, first_day, last_day) -> pd.DataFrame:
    """Stored forecasts of a meter for delivery days first..last (all models)."""
    with conn.cursor() as cur:
        cur.execute(
            """select delivery_date_local, interval_start_utc, model_name, forecast_kwh from raw.consumption_forecasts
               where market_code = %s and meter_id = %s and delivery_date_local between %s and %s""",
            (market_code, meter_id, first_day, last_day),
        )
        return _frame(cur)


def champion_forecasts(conn, market_code: str, day) -> pd.DataFrame:
    """The champion forecast of every meter for ``day``."""
    with conn.cursor() as cur:
        cur.execute(
            """select meter_id, interval_start_utc, forecast_kwh, cutoff_utc from raw.consumption_forecasts
               where market_code = %s and delivery_date_local = %s and is_champion""",
            (market_code, day),
        )
        return _frame(cur)


@dataclass(frozen=True)
class PortfolioBidMeta:
    """What is stored with every MTU row of a joint bid besides its volumes and decision.

    ``schedule_id`` links the bid to the morning schedule it became.
    """

    currency: str
    n_meters: int
    cutoff: datetime
    mtu_minutes: int
    run_id: str | None = None
    schedule_id: str | None = None


def write_portfolio_bid(conn, market_code: str, day, bid: pd.DataFrame, meta: PortfolioBidMeta) -> int:
    """Replace D's joint bid (one row per MTU), stored with ``meta``."""
    m = meta
    volumes = [
        "consumption_mwh",
        "buy_mwh",
        "sell_mwh",
        "position_mwh",
        "charge_mwh",
        "discharge_to_load_mwh",
        "discharge_to_grid_mwh",
        "soc_mwh",
        "price_per_mwh",
    ]
    # plain Python values: psycopg2 does not adapt numpy scalars
    rows = [
        (
            market_code,
            day,
            ts.to_pydatetime(),
            m.mtu_minutes,
            *(float(bid.at[ts, c]) for c in volumes),
            m.currency,
            str(bid.at[ts, "decision"]),
            int(m.n_meters),
            m.cutoff,
            m.run_id,
            m.schedule_id,
        )
        for ts in bid.index
    ]
    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.portfolio_bids where market_code = %s and delivery_date_local = %s", (market_code, day)
        )
        execute_values(
            cur,
            """insert into raw.portfolio_bids (market_code, delivery_date_local, delivery_start_utc, mtu_minutes,
                   consumption_forecast_mwh, buy_mwh, sell_mwh, position_mwh, charge_mwh, discharge_to_load_mwh,
                   discharge_to_grid_mwh, soc_mwh, price_forecast_per_mwh, currency, decision, n_meters, cutoff_utc,
                   run_id, schedule_id) values %s""",
            rows,
        )
    return len(rows)


def clear_portfolio_bid(conn, market_code: str, day) -> None:
    """Delete D's joint bid (the battery was bid alone: no stale joint bid behind D's order set)."""
    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.portfolio_bids where market_code = %s and delivery_date_local = %s", (market_code, day)
        )


def consumption_mw_of_schedule(conn, schedule_id: str) -> list[float]:
    """The forecast consumption per MTU (MW) of the joint bid behind a morning schedule, in MTU order (empty: the
    schedule is not a joint one)."""
    with conn.cursor() as cur:
        cur.execute(
            """select consumption_forecast_mwh * 60.0 / mtu_minutes from raw.portfolio_bids
               where schedule_id = %s order by delivery_start_utc""",
            (schedule_id,),
        )
        return [float(r[0]) for r in cur.fetchall()]


def previous_champion(conn, market_code: str, meter_id: str, day) -> str | None:
    """The champion of the newest trained run of ``meter_id`` for a delivery day before ``day`` (None: none)."""
    with conn.cursor() as cur:
        cur.execute(
            """select champion_model_name from raw.consumption_training_runs
               where market_code = %s and meter_id = %s and delivery_date_local < %s and status = 'trained'
               order by delivery_date_local desc limit 1""",
            (market_code, meter_id, day),
        )
        row = cur.fetchone()
    return row[0] if row else None
