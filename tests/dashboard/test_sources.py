"""The Sources page, headless: the table equals `queries.top_feeds`."""

from __future__ import annotations

from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.store import Store


def test_sources_table_equals_top_feeds(app, store_config: Path) -> None:
    at = app(view="sources", range="all")
    snap = Store(load_config(store_config).store).snapshot()
    want = queries.top_feeds(snap, queries.Filters())
    shown = at.dataframe[0].value
    assert shown["Articles"].tolist() == want["articles"].tolist()
    assert shown["Feed URL"].tolist() == want["feed"].tolist()
