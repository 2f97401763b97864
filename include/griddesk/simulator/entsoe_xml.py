"""ENTSO-E Transparency Platform XML documents, built by string templating (a one-year document in a few ms).

Shapes follow real API responses (see ../shared/data/entsoe_api_xml_fixtures_electricitymaps):

- ``Publication_MarketDocument`` (ns ``publicationdocument:7:3``) for A44 day-ahead prices;
- ``GL_MarketDocument`` (ns ``generationloaddocument:3:0``) for A65 load and A69/A71 generation forecasts;
- ``Acknowledgement_MarketDocument`` (ns ``acknowledgementdocument:7:0``) for "no data" and request errors.

Times are written in UTC as the API does: ``2016-01-01T23:00Z`` in intervals, ``...T12:45:00Z`` for createdDateTime.
Curve type A01 lists every position; A03 omits a position whose value equals the previous position's
(the reader forward-fills), as the real API compresses PT15M prices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

PUBLICATION_NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"
GL_NS = "urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0"
ACK_NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"
#: ENTSO-E's own party code, which the API puts as sender and receiver.
ENTSOE_PARTY = "10X1001A1001A450"


@dataclass(frozen=True)
class DayCurve:
    """One delivery day as one TimeSeries/Period: hourly values, served at ``resolution_minutes``.

    ``values`` are hourly (23, 24 or 25 of them); at 15 minutes each is repeated four times.
    """

    start_utc: datetime
    end_utc: datetime
    values: Sequence[float]
    resolution_minutes: int = 60
    curve_type: str = "A01"


def interval_time(t: datetime) -> str:
    """``2016-01-01T23:00Z``: the API's minute-precision UTC format of time intervals."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def created_time(t: datetime) -> str:
    """``2016-01-01T11:45:00Z``: the API's second-precision UTC format of createdDateTime."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float; integral values without ``.0`` (as the API writes)."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def document_mrid(*parts: object) -> str:
    """A 32-hex document mRID, deterministic in ``parts`` so identical requests get identical documents."""
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _points(curve: DayCurve, value_tag: str) -> str:
    if curve.resolution_minutes not in (15, 30, 60):
        raise ValueError(f"resolution must be 15, 30 or 60 minutes, got {curve.resolution_minutes}")
    repeat = 60 // curve.resolution_minutes
    out: list[str] = []
    previous: str | None = None
    position = 0
    for value in curve.values:
        text = format_number(value)
        for _ in range(repeat):
            position += 1
            if curve.curve_type == "A03" and text == previous:
                continue  # A03: a repeated value is omitted; the reader forward-fills it
            out.append(f"<Point><position>{position}</position><{value_tag}>{text}</{value_tag}></Point>")
            previous = text
    return "\n        ".join(out)


def _period(curve: DayCurve, value_tag: str) -> str:
    return (
        "<Period>\n"
        "        <timeInterval>\n"
        f"          <start>{interval_time(curve.start_utc)}</start>\n"
        f"          <end>{interval_time(curve.end_utc)}</end>\n"
        "        </timeInterval>\n"
        f"        <resolution>PT{curve.resolution_minutes}M</resolution>\n"
        f"        {_points(curve, value_tag)}\n"
        "      </Period>"
    )


def _header(mrid: str, revision_number: int, document_type: str, process_type: str | None, created: datetime) -> str:
    process = f"  <process.processType>{process_type}</process.processType>\n" if process_type else ""
    return (
        f"  <mRID>{mrid}</mRID>\n"
        f"  <revisionNumber>{revision_number}</revisionNumber>\n"
        f"  <type>{document_type}</type>\n"
        f"{process}"
        f'  <sender_MarketParticipant.mRID codingScheme="A01">{ENTSOE_PARTY}</sender_MarketParticipant.mRID>\n'
        "  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n"
        f'  <receiver_MarketParticipant.mRID codingScheme="A01">{ENTSOE_PARTY}</receiver_MarketParticipant.mRID>\n'
        "  <receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>\n"
        f"  <createdDateTime>{created_time(created)}</createdDateTime>\n"
    )


def _span(curves: Sequence[DayCurve]) -> tuple[datetime, datetime]:
    if not curves:
        raise ValueError("a market document needs at least one TimeSeries")
    return min(c.start_utc for c in curves), max(c.end_utc for c in curves)


def publication_document(
    *,
    mrid: str,
    revision_number: int,
    created: datetime,
    domain_eic: str,
    currency: str,
    curves: Sequence[DayCurve],
) -> str:
    """An A44 ``Publication_MarketDocument``: one TimeSeries (one Period) per delivery day, prices per MWH.

    Raises:
        ValueError: ``curves`` is empty.
    """
    start, end = _span(curves)
    domain = escape(domain_eic)
    series = []
    for i, curve in enumerate(curves, start=1):
        series.append(
            "  <TimeSeries>\n"
            f"    <mRID>{i}</mRID>\n"
            "    <auction.type>A01</auction.type>\n"
            "    <businessType>A62</businessType>\n"
            f'    <in_Domain.mRID codingScheme="A01">{domain}</in_Domain.mRID>\n'
            f'    <out_Domain.mRID codingScheme="A01">{domain}</out_Domain.mRID>\n'
            "    <contract_MarketAgreement.type>A01</contract_MarketAgreement.type>\n"
            f"    <currency_Unit.name>{escape(currency)}</currency_Unit.name>\n"
            "    <price_Measure_Unit.name>MWH</price_Measure_Unit.name>\n"
            f"    <curveType>{curve.curve_type}</curveType>\n"
            f"      {_period(curve, 'price.amount')}\n"
            "  </TimeSeries>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Publication_MarketDocument xmlns="{PUBLICATION_NS}">\n'
        f"{_header(mrid, revision_number, 'A44', None, created)}"
        "  <period.timeInterval>\n"
        f"    <start>{interval_time(start)}</start>\n"
        f"    <end>{interval_time(end)}</end>\n"
        "  </period.timeInterval>\n"
        f"{''.join(series)}"
        "</Publication_MarketDocument>\n"
    )


#: TimeSeries businessType / objectAggregation per GL documentType (as in the real responses).
_GL_BUSINESS_TYPE = {"A65": "A04", "A71": "A01"}
#: A69 businessType by production type: A94 solar, A93 wind; a combined series has no psrType.
_A69_BUSINESS_TYPE = {"B16": "A94", "B18": "A93", "B19": "A93"}
_GL_OBJECT_AGGREGATION = {"A65": "A01", "A69": "A08", "A71": "A01"}


def gl_document(
    *,
    mrid: str,
    revision_number: int,
    created: datetime,
    document_type: str,
    process_type: str,
    domain_eic: str,
    psr_type: str | None,
    curves: Sequence[DayCurve],
) -> str:
    """A ``GL_MarketDocument`` (A65 load forecast, A69 wind/solar forecast, A71 generation forecast) in MAW.

    A65 carries the area as ``outBiddingZone_Domain.mRID``; A69/A71 as ``inBiddingZone_Domain.mRID``.
    ``MktPSRType`` is written only when ``psr_type`` is given.

    Raises:
        ValueError: ``curves`` is empty or ``document_type`` is not A65, A69 or A71.
    """
    if document_type not in _GL_OBJECT_AGGREGATION:
        raise ValueError(f"unsupported GL documentType {document_type!r}; expected A65, A69 or A71")
    start, end = _span(curves)
    area_tag = "outBiddingZone_Domain.mRID" if document_type == "A65" else "inBiddingZone_Domain.mRID"
    if document_type == "A69":
        business_type = _A69_BUSINESS_TYPE.get(psr_type or "", "A01")
    else:
        business_type = _GL_BUSINESS_TYPE[document_type]
    psr = f"    <MktPSRType>\n      <psrType>{escape(psr_type)}</psrType>\n    </MktPSRType>\n" if psr_type else ""
    series = []
    for i, curve in enumerate(curves, start=1):
        series.append(
            "  <TimeSeries>\n"
            f"    <mRID>{i}</mRID>\n"
            f"    <businessType>{business_type}</businessType>\n"
            f"    <objectAggregation>{_GL_OBJECT_AGGREGATION[document_type]}</objectAggregation>\n"
            f'    <{area_tag} codingScheme="A01">{escape(domain_eic)}</{area_tag}>\n'
            "    <quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>\n"
            f"    <curveType>{curve.curve_type}</curveType>\n"
            f"{psr}"
            f"      {_period(curve, 'quantity')}\n"
            "  </TimeSeries>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<GL_MarketDocument xmlns="{GL_NS}">\n'
        f"{_header(mrid, revision_number, document_type, process_type, created)}"
        "  <time_Period.timeInterval>\n"
        f"    <start>{interval_time(start)}</start>\n"
        f"    <end>{interval_time(end)}</end>\n"
        "  </time_Period.timeInterval>\n"
        f"{''.join(series)}"
        "</GL_MarketDocument>\n"
    )


def acknowledgement_document(*, created: datetime, reason_text: str, reason_code: str = "999") -> str:
    """An ``Acknowledgement_MarketDocument``: what the API returns instead of data (no data, bad request)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Acknowledgement_MarketDocument xmlns="{ACK_NS}">\n'
        f"  <mRID>{document_mrid('ack', created.isoformat(), reason_text)}</mRID>\n"
        f"  <createdDateTime>{created_time(created)}</createdDateTime>\n"
        f'  <sender_MarketParticipant.mRID codingScheme="A01">{ENTSOE_PARTY}</sender_MarketParticipant.mRID>\n'
        "  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n"
        f'  <receiver_MarketParticipant.mRID codingScheme="A01">{ENTSOE_PARTY}</receiver_MarketParticipant.mRID>\n'
        "  <receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>\n"
        f"  <received_MarketDocument.createdDateTime>{created_time(created)}</received_MarketDocument.createdDateTime>\n"
        "  <Reason>\n"
        f"    <code>{escape(reason_code)}</code>\n"
        f"    <text>{escape(reason_text)}</text>\n"
        "  </Reason>\n"
        "</Acknowledgement_MarketDocument>\n"
    )


def ack_interval(start: datetime, end: datetime) -> str:
    """``2016-01-01T23:00:00.000Z/2016-01-02T23:00:00.000Z``: the interval format of acknowledgement texts."""
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    return f"{start.astimezone(UTC).strftime(fmt)}/{end.astimezone(UTC).strftime(fmt)}"


def join_domains(domains: Iterable[str]) -> str:
    """``(A, B)``: how acknowledgement texts list the queried areas."""
    return "(" + ", ".join(domains) + ")"
