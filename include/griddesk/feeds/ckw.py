"""CKW public-data API (``e-ckw-public-data`` 1.0.23): dynamic tariffs, plant live telemetry, TRA signals.

The client knows HTTP, OAuth2 and paging (see :class:`CkwClient`); the ``parse_*`` functions turn one payload into
columns, checking every field name (schema drift raises :class:`SchemaDriftError` naming the field); the
``*_batches`` functions dedupe, find gaps and cut the result into the batches the loader stores.

- Dynamic prices: quarter-hours, four tariff types per interval, each ``[{"unit": "CHF_kWh", "value": ...}]``.
  Values stay in the published unit: the currency comes from the unit, nothing is converted. At most 30 days
  per request, so longer windows are paged by local (Europe/Zurich) days. One batch per tariff name and local day;
  a day the API does not return at all is not published yet (skipped), a day with holes is loaded with its
  missing quarter-hours recorded as gaps.
- Plant live: German field names and string values become English columns with units in their names
  (``wirkleistung`` -> ``active_power_mw``); ``einheiten`` must name the unit each column stores.
- TRA signals: switching windows per date, published up to the previous day; ``last`` gives the newest date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from griddesk.feeds.batch import (
    BatchSource,
    FeedBatch,
    Page,
    absent_gaps,
    check_fields,
    concat_columns,
    daily_batches,
    day_bounds_utc,
    page_for,
    parse_floats,
    parse_times,
    regular_grid,
    sort_and_dedupe,
    to_utc_datetime,
    utc64,
)
from griddesk.feeds.errors import PayloadError, SchemaDriftError, UnitError
from griddesk.feeds.http import FeedHttpClient
from griddesk.feeds.reference import CKW_TZ
from griddesk.feeds.tables import DYNAMIC_TARIFFS, PLANT_TELEMETRY, TRA_SIGNALS

TARIFF_TYPES = ("grid", "electricity", "integrated", "grid_usage")
TARIFF_NAMES = ("home_dynamic", "business_dynamic")
#: The API serves at most 30 days per request.
MAX_TARIFF_SPAN = timedelta(days=30)
QUARTER_HOUR = np.timedelta64(15, "m")

PRICES_PATH = "v1/netzinformationen/energie/dynamische-preise"
PLANT_LIVE_PATH = "v1/netzinformationen/kraftwerke/{plant}/live"
TRA_PATH = "v1/netzinformationen/trasignale/{datum}"

FEED_TARIFFS = "ckw_dynamic_tariffs"
FEED_PLANT = "ckw_plant_telemetry"
FEED_TRA = "ckw_tra_signals"

_UNIT = re.compile(r"^([A-Z]{3})_kWh$")

#: German live-telemetry fields -> (English column, the unit the column stores).
PLANT_FIELDS: dict[str, tuple[str, str]] = {
    "spannung": ("voltage_kv", "kV"),
    "wirkleistung": ("active_power_mw", "MW"),
    "blindleistung": ("reactive_power_mvar", "Mvar"),
    "windgeschwindigkeit": ("wind_speed_kmh", "km/h"),
    "strom": ("current_a", "A"),
}
#: Fields the CKW example carries; ``strom`` has a unit in ``einheiten`` but is optional as a value.
_PLANT_REQUIRED = (
    "zeitstempel",
    "betriebsstatus",
    "spannung",
    "wirkleistung",
    "blindleistung",
    "windgeschwindigkeit",
    "einheiten",
)
_PLANT_OPTIONAL = ("strom",)
#: betriebsstatus (lower case) -> operating_status.
OPERATING_STATUS = {
    "in betrieb": "running",
    "ausser betrieb": "stopped",
    "außer betrieb": "stopped",
    "störung": "fault",
    "stoerung": "fault",
    "wartung": "stopped",
}
_TRA_FIELDS = ("Name", "Description", "Date", "Start", "End")


# ------------------------------------------------------------------------------------------------------------
# paging
# ------------------------------------------------------------------------------------------------------------


def tariff_windows(
    first_day: date, last_day: date, max_span: timedelta = MAX_TARIFF_SPAN
) -> list[tuple[datetime, datetime]]:
    """Request windows over local days first..last (inclusive): whole Europe/Zurich days, each <= ``max_span``.

    A 30-day window that contains the autumn DST change is 30 days and one hour long, so it gets one day less.

    Raises:
        ValueError: ``last_day`` is before ``first_day``.
    """
    if last_day < first_day:
        raise ValueError(f"empty day range: {first_day} .. {last_day}")
    windows = []
    day = first_day
    while day <= last_day:
        days = min(max_span.days, (last_day - day).days + 1)
        while True:
            start = day_bounds_utc(day, CKW_TZ)[0]
            end = day_bounds_utc(day + timedelta(days=days - 1), CKW_TZ)[1]
            if end - start <= max_span or days == 1:
                break
            days -= 1
        windows.append((start.astimezone(CKW_TZ), end.astimezone(CKW_TZ)))
        day += timedelta(days=days)
    return windows


@dataclass
class CkwClient:
    """The CKW public-data endpoints over a :class:`FeedHttpClient` (OAuth2 or open, see ``http.auth``)."""

    http: FeedHttpClient

    def dynamic_prices(self, tariff_name: str, first_day: date, last_day: date) -> list[Page]:
        """All four tariff types of ``tariff_name`` for local days first..last, paged by <= 30 days.

        Every page is fetched before anything is returned: a failing page fails the whole window.

        Raises:
            ValueError: unknown tariff name.
            FeedHttpError: see :meth:`FeedHttpClient.get_json`.
        """
        if tariff_name not in TARIFF_NAMES:
            raise ValueError(f"unknown tariff_name {tariff_name!r}; known: {', '.join(TARIFF_NAMES)}")
        pages = []
        for start, end in tariff_windows(first_day, last_day):
            params = {
                "tariff_name": tariff_name,
                "start_timestamp": start.isoformat(),
                "end_timestamp": end.isoformat(),
            }
            resp = self.http.get_json(PRICES_PATH, "ckw.dynamic_prices", params)
            pages.append(Page(params, resp.data, resp.url_path))
        return pages

    def plant_live(self, plant_id: str) -> Page:
        """The plant's live status (one sample)."""
        resp = self.http.get_json(PLANT_LIVE_PATH.format(plant=plant_id), "ckw.plant_live")
        return Page({}, resp.data, resp.url_path)

    def tra_signals(self, datum: date | str) -> Page:
        """TRA signals of one date, or of the newest published date with ``datum='last'``."""
        key = datum.isoformat() if isinstance(datum, date) else str(datum)
        if not isinstance(datum, date) and key not in ("last", "latest"):
            raise ValueError(f"datum must be a date or 'last', got {datum!r}")
        resp = self.http.get_json(TRA_PATH.format(datum=key), "ckw.tra_signals")
        return Page({}, resp.data, resp.url_path)


# ------------------------------------------------------------------------------------------------------------
# dynamic prices
# ------------------------------------------------------------------------------------------------------------


def parse_dynamic_prices(
    payload: object, tariff_name: str, where: str = "dynamische-preise"
) -> tuple[dict[str, np.ndarray], np.datetime64]:
    """One dynamic-prices answer as columns of ``raw.ckw_dynamic_tariffs`` (one row per interval and type), and
    its ``publication_timestamp`` (UTC).

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected (named in the message).
        UnitError: a unit other than ``<CCY>_kWh``.
        PayloadError: a wrong type, an unreadable time or value, or an interval that is not 15 minutes.
    """
    check_fields(payload, ("publication_timestamp", "prices"), where)
    prices = payload["prices"]
    if not isinstance(prices, list):
        raise PayloadError(f"{where}: 'prices' must be a list, got {type(prices).__name__}")
    publication = parse_times([payload["publication_timestamp"]], f"{where}.publication_timestamp")[0]
    starts, ends, types, values, units = [], [], [], [], []
    for i, record in enumerate(prices):
        check_fields(record, ("start_timestamp", "end_timestamp"), f"{where}.prices[{i}]", optional=TARIFF_TYPES)
        present = [t for t in TARIFF_TYPES if t in record]
        if not present:
            raise PayloadError(f"{where}.prices[{i}]: no tariff type ({', '.join(TARIFF_TYPES)})")
        for tariff_type in present:
            entries = record[tariff_type]
            if not isinstance(entries, list) or len(entries) != 1:
                raise PayloadError(f"{where}.prices[{i}].{tariff_type}: expected a list of one {{unit, value}}")
            check_fields(entries[0], ("unit", "value"), f"{where}.prices[{i}].{tariff_type}[0]")
            starts.append(record["start_timestamp"])
            ends.append(record["end_timestamp"])
            types.append(tariff_type)
            values.append(entries[0]["value"])
            units.append(entries[0]["unit"])
    start = parse_times(starts, f"{where}.start_timestamp")
    end = parse_times(ends, f"{where}.end_timestamp")
    wrong = np.flatnonzero(end - start != QUARTER_HOUR)
    if len(wrong):
        raise PayloadError(f"{where}: interval {start[wrong[0]]} .. {end[wrong[0]]} UTC is not 15 minutes")
    unit_arr = np.array(units, dtype=object)
    currency = np.empty(len(units), dtype=object)
    for unit in set(units):
        m = _UNIT.match(unit) if isinstance(unit, str) else None
        if m is None:
            raise UnitError(f"{where}: unit {unit!r} is not <currency>_kWh (e.g. CHF_kWh); refusing to convert")
        currency[unit_arr == unit] = m.group(1)
    return {
        "tariff_name": np.full(len(types), tariff_name, dtype=object),
        "tariff_type": np.array(types, dtype=object),
        "interval_start_utc": start,
        "interval_end_utc": end,
        "price_per_kwh": parse_floats(values, f"{where}.value", allow_null=False),
        "currency": currency,
        "unit": unit_arr,
    }, publication


def tariff_batches(
    pages: Iterable[Page], tariff_name: str, first_day: date, last_day: date, extracted_at: datetime
) -> list[FeedBatch]:
    """One batch per local day that the API returned: deduplicated, with missing quarter-hours as gaps.

    Days absent from every page are not published yet and give no batch.

    Raises:
        SchemaDriftError, UnitError, PayloadError: see :func:`parse_dynamic_prices`.
    """
    pages = list(pages)
    parsed = [
        parse_dynamic_prices(p.payload, tariff_name, f"dynamische-preise[{p.params.get('start_timestamp')}]")
        for p in pages
    ]
    parts = [cols for cols, _ in parsed]
    if not parts:
        return []

    def describe(day: date, cols: dict[str, np.ndarray], start: datetime, end: datetime) -> dict:
        expected = regular_grid(utc64(start), utc64(end), QUARTER_HOUR)
        gaps = []
        for tariff_type in TARIFF_TYPES:
            present = cols["interval_start_utc"][cols["tariff_type"] == tariff_type]
            gaps += absent_gaps(present, expected, QUARTER_HOUR, tariff_type)
        page = page_for(pages, start)
        return {
            "source_url": page.source_url,
            "published_at_utc": to_utc_datetime(parsed[pages.index(page)][1]),
            "gaps": gaps,
        }

    source = BatchSource(FEED_TARIFFS, tariff_name, DYNAMIC_TARIFFS, extracted_at)
    return daily_batches(source, concat_columns(parts), "interval_start_utc", CKW_TZ, (first_day, last_day), describe)


# ------------------------------------------------------------------------------------------------------------
# plant live telemetry
# ------------------------------------------------------------------------------------------------------------


def parse_plant_live(payload: object, plant_id: str, where: str = "kraftwerke/live") -> dict[str, np.ndarray]:
    """One live sample as a one-row ``raw.ckw_plant_telemetry`` column dict.

    German names become English ones with units; string values are parsed; ``betriebsstatus`` maps to
    running / stopped / fault (anything else: unknown, the German text is kept in ``operating_status_source``).

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected (named in the message).
        UnitError: ``einheiten`` gives another unit than the column stores (e.g. kW for wirkleistung).
        PayloadError: an unreadable time or number.
    """
    where = f"{where}[{plant_id}]"
    check_fields(payload, _PLANT_REQUIRED, where, optional=_PLANT_OPTIONAL)
    units = payload["einheiten"]
    if not isinstance(units, Mapping):
        raise PayloadError(f"{where}.einheiten: expected an object, got {type(units).__name__}")
    unknown_units = sorted(set(units) - set(PLANT_FIELDS))
    if unknown_units:
        raise SchemaDriftError(
            f"{where}.einheiten: schema drift: unexpected field '{unknown_units[0]}'", unknown_units[0]
        )
    row: dict[str, np.ndarray] = {
        "plant_id": np.array([plant_id], dtype=object),
        "measured_at_utc": parse_times([payload["zeitstempel"]], f"{where}.zeitstempel"),
    }
    status_text = payload["betriebsstatus"]
    if not isinstance(status_text, str):
        raise PayloadError(f"{where}.betriebsstatus: expected text, got {status_text!r}")
    row["operating_status"] = np.array([OPERATING_STATUS.get(status_text.strip().lower(), "unknown")], dtype=object)
    row["operating_status_source"] = np.array([status_text], dtype=object)
    for german, (column, unit) in PLANT_FIELDS.items():
        value = payload.get(german)
        if value is not None and german not in units:
            raise SchemaDriftError(f"{where}.einheiten: schema drift: field '{german}' is missing", german)
        if german in units and units[german] != unit:
            raise UnitError(
                f"{where}: {german} arrives in {units[german]!r}, {column} stores {unit!r}; refusing to convert"
            )
        if isinstance(value, str) and not value.strip():
            value = None
        row[column] = parse_floats([value], f"{where}.{german}")
    return row


def plant_batch(
    page: Page, plant_id: str, extracted_at: datetime, interval: timedelta = timedelta(minutes=5)
) -> FeedBatch:
    """The one-sample batch of a live poll; its window is [zeitstempel, zeitstempel + 5 min)."""
    row = parse_plant_live(page.payload, plant_id)
    measured = to_utc_datetime(row["measured_at_utc"][0])
    source = BatchSource(FEED_PLANT, plant_id, PLANT_TELEMETRY, extracted_at)
    return source.batch(row, (measured, measured + interval), page.url_path, published_at_utc=measured)


# ------------------------------------------------------------------------------------------------------------
# TRA signals
# ------------------------------------------------------------------------------------------------------------


def parse_tra_signals(payload: object, where: str = "trasignale") -> dict[str, np.ndarray]:
    """TRA switching windows as ``raw.ckw_tra_signals`` columns.

    Raises:
        SchemaDriftError: a field is missing, renamed or unexpected.
        PayloadError: not a list, an unreadable date or time, or a window that ends before it starts.
    """
    if not isinstance(payload, list):
        raise PayloadError(f"{where}: expected a list of signals, got {type(payload).__name__}")
    for i, record in enumerate(payload):
        check_fields(record, _TRA_FIELDS, f"{where}[{i}]")
    try:
        dates = np.array([date.fromisoformat(r["Date"]) for r in payload], dtype="datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{where}: unreadable Date: {exc}") from None
    on = parse_times([r["Start"] for r in payload], f"{where}.Start")
    off = parse_times([r["End"] for r in payload], f"{where}.End")
    if (off < on).any():
        i = int(np.flatnonzero(off < on)[0])
        raise PayloadError(f"{where}[{i}]: End {payload[i]['End']} is before Start {payload[i]['Start']}")
    return {
        "signal_name": np.array([str(r["Name"]) for r in payload], dtype=object),
        "description": np.array([str(r["Description"]) for r in payload], dtype=object),
        "signal_date_local": dates,
        "switch_on_utc": on,
        "switch_off_utc": off,
    }


def tra_batches(pages: Iterable[Page], extracted_at: datetime) -> list[FeedBatch]:
    """One batch per signal date (Europe/Zurich), deduplicated; dates without signals give no batch."""
    pages = list(pages)
    batches = []
    parts = [parse_tra_signals(p.payload, p.url_path) for p in pages]
    parts = [p for p in parts if len(p["signal_name"])]
    if not parts:
        return []
    columns = concat_columns(parts)
    source = BatchSource(FEED_TRA, "tra", TRA_SIGNALS, extracted_at)
    for day in np.unique(columns["signal_date_local"]):
        mask = columns["signal_date_local"] == day
        cols, n_dup, n_conflicting = sort_and_dedupe({k: v[mask] for k, v in columns.items()}, TRA_SIGNALS.key)
        d = day.astype(object)
        start, end = day_bounds_utc(d, CKW_TZ)
        url = next((p.url_path for p in pages if d.isoformat() in p.url_path), pages[-1].url_path)
        batches.append(
            source.batch(cols, (start, end), url, n_duplicates_removed=n_dup, n_conflicting_duplicates=n_conflicting)
        )
    return batches


def last_published_date(page: Page) -> date | None:
    """The signal date of a ``last`` answer (None when it lists no signal)."""
    cols = parse_tra_signals(page.payload, page.url_path)
    if not len(cols["signal_date_local"]):
        return None
    return cols["signal_date_local"].max().astype(object)
