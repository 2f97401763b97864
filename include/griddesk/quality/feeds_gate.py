"""One Great Expectations run over every feed: batches per (feed, source key, delivery day), SLAs from YAML.

What is validated is declared in ``expectations/feeds.yml`` (feeds, their tables, days, series and SLAs) and
``expectations/expectations/raw_<feed>.json`` (the expectations and their severities). This module only:

- reads each feed's rows in one query: the newest stored version of every batch window that overlaps the days;
- cuts them into one frame per (source key, delivery day) in the feed's time zone (23/25-hour days included);
- adds the derived ``dq_*`` columns the suites check (value presence, flatliner runs, robust z-scores, and the
  feed-specific ``DERIVATIONS`` such as integrated − grid − electricity, and for ``never_zero_columns`` the zero or
  stuck runs of :mod:`griddesk.quality.exogenous_plausibility`, named in local hours);
- computes each batch's ``$PARAMETER`` values from the SLA (DST-aware expected rows, freshness bound, as-of);
- runs every suite in the one GX context of the process (``QualityGate``): no context per feed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml
from psycopg2 import sql

from griddesk.quality.exogenous_plausibility import describe_suspect_runs, suspect_mask
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, Batch, MarketDayResult, QualityGate

FEEDS_FILE = DEFAULT_CONTEXT_DIR / "feeds.yml"
#: 1.4826 * MAD estimates the standard deviation of normal data.
MAD_TO_SIGMA = 1.4826
#: The spike scale is at least this share of the series' median level.
SPIKE_SCALE_FLOOR = 0.1
#: 1.2533 * mean absolute deviation estimates the standard deviation of normal data (fallback when MAD is 0).
MEAN_AD_TO_SIGMA = 1.2533

#: ``day_timezone: market``: the scope is a market code and days are its local days.
MARKET_TZ = "market"
#: ``interval_minutes: data``: the MTU is the batch's own resolution_minutes (most common value).
DATA_MTU = "data"

_REQUIRED = ("suite", "table", "day_column", "day_timezone", "time_column", "sla")
_KNOWN = set(_REQUIRED) | {
    "scope_column",
    "only_where",
    "newest_by",
    "day_is_date",
    "interval_minutes",
    "series_column",
    "expected_series",
    "expected_series_query",
    "value_columns",
    "flatline_columns",
    "spike_columns",
    "zero_means_missing",
    "never_zero_columns",
    "derive",
}
_SLA_KEYS = {"day_offset", "completeness_min_ratio", "freshness_max_lag_minutes"}


@dataclass(frozen=True)
class FeedSla:
    """What the desk is promised for a feed: which day is complete at the daily run, how complete, how fresh."""

    day_offset: int
    completeness_min_ratio: float
    freshness_max_lag_minutes: float | None = None


@dataclass(frozen=True)
class FeedSpec:
    """One feed of ``expectations/feeds.yml`` (see the comments at the top of that file)."""

    feed: str
    suite: str
    table: str
    day_column: str
    day_timezone: str
    time_column: str
    sla: FeedSla
    day_is_date: bool = False
    scope_column: str | None = None
    only_where: str | None = None
    newest_by: tuple[str, ...] = ()
    interval_minutes: int | str | None = None
    series_column: str | None = None
    expected_series: tuple[str, ...] = ()
    expected_series_query: str | None = None
    value_columns: tuple[str, ...] = ()
    flatline_columns: tuple[str, ...] = ()
    spike_columns: tuple[str, ...] = ()
    zero_means_missing: bool = False
    never_zero_columns: tuple[str, ...] = ()
    derive: tuple[str, ...] = ()

    @property
    def validation_definition(self) -> str:
        return f"{self.suite}_scope_day"


def parse_feed_specs(doc: Mapping[str, Any]) -> dict[str, FeedSpec]:
    """Feed specs from the parsed ``feeds.yml``.

    Raises:
        ValueError: naming the feed and the key that is missing, unknown or of the wrong kind.
    """
    feeds = doc.get("feeds") if isinstance(doc, Mapping) else None
    if not isinstance(feeds, Mapping) or not feeds:
        raise ValueError("feeds.yml needs a non-empty 'feeds' mapping")
    out = {}
    for feed, cfg in feeds.items():
        missing = [k for k in _REQUIRED if k not in (cfg or {})]
        if missing:
            raise ValueError(f"feeds.yml: feed {feed!r} lacks {missing}")
        unknown = sorted(set(cfg) - _KNOWN)
        if unknown:
            raise ValueError(f"feeds.yml: feed {feed!r} has unknown key(s) {unknown}")
        sla = cfg["sla"] or {}
        if set(sla) - _SLA_KEYS or not {"day_offset", "completeness_min_ratio"} <= set(sla):
            raise ValueError(f"feeds.yml: feed {feed!r} sla must have day_offset, completeness_min_ratio, got {sla}")
        if not 0 <= float(sla["completeness_min_ratio"]) <= 1:
            raise ValueError(f"feeds.yml: feed {feed!r} completeness_min_ratio must lie in [0, 1]")
        unknown_derive = sorted(set(cfg.get("derive") or ()) - set(DERIVATIONS))
        if unknown_derive:
            raise ValueError(f"feeds.yml: feed {feed!r} derives unknown column(s) {unknown_derive}")
        if cfg["day_timezone"] != MARKET_TZ:
            ZoneInfo(cfg["day_timezone"])  # raises on an unknown zone
        if cfg["day_timezone"] == MARKET_TZ and not cfg.get("scope_column"):
            raise ValueError(f"feeds.yml: feed {feed!r} uses the market's time zone but has no scope_column")
        out[feed] = FeedSpec(
            feed=feed,
            suite=cfg["suite"],
            table=cfg["table"],
            day_column=cfg["day_column"],
            day_timezone=cfg["day_timezone"],
            time_column=cfg["time_column"],
            sla=FeedSla(
                int(sla["day_offset"]),
                float(sla["completeness_min_ratio"]),
                None if sla.get("freshness_max_lag_minutes") is None else float(sla["freshness_max_lag_minutes"]),
            ),
            day_is_date=bool(cfg.get("day_is_date", False)),
            scope_column=cfg.get("scope_column"),
            only_where=cfg.get("only_where"),
            newest_by=tuple(cfg.get("newest_by") or ()),
            interval_minutes=cfg.get("interval_minutes"),
            series_column=cfg.get("series_column"),
            expected_series=tuple(cfg.get("expected_series") or ()),
            expected_series_query=cfg.get("expected_series_query"),
            value_columns=tuple(cfg.get("value_columns") or ()),
            flatline_columns=tuple(cfg.get("flatline_columns") or ()),
            spike_columns=tuple(cfg.get("spike_columns") or ()),
            zero_means_missing=bool(cfg.get("zero_means_missing", False)),
            never_zero_columns=tuple(cfg.get("never_zero_columns") or ()),
            derive=tuple(cfg.get("derive") or ()),
        )
    return out


@lru_cache(maxsize=4)
def load_feed_specs(path: Path | str = FEEDS_FILE) -> dict[str, FeedSpec]:
    """The feeds declared in ``expectations/feeds.yml`` (cached per path)."""
    return parse_feed_specs(yaml.safe_load(Path(path).read_text()))


# --------------------------------------------------------------------------- days and parameters (pure)


def local_day_bounds_utc(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) of the local day in UTC: 23 or 25 hours long on DST changes."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def intervals_in_day(day: date, tz_name: str, interval_minutes: int) -> int:
    """Intervals of the local day: 23/24/25 hourly, 92/96/100 quarter-hourly, 276/288/300 five-minutely."""
    start, end = local_day_bounds_utc(day, tz_name)
    return int((end - start) / timedelta(minutes=interval_minutes))


def day_timezone(spec: FeedSpec, scope: str) -> str:
    """The batch's time zone: the declared one, or the market's for ``day_timezone: market``."""
    if spec.day_timezone == MARKET_TZ:
        from griddesk.markets import get_market

        return get_market(scope).timezone
    return spec.day_timezone


def batch_interval_minutes(spec: FeedSpec, frame: pd.DataFrame) -> int | None:
    """The declared MTU, or for ``interval_minutes: data`` the batch's most common resolution_minutes."""
    if spec.interval_minutes != DATA_MTU:
        return spec.interval_minutes
    values = frame["resolution_minutes"].dropna() if "resolution_minutes" in frame else pd.Series(dtype=float)
    return int(values.mode().iloc[0]) if not values.empty else None


def feed_parameters(
    spec: FeedSpec,
    day: date,
    as_of_utc: datetime,
    n_series: int,
    *,
    tz_name: str | None = None,
    interval_minutes: int | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """The suite's ``$PARAMETER`` values for one (source key, day) batch of ``spec``.

    ``expected_row_count`` is series x intervals of the local day (DST-aware); ``min_row_count`` is the SLA's
    share of it (rounded up); ``freshness_min_utc`` is the start of the day's last interval minus the SLA lag.
    """
    if as_of_utc.tzinfo is None or as_of_utc.utcoffset() is None:
        raise ValueError(f"as_of_utc must be timezone-aware, got naive {as_of_utc!r}")
    tz_name = tz_name or spec.day_timezone
    interval = interval_minutes if interval_minutes is not None else spec.interval_minutes
    if interval == DATA_MTU:
        interval = None
    start, end = local_day_bounds_utc(day, tz_name)
    params: dict[str, Any] = {
        "as_of_utc": pd.Timestamp(as_of_utc).tz_convert("UTC"),
        "completeness_min_ratio": spec.sla.completeness_min_ratio,
        "expected_series_count": n_series,
        "day_start_utc": pd.Timestamp(start),
        "day_end_utc": pd.Timestamp(end),
    }
    if spec.day_timezone == MARKET_TZ and scope:
        from griddesk.markets import get_market, price_bounds_on

        market = get_market(scope)
        params["gate_closure_utc"] = pd.Timestamp(market.gate_closure_utc(day)).tz_convert("UTC")
        bounds = price_bounds_on(market.code, day)
        params["min_price_per_mwh"] = float(bounds.min_price_per_mwh)
        params["max_price_per_mwh"] = float(bounds.max_price_per_mwh)
    if interval:
        # With no rows the MTU is unknown: expect at least one series of the coarsest (hourly) MTU.
        expected = max(n_series, 1) * intervals_in_day(day, tz_name, interval)
        params["expected_row_count"] = expected
        params["min_row_count"] = math.ceil(expected * spec.sla.completeness_min_ratio - 1e-9)
        lag = timedelta(minutes=spec.sla.freshness_max_lag_minutes or 0)
        params["freshness_min_utc"] = pd.Timestamp(end - timedelta(minutes=interval) - lag)
    elif spec.interval_minutes == DATA_MTU:
        expected = max(n_series, 1) * intervals_in_day(day, tz_name, 60)
        params["expected_row_count"] = expected
        params["min_row_count"] = math.ceil(expected * spec.sla.completeness_min_ratio - 1e-9)
    return params


# --------------------------------------------------------------------------- derived columns (pure)


def flat_run_lengths(values: pd.Series) -> pd.Series:
    """For each value, the length of the run of equal consecutive values it belongs to; NaN for a missing one."""
    present = values.notna()
    starts = (values != values.shift()) | ~present
    run_id = starts.cumsum()
    lengths = run_id.map(run_id.value_counts()).astype(float)
    return lengths.where(present)


def abs_robust_z(values: pd.Series) -> pd.Series:
    """|x - median| / scale, scale = max(1.4826 MAD, 10 % of |median|); NaN only for a missing value.

    The floor keeps a series that is flat most of the day (a building at night) from calling every change a spike.
    When both are 0 (more than half the values equal a median of 0), the scale falls back to 1.2533 x the mean
    absolute deviation (the usual fallback of the modified z-score); when that is 0 too, every value equals the
    median and none is a spike (0).
    """
    deviation = (values - values.median()).abs()
    median = values.median()
    scale = max(MAD_TO_SIGMA * deviation.median(), SPIKE_SCALE_FLOOR * abs(median))
    if not np.isfinite(scale):  # no value at all
        return pd.Series(np.nan, index=values.index)
    if scale == 0:
        scale = MEAN_AD_TO_SIGMA * deviation.mean()
    if scale == 0:
        return deviation.where(values.isna(), 0.0)
    return deviation / scale


def _tariff_integrated_residual(frame: pd.DataFrame) -> pd.DataFrame:
    """integrated − grid − electricity per quarter-hour, on the integrated rows (NaN elsewhere)."""
    wide = frame.pivot_table(
        index="interval_start_utc", columns="tariff_type", values="price_per_kwh", aggfunc="first"
    ).reindex(columns=["integrated", "grid", "electricity"])
    residual = wide["integrated"] - wide["grid"] - wide["electricity"]
    frame["dq_integrated_residual_chf_kwh"] = np.where(
        frame["tariff_type"] == "integrated", frame["interval_start_utc"].map(residual), np.nan
    ).astype(float)
    return frame


def _switch_duration(frame: pd.DataFrame) -> pd.DataFrame:
    frame["dq_switch_duration_minutes"] = (
        (frame["switch_off_utc"] - frame["switch_on_utc"]).dt.total_seconds() / 60.0
    ).astype(float)
    return frame


def _forecast_lead(frame: pd.DataFrame) -> pd.DataFrame:
    frame["dq_lead_hours"] = ((frame["valid_time_utc"] - frame["issued_at_utc"]).dt.total_seconds() / 3600).astype(
        float
    )
    return frame


def _interval_ordered(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = (frame["lower_price_per_mwh"] <= frame["forecast_price_per_mwh"]) & (
        frame["forecast_price_per_mwh"] <= frame["upper_price_per_mwh"]
    )
    frame["dq_interval_ordered"] = ordered.astype(float)
    return frame


def _simultaneous_charge(frame: pd.DataFrame) -> pd.DataFrame:
    frame["dq_simultaneous_mw"] = np.minimum(frame["charge_mw"], frame["discharge_mw"]).astype(float)
    return frame


def _overfill(frame: pd.DataFrame) -> pd.DataFrame:
    frame["dq_executed_minus_submitted_mw"] = (frame["accepted_volume_mw"] - frame["volume_mw"]).astype(float)
    return frame


def _imputed_share(frame: pd.DataFrame) -> pd.DataFrame:
    frame["dq_is_imputed"] = frame["is_imputed"].astype(float)
    return frame


#: Feed-specific derived columns, named in ``feeds.yml`` under ``derive``.
DERIVATIONS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "tariff_integrated_residual": _tariff_integrated_residual,
    "switch_duration": _switch_duration,
    "forecast_lead": _forecast_lead,
    "interval_ordered": _interval_ordered,
    "simultaneous_charge": _simultaneous_charge,
    "executed_minus_submitted": _overfill,
    "imputed_share": _imputed_share,
}


#: The column each derivation adds (an empty batch still gets it, so GX finds the column).
DERIVED_COLUMNS = {
    "tariff_integrated_residual": "dq_integrated_residual_chf_kwh",
    "switch_duration": "dq_switch_duration_minutes",
    "forecast_lead": "dq_lead_hours",
    "interval_ordered": "dq_interval_ordered",
    "simultaneous_charge": "dq_simultaneous_mw",
    "executed_minus_submitted": "dq_executed_minus_submitted_mw",
    "imputed_share": "dq_is_imputed",
}


def derive_columns(spec: FeedSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the ``dq_*`` columns the feed's suite checks (a new frame; the input is not changed)."""
    frame = frame.sort_values([c for c in (spec.series_column, spec.time_column) if c], kind="stable")
    frame = frame.reset_index(drop=True)
    if frame.empty:
        names = ["dq_value_present"] + [f"dq_{c}_flat_run" for c in spec.flatline_columns]
        names += [f"dq_{c}_abs_robust_z" for c in spec.spike_columns] + [DERIVED_COLUMNS[d] for d in spec.derive]
        labels = {f"dq_{c}_stuck_run": pd.Series(dtype=object) for c in spec.never_zero_columns}
        return frame.assign(**{n: pd.Series(dtype=float) for n in names}, **labels)
    if spec.value_columns:
        present = pd.DataFrame({c: frame[c].notna() for c in spec.value_columns})
        if spec.zero_means_missing:
            present &= pd.DataFrame({c: frame[c].fillna(0) != 0 for c in spec.value_columns})
        frame["dq_value_present"] = present.mean(axis=1).astype(float)
    else:
        frame["dq_value_present"] = 1.0
    for col in dict.fromkeys(spec.flatline_columns + spec.spike_columns):
        values = frame[col].astype(float)
        if spec.zero_means_missing:
            values = values.where(values != 0)  # a missing reading is neither stuck nor a spike
        by = values.groupby(frame[spec.series_column], sort=False) if spec.series_column else None
        if col in spec.flatline_columns:
            frame[f"dq_{col}_flat_run"] = by.transform(flat_run_lengths) if by is not None else flat_run_lengths(values)
        if col in spec.spike_columns:
            frame[f"dq_{col}_abs_robust_z"] = by.transform(abs_robust_z) if by is not None else abs_robust_z(values)
    for col in spec.never_zero_columns:
        frame[f"dq_{col}_stuck_run"] = _stuck_run_labels(spec, frame, col)
    for name in spec.derive:
        frame = DERIVATIONS[name](frame)
    return frame


def _stuck_run_labels(spec: FeedSpec, frame: pd.DataFrame, col: str) -> pd.Series:
    """Per row, the zero or stuck run it belongs to, named in local hours (None for a plausible value).

    See :mod:`griddesk.quality.exogenous_plausibility`; the frame is sorted by series and time already.
    """
    if spec.day_timezone == MARKET_TZ:
        from griddesk.markets import get_market

        tz = get_market(str(frame[spec.scope_column].iloc[0])).timezone
    else:
        tz = spec.day_timezone
    labels = pd.Series(None, index=frame.index, dtype=object)
    groups = frame.groupby(spec.series_column, sort=False) if spec.series_column else [(col, frame)]
    for series, rows in groups:
        if spec.interval_minutes == DATA_MTU or spec.interval_minutes is None:
            mtu = float(rows["resolution_minutes"].mode().iloc[0])
        else:
            mtu = float(spec.interval_minutes)
        values = rows[col].astype(float).to_numpy()
        mask = suspect_mask(values, mtu)
        if mask.any():
            named = describe_suspect_runs(str(series), rows[spec.time_column], values, mask, tz, mtu)
            labels.loc[rows.index] = named
    return labels


# --------------------------------------------------------------------------- reading the batches

_ROWS_SQL = """
with newest as (
    select distinct on (source_key, window_start_utc, window_end_utc) batch_id, source_key
    from raw.feed_batches
    where feed = %(feed)s and source_key = any(%(sources)s)
      and window_start_utc < %(end)s and window_end_utc > %(start)s
    order by source_key, window_start_utc, window_end_utc, version desc
)
select newest.source_key as dq_source_key, t.*
from {table} as t
join newest on t.batch_id = newest.batch_id
where {day_filter}
"""


_DIRECT_SQL = """
select t.{scope} as dq_source_key, t.*
from {table} as t
where t.{scope} = any(%(sources)s) and {day_filter}
"""


def _identifier(name: str) -> sql.Composable:
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(p.replace("_", "").isalnum() for p in parts):
        raise ValueError(f"not a plain table or column name: {name!r}")
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


def expected_series_count(conn, spec: FeedSpec, present: int) -> int:
    """How many series a batch must hold: the declared list, the declared query, or one."""
    if spec.expected_series:
        return len(spec.expected_series)
    if spec.expected_series_query:
        with conn.cursor() as cur:
            cur.execute(spec.expected_series_query)
            return int(cur.fetchone()[0])
    return 1 if spec.series_column is None else max(present, 1)


def fetch_feed_frames(
    conn, spec: FeedSpec, scope_days: Sequence[tuple[str, date]]
) -> dict[tuple[str, date], pd.DataFrame]:
    """The newest rows of each (source key, local day) of ``spec``, in one query; an empty frame where none exist."""
    if not scope_days:
        return {}
    days = sorted({d for _, d in scope_days})
    # The widest UTC span any scope's local day can have (time zones differ per market).
    start = local_day_bounds_utc(days[0], "Etc/GMT-14")[0]
    end = local_day_bounds_utc(days[-1], "Etc/GMT+12")[1]
    col = _identifier(spec.day_column)
    if spec.day_is_date:
        day_filter = sql.SQL("t.{c} between %(first_day)s and %(last_day)s").format(c=col)
    else:
        day_filter = sql.SQL("t.{c} >= %(start)s and t.{c} < %(end)s").format(c=col)
    if spec.only_where:  # a boolean column: only its true rows belong to the dataset (e.g. native resolution)
        day_filter = sql.SQL("{f} and t.{w}").format(f=day_filter, w=_identifier(spec.only_where))
    if spec.scope_column:
        query = sql.SQL(_DIRECT_SQL).format(
            scope=_identifier(spec.scope_column), table=_identifier(spec.table), day_filter=day_filter
        )
    else:
        query = sql.SQL(_ROWS_SQL).format(table=_identifier(spec.table), day_filter=day_filter)
    params = {
        "feed": spec.feed,
        "sources": sorted({s for s, _ in scope_days}),
        "start": start,
        "end": end,
        "first_day": days[0],
        "last_day": days[-1],
    }
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [d.name for d in cur.description]
        data = pd.DataFrame(cur.fetchall(), columns=columns)
    for c in columns:
        if c.endswith("_utc"):
            data[c] = pd.to_datetime(data[c], utc=True)
    if spec.newest_by and not data.empty:
        # Newest version of every key (e.g. series and MTU), as the point-in-time layer would show it.
        data = data.sort_values("version").drop_duplicates(["dq_source_key", *spec.newest_by], keep="last")
    if spec.day_is_date:
        data["dq_day"] = data[spec.day_column]
    elif data.empty:
        data["dq_day"] = pd.Series(dtype=object)
    else:
        data["dq_day"] = [
            ts.tz_convert(day_timezone(spec, scope)).date()
            for ts, scope in zip(data[spec.day_column], data["dq_source_key"], strict=True)
        ]
    frames = {}
    grouped = dict(iter(data.groupby(["dq_source_key", "dq_day"], sort=False))) if not data.empty else {}
    for scope, day in scope_days:
        rows = grouped.get((scope, day), data.iloc[0:0])
        drop = [c for c in ("dq_source_key", "dq_day", "batch_id") if c in rows.columns]
        frames[(scope, day)] = rows.drop(columns=drop).reset_index(drop=True)
    return frames


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class FeedsRun:
    """The outcome of one feeds-wide run: results per batch and where the time went."""

    results: tuple[MarketDayResult, ...]
    timings_s: Mapping[str, float]

    def by_feed(self, suite: str) -> list[MarketDayResult]:
        return [r for r in self.results if r.suite_name == suite]


def validate_feeds(
    gate: QualityGate,
    conn,
    scopes: Mapping[str, Iterable[tuple[str, date]]],
    as_of_utc: datetime,
    run_id: str,
    specs: Mapping[str, FeedSpec] | None = None,
) -> FeedsRun:
    """Validate every feed's (source key, day) batches in the one GX context of ``gate``.

    Args:
        gate: the process's gate (``default_gate()``): GX is imported and the context loaded once.
        conn: a warehouse connection (read only here).
        scopes: feed -> (source key, local delivery day) pairs to validate; a pair with no rows is validated
            too (and fails completeness), so a dead feed is caught.
        as_of_utc: the validation clock (tz-aware).
        run_id: names the GX runs and the stored results.

    Raises:
        KeyError: a feed that ``feeds.yml`` does not declare.
    """
    specs = specs or load_feed_specs()
    timings: dict[str, float] = {}
    results: list[MarketDayResult] = []
    for feed, pairs in scopes.items():
        spec = specs[feed]
        pairs = list(dict.fromkeys(pairs))
        started = time.perf_counter()
        frames = fetch_feed_frames(conn, spec, pairs)
        batches = []
        for (scope, day), frame in frames.items():
            present = frame[spec.series_column].nunique() if spec.series_column and not frame.empty else 0
            n_series = expected_series_count(conn, spec, present)
            params = feed_parameters(
                spec,
                day,
                as_of_utc,
                n_series,
                tz_name=day_timezone(spec, scope),
                interval_minutes=batch_interval_minutes(spec, frame),
                scope=scope,
            )
            batches.append(Batch(scope, day, derive_columns(spec, frame), params))
        prepared = time.perf_counter()
        results += gate.validate_batches(spec.validation_definition, batches, run_id)
        timings[f"{feed}.prepare"] = prepared - started
        timings[f"{feed}.gx"] = time.perf_counter() - prepared
    return FeedsRun(tuple(results), timings)


def scope_days_for_run(
    specs: Mapping[str, FeedSpec], sources: Mapping[str, Sequence[str]], run_date: date
) -> dict[str, list[tuple[str, date]]]:
    """For the daily run on ``run_date``: each feed's source keys on its SLA day (run day + ``day_offset``)."""
    return {
        feed: [(s, run_date + timedelta(days=specs[feed].sla.day_offset)) for s in keys]
        for feed, keys in sources.items()
        if keys
    }


__all__ = [
    "DERIVATIONS",
    "DERIVED_COLUMNS",
    "FEEDS_FILE",
    "FeedSla",
    "FeedSpec",
    "FeedsRun",
    "abs_robust_z",
    "derive_columns",
    "expected_series_count",
    "feed_parameters",
    "fetch_feed_frames",
    "flat_run_lengths",
    "intervals_in_day",
    "load_feed_specs",
    "local_day_bounds_utc",
    "parse_feed_specs",
    "scope_days_for_run",
    "validate_feeds",
]
