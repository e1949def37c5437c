"""The Feeds page, headless: the health of every feed."""

from __future__ import annotations

from tests.dashboard.helpers import (
    notices,
)
from tests.dashboard_store import FEEDS


def test_feeds_view_lists_feed_health(app) -> None:
    at = app(view="feeds")
    df = at.dataframe[0].value
    assert set(df["name"]) == {name for name, _, _ in FEEDS}
    moved = df.set_index("name").loc["Smallville Ledger", "moved_to"]
    assert moved.endswith("ledger-new.xml")
    assert "moved permanently" in notices(at)
