"""`monitor poll --once` when every feed answers 304: what it records, and what it never loads.

A pass where nothing changed stores each feed's state and a fetch log row, reloads the page
queue, and reads nothing else: no DataFrame (pandas), no parser, no dedup index, no accent
folding tables. The module
checks are what keep that pass fast (bench/bench_poll.py measures it); the rest checks that
skipping all that changed nothing a user sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from monitor.store import SCHEMAS, open_store
from monitor.store.parquet import _rows_table

from .feedserver import Exchange, FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
HEAVY = ("pandas", "duckdb", "feedparser", "fastfeedparser", "lxml", "trafilatura")
# runs the CLI as `monitor` does, then writes which of HEAVY the process imported
ENTRY = (
    "import json, os, sys\n"
    "from monitor.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "text = sys.modules.get('monitor.text')\n"  # the accent folding tables (~20-50 ms)
    "loaded += ['fold tables'] if text and text._fold_tables.cache_info().currsize else []\n"
    "with open(os.environ['MODULES_OUT'], 'w') as fh:\n"
    "    json.dump(loaded, fh)\n"
    "sys.exit(code)\n"
)


def rss(*items: tuple[str, str]) -> bytes:
    when = (NOW - timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{when}</pubDate>"
        "<description>Bukele said little.</description></item>"
        for t, link in items
    )
    return f"<rss version='2.0'><channel><title>t</title>{body}</channel></rss>".encode()


def poll_once(config, tmp_path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, "-c", str(config), "poll", "--once"],
        capture_output=True,
        text=True,
        env={**os.environ, "MODULES_OUT": str(out)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


@pytest.fixture
def served(tmp_path):
    """Two feeds with validators whose articles' pages fail (503): their page queue stays in
    the store, to be tried again later."""
    with FeedServer() as server:

        def unavailable(ex: Exchange) -> None:
            ex.respond(503, b"busy", {"Retry-After": "3600"})

        for n in (1, 2, 3, 4):
            server.handle(f"/page{n}", unavailable)
        server.feed("/a", rss(("Bukele one", server.url("/page1"))), etag='"a1"')
        server.feed(
            "/b",
            rss(("Bukele two", server.url("/page2")), ("Three", server.url("/page3"))),
            last_modified="Mon, 01 Jun 2026 10:00:00 GMT",
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"""store: store
poll:
  full_text: true
feeds:
  - name: A
    url: {server.url("/a")}
  - name: B
    url: {server.url("/b")}
watch:
  - name: Bukele
    kind: person
"""
        )
        yield server, config


def test_an_unchanged_pass_records_every_feed_and_loads_no_dataframe_or_parser(served, tmp_path):
    server, config = served
    first, loaded = poll_once(config, tmp_path)
    assert "3 new articles" in first.stdout
    assert "pandas" in loaded or "fastfeedparser" in loaded  # (the check can see them)
    store = open_store(tmp_path / "store")
    before = store.snapshot()
    # each page queued, then tried once (503): to be tried again in an hour
    assert before.rows("pages") == 6 and before.rows("fetches") == 2
    server.reset_counts()

    second, loaded = poll_once(config, tmp_path)

    assert loaded == ["duckdb"]  # the page queue is read back; nothing else is
    assert not any(server.requests_to(f"/page{n}") for n in (1, 2, 3))  # due in an hour
    assert "2 feeds: 0 ok, 2 unchanged, 0 failed; 0 new articles" in second.stdout
    a, b = server.requests_to("/a"), server.requests_to("/b")
    assert [r.headers.get("if-none-match") for r in a] == ['"a1"']
    assert [r.headers.get("if-modified-since") for r in b] == ["Mon, 01 Jun 2026 10:00:00 GMT"]
    after = store.snapshot()
    for key in before.feeds:
        old, new = before.feeds[key], after.feeds[key]
        assert (new.last_outcome, new.last_status, new.failures) == ("unchanged", 304, 0)
        assert new.last_poll > old.last_poll and new.last_success == new.last_poll
        assert new.next_poll > old.next_poll
        assert (new.etag, new.last_modified, new.articles) == (
            old.etag,
            old.last_modified,
            1 + (key.endswith("/b")),
        )
        assert new.pages_pending == old.pages_pending
    assert after.rows("articles") == 3 and after.rows("pages") == 6
    log = after.query("SELECT feed, status, outcome, new_articles FROM {fetches} ORDER BY time")
    assert len(log) == 4
    assert log.tail(2)[["status", "outcome", "new_articles"]].values.tolist() == [
        [304, "unchanged", 0],
        [304, "unchanged", 0],
    ]
    assert sorted(log.tail(2)["feed"]) == sorted(before.feeds)

    # a feed that changes afterwards is deduplicated against what the first pass stored
    server.feed(
        "/a",
        rss(("Bukele one", server.url("/page1")), ("Bukele four", server.url("/page4"))),
        etag='"a2"',
    )
    third, _ = poll_once(config, tmp_path)
    assert "1 ok, 1 unchanged, 0 failed; 1 new articles" in third.stdout
    assert store.snapshot().rows("articles") == 4


def test_fetch_log_rows_built_from_buffers_equal_arrows_own():
    rows = [
        {
            "feed": "http://b.example/feed?x=ü",
            "time": datetime(2026, 1, 2, 3, 4, 5, 6),
            "status": 304,
            "outcome": "unchanged",
            "bytes": 0,
            "new_articles": 0,
            "duration": 0.012,
            "error": "",
        },
        {
            "feed": "a",
            "time": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # the same instant, aware
            "status": None,
            "outcome": "failed",
            "bytes": None,
            "new_articles": 0,
            "duration": 20.5,
            "error": "connection refused [/bold]",
        },
        {
            "feed": "c",
            "time": datetime(2025, 12, 31, 23, 59),
            "status": 200,
            "outcome": "ok",
            "bytes": 2**40,
            "new_articles": 50,
            "duration": None,
            "error": None,
        },
    ]
    built = _rows_table("fetches", rows)
    expected = pa.Table.from_pylist(rows, SCHEMAS["fetches"]).sort_by("time")
    assert built.equals(expected)
    assert _rows_table("fetches", []).equals(SCHEMAS["fetches"].empty_table())
