"""The point-in-time cache of one market: every stored version of its prices and exogenous forecasts, loaded once.

:class:`PublishedHistory` answers :meth:`~PublishedHistory.as_of` exactly like
:func:`griddesk.warehouse.pit.prices_as_of` / :func:`~griddesk.warehouse.pit.exogenous_as_of` (latest version
published at or before the instant) without a query per day. :func:`test_period` picks the epftoolbox test days
from it and :func:`actuals_known_at` the realised prices a cut-off knew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from griddesk.markets import get_market
from griddesk.warehouse.pit import exogenous_versions, price_versions

#: The epftoolbox test period: the last 2 x 364 days of every dataset.
FULL_TEST_DAYS = 728
_FAR_FUTURE = pd.Timestamp("2200-01-01", tz="UTC")


@dataclass(frozen=True)
class PublishedHistory:
    """Every stored version of one market's prices and exogenous forecasts, with publication times (UTC).

    Attributes:
        market_code: The market.
        prices: ``delivery_start_utc``, ``delivery_date_local``, ``resolution_minutes``, ``price_per_mwh``,
            ``version``, ``published_at_utc``; sorted by ``delivery_start_utc``.
        exogenous: ``series_code``, ``delivery_start_utc``, ``delivery_date_local``, ``resolution_minutes``,
            ``quantity_mw``, ``version``, ``published_at_utc``; sorted by ``delivery_start_utc``.
    """

    market_code: str
    prices: pd.DataFrame
    exogenous: pd.DataFrame

    @classmethod
    def from_frames(cls, market_code: str, prices: pd.DataFrame, exogenous: pd.DataFrame) -> PublishedHistory:
        """Validate and sort frames in the shapes above.

        Raises:
            ValueError: A column is missing or a timestamp is naive.
        """
        need_p = ("delivery_start_utc", "delivery_date_local", "resolution_minutes", "price_per_mwh", "version")
        need_e = ("series_code", "delivery_start_utc", "resolution_minutes", "quantity_mw", "version")
        for name, frame, need in (("prices", prices, need_p), ("exogenous", exogenous, need_e)):
            missing = [c for c in (*need, "published_at_utc") if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} history lacks column(s) {', '.join(missing)}")
            for col in ("delivery_start_utc", "published_at_utc"):
                if pd.DatetimeIndex(frame[col]).tz is None:
                    raise ValueError(f"{name}.{col} must be tz-aware (UTC)")
        prices, exogenous = prices.copy(), exogenous.copy()
        for frame in (prices, exogenous):
            for col in ("delivery_start_utc", "published_at_utc"):
                # One unit (ns) for the integer comparisons of as_of.
                frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("ns")
        prices = prices.sort_values(["delivery_start_utc", "version"], kind="stable", ignore_index=True)
        exogenous = exogenous.sort_values(["delivery_start_utc", "version"], kind="stable", ignore_index=True)
        return cls(market_code=get_market(market_code).code, prices=prices, exogenous=exogenous)

    @classmethod
    def from_warehouse(cls, conn, market_code: str) -> PublishedHistory:
        """Load every version of the market's prices and exogenous forecasts from ``raw``."""
        market = get_market(market_code)
        prices = price_versions(conn, market.code)
        exogenous = exogenous_versions(conn, market.code)
        return cls.from_frames(market.code, prices, exogenous)

    @classmethod
    def from_dataset(cls, df: pd.DataFrame, market_code: str) -> PublishedHistory:
        """A dataset frame (:func:`griddesk.datasets.load_epftoolbox`) as version 1 published on the market's clock.

        Prices of D are published at ``Market.price_publication_utc(D)``, exogenous forecasts for D at
        ``Market.exogenous_publication_utc(D)``, as the simulator serves them. For tests and offline runs.
        """
        market = get_market(market_code)
        days = pd.Series(df["delivery_date_local"].unique())
        price_pub = dict(zip(days, (pd.Timestamp(market.price_publication_utc(d)) for d in days), strict=True))
        exog_pub = dict(zip(days, (pd.Timestamp(market.exogenous_publication_utc(d)) for d in days), strict=True))
        base = {
            "delivery_start_utc": df["delivery_start_utc"].to_numpy(),
            "delivery_date_local": df["delivery_date_local"].to_numpy(),
            "resolution_minutes": 60,
            "version": 1,
        }
        prices = pd.DataFrame({**base, "price_per_mwh": df["price_per_mwh"].to_numpy(dtype=float)}).assign(
            published_at_utc=df["delivery_date_local"].map(price_pub).to_numpy()
        )
        exogenous = pd.concat(
            [
                pd.DataFrame(
                    {**base, "series_code": s.series_code, "quantity_mw": df[f"exog_{s.dataset_column}"].to_numpy()}
                ).assign(published_at_utc=df["delivery_date_local"].map(exog_pub).to_numpy())
                for s in market.exogenous
            ],
            ignore_index=True,
        )
        for frame in (prices, exogenous):
            frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
            frame["published_at_utc"] = pd.to_datetime(frame["published_at_utc"], utc=True)
        return cls.from_frames(market.code, prices, exogenous)

    def as_of(
        self, as_of_utc: datetime | pd.Timestamp, start_utc: datetime | pd.Timestamp, end_utc: datetime | pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Prices delivered in [start, end) and exogenous forecasts delivered in [start, end), as known at ``as_of``.

        Same rows as :func:`griddesk.warehouse.pit.prices_as_of` and ``exogenous_as_of``: per MTU (and series) the
        highest version published at or before ``as_of_utc``.
        """
        as_of = pd.Timestamp(as_of_utc)
        start, end = pd.Timestamp(start_utc), pd.Timestamp(end_utc)
        prices = _as_of(self.prices, as_of, start, end, ["delivery_start_utc"])
        exogenous = _as_of(self.exogenous, as_of, start, end, ["series_code", "delivery_start_utc"])
        return prices, exogenous

    def price_days(self) -> list[date]:
        """Local delivery days with at least one stored price, ascending."""
        return sorted(pd.unique(self.prices["delivery_date_local"]))

    def final_prices(self, start_utc: datetime, end_utc: datetime) -> pd.DataFrame:
        """The latest stored version of every price in [start, end): the realised prices used for scoring."""
        return _as_of(self.prices, _FAR_FUTURE, pd.Timestamp(start_utc), pd.Timestamp(end_utc), ["delivery_start_utc"])


def _as_of(frame: pd.DataFrame, as_of: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp, key: list[str]):
    """Rows delivered in [start, end) published by ``as_of``; per key the newest version (frame sorted by MTU)."""
    starts = frame["delivery_start_utc"].array.asi8
    lo = np.searchsorted(starts, start.as_unit("ns").value, side="left")
    hi = np.searchsorted(starts, end.as_unit("ns").value, side="left")
    window = frame.iloc[lo:hi]
    visible = window[window["published_at_utc"].array.asi8 <= as_of.as_unit("ns").value]
    if len(visible) and int(visible["version"].max()) > 1:
        # Rows are sorted by (MTU, version): the last of each key is the newest visible version.
        visible = visible.sort_values([*key, "version"], kind="stable").drop_duplicates(key, keep="last")
        visible = visible.sort_values("delivery_start_utc", kind="stable")
    return visible.reset_index(drop=True)


def test_period(history: PublishedHistory, days: int | None = None) -> list[date]:
    """The last 728 local days with complete prices (epftoolbox), or the last ``days`` of them (quick mode).

    Quick mode needs only those ``days`` (plus what the models look back), so a short history suffices.

    Raises:
        ValueError: ``days`` outside 1..728, too few complete days stored, or a gap among the last days.
    """
    if days is not None and not 1 <= days <= FULL_TEST_DAYS:
        raise ValueError(f"quick-mode days must be between 1 and {FULL_TEST_DAYS}, got {days}")
    market = get_market(history.market_code)
    prices = history.prices.drop_duplicates("delivery_start_utc")
    counts = prices.groupby("delivery_date_local").size()
    res = prices["resolution_minutes"].groupby(prices["delivery_date_local"]).min()
    complete = [d for d, n in counts.items() if n == market.mtus_in_day(d, int(res[d]))]
    needed = days or FULL_TEST_DAYS
    if len(complete) < needed:
        raise ValueError(
            f"{market.code}: only {len(complete)} complete price days stored; the test period needs {needed} "
            "(load the market's dataset first)"
        )
    period = complete[-needed:]
    if (period[-1] - period[0]).days != needed - 1:
        raise ValueError(f"{market.code}: the last {needed} price days have gaps ({period[0]}..{period[-1]})")
    return period


def actuals_known_at(history: PublishedHistory, cutoff_utc: datetime, first_day: date, last_day: date) -> pd.Series:
    """Realised prices of days first..last as published by ``cutoff_utc``, on a UTC index (per MWh)."""
    market = get_market(history.market_code)
    start = market.delivery_day_bounds_utc(first_day)[0]
    end = market.delivery_day_bounds_utc(last_day)[1]
    prices, _ = history.as_of(cutoff_utc, start, end)
    return pd.Series(
        prices["price_per_mwh"].to_numpy(dtype=float), index=pd.DatetimeIndex(prices["delivery_start_utc"])
    )
