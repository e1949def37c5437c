"""Names from feeds.yaml and from feeds are text in every chart, never markup.

Plotly reads a subset of HTML in trace names, axis categories, titles and hover templates:
`<a href>` becomes a link (with a `popup` attribute, an onclick script), `<b>` and
`<span style>` restyle. The test store is built with an entity and a feed whose names carry
such markup, and every chart of every page that draws them must hold them escaped
(`monitor.text.plot_text`), which plotly shows as the characters typed.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.models import Entity
from monitor.text import plot_text
from tests import dashboard_store
from tests.dashboard.helpers import NOW, run_app

HOSTILE_ENTITY = 'Metro<a href="https://evil.example/" popup=\'");alert(8);("\'>polis</a>'
HOSTILE_FEED = 'Smallville <span style="font-size:90px">Ledger</span> & <b>Co</b>'


@pytest.fixture
def hostile_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    watch = [
        Entity(HOSTILE_ENTITY, "place", ("Metropolis",)) if e.name == "Metropolis" else e
        for e in dashboard_store.WATCH
    ]
    feeds = [
        (HOSTILE_FEED, url, tags) if name == "Smallville Ledger" else (name, url, tags)
        for name, url, tags in dashboard_store.FEEDS
    ]
    monkeypatch.setattr(dashboard_store, "WATCH", watch)
    monkeypatch.setattr(dashboard_store, "FEEDS", feeds)
    config = dashboard_store.build_store(tmp_path / "world", NOW)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    return config


def strings(value: Any) -> list[str]:
    """Every string in a figure's JSON."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.mark.parametrize(
    ("view", "name"),
    [
        ("timeline", HOSTILE_ENTITY),
        ("compare", HOSTILE_ENTITY),
        ("co-mentions", HOSTILE_ENTITY),
        ("sources", HOSTILE_FEED),
        ("sources", HOSTILE_ENTITY),
    ],
)
def test_names_are_drawn_as_text(hostile_config: Path, view: str, name: str) -> None:
    at = run_app(view=view, range="all", e=[HOSTILE_ENTITY, "LexCorp", "Lex Luthor"])
    assert not at.exception, [e.value for e in at.exception]
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    text = [s for fig in figures for s in strings(fig)]
    assert any(plot_text(name) in s for s in text), f"{name} is not drawn on {view}"
    for s in text:
        assert "<a " not in s and "<span" not in s
        assert name not in s  # only its escaped form


def test_a_clicked_cell_gives_back_the_names() -> None:
    for name in (HOSTILE_ENTITY, HOSTILE_FEED, "AT&T", "&amp; <b>", "Lex Luthor"):
        assert html.unescape(plot_text(name)) == name
