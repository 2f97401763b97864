"""Run the Great Expectations gate on day-ahead prices, one (market, local delivery day) batch at a time.

The GX context, suite and validation definition are files in ``expectations/`` (see its README). This
module only builds the batches and the per-batch suite parameters:

- one SQL query reads every stored version of every requested market-day (the cheapest correct way: one
  round trip; GX then validates small in-memory frames instead of issuing ~10 queries per batch);
- ``is_latest_version`` marks the rows of the day's highest stored version. A version is a whole-day
  publication, so a partial revision fails completeness even though ``griddesk.warehouse.pit.prices_as_of``
  (latest per MTU) would fill its gaps from the older version. The as-of filter is *not* applied, so a
  version published after ``as_of_utc`` is seen and flagged by the freshness expectation;
- parameters come from ``griddesk.markets``: the DST-aware MTU count, the price bounds valid on the day,
  the day's UTC bounds and the publication window;
- one derived column, ``dq_price_shift_score``: how implausible the latest version's price level is given the
  day's exogenous forecasts, calendar and the 56 days before it (``griddesk.quality.price_plausibility``; the
  history is read point-in-time as of the validation clock). NaN where there is no verdict.

Importing GX costs ~7 s, so ``QualityGate`` loads the context once, on first use, and is reused for all
market-days of a process (``default_gate()``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from psycopg2 import sql

from griddesk.markets import get_market, price_bounds_on
from griddesk.quality.price_plausibility import DEFAULT_CONFIG as PLAUSIBILITY
from griddesk.quality.price_plausibility import price_shift_scores
from griddesk.settings import PROJECT_ROOT
from griddesk.warehouse.db import connect
from griddesk.warehouse.deliveries import refusals_after_newest_load

log = logging.getLogger(__name__)

SUITE_NAME = "raw_day_ahead_prices"
VALIDATION_DEFINITION_NAME = "raw_day_ahead_prices_market_day"
DEFAULT_CONTEXT_DIR = PROJECT_ROOT / "expectations"
PRICES_RELATION = "raw.entsoe_day_ahead_prices"
SEVERITIES = ("critical", "warning")
#: Used when the suite's meta does not say (``meta.griddesk.publication_tolerance_minutes``).
DEFAULT_PUBLICATION_TOLERANCE = timedelta(minutes=30)
#: Unexpected values quoted in ``observed`` (GX's partial list is longer).
OBSERVED_EXAMPLES = 5

#: Columns of a batch frame, in order, with the pandas dtype each gets.
FRAME_DTYPES: dict[str, str] = {
    "market_code": "str",
    "delivery_date_local": "object",
    "delivery_start_utc": "datetime64[us, UTC]",
    "resolution_minutes": "Int64",
    "price_per_mwh": "float64",
    "version": "Int64",
    "published_at_utc": "datetime64[us, UTC]",
    "is_latest_version": "bool",
}
#: Derived column the suite checks (``price_level_plausible``); not read from the table.
SHIFT_SCORE_COLUMN = "dq_price_shift_score"
#: Derived column (``no_refused_publication``): the loader's reason for refusing the day's newest publication.
REFUSAL_COLUMN = "dq_refused_publication"

_FRAMES_SQL = """
with wanted as (
    select * from unnest(%(markets)s::text[], %(days)s::date[]) as w (market_code, delivery_date_local)
)
select
    p.market_code, p.delivery_date_local, p.delivery_start_utc, p.resolution_minutes,
    p.price_per_mwh, p.version, p.published_at_utc,
    p.version = max(p.version) over (partition by p.market_code, p.delivery_date_local) as is_latest_version
from {relation} as p
join wanted as w on p.market_code = w.market_code and p.delivery_date_local = w.delivery_date_local
order by p.market_code, p.delivery_date_local, p.delivery_start_utc, p.version
"""


@dataclass(frozen=True, order=True)
class MarketDay:
    """One batch: a market and a local delivery day."""

    market_code: str
    delivery_date_local: date


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation on one market-day, in words a trader can read.

    ``expectation_id`` is the suite's stable readable name (``meta.name``), not GX's UUID.
    ``observed`` and ``expected`` are short strings; timestamps are ISO 8601 in UTC.
    """

    expectation_id: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed: str
    expected: str


@dataclass(frozen=True)
class Batch:
    """One GX batch: a scope (market code or a feed's source key), a delivery day, its frame and $PARAMETERs."""

    scope: str
    day: date
    frame: pd.DataFrame = field(repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class MarketDayResult:
    """The gate's verdict for one (market, delivery day)."""

    suite_name: str
    market_code: str
    delivery_date_local: date
    validated_at_utc: datetime
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs_url: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        """Failed expectations, critical first."""
        bad = [o for o in self.outcomes if not o.success]
        return tuple(sorted(bad, key=lambda o: SEVERITIES.index(o.severity)))

    @property
    def failed_critical(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.failed if o.severity == "critical")

    @property
    def passed_critical(self) -> bool:
        """True when every critical expectation passed: the forecast and the orders may go ahead."""
        return not self.failed_critical

    @property
    def passed_all(self) -> bool:
        return not self.failed


# --------------------------------------------------------------------------- parameters (pure)


def normalise_market_days(market_days: Iterable[tuple[str, date] | MarketDay]) -> list[MarketDay]:
    """Validated, de-duplicated market-days in the given order.

    Raises:
        KeyError: an unknown market code.
        TypeError: a day that is not a ``datetime.date`` (a ``datetime`` is refused too: it hides a time zone).
    """
    seen: dict[MarketDay, None] = {}
    for item in market_days:
        code, day = (item.market_code, item.delivery_date_local) if isinstance(item, MarketDay) else item
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"delivery day for market {code!r} must be a datetime.date, got {day!r}")
        seen.setdefault(MarketDay(get_market(code).code, day), None)
    return list(seen)


def expectation_parameters(
    market_code: str,
    delivery_date_local: date,
    as_of_utc: datetime,
    resolution_minutes: int | None = None,
    publication_tolerance: timedelta = DEFAULT_PUBLICATION_TOLERANCE,
) -> dict[str, Any]:
    """The ``$PARAMETER`` values of the suite for one market-day.

    Args:
        market_code: a code of ``griddesk.markets.MARKETS``.
        delivery_date_local: the delivery day in the market's local time.
        as_of_utc: the validation's clock (tz-aware); no row may have been published after it.
        resolution_minutes: MTU length of the stored rows; None means the market's native MTU.
        publication_tolerance: how much earlier than scheduled a publication may be stamped.

    Returns:
        expected_mtu_count (DST-aware: 23/24/25 or 92/96/100), min/max_price_per_mwh (bounds valid on
        the day), delivery_day_start/end_utc ([start, end) of the local day), earliest_published_at_utc
        (scheduled publication minus the tolerance) and as_of_utc; timestamps as UTC ``pd.Timestamp``.

    Raises:
        ValueError: ``as_of_utc`` is naive, or the resolution does not divide the day.
        KeyError / LookupError: unknown market, or no price bounds on that day.
    """
    if as_of_utc.tzinfo is None or as_of_utc.utcoffset() is None:
        raise ValueError(f"as_of_utc must be timezone-aware, got naive {as_of_utc!r}")
    market = get_market(market_code)
    mtu_minutes = int(resolution_minutes or market.mtu_minutes)
    if mtu_minutes <= 0 or 60 % mtu_minutes:
        raise ValueError(f"resolution of {mtu_minutes} minutes for {market.code} {delivery_date_local} divides no hour")
    bounds = price_bounds_on(market.code, delivery_date_local)
    day_start_utc, day_end_utc = market.delivery_day_bounds_utc(delivery_date_local)
    return {
        "expected_mtu_count": market.mtus_in_day(delivery_date_local, mtu_minutes),
        "min_price_per_mwh": float(bounds.min_price_per_mwh),
        "max_price_per_mwh": float(bounds.max_price_per_mwh),
        "delivery_day_start_utc": pd.Timestamp(day_start_utc).tz_convert("UTC"),
        "delivery_day_end_utc": pd.Timestamp(day_end_utc).tz_convert("UTC"),
        "earliest_published_at_utc": pd.Timestamp(
            market.price_publication_utc(delivery_date_local) - publication_tolerance
        ).tz_convert("UTC"),
        "as_of_utc": pd.Timestamp(as_of_utc).tz_convert("UTC"),
        "max_price_shift_score": PLAUSIBILITY.max_score,
    }


def _with_derived_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """The derived columns the suite checks, as 'no verdict' / 'nothing known' where the caller did not add them."""
    if SHIFT_SCORE_COLUMN not in frame:
        frame = frame.assign(**{SHIFT_SCORE_COLUMN: np.nan})
    if REFUSAL_COLUMN not in frame:
        frame = frame.assign(**{REFUSAL_COLUMN: pd.Series(None, index=frame.index, dtype=object)})
    return frame


def batch_resolution_minutes(frame: pd.DataFrame) -> int | None:
    """MTU length of the latest rows (the most common one if mixed), or None for an empty batch."""
    latest = frame.loc[frame["is_latest_version"], "resolution_minutes"].dropna()
    return None if latest.empty else int(latest.mode().iloc[0])


# --------------------------------------------------------------------------- reading the batches


def empty_frame() -> pd.DataFrame:
    """A batch frame with no rows but every column typed (GX needs the columns even with no data)."""
    frame = pd.DataFrame({col: pd.Series(dtype=dtype) for col, dtype in FRAME_DTYPES.items()})
    return frame.assign(**{SHIFT_SCORE_COLUMN: pd.Series(dtype="float64"), REFUSAL_COLUMN: pd.Series(dtype=object)})


def with_refusals(conn, frames: Mapping[MarketDay, pd.DataFrame]) -> dict[MarketDay, pd.DataFrame]:
    """Each frame with ``dq_refused_publication``: on its first latest row, the loader's reason for refusing a
    publication of the day after its newest stored version was loaded (``raw.entsoe_delivery_refusals``); else
    None. A refused correction thus blocks the day instead of leaving the older version to trade silently."""
    reasons: dict[MarketDay, str] = {}
    if frames:
        rows = refusals_after_newest_load(
            conn, [md.market_code for md in frames], [md.delivery_date_local for md in frames]
        )
        for code, day, reason in rows:
            reasons[MarketDay(code, day)] = reason  # ordered by time: the newest wins
    out = {}
    for md, frame in frames.items():
        column = pd.Series(None, index=frame.index, dtype=object)
        latest = frame.index[frame["is_latest_version"]] if "is_latest_version" in frame else frame.index
        if md in reasons and len(latest):
            column.loc[latest[0]] = reasons[md]
        out[md] = frame.assign(**{REFUSAL_COLUMN: column})
    return out


def with_price_shift_scores(
    conn, frames: Mapping[MarketDay, pd.DataFrame], as_of_utc: datetime
) -> dict[MarketDay, pd.DataFrame]:
    """Each frame with ``dq_price_shift_score`` on its latest rows (NaN elsewhere and without a verdict).

    The day's own prices are its latest stored version (what the other checks validate); the history before it
    and the exogenous forecasts are the latest versions published by ``as_of_utc``
    (:mod:`griddesk.warehouse.pit`).
    """
    from griddesk.warehouse.pit import exogenous_as_of, prices_as_of

    out = {}
    for md, frame in frames.items():
        frame = frame.assign(**{SHIFT_SCORE_COLUMN: np.nan})
        latest = frame[frame["is_latest_version"]]
        if not latest.empty:
            market = get_market(md.market_code)
            day = md.delivery_date_local
            start = market.delivery_day_bounds_utc(day - timedelta(days=PLAUSIBILITY.window_days))[0]
            day_start, day_end = market.delivery_day_bounds_utc(day)
            history = prices_as_of(conn, market.code, start, day_start, as_of_utc)
            prices = pd.concat(
                [history[["delivery_start_utc", "price_per_mwh"]], latest[["delivery_start_utc", "price_per_mwh"]]],
                ignore_index=True,
            )
            exogenous = exogenous_as_of(conn, market.code, start, day_end, as_of_utc)
            score = price_shift_scores(prices, exogenous, market, [day])["shift_score"].iloc[0]
            frame.loc[frame["is_latest_version"], SHIFT_SCORE_COLUMN] = round(float(score), 2)
        out[md] = frame
    return out


def _relation_sql(relation: str) -> sql.Composable:
    parts = relation.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"relation must be 'table' or 'schema.table', got {relation!r}")
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


def fetch_market_day_frames(
    conn, market_days: Sequence[MarketDay], relation: str = PRICES_RELATION
) -> dict[MarketDay, pd.DataFrame]:
    """Every stored version of each market-day's rows, in one query; an empty frame where none exist.

    ``relation`` must have the columns of ``raw.entsoe_day_ahead_prices`` used here (a staging model with
    the same names works). Timestamps come back as UTC; rows are ordered by delivery start and version.
    """
    frames = {md: empty_frame() for md in market_days}
    if not market_days:
        return frames
    query = sql.SQL(_FRAMES_SQL).format(relation=_relation_sql(relation))
    params = {"markets": [md.market_code for md in market_days], "days": [md.delivery_date_local for md in market_days]}
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    if not rows:
        return frames
    data = pd.DataFrame(rows, columns=list(FRAME_DTYPES))
    for col in ("delivery_start_utc", "published_at_utc"):
        data[col] = pd.to_datetime(data[col], utc=True)
    data = data.astype(FRAME_DTYPES)
    for (code, day), group in data.groupby(["market_code", "delivery_date_local"], sort=False):
        frames[MarketDay(code, day)] = group.reset_index(drop=True)
    return frames


# --------------------------------------------------------------------------- GX results -> outcomes


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        return (ts.tz_convert("UTC") if ts.tzinfo else ts).isoformat()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + ")"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return str(value)


def describe_expected(expectation_type: str, kwargs: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    """What an expectation asks for, with its parameters filled in, e.g. ``>= -500.0 and <= 3000.0``."""
    kw = {k: _resolve(v, parameters) for k, v in kwargs.items()}
    if expectation_type == "expect_table_row_count_to_equal":
        text = f"{kw['value']} rows"
    elif "min_value" in kw or "max_value" in kw:
        terms = []
        if kw.get("min_value") is not None:
            terms.append((">" if kw.get("strict_min") else ">=") + " " + _fmt(kw["min_value"]))
        if kw.get("max_value") is not None:
            terms.append(("<" if kw.get("strict_max") else "<=") + " " + _fmt(kw["max_value"]))
        subject = "distinct values " if "unique_value_count" in expectation_type else ""
        text = subject + " and ".join(terms)
    elif expectation_type == "expect_column_values_to_not_be_null":
        text = "not null"
    elif expectation_type == "expect_column_values_to_be_null":
        text = "null"
    elif expectation_type == "expect_compound_columns_to_be_unique":
        text = "unique (" + ", ".join(kw["column_list"]) + ")"
    else:
        rest = {k: v for k, v in kw.items() if k not in ("column", "row_condition", "condition_parser")}
        text = json.dumps(rest, default=_fmt, sort_keys=True)
    return text + (" [latest version]" if kw.get("row_condition") else "")


def describe_observed(result: Mapping[str, Any], exception_info: Mapping[str, Any] | None = None) -> str:
    """What GX saw: the observed value, or ``k of n rows unexpected: examples``, or the error it raised."""
    if exception_info and exception_info.get("raised_exception"):
        return f"error: {exception_info.get('exception_message')}"
    if "observed_value" in result:
        return _fmt(result["observed_value"])
    if "unexpected_count" in result:
        n_bad, n_all = result.get("unexpected_count") or 0, result.get("element_count") or 0
        if not n_bad:
            return f"0 of {n_all} rows unexpected"
        listed = list(result.get("partial_unexpected_list") or [])
        # A per-day value repeated on every row (a score, a named run of hours) is quoted once.
        distinct = list(dict.fromkeys(map(_fmt, listed)))
        examples = distinct[:OBSERVED_EXAMPLES]
        more = ", …" if n_bad > len(listed) or len(distinct) > len(examples) else ""
        return f"{n_bad} of {n_all} rows unexpected: " + ", ".join(examples) + more
    return json.dumps(dict(result), default=_fmt, sort_keys=True)


def _exception_info(evr) -> dict[str, Any] | None:
    info = evr.exception_info or {}
    # GX keys exception_info by metric id when several metrics failed; keep the first error.
    if info and "raised_exception" not in info:
        info = next((v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")), {})
    return info or None


def outcomes_from_gx(
    suite_result, parameters: Mapping[str, Any], order: Sequence[str] = ()
) -> tuple[ExpectationOutcome, ...]:
    """Turn a GX ``ExpectationSuiteValidationResult`` into outcomes, ordered by the names in ``order``.

    GX returns results grouped by domain, not in suite order; names missing from ``order`` go last.
    """
    outcomes = []
    for evr in suite_result.results:
        cfg = evr.expectation_config
        info = _exception_info(evr)
        outcomes.append(
            ExpectationOutcome(
                expectation_id=cfg.meta["name"],
                expectation_type=cfg.type,
                column=cfg.kwargs.get("column"),
                severity=cfg.meta["severity"],
                success=bool(evr.success) and not (info and info.get("raised_exception")),
                observed=describe_observed(evr.result or {}, info),
                expected=describe_expected(cfg.type, cfg.kwargs, parameters),
            )
        )
    rank = {name: i for i, name in enumerate(order)}
    return tuple(sorted(outcomes, key=lambda o: rank.get(o.expectation_id, len(rank))))


def check_suite_contract(suite) -> None:
    """Every expectation has a unique ``meta.name`` and a ``meta.severity`` equal to GX's ``severity``.

    Raises:
        ValueError: naming the expectation and what is missing or inconsistent.
    """
    names: set[str] = set()
    for exp in suite.expectations:
        meta = exp.meta or {}
        name, severity = meta.get("name"), meta.get("severity")
        label = f"{suite.name}: {exp.expectation_type} ({exp.id})"
        if not name or name in names:
            raise ValueError(f"{label} needs a unique meta.name, got {name!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"{label} needs meta.severity in {SEVERITIES}, got {severity!r}")
        native = getattr(exp.severity, "value", exp.severity)
        if native != severity:
            raise ValueError(f"{label}: meta.severity {severity!r} disagrees with severity {native!r}")
        names.add(name)


# --------------------------------------------------------------------------- the gate


class QualityGate:
    """The GX context loaded once (lazily) and reused for every validation in this process.

    Args:
        context_root_dir: the GX file context (``expectations/`` of the repo by default). GX writes
            validation results (and Data Docs) under its ``uncommitted/``.
        build_data_docs: also build the local Data Docs pages of each run and return their URLs
            (``MarketDayResult.data_docs_url``); costs extra time per call.
    """

    def __init__(self, context_root_dir: Path | str | None = None, *, build_data_docs: bool = False) -> None:
        self.context_root_dir = Path(context_root_dir or DEFAULT_CONTEXT_DIR)
        if not (self.context_root_dir / "great_expectations.yml").is_file():
            raise FileNotFoundError(f"no GX context at {self.context_root_dir} (great_expectations.yml missing)")
        self.build_data_docs = build_data_docs
        self._context = None
        self._validation_definition = None
        self._definitions: dict[str, Any] = {}
        self.timings_s: dict[str, float] = {}

    @property
    def context(self):
        """The GX FileDataContext; the first access imports GX (~7 s) and checks the suite."""
        if self._context is None:
            started = time.perf_counter()
            gx_logger = logging.getLogger("great_expectations")
            if gx_logger.level == logging.NOTSET:
                # GX logs every public API it registers at INFO on import: hundreds of lines per task log.
                gx_logger.setLevel(logging.WARNING)
            import great_expectations as gx  # lazy: importing GX costs ~7 s

            context = gx.get_context(mode="file", context_root_dir=str(self.context_root_dir))
            validation_definition = context.validation_definitions.get(VALIDATION_DEFINITION_NAME)
            check_suite_contract(validation_definition.suite)
            self._context, self._validation_definition = context, validation_definition
            self._definitions[VALIDATION_DEFINITION_NAME] = validation_definition
            self.timings_s["context_load"] = time.perf_counter() - started
            log.info("GX context %s loaded in %.1f s", self.context_root_dir, self.timings_s["context_load"])
        return self._context

    @property
    def suite(self):
        _ = self.context
        return self._validation_definition.suite

    def publication_tolerance(self) -> timedelta:
        minutes = (self.suite.meta or {}).get("griddesk", {}).get("publication_tolerance_minutes")
        return DEFAULT_PUBLICATION_TOLERANCE if minutes is None else timedelta(minutes=float(minutes))

    def validate_prices(
        self,
        warehouse_url: str,
        market_day_list: Iterable[tuple[str, date] | MarketDay],
        as_of_utc: datetime,
        run_id: str,
        *,
        relation: str = PRICES_RELATION,
    ) -> list[MarketDayResult]:
        """Validate day-ahead prices for every given (market, local delivery day), in one GX run.

        Args:
            warehouse_url: libpq URL of the warehouse (unix-socket form accepted).
            market_day_list: (market_code, delivery date) pairs; duplicates are validated once.
            as_of_utc: the validation's clock (tz-aware): rows published later count as from the future.
            run_id: the caller's run (e.g. the Airflow run id); names the GX run and the stored results.
            relation: table or view to read (default ``raw.entsoe_day_ahead_prices``; a staging model
                with the same column names works too).

        Returns:
            One ``MarketDayResult`` per market-day, in the given order.

        Raises:
            ValueError: naive ``as_of_utc``, empty ``run_id`` or a malformed relation name.
            KeyError / TypeError: unknown market or a day that is not a date.
        """
        if as_of_utc.tzinfo is None or as_of_utc.utcoffset() is None:
            raise ValueError(f"as_of_utc must be timezone-aware, got naive {as_of_utc!r}")
        if not run_id:
            raise ValueError("run_id must be a non-empty string")
        market_days = normalise_market_days(market_day_list)
        started = time.perf_counter()
        with connect(warehouse_url) as conn:
            frames = fetch_market_day_frames(conn, market_days, relation)
            frames = with_refusals(conn, with_price_shift_scores(conn, frames, as_of_utc))
        self.timings_s["fetch"] = time.perf_counter() - started
        return self.validate_frames(frames, as_of_utc, run_id)

    def validate_frames(
        self, frames: Mapping[MarketDay, pd.DataFrame], as_of_utc: datetime, run_id: str
    ) -> list[MarketDayResult]:
        """Run the prices suite on prepared batch frames (columns of ``FRAME_DTYPES``), one GX validation each.

        A frame without ``dq_price_shift_score`` gets it as NaN: no plausibility verdict (it needs the warehouse);
        one without ``dq_refused_publication`` gets None (no refusal known).
        """
        tolerance = self.publication_tolerance()
        batches = [
            Batch(
                md.market_code,
                md.delivery_date_local,
                _with_derived_defaults(frame),
                expectation_parameters(
                    md.market_code, md.delivery_date_local, as_of_utc, batch_resolution_minutes(frame), tolerance
                ),
            )
            for md, frame in frames.items()
        ]
        return self.validate_batches(VALIDATION_DEFINITION_NAME, batches, run_id)

    def validation_definition(self, name: str):
        """A validation definition of the context, its suite checked by ``check_suite_contract`` (cached)."""
        _ = self.context  # imports GX and loads the context on first use (timed as context_load)
        if name not in self._definitions:
            definition = self._context.validation_definitions.get(name)
            check_suite_contract(definition.suite)
            self._definitions[name] = definition
        return self._definitions[name]

    def validate_batches(
        self, validation_definition_name: str, batches: Sequence[Batch], run_id: str
    ) -> list[MarketDayResult]:
        """Run one validation definition on in-memory batches, in this process's one GX context.

        Each batch is one (scope, day): a market or a feed's source key. Results keep the batches' order.
        """
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        validation_definition = self.validation_definition(validation_definition_name)
        suite_order = [e.meta["name"] for e in validation_definition.suite.expectations]
        started = time.perf_counter()
        results: list[MarketDayResult] = []
        result_ids = []
        for batch in batches:
            validated_at_utc = datetime.now(UTC)
            gx_run_id = RunIdentifier(
                run_name=f"{run_id}__{batch.scope}__{batch.day.isoformat()}", run_time=validated_at_utc
            )
            suite_result = validation_definition.run(
                batch_parameters={"dataframe": batch.frame},
                expectation_parameters=dict(batch.parameters),
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
                run_id=gx_run_id,
            )
            result_ids.append(
                ValidationResultIdentifier(
                    expectation_suite_identifier=ExpectationSuiteIdentifier(name=validation_definition.suite.name),
                    run_id=gx_run_id,
                    batch_identifier=suite_result.batch_id,
                )
            )
            results.append(
                MarketDayResult(
                    suite_name=validation_definition.suite.name,
                    market_code=batch.scope,
                    delivery_date_local=batch.day,
                    validated_at_utc=validated_at_utc,
                    outcomes=outcomes_from_gx(suite_result, batch.parameters, suite_order),
                    parameters=batch.parameters,
                )
            )
        self.timings_s["validate"] = time.perf_counter() - started
        if self.build_data_docs and results:
            results = self._with_data_docs(results, result_ids)
        log.info(
            "%s: validated %d batches in %.2f s (%s)",
            validation_definition.suite.name,
            len(results),
            self.timings_s["validate"],
            ", ".join(
                f"{r.market_code} {r.delivery_date_local}: {'ok' if r.passed_critical else 'FAIL'}" for r in results
            ),
        )
        return results

    def _with_data_docs(self, results: list[MarketDayResult], result_ids: list) -> list[MarketDayResult]:
        from dataclasses import replace

        started = time.perf_counter()
        self.context.build_data_docs(resource_identifiers=result_ids)
        out = []
        for result, rid in zip(results, result_ids, strict=True):
            urls = self.context.get_docs_sites_urls(resource_identifier=rid, only_if_exists=False)
            out.append(replace(result, data_docs_url=urls[0]["site_url"] if urls else None))
        self.timings_s["data_docs"] = time.perf_counter() - started
        return out


@lru_cache(maxsize=1)
def default_gate() -> QualityGate:
    """One gate per process over the repository's ``expectations/`` context (Airflow tasks use this)."""
    return QualityGate()


__all__ = [
    "DEFAULT_CONTEXT_DIR",
    "Batch",
    "PRICES_RELATION",
    "SUITE_NAME",
    "ExpectationOutcome",
    "MarketDay",
    "MarketDayResult",
    "QualityGate",
    "check_suite_contract",
    "default_gate",
    "describe_expected",
    "describe_observed",
    "expectation_parameters",
    "fetch_market_day_frames",
    "with_price_shift_scores",
    "with_refusals",
    "normalise_market_days",
    "outcomes_from_gx",
]
