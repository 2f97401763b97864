"""Extract the day-ahead price and exogenous forecast feeds of a market from the ENTSO-E API.

The same path serves the daily runs and the backfill: ``extract_feed`` requests a window (split into
requests of at most one year), parses each document, splits it by local delivery day and loads each
day in its own transaction.

A document carries one ``createdDateTime``, the latest publication among its days. When it is a revision
(``revisionNumber`` > 1) and spans several days, each day whose content is not stored yet is fetched again on
its own, so a correction is stamped with its own publication time, not a neighbour's.

A day the loader refuses (:class:`griddesk.warehouse.loader.LoadError`) stores nothing but the refusal
(``raw.entsoe_delivery_refusals``, which the quality gate reads); the other days of the request still load, and
the extraction then fails with :class:`ExtractionError` naming every refused day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from griddesk.entsoe.client import MAX_REQUEST_SPAN, EntsoeClient, entsoe_time
from griddesk.entsoe.parser import NoMatchingDataError, ParsedDocument
from griddesk.markets import ExogenousSeries, Market
from griddesk.warehouse.loader import (
    EXOGENOUS_FEED,
    PRICE_FEED,
    DeliveryMeta,
    LoadError,
    LoadOutcome,
    content_sha256,
    load_delivery,
    record_refusal,
)

log = logging.getLogger(__name__)


class ExtractionError(RuntimeError):
    """Some delivery days of an extraction were refused (nothing of them stored but the refusal).

    Attributes:
        errors: the loader's message for each refused day.
        outcomes: the days that did load (or were unchanged).
    """

    def __init__(self, spec: str, errors: list[str], outcomes: list[LoadOutcome]) -> None:
        self.errors, self.outcomes = errors, outcomes
        super().__init__(
            f"{spec}: {len(errors)} delivery day(s) refused and not stored ({len(outcomes)} other(s) loaded or "
            "unchanged): " + "; ".join(errors)
        )


@dataclass(frozen=True)
class FeedSpec:
    """One feed of one market: the day-ahead prices or one exogenous forecast series."""

    market: Market
    feed: str
    series: ExogenousSeries | None = None

    @property
    def series_code(self) -> str:
        return self.series.series_code if self.series else "price"

    def scheduled_publication_utc(self, delivery_date: date) -> datetime:
        if self.feed == PRICE_FEED:
            return self.market.price_publication_utc(delivery_date)
        return self.market.exogenous_publication_utc(delivery_date)

    def request_params(self, start_utc: datetime, end_utc: datetime) -> dict[str, str]:
        """ENTSO-E query parameters for this feed over [start, end) (UTC), without the token."""
        window = {"periodStart": entsoe_time(start_utc), "periodEnd": entsoe_time(end_utc)}
        if self.feed == PRICE_FEED:
            eic = self.market.bidding_zone_eic
            return {"documentType": "A44", "in_Domain": eic, "out_Domain": eic, **window}
        s = self.series
        assert s is not None
        params = {"documentType": s.document_type, "processType": s.process_type}
        # A65 (load) is queried by outBiddingZone_Domain; generation documents by in_Domain.
        params["outBiddingZone_Domain" if s.document_type == "A65" else "in_Domain"] = s.domain_eic
        if s.psr_type:
            params["psrType"] = s.psr_type
        return {**params, **window}

    def __str__(self) -> str:
        return f"{self.market.code}/{self.feed}/{self.series_code}"


def feeds_of(market: Market) -> list[FeedSpec]:
    """The price feed and both exogenous forecast feeds of ``market``."""
    return [FeedSpec(market, PRICE_FEED)] + [FeedSpec(market, EXOGENOUS_FEED, s) for s in market.exogenous]


#: Days per request: a year of local days can exceed 365 x 24 h across DST, so stay one day under.
MAX_DAYS_PER_REQUEST = MAX_REQUEST_SPAN.days - 1


def day_chunks(first_day: date, last_day: date, max_days: int = MAX_DAYS_PER_REQUEST) -> Iterator[tuple[date, date]]:
    """Split local delivery days first..last (inclusive) into runs of at most ``max_days`` days."""
    if last_day < first_day:
        raise ValueError(f"empty day range: {first_day} .. {last_day}")
    cur = first_day
    while cur <= last_day:
        end = min(cur + timedelta(days=max_days - 1), last_day)
        yield cur, end
        cur = end + timedelta(days=1)


def split_by_delivery_day(points: pd.DataFrame, market: Market) -> dict[date, pd.DataFrame]:
    """Group parsed points by the market's local delivery day; adds ``local_wall_time`` (naive local start)."""
    local = points["delivery_start_utc"].dt.tz_convert(market.timezone)
    points = points.assign(delivery_date_local=local.dt.date, local_wall_time=local.dt.tz_localize(None))
    return {day: frame for day, frame in points.groupby("delivery_date_local", sort=True)}


def extract_feed(client: EntsoeClient, conn, spec: FeedSpec, first_day: date, last_day: date) -> list[LoadOutcome]:
    """Extract ``spec`` for local delivery days ``first_day``..``last_day`` (inclusive) and load them.

    Days the API has not published yet (as of ``client.sim_now``) are simply absent; a day the document covers
    only in part (its time interval ends inside the day) is not published in full yet and is skipped.

    Raises:
        ExtractionError: after loading every acceptable day, when the loader refused some (listed).
        griddesk.entsoe.client.EntsoeHttpError, griddesk.entsoe.parser.EntsoeError: the request or its document
            failed; nothing of that request is stored.
    """
    extracted_at = client.sim_now or datetime.now(tz=UTC)
    outcomes: list[LoadOutcome] = []
    refused: list[str] = []
    for chunk_first, chunk_last in day_chunks(first_day, last_day):
        w_start = spec.market.delivery_day_bounds_utc(chunk_first)[0]
        w_end = spec.market.delivery_day_bounds_utc(chunk_last)[1]
        params = spec.request_params(w_start, w_end)
        try:
            doc = client.fetch_document(params)
        except NoMatchingDataError:
            log.info("%s: no data published for %s .. %s", spec, w_start, w_end)
            continue
        days = {d: p for d, p in split_by_delivery_day(doc.points, spec.market).items() if first_day <= d <= last_day}
        for day, (day_doc, day_points, day_params) in _per_day_documents(client, conn, spec, doc, days, params):
            day_start, day_end = spec.market.delivery_day_bounds_utc(day)
            if day_doc.period_start_utc > day_start or day_doc.period_end_utc < day_end:
                log.warning("%s %s: the document covers the day only in part; not loaded", spec, day)
                continue
            meta = DeliveryMeta(
                feed=spec.feed,
                market_code=spec.market.code,
                series_code=spec.series_code,
                delivery_date_local=day,
                scheduled_publication_utc=spec.scheduled_publication_utc(day),
                extracted_at_utc=extracted_at,
                source_url=client.public_url(day_params),
                document_mrid=day_doc.mrid,
                revision_number=day_doc.revision_number,
                document_created_utc=day_doc.created_utc,
                currency=spec.market.currency if spec.feed == PRICE_FEED else None,
                document_type=spec.series.document_type if spec.series else None,
                domain_eic=spec.series.domain_eic if spec.series else None,
            )
            try:
                outcomes.append(load_delivery(conn, meta, day_points))
            except LoadError as exc:
                log.error("%s", exc)
                record_refusal(conn, meta, str(exc))
                refused.append(str(exc))
    if refused:
        raise ExtractionError(str(spec), refused, outcomes)
    return outcomes


def _per_day_documents(client: EntsoeClient, conn, spec: FeedSpec, doc: ParsedDocument, days: dict, params: dict):
    """(day, document, points, request params) per day: the shared document, except for a multi-day revision
    document, whose new or changed days are fetched again one by one (each then carries its own createdDateTime)."""
    if (doc.revision_number or 1) <= 1 or len(days) <= 1:
        return [(day, (doc, points, params)) for day, points in days.items()]
    stored = _stored_digests(conn, spec, min(days), max(days))
    out = []
    for day, points in days.items():
        if content_sha256(points.sort_values("delivery_start_utc")) in stored.get(day, ()):
            out.append((day, (doc, points, params)))
            continue
        start, end = spec.market.delivery_day_bounds_utc(day)
        day_params = spec.request_params(start, end)
        day_doc = client.fetch_document(day_params)
        day_points = split_by_delivery_day(day_doc.points, spec.market).get(day, points.iloc[0:0])
        out.append((day, (day_doc, day_points, day_params)))
    return out


def _stored_digests(conn, spec: FeedSpec, first_day: date, last_day: date) -> dict[date, set[str]]:
    """Content hashes of every stored version per local delivery day of ``spec``."""
    with conn.cursor() as cur:
        cur.execute(
            """select delivery_date_local, content_sha256 from raw.entsoe_deliveries
               where feed=%s and market_code=%s and series_code=%s and delivery_date_local between %s and %s""",
            (spec.feed, spec.market.code, spec.series_code, first_day, last_day),
        )
        rows = cur.fetchall()
    conn.rollback()  # a read outside any load: leave no transaction open for load_delivery
    out: dict[date, set[str]] = {}
    for day, digest in rows:
        out.setdefault(day, set()).add(digest)
    return out


def loaded_days(conn, spec: FeedSpec, first_day: date, last_day: date) -> set[date]:
    """Local delivery days of ``spec`` already in raw (any version)."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct delivery_date_local from raw.entsoe_deliveries
               where feed=%s and market_code=%s and series_code=%s and delivery_date_local between %s and %s""",
            (spec.feed, spec.market.code, spec.series_code, first_day, last_day),
        )
        return {r[0] for r in cur.fetchall()}


def missing_ranges(days_present: set[date], first_day: date, last_day: date) -> list[tuple[date, date]]:
    """Contiguous [from, to] ranges of days in first..last that are not in ``days_present``."""
    ranges: list[tuple[date, date]] = []
    day, start = first_day, None
    while day <= last_day:
        if day not in days_present and start is None:
            start = day
        if day in days_present and start is not None:
            ranges.append((start, day - timedelta(days=1)))
            start = None
        day += timedelta(days=1)
    if start is not None:
        ranges.append((start, last_day))
    return ranges


def backfill_feed(client: EntsoeClient, conn, spec: FeedSpec, first_day: date, last_day: date) -> list[LoadOutcome]:
    """Load the days of first..last that raw lacks, through ``extract_feed``; loaded days are skipped.

    Raises:
        ExtractionError: after every range was tried, when the loader refused some days (listed).
    """
    outcomes: list[LoadOutcome] = []
    refused: list[str] = []
    for start, end in missing_ranges(loaded_days(conn, spec, first_day, last_day), first_day, last_day):
        try:
            outcomes += extract_feed(client, conn, spec, start, end)
        except ExtractionError as exc:
            outcomes += exc.outcomes
            refused += exc.errors
    if refused:
        raise ExtractionError(str(spec), refused, outcomes)
    return outcomes
