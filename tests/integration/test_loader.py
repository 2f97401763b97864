"""The point-in-time loader against a real PostgreSQL: versions, idempotence, all-or-nothing loads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import psycopg2
import pytest

from griddesk.markets import get_market
from griddesk.warehouse.loader import PRICE_FEED, DeliveryMeta, LoadError, load_delivery

FR = get_market("FR")
DAY = date(2016, 12, 20)


def _points(values, day=DAY, market=FR):
    start, _ = market.delivery_day_bounds_utc(day)
    idx = pd.date_range(start, periods=len(values), freq="h")
    return pd.DataFrame({"delivery_start_utc": idx, "resolution_minutes": 60, "value": values})


def _meta(created=None, revision=1):
    return DeliveryMeta(
        feed=PRICE_FEED,
        market_code="FR",
        series_code="price",
        delivery_date_local=DAY,
        scheduled_publication_utc=FR.price_publication_utc(DAY),
        extracted_at_utc=datetime(2016, 12, 19, 12, 0, tzinfo=UTC),
        source_url="http://sim/api?documentType=A44",
        currency="EUR",
        revision_number=revision,
        document_created_utc=created,
    )


def _rows(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select version, count(*), min(published_at_utc) from raw.entsoe_day_ahead_prices group by 1")
        return sorted(cur.fetchall())


def test_reloading_identical_content_adds_nothing(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    first = load_delivery(conn, _meta(), _points([float(h) for h in range(24)]))
    again = load_delivery(conn, _meta(), _points([float(h) for h in range(24)]))
    assert (first.status, again.status) == ("inserted", "unchanged")
    assert [(v, n) for v, n, _ in _rows(warehouse_url)] == [(1, 24)]


def test_changed_publication_adds_a_version_and_keeps_the_first(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    load_delivery(conn, _meta(), _points([40.0] * 24))
    corrected_at = datetime(2016, 12, 19, 15, 0, tzinfo=UTC)
    out = load_delivery(conn, _meta(created=corrected_at, revision=2), _points([41.0] * 24))
    assert out.version == 2
    rows = _rows(warehouse_url)
    assert [(v, n) for v, n, _ in rows] == [(1, 24), (2, 24)]
    assert rows[0][2] == FR.price_publication_utc(DAY)
    assert rows[1][2] == corrected_at  # the correction was public only from its document's creation


def test_bad_delivery_is_rejected_whole_and_stored_data_survives(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    load_delivery(conn, _meta(), _points([40.0] * 24))
    bad = _points([40.0] * 23 + [float("nan")])
    with pytest.raises(LoadError, match="non-numeric or missing values"):
        load_delivery(conn, _meta(), bad)
    dup = pd.concat([_points([1.0] * 24), _points([1.0] * 24).tail(1)])
    with pytest.raises(LoadError, match="duplicated delivery_start_utc"):
        load_delivery(conn, _meta(), dup)
    assert [(v, n) for v, n, _ in _rows(warehouse_url)] == [(1, 24)]


def test_failed_copy_leaves_no_half_written_delivery(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    meta = _meta()
    # Valid points pass validation, so make the database itself refuse the COPY: a trigger on the price table
    # fails inside the transaction after the delivery row was written.
    with psycopg2.connect(warehouse_url) as c0, c0.cursor() as cur:
        cur.execute(
            """create function raw.refuse_prices() returns trigger language plpgsql as
               $$ begin raise exception 'disk full (simulated)'; end $$;
               create trigger refuse before insert on raw.entsoe_day_ahead_prices
               for each row execute function raw.refuse_prices()"""
        )
    with pytest.raises(psycopg2.Error, match="disk full"):
        load_delivery(conn, meta, _points([40.0] * 24))
    with psycopg2.connect(warehouse_url) as c2, c2.cursor() as cur:
        cur.execute("select count(*) from raw.entsoe_deliveries")
        assert cur.fetchone()[0] == 0
    assert _rows(warehouse_url) == []


def test_dst_autumn_day_repeated_hour_is_flagged_imputed(warehouse_url):
    day = date(2016, 10, 30)
    start, end = FR.delivery_day_bounds_utc(day)
    idx = pd.date_range(start, end, freq="h", inclusive="left")
    assert len(idx) == 25
    values = [float(i) for i in range(25)]
    values[3] = values[2]  # 02:00 CEST and 02:00 CET carry the dataset's averaged value
    local = idx.tz_convert(FR.timezone).tz_localize(None)
    points = pd.DataFrame(
        {"delivery_start_utc": idx, "resolution_minutes": 60, "value": values, "local_wall_time": local}
    )
    meta = DeliveryMeta(
        **{**_meta().__dict__, "delivery_date_local": day, "scheduled_publication_utc": FR.price_publication_utc(day)}
    )
    load_delivery(psycopg2.connect(warehouse_url), meta, points)
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), sum(is_imputed::int) from raw.entsoe_day_ahead_prices")
        assert cur.fetchone() == (25, 2)


# --- boundaries: what the loader itself refuses (issue 21, finding 9) ----------------------------------------------

SPRING = date(2016, 3, 27)  # 23 hours in Paris


def _stored(url) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select delivery_date_local, version, n_points from raw.entsoe_deliveries order by 1, 2")
        deliveries = cur.fetchall()
        cur.execute("select count(*) from raw.entsoe_day_ahead_prices")
        return [*deliveries, ("price rows", cur.fetchone()[0])]


def _on(day, points):
    meta = DeliveryMeta(
        **{**_meta().__dict__, "delivery_date_local": day, "scheduled_publication_utc": FR.price_publication_utc(day)}
    )
    return meta, points


def _mixed_resolutions():
    start, _ = FR.delivery_day_bounds_utc(DAY)
    hourly = pd.date_range(start, periods=12, freq="h")
    quarters = pd.date_range(start + pd.Timedelta(hours=12), periods=48, freq="15min")
    return pd.DataFrame(
        {"delivery_start_utc": hourly.append(quarters), "resolution_minutes": [60] * 12 + [15] * 48, "value": 40.0}
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (lambda: _on(DAY, _points([40.0] * 23 + [float("inf")])), r"infinite values at 23:00 local"),
        (lambda: _on(DAY, _points([40.0] * 23 + [float("-inf")])), r"infinite values"),
        (lambda: _on(DAY, _points([40.0] * 23 + [1e9])), r"1 price\(s\) outside the market's bounds -500\.\.3000 EUR"),
        (lambda: _on(DAY, _points([-600.0] + [40.0] * 23)), r"outside the market's bounds .*-600 at 00:00 local"),
        (
            lambda: _on(DAY, _points([40.0] * 20)),
            r"20 of the 24 PT60M points of this 24-hour day; missing 20:00, "
            r"21:00, 22:00, 23:00 local",
        ),
        (lambda: _on(SPRING, _points([40.0] * 24, day=SPRING)), r"1 point\(s\) outside the local delivery day"),
        (lambda: _on(SPRING, _points([40.0] * 22, day=SPRING)), r"22 of the 23 PT60M points of this 23-hour day"),
        (lambda: _on(DAY, _points([40.0] * 24, day=DAY + pd.Timedelta(days=1))), r"24 point\(s\) outside the local"),
        (lambda: _on(DAY, _mixed_resolutions()), r"mixed resolutions PT15M, PT60M in one day"),
        (lambda: _on(DAY, _points([40.0] * 24).assign(resolution_minutes=7)), r"unsupported resolution PT7M"),
        (
            lambda: _on(
                DAY,
                _points([40.0] * 24).assign(
                    delivery_start_utc=lambda f: f["delivery_start_utc"] + pd.Timedelta(minutes=5)
                ),
            ),
            r"point\(s\) off the PT60M grid of the day",
        ),
    ],
    ids=[
        "+inf",
        "-inf",
        "1e9",
        "below-min",
        "20-of-24",
        "24-on-23h",
        "22-on-23h",
        "wrong-day",
        "mixed-res",
        "pt7m",
        "off-grid",
    ],
)
def test_loader_refuses_a_bad_delivery_naming_market_day_and_what_and_stores_nothing(warehouse_url, case, message):
    conn = psycopg2.connect(warehouse_url)
    load_delivery(conn, _meta(), _points([40.0] * 24))  # a stored day that must survive untouched
    before = _stored(warehouse_url)
    meta, points = case()
    with pytest.raises(LoadError, match=message) as refused:
        load_delivery(conn, meta, points)
    assert str(refused.value).startswith(f"day_ahead_prices/FR/price {meta.delivery_date_local}: ")
    assert _stored(warehouse_url) == before


def test_loader_refuses_absurd_exogenous_quantities(warehouse_url):
    from griddesk.warehouse.loader import EXOGENOUS_FEED

    meta = DeliveryMeta(
        **{
            **_meta().__dict__,
            "feed": EXOGENOUS_FEED,
            "series_code": "load_forecast",
            "currency": None,
            "document_type": "A65",
            "domain_eic": FR.bidding_zone_eic,
        }
    )
    with pytest.raises(LoadError, match=r"exogenous_forecasts/FR/load_forecast 2016-12-20: 1 quantity .*1e\+09"):
        load_delivery(psycopg2.connect(warehouse_url), meta, _points([60000.0] * 23 + [1e9]))
    with pytest.raises(LoadError, match="infinite values"):
        load_delivery(psycopg2.connect(warehouse_url), meta, _points([60000.0] * 23 + [float("inf")]))
    assert _stored(warehouse_url) == [("price rows", 0)]
