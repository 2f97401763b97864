"""The raw feed tables as the loader sees them: column order, binary COPY types, and the natural key.

They mirror ``griddesk/warehouse/schema_feeds.sql`` (a test checks both against the catalog). Every row table
starts with ``batch_id`` (the batch that carried the row, see ``raw.feed_batches``); the primary key is
``(batch_id, <natural key>)``, so a batch is appended at the right edge of the index and a reloaded,
changed batch becomes a new version instead of a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Binary COPY kinds the loader can encode (PostgreSQL types in brackets).
KINDS = ("int8", "int4", "int2", "float8", "timestamptz", "date", "text", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of KINDS
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")


@dataclass(frozen=True)
class TableSpec:
    """A raw row table: ``columns`` in COPY order (``batch_id`` first) and its natural ``key``."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def data_columns(self) -> tuple[Column, ...]:
        """Columns the parser fills: all but ``batch_id``."""
        return tuple(c for c in self.columns if c.name != "batch_id")

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


_BATCH = Column("batch_id", "int8")

DYNAMIC_TARIFFS = TableSpec(
    "raw.ckw_dynamic_tariffs",
    (
        _BATCH,
        Column("tariff_name", "text"),
        Column("tariff_type", "text"),
        Column("interval_start_utc", "timestamptz"),
        Column("interval_end_utc", "timestamptz"),
        Column("price_per_kwh", "float8"),
        Column("currency", "text"),
        Column("unit", "text"),
    ),
    key=("tariff_name", "tariff_type", "interval_start_utc"),
)

PLANT_TELEMETRY = TableSpec(
    "raw.ckw_plant_telemetry",
    (
        _BATCH,
        Column("plant_id", "text"),
        Column("measured_at_utc", "timestamptz"),
        Column("operating_status", "text"),
        Column("operating_status_source", "text"),
        Column("active_power_mw", "float8", nullable=True),
        Column("reactive_power_mvar", "float8", nullable=True),
        Column("voltage_kv", "float8", nullable=True),
        Column("current_a", "float8", nullable=True),
        Column("wind_speed_kmh", "float8", nullable=True),
    ),
    key=("plant_id", "measured_at_utc"),
)

TRA_SIGNALS = TableSpec(
    "raw.ckw_tra_signals",
    (
        _BATCH,
        Column("signal_name", "text"),
        Column("description", "text"),
        Column("signal_date_local", "date"),
        Column("switch_on_utc", "timestamptz"),
        Column("switch_off_utc", "timestamptz"),
    ),
    key=("signal_name", "signal_date_local", "switch_on_utc"),
)

WEATHER_OBSERVATIONS = TableSpec(
    "raw.weather_observations",
    (
        _BATCH,
        Column("location_code", "text"),
        Column("valid_time_utc", "timestamptz"),
        Column("temperature_2m_c", "float8", nullable=True),
        Column("wind_speed_10m_m_s", "float8", nullable=True),
        Column("shortwave_radiation_w_m2", "float8", nullable=True),
    ),
    key=("location_code", "valid_time_utc"),
)

WEATHER_FORECASTS = TableSpec(
    "raw.weather_forecasts",
    (
        _BATCH,
        Column("location_code", "text"),
        Column("issued_at_utc", "timestamptz"),
        Column("valid_time_utc", "timestamptz"),
        Column("temperature_2m_c", "float8", nullable=True),
        Column("wind_speed_10m_m_s", "float8", nullable=True),
        Column("shortwave_radiation_w_m2", "float8", nullable=True),
    ),
    key=("location_code", "issued_at_utc", "valid_time_utc"),
)

BATTERY_STATUS = TableSpec(
    "raw.bms_battery_status",
    (
        _BATCH,
        Column("battery_id", "text"),
        Column("measured_at_utc", "timestamptz"),
        Column("soc_pct", "float8", nullable=True),
        Column("active_power_mw", "float8", nullable=True),
        Column("available_charge_power_mw", "float8", nullable=True),
        Column("available_discharge_power_mw", "float8", nullable=True),
        Column("availability", "text"),
    ),
    key=("battery_id", "measured_at_utc"),
)

METER_READINGS = TableSpec(
    "raw.meter_readings",
    (
        _BATCH,
        Column("meter_id", "text"),
        Column("interval_start_utc", "timestamptz"),
        Column("resolution_minutes", "int2"),
        Column("energy_kwh", "float8", nullable=True),
    ),
    key=("meter_id", "interval_start_utc"),
)

ALL_TABLES: tuple[TableSpec, ...] = (
    DYNAMIC_TARIFFS,
    PLANT_TELEMETRY,
    TRA_SIGNALS,
    WEATHER_OBSERVATIONS,
    WEATHER_FORECASTS,
    BATTERY_STATUS,
    METER_READINGS,
)
