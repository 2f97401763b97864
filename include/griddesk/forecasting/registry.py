"""The model registry in the warehouse (``raw.forecast_model_registry``): which models exist per market, with what
settings and training window, how well they scored, and which one is the champion.

A model id is ``<market>/<model name>/<version digest>``, e.g. ``NP/lear_1456/3f2a9c1d``: the same code and
settings on the same market always get the same id, so a backtest stored under it can be reused, and a changed
setting gets a new id (and a new backtest). Forecast rows (``raw.forecast_backtest_forecasts``) reference it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

#: Model families the platform knows.
FAMILIES = ("prophet", "lear", "ensemble", "naive")


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a forecasting model, independent of the market.

    Attributes:
        name: Short name, unique per market, e.g. ``prophet``, ``lear_1456``, ``ensemble``, ``weekly_naive``.
        family: One of :data:`FAMILIES`.
        version: Code and settings version, e.g. ``lear/v1/1a2b3c4d`` (from the model's config).
        hyperparameters: JSON-serialisable settings (stored in the registry).
        training_window_days: Days of history each daily recalibration uses (0: no training, e.g. naive).
        members: Names of the models an ensemble combines (empty otherwise).
    """

    name: str
    family: str
    version: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_window_days: int = 0
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        if not self.name or "/" in self.name:
            raise ValueError(f"model name {self.name!r} must be non-empty and contain no '/'")

    @property
    def digest(self) -> str:
        """8 hex digits over name, version, hyperparameters, window and members."""
        payload = json.dumps(
            {
                "name": self.name,
                "version": self.version,
                "hyperparameters": self.hyperparameters,
                "window": self.training_window_days,
                "members": list(self.members),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:8]

    def model_id(self, market_code: str) -> str:
        """Registry id of this model on ``market_code``."""
        return f"{market_code.upper()}/{self.name}/{self.digest}"


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
    with conn.cursor() as cur:
        cur.execute(sql + " order by market_code, created_at_utc desc, model_id", params)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)
