"""The Compare page, headless: the totals in the legend equal the command line's; the share over
time is one figure of stacked areas and nothing else (the totals' donut, drawn beside it,
made a first open ~1 s slower in the browser)."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.helpers import (
    captions,
    cli_json,
    traces,
)


def legend_totals(at) -> dict[str, str]:
    """Each area's legend entry, by the entity its hover names."""
    return {t["hovertemplate"].split(":")[0]: t["name"] for t in traces(at)}


def test_compare_totals_equal_cli(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"])
    assert len(at.get("plotly_chart")) == 1
    assert [t["type"] for t in traces(at)] == ["scatter", "scatter"]  # no donut
    assert all(t.get("stackgroup") == "share" for t in traces(at))
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    total = sum(r["mentions"] for r in rows)
    assert legend_totals(at) == {
        r["entity"]: f"{r['entity']}: {r['mentions']:,} ({r['mentions'] / total:.0%})" for r in rows
    }
    assert f"{total:,} mentions in all in the range" in captions(at)


def test_share_of_voice_in_stories_and_tone_falls_back(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="stories")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    stories = sum(r["stories"] for r in rows)
    assert legend_totals(at) == {
        r["entity"]: f"{r['entity']}: {r['stories']:,} ({r['stories'] / stories:.0%})" for r in rows
    }
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="tone")
    assert "tone is a mean score" in " ".join(c.value for c in at.caption)
    assert f"{sum(r['mentions'] for r in rows):,} mentions in all" in captions(at)
