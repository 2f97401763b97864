"""Model identity for the registry in the warehouse (``raw.forecast_model_registry``, read and written by
:mod:`griddesk.forecasting.store`): which models exist per market, with what settings and training window, how well
they scored, and which one is the champion.

A model id is ``<market>/<model name>/<version digest>``, e.g. ``NP/lear_1456/3f2a9c1d``: the same code and
settings on the same market always get the same id, so a backtest stored under it can be reused, and a changed
setting gets a new id (and a new backtest). Forecast rows (``raw.forecast_backtest_forecasts``) reference it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

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
