"""The Compare page, headless: the donut's totals equal the command line's; the share over
time and the donut are one figure (one chart for the browser to draw)."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.helpers import (
    cli_json,
    figure,
    traces,
)


def test_compare_donut_totals_equal_cli(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"])
    assert len(at.get("plotly_chart")) == 1
    donut = next(t for t in traces(at) if t["type"] == "pie")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {
        r["entity"]: r["mentions"] for r in rows
    }
    area = [t for t in traces(at) if t["type"] == "scatter"]
    assert {t["name"] for t in area} == {"Nayib Bukele", "LexCorp"}
    assert all(t.get("stackgroup") == "share" for t in area)
    # side by side: the areas' axis and the donut's domain do not overlap; the total inside
    layout = figure(at)["layout"]
    assert layout["xaxis"]["domain"][1] < donut["domain"]["x"][0]
    total = sum(r["mentions"] for r in rows)
    assert any(f"{total:,}<br>mentions" == a["text"] for a in layout["annotations"])


def test_share_of_voice_in_stories_and_tone_falls_back(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="stories")
    donut = next(t for t in traces(at) if t["type"] == "pie")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {
        r["entity"]: r["stories"] for r in rows
    }
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="tone")
    assert "tone is a mean score" in " ".join(c.value for c in at.caption)
    donut = next(t for t in traces(at) if t["type"] == "pie")
    assert sum(donut["values"]) == sum(r["mentions"] for r in rows)
