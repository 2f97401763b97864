"""A parsed batch and the checks between parser and loader: schema drift, duplicates, gaps.

A batch is everything one extraction of one feed returned for one window, as columns (numpy arrays). It is
loaded whole or not at all. Duplicated intervals are removed (the first occurrence is kept, the count is
stored with the batch); missing intervals are recorded as gaps, never filled.

Time columns are ``datetime64[us]`` in UTC (naive numpy datetimes, UTC by convention).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from griddesk.feeds.errors import PayloadError, SchemaDriftError
from griddesk.feeds.tables import TableSpec

if TYPE_CHECKING:
    from griddesk.feeds.http import FeedHttpClient

US = "datetime64[us]"


@dataclass(frozen=True)
class Gap:
    """A run of missing intervals of one series: [gap_start_utc, gap_end_utc), ``n_intervals`` long."""

    series_key: str
    gap_start_utc: datetime
    gap_end_utc: datetime
    n_intervals: int
    reason: str  # absent | null_value | zero_reading


@dataclass
class FeedBatch:
    """One window of one feed, parsed and checked, ready for :func:`griddesk.feeds.loader.load_batch`."""

    feed: str  # e.g. ckw_dynamic_tariffs
    source_key: str  # e.g. home_dynamic, FR, lutersarni
    table: TableSpec
    columns: dict[str, np.ndarray]
    window_start_utc: datetime
    window_end_utc: datetime
    extracted_at_utc: datetime
    source_url: str
    published_at_utc: datetime | None = None
    gaps: list[Gap] = field(default_factory=list)
    n_duplicates_removed: int = 0
    n_conflicting_duplicates: int = 0

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __str__(self) -> str:
        return f"{self.feed}/{self.source_key} [{self.window_start_utc:%Y-%m-%d %H:%M}, {self.window_end_utc:%Y-%m-%d %H:%M})"


@dataclass(frozen=True)
class BatchSource:
    """What the batches of one extraction share: feed, source, raw table and extraction time."""

    feed: str
    source_key: str
    table: TableSpec
    extracted_at_utc: datetime

    def batch(
        self, columns: dict[str, np.ndarray], window: tuple[datetime, datetime], source_url: str, **fields
    ) -> FeedBatch:
        """A batch of ``columns`` for the window [start, end); ``fields``: the other :class:`FeedBatch` fields."""
        return FeedBatch(
            feed=self.feed,
            source_key=self.source_key,
            table=self.table,
            columns=columns,
            window_start_utc=window[0],
            window_end_utc=window[1],
            extracted_at_utc=self.extracted_at_utc,
            source_url=source_url,
            **fields,
        )


# ------------------------------------------------------------------------------------------------------------
# schema drift
# ------------------------------------------------------------------------------------------------------------


def check_fields(
    record: Mapping[str, object],
    required: Collection[str],
    where: str,
    optional: Collection[str] = (),
) -> None:
    """Raise unless ``record`` has every ``required`` field and nothing but ``required`` and ``optional``.

    Raises:
        SchemaDriftError: naming the missing field (and the unexpected one, which is likely its new name) or
            the unexpected extra field.
        PayloadError: ``record`` is not a JSON object.
    """
    if not isinstance(record, Mapping):
        raise PayloadError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [f for f in required if f not in record]
    extra = sorted(set(record) - set(required) - set(optional))
    if missing:
        hint = f"; unexpected field(s) {extra} (renamed?)" if extra else ""
        raise SchemaDriftError(f"{where}: schema drift: field '{missing[0]}' is missing{hint}", field=missing[0])
    if extra:
        raise SchemaDriftError(f"{where}: schema drift: unexpected field '{extra[0]}'", field=extra[0])


# ------------------------------------------------------------------------------------------------------------
# parsing helpers
# ------------------------------------------------------------------------------------------------------------


def parse_times(values: Iterable[object], where: str) -> np.ndarray:
    """ISO-8601 strings (offset or ``Z``; naive means UTC) as ``datetime64[us]`` UTC.

    Each distinct string is parsed once (answers repeat the same time axis for every series).

    Raises:
        PayloadError: a value is not an ISO-8601 time (the message quotes it).
    """
    values = values if isinstance(values, list) else list(values)
    if not values:
        return np.array([], dtype=US)
    try:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        index = pd.to_datetime(pd.Index(uniques, dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"{where}: not an ISO-8601 time: {str(exc).split('. ')[0]}") from None
    if (codes < 0).any() or index.isna().any():
        bad = (
            values[int(np.flatnonzero(codes < 0)[0])]
            if (codes < 0).any()
            else uniques[int(np.flatnonzero(index.isna())[0])]
        )
        raise PayloadError(f"{where}: missing or unreadable time {bad!r}")
    return index.tz_localize(None).to_numpy(US)[codes]


def parse_floats(values: Iterable[object], where: str, allow_null: bool = True) -> np.ndarray:
    """Numbers (or numeric strings, as CKW sends some) as float64; null -> NaN.

    Raises:
        PayloadError: a value is not a number (the message quotes it), or null where ``allow_null`` is False.
    """
    values = list(values)
    try:
        # Fast path: numbers and nulls only.
        out = np.array(values, dtype=float)
    except (TypeError, ValueError):
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = np.nan if v is None else float(v)
            except (TypeError, ValueError):
                raise PayloadError(f"{where}: value {v!r} at position {i} is not a number") from None
    if not allow_null and np.isnan(out).any():
        raise PayloadError(f"{where}: null value at position {int(np.flatnonzero(np.isnan(out))[0])}")
    return out


def to_utc_datetime(ts: np.datetime64) -> datetime:
    return pd.Timestamp(ts).to_pydatetime().replace(tzinfo=UTC)


def utc64(ts: datetime) -> np.datetime64:
    """An aware datetime as ``datetime64[us]`` UTC.

    Raises:
        ValueError: ``ts`` is naive.
    """
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: feed windows must be timezone-aware")
    return np.datetime64(ts.astimezone(UTC).replace(tzinfo=None), "us")


# ------------------------------------------------------------------------------------------------------------
# duplicates
# ------------------------------------------------------------------------------------------------------------


def sort_key(arr: np.ndarray) -> np.ndarray:
    """A numeric array that sorts like ``arr`` (text by code of its sorted unique values, times as int64)."""
    if arr.dtype == object:
        codes, _ = pd.factorize(arr, sort=True)
        return codes
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.view("i8")
    return arr


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def sort_and_dedupe(columns: Mapping[str, np.ndarray], key: tuple[str, ...]) -> tuple[dict[str, np.ndarray], int, int]:
    """Sort rows by ``key`` and drop repeated keys (the first occurrence wins).

    Returns:
        The sorted, unique columns; the number of rows dropped; how many of those carried other values than
        the row kept (a conflicting duplicate is still dropped, but counted apart).
    """
    n = len(columns[key[0]])
    if n == 0:
        return dict(columns), 0, 0
    sort_keys = [sort_key(np.asarray(columns[k])) for k in key]
    order = np.lexsort(sort_keys[::-1])  # stable: among equal keys the original order survives
    same = np.ones(n - 1, dtype=bool)
    for sk in sort_keys:
        s = sk[order]
        same &= s[1:] == s[:-1]
    dup = np.concatenate([[False], same])
    n_dup = int(dup.sum())
    n_conflicting = 0
    if n_dup:
        idx = np.flatnonzero(dup)
        differs = np.zeros(len(idx), dtype=bool)
        for name, arr in columns.items():
            if name in key:
                continue
            arr = np.asarray(arr)
            differs |= ~_equal(arr[order[idx]], arr[order[idx - 1]])
        n_conflicting = int(differs.sum())
    keep = order[~dup]
    return {name: np.asarray(arr)[keep] for name, arr in columns.items()}, n_dup, n_conflicting


# ------------------------------------------------------------------------------------------------------------
# gaps
# ------------------------------------------------------------------------------------------------------------


def runs_to_gaps(missing: np.ndarray, step: np.timedelta64, series_key: str, reason: str) -> list[Gap]:
    """Group sorted missing interval starts into runs of consecutive intervals."""
    if len(missing) == 0:
        return []
    breaks = np.flatnonzero(np.diff(missing) != step) + 1
    gaps = []
    for chunk in np.split(missing, breaks):
        gaps.append(Gap(series_key, to_utc_datetime(chunk[0]), to_utc_datetime(chunk[-1] + step), len(chunk), reason))
    return gaps


def absent_gaps(present: np.ndarray, expected: np.ndarray, step: np.timedelta64, series_key: str) -> list[Gap]:
    """Intervals of the ``expected`` grid that are not ``present`` (both sorted ``datetime64[us]``)."""
    missing = np.setdiff1d(expected, present, assume_unique=True)
    return runs_to_gaps(missing, step, series_key, "absent")


def flagged_gaps(times: np.ndarray, flags: np.ndarray, step: np.timedelta64, series_key: str, reason: str) -> list[Gap]:
    """Runs of intervals whose value is present but marks a missing reading (null, or zero for meters)."""
    return runs_to_gaps(times[flags], step, series_key, reason)


def series_flagged_gaps(
    series: np.ndarray, times: np.ndarray, flags: np.ndarray, step: np.timedelta64, reason: str
) -> list[Gap]:
    """:func:`flagged_gaps` for many series at once; rows sorted by (series, time)."""
    idx = np.flatnonzero(flags)
    if len(idx) == 0:
        return []
    s, t = series[idx], times[idx]
    new_run = np.ones(len(idx), dtype=bool)
    new_run[1:] = (s[1:] != s[:-1]) | (np.diff(t) != step)
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(idx))
    return [
        Gap(str(s[a]), to_utc_datetime(t[a]), to_utc_datetime(t[b - 1] + step), int(b - a), reason)
        for a, b in zip(starts, ends, strict=True)
    ]


def series_absent_gaps(
    series: np.ndarray, times: np.ndarray, expected: np.ndarray, step: np.timedelta64, all_series: Iterable[str]
) -> list[Gap]:
    """:func:`absent_gaps` for many series at once; rows sorted by (series, time), unique, on the grid.

    Series with every expected interval cost nothing; ``all_series`` missing from ``series`` get a full gap.
    """
    gaps: list[Gap] = []
    codes, uniques = pd.factorize(series)
    counts = np.bincount(codes, minlength=len(uniques)) if len(codes) else np.array([], dtype=int)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i in np.flatnonzero(counts < len(expected)):
        gaps += absent_gaps(times[bounds[i] : bounds[i + 1]], expected, step, str(uniques[i]))
    present = set(uniques.tolist())
    for key in all_series:
        if key not in present:
            gaps += absent_gaps(np.array([], dtype=US), expected, step, key)
    return gaps


def regular_grid(start: np.datetime64, end: np.datetime64, step: np.timedelta64) -> np.ndarray:
    """Interval starts ``start, start + step, ...`` before ``end``."""
    return np.arange(start, end, step).astype(US)


def require_step(times: np.ndarray, origin: np.datetime64, step: np.timedelta64, where: str) -> None:
    """Raise unless every time is ``origin`` plus a whole number of ``step``.

    Raises:
        PayloadError: the first off-grid time is named.
    """
    off = ((times - origin) % step) != np.timedelta64(0, "us")
    if off.any():
        raise PayloadError(f"{where}: {times[off][0]} UTC is not on the {step} grid")


# ------------------------------------------------------------------------------------------------------------
# local days
# ------------------------------------------------------------------------------------------------------------


def day_bounds_utc(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day ``day`` in time zone ``tz``, as aware UTC datetimes (23-25 h)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def local_dates(times: np.ndarray, tz: tzinfo) -> np.ndarray:
    """The local calendar date (``datetime64[D]``) of each UTC time in ``tz``."""
    local = pd.DatetimeIndex(times).tz_localize("UTC").tz_convert(tz).tz_localize(None)
    return local.to_numpy("datetime64[D]")


def split_by_local_day(
    columns: Mapping[str, np.ndarray], time_column: str, tz: tzinfo
) -> dict[date, dict[str, np.ndarray]]:
    """Columns split by the local calendar day of ``time_column``: ``{date: columns}``, in date order."""
    times = columns[time_column]
    if len(times) == 0:
        return {}
    codes, uniq = pd.factorize(local_dates(times, tz), sort=True)  # hashing: no sort of every row
    if len(uniq) == 1:
        return {pd.Timestamp(uniq[0]).date(): {name: np.asarray(arr) for name, arr in columns.items()}}
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out = {}
    for day, idx in zip(uniq, np.split(order, bounds), strict=True):
        out[pd.Timestamp(day).date()] = {name: np.asarray(arr)[idx] for name, arr in columns.items()}
    return out


def daily_batches(
    source: BatchSource,
    columns: Mapping[str, np.ndarray],
    time_column: str,
    tz: tzinfo,
    days: tuple[date, date],
    describe: Callable[[date, dict[str, np.ndarray], datetime, datetime], dict],
) -> list[FeedBatch]:
    """One deduplicated batch per local day (in ``tz``) of ``time_column`` within ``days`` (first, last inclusive).

    ``describe(day, cols, start, end)`` gives the day's ``source_url`` and other :class:`FeedBatch` fields (gaps,
    publication time) from its deduplicated columns and UTC window.
    """
    first_day, last_day = days
    batches = []
    for day, raw_cols in split_by_local_day(columns, time_column, tz).items():
        if not first_day <= day <= last_day:
            continue
        cols, n_dup, n_conflicting = sort_and_dedupe(raw_cols, source.table.key)
        start, end = day_bounds_utc(day, tz)
        fields = describe(day, cols, start, end)
        batches.append(
            source.batch(
                cols, (start, end), n_duplicates_removed=n_dup, n_conflicting_duplicates=n_conflicting, **fields
            )
        )
    return batches


def day_ranges(first_day: date, last_day: date, max_days: int) -> list[tuple[date, date]]:
    """Consecutive (first, last) day ranges covering ``first_day``..``last_day``, each at most ``max_days`` long.

    Raises:
        ValueError: ``last_day`` is before ``first_day``.
    """
    if last_day < first_day:
        raise ValueError(f"empty day range: {first_day} .. {last_day}")
    ranges, day = [], first_day
    while day <= last_day:
        end_day = min(day + timedelta(days=max_days - 1), last_day)
        ranges.append((day, end_day))
        day = end_day + timedelta(days=1)
    return ranges


# ------------------------------------------------------------------------------------------------------------
# pages
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One answer of the API with the parameters that asked for it."""

    params: dict[str, str]
    payload: object
    url_path: str

    @property
    def source_url(self) -> str:
        return f"{self.url_path}?" + "&".join(f"{k}={v}" for k, v in self.params.items())


def concat_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Row-wise concatenation of column dicts with the same columns."""
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def fetch_day_ranges(
    http: FeedHttpClient,
    path: str,
    endpoint: str,
    first_day: date,
    last_day: date,
    max_days: int,
    params_for: Callable[[date, date], dict[str, str]],
) -> list[Page]:
    """GET ``path`` once per range of at most ``max_days`` days covering ``first_day``..``last_day``, all fetched
    before any is parsed; ``params_for(first, last)`` gives a range's query parameters, kept on its page.
    ``endpoint`` names the calls in the API log."""
    pages = []
    for day, end_day in day_ranges(first_day, last_day, max_days):
        params = params_for(day, end_day)
        resp = http.get_json(path, endpoint, params)
        pages.append(Page(params, resp.data, resp.url_path))
    return pages


def page_for(pages: list[Page], start: datetime, lo: str = "start_timestamp", hi: str = "end_timestamp") -> Page:
    """The page whose window (ISO-8601 parameters ``lo``/``hi``) contains the instant ``start`` (provenance)."""
    for page in pages:
        if lo not in page.params or hi not in page.params:
            continue
        try:
            if datetime.fromisoformat(page.params[lo]) <= start < datetime.fromisoformat(page.params[hi]):
                return page
        except ValueError:  # not an instant (e.g. a date): provenance falls back to the first page
            continue
    return pages[0]
