"""The `monitor` command line, run as a user runs it (a subprocess) where exit codes matter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.cli import main
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def item(title: str, link: str, when: datetime) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate><description>Body.</description></item>"
    )


@pytest.fixture
def world(tmp_path):
    """A feeds.yaml with two good feeds and a broken one, served locally."""
    with FeedServer() as server:
        a = "".join(
            [
                item("Bukele and CECOT", "http://a.example/1", NOW - timedelta(days=2)),
                item("Bukele again", "http://a.example/2", NOW - timedelta(days=1)),
            ]
        )
        server.feed(
            "/a", f"<rss version='2.0'><channel><title>A</title>{a}</channel></rss>".encode()
        )
        b = item("CECOT only", "http://b.example/1", NOW - timedelta(days=1))
        server.feed(
            "/b", f"<rss version='2.0'><channel><title>B</title>{b}</channel></rss>".encode()
        )
        server.feed("/broken", b"nope", status=503)
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"""# test config
store: store
feeds:
  - name: Feed A
    url: {server.url("/a")}
    tags: [world]
  - name: Feed B
    url: {server.url("/b")}
  - name: Broken
    url: {server.url("/broken")}
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele]
  - name: CECOT
    kind: topic
"""
        )
        yield config


def test_validate_reports_every_error_with_lines_and_no_traceback(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: X\n    url: ftp://x\n    every: often\nwatch: []\n")
    result = run("-c", str(bad), "validate")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith('feeds.yaml:3: feeds[0].url: not an http(s) URL: "ftp://x"')
    assert "feeds.yaml:4: feeds[0].every" in lines[1]
    assert "Traceback" not in result.stderr


def test_every_command_validates_first(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("store: [oops\n")
    for command in (["poll", "--once"], ["status"], ["mentions"], ["articles"], ["rematch"]):
        result = run("-c", str(bad), *command)
        assert result.returncode == 1, command
        assert "feeds.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_config_from_environment_and_missing_file(tmp_path):
    result = run("validate", env={"MONITOR_CONFIG": str(tmp_path / "nope.yaml")})
    assert result.returncode == 1
    assert "nope.yaml: file not found" in result.stderr


def test_poll_once_then_read_commands(world, capsys):
    result = run("-c", str(world), "poll", "--once")
    assert result.returncode == 0, result.stderr  # a failed feed is not a failed run
    assert "3 feeds: 2 ok, 0 unchanged, 1 failed; 3 new articles" in result.stdout
    assert "Broken: HTTP 503" in result.stdout

    assert main(["-c", str(world), "mentions", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [  # sorted by mentions, then name
        {"entity": "CECOT", "kind": "topic", "mentions": 2, "articles": 2},
        {"entity": "Nayib Bukele", "kind": "person", "mentions": 2, "articles": 2},
    ]
    assert main(["-c", str(world), "mentions", "--by", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["period"] for r in rows} == {
        (NOW - timedelta(days=d)).strftime("%Y-%m-%d") for d in (1, 2)
    }
    assert sum(r["mentions"] for r in rows if r["entity"] == "CECOT") == 2
    assert set(rows[0]) == {"entity", "kind", "period", "mentions", "articles"}

    assert main(["-c", str(world), "articles", "--entity", "cecot", "--format", "json"]) == 0
    arts = json.loads(capsys.readouterr().out)
    assert [a["title"] for a in arts] == ["CECOT only", "Bukele and CECOT"]
    assert {"time", "feed", "title", "url", "mentions"} <= set(arts[0])

    assert main(["-c", str(world), "status", "--format", "json"]) == 0
    status = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert status["Feed A"]["articles"] == 2 and status["Feed A"]["status"] == "ok"
    assert status["Broken"]["status"] == "failed" and "503" in status["Broken"]["error"]
    assert {"name", "url", "articles", "status", "error"} <= set(status["Feed B"])

    assert (
        main(["-c", str(world), "mentions", "--since", NOW.strftime("%Y-%m-%d"), "--format", "csv"])
        == 0
    )
    assert capsys.readouterr().out.strip() == "entity,kind,mentions,articles"


def test_unknown_entity_is_a_clear_error(world):
    result = run("-c", str(world), "mentions", "--entity", "Bukel")
    assert result.returncode == 2
    assert 'no watched entity is called "Bukel"' in result.stderr
    assert "Traceback" not in result.stderr


def test_rematch_counts_a_new_entity_over_history(world, capsys):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    world.write_text(world.read_text() + "  - name: Again\n    kind: topic\n")
    assert main(["-c", str(world), "rematch"]) == 0
    assert main(["-c", str(world), "mentions", "--entity", "Again", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("[") :])[0]["articles"] == 1


def test_unusable_store_is_a_nonzero_exit(tmp_path):
    (tmp_path / "store").write_text("a file where the folder should be")
    config = tmp_path / "feeds.yaml"
    config.write_text("store: store\nfeeds: []\nwatch: []\n")
    result = run("-c", str(config), "poll", "--once")
    assert result.returncode == 2
    assert "store" in result.stderr and "Traceback" not in result.stderr


def test_import_opml_adds_feeds_and_keeps_comments(tmp_path, capsys):
    config = tmp_path / "feeds.yaml"
    config.write_text("# my feeds\nfeeds:\n  - name: A\n    url: http://a.example/rss\nwatch: []\n")
    opml = tmp_path / "list.opml"
    opml.write_text(
        '<opml version="1.0"><body><outline text="News & Views">'
        '<outline text="B & C" xmlUrl="http://b.example/rss?x=1&y=2"/>'
        '<outline text="A again" xmlUrl="http://a.example/rss"/>'
        "</outline></body></opml>"
    )
    assert main(["-c", str(config), "import-opml", str(opml)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"added 1 feed to {config}; skipped 1",
        "  + B & C <http://b.example/rss?x=1&y=2>",
        "  skipped http://a.example/rss: already in feeds.yaml",
    ]
    text = config.read_text()
    assert text.startswith("# my feeds") and "http://b.example/rss?x=1&y=2" in text


def test_feed_tag_and_search_filters(world, capsys):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    assert main(["-c", str(world), "mentions", "--tag", "world", "--format", "json"]) == 0
    rows = {r["entity"]: r["articles"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"Nayib Bukele": 2, "CECOT": 1}  # Feed A only
    assert main(["-c", str(world), "mentions", "--feed", "feed b", "--format", "json"]) == 0
    assert [r["entity"] for r in json.loads(capsys.readouterr().out)] == ["CECOT"]
    assert main(["-c", str(world), "articles", "--search", "again", "--format", "json"]) == 0
    assert [a["title"] for a in json.loads(capsys.readouterr().out)] == ["Bukele again"]
    assert main(["-c", str(world), "mentions", "--tag", "nope"]) == 2
