"""The `monitor` command line, run as a user runs it (a subprocess) where exit codes matter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.cli import main
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
REPO = Path(__file__).resolve().parent.parent


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
        {"entity": "CECOT", "kind": "topic", "mentions": 2, "articles": 2, "stories": 2},
        {"entity": "Nayib Bukele", "kind": "person", "mentions": 2, "articles": 2, "stories": 2},
    ]
    assert main(["-c", str(world), "mentions", "--by", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["period"] for r in rows} == {
        (NOW - timedelta(days=d)).strftime("%Y-%m-%d") for d in (1, 2)
    }
    assert sum(r["mentions"] for r in rows if r["entity"] == "CECOT") == 2
    assert set(rows[0]) == {"entity", "kind", "period", "mentions", "articles", "stories"}

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
    assert capsys.readouterr().out.strip() == "entity,kind,mentions,articles,stories"


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
    assert "added 1 feeds" in capsys.readouterr().out
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


# --------------------------------------------------------------------------------------------
# The store's health: check, repair, damage while polling, a read-only store


def store_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.parquet")}


def test_check_and_repair_a_store_that_lost_its_manifest(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    result = run("-c", str(world), "check")
    assert result.returncode == 0 and "healthy" in result.stdout, result.stdout
    mentions = run("-c", str(world), "mentions", "--format", "json").stdout
    root = world.parent / "store"
    before = store_files(root)
    (root / "manifest.json").unlink()

    for command in (["poll", "--once"], ["mentions"], ["status"], ["rematch"]):
        result = run("-c", str(world), *command)
        assert result.returncode == 2, command
        [line] = result.stderr.strip().splitlines()
        assert "damaged" in line and "monitor repair" in line, line
    assert store_files(root) == before  # nothing deleted, nothing started afresh

    result = run("-c", str(world), "check")
    assert result.returncode == 2
    assert "problem: manifest.json: missing, but the table folders hold" in result.stdout
    result = run("-c", str(world), "check", "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["healthy"] is False and report["problems"][0]["kind"] == "manifest"

    result = run("-c", str(world), "repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "manifest.json is missing" in result.stdout and "recounted mentions" in result.stdout
    assert result.stdout.strip().endswith("healthy")
    assert run("-c", str(world), "mentions", "--format", "json").stdout == mentions
    result = run("-c", str(world), "check", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout)["healthy"] is True
    assert run("-c", str(world), "poll", "--once").returncode == 0


def test_a_damaged_file_is_quarantined_while_polling_and_reported(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    root = world.parent / "store"
    manifest = json.loads((root / "manifest.json").read_text())
    bad = manifest["tables"]["articles"][0]["path"]
    (root / bad).write_bytes(b"PAR1 [/bold] not parquet any more")

    result = run("-c", str(world), "articles")
    assert result.returncode == 2
    assert bad in result.stderr and "Traceback" not in result.stderr

    result = run("-c", str(world), "poll", "--once")
    assert result.returncode == 0, result.stderr  # the poller carries on
    assert f"store: {bad} is damaged" in result.stderr
    assert (root / "quarantine" / bad).read_bytes() == b"PAR1 [/bold] not parquet any more"
    # its articles are lost, so their mentions were recounted away (no count without articles)
    assert json.loads(run("-c", str(world), "mentions", "--format", "json").stdout) == []

    result = run("-c", str(world), "status")
    assert result.returncode == 0
    assert f"store: {bad} was damaged" in result.stdout and "rows lost" in result.stdout
    result = run("-c", str(world), "status", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout)[0]["name"] == "Feed A"
    assert f"store: {bad} was damaged" in result.stderr
    assert run("-c", str(world), "articles").returncode == 0

    result = run("-c", str(world), "check")
    assert result.returncode == 2
    [problem] = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert bad in problem and "quarantined" in problem
    result = run("-c", str(world), "repair")
    assert result.returncode == 0 and "marked 1 earlier quarantined file as seen" in result.stdout
    assert run("-c", str(world), "check").returncode == 0
    result = run("-c", str(world), "status")
    assert "was damaged" not in result.stdout


@pytest.fixture
def readonly_world(world):
    """The world's store after one poll, made read-only; yields a runner that can't write it.

    As root, permissions do not bind: the commands then run as the user "nobody", on a copy of
    the world in a folder that user may read.
    """
    assert run("-c", str(world), "poll", "--once").returncode == 0
    if os.geteuid() != 0:
        root = world.parent / "store"
        paths = [root, *root.rglob("*")]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield world, run
        finally:
            for p in paths:
                p.chmod(0o755 if p.is_dir() else 0o644)
        return
    shared = Path(tempfile.mkdtemp(prefix="monitor-ro-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(world.parent, shared / "w")
        for p in [shared / "w", *(shared / "w").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)

        def run_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
            # setpriv (util-linux): Python's own user= cannot exec this interpreter here
            drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            return subprocess.run(
                [*drop, sys.executable, "-m", "monitor.cli", *args],
                capture_output=True,
                text=True,
                env={**os.environ, "HOME": str(shared), "PYTHONPATH": str(REPO)},
                cwd=shared,
                timeout=120,
            )

        yield shared / "w" / world.name, run_as_nobody
    finally:
        shutil.rmtree(shared)


def test_a_read_only_store_can_be_read_but_not_polled(readonly_world):
    config, run_ro = readonly_world
    for command in (["poll", "--once"], ["rematch"], ["repair"]):
        result = run_ro("-c", str(config), *command)
        assert result.returncode == 2, (command, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert "cannot write to the store" in line and "read-only" in line, line
    for command in (["status"], ["mentions"], ["articles"], ["check"]):
        result = run_ro("-c", str(config), *command)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_mentions_with_tone_and_rising_names(tmp_path, capsys):
    """The tone of mentions and the names nobody watches, from a real poll."""
    day = NOW - timedelta(days=1)
    items = "".join(
        item(title, f"http://n.example/{i}", day - timedelta(hours=i)).replace(
            "<description>Body.</description>", f"<description>{text}</description>"
        )
        for i, (title, text) in enumerate(
            [
                ("Bukele praised", "Kristi Noem praised Bukele for a great, safe success."),
                (
                    "CECOT abuse",
                    "Rights groups condemned horrific abuse at CECOT, Kristi Noem said.",
                ),
                ("Visit", "Marco Rubio visited CECOT."),
            ]
        )
    )
    with FeedServer() as server:
        server.feed(
            "/n", f"<rss version='2.0'><channel><title>N</title>{items}</channel></rss>".encode()
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"store: store\nfeeds:\n  - name: N\n    url: {server.url('/n')}\nwatch:\n"
            "  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
            "  - name: CECOT\n    kind: topic\n"
        )
        assert main(["-c", str(config), "poll", "--once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "mentions", "--with-tone", "--format", "json"]) == 0
    tone = {r["entity"]: r["tone"] for r in json.loads(capsys.readouterr().out)}
    assert tone["Nayib Bukele"] > 0.5 and -1 <= tone["CECOT"] < 0
    assert main(["-c", str(config), "names", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "name": "Kristi Noem", "articles": 2, "previous": 0, "growth": None,
        "with": ["CECOT", "Nayib Bukele"],
    }  # fmt: skip
    assert [r["name"] for r in rows] == ["Kristi Noem", "Marco Rubio"]
    assert main(["-c", str(config), "names", "--limit", "1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name,articles,previous,growth,with",
        "Kristi Noem,2,0,,CECOT; Nayib Bukele",
    ]
    assert main(["-c", str(config), "names"]) == 0
    assert "new" in capsys.readouterr().out
    assert main(["-c", str(config), "rematch", "--no-tone"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "mentions", "--with-tone", "--format", "json"]) == 0
    assert all(r["tone"] is None for r in json.loads(capsys.readouterr().out))
