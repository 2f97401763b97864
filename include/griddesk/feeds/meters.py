"""Hourly meter consumption for a portfolio of meters (the 20 Cambridge University buildings).

The answer is columnar per meter: ``{"unit": "kWh", "resolution_minutes": 60, "meters": [{"meter_id",
"timestamps", "energy_kwh"}]}``. In this data a reading of exactly 0 marks a missing reading (the dataset
authors replaced missing and invalid readings with 0): raw keeps the 0 as published, the gap is recorded
(reason ``zero_reading``), and staging turns it into a null. Intervals absent from the answer are gaps too
(reason ``absent``). One batch per local (Europe/London) day with all meters; a day no meter has any
reading for is not published yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from griddesk.feeds.batch import (
    BatchSource,
    FeedBatch,
    Page,
    check_fields,
    concat_columns,
    daily_batches,
    day_bounds_utc,
    fetch_day_ranges,
    page_for,
    parse_floats,
    parse_times,
    regular_grid,
    require_step,
    series_absent_gaps,
    series_flagged_gaps,
    utc64,
)
from griddesk.feeds.errors import PayloadError, UnitError
from griddesk.feeds.http import FeedHttpClient
from griddesk.feeds.reference import METER_TZ
from griddesk.feeds.tables import METER_READINGS

#: Readings of local (Europe/London) day D are published at this local time on D+1 (the meter data service
#: delivers the previous day); the simulator serves by this rule and the consumption run reads by it.
PUBLICATION_LOCAL = time(6, 0)


def published_until_utc(now: datetime) -> pd.Timestamp:
    """End (exclusive, UTC) of the readings published by ``now``: whole local days up to the last 06:00."""
    local = now.astimezone(METER_TZ)
    day = local.date() if local.time() >= PUBLICATION_LOCAL else local.date() - timedelta(days=1)
    return pd.Timestamp(datetime.combine(day, time(0), tzinfo=METER_TZ)).tz_convert("UTC")


METERS_PATH = "v1/meters"
CONSUMPTION_PATH = "v1/consumption"
FEED_METERS = "meter_readings"
PORTFOLIO = "portfolio"
#: Local days per consumption request.
MAX_CONSUMPTION_DAYS = 31
_METER_FIELDS = ("meter_id", "site_name", "timezone", "unit", "resolution_minutes")


@dataclass
class MeterClient:
    """The meter API over a :class:`FeedHttpClient` (no auth)."""

    http: FeedHttpClient

    def meters(self) -> Page:
        """The portfolio: one entry per meter."""
        resp = self.http.get_json(METERS_PATH, "meters.list")
        return Page({}, resp.data, resp.url_path)

    def consumption(self, first_day: date, last_day: date) -> list[Page]:
        """Readings of every meter for local (Europe/London) days first..last, <= 31 days per request."""
        return fetch_day_ranges(
            self.http, CONSUMPTION_PATH, "meters.consumption", first_day, last_day, MAX_CONSUMPTION_DAYS, _local_window
        )


def _local_window(first_day: date, last_day: date) -> dict[str, str]:
    """From the start of local day ``first_day`` to the end of local day ``last_day`` (UTC instants)."""
    start = day_bounds_utc(first_day, METER_TZ)[0]
    end = day_bounds_utc(last_day, METER_TZ)[1]
    return {"start": start.isoformat(), "end": end.isoformat()}


def parse_meter_list(payload: object) -> list[dict]:
    """The meters of the portfolio, for ``raw.meters``.

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected.
    """
    check_fields(payload, ("meters",), "meters")
    if not isinstance(payload["meters"], list):
        raise PayloadError("meters: 'meters' must be a list")
    for i, m in enumerate(payload["meters"]):
        check_fields(m, _METER_FIELDS, f"meters[{i}]")
    return [dict(m) for m in payload["meters"]]


def parse_consumption(payload: object, where: str = "consumption") -> dict[str, np.ndarray]:
    """A consumption answer as ``raw.meter_readings`` columns, verbatim (zeros stay zeros).

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected.
        UnitError: a unit other than kWh.
        PayloadError: arrays of different lengths, unreadable times or values.
    """
    check_fields(payload, ("unit", "resolution_minutes", "meters"), where)
    if payload["unit"] != "kWh":
        raise UnitError(f"{where}: energy arrives in {payload['unit']!r}, energy_kwh stores kWh; refusing to convert")
    resolution = payload["resolution_minutes"]
    if not isinstance(resolution, int) or resolution <= 0:
        raise PayloadError(f"{where}: resolution_minutes={resolution!r} is not a positive integer")
    ids, times, values = [], [], []
    for i, meter in enumerate(payload["meters"]):
        check_fields(meter, ("meter_id", "timestamps", "energy_kwh"), f"{where}.meters[{i}]")
        ts, vs = meter["timestamps"], meter["energy_kwh"]
        if not isinstance(ts, list) or not isinstance(vs, list) or len(ts) != len(vs):
            raise PayloadError(f"{where}.meters[{i}] ({meter['meter_id']}): timestamps and energy_kwh differ in length")
        ids.append(np.full(len(ts), str(meter["meter_id"]), dtype=object))
        times.append(ts)
        values.append(vs)
    flat_times = [t for chunk in times for t in chunk]
    flat_values = [v for chunk in values for v in chunk]
    n = len(flat_times)
    return {
        "meter_id": np.concatenate(ids) if ids else np.array([], dtype=object),
        "interval_start_utc": parse_times(flat_times, f"{where}.timestamps") if n else np.array([], "datetime64[us]"),
        "resolution_minutes": np.full(n, resolution, dtype=np.int64),
        "energy_kwh": parse_floats(flat_values, f"{where}.energy_kwh"),
    }


def meter_batches(
    pages: Iterable[Page], meter_ids: Iterable[str], first_day: date, last_day: date, extracted_at: datetime
) -> list[FeedBatch]:
    """One batch per local day any meter reported; per meter, absent hours and zero readings become gaps."""
    pages = list(pages)
    parts = [parse_consumption(p.payload, f"consumption[{p.params.get('start')}]") for p in pages]
    if not parts:
        return []
    columns = concat_columns(parts)
    if len(columns["meter_id"]) == 0:
        return []
    resolutions = np.unique(columns["resolution_minutes"])
    if len(resolutions) != 1:
        raise PayloadError(f"consumption: mixed resolutions {resolutions.tolist()}")
    step = np.timedelta64(int(resolutions[0]), "m")
    meter_ids = sorted(set(meter_ids) | set(np.unique(columns["meter_id"]).tolist()))

    def describe(day: date, cols: dict[str, np.ndarray], start: datetime, end: datetime) -> dict:
        expected = regular_grid(utc64(start), utc64(end), step)
        require_step(cols["interval_start_utc"], utc64(start), step, f"consumption {day}")
        energy = cols["energy_kwh"]
        gaps = series_absent_gaps(cols["meter_id"], cols["interval_start_utc"], expected, step, meter_ids)
        gaps += series_flagged_gaps(cols["meter_id"], cols["interval_start_utc"], energy == 0.0, step, "zero_reading")
        gaps += series_flagged_gaps(cols["meter_id"], cols["interval_start_utc"], np.isnan(energy), step, "null_value")
        return {"source_url": page_for(pages, start, "start", "end").source_url, "gaps": gaps}

    source = BatchSource(FEED_METERS, PORTFOLIO, METER_READINGS, extracted_at)
    return daily_batches(source, columns, "interval_start_utc", METER_TZ, (first_day, last_day), describe)
