"""Frames the forecasting unit tests share."""

from __future__ import annotations

import pandas as pd

EXOGENOUS_COLUMNS = [
    "series_code",
    "delivery_start_utc",
    "resolution_minutes",
    "quantity_mw",
    "version",
    "published_at_utc",
]


def empty_exogenous() -> pd.DataFrame:
    """No published exogenous forecast: the columns :class:`PublishedHistory` reads, times in UTC."""
    return pd.DataFrame(columns=EXOGENOUS_COLUMNS).astype(
        {"delivery_start_utc": "datetime64[ns, UTC]", "published_at_utc": "datetime64[ns, UTC]"}
    )
