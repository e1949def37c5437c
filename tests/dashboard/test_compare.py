"""The Compare page, headless: the donut's totals equal the command line's."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.helpers import (
    cli_json,
    traces,
)


def test_compare_donut_totals_equal_cli(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"])
    donut = next(t for t in traces(at, 1) if t["type"] == "pie")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {
        r["entity"]: r["mentions"] for r in rows
    }
    area = traces(at, 0)
    assert {t["name"] for t in area} == {"Nayib Bukele", "LexCorp"}
    assert all(t.get("stackgroup") == "share" for t in area)


def test_share_of_voice_in_stories_and_tone_falls_back(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="stories")
    donut = next(t for t in traces(at, 1) if t["type"] == "pie")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {
        r["entity"]: r["stories"] for r in rows
    }
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"], measure="tone")
    assert "tone is a mean score" in " ".join(c.value for c in at.caption)
    donut = next(t for t in traces(at, 1) if t["type"] == "pie")
    assert sum(donut["values"]) == sum(r["mentions"] for r in rows)
