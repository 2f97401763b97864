"""Every read and write of forecasting's raw tables: the model registry, the stored backtests, the champion
decisions and the production forecasts (``raw.forecast_*`` of ``warehouse/schema_forecasting.sql``, and
``raw.price_forecasts``). Other modules and packages call these functions; they hold no SQL of these tables.

Writes go inside the caller's transaction unless a function says it commits (the backtest's cache writes commit
per chunk, so an interrupted run keeps what it did).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from griddesk.forecasting.registry import ModelSpec
from griddesk.markets import Market
from griddesk.warehouse.frames import copy_frame, insert_frame

if TYPE_CHECKING:
    from griddesk.forecasting.adapters import DayForecast


def _read_frame(conn, sql: str, params: tuple | dict) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


# --------------------------------------------------------------------------------------------------------------------
# raw.forecast_model_registry
# --------------------------------------------------------------------------------------------------------------------


def register_model(conn, market_code: str, spec: ModelSpec) -> str:
    """Insert the model into the registry if absent (idempotent); returns its id."""
    model_id = spec.model_id(market_code)
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.forecast_model_registry
                   (model_id, market_code, model_name, model_family, model_version, hyperparameters,
                    training_window_days, member_model_names)
               values (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)
               on conflict (model_id) do nothing""",
            (
                model_id,
                market_code.upper(),
                spec.name,
                spec.family,
                spec.version,
                json.dumps(spec.hyperparameters, sort_keys=True, default=str),
                spec.training_window_days,
                list(spec.members),
            ),
        )
    return model_id


def update_metrics(conn, model_id: str, metrics: dict[str, Any], test_start: date, test_end: date) -> None:
    """Store the latest backtest metrics of a model (JSON) and the test period they cover.

    Raises:
        LookupError: The model is not registered.
    """
    with conn.cursor() as cur:
        cur.execute(
            """update raw.forecast_model_registry
               set metrics = %s::jsonb, metrics_test_start = %s, metrics_test_end = %s, updated_at_utc = now()
               where model_id = %s""",
            (json.dumps(metrics, sort_keys=True, default=float), test_start, test_end, model_id),
        )
        if cur.rowcount != 1:
            raise LookupError(f"model {model_id} is not in raw.forecast_model_registry")


def set_champion(conn, market_code: str, model_id: str) -> None:
    """Make ``model_id`` the one champion of ``market_code`` (clears the flag on every other model).

    Raises:
        LookupError: ``model_id`` is not a registered model of that market.
    """
    with conn.cursor() as cur:
        cur.execute(
            "select 1 from raw.forecast_model_registry where model_id = %s and market_code = %s",
            (model_id, market_code.upper()),
        )
        if cur.fetchone() is None:
            raise LookupError(f"model {model_id} is not a registered model of market {market_code}")
        # Two statements: PostgreSQL checks the one-champion index row by row, so clear first, then set.
        cur.execute(
            """update raw.forecast_model_registry set is_champion = false, updated_at_utc = now()
               where market_code = %s and is_champion and model_id <> %s""",
            (market_code.upper(), model_id),
        )
        cur.execute(
            """update raw.forecast_model_registry set is_champion = true, updated_at_utc = now()
               where model_id = %s and not is_champion""",
            (model_id,),
        )


def get_champion(conn, market_code: str) -> str | None:
    """The champion model id of ``market_code``, or None if none is flagged."""
    with conn.cursor() as cur:
        cur.execute(
            "select model_id from raw.forecast_model_registry where market_code = %s and is_champion",
            (market_code.upper(),),
        )
        row = cur.fetchone()
    return row[0] if row else None


def list_models(conn, market_code: str | None = None) -> pd.DataFrame:
    """Registry rows (all markets, or one), newest first."""
    sql = "select * from raw.forecast_model_registry"
    params: tuple = ()
    if market_code:
        sql += " where market_code = %s"
        params = (market_code.upper(),)
    return _read_frame(conn, sql + " order by market_code, created_at_utc desc, model_id", params)


def registered_model_name(conn, model_id: str) -> str | None:
    """The registry's model name of ``model_id``, or None when it is not registered."""
    with conn.cursor() as cur:
        cur.execute("select model_name from raw.forecast_model_registry where model_id = %s", (model_id,))
        row = cur.fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------------------------------------
# raw.forecast_backtest_forecasts / _days (the backtest's cache)
# --------------------------------------------------------------------------------------------------------------------

#: The hourly forecast values a stored row carries, backtest cache and production forecasts alike.
_FORECAST_VALUE_COLUMNS = (
    "market_code",
    "delivery_date_local",
    "delivery_start_utc",
    "resolution_minutes",
    "forecast_price_per_mwh",
    "lower_price_per_mwh",
    "upper_price_per_mwh",
    "interval_width_pct",
)
_FORECAST_COLUMNS_SQL = ("model_id", *_FORECAST_VALUE_COLUMNS, "interval_method", "currency", "cutoff_utc")
_DAY_COLUMNS_SQL = (
    "model_id",
    "market_code",
    "delivery_date_local",
    "cutoff_utc",
    "training_start_utc",
    "training_end_utc",
    "n_training_rows",
    "compute_seconds",
    "is_warm_start",
)


def store_day_forecasts(
    conn, model_id: str, market: Market, results: Sequence[tuple[date, DayForecast]], interval_width: float
) -> None:
    """Replace the stored forecasts and day records of ``model_id`` for these days (one transaction)."""
    if not results:
        return
    days = [d for d, _ in results]
    rows, day_rows = [], []
    for day, result in results:
        frame = result.forecast.copy()
        own = frame["lower_price_per_mwh"].notna().all()
        frame["delivery_date_local"] = day
        frame["interval_method"] = "model" if own else None
        rows.append(frame)
        day_rows.append(
            {
                "delivery_date_local": day,
                "cutoff_utc": pd.Timestamp(market.gate_closure_utc(day)),
                "training_start_utc": pd.Timestamp(result.training_start_utc) if result.training_start_utc else None,
                "training_end_utc": pd.Timestamp(result.training_end_utc) if result.training_end_utc else None,
                "n_training_rows": result.n_training_rows,
                "compute_seconds": result.compute_seconds,
                "is_warm_start": result.is_warm_start,
            }
        )
    frame = pd.concat(rows, ignore_index=True)
    starts = pd.DatetimeIndex(frame["delivery_start_utc"])
    steps = pd.Series(starts).groupby(frame["delivery_date_local"].to_numpy()).diff().dropna()
    mtu = int(steps.min().total_seconds() // 60) if len(steps) else 60
    cutoffs = {d: pd.Timestamp(market.gate_closure_utc(d)) for d in days}
    frame = frame.assign(
        model_id=model_id,
        market_code=market.code,
        resolution_minutes=mtu,
        interval_width_pct=round(interval_width * 100),
        currency=market.currency,
        cutoff_utc=frame["delivery_date_local"].map(cutoffs),
    )
    frame["cutoff_utc"] = pd.to_datetime(frame["cutoff_utc"], utc=True)
    frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
    day_frame = pd.DataFrame(day_rows).assign(model_id=model_id, market_code=market.code)
    for col in ("cutoff_utc", "training_start_utc", "training_end_utc"):
        day_frame[col] = pd.to_datetime(day_frame[col], utc=True)
    day_frame["n_training_rows"] = day_frame["n_training_rows"].astype("Int64")
    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.forecast_backtest_forecasts where model_id = %s and delivery_date_local = any(%s)",
            (model_id, days),
        )
        cur.execute(
            "delete from raw.forecast_backtest_days where model_id = %s and delivery_date_local = any(%s)",
            (model_id, days),
        )
        copy_frame(cur, "raw.forecast_backtest_forecasts", frame, _FORECAST_COLUMNS_SQL)
        copy_frame(cur, "raw.forecast_backtest_days", day_frame, _DAY_COLUMNS_SQL)
    conn.commit()


def stored_days(conn, model_id: str, days: Sequence[date]) -> set[date]:
    """The days among ``days`` for which ``model_id`` has a stored forecast."""
    with conn.cursor() as cur:
        cur.execute(
            """select delivery_date_local from raw.forecast_backtest_days
               where model_id = %s and delivery_date_local = any(%s)""",
            (model_id, list(days)),
        )
        return {r[0] for r in cur.fetchall()}


def load_forecasts(conn, model_ids: Sequence[str], first_day: date, last_day: date) -> pd.DataFrame:
    """Stored backtest forecasts of ``model_ids`` for local days first..last (inclusive)."""
    df = _read_frame(
        conn,
        """select model_id, delivery_date_local, delivery_start_utc, forecast_price_per_mwh, lower_price_per_mwh,
                  upper_price_per_mwh, interval_method, resolution_minutes
           from raw.forecast_backtest_forecasts
           where model_id = any(%s) and delivery_date_local between %s and %s
           order by model_id, delivery_start_utc""",
        (list(model_ids), first_day, last_day),
    )
    df["delivery_start_utc"] = pd.to_datetime(df["delivery_start_utc"], utc=True)
    return df


def compute_seconds_by_model(conn, model_ids: Sequence[str], first_day: date, last_day: date) -> dict[str, float]:
    """Summed per-day compute seconds of each model's stored days in first..last (its one-off cost)."""
    with conn.cursor() as cur:
        cur.execute(
            """select model_id, sum(compute_seconds) from raw.forecast_backtest_days
               where model_id = any(%s) and delivery_date_local between %s and %s group by model_id""",
            (list(model_ids), first_day, last_day),
        )
        return {r[0]: float(r[1]) for r in cur.fetchall()}


def days_without_interval(conn, model_id: str, days: Sequence[date]) -> list[date]:
    """The days among ``days`` whose stored forecasts of ``model_id`` have no interval yet, ascending."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct delivery_date_local from raw.forecast_backtest_forecasts
               where model_id = %s and delivery_date_local = any(%s) and lower_price_per_mwh is null""",
            (model_id, list(days)),
        )
        return sorted(r[0] for r in cur.fetchall())


def update_intervals(conn, model_id: str, intervals: pd.DataFrame, method: str = "empirical") -> None:
    """Write interval bounds into stored forecast rows of ``model_id`` (via a temp table, one statement)."""
    if intervals.empty:
        return
    with conn.cursor() as cur:
        cur.execute(
            """create temp table if not exists _gd_intervals (
                   delivery_start_utc timestamptz, lower_price_per_mwh double precision,
                   upper_price_per_mwh double precision) on commit drop"""
        )
        frame = intervals.copy()
        frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
        copy_frame(cur, "_gd_intervals", frame, ("delivery_start_utc", "lower_price_per_mwh", "upper_price_per_mwh"))
        cur.execute(
            """update raw.forecast_backtest_forecasts f
               set lower_price_per_mwh = i.lower_price_per_mwh, upper_price_per_mwh = i.upper_price_per_mwh,
                   interval_method = case when i.lower_price_per_mwh is null then null else %s end
               from _gd_intervals i
               where f.model_id = %s and f.delivery_start_utc = i.delivery_start_utc""",
            (method, model_id),
        )
    conn.commit()


# --------------------------------------------------------------------------------------------------------------------
# raw.forecast_backtest_runs
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class BacktestRun:
    """What :func:`griddesk.forecasting.backtest.run_backtest` did for one market (a ``raw.forecast_backtest_runs``
    row)."""

    run_id: str
    market_code: str
    test_days: list[date]
    warmup_days: list[date]
    model_ids: dict[str, str]  # model name -> registry id
    computed_model_days: int
    reused_model_days: int
    phase_wall_seconds: dict[str, float]
    compute_seconds_by_model: dict[str, float]
    wall_seconds: float

    @property
    def all_days(self) -> list[date]:
        return [*self.warmup_days, *self.test_days]


def record_backtest_run(
    conn, run: BacktestRun, is_full_test_period: bool, seconds_by_id: dict[str, float], started_at: datetime
) -> None:
    """Insert the run's row; ``seconds_by_id`` is the per-model compute time keyed by registry id."""
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.forecast_backtest_runs
                   (run_id, market_code, test_start, test_end, n_test_days, warmup_days, is_full_test_period,
                    model_ids, computed_model_days, reused_model_days, compute_seconds_by_model, wall_seconds,
                    started_at_utc, finished_at_utc)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, now())""",
            (
                run.run_id,
                run.market_code,
                run.test_days[0],
                run.test_days[-1],
                len(run.test_days),
                len(run.warmup_days),
                is_full_test_period,
                list(run.model_ids.values()),
                run.computed_model_days,
                run.reused_model_days,
                json.dumps({**seconds_by_id, "phase_wall_seconds": run.phase_wall_seconds}),
                run.wall_seconds,
                started_at,
            ),
        )


def load_backtest_run(conn, run_id: str) -> BacktestRun:
    """A stored backtest run (``raw.forecast_backtest_runs``), to rescore it without recomputing.

    Raises:
        LookupError: No such run.
    """
    with conn.cursor() as cur:
        cur.execute(
            """select market_code, test_start, test_end, warmup_days, model_ids, computed_model_days,
                      reused_model_days, compute_seconds_by_model, wall_seconds
               from raw.forecast_backtest_runs where run_id = %s""",
            (run_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"no backtest run {run_id}")
        code, start, end, warmup, ids, computed, reused, seconds, wall = row
        cur.execute("select model_id, model_name from raw.forecast_model_registry where model_id = any(%s)", (ids,))
        names = dict(cur.fetchall())
    test_days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
    phases = seconds.pop("phase_wall_seconds", {})
    return BacktestRun(
        run_id=run_id,
        market_code=code,
        test_days=test_days,
        warmup_days=[start - timedelta(days=k) for k in range(warmup, 0, -1)],
        model_ids={names[i]: i for i in ids},
        computed_model_days=computed,
        reused_model_days=reused,
        phase_wall_seconds=phases,
        compute_seconds_by_model={names[i]: seconds.get(i, 0.0) for i in ids},
        wall_seconds=float(wall or 0.0),
    )


def latest_run_id(conn, market_code: str) -> str | None:
    """The market's latest stored backtest run (latest test end, then most test days, then newest), or None."""
    with conn.cursor() as cur:
        cur.execute(
            "select run_id from raw.forecast_backtest_runs where market_code = %s order by test_end desc, "
            "n_test_days desc, started_at_utc desc limit 1",
            (market_code,),
        )
        row = cur.fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------------------------------------
# raw.forecast_champion_decisions
# --------------------------------------------------------------------------------------------------------------------


def replace_champion_decisions(conn, market_code: str, days: Sequence[date], rows: Sequence[tuple]) -> None:
    """Replace the stored decisions of ``days`` with ``rows`` (in the column order of the insert below)."""
    from psycopg2.extras import execute_values

    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.forecast_champion_decisions where market_code = %s and delivery_date_local = any(%s)",
            (market_code, list(days)),
        )
        execute_values(
            cur,
            """insert into raw.forecast_champion_decisions
                   (market_code, delivery_date_local, champion_model_id, incumbent_model_id, best_challenger_model_id,
                    incumbent_rolling_mae, best_challenger_rolling_mae, incumbent_rolling_regret,
                    best_challenger_rolling_regret, champion_metric, rolling_window_days, margin_pct, is_switch,
                    reason, run_id)
               values %s""",
            rows,
        )


def champion_lookup(conn, market_code: str, delivery_date: date) -> tuple[str | None, str]:
    """The champion id for D and its source: the latest decision on or before D, else the registry flag."""
    with conn.cursor() as cur:
        cur.execute(
            """select champion_model_id from raw.forecast_champion_decisions
               where market_code = %s and delivery_date_local <= %s
               order by delivery_date_local desc limit 1""",
            (market_code, delivery_date),
        )
        row = cur.fetchone()
        if row:
            return row[0], "decision"
        cur.execute(
            "select model_id from raw.forecast_model_registry where market_code = %s and is_champion", (market_code,)
        )
        row = cur.fetchone()
    return (row[0], "registry") if row else (None, "fallback")


#: Per day the champion's stored backtest forecast: the model ``raw.forecast_champion_decisions`` names for the day
#: and, before the first decision (the forecasting benchmark's warm-up days), the champion that decision took over
#: from (the production model). Parameters: the market code, twice.
CHAMPION_FORECASTS_SQL = """
    select f.delivery_date_local, f.delivery_start_utc, f.forecast_price_per_mwh, f.model_id
    from raw.forecast_champion_decisions d
    join raw.forecast_backtest_forecasts f
      on f.model_id = d.champion_model_id and f.delivery_date_local = d.delivery_date_local
    where d.market_code = %s
    union all
    select f.delivery_date_local, f.delivery_start_utc, f.forecast_price_per_mwh, f.model_id
    from (select incumbent_model_id, delivery_date_local from raw.forecast_champion_decisions
          where market_code = %s order by delivery_date_local limit 1) first_decision
    join raw.forecast_backtest_forecasts f
      on f.model_id = first_decision.incumbent_model_id
     and f.delivery_date_local < first_decision.delivery_date_local"""


def stored_backtest_forecasts(conn, market_code: str, model: str = "champion") -> list[tuple]:
    """Rows ``(delivery_date_local, delivery_start_utc, forecast_price_per_mwh, model_id)`` of the stored backtest
    forecasts of ``model`` on the market, in MTU order: ``"champion"`` is per day the champion decided for it (see
    :data:`CHAMPION_FORECASTS_SQL`), any other value a registry model name."""
    with conn.cursor() as cur:
        if model == "champion":
            cur.execute(f"select * from ({CHAMPION_FORECASTS_SQL}) c order by delivery_start_utc", (market_code,) * 2)
        else:
            cur.execute(
                """select f.delivery_date_local, f.delivery_start_utc, f.forecast_price_per_mwh, f.model_id
                   from raw.forecast_backtest_forecasts f
                   join raw.forecast_model_registry r on r.model_id = f.model_id
                   where r.market_code = %s and r.model_name = %s order by f.delivery_start_utc""",
                (market_code, model),
            )
        return cur.fetchall()


def champion_forecast_day_count(conn, market_code: str, days: Sequence[date]) -> int:
    """How many of ``days`` have a stored champion forecast (:data:`CHAMPION_FORECASTS_SQL`)."""
    with conn.cursor() as cur:
        cur.execute(
            f"""select count(distinct delivery_date_local) from ({CHAMPION_FORECASTS_SQL}) c
                where delivery_date_local = any(%s)""",
            (market_code, market_code, list(days)),
        )
        return cur.fetchone()[0]


# --------------------------------------------------------------------------------------------------------------------
# raw.price_forecasts (production forecasts)
# --------------------------------------------------------------------------------------------------------------------

#: Columns of a production forecast row, in insert order.
PRICE_FORECAST_COLUMNS = [
    "forecast_run_id",
    *_FORECAST_VALUE_COLUMNS,
    "currency",
    "model_family",
    "model_version",
    "model_id",
    "training_start_utc",
    "training_end_utc",
    "cutoff_utc",
]


def replace_price_forecast(conn, market_code: str, delivery_date: date, model_version: str, rows: pd.DataFrame):
    """Replace D's production forecast of this model version with ``rows`` (:data:`PRICE_FORECAST_COLUMNS`): a
    rerun leaves one identical set of rows."""
    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.price_forecasts where market_code=%s and delivery_date_local=%s and model_version=%s",
            (market_code, delivery_date, model_version),
        )
        insert_frame(cur, "raw.price_forecasts", rows[PRICE_FORECAST_COLUMNS])


def latest_forecast(conn, market_code: str, delivery_date: date, cutoff) -> pd.DataFrame:
    """The newest forecast run for (market, D) whose cut-off is not after ``cutoff``, in MTU order."""
    return _read_frame(
        conn,
        """select * from raw.price_forecasts
           where market_code=%s and delivery_date_local=%s and cutoff_utc <= %s
             and forecast_run_id = (
                 select forecast_run_id from raw.price_forecasts
                 where market_code=%s and delivery_date_local=%s and cutoff_utc <= %s
                 order by created_at_utc desc limit 1)
           order by delivery_start_utc""",
        (market_code, delivery_date, cutoff) * 2,
    )


def newest_production_forecasts(conn, market_code: str, first: date, before: date, cutoff) -> list[tuple]:
    """``(delivery_start_utc, forecast_price_per_mwh)`` of the production forecasts of days first..before
    (exclusive) made by ``cutoff``: the newest per MTU, in MTU order."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct on (delivery_start_utc) delivery_start_utc, forecast_price_per_mwh
               from raw.price_forecasts
               where market_code = %s and delivery_date_local >= %s and delivery_date_local < %s
                 and cutoff_utc <= %s
               order by delivery_start_utc, created_at_utc desc""",
            (market_code, first, before, cutoff),
        )
        return cur.fetchall()


def past_model_forecasts(conn, model_id: str, first: date, last: date, cutoff: datetime) -> list[tuple]:
    """``(delivery_date_local, delivery_start_utc, forecast_price_per_mwh, preference)`` of ``model_id``'s forecasts
    of days first..last: its production rows made by ``cutoff`` (preference 0) and its backtest (preference 1)."""
    with conn.cursor() as cur:
        cur.execute(
            """select delivery_date_local, delivery_start_utc, forecast_price_per_mwh, 0 as preference
               from raw.price_forecasts
               where model_id = %(id)s and delivery_date_local between %(first)s and %(last)s
                 and cutoff_utc <= %(cutoff)s
               union all
               select delivery_date_local, delivery_start_utc, forecast_price_per_mwh, 1
               from raw.forecast_backtest_forecasts
               where model_id = %(id)s and delivery_date_local between %(first)s and %(last)s""",
            {"id": model_id, "first": first, "last": last, "cutoff": cutoff},
        )
        return cur.fetchall()
