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


def _measured(*names: str) -> tuple[Column, ...]:
    """Measured values: nullable float8 (a missing value is stored as null and recorded as a gap)."""
    return tuple(Column(name, "float8", nullable=True) for name in names)


def _table(name: str, key: tuple[str, ...], *columns: Column) -> TableSpec:
    """A raw row table: ``batch_id``, then ``columns``."""
    return TableSpec(name, (_BATCH, *columns), key=key)


DYNAMIC_TARIFFS = _table(
    "raw.ckw_dynamic_tariffs",
    ("tariff_name", "tariff_type", "interval_start_utc"),
    Column("tariff_name", "text"),
    Column("tariff_type", "text"),
    Column("interval_start_utc", "timestamptz"),
    Column("interval_end_utc", "timestamptz"),
    Column("price_per_kwh", "float8"),
    Column("currency", "text"),
    Column("unit", "text"),
)

PLANT_TELEMETRY = _table(
    "raw.ckw_plant_telemetry",
    ("plant_id", "measured_at_utc"),
    Column("plant_id", "text"),
    Column("measured_at_utc", "timestamptz"),
    Column("operating_status", "text"),
    Column("operating_status_source", "text"),
    *_measured("active_power_mw", "reactive_power_mvar", "voltage_kv", "current_a", "wind_speed_kmh"),
)

TRA_SIGNALS = _table(
    "raw.ckw_tra_signals",
    ("signal_name", "signal_date_local", "switch_on_utc"),
    Column("signal_name", "text"),
    Column("description", "text"),
    Column("signal_date_local", "date"),
    Column("switch_on_utc", "timestamptz"),
    Column("switch_off_utc", "timestamptz"),
)

#: The hourly weather variables, observed and forecast alike.
_WEATHER_VALUES = _measured("temperature_2m_c", "wind_speed_10m_m_s", "shortwave_radiation_w_m2")

WEATHER_OBSERVATIONS = _table(
    "raw.weather_observations",
    ("location_code", "valid_time_utc"),
    Column("location_code", "text"),
    Column("valid_time_utc", "timestamptz"),
    *_WEATHER_VALUES,
)

WEATHER_FORECASTS = _table(
    "raw.weather_forecasts",
    ("location_code", "issued_at_utc", "valid_time_utc"),
    Column("location_code", "text"),
    Column("issued_at_utc", "timestamptz"),
    Column("valid_time_utc", "timestamptz"),
    *_WEATHER_VALUES,
)

BATTERY_STATUS = _table(
    "raw.bms_battery_status",
    ("battery_id", "measured_at_utc"),
    Column("battery_id", "text"),
    Column("measured_at_utc", "timestamptz"),
    *_measured("soc_pct", "active_power_mw", "available_charge_power_mw", "available_discharge_power_mw"),
    Column("availability", "text"),
)

METER_READINGS = _table(
    "raw.meter_readings",
    ("meter_id", "interval_start_utc"),
    Column("meter_id", "text"),
    Column("interval_start_utc", "timestamptz"),
    Column("resolution_minutes", "int2"),
    *_measured("energy_kwh"),
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
