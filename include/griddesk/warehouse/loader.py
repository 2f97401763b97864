"""Point-in-time loader for ENTSO-E deliveries: COPY into ``raw``, one transaction per delivery day.

A delivery is one (feed, market, series, local delivery day). Loading the same content again adds
nothing; changed content becomes a new version with its own publication time. Nothing is updated in place.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

PRICE_FEED = "day_ahead_prices"
EXOGENOUS_FEED = "exogenous_forecasts"

_PRICE_COLUMNS = [
    "delivery_id", "market_code", "delivery_date_local", "delivery_start_utc", "resolution_minutes",
    "price_per_mwh", "currency", "is_imputed", "version", "published_at_utc",
]  # fmt: skip
_EXOGENOUS_COLUMNS = [
    "delivery_id", "market_code", "series_code", "document_type", "domain_eic", "delivery_date_local",
    "delivery_start_utc", "resolution_minutes", "quantity_mw", "is_imputed", "version", "published_at_utc",
]  # fmt: skip


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


def validate_points(meta: DeliveryMeta, points: pd.DataFrame) -> None:
    """Reject a delivery that cannot be stored as it is, with a message naming what is wrong."""
    where = f"{meta.feed}/{meta.market_code}/{meta.series_code} {meta.delivery_date_local}"
    if points.empty:
        raise LoadError(f"{where}: no points to load")
    missing = {"delivery_start_utc", "resolution_minutes", "value"} - set(points.columns)
    if missing:
        raise LoadError(f"{where}: missing columns {sorted(missing)}")
    dup = points["delivery_start_utc"][points["delivery_start_utc"].duplicated()]
    if not dup.empty:
        raise LoadError(f"{where}: duplicated delivery_start_utc {sorted(map(str, dup))[:5]}")
    values = pd.to_numeric(points["value"], errors="coerce")
    if values.isna().any():
        bad = points.loc[values.isna(), "delivery_start_utc"].astype(str).tolist()[:5]
        raise LoadError(f"{where}: non-numeric or missing values at {bad}")
    if meta.feed == PRICE_FEED and not meta.currency:
        raise LoadError(f"{where}: price delivery without currency")


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
    # One transaction: commit on success, rollback on any error.
    with conn, conn.cursor() as cur:
        # Serialise concurrent loads of the same delivery so versions cannot collide.
        cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        cur.execute(
            """select version, content_sha256 from raw.entsoe_deliveries
               where feed=%s and market_code=%s and series_code=%s and delivery_date_local=%s
               order by version desc limit 1""",
            (meta.feed, meta.market_code, meta.series_code, meta.delivery_date_local),
        )
        latest = cur.fetchone()
        if latest and latest[1] == digest:
            return LoadOutcome(meta, "unchanged", latest[0], len(points))
        version = 1 if latest is None else latest[0] + 1
        published = meta.scheduled_publication_utc
        if version > 1 and meta.document_created_utc is not None:
            # A correction cannot have been public before the document that carries it.
            published = max(published, meta.document_created_utc)
        cur.execute(
            """insert into raw.entsoe_deliveries (feed, market_code, series_code, delivery_date_local, version,
                   content_sha256, n_points, document_mrid, revision_number, document_created_utc,
                   published_at_utc, extracted_at_utc, source_url)
               values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) returning delivery_id""",
            (meta.feed, meta.market_code, meta.series_code, meta.delivery_date_local, version, digest,
             len(points), meta.document_mrid, meta.revision_number, meta.document_created_utc, published,
             meta.extracted_at_utc, meta.source_url),
        )  # fmt: skip
        delivery_id = cur.fetchone()[0]
        # Raw is re-extractable from the source, so a crash may lose the last commits but never
        # half a delivery: atomicity stays, only the fsync wait goes (about 6 ms per day).
        cur.execute("set local synchronous_commit to off")
        table, columns = (
            ("raw.entsoe_day_ahead_prices", _PRICE_COLUMNS)
            if meta.feed == PRICE_FEED
            else ("raw.entsoe_exogenous_forecasts", _EXOGENOUS_COLUMNS)
        )
        buf = io.StringIO(_csv_rows(meta, points, delivery_id, version, published))
        cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", buf)
    return LoadOutcome(meta, "inserted", version, len(points))


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
