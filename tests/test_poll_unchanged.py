"""`monitor poll --once` when every feed answers 304: what it records, and what it never loads.

A pass where nothing changed stores each feed's state and a fetch log row, reloads the page
queue, and reads nothing else: no DataFrame (pandas), no parser, no dedup index, no accent
folding tables; with no page queued, not even pyarrow or numpy, and it builds no analysis
(matcher, tone, story index). The module checks are what keep that pass fast
(bench/bench_poll.py measures it); the rest checks that skipping all that changed nothing a
user sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.config import load_config
from monitor.enrich import fingerprint
from monitor.lazy import lazy_module
from monitor.poll import Poller
from monitor.store import SCHEMAS, open_store
from monitor.store.parquet import (
    _FETCH_LOG_CHECKS,
    _is_int,
    _is_number,
    _is_str,
    _rows_table,
    is_iso,
    parquet_frame_problem,
)

from .feedserver import Exchange, FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
HEAVY = (
    "pandas",
    "duckdb",
    "feedparser",
    "fastfeedparser",
    "lxml",
    "trafilatura",
    "aiohttp",  # HTTP goes through libcurl (fetch.py), which starts in a fraction of the time
    "yarl",
)
# what a pass with no page queued does without, too: Arrow and numpy (the store's data files
# and dedup index), VADER (tone) and the parsers' and pages' modules (robots.txt's parser, the
# median of the entries' lengths)
LIGHT = (
    *HEAVY,
    "pyarrow",
    "numpy",
    "vaderSentiment",
    "monitor.stories",
    "monitor.tone",
    "protego",
    "statistics",
    "monitor.delivery",  # no rule, no digest, no message waiting: no alert dispatcher
    "monitor.alerts",
)
# runs the CLI as `monitor` does, then writes which of $MODULES_WATCHED the process imported
ENTRY = (
    "import json, os, sys\n"
    "from monitor.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "watched = os.environ['MODULES_WATCHED'].split(',')\n"
    "loaded = [m for m in watched if m in sys.modules]\n"
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


def poll_once(
    config, tmp_path, watched: tuple[str, ...] = HEAVY
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, "-c", str(config), "poll", "--once"],
        capture_output=True,
        text=True,
        env={**os.environ, "MODULES_OUT": str(out), "MODULES_WATCHED": ",".join(watched)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def two_feeds(server: FeedServer, tmp_path: Path, links: list[str], full_text: bool) -> Path:
    """Feeds A (one article, an ETag) and B (two, a Last-Modified) linking to `links`, and a
    feeds.yaml watching Bukele."""
    server.feed("/a", rss(("Bukele one", links[0])), etag='"a1"')
    server.feed(
        "/b",
        rss(("Bukele two", links[1]), ("Three", links[2])),
        last_modified="Mon, 01 Jun 2026 10:00:00 GMT",
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""store: store
poll:
  full_text: {str(full_text).lower()}
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
    return config


@pytest.fixture
def served(tmp_path):
    """Two feeds with validators whose articles' pages fail (503): their page queue stays in
    the store, to be tried again later."""
    with FeedServer() as server:

        def unavailable(ex: Exchange) -> None:
            ex.respond(503, b"busy", {"Retry-After": "3600"})

        for n in (1, 2, 3, 4):
            server.handle(f"/page{n}", unavailable)
        links = [server.url(f"/page{n}") for n in (1, 2, 3)]
        yield server, two_feeds(server, tmp_path, links, full_text=True)


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


@pytest.fixture
def plain(tmp_path):
    """Two feeds with validators, read from the feeds alone (no page queued)."""
    with FeedServer() as server:
        links = ["https://a.example/1", "https://b.example/2", "https://b.example/3"]
        yield server, two_feeds(server, tmp_path, links, full_text=False)


def test_an_unchanged_pass_without_pages_imports_no_arrow_numpy_or_tone(plain, tmp_path):
    server, config = plain
    first, loaded = poll_once(config, tmp_path, LIGHT)
    assert "3 new articles" in first.stdout
    assert {"pyarrow", "numpy", "vaderSentiment"} <= set(loaded)  # (the check sees them)
    store = open_store(tmp_path / "store")
    before = store.snapshot()

    second, loaded = poll_once(config, tmp_path, LIGHT)

    assert loaded == []
    assert "2 feeds: 0 ok, 2 unchanged, 0 failed; 0 new articles" in second.stdout
    assert [r.headers.get("if-none-match") for r in server.requests_to("/a")][-1] == '"a1"'
    after = store.snapshot()
    # no data file written or replaced: the rows are those of the first pass, and the two
    # fetches of this one are in the manifest's fetch log
    assert after.files == before.files and after.seq == before.seq + 1
    assert after.fingerprint == before.fingerprint and after.watchlist == before.watchlist
    assert len(after.fetch_log) == len(before.fetch_log) + 2
    assert after.fetch_log[: len(before.fetch_log)] == before.fetch_log
    log = after.query("SELECT feed, status, outcome, new_articles FROM {fetches} ORDER BY time")
    assert log.tail(2)[["status", "outcome", "new_articles"]].values.tolist() == [
        [304, "unchanged", 0],
        [304, "unchanged", 0],
    ]
    assert after.rows("articles") == 3 and after.rows("mentions") == 3
    for key, old in before.feeds.items():
        new = after.feeds[key]
        assert (new.last_outcome, new.last_status, new.articles) == ("unchanged", 304, old.articles)
        assert (new.etag, new.last_modified) == (old.etag, old.last_modified)
        assert new.next_poll > old.next_poll

    # a feed that changes afterwards is deduplicated and counted as before
    server.feed(
        "/a", rss(("Bukele one", "https://a.example/1"), ("Bukele four", "https://a.example/4"))
    )
    third, loaded = poll_once(config, tmp_path, LIGHT)
    assert "1 ok, 1 unchanged, 0 failed; 1 new articles, 1 new mentions" in third.stdout
    assert "numpy" in loaded and "vaderSentiment" in loaded
    assert store.snapshot().rows("articles") == 4 and store.snapshot().rows("mentions") == 4


def test_a_message_waiting_in_the_outbox_is_still_handled_by_poll_once(plain, tmp_path):
    """`poll --once` leaves the alert dispatcher out only when it would have nothing to do: a
    message left in the store's outbox (its rule since removed from feeds.yaml) is taken up
    and, its target gone, given up and recorded, as before."""
    _, config = plain
    poll_once(config, tmp_path)
    store = open_store(tmp_path / "store")
    now = datetime.now(UTC)
    item = {
        "id": "waiting-1",
        "kind": "alert",
        "name": "Bukele surge",
        "target": "url:0123456789abcdef",
        "label": "a webhook",
        "attempts": 0,
        "created": now.isoformat(),
        "next_try": now.isoformat(),
        "error": "",
        "firing": {"entity": "Bukele", "fired": now.isoformat()},
    }
    store.update_alerts(lambda state: state.setdefault("outbox", []).append(item))

    _, loaded = poll_once(config, tmp_path, (*LIGHT, "monitor.delivery"))

    assert "monitor.delivery" in loaded
    snap = store.snapshot()
    assert not snap.alerts.get("outbox")
    rows = snap.query("SELECT name, outcome, error FROM {deliveries}").values.tolist()
    assert rows == [["Bukele surge", "gave up", "the target is no longer in feeds.yaml"]]


def test_a_poller_builds_its_analyses_only_for_a_new_article(plain, tmp_path):
    server, config = plain
    poll_once(config, tmp_path)
    poller = Poller(load_config(config), name="test")
    asyncio.run(poller.poll_once())
    assert poller._matcher is None and poller._enricher is None  # all unchanged
    # the fingerprint it records is the one its matcher would give
    assert poller.fingerprint == fingerprint(poller.matcher) == poller.store.snapshot().fingerprint
    assert poller._enricher is None

    server.feed("/b", rss(("Bukele five", "https://b.example/5")))
    summary = asyncio.run(poller.poll_once())
    assert (summary.new_articles, summary.new_mentions) == (1, 1)
    assert poller._enricher is not None and poller.enricher.tone is not None
    assert poller._enricher.stories._held == 0  # the round's hold was released


def test_the_fetch_log_checks_follow_the_fetches_schema():
    # _FETCH_LOG_CHECKS spells out SCHEMAS["fetches"] so that the log needs no pyarrow
    by_type = {pa.timestamp("us"): is_iso, pa.string(): _is_str, pa.float64(): _is_number}
    expected = [(f.name, by_type.get(f.type, _is_int)) for f in SCHEMAS["fetches"]]
    assert list(_FETCH_LOG_CHECKS) == expected
    assert all(pa.types.is_integer(f.type) for f in SCHEMAS["fetches"] if f.type not in by_type)


def test_a_parquet_files_frame_is_checked_without_reading_it(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(100))}), path)
    whole = path.read_bytes()
    assert parquet_frame_problem(path) is None
    path.write_bytes(whole[: len(whole) // 2])
    assert "not framed" in (parquet_frame_problem(path) or "")
    path.write_bytes(b"PAR1 [/bold] not parquet any more")
    assert "not framed" in (parquet_frame_problem(path) or "")
    path.write_bytes(whole[:4] + b"\xff\xff\xff\x00PAR1")  # a footer longer than the file
    assert "footer" in (parquet_frame_problem(path) or "")
    path.write_bytes(b"PAR1PAR1")
    assert parquet_frame_problem(path) is not None
    path.unlink()
    assert parquet_frame_problem(path) == "missing"


def test_a_lazy_module_is_imported_on_first_use_then_takes_its_place():
    sys.modules.pop("tabnanny", None)  # (a stdlib module nothing here imports)
    namespace: dict[str, object] = {}
    namespace["tn"] = lazy_module("tabnanny", namespace, "tn")
    assert "tabnanny" not in sys.modules
    assert namespace["tn"].check
    assert namespace["tn"] is sys.modules["tabnanny"]
