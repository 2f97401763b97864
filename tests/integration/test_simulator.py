"""The market simulator over real HTTP: ENTSO-E rules, point-in-time publication, revisions, DST, PT15M, XML shape.

XML is read here with plain lxml (local names, namespaces ignored), never with a griddesk parser, so the
simulator and the parser cannot hide each other's mistakes.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import requests
from lxml import etree

from griddesk import datasets
from griddesk.markets import FR_EIC, get_market
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers

TOKEN = "test-token"
SIM_NOW = "X-GridDesk-Sim-Now"
FR = get_market("FR")
DE = get_market("DE")
PJM = get_market("PJM")
NP = get_market("NP")


# ---------------------------------------------------------------- helpers (plain lxml)


def _ln(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str) and _ln(c) == name]


def _child_text(element: etree._Element, name: str) -> str:
    (child,) = _children(element, name)
    return child.text.strip()


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%d%H%M")


def _get(url: str, now: datetime | None = None, **params: str) -> requests.Response:
    params.setdefault("securityToken", TOKEN)
    headers = {SIM_NOW: now.isoformat()} if now else {}
    return requests.get(f"{url}/api", params=params, headers=headers, timeout=30)


def _prices(url: str, market, start: datetime, end: datetime, now: datetime | None = None) -> requests.Response:
    eic = market.bidding_zone_eic
    return _get(
        url, now, documentType="A44", in_Domain=eic, out_Domain=eic, periodStart=_stamp(start), periodEnd=_stamp(end)
    )


def _root(response: requests.Response) -> etree._Element:
    return etree.fromstring(response.content)


def _series(root: etree._Element, value_tag: str) -> list[dict]:
    """Each TimeSeries/Period, A03 forward-filled to one value per resolution step."""
    out = []
    for ts in _children(root, "TimeSeries"):
        (period,) = _children(ts, "Period")
        (interval,) = _children(period, "timeInterval")
        start, end = _utc(_child_text(interval, "start")), _utc(_child_text(interval, "end"))
        minutes = int(_child_text(period, "resolution")[2:-1])
        n = int((end - start).total_seconds() // 60 // minutes)
        points = {int(_child_text(p, "position")): float(_child_text(p, value_tag)) for p in _children(period, "Point")}
        values, last = [], None
        for position in range(1, n + 1):
            last = points.get(position, last)
            values.append(last)
        out.append(
            {
                "start": start,
                "end": end,
                "minutes": minutes,
                "curve": _child_text(ts, "curveType"),
                "positions": sorted(points),
                "values": values,
                "ts": ts,
            }
        )
    return out


def _ack_reason(response: requests.Response) -> tuple[str, str]:
    root = _root(response)
    assert _ln(root) == "Acknowledgement_MarketDocument", response.text[:300]
    (reason,) = _children(root, "Reason")
    return _child_text(reason, "code"), _child_text(reason, "text")


def _day_values(df, day: date, column: str = "price_per_mwh") -> list[float]:
    return df.loc[df["delivery_date_local"] == day, column].tolist()


# ---------------------------------------------------------------- basics and ENTSO-E rules


def test_health_says_synthetic(simulator_url: str) -> None:
    body = requests.get(f"{simulator_url}/health", timeout=10).json()
    assert body == {"status": "ok", "markets": ["FR", "BE", "DE", "NP", "PJM"], "data": "synthetic"}


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_401(simulator_url: str, token: str | None) -> None:
    params = {"documentType": "A44", "in_Domain": FR_EIC, "out_Domain": FR_EIC}
    params |= {"periodStart": "201601012300", "periodEnd": "201601022300"}
    if token is not None:
        params["securityToken"] = token
    response = requests.get(f"{simulator_url}/api", params=params, timeout=10)
    assert response.status_code == 401


def test_token_outside_configured_list_is_401(start_simulator) -> None:
    url = start_simulator(
        settings=Settings(markets="FR", data_dir=None),
        frames={"FR": datasets.synthetic_epftoolbox("FR", date(2016, 1, 1), 10)},
        tokens=["secret-1", "secret-2"],
    )
    day = FR.delivery_day_bounds_utc(date(2016, 1, 5))
    assert _prices(url, FR, *day).status_code == 401  # TOKEN is not in the list
    ok = requests.get(
        f"{url}/api",
        params={"documentType": "A44", "in_Domain": FR_EIC, "out_Domain": FR_EIC, "securityToken": "secret-2"}
        | {"periodStart": _stamp(day[0]), "periodEnd": _stamp(day[1])},
        timeout=10,
    )
    assert ok.status_code == 200 and _ln(_root(ok)) == "Publication_MarketDocument"


def test_unknown_domain_returns_no_data_acknowledgement(simulator_url: str) -> None:
    eic = "10YGB----------A"
    response = _get(simulator_url, documentType="A44", in_Domain=eic, out_Domain=eic)
    assert response.status_code == 400  # no period: a bad request first
    response = _get(
        simulator_url,
        documentType="A44",
        in_Domain=eic,
        out_Domain=eic,
        periodStart="201601012300",
        periodEnd="201601022300",
    )
    assert response.status_code == 200
    code, text = _ack_reason(response)
    assert code == "999"
    assert text.startswith("No matching data found for Data item ENERGY_PRICES [12.1.D] (10YGB----------A")
    assert "2016-01-01T23:00:00.000Z/2016-01-02T23:00:00.000Z" in text


def test_days_outside_the_dataset_return_no_data(simulator_url: str) -> None:
    response = _prices(simulator_url, FR, datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 2, tzinfo=UTC))
    assert response.status_code == 200 and _ack_reason(response)[0] == "999"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"periodEnd": None}, "periodEnd is missing"),
        ({"periodStart": "2016-01-01", "periodEnd": "201601022300"}, "periodStart='2016-01-01' is not a valid"),
        ({"periodStart": "201601022300", "periodEnd": "201601012300"}, "must be after periodStart"),
        ({"documentType": "A75"}, "documentType='A75' is not served"),
        ({"documentType": "A65"}, "outBiddingZone_Domain is missing"),
    ],
)
def test_invalid_request_is_400_with_acknowledgement(simulator_url: str, params: dict, message: str) -> None:
    query = {"documentType": "A44", "in_Domain": FR_EIC, "out_Domain": FR_EIC}
    query |= {"periodStart": "201601012300", "periodEnd": "201601022300"} | params
    response = _get(simulator_url, **{k: v for k, v in query.items() if v is not None})
    assert response.status_code == 400
    assert message in _ack_reason(response)[1]


def test_window_longer_than_one_year_is_400(simulator_url: str) -> None:
    start = datetime(2015, 12, 31, 23, tzinfo=UTC)
    ok = _prices(simulator_url, FR, start, start + timedelta(days=366))
    assert ok.status_code == 200  # exactly one (leap) year
    assert len(_series(_root(ok), "price.amount")) == 366
    too_long = _prices(simulator_url, FR, start, start + timedelta(days=366, hours=1))
    assert too_long.status_code == 400
    assert "exceeds allowed limit" in _ack_reason(too_long)[1]


def test_one_year_request_is_served_fast(simulator_url: str) -> None:
    start, end = datetime(2015, 12, 31, 23, tzinfo=UTC), datetime(2016, 12, 31, 23, tzinfo=UTC)
    _prices(simulator_url, FR, start, end)  # warm-up
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        response = _prices(simulator_url, FR, start, end)
        timings.append(time.perf_counter() - t0)
        assert response.status_code == 200
    assert min(timings) < 0.5, f"one-year A44 took {timings} s"


# ---------------------------------------------------------------- point in time and revisions


def test_simulator_hides_prices_before_publication(simulator_url: str) -> None:
    day = date(2016, 6, 15)
    start, end = FR.delivery_day_bounds_utc(day)
    published = FR.price_publication_utc(day)
    assert published == datetime(2016, 6, 14, 10, 45, tzinfo=UTC)  # 12:45 CEST on D-1

    before = _prices(simulator_url, FR, start, end, now=published - timedelta(seconds=1))
    assert before.status_code == 200 and _ack_reason(before)[0] == "999"

    after = _prices(simulator_url, FR, start, end, now=published)
    root = _root(after)
    assert _child_text(root, "createdDateTime") == "2016-06-14T10:45:00Z"
    (series,) = _series(root, "price.amount")
    assert series["values"] == _day_values(datasets.synthetic_epftoolbox("FR"), day)


def test_window_shows_only_days_published_at_now(simulator_url: str) -> None:
    days = [date(2016, 6, 13), date(2016, 6, 14), date(2016, 6, 15)]
    start, end = FR.delivery_day_bounds_utc(days[0])[0], FR.delivery_day_bounds_utc(days[-1])[1]
    now = FR.price_publication_utc(days[1]) + timedelta(minutes=15)  # the afternoon run for 14 June
    root = _root(_prices(simulator_url, FR, start, end, now=now))
    served = _series(root, "price.amount")
    assert [s["start"] for s in served] == [FR.delivery_day_bounds_utc(d)[0] for d in days[:2]]
    assert _child_text(root, "createdDateTime") == "2016-06-13T10:45:00Z"  # latest publication among them


def test_exogenous_forecasts_are_published_before_gate_closure(simulator_url: str) -> None:
    day = date(2016, 6, 15)
    start, end = FR.delivery_day_bounds_utc(day)
    published = FR.exogenous_publication_utc(day)
    assert published < FR.gate_closure_utc(day) < FR.price_publication_utc(day)
    query = {"documentType": "A65", "processType": "A01", "outBiddingZone_Domain": FR_EIC}
    query |= {"periodStart": _stamp(start), "periodEnd": _stamp(end)}
    assert _ack_reason(_get(simulator_url, published - timedelta(minutes=1), **query))[0] == "999"
    (series,) = _series(_root(_get(simulator_url, published, **query)), "quantity")
    assert series["values"] == _day_values(datasets.synthetic_epftoolbox("FR"), day, "exog_2")
    # At gate closure the load forecast is known but the prices are not.
    assert _ack_reason(_prices(simulator_url, FR, start, end, now=FR.gate_closure_utc(day)))[0] == "999"


def test_revisions_are_served_from_their_publication_time(simulator_url: str) -> None:
    day = date(2016, 2, 10)
    start, end = FR.delivery_day_bounds_utc(day)
    published = FR.price_publication_utc(day)
    original = _day_values(datasets.synthetic_epftoolbox("FR"), day)
    requests.delete(f"{simulator_url}/admin/revisions", headers=admin_headers(), timeout=10).raise_for_status()
    try:
        first = {"market": "FR", "documentType": "A44", "delivery_date": day.isoformat(), "multiplier": 2.0}
        first["published_at"] = (published + timedelta(hours=2)).isoformat()
        response = requests.post(f"{simulator_url}/admin/revisions", headers=admin_headers(), json=first, timeout=10)
        assert response.status_code == 201 and response.json()["revision_number"] == 2
        second = {"market": "FR", "documentType": "A44", "delivery_date": day.isoformat(), "values": [7.0] * 24}
        second["published_at"] = (published + timedelta(hours=5)).isoformat()
        assert (
            requests.post(f"{simulator_url}/admin/revisions", headers=admin_headers(), json=second, timeout=10).json()[
                "revision_number"
            ]
            == 3
        )

        def served(now: datetime) -> tuple[str, str, list[float]]:
            root = _root(_prices(simulator_url, FR, start, end, now=now))
            (series,) = _series(root, "price.amount")
            return _child_text(root, "revisionNumber"), _child_text(root, "createdDateTime"), series["values"]

        assert served(published + timedelta(hours=1)) == ("1", "2016-02-09T11:45:00Z", original)
        assert served(published + timedelta(hours=2)) == ("2", "2016-02-09T13:45:00Z", [2 * v for v in original])
        assert served(published + timedelta(hours=6)) == ("3", "2016-02-09T16:45:00Z", [7.0] * 24)
    finally:
        cleared = requests.delete(f"{simulator_url}/admin/revisions", headers=admin_headers(), timeout=10).json()
    assert cleared == {"cleared": 2}
    root = _root(_prices(simulator_url, FR, start, end, now=published + timedelta(hours=6)))
    assert _child_text(root, "revisionNumber") == "1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"values": [1.0] * 24, "delivery_date": "2016-03-27"}, "has 23 hours"),
        ({"values": [1.0] * 24, "multiplier": 2.0}, "exactly one"),
        ({"multiplier": 2.0, "published_at": "2016-02-08T00:00:00Z"}, "before the original publication"),
        ({"multiplier": 2.0, "documentType": "A65", "market": "PJM"}, "2 series matching A65"),
    ],
)
def test_invalid_revision_is_rejected(simulator_url: str, body: dict, message: str) -> None:
    payload = {"market": "FR", "documentType": "A44", "delivery_date": "2016-02-10"}
    payload |= {"published_at": "2016-02-10T00:00:00Z"} | body
    response = requests.post(f"{simulator_url}/admin/revisions", headers=admin_headers(), json=payload, timeout=10)
    assert response.status_code == 422
    assert message in response.text


def test_revision_of_a_shared_series_applies_to_both_markets(simulator_url: str) -> None:
    """BE's load forecast is France's: one series at (A65, FR), revised once, whichever market names it."""
    day = date(2016, 2, 10)
    start, end = FR.delivery_day_bounds_utc(day)
    payload = {"market": "BE", "documentType": "A65", "delivery_date": day.isoformat(), "multiplier": 1.5}
    payload["published_at"] = FR.exogenous_publication_utc(day).isoformat()
    try:
        assert (
            requests.post(
                f"{simulator_url}/admin/revisions", headers=admin_headers(), json=payload, timeout=10
            ).status_code
            == 201
        )
        query = {"documentType": "A65", "processType": "A01", "outBiddingZone_Domain": FR_EIC}
        root = _root(_get(simulator_url, None, **query, periodStart=_stamp(start), periodEnd=_stamp(end)))
        (series,) = _series(root, "quantity")
        expected = [1.5 * v for v in _day_values(datasets.synthetic_epftoolbox("FR"), day, "exog_2")]
        assert series["values"] == expected and _child_text(root, "revisionNumber") == "2"
    finally:
        requests.delete(f"{simulator_url}/admin/revisions", headers=admin_headers(), timeout=10)


# ---------------------------------------------------------------- DST, currencies, PT15M, exogenous routing


@pytest.mark.parametrize(
    ("market", "day", "points"),
    [
        (FR, date(2016, 3, 27), 23),
        (FR, date(2016, 10, 30), 25),
        (PJM, date(2016, 3, 13), 23),
        (PJM, date(2016, 11, 6), 25),
        (PJM, date(2016, 3, 27), 24),
    ],
)
def test_dst_days_have_23_or_25_points(simulator_url: str, market, day: date, points: int) -> None:
    start, end = market.delivery_day_bounds_utc(day)
    root = _root(_prices(simulator_url, market, start, end))
    (series,) = _series(root, "price.amount")
    assert series["positions"] == list(range(1, points + 1)) and series["curve"] == "A01"
    assert (series["start"], series["end"]) == (start, end)
    assert series["values"] == _day_values(datasets.synthetic_epftoolbox(market.code), day)
    assert _child_text(series["ts"], "currency_Unit.name") == market.currency


def test_autumn_repeated_hour_is_listed_as_imputed(simulator_url: str) -> None:
    body = requests.get(
        f"{simulator_url}/meta/imputed",
        params={"market": "PJM", "periodStart": "201601010000", "periodEnd": "201701010000"},
        timeout=10,
    ).json()
    assert body == {"market": "PJM", "imputed_delivery_start_utc": ["2016-11-06T05:00Z", "2016-11-06T06:00Z"]}


@pytest.mark.parametrize(
    ("day", "quarters"), [(date(2016, 6, 15), 96), (date(2016, 3, 27), 92), (date(2016, 10, 30), 100)]
)
def test_pt15m_prices_use_a03_with_repeated_positions_omitted(simulator_url: str, day: date, quarters: int) -> None:
    start, end = DE.delivery_day_bounds_utc(day)
    (series,) = _series(_root(_prices(simulator_url, DE, start, end)), "price.amount")
    assert series["minutes"] == 15 and series["curve"] == "A03" and len(series["values"]) == quarters
    hourly = _day_values(datasets.synthetic_epftoolbox("DE"), day)
    assert series["values"] == list(np.repeat(hourly, 4))
    # Only positions that start a new value are written: at most one per hour, never the 3 repeats.
    assert series["positions"][0] == 1
    assert all(p % 4 == 1 for p in series["positions"])
    changes = 1 + sum(a != b for a, b in zip(hourly, hourly[1:], strict=False))
    assert len(series["positions"]) == changes


def test_hourly_markets_stay_pt60m(simulator_url: str) -> None:
    start, end = FR.delivery_day_bounds_utc(date(2016, 6, 15))
    (series,) = _series(_root(_prices(simulator_url, FR, start, end)), "price.amount")
    assert series["minutes"] == 60 and len(series["positions"]) == 24


def test_shared_exogenous_series_is_served_once(simulator_url: str) -> None:
    start, end = FR.delivery_day_bounds_utc(date(2016, 6, 15))[0], FR.delivery_day_bounds_utc(date(2016, 6, 17))[1]
    query = {"documentType": "A71", "processType": "A01", "in_Domain": FR_EIC}
    root = _root(_get(simulator_url, None, **query, periodStart=_stamp(start), periodEnd=_stamp(end)))
    assert len(_series(root, "quantity")) == 3  # one TimeSeries per day, not one per market (FR and BE)


@pytest.mark.parametrize(("psr_type", "served"), [(None, True), ("B19", True), ("B16", False)])
def test_np_wind_forecast_answers_to_its_psr_type(simulator_url: str, psr_type: str | None, served: bool) -> None:
    start, end = NP.delivery_day_bounds_utc(date(2016, 6, 15))
    query = {"documentType": "A69", "processType": "A01", "in_Domain": NP.bidding_zone_eic}
    query |= {"periodStart": _stamp(start), "periodEnd": _stamp(end)} | ({"psrType": psr_type} if psr_type else {})
    root = _root(_get(simulator_url, None, **query))
    if not served:
        assert _ln(root) == "Acknowledgement_MarketDocument"
        return
    (series,) = _series(root, "quantity")
    assert _child_text(_children(series["ts"], "MktPSRType")[0], "psrType") == "B19"
    assert series["values"] == _day_values(datasets.synthetic_epftoolbox("NP"), date(2016, 6, 15), "exog_2")


def test_realised_load_is_not_served(simulator_url: str) -> None:
    start, end = FR.delivery_day_bounds_utc(date(2016, 6, 15))
    query = {"documentType": "A65", "processType": "A16", "outBiddingZone_Domain": FR_EIC}
    response = _get(simulator_url, None, **query, periodStart=_stamp(start), periodEnd=_stamp(end))
    assert response.status_code == 200
    assert "DAY_AHEAD_TOTAL_LOAD_FORECAST" in _ack_reason(response)[1]


# ---------------------------------------------------------------- structure against the real API's responses


def _element_paths(root: etree._Element) -> set[str]:
    paths: set[str] = set()

    def walk(element: etree._Element, prefix: str) -> None:
        path = f"{prefix}/{_ln(element)}"
        paths.add(path)
        for child in element:
            if isinstance(child.tag, str):
                walk(child, path)

    walk(root, "")
    return paths


STRUCTURE_CASES = {
    # fixture file -> (documentType, request params without period, elements the real one has that we may omit)
    "ES_day_ahead_price.xml": ("A44", {"in_Domain": FR_EIC, "out_Domain": FR_EIC}, set()),
    "DK-DK2_consumption_forecast.xml": ("A65", {"processType": "A01", "outBiddingZone_Domain": FR_EIC}, set()),
    "wind_solar_forecast_FI_DAY_AHEAD.xml": ("A69", {"processType": "A01", "in_Domain": NP.bidding_zone_eic}, set()),
    "SE-SE3_generation_forecast.xml": ("A71", {"processType": "A01", "in_Domain": FR_EIC}, set()),
}


@pytest.mark.parametrize("fixture_name", list(STRUCTURE_CASES))
def test_simulator_xml_matches_real_response_structure(
    simulator_url: str, shared_data_dir: Path, fixture_name: str
) -> None:
    document_type, params, optional = STRUCTURE_CASES[fixture_name]
    real = etree.parse(str(shared_data_dir / "entsoe_api_xml_fixtures_electricitymaps" / fixture_name)).getroot()
    start, end = FR.delivery_day_bounds_utc(date(2016, 6, 14))[0], FR.delivery_day_bounds_utc(date(2016, 6, 16))[1]
    ours = _root(
        _get(
            simulator_url, None, documentType=document_type, periodStart=_stamp(start), periodEnd=_stamp(end), **params
        )
    )

    assert etree.QName(ours).namespace == etree.QName(real).namespace
    assert _ln(ours) == _ln(real)
    real_paths, our_paths = _element_paths(real), _element_paths(ours)
    assert our_paths - real_paths == set(), "elements the real API does not send"
    assert real_paths - optional - our_paths == set(), "elements the real API sends that we lack"
    assert _child_text(ours, "type") == _child_text(real, "type") == document_type
    # Same attribute use on domain and party codes.
    real_attrs = {(_ln(e), tuple(sorted(e.attrib))) for e in real.iter() if isinstance(e.tag, str) and e.attrib}
    our_attrs = {(_ln(e), tuple(sorted(e.attrib))) for e in ours.iter() if isinstance(e.tag, str) and e.attrib}
    assert our_attrs <= real_attrs


# ---------------------------------------------------------------- on the real datasets


@pytest.fixture(scope="module")
def real_simulator_url(start_simulator, shared_data_dir: Path) -> str:
    settings = Settings(markets="FR,PJM", data_dir=shared_data_dir / "epftoolbox_datasets", pt15m_markets="")
    return start_simulator(settings=settings)


def test_real_data_served_with_real_dst_and_currency(real_simulator_url: str, shared_data_dir: Path) -> None:
    assert requests.get(f"{real_simulator_url}/health", timeout=10).json()["data"] == "real"
    # FR autumn 2015: 25 points, the averaged 02:00 value (25.045) twice.
    start, end = FR.delivery_day_bounds_utc(date(2015, 10, 25))
    (fr,) = _series(_root(_prices(real_simulator_url, FR, start, end)), "price.amount")
    assert len(fr["values"]) == 25 and fr["values"][2:4] == [25.045, 25.045]
    # PJM: USD, New York's clock; the 2016-11-06 autumn day has 25 points.
    start, end = PJM.delivery_day_bounds_utc(date(2016, 11, 6))
    root = _root(_prices(real_simulator_url, PJM, start, end))
    (pjm,) = _series(root, "price.amount")
    assert _child_text(pjm["ts"], "currency_Unit.name") == "USD"
    assert start == datetime(2016, 11, 6, 4, tzinfo=UTC) and len(pjm["values"]) == 25
    expected = datasets.load_epftoolbox("PJM", shared_data_dir / "epftoolbox_datasets")
    assert pjm["values"] == _day_values(expected, date(2016, 11, 6))
