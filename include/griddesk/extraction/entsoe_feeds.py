"""Extract the day-ahead price and exogenous forecast feeds of a market from the ENTSO-E API.

The same path serves the daily runs and the backfill: ``extract_feed`` requests a window (split into
requests of at most one year), parses each document, splits it by local delivery day and loads each
day in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from griddesk.entsoe.client import MAX_REQUEST_SPAN, EntsoeClient, entsoe_time
from griddesk.entsoe.parser import NoMatchingDataError, parse_document
from griddesk.markets import ExogenousSeries, Market
from griddesk.warehouse.loader import EXOGENOUS_FEED, PRICE_FEED, DeliveryMeta, LoadOutcome, load_delivery

log = logging.getLogger(__name__)


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

    Days the API has not published yet (as of ``client.sim_now``) are simply absent. Only complete days
    are loaded: a partial day would be a half-written delivery.
    """
    extracted_at = client.sim_now or datetime.now(tz=UTC)
    outcomes: list[LoadOutcome] = []
    for chunk_first, chunk_last in day_chunks(first_day, last_day):
        w_start = spec.market.delivery_day_bounds_utc(chunk_first)[0]
        w_end = spec.market.delivery_day_bounds_utc(chunk_last)[1]
        params = spec.request_params(w_start, w_end)
        try:
            doc = parse_document(client.get(params))
        except NoMatchingDataError:
            log.info("%s: no data published for %s .. %s", spec, w_start, w_end)
            continue
        for day, day_points in split_by_delivery_day(doc.points, spec.market).items():
            if not first_day <= day <= last_day:
                continue
            expected = spec.market.mtus_in_day(day, int(day_points["resolution_minutes"].iloc[0]))
            if len(day_points) != expected:
                log.warning("%s %s: %d of %d MTUs published; not loaded", spec, day, len(day_points), expected)
                continue
            meta = DeliveryMeta(
                feed=spec.feed,
                market_code=spec.market.code,
                series_code=spec.series_code,
                delivery_date_local=day,
                scheduled_publication_utc=spec.scheduled_publication_utc(day),
                extracted_at_utc=extracted_at,
                source_url=client.public_url(params),
                document_mrid=doc.mrid,
                revision_number=doc.revision_number,
                document_created_utc=doc.created_utc,
                currency=spec.market.currency if spec.feed == PRICE_FEED else None,
                document_type=spec.series.document_type if spec.series else None,
                domain_eic=spec.series.domain_eic if spec.series else None,
            )
            outcomes.append(load_delivery(conn, meta, day_points))
    return outcomes


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
    """Load the days of first..last that raw lacks, through ``extract_feed``; loaded days are skipped."""
    outcomes: list[LoadOutcome] = []
    for start, end in missing_ranges(loaded_days(conn, spec, first_day, last_day), first_day, last_day):
        outcomes += extract_feed(client, conn, spec, start, end)
    return outcomes
