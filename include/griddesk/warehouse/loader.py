"""Point-in-time loader for ENTSO-E deliveries: COPY into ``raw``, one transaction per delivery day.

A delivery is one (feed, market, series, local delivery day). Loading the same content again adds
nothing; changed content becomes a new version with its own publication time. Nothing is updated in place.

What the loader refuses (:class:`LoadError`, naming the feed, market, day and what is wrong; nothing of the
delivery is stored): an empty day, missing columns, NaN or infinite values, prices outside the market's
harmonised price bounds valid on the day (``griddesk.markets.PRICE_BOUNDS``: a clearing price cannot lie
outside them, so such a value is corrupt, or the reference data is out of date and must be updated first),
quantities beyond :data:`MAX_ABS_QUANTITY_MW`, points outside the local delivery day or off its MTU grid,
duplicated MTUs, more than one resolution in a day, an unknown resolution, and a point count that is not the
day's (23/24/25 hourly, 92/96/100 quarter-hourly).

Publication times (what the point-in-time reads filter on): version 1 is public at the scheduled publication,
or at its document's ``createdDateTime`` when the document is a revision (``revisionNumber`` > 1). A new version
takes the publication the source announces (a revision's ``createdDateTime``) when that is later than the version
it replaces. Changed content without such an announcement (same revision, same creation time: a source that
silently changed what it serves) is stamped with the moment GridDesk first saw it (``extracted_at_utc``), and
refused if even that is not later than the version it would replace. Content equal to an older stored version,
announced no later than the newest one, is an earlier view of the same history (a rerun with an older clock)
and adds nothing. So no two versions of a delivery share a publication time, and every cut-off sees exactly
one of them.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from griddesk.markets import get_market, price_bounds_on
from griddesk.redaction import redact_text, redact_url
from griddesk.warehouse.pit import content_version, skip_commit_wait, versioned_write

log = logging.getLogger(__name__)

PRICE_FEED = "day_ahead_prices"
EXOGENOUS_FEED = "exogenous_forecasts"

_PRICE_COLUMNS = [
    "delivery_id",
    "market_code",
    "delivery_date_local",
    "delivery_start_utc",
    "resolution_minutes",
    "price_per_mwh",
    "currency",
    "is_imputed",
    "version",
    "published_at_utc",
]
_EXOGENOUS_COLUMNS = [
    "delivery_id",
    "market_code",
    "series_code",
    "document_type",
    "domain_eic",
    "delivery_date_local",
    "delivery_start_utc",
    "resolution_minutes",
    "quantity_mw",
    "is_imputed",
    "version",
    "published_at_utc",
]


#: Resolutions the loader stores (ENTSO-E's PT15M, PT30M and PT60M).
RESOLUTIONS_MINUTES = (15, 30, 60)
#: No grid's load or generation forecast comes near this (all of Europe peaks around 0.6 TW): a unit error.
MAX_ABS_QUANTITY_MW = 1_000_000.0
_SHOWN = 5


_VERSIONS_SQL = """
select version, content_sha256, published_at_utc from raw.entsoe_deliveries
where feed=%s and market_code=%s and series_code=%s and delivery_date_local=%s
order by version desc
"""


class LoadError(ValueError):
    """A delivery failed validation; nothing of it was stored."""


@dataclass(frozen=True)
class DeliveryMeta:
    """Provenance of one delivery, stored in ``raw.entsoe_deliveries``."""

    feed: str
    market_code: str
    series_code: str
    delivery_date_local: date
    scheduled_publication_utc: datetime
    extracted_at_utc: datetime
    source_url: str
    document_mrid: str | None = None
    revision_number: int | None = None
    document_created_utc: datetime | None = None
    # constant attributes of exogenous rows
    currency: str | None = None
    document_type: str | None = None
    domain_eic: str | None = None


@dataclass(frozen=True)
class LoadOutcome:
    meta: DeliveryMeta
    status: str  # inserted | unchanged
    version: int
    n_points: int


def _iso(ts) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").isoformat()


def content_sha256(points: pd.DataFrame) -> str:
    """Hash of what a delivery says: (start, resolution, value) rows, in time order, values to 1e-6."""
    canon = points.sort_values("delivery_start_utc")
    text = "".join(
        f"{_iso(ts)}|{int(res)}|{float(val):.6f}\n"
        for ts, res, val in zip(canon["delivery_start_utc"], canon["resolution_minutes"], canon["value"], strict=True)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _local_times(stamps: pd.Series | pd.DatetimeIndex, timezone: str, limit: int = _SHOWN) -> str:
    """A few MTU starts as local wall time for messages, e.g. ``20:00, 21:00 (+2 more)``."""
    index = pd.DatetimeIndex(stamps)
    shown = ", ".join(f"{t:%H:%M}" for t in index[:limit].tz_convert(timezone))
    return shown + (f" (+{len(index) - limit} more)" if len(index) > limit else "")


def validate_points(meta: DeliveryMeta, points: pd.DataFrame) -> None:
    """Reject a delivery that cannot be stored as it is, with a message naming what is wrong (see module doc).

    Raises:
        LoadError: naming the feed, market, series and local day, and which points are wrong.
    """
    where = f"{meta.feed}/{meta.market_code}/{meta.series_code} {meta.delivery_date_local}"
    if points.empty:
        raise LoadError(f"{where}: no points to load")
    missing = {"delivery_start_utc", "resolution_minutes", "value"} - set(points.columns)
    if missing:
        raise LoadError(f"{where}: missing columns {sorted(missing)}")
    if meta.feed == PRICE_FEED and not meta.currency:
        raise LoadError(f"{where}: price delivery without currency")
    market = get_market(meta.market_code)
    starts = pd.DatetimeIndex(points["delivery_start_utc"])
    if starts.tz is None:
        raise LoadError(f"{where}: delivery_start_utc must be timezone-aware (UTC)")
    dup = starts[starts.duplicated()]
    if len(dup):
        raise LoadError(f"{where}: duplicated delivery_start_utc {sorted(map(str, dup))[:_SHOWN]}")
    _validate_values(meta, where, starts, points["value"], market.timezone)
    _validate_grid(meta, where, starts, points["resolution_minutes"], market)


def _validate_values(meta: DeliveryMeta, where: str, starts: pd.DatetimeIndex, raw: pd.Series, tz: str) -> None:
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any():
        bad = starts[np.isnan(values)]
        raise LoadError(f"{where}: non-numeric or missing values at {sorted(map(str, bad))[:_SHOWN]}")
    infinite = ~np.isfinite(values)
    if infinite.any():
        raise LoadError(f"{where}: infinite values at {_local_times(starts[infinite], tz)} local")
    if meta.feed == PRICE_FEED:
        try:
            bounds = price_bounds_on(meta.market_code, meta.delivery_date_local)
        except LookupError:
            raise LoadError(
                f"{where}: no price bounds known for {meta.market_code} on {meta.delivery_date_local}; "
                "add them to griddesk.markets.PRICE_BOUNDS before loading prices of that day"
            ) from None
        lo, hi = bounds.min_price_per_mwh, bounds.max_price_per_mwh
        out = (values < lo) | (values > hi)
        if out.any():
            shown = ", ".join(f"{v:g}" for v in values[out][:_SHOWN])
            raise LoadError(
                f"{where}: {int(out.sum())} price(s) outside the market's bounds {lo:g}..{hi:g} "
                f"{meta.currency}/MWh valid that day ({shown} at {_local_times(starts[out], tz)} local); a clearing "
                "price cannot lie outside them (if the exchange changed its bounds, update griddesk.markets first)"
            )
    else:
        absurd = np.abs(values) > MAX_ABS_QUANTITY_MW
        if absurd.any():
            raise LoadError(
                f"{where}: {int(absurd.sum())} quantity value(s) beyond {MAX_ABS_QUANTITY_MW:,.0f} MW "
                f"({', '.join(f'{v:g}' for v in values[absurd][:_SHOWN])}): a unit error, not a forecast"
            )


def _validate_grid(meta: DeliveryMeta, where: str, starts: pd.DatetimeIndex, resolution: pd.Series, market) -> None:
    resolutions = sorted({int(r) for r in resolution})
    if len(resolutions) > 1:
        raise LoadError(f"{where}: mixed resolutions {', '.join(f'PT{r}M' for r in resolutions)} in one day")
    mtu = resolutions[0]
    if mtu not in RESOLUTIONS_MINUTES:
        raise LoadError(f"{where}: unsupported resolution PT{mtu}M; stored: PT15M, PT30M, PT60M")
    day_start, day_end = (pd.Timestamp(t) for t in market.delivery_day_bounds_utc(meta.delivery_date_local))
    outside = (starts < day_start) | (starts >= day_end)
    if outside.any():
        raise LoadError(
            f"{where}: {int(outside.sum())} point(s) outside the local delivery day "
            f"[{day_start.isoformat()}, {day_end.isoformat()}): {sorted(map(str, starts[outside]))[:_SHOWN]}"
        )
    off_grid = ((starts - day_start) % pd.Timedelta(minutes=mtu)) != pd.Timedelta(0)
    if off_grid.any():
        raise LoadError(
            f"{where}: point(s) off the PT{mtu}M grid of the day: {sorted(map(str, starts[off_grid]))[:_SHOWN]}"
        )
    expected = market.mtus_in_day(meta.delivery_date_local, mtu)
    if len(starts) != expected:
        grid = pd.date_range(day_start, day_end, freq=f"{mtu}min", inclusive="left")
        absent = grid.difference(starts)
        hours = int(round((day_end - day_start).total_seconds() / 3600))
        raise LoadError(
            f"{where}: {len(starts)} of the {expected} PT{mtu}M points of this {hours}-hour day; missing "
            f"{_local_times(absent, market.timezone)} local"
        )


def _imputed_flags(points: pd.DataFrame) -> list[bool]:
    """Flag the repeated autumn DST hour when both occurrences carry the same value.

    The epftoolbox data average the two autumn hours into one value, which the simulator repeats;
    ENTSO-E's XML has no flag for that, so equality of the two occurrences on a 25-hour day marks them.
    """
    if "local_wall_time" not in points:
        return [False] * len(points)
    seen: dict = {}
    for wall, value in zip(points["local_wall_time"], points["value"], strict=True):
        seen.setdefault(wall, []).append(float(value))
    repeated_same = {w for w, vals in seen.items() if len(vals) > 1 and len(set(vals)) == 1}
    return [w in repeated_same for w in points["local_wall_time"]]


def load_delivery(conn, meta: DeliveryMeta, points: pd.DataFrame) -> LoadOutcome:
    """Store one delivery in its own transaction: a new version if its content is new, else nothing.

    ``points`` has ``delivery_start_utc`` (tz-aware), ``resolution_minutes`` and ``value``; optional
    ``local_wall_time`` (naive local start) lets the loader flag the imputed autumn hour.
    The connection must not be in a transaction; on any error the transaction is rolled back whole.
    """
    validate_points(meta, points)
    points = points.sort_values("delivery_start_utc").reset_index(drop=True)
    digest = content_sha256(points)
    key = f"{meta.feed}|{meta.market_code}|{meta.series_code}|{meta.delivery_date_local}"
    versions = (meta.feed, meta.market_code, meta.series_code, meta.delivery_date_local)
    with versioned_write(conn, key, _VERSIONS_SQL, versions) as (cur, stored):
        decision = version_publication(meta, digest, stored)
        if isinstance(decision, int):
            return LoadOutcome(meta, "unchanged", decision, len(points))
        version, published = decision
        cur.execute(
            """insert into raw.entsoe_deliveries (feed, market_code, series_code, delivery_date_local, version,
                   content_sha256, n_points, document_mrid, revision_number, document_created_utc,
                   published_at_utc, extracted_at_utc, source_url)
               values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) returning delivery_id""",
            (
                meta.feed,
                meta.market_code,
                meta.series_code,
                meta.delivery_date_local,
                version,
                digest,
                len(points),
                meta.document_mrid,
                meta.revision_number,
                meta.document_created_utc,
                published,
                meta.extracted_at_utc,
                meta.source_url,
            ),
        )
        delivery_id = cur.fetchone()[0]
        skip_commit_wait(cur)  # about 6 ms per day
        table, columns = (
            ("raw.entsoe_day_ahead_prices", _PRICE_COLUMNS)
            if meta.feed == PRICE_FEED
            else ("raw.entsoe_exogenous_forecasts", _EXOGENOUS_COLUMNS)
        )
        buf = io.StringIO(_csv_rows(meta, points, delivery_id, version, published))
        cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", buf)
    return LoadOutcome(meta, "inserted", version, len(points))


def record_refusal(conn, meta: DeliveryMeta, reason: str) -> None:
    """Store that a publication was refused (``raw.entsoe_delivery_refusals``), in its own transaction.

    The quality gate reads it: a market-day whose newest publication was refused is blocked, with the reason.
    """
    with conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.entsoe_delivery_refusals (feed, market_code, series_code, delivery_date_local, reason,
                   revision_number, document_created_utc, extracted_at_utc, source_url)
               values (%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
            (
                meta.feed,
                meta.market_code,
                meta.series_code,
                meta.delivery_date_local,
                redact_text(reason),
                meta.revision_number,
                meta.document_created_utc,
                meta.extracted_at_utc,
                redact_url(meta.source_url),
            ),
        )


def announced_publication_utc(meta: DeliveryMeta) -> datetime:
    """When the source says this content became public: the scheduled publication, or for a revision
    (``revisionNumber`` > 1) its document's ``createdDateTime`` when that is later."""
    published = meta.scheduled_publication_utc
    if (meta.revision_number or 1) > 1 and meta.document_created_utc is not None:
        published = max(published, meta.document_created_utc)
    return published


def version_publication(
    meta: DeliveryMeta, digest: str, stored: list[tuple[int, str, datetime]]
) -> int | tuple[int, datetime]:
    """What loading content ``digest`` means, given the stored (version, content_sha256, published_at_utc), newest
    first: the existing version number when it adds nothing, else the new (version, published_at_utc).

    Raises:
        LoadError: changed content the source does not announce, seen no later than the version it would replace.
    """
    announced = announced_publication_utc(meta)
    is_new, numbered = content_version([(v, d) for v, d, _ in stored], digest)
    if not is_new:
        return numbered
    if not stored:
        return numbered, announced
    latest_version, _, latest_published = stored[0]
    if announced <= latest_published:
        for version, older_digest, _ in stored[1:]:
            if older_digest == digest:
                return version  # an earlier view of the same history, e.g. a rerun with an older clock
    if announced > latest_published:
        return latest_version + 1, announced
    # Changed, but the source announces no later publication: stamp it when GridDesk first saw it.
    where = f"{meta.feed}/{meta.market_code}/{meta.series_code} {meta.delivery_date_local}"
    if meta.extracted_at_utc <= latest_published:
        raise LoadError(
            f"{where}: the content changed, but the document (revision {meta.revision_number}, created "
            f"{meta.document_created_utc}) announces no publication after version {latest_version} "
            f"({latest_published.isoformat()}) and it was extracted at {meta.extracted_at_utc.isoformat()}, no later "
            "either: storing it would rewrite what earlier cut-offs saw"
        )
    log.warning(
        "%s: content changed without a revision from the source (revision %s, created %s); stored as version %d "
        "public from its extraction at %s",
        where,
        meta.revision_number,
        meta.document_created_utc,
        latest_version + 1,
        meta.extracted_at_utc.isoformat(),
    )
    return latest_version + 1, meta.extracted_at_utc


def _csv_rows(meta: DeliveryMeta, points: pd.DataFrame, delivery_id: int, version: int, published: datetime) -> str:
    """The COPY payload, in the column order of ``_PRICE_COLUMNS`` / ``_EXOGENOUS_COLUMNS``."""
    day, pub = meta.delivery_date_local.isoformat(), published.isoformat()
    if meta.feed == PRICE_FEED:
        head = f"{delivery_id},{meta.market_code},{day},"
        tail = f",{meta.currency},{{imp}},{version},{pub}\n"
    else:
        head = f"{delivery_id},{meta.market_code},{meta.series_code},{meta.document_type},{meta.domain_eic},{day},"
        tail = f",{{imp}},{version},{pub}\n"
    lines = []
    for ts, res, val, imp in zip(
        points["delivery_start_utc"],
        points["resolution_minutes"],
        points["value"],
        _imputed_flags(points),
        strict=True,
    ):
        lines.append(f"{head}{_iso(ts)},{int(res)},{float(val)!r}{tail.format(imp='t' if imp else 'f')}")
    return "".join(lines)
