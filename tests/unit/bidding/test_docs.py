"""docs/bidding.md stays true to the code: every bidding setting is documented."""

from __future__ import annotations

import re

from griddesk.bidding.controls import BiddingSettings
from griddesk.settings import PROJECT_ROOT


def test_bidding_docs_list_every_griddesk_bidding_variable():
    text = (PROJECT_ROOT / "docs" / "bidding.md").read_text()
    documented = set(re.findall(r"GRIDDESK_BIDDING_[A-Z_0-9]+", text))
    expected = {f"GRIDDESK_BIDDING_{name.upper()}" for name in BiddingSettings.model_fields}
    assert not expected - documented, f"docs/bidding.md lacks {sorted(expected - documented)}"
    assert not documented - expected, f"docs/bidding.md names unknown settings {sorted(documented - expected)}"
