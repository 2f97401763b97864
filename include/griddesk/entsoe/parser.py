"""Parse ENTSO-E Transparency Platform XML documents into one row per delivery point.

Handles what the REST API returns for the feeds GridDesk uses:

- ``Publication_MarketDocument`` (namespaces ``publicationdocument:7:0`` and ``7:3``): A44 day-ahead prices,
  value element ``price.amount``.
- ``GL_MarketDocument`` (``generationloaddocument:3:0``): A65 load, A69 wind/solar forecast, A71 generation
  forecast, A74 wind/solar generation, A75 generation per type; value element ``quantity``.
- ``Acknowledgement_MarketDocument``: the API's error answer; "No matching data found" raises
  :class:`NoMatchingDataError`, any other reason :class:`EntsoeAcknowledgementError`.

Elements are matched on their local names, so any namespace version parses. All times in these documents are
UTC; the parser keeps them in UTC and knows nothing about market time zones (see ``griddesk.markets``).

Curve types:

- ``A01`` (sequential fixed size block): positions run 1..n without gaps. A Period may stop before the end of its
  timeInterval (a partial, still-running window); such a Period is *not* padded.
- ``A03`` (variable sized block): an omitted position repeats the previous value, up to the end of the Period's
  timeInterval; filled rows carry ``is_filled=True``.

Anything else malformed raises :class:`EntsoeParseError` naming the element and where it was found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from lxml import etree

__all__ = [
    "POINT_COLUMNS",
    "RESOLUTION_MINUTES",
    "SUPPORTED_DOCUMENT_TYPES",
    "EntsoeAcknowledgementError",
    "EntsoeError",
    "EntsoeParseError",
    "MalformedXmlError",
    "NoMatchingDataError",
    "ParsedDocument",
    "parse_document",
]


class EntsoeError(Exception):
    """Base class of everything this package raises."""


class EntsoeParseError(EntsoeError, ValueError):
    """The payload is not a well-formed, supported ENTSO-E document; the message names what was wrong."""


class MalformedXmlError(EntsoeParseError):
    """The body is empty or not well-formed XML: cut short or corrupted on the way, so worth fetching again."""


class EntsoeAcknowledgementError(EntsoeError):
    """The API answered with an ``Acknowledgement_MarketDocument`` instead of data.

    Attributes:
        reason_code: ``Reason/code`` of the acknowledgement (e.g. ``"999"``), or None when absent.
        reason_text: ``Reason/text`` (all Reasons joined with ``"; "``), or ``""`` when absent.
    """

    def __init__(self, reason_code: str | None, reason_text: str) -> None:
        self.reason_code = reason_code
        self.reason_text = reason_text
        super().__init__(f"ENTSO-E acknowledgement (reason code {reason_code}): {reason_text}")


class NoMatchingDataError(EntsoeAcknowledgementError):
    """ENTSO-E's "No matching data found" answer: the query was valid but there is nothing (yet) to return."""


RESOLUTION_MINUTES: dict[str, int] = {"PT15M": 15, "PT30M": 30, "PT60M": 60}

# document type -> (root element local name, value element local name)
SUPPORTED_DOCUMENT_TYPES: dict[str, tuple[str, str]] = {
    "A44": ("Publication_MarketDocument", "price.amount"),  # day-ahead prices
    "A65": ("GL_MarketDocument", "quantity"),  # system total load
    "A69": ("GL_MarketDocument", "quantity"),  # wind and solar forecast
    "A71": ("GL_MarketDocument", "quantity"),  # generation forecast
    "A74": ("GL_MarketDocument", "quantity"),  # wind and solar generation
    "A75": ("GL_MarketDocument", "quantity"),  # actual generation per production type
}

_ACKNOWLEDGEMENT = "Acknowledgement_MarketDocument"
_MARKET_DOCUMENTS = ("Publication_MarketDocument", "GL_MarketDocument")
_NO_MATCHING_DATA = "no matching data found"

POINT_COLUMNS: tuple[str, ...] = (
    "series_index",  # 1-based order of the TimeSeries in the document
    "classification_sequence",  # classificationSequence_AttributeInstanceComponent.position (A44), else <NA>
    "business_type",
    "psr_type",  # MktPSRType/psrType, None if absent
    "in_domain",  # in_Domain.mRID (A44)
    "out_domain",  # out_Domain.mRID (A44)
    "in_bidding_zone_domain",  # inBiddingZone_Domain.mRID (A69, A71, A74, A75)
    "out_bidding_zone_domain",  # outBiddingZone_Domain.mRID (A65)
    "domain_eic",  # the area the series describes: first present of the four domains above
    "currency",  # currency_Unit.name (A44), None for GL documents
    "measure_unit",  # price_Measure_Unit.name (A44: "MWH", i.e. per MWh) or quantity_Measure_Unit.name ("MAW" = MW)
    "curve_type",  # A01 or A03
    "resolution_minutes",
    "position",  # 1-based within the Period
    "delivery_start_utc",  # tz-aware UTC start of the MTU
    "value",  # price per MWh (A44) or quantity in MW (GL)
    "is_filled",  # True where an omitted A03 position repeated the previous value
)
_TEXT_COLUMNS = (
    "business_type",
    "psr_type",
    "in_domain",
    "out_domain",
    "in_bidding_zone_domain",
    "out_bidding_zone_domain",
    "domain_eic",
    "currency",
    "measure_unit",
    "curve_type",
)
_DOMAIN_ELEMENTS = {
    "in_domain": "in_Domain.mRID",
    "out_domain": "out_Domain.mRID",
    "in_bidding_zone_domain": "inBiddingZone_Domain.mRID",
    "out_bidding_zone_domain": "outBiddingZone_Domain.mRID",
}


@dataclass(frozen=True, eq=False)
class ParsedDocument:
    """A parsed market document: header metadata plus one row per delivery point.

    Attributes:
        root_name: local name of the root element, e.g. ``"GL_MarketDocument"``.
        namespace: XML namespace of the root element ("" if none), e.g. ``...:publicationdocument:7:3``.
        document_type: ``type``, e.g. ``"A44"``.
        mrid: document ``mRID``, None if absent (hand-trimmed headers exist).
        revision_number: ``revisionNumber``, None if absent.
        created_utc: ``createdDateTime`` (tz-aware UTC).
        process_type: ``process.processType`` (e.g. ``"A01"`` day ahead, ``"A16"`` realised), None if absent.
        period_start_utc: start of the document's time interval (tz-aware UTC).
        period_end_utc: end (exclusive) of the document's time interval (tz-aware UTC).
        points: DataFrame with :data:`POINT_COLUMNS`, in document order (series, period, position).
    """

    root_name: str
    namespace: str
    document_type: str
    mrid: str | None
    revision_number: int | None
    created_utc: datetime
    process_type: str | None
    period_start_utc: datetime
    period_end_utc: datetime
    points: pd.DataFrame


def parse_document(xml: bytes | str) -> ParsedDocument:
    """Parse one ENTSO-E API response body.

    Args:
        xml: the response body; bytes (encoding taken from the XML declaration) or an already decoded str.

    Returns:
        The document's metadata and its points (see :class:`ParsedDocument`); all times tz-aware UTC.

    Raises:
        NoMatchingDataError: the body is an acknowledgement saying "No matching data found".
        EntsoeAcknowledgementError: the body is any other acknowledgement (the API refused the query).
        EntsoeParseError: the body is not well-formed XML, not a supported document type, or a required element
            is missing or invalid (e.g. missing resolution, unknown resolution ``PT7M``, non-numeric value at a
            position, a gap in an A01 curve).
    """
    root = _parse_xml(xml)
    qname = etree.QName(root)
    root_name, namespace = qname.localname, qname.namespace or ""
    _strip_namespaces(root)

    if root_name == _ACKNOWLEDGEMENT:
        _raise_acknowledgement(root)
    if root_name not in _MARKET_DOCUMENTS:
        raise EntsoeParseError(
            f"unsupported root element {root_name!r}; expected {_ACKNOWLEDGEMENT} or {' or '.join(_MARKET_DOCUMENTS)}"
        )

    document_type = _text(root, "type")
    if document_type is None:
        raise EntsoeParseError(f"{root_name} has no <type> (document type)")
    if document_type not in SUPPORTED_DOCUMENT_TYPES:
        raise EntsoeParseError(
            f"unsupported document type {document_type!r} in {root_name}; "
            f"supported: {', '.join(SUPPORTED_DOCUMENT_TYPES)}"
        )
    expected_root, value_element = SUPPORTED_DOCUMENT_TYPES[document_type]
    if root_name != expected_root:
        raise EntsoeParseError(f"document type {document_type} must come in a {expected_root}, got {root_name}")

    interval = root.find("period.timeInterval")
    if interval is None:
        interval = root.find("time_Period.timeInterval")
    if interval is None:
        raise EntsoeParseError(f"{root_name} has no period.timeInterval / time_Period.timeInterval")
    period_start_utc, period_end_utc = _interval(interval, "document time interval")

    created = _text(root, "createdDateTime")
    if created is None:
        raise EntsoeParseError(f"{root_name} has no <createdDateTime>")
    revision = _text(root, "revisionNumber")
    try:
        revision_number = None if revision is None else int(revision)
    except ValueError:
        raise EntsoeParseError(f"revisionNumber {revision!r} is not an integer") from None

    series = root.findall("TimeSeries")
    if not series:
        raise EntsoeParseError(f"{root_name} ({document_type}) contains no TimeSeries")
    columns: dict[str, list] = {name: [] for name in POINT_COLUMNS}
    start_seconds: list[int] = []
    for series_index, ts in enumerate(series, start=1):
        _collect_series(ts, series_index, value_element, columns, start_seconds)

    return ParsedDocument(
        root_name=root_name,
        namespace=namespace,
        document_type=document_type,
        mrid=_text(root, "mRID"),
        revision_number=revision_number,
        created_utc=_timestamp(created, "createdDateTime"),
        process_type=_text(root, "process.processType"),
        period_start_utc=period_start_utc,
        period_end_utc=period_end_utc,
        points=_frame(columns, start_seconds),
    )


def _parse_xml(xml: bytes | str) -> etree._Element:
    if isinstance(xml, str):
        # lxml refuses str with an encoding declaration; encode and tell the parser what we used.
        data, encoding = xml.lstrip("\ufeff").encode("utf-8"), "utf-8"
    elif isinstance(xml, bytes | bytearray | memoryview):
        data, encoding = bytes(xml), None
    else:
        raise EntsoeParseError(f"expected the response body as bytes or str, got {type(xml).__name__}")
    if not data.strip():
        raise MalformedXmlError("empty response body")
    if data.startswith(b"PK\x03\x04"):
        raise EntsoeParseError("response body is a ZIP archive, not XML; unzip it first")
    parser = etree.XMLParser(
        encoding=encoding, resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
    )
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedXmlError(f"response body is not well-formed XML: {exc}") from None


def _strip_namespaces(root: etree._Element) -> None:
    # One pass is cheaper than local-name() XPath on every lookup, and makes 7:0, 7:3 and 3:0 look alike.
    for el in root.iter():
        tag = el.tag
        if isinstance(tag, str) and tag[0] == "{":
            el.tag = tag.split("}", 1)[1]


def _raise_acknowledgement(root: etree._Element) -> None:
    reasons = root.findall("Reason")
    codes = [c for c in (_text(r, "code") for r in reasons) if c]
    texts = [t for t in (_text(r, "text") for r in reasons) if t]
    code, text = (codes[0] if codes else None), "; ".join(texts)
    if _NO_MATCHING_DATA in text.lower():
        raise NoMatchingDataError(code, text)
    raise EntsoeAcknowledgementError(code, text)


def _text(el: etree._Element, path: str) -> str | None:
    value = el.findtext(path)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _timestamp(text: str, what: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise EntsoeParseError(f"{what} {text!r} is not an ISO 8601 timestamp") from None
    if ts.tzinfo is None:
        raise EntsoeParseError(f"{what} {text!r} has no time zone (ENTSO-E times end in 'Z')")
    return ts.astimezone(UTC)


def _interval(el: etree._Element, where: str) -> tuple[datetime, datetime]:
    start, end = _text(el, "start"), _text(el, "end")
    if start is None or end is None:
        raise EntsoeParseError(f"{where}: timeInterval lacks <start> or <end>")
    start_utc, end_utc = _timestamp(start, f"{where} start"), _timestamp(end, f"{where} end")
    if end_utc <= start_utc:
        raise EntsoeParseError(f"{where}: timeInterval end {end} is not after start {start}")
    return start_utc, end_utc


def _collect_series(
    ts: etree._Element,
    series_index: int,
    value_element: str,
    columns: dict[str, list],
    start_seconds: list[int],
) -> None:
    where = f"TimeSeries {series_index}"
    domains = {name: _text(ts, element) for name, element in _DOMAIN_ELEMENTS.items()}
    domain_eic = (
        domains["in_domain"]
        or domains["in_bidding_zone_domain"]
        or domains["out_bidding_zone_domain"]
        or domains["out_domain"]
    )
    sequence_text = _text(ts, "classificationSequence_AttributeInstanceComponent.position")
    try:
        sequence = None if sequence_text is None else int(sequence_text)
    except ValueError:
        raise EntsoeParseError(f"{where}: classification sequence {sequence_text!r} is not an integer") from None
    # IEC 62325 makes A01 the default curve type; absent it, a gap still raises below.
    curve_type = _text(ts, "curveType") or "A01"
    if curve_type not in ("A01", "A03"):
        raise EntsoeParseError(f"{where}: unsupported curveType {curve_type!r}; supported: A01, A03")
    series_attributes = {
        "series_index": series_index,
        "classification_sequence": sequence,
        "business_type": _text(ts, "businessType"),
        "psr_type": _text(ts, "MktPSRType/psrType"),
        **domains,
        "domain_eic": domain_eic,
        "currency": _text(ts, "currency_Unit.name"),
        "measure_unit": _text(ts, "price_Measure_Unit.name") or _text(ts, "quantity_Measure_Unit.name"),
        "curve_type": curve_type,
    }

    periods = ts.findall("Period")
    if not periods:
        raise EntsoeParseError(f"{where} has no Period")
    for period_index, period in enumerate(periods, start=1):
        period_where = f"{where}, Period {period_index}"
        resolution_minutes, positions, values, filled, first_second = _read_period(
            period, period_where, curve_type, value_element
        )
        n = len(positions)
        for name, value in series_attributes.items():
            columns[name].extend([value] * n)
        columns["resolution_minutes"].extend([resolution_minutes] * n)
        columns["position"].extend(positions)
        columns["value"].extend(values)
        columns["is_filled"].extend(filled)
        step = resolution_minutes * 60
        start_seconds.extend(first_second + (p - 1) * step for p in positions)


def _read_period(
    period: etree._Element, where: str, curve_type: str, value_element: str
) -> tuple[int, list[int], list[float], list[bool], int]:
    """Points of one Period: (resolution_minutes, positions, values, is_filled, start as epoch seconds)."""
    start_utc, resolution, resolution_minutes, n_slots = _period_slots(period, where)
    by_position = _points_by_position(period, where, value_element, n_slots, resolution)
    positions, values, filled = _curve_points(by_position, curve_type, n_slots, where)
    return resolution_minutes, positions, values, filled, int(start_utc.timestamp())


def _period_slots(period: etree._Element, where: str) -> tuple[datetime, str, int, int]:
    """A Period's (start, resolution code, resolution in minutes, number of steps in its timeInterval)."""
    interval = period.find("timeInterval")
    if interval is None:
        raise EntsoeParseError(f"{where} has no timeInterval")
    start_utc, end_utc = _interval(interval, where)

    resolution = _text(period, "resolution")
    if resolution is None:
        raise EntsoeParseError(f"{where} has no resolution")
    if resolution not in RESOLUTION_MINUTES:
        raise EntsoeParseError(
            f"{where}: unknown resolution {resolution!r}; supported: {', '.join(RESOLUTION_MINUTES)}"
        )
    resolution_minutes = RESOLUTION_MINUTES[resolution]
    span_minutes, remainder = divmod(int((end_utc - start_utc).total_seconds()), 60)
    n_slots, leftover = divmod(span_minutes, resolution_minutes)
    if remainder or leftover:
        raise EntsoeParseError(
            f"{where}: timeInterval {start_utc:%Y-%m-%dT%H:%MZ}/{end_utc:%Y-%m-%dT%H:%MZ} "
            f"is not a whole number of {resolution} steps"
        )
    return start_utc, resolution, resolution_minutes, n_slots


def _points_by_position(
    period: etree._Element, where: str, value_element: str, n_slots: int, resolution: str
) -> dict[int, float]:
    """The Period's Point values by position (1..n_slots, each at most once, at least one)."""
    by_position: dict[int, float] = {}
    for point in period.iterfind("Point"):
        position_text = point.findtext("position")
        try:
            position = int(position_text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise EntsoeParseError(f"{where}: Point position {position_text!r} is not an integer") from None
        if not 1 <= position <= n_slots:
            raise EntsoeParseError(
                f"{where}: position {position} is outside 1..{n_slots} (the {resolution} steps of its timeInterval)"
            )
        if position in by_position:
            raise EntsoeParseError(f"{where}: position {position} appears twice")
        by_position[position] = _point_value(point, where, value_element, position)
    if not by_position:
        raise EntsoeParseError(f"{where} has no Point")
    return by_position


def _point_value(point: etree._Element, where: str, value_element: str, position: int) -> float:
    """The finite number in a Point's ``value_element``."""
    value_text = point.findtext(value_element)
    if value_text is None:
        raise EntsoeParseError(f"{where}: Point at position {position} has no <{value_element}>")
    try:
        value = float(value_text)
    except ValueError:
        raise EntsoeParseError(
            f"{where}: non-numeric {value_element} {value_text.strip()!r} at position {position}"
        ) from None
    if not math.isfinite(value):
        raise EntsoeParseError(f"{where}: non-finite {value_element} {value_text.strip()!r} at position {position}")
    return value


def _curve_points(
    by_position: dict[int, float], curve_type: str, n_slots: int, where: str
) -> tuple[list[int], list[float], list[bool]]:
    """(positions, values, is_filled) of a Period's curve: A01 as given, A03 with repeated values filled in."""
    if curve_type == "A01":
        # A partial (still running) Period stops early and stays short; a hole inside it is an error.
        last = max(by_position)
        if len(by_position) != last:
            missing = next(p for p in range(1, last + 1) if p not in by_position)
            raise EntsoeParseError(f"{where}: curveType A01 but position {missing} is missing")
        positions = list(range(1, last + 1))
        return positions, [by_position[p] for p in positions], [False] * last
    if 1 not in by_position:
        raise EntsoeParseError(f"{where}: curveType A03 but position 1 is missing, so there is nothing to repeat")
    positions = list(range(1, n_slots + 1))
    values, filled = [], []
    previous = by_position[1]
    for p in positions:
        value = by_position.get(p)
        filled.append(value is None)
        if value is None:
            value = previous
        values.append(value)
        previous = value
    return positions, values, filled


def _frame(columns: dict[str, list], start_seconds: list[int]) -> pd.DataFrame:
    data: dict[str, object] = {}
    for name in POINT_COLUMNS:
        values = columns[name]
        if name in _TEXT_COLUMNS:
            data[name] = pd.Series(values, dtype=object)  # keeps None (pandas 3 'str' would turn it into NaN)
        elif name == "classification_sequence":
            data[name] = pd.array(values, dtype="Int64")
        elif name in ("series_index", "resolution_minutes", "position"):
            data[name] = np.asarray(values, dtype=np.int64)
        elif name == "delivery_start_utc":
            data[name] = pd.to_datetime(np.asarray(start_seconds, dtype=np.int64), unit="s", utc=True).as_unit("ns")
        elif name == "value":
            data[name] = np.asarray(values, dtype=np.float64)
        else:
            data[name] = np.asarray(values, dtype=bool)
    return pd.DataFrame(data, columns=list(POINT_COLUMNS))
