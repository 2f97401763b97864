"""The published reference figures (REFERENCES.md section 2) reproduced within 0.5 points with the reference's own
setting: a plain daily MILP with continuous volumes on the published 24-hour grid, full test periods."""

from __future__ import annotations

import pandas as pd
import pytest

from griddesk.bidding import BatteryConfig
from griddesk.reporting.bidding_data import load_published
from griddesk.reporting.bidding_report import REFERENCE_FIGURES
from griddesk.reporting.bidding_scoring import reproduce_reference


@pytest.mark.parametrize("market", ["NP", "DE"])
def test_published_reference_figures_are_reproduced_within_half_a_point(market, shared_data_dir):
    published = load_published(market, shared_data_dir)
    assert published is not None, f"published forecasts of {market} missing under {shared_data_dir}"
    days = sorted({t.date() for t in pd.DatetimeIndex(published.index).normalize()})
    assert len(days) == 728
    reproduced = reproduce_reference(market, published, days, BatteryConfig())
    for model, figure in REFERENCE_FIGURES[market].items():
        ours = reproduced[model]["percentage_of_perfect"]
        assert abs(ours - figure) <= 0.5, f"{market} {model}: {ours:.2f} % vs the published {figure} %"
