"""Battery management system (BMS) telemetry: 5-minute state of charge, power, availability.

The simulator derives it from the executions it has cleared (``POST /bms/v1/executions``, see
:meth:`BmsClient.submit_orders`), so the battery's state follows what was actually traded. Units are checked
(``soc`` in %, powers in MW; anything else raises :class:`UnitError`). One batch per battery and UTC day;
absent 5-minute samples are recorded as gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from griddesk.feeds import batch
from griddesk.feeds.errors import PayloadError, UnitError
from griddesk.feeds.http import FeedHttpClient
from griddesk.feeds.tables import BATTERY_STATUS

STATUS_PATH = "v1/batteries/{battery_id}/status"
EXECUTIONS_PATH = "v1/executions"
FEED_BATTERY = "battery_status"
#: Days per status request.
MAX_STATUS_DAYS = 7
AVAILABILITY = ("available", "unavailable")
#: BMS field -> (raw column, the unit it must arrive in).
STATUS_FIELDS: dict[str, tuple[str, str]] = {
    "soc": ("soc_pct", "%"),
    "active_power": ("active_power_mw", "MW"),
    "available_charge_power": ("available_charge_power_mw", "MW"),
    "available_discharge_power": ("available_discharge_power_mw", "MW"),
}
_RECORD_FIELDS = ("timestamp", *STATUS_FIELDS, "availability")


def _status_window(first_day: date, last_day: date) -> dict[str, str]:
    return {
        "start": batch.day_bounds_utc(first_day, UTC)[0].isoformat(),
        "end": batch.day_bounds_utc(last_day, UTC)[1].isoformat(),
    }


@dataclass
class BmsClient:
    """The BMS endpoints over a :class:`FeedHttpClient` (no auth)."""

    http: FeedHttpClient

    def status(self, battery_id: str, first_day: date, last_day: date) -> list[batch.Page]:
        """5-minute status for UTC days first..last, <= 7 days per request (all fetched first)."""
        path = STATUS_PATH.format(battery_id=battery_id)
        return batch.fetch_day_ranges(
            self.http, path, "bms.status", first_day, last_day, MAX_STATUS_DAYS, _status_window
        )

    def submit_orders(self, market_code: str, delivery_date: date, orders: Sequence[dict]) -> dict:
        """Hand a delivery day's orders to the simulated exchange, which clears them against its day-ahead price.

        ``orders`` items: ``delivery_start_utc`` (ISO-8601), ``resolution_minutes``, ``side`` (buy | sell),
        ``volume_mw``, ``limit_price_per_mwh`` (None: price-taker). Replaces earlier orders of the same day.
        Not retried: a POST that timed out may have been applied.
        """
        body = {"market": market_code, "delivery_date": delivery_date.isoformat(), "orders": list(orders)}
        return self.http.post_json(EXECUTIONS_PATH, "bms.executions", body, retry=False).data


def parse_status(payload: object, battery_id: str, where: str = "bms.status") -> tuple[dict[str, np.ndarray], int]:
    """Status records as ``raw.bms_battery_status`` columns, and the sample interval in minutes.

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected.
        UnitError: a unit other than the column's.
        PayloadError: another battery, an unknown availability, unreadable times or values.
    """
    batch.check_fields(payload, ("battery_id", "interval_minutes", "units", "records"), where)
    if payload["battery_id"] != battery_id:
        raise PayloadError(f"{where}: answer is for battery {payload['battery_id']!r}, not {battery_id!r}")
    batch.check_fields(payload["units"], tuple(STATUS_FIELDS), f"{where}.units")
    for name, (column, unit) in STATUS_FIELDS.items():
        if payload["units"][name] != unit:
            raise UnitError(f"{where}: {name} arrives in {payload['units'][name]!r}, {column} stores {unit!r}")
    records = payload["records"]
    if not isinstance(records, list):
        raise PayloadError(f"{where}: 'records' must be a list")
    for i, record in enumerate(records):
        batch.check_fields(record, _RECORD_FIELDS, f"{where}.records[{i}]")
    availability = np.array([r["availability"] for r in records], dtype=object)
    bad = sorted(set(availability.tolist()) - set(AVAILABILITY))
    if bad:
        raise PayloadError(f"{where}: unknown availability {bad[0]!r} (known: {', '.join(AVAILABILITY)})")
    cols = {
        "battery_id": np.full(len(records), battery_id, dtype=object),
        "measured_at_utc": batch.parse_times([r["timestamp"] for r in records], f"{where}.timestamp"),
    }
    for name, (column, _) in STATUS_FIELDS.items():
        cols[column] = batch.parse_floats([r[name] for r in records], f"{where}.{name}")
    cols["availability"] = availability
    return cols, int(payload["interval_minutes"])


def battery_batches(
    pages: Iterable[batch.Page], battery_id: str, first_day: date, last_day: date, extracted_at: datetime
) -> list[batch.FeedBatch]:
    """One batch per UTC day with samples; absent 5-minute samples recorded as gaps."""
    pages = list(pages)
    parsed = [parse_status(p.payload, battery_id, f"bms.status[{p.params.get('start')}]") for p in pages]
    if not parsed or not sum(len(c["measured_at_utc"]) for c, _ in parsed):
        return []
    step = np.timedelta64(parsed[0][1], "m")

    def describe(day: date, cols: dict[str, np.ndarray], start: datetime, end: datetime) -> dict:
        gaps = batch.absent_gaps(
            cols["measured_at_utc"], batch.regular_grid(batch.utc64(start), batch.utc64(end), step), step, battery_id
        )
        return {"source_url": batch.page_for(pages, start, "start", "end").source_url, "gaps": gaps}

    source = batch.BatchSource(FEED_BATTERY, battery_id, BATTERY_STATUS, extracted_at)
    columns = batch.concat_columns([c for c, _ in parsed])
    return batch.daily_batches(source, columns, "measured_at_utc", UTC, (first_day, last_day), describe)
