"""ENTSO-E XML parser: nine recorded real API responses plus small synthetic documents for the edge cases.

Expected numbers were read from the XML files by eye / grep, and the cross-check test re-reads every Point with a
regular expression (no lxml), so a parser bug cannot confirm itself.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from griddesk.entsoe import (
    POINT_COLUMNS,
    EntsoeAcknowledgementError,
    EntsoeError,
    EntsoeParseError,
    NoMatchingDataError,
    ParsedDocument,
    parse_document,
)
from griddesk.markets import get_market

FIXTURES = "entsoe_api_xml_fixtures_electricitymaps"
ALL_FIXTURES = [
    "DK-DK1_consumption.xml",
    "DK-DK2_consumption_forecast.xml",
    "ES_day_ahead_price.xml",
    "FI_production.xml",
    "FR_prices.xml",
    "SE-SE3_generation_forecast.xml",
    "wind_solar_forecast_FI_CURRENT.xml",
    "wind_solar_forecast_FI_DAY_AHEAD.xml",
    "wind_solar_forecast_FI_INTRADAY.xml",
]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


@pytest.fixture(scope="module")
def fixture_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / FIXTURES
    if not path.is_dir():
        pytest.skip(f"needs {path}")
    return path


@pytest.fixture(scope="module")
def parsed(fixture_dir: Path) -> dict[str, ParsedDocument]:
    return {name: parse_document((fixture_dir / name).read_bytes()) for name in ALL_FIXTURES}


def value_at(points: pd.DataFrame, series_index: int, position: int) -> pd.Series:
    row = points[(points.series_index == series_index) & (points.position == position)]
    assert len(row) == 1, f"expected one row for series {series_index} position {position}, got {len(row)}"
    return row.iloc[0]


# --- every real fixture: header, shape, first/last timestamps ---------------------------------------------------

# file -> (type, processType, created, rows per series, first delivery start, last delivery start, domain, unit)
EXPECTED = {
    "DK-DK1_consumption.xml": (
        "A65",
        "A16",
        "2023-12-30T15:03:18Z",
        [47],
        "2023-12-28T15:00Z",
        "2023-12-30T13:00Z",
        "10YDK-1--------W",
        "MAW",
    ),
    "DK-DK2_consumption_forecast.xml": (
        "A65",
        "A01",
        "2023-12-30T15:04:26Z",
        [24] * 4,
        "2023-12-27T23:00Z",
        "2023-12-31T22:00Z",
        "10YDK-2--------M",
        "MAW",
    ),
    "ES_day_ahead_price.xml": (
        "A44",
        None,
        "2025-10-01T22:50:06Z",
        [24, 24, 96, 96],
        "2025-09-28T22:00Z",
        "2025-10-02T21:45Z",
        "10YES-REE------0",
        "MWH",
    ),
    "FI_production.xml": (
        "A75",
        "A16",
        "2025-10-24T12:57:19Z",
        [288] * 12,
        "2025-10-21T12:00Z",
        "2025-10-24T11:45Z",
        "10YFI-1--------U",
        "MAW",
    ),
    "FR_prices.xml": (
        "A44",
        None,
        "2023-05-09T11:24:10Z",
        [24, 24],
        "2023-05-06T22:00Z",
        "2023-05-08T21:00Z",
        "10YFR-RTE------C",
        "MWH",
    ),
    "SE-SE3_generation_forecast.xml": (
        "A71",
        "A01",
        "2023-12-30T15:06:25Z",
        [24] * 3,
        "2023-12-27T23:00Z",
        "2023-12-30T22:00Z",
        "10Y1001A1001A46L",
        "MAW",
    ),
    "wind_solar_forecast_FI_CURRENT.xml": (
        "A69",
        "A18",
        "2024-02-09T18:33:43Z",
        [96] * 6 + [32] * 2,
        "2024-02-07T22:00Z",
        "2024-02-11T05:45Z",
        "10YFI-1--------U",
        "MAW",
    ),
    "wind_solar_forecast_FI_DAY_AHEAD.xml": (
        "A69",
        "A01",
        "2024-02-09T18:33:40Z",
        [96] * 6,
        "2024-02-07T23:00Z",
        "2024-02-10T22:45Z",
        "10YFI-1--------U",
        "MAW",
    ),
    "wind_solar_forecast_FI_INTRADAY.xml": (
        "A69",
        "A40",
        "2024-02-09T18:33:42Z",
        [96] * 4 + [4] * 2,
        "2024-02-07T22:00Z",
        "2024-02-09T22:45Z",
        "10YFI-1--------U",
        "MAW",
    ),
}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_real_fixture_header_and_shape(parsed: dict[str, ParsedDocument], name: str) -> None:
    doc_type, process_type, created, rows, first, last, domain, unit = EXPECTED[name]
    doc = parsed[name]
    p = doc.points
    assert doc.document_type == doc_type
    assert doc.process_type == process_type
    assert doc.created_utc == datetime.fromisoformat(created)
    assert doc.created_utc.tzinfo is not None and doc.created_utc.utcoffset().total_seconds() == 0
    assert doc.revision_number == 1
    assert list(p.columns) == list(POINT_COLUMNS)
    assert p.groupby("series_index").size().tolist() == rows
    assert p.delivery_start_utc.iloc[0] == ts(first)
    assert p.delivery_start_utc.iloc[-1] == ts(last)
    assert str(p.delivery_start_utc.dtype) == "datetime64[ns, UTC]"
    assert set(p.domain_eic) == {domain}
    assert set(p.measure_unit) == {unit}
    # within a series, MTUs follow each other without overlap
    for _, s in p.groupby("series_index"):
        assert s.delivery_start_utc.is_monotonic_increasing and s.delivery_start_utc.is_unique


def _points_by_regex(xml: str) -> list[tuple[int, int, int, str, float]]:
    """(series, period, position, period start, value) of every Point in the file, read without an XML parser."""
    out = []
    for s_idx, series in enumerate(xml.split("<TimeSeries>")[1:], start=1):
        for p_idx, period in enumerate(series.split("<Period>")[1:], start=1):
            start = re.search(r"<start>([^<]+)</start>", period).group(1)
            for pos, val in re.findall(r"<position>(\d+)</position>\s*<(?:price\.amount|quantity)>([^<]+)<", period):
                out.append((s_idx, p_idx, int(pos), start, float(val)))
    return out


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_point_in_the_xml_is_a_row_and_fills_repeat_the_previous_value(
    fixture_dir: Path, parsed: dict[str, ParsedDocument], name: str
) -> None:
    points = parsed[name].points
    expected = _points_by_regex((fixture_dir / name).read_text(encoding="utf-8"))
    assert len(expected) == (~points.is_filled).sum()
    present = points[~points.is_filled].set_index(["series_index", "position"]).value
    for series, _, position, _, value in expected:  # every fixture has one Period per TimeSeries
        assert present.loc[(series, position)] == value
    # a filled row equals the row before it in the same series
    previous = points.groupby("series_index").value.shift()
    assert (points.value[points.is_filled] == previous[points.is_filled]).all()


# --- ES: the 2025-10-01 switch to 15-minute MTU, curveType A03 --------------------------------------------------


def test_es_switches_from_24_hourly_to_96_quarter_hour_points_on_2025_10_01(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["ES_day_ahead_price.xml"].points
    local_day = p.delivery_start_utc.dt.tz_convert("Europe/Madrid").dt.date
    per_day = p.groupby(local_day).agg(rows=("value", "size"), resolution=("resolution_minutes", "unique"))
    assert per_day.rows.to_dict() == {
        date(2025, 9, 29): 24,
        date(2025, 9, 30): 24,
        date(2025, 10, 1): 96,
        date(2025, 10, 2): 96,
    }
    assert [list(r) for r in per_day.resolution] == [[60], [60], [15], [15]]
    first_quarter_hour = p[p.resolution_minutes == 15].iloc[0]
    assert first_quarter_hour.delivery_start_utc == ts("2025-09-30T22:00Z")  # 00:00 in Madrid on 2025-10-01
    assert first_quarter_hour.value == 105.1
    assert p[p.resolution_minutes == 60].delivery_start_utc.max() == ts("2025-09-30T21:00Z")
    assert set(p.curve_type) == {"A03"} and set(p.currency) == {"EUR"} and set(p.in_domain) == set(p.out_domain)
    # hourly A03 Periods carry all 24 positions: nothing to fill
    assert not p[p.resolution_minutes == 60].is_filled.any()
    assert value_at(p, 1, 1).value == 51.6 and value_at(p, 2, 24).value == 101.5


@pytest.mark.parametrize(
    ("series", "position", "delivery_start", "value"),
    [
        (3, 12, "2025-10-01T00:45Z", 100.0),  # repeats position 11
        (3, 15, "2025-10-01T01:30Z", 97.51),  # repeats 14
        (3, 84, "2025-10-01T18:45Z", 230.0),  # repeats 83
        (4, 4, "2025-10-01T22:45Z", 103.33),  # repeats 3
        (4, 10, "2025-10-02T00:15Z", 95.0),  # 10, 11, 12 all repeat position 9
        (4, 11, "2025-10-02T00:30Z", 95.0),
        (4, 12, "2025-10-02T00:45Z", 95.0),
        (4, 17, "2025-10-02T02:00Z", 98.7),  # repeats 16
        (4, 21, "2025-10-02T03:00Z", 103.29),  # repeats 20
        (4, 60, "2025-10-02T12:45Z", 16.79),  # repeats 59
    ],
)
def test_es_a03_omitted_positions_repeat_the_previous_price(
    parsed: dict[str, ParsedDocument], series: int, position: int, delivery_start: str, value: float
) -> None:
    row = value_at(parsed["ES_day_ahead_price.xml"].points, series, position)
    assert row.is_filled
    assert row.value == value
    assert row.delivery_start_utc == ts(delivery_start)


def test_es_a03_fills_exactly_the_ten_omitted_positions(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["ES_day_ahead_price.xml"].points
    filled = p[p.is_filled]
    assert list(zip(filled.series_index, filled.position, strict=True)) == [
        (3, 12),
        (3, 15),
        (3, 84),
        (4, 4),
        (4, 10),
        (4, 11),
        (4, 12),
        (4, 17),
        (4, 21),
        (4, 60),
    ]
    # the value right after a gap is the document's own value, not a fill
    assert not value_at(p, 3, 13).is_filled and value_at(p, 3, 13).value == 97.57
    assert value_at(p, 4, 13).value == 95.5 and value_at(p, 3, 85).value == 150.0


def test_es_document_metadata(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["ES_day_ahead_price.xml"]
    assert doc.root_name == "Publication_MarketDocument"
    assert doc.namespace.endswith("publicationdocument:7:3")
    assert doc.mrid == "c9511c61c9bc48f4b33379904faa7f63"
    assert doc.period_start_utc == datetime(2025, 9, 28, 22, tzinfo=UTC)
    assert doc.period_end_utc == datetime(2025, 10, 2, 22, tzinfo=UTC)


# --- FR: older publication namespace, hand-trimmed header --------------------------------------------------------


def test_fr_prices_old_namespace_7_0_without_document_mrid(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["FR_prices.xml"]
    assert doc.namespace == "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0"
    assert doc.mrid is None  # trimmed by hand upstream
    assert doc.period_start_utc == datetime(2023, 5, 6, 22, tzinfo=UTC)
    p = doc.points
    assert set(p.curve_type) == {"A01"} and set(p.business_type) == {"A62"} and set(p.currency) == {"EUR"}
    assert value_at(p, 1, 1).value == 106.78 and value_at(p, 1, 3).value == 90.0
    assert value_at(p, 2, 1).value == 98.24 and value_at(p, 2, 1).delivery_start_utc == ts("2023-05-07T22:00Z")
    assert value_at(p, 2, 24).value == 104.04 and value_at(p, 2, 24).delivery_start_utc == ts("2023-05-08T21:00Z")
    assert p.psr_type.isna().all() and p.out_bidding_zone_domain.map(lambda v: v is None).all()


# --- GL documents: domains, FI day boundaries, partial Periods ----------------------------------------------------


def test_load_documents_use_out_bidding_zone_domain(parsed: dict[str, ParsedDocument]) -> None:
    dk2 = parsed["DK-DK2_consumption_forecast.xml"]
    assert dk2.root_name == "GL_MarketDocument" and dk2.namespace.endswith("generationloaddocument:3:0")
    p = dk2.points
    assert set(p.out_bidding_zone_domain) == {"10YDK-2--------M"}
    assert p.in_bidding_zone_domain.map(lambda v: v is None).all() and p.in_domain.map(lambda v: v is None).all()
    assert p.currency.map(lambda v: v is None).all()
    assert set(p.business_type) == {"A04"}
    # position 13 of each day, read from the XML
    assert [value_at(p, s, 13).value for s in (1, 2, 3, 4)] == [1847.0, 1809.0, 1733.0, 1751.0]
    assert value_at(p, 1, 1).value == 1554.0 and value_at(p, 4, 24).value == 1432.0


def test_dk1_realised_load_is_a_partial_47_hour_window(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["DK-DK1_consumption.xml"]
    p = doc.points
    assert doc.period_end_utc == datetime(2023, 12, 31, tzinfo=UTC)  # the document asked for more
    assert len(p) == 47 and not p.is_filled.any()
    assert value_at(p, 1, 1).value == 3031.0 and value_at(p, 1, 47).value == 2723.0
    assert p.delivery_start_utc.max() == ts("2023-12-30T13:00Z")


def test_se3_generation_forecast_in_bidding_zone(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["SE-SE3_generation_forecast.xml"].points
    assert set(p.in_bidding_zone_domain) == {"10Y1001A1001A46L"}
    assert value_at(p, 1, 1).value == 9958.0 and value_at(p, 1, 2).value == 10183.0
    assert value_at(p, 3, 24).value == 9598.0 and value_at(p, 3, 24).delivery_start_utc == ts("2023-12-30T22:00Z")


def test_fi_day_ahead_days_start_at_23z_while_intraday_and_current_start_at_22z(
    parsed: dict[str, ParsedDocument],
) -> None:
    def period_starts(name: str) -> list[pd.Timestamp]:
        return parsed[name].points.groupby("series_index").delivery_start_utc.min().tolist()

    assert period_starts("wind_solar_forecast_FI_DAY_AHEAD.xml") == [
        ts(t) for t in ["2024-02-07T23:00Z"] * 2 + ["2024-02-08T23:00Z"] * 2 + ["2024-02-09T23:00Z"] * 2
    ]
    assert period_starts("wind_solar_forecast_FI_INTRADAY.xml")[:2] == [ts("2024-02-07T22:00Z")] * 2
    assert period_starts("wind_solar_forecast_FI_CURRENT.xml")[:2] == [ts("2024-02-07T22:00Z")] * 2
    p = parsed["wind_solar_forecast_FI_DAY_AHEAD.xml"].points
    assert set(p.resolution_minutes) == {15}
    assert dict(zip(p.series_index, p.psr_type, strict=True)) == {
        1: "B16",
        2: "B19",
        3: "B16",
        4: "B19",
        5: "B16",
        6: "B19",
    }
    assert set(p[p.psr_type == "B16"].business_type) == {"A94"} and set(p[p.psr_type == "B19"].business_type) == {"A93"}
    assert value_at(p, 2, 1).value == 2224.0 and value_at(p, 2, 96).value == 1549.0
    assert value_at(p, 2, 96).delivery_start_utc == ts("2024-02-08T22:45Z")


def test_fi_intraday_truncated_last_period_keeps_its_four_points(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["wind_solar_forecast_FI_INTRADAY.xml"].points
    last = p[p.series_index == 6]
    assert last.position.tolist() == [1, 2, 3, 4]
    assert last.delivery_start_utc.tolist() == [ts(f"2024-02-09T22:{m:02d}Z") for m in (0, 15, 30, 45)]
    assert last.value.iloc[0] == 470.0 and last.value.iloc[-1] == 454.0
    assert value_at(p, 4, 32).value == 1372.0


def test_fi_current_last_period_has_32_points_to_06z(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["wind_solar_forecast_FI_CURRENT.xml"].points
    wind = p[p.series_index == 8]
    assert len(wind) == 32 and wind.psr_type.unique().tolist() == ["B19"]
    assert wind.delivery_start_utc.iloc[-1] == ts("2024-02-11T05:45Z")
    assert wind.value.iloc[0] == 1380.0 and wind.value.iloc[-1] == 1751.0


# --- FI_production: heavy A03 compression, fills up to the end of the interval -------------------------------------


def test_fi_production_heavy_a03_compression_is_decompressed_to_288_quarter_hours(
    parsed: dict[str, ParsedDocument],
) -> None:
    p = parsed["FI_production.xml"].points
    assert len(p) == 12 * 288
    assert p.groupby("psr_type").size().to_dict() == {
        psr: 288 for psr in ["B01", "B04", "B05", "B06", "B08", "B11", "B14", "B15", "B16", "B17", "B19", "B20"]
    }
    present = (~p.is_filled).groupby(p.psr_type).sum().to_dict()
    assert present == {
        "B01": 288,
        "B04": 21,
        "B05": 74,
        "B06": 30,
        "B08": 216,
        "B11": 288,
        "B14": 284,
        "B15": 4,
        "B16": 124,
        "B17": 179,
        "B19": 287,
        "B20": 285,
    }
    b15 = p[p.psr_type == "B15"].set_index("position").value  # present: 1: 6.4, 19: 6.18, 20: 1.47, 21: 0
    assert (b15.loc[1:18] == 6.4).all()
    assert b15.loc[19] == 6.18 and b15.loc[20] == 1.47
    assert (b15.loc[21:288] == 0.0).all()  # trailing omission filled to the end of the interval


def test_fi_production_trailing_omission_fills_to_interval_end(parsed: dict[str, ParsedDocument]) -> None:
    p = parsed["FI_production.xml"].points
    b04 = p[p.psr_type == "B04"].set_index("position")
    assert b04.value.loc[287] == 33.2 and not b04.is_filled.loc[287]
    assert b04.value.loc[288] == 33.2 and b04.is_filled.loc[288]  # last present position is 287
    assert b04.delivery_start_utc.loc[288] == ts("2025-10-24T11:45Z")
    assert (b04.value.loc[2:119] == 14.7).all() and b04.value.loc[120] == 14.64
    b06 = p[p.psr_type == "B06"].set_index("position")
    assert b06.value.loc[174] == 59.8
    assert (b06.value.loc[196:288] == 0.0).all() and b06.is_filled.loc[197:288].all()


# --- the API's "no data" answer and malformed documents -----------------------------------------------------------

ACK_NO_DATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">
  <mRID>7e2b4c1fa9e54e4fae8d9c1b3f0c1a2b</mRID>
  <createdDateTime>2025-10-01T10:00:00Z</createdDateTime>
  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>
  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>
  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>
  <receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>
  <received_MarketDocument.createdDateTime>2025-10-01T10:00:00Z</received_MarketDocument.createdDateTime>
  <Reason>
    <code>999</code>
    <text>No matching data found for Data item Day-ahead Prices [12.1.D] (10YES-REE------0, 10YES-REE------0) and interval 2030-01-01T23:00:00.000Z/2030-01-02T23:00:00.000Z.</text>
  </Reason>
</Acknowledgement_MarketDocument>
"""


def test_acknowledgement_no_matching_data_raises_with_the_reason_text() -> None:
    with pytest.raises(NoMatchingDataError) as info:
        parse_document(ACK_NO_DATA)
    assert isinstance(info.value, EntsoeError)
    assert info.value.reason_code == "999"
    assert info.value.reason_text.startswith("No matching data found for Data item Day-ahead Prices [12.1.D]")


def test_acknowledgement_with_another_reason_is_not_no_matching_data() -> None:
    other = ACK_NO_DATA.replace(
        b"No matching data found for", b"The amount of requested data exceeds allowed limit for"
    )
    with pytest.raises(EntsoeAcknowledgementError, match="exceeds allowed limit") as info:
        parse_document(other)
    assert not isinstance(info.value, NoMatchingDataError)


def document(
    periods: list[tuple[str, str, str, dict[int, str]]],
    *,
    curve_type: str | None = "A01",
    document_type: str = "A44",
) -> str:
    """A minimal document: one TimeSeries per (start, end, resolution, {position: value}) Period."""
    price = document_type == "A44"
    root = "Publication_MarketDocument" if price else "GL_MarketDocument"
    ns = "publicationdocument:7:3" if price else "generationloaddocument:3:0"
    value_tag = "price.amount" if price else "quantity"
    domain = (
        '<in_Domain.mRID codingScheme="A01">10YFR-RTE------C</in_Domain.mRID>'
        '<out_Domain.mRID codingScheme="A01">10YFR-RTE------C</out_Domain.mRID>'
        "<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
        if price
        else '<outBiddingZone_Domain.mRID codingScheme="A01">10YFR-RTE------C</outBiddingZone_Domain.mRID>'
        "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>"
    )
    curve = f"<curveType>{curve_type}</curveType>" if curve_type else ""
    series = []
    for i, (start, end, resolution, values) in enumerate(periods, start=1):
        res = f"<resolution>{resolution}</resolution>" if resolution else ""
        pts = "".join(
            f"<Point><position>{p}</position><{value_tag}>{v}</{value_tag}></Point>" for p, v in values.items()
        )
        series.append(
            f"<TimeSeries><mRID>{i}</mRID><businessType>A62</businessType>{domain}{curve}"
            f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>{res}{pts}</Period>"
            "</TimeSeries>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="urn:iec62325.351:tc57wg16:451-3:{ns}">'
        f"<mRID>synthetic</mRID><revisionNumber>2</revisionNumber><type>{document_type}</type>"
        "<createdDateTime>2016-03-26T11:00:00Z</createdDateTime>"
        f"<period.timeInterval><start>{periods[0][0]}</start><end>{periods[-1][1]}</end></period.timeInterval>"
        f"{''.join(series)}</{root}>"
    )


def full(n: int, base: float = 10.0) -> dict[int, str]:
    return {p: f"{base + p / 100:.2f}" for p in range(1, n + 1)}


@pytest.mark.parametrize(
    ("xml", "error"),
    [
        (document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "", full(24))]), "Period 1 has no resolution"),
        (document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT7M", full(24))]), "unknown resolution 'PT7M'"),
        (document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "P1D", {1: "5"})]), "unknown resolution 'P1D'"),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {**full(24), 7: "n/a"})]),
            "non-numeric price.amount 'n/a' at position 7",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {**full(24), 9: "NaN"})]),
            "non-finite price.amount 'NaN' at position 9",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {p: "1" for p in range(1, 25) if p != 5})]),
            "curveType A01 but position 5 is missing",
        ),
        (
            document(
                [("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {p: "1" for p in range(2, 25)})], curve_type="A03"
            ),
            "curveType A03 but position 1 is missing",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {**full(24), 25: "3"})]),
            r"position 25 is outside 1\.\.24",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))], curve_type="A02"),
            "unsupported curveType 'A02'",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:10Z", "PT60M", full(24))]),
            "not a whole number of PT60M steps",
        ),
        (document([("2025-01-01T23:00", "2025-01-02T23:00Z", "PT60M", full(24))]), "has no time zone"),
        (document([("2025-01-02T23:00Z", "2025-01-01T23:00Z", "PT60M", full(24))]), "is not after start"),
        (document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", {})]), "Period 1 has no Point"),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))], document_type="A25"),
            "unsupported document type 'A25'",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))]).replace(
                "price.amount", "quantity"
            ),
            "has no <price.amount>",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))]).replace(
                "Publication_MarketDocument", "GL_MarketDocument"
            ),
            "A44 must come in a Publication_MarketDocument, got GL_MarketDocument",
        ),
        (
            document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))]).replace(
                "<createdDateTime>2016-03-26T11:00:00Z</createdDateTime>", ""
            ),
            "has no <createdDateTime>",
        ),
        ("<html><body>401 Unauthorized</body></html>", "unsupported root element 'html'"),
        ("<Publication_MarketDocument><type>A44", "not well-formed XML"),
        ("   ", "empty response body"),
        (b"PK\x03\x04rest-of-a-zip", "ZIP archive"),
    ],
)
def test_malformed_documents_raise_a_parse_error_naming_what_is_wrong(xml: str | bytes, error: str) -> None:
    with pytest.raises(EntsoeParseError, match=error):
        parse_document(xml)


def test_duplicate_position_is_an_error() -> None:
    xml = document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24))])
    xml = xml.replace(
        "<Point><position>2</position>",
        "<Point><position>2</position><price.amount>1</price.amount></Point><Point><position>2</position>",
    )
    with pytest.raises(EntsoeParseError, match="position 2 appears twice"):
        parse_document(xml)


def test_partial_a01_period_is_not_padded_to_its_interval() -> None:
    # a still-running window: the interval allows 96 quarter-hours, 37 have been published
    p = parse_document(document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT15M", full(37))])).points
    assert len(p) == 37 and not p.is_filled.any()
    assert p.delivery_start_utc.iloc[-1] == ts("2025-01-02T08:00Z")


def test_a03_trailing_omission_is_filled_to_the_end_of_the_interval() -> None:
    p = parse_document(
        document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT15M", {1: "4", 3: "7.5"})], curve_type="A03")
    ).points
    assert len(p) == 96
    assert p.value.tolist() == [4.0, 4.0] + [7.5] * 94
    assert p.is_filled.tolist() == [False, True, False] + [True] * 93


def test_missing_curve_type_is_read_as_a01() -> None:
    doc = parse_document(document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT30M", full(48))], curve_type=None))
    assert set(doc.points.curve_type) == {"A01"} and set(doc.points.resolution_minutes) == {30}
    assert doc.revision_number == 2 and doc.points.classification_sequence.isna().all()


def test_str_input_with_encoding_declaration_and_gl_quantities() -> None:
    xml = document([("2025-01-01T23:00Z", "2025-01-02T23:00Z", "PT60M", full(24, base=5000))], document_type="A65")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    doc = parse_document(xml)
    assert doc.document_type == "A65" and doc.process_type is None
    p = doc.points
    assert value_at(p, 1, 24).value == 5000.24
    assert set(p.out_bidding_zone_domain) == {"10YFR-RTE------C"} and set(p.measure_unit) == {"MAW"}
    assert p.currency.map(lambda v: v is None).all()


def test_classification_sequence_is_kept_for_two_price_sequences_on_one_day() -> None:
    xml = document(
        [("2025-10-31T23:00Z", "2025-11-01T23:00Z", "PT15M", full(96))] * 2,
    )
    for seq in ("1", "2"):
        xml = xml.replace(
            "<businessType>A62</businessType><in_Domain",
            "<businessType>A62</businessType><classificationSequence_AttributeInstanceComponent.position>"
            f"{seq}</classificationSequence_AttributeInstanceComponent.position><in_Domain",
            1,
        )
    p = parse_document(xml).points
    assert p.groupby("series_index").classification_sequence.first().tolist() == [1, 2]


# --- DST: the parser trusts UTC intervals, so days have 23/25 hours and 92/100 quarter-hours --------------------


@pytest.mark.parametrize(
    ("delivery_day", "start", "end", "resolution", "rows"),
    [
        (date(2016, 3, 27), "2016-03-26T23:00Z", "2016-03-27T22:00Z", "PT60M", 23),
        (date(2016, 10, 30), "2016-10-29T22:00Z", "2016-10-30T23:00Z", "PT60M", 25),
        (date(2016, 3, 27), "2016-03-26T23:00Z", "2016-03-27T22:00Z", "PT15M", 92),
        (date(2016, 10, 30), "2016-10-29T22:00Z", "2016-10-30T23:00Z", "PT15M", 100),
    ],
)
def test_dst_days_have_23_or_25_hours(delivery_day: date, start: str, end: str, resolution: str, rows: int) -> None:
    p = parse_document(document([(start, end, resolution, full(rows))])).points
    fr = get_market("FR")
    assert (ts(start), ts(end)) == tuple(pd.Timestamp(t) for t in fr.delivery_day_bounds_utc(delivery_day))
    assert len(p) == rows == fr.mtus_in_day(delivery_day, int(resolution[2:-1]))
    local = p.delivery_start_utc.dt.tz_convert("Europe/Paris")
    assert (local.dt.date == delivery_day).all()
    hours = local.dt.hour.value_counts().sort_index()
    per_hour = 60 // int(resolution[2:-1])
    if rows in (23, 92):
        assert 2 not in hours.index and set(hours) == {per_hour}  # 02:00-03:00 does not exist
    else:
        assert hours.loc[2] == 2 * per_hour and set(hours.drop(2)) == {per_hour}  # 02:00-03:00 happens twice
    assert p.delivery_start_utc.diff().dropna().nunique() == 1  # evenly spaced in UTC


def test_dst_spring_day_with_a03_fills_only_23_hours() -> None:
    p = parse_document(
        document([("2016-03-26T23:00Z", "2016-03-27T22:00Z", "PT60M", {1: "30", 20: "55"})], curve_type="A03")
    ).points
    assert len(p) == 23
    assert p.value.tolist() == [30.0] * 19 + [55.0] * 4


# --- speed ---------------------------------------------------------------------------------------------------------


def one_year_hourly_prices() -> str:
    start = pd.Timestamp("2023-12-31T23:00Z")
    periods = [
        (f"{start + pd.Timedelta(days=d):%Y-%m-%dT%H:%MZ}", f"{start + pd.Timedelta(days=d + 1):%Y-%m-%dT%H:%MZ}")
        for d in range(365)
    ]
    return document([(s, e, "PT60M", full(24, base=40 + d % 7)) for d, (s, e) in enumerate(periods)])


def test_one_year_hourly_a44_parses_well_under_a_second() -> None:
    xml = one_year_hourly_prices().encode()
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        doc = parse_document(xml)
        timings.append(time.perf_counter() - t0)
    assert len(doc.points) == 365 * 24
    assert doc.points.delivery_start_utc.is_unique
    assert min(timings) < 1.0, f"parsing 8,760 points took {min(timings):.3f} s"
