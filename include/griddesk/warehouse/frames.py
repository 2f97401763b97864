"""Writing pandas frames into warehouse tables: the two writers every capability's store shares.

- ``insert_frame``: one multi-row INSERT, for small frames (forecasts and schedules are tens of rows).
- ``copy_frame``: CSV COPY, for the backtests' thousands of rows (NaN/None as NULL, UTC timestamps).

Both write inside the caller's transaction: the caller's ``with conn:`` decides what commits together.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd


def insert_frame(cur, table: str, frame: pd.DataFrame) -> None:
    """Insert a small frame with one multi-row INSERT."""
    from psycopg2.extras import execute_values

    values = [
        tuple(None if pd.isna(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for v in row)
        for row in frame.itertuples(index=False)
    ]
    execute_values(cur, f"insert into {table} ({', '.join(frame.columns)}) values %s", values)


def copy_frame(cur, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """COPY ``frame[columns]`` into ``table`` (CSV; NaN/None as NULL; floats to 10 significant digits)."""
    buffer = io.StringIO()
    out = frame[list(columns)].copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S+00")
    out.to_csv(buffer, index=False, header=False, na_rep="", float_format="%.10g")
    buffer.seek(0)
    cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin with (format csv, null '')", buffer)
