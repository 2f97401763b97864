"""The battery GridDesk bids: power, energy, state-of-charge window, efficiencies and daily limits.

Percentages are of ``energy_mwh`` (the nameplate energy). Efficiencies are one-way: charging ``x`` MW for
``h`` hours stores ``x * h * charge_efficiency`` MWh; discharging ``x`` MW for ``h`` hours draws
``x * h / discharge_efficiency`` MWh from storage. The round trip is their product.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from griddesk.settings import MAX_BATTERY_ENERGY_MWH, MAX_BATTERY_POWER_MW

#: One-way efficiency whose square is the 90 % round trip of the reference battery (REFERENCES.md section 2).
DEFAULT_ONE_WAY_EFFICIENCY = math.sqrt(0.9)


class BatteryConfig(BaseModel):
    """A grid-scale battery as the day-ahead optimiser sees it. Immutable; unknown fields, NaN and infinite values
    are rejected (an infinite power would make every position limit infinite)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    power_mw: float = Field(
        1.0, gt=0, le=MAX_BATTERY_POWER_MW, description="Maximum charge and discharge power at the grid connection, MW."
    )
    energy_mwh: float = Field(
        2.0,
        gt=0,
        le=MAX_BATTERY_ENERGY_MWH,
        description="Nameplate energy capacity, MWh; the base of every *_pct field.",
    )
    soc_min_pct: float = Field(10.0, ge=0, le=100, description="Lowest allowed state of charge, % of energy_mwh.")
    soc_max_pct: float = Field(90.0, ge=0, le=100, description="Highest allowed state of charge, % of energy_mwh.")
    charge_efficiency: float = Field(
        DEFAULT_ONE_WAY_EFFICIENCY,
        gt=0,
        le=1,
        description="Share of energy bought from the grid that ends up stored (one way, 0 < eta <= 1).",
    )
    discharge_efficiency: float = Field(
        DEFAULT_ONE_WAY_EFFICIENCY,
        gt=0,
        le=1,
        description="Share of energy drawn from storage that reaches the grid (one way, 0 < eta <= 1).",
    )
    initial_soc_pct: float = Field(
        50.0, ge=0, le=100, description="State of charge at the start of the delivery day, % of energy_mwh."
    )
    end_soc_pct: float | None = Field(
        None,
        ge=0,
        le=100,
        description="Required state of charge at the end of the delivery day, % of energy_mwh. "
        "None (default): equal to initial_soc_pct, so every day hands the next one the same battery.",
    )
    end_soc_tolerance_pct: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Allowed deviation of the end state of charge from its target, percentage points. 0 (default): "
        "exact. Whole volume ticks can only return exactly to the target when the round trip is a ratio of small "
        "integers (0.9 = 9/10 is); give a small tolerance for other efficiencies or end targets.",
    )
    degradation_cost_per_mwh: float = Field(
        0.0,
        ge=0,
        description="Wear cost per MWh of throughput (energy charged plus energy discharged, at the grid "
        "connection), in the market currency.",
    )
    max_cycles_per_day: float | None = Field(
        None,
        ge=0,
        description="Cap on full cycles per delivery day: energy drawn from storage <= cycles * usable energy "
        "(soc_max - soc_min). None: no cap.",
    )

    @model_validator(mode="after")
    def _soc_window_is_not_empty(self) -> BatteryConfig:
        if self.soc_min_pct >= self.soc_max_pct:
            raise ValueError(
                f"soc_min_pct ({self.soc_min_pct}) must be below soc_max_pct ({self.soc_max_pct}): "
                "the state-of-charge window is empty"
            )
        return self

    @property
    def round_trip_efficiency(self) -> float:
        """Energy sold back per unit bought, charge_efficiency * discharge_efficiency."""
        return self.charge_efficiency * self.discharge_efficiency

    @property
    def end_soc_target_pct(self) -> float:
        """The end-of-day state-of-charge target, % of energy_mwh (initial_soc_pct unless end_soc_pct is set)."""
        return self.initial_soc_pct if self.end_soc_pct is None else self.end_soc_pct

    @property
    def soc_min_mwh(self) -> float:
        return self.soc_min_pct / 100.0 * self.energy_mwh

    @property
    def soc_max_mwh(self) -> float:
        return self.soc_max_pct / 100.0 * self.energy_mwh

    @property
    def initial_soc_mwh(self) -> float:
        return self.initial_soc_pct / 100.0 * self.energy_mwh

    @property
    def end_soc_target_mwh(self) -> float:
        return self.end_soc_target_pct / 100.0 * self.energy_mwh

    @property
    def end_soc_tolerance_mwh(self) -> float:
        return self.end_soc_tolerance_pct / 100.0 * self.energy_mwh

    @property
    def usable_energy_mwh(self) -> float:
        """Energy between soc_min and soc_max, MWh: one full cycle."""
        return self.soc_max_mwh - self.soc_min_mwh
