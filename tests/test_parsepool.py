"""Parsing in a worker process beside the poller (monitor/parsepool.py): the same results as
parsing in-process, a body the worker cannot parse or dies on is that feed's error only, and
the poller stores the same articles, mentions, tones, stories and names either way."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor import parsepool
from monitor.config import load_config
from monitor.demo.server import serve_world
from monitor.demo.world import World
from monitor.enrich import Prepared, prepare
from monitor.errors import ParseError
from monitor.models import ParsedFeed, cap_title
from monitor.parse import parse_feed
from monitor.parsepool import FeedParser, ParsedBody, parse_body
from monitor.poll import PARSE_ASIDE_FEEDS, Poller
from monitor.store import open_store
from tests.feedserver import FeedServer
from tests.parse_jobs import CRASH, parse_or_crash, parse_then_return, worker_pid

DATA = Path(__file__).parent / "data" / "feeds"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)


def rss(n: int, *, tag: str = "", extra: bytes = b"") -> bytes:
    items = "".join(
        f"<item><title>{tag} story {i}: Bukele at CECOT</title>"
        f"<link>http://{tag or 'x'}.example/{i}</link>"
        f"<pubDate>Mon, 0{1 + i % 9} Jun 2026 10:00:00 GMT</pubDate>"
        f"<description>Nayib Bukele spoke about item {i} of {tag}.</description></item>"
        for i in range(n)
    )
    return (
        b'<?xml version="1.0"?>'
        + extra
        + f"<rss version='2.0'><channel><title>{tag}</title>{items}</channel></rss>".encode()
    )


def same_prepared(a: list[Prepared], b: list[Prepared]) -> bool:
    """Whether two lists of `enrich.prepare` results are equal (signatures hold arrays)."""

    def same_array(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        return (x is None and y is None) or (
            x is not None and y is not None and x.dtype == y.dtype and np.array_equal(x, y)
        )

    return len(a) == len(b) and all(
        p.names == q.names
        and same_array(p.signature.compare, q.signature.compare)
        and same_array(p.signature.bands, q.signature.bands)
        and same_array(p.signature.bloom, q.signature.bloom)
        and (p.signature.title, p.signature.short, p.signature.excess)
        == (q.signature.title, q.signature.short, q.signature.excess)
        for p, q in zip(a, b, strict=True)
    )


def expected_prepared(feed: ParsedFeed) -> list[Prepared]:
    return prepare([(cap_title(e.title), e.text) for e in feed.entries])


def worker_up() -> FeedParser:
    """A parser whose worker is up (started now if none is)."""
    parser = FeedParser()
    parser.start()
    deadline = time.monotonic() + 60
    while not parser.ready:
        assert time.monotonic() < deadline, "the parse worker did not start"
        time.sleep(0.02)
    return parser


def test_parse_body_returns_the_parse_or_the_error_as_a_value():
    body = rss(3, tag="a")
    out = parse_body(body, "http://a.example/feed", "")
    assert isinstance(out, ParsedBody)
    assert out.feed == parse_feed(body, "http://a.example/feed")
    assert len(out.prepared) == 3 and same_prepared(out.prepared, expected_prepared(out.feed))
    # the same through a pipe
    again = pickle.loads(pickle.dumps(out))
    assert again.feed == out.feed and same_prepared(again.prepared, out.prepared)
    error = parse_body(b"<html><body>not a feed</body></html>", "http://a.example/feed", "")
    assert isinstance(error, ParseError)
    assert "HTML page" in str(error) and error.url == "http://a.example/feed"
    # it crosses a pipe whole: same type, message and URL
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is ParseError and str(again) == str(error) and again.url == error.url


def test_the_worker_parses_alike_and_reports_errors_as_in_process():
    bodies = [rss(5, tag="a"), *(p.read_bytes() for p in sorted(DATA.glob("*.xml"))[:20])]
    assert len(bodies) > 5

    async def both() -> list[tuple[object, object]]:
        parser = worker_up()
        out = []
        for body in bodies:
            try:
                here: object = parse_feed(body, "http://x.example/feed", "application/rss+xml")
            except ParseError as exc:
                here = str(exc)
            try:
                there: object = await parser.parse(
                    body, "http://x.example/feed", "application/rss+xml"
                )
            except ParseError as exc:
                there = str(exc)
            out.append((here, there))
        return out

    parsed = 0
    for here, there in asyncio.run(both()):
        if isinstance(here, ParsedFeed):
            assert isinstance(there, ParsedBody) and there.feed == here
            assert same_prepared(there.prepared, expected_prepared(here))
            parsed += len(here.entries) > 0
        else:
            assert here == there
    assert parsed > 5
    # and it did run elsewhere
    parser = worker_up()
    parser.job = worker_pid
    assert asyncio.run(parser.parse(b"", "", "")) != os.getpid()  # type: ignore[comparison-overlap]


def test_a_body_the_worker_dies_on_is_that_feeds_error_and_the_next_body_parses():
    async def run() -> tuple[str, object, object]:
        parser = worker_up()
        parser.job = parse_or_crash
        with pytest.raises(ParseError) as crashed:
            await parser.parse(rss(2, tag="b", extra=CRASH), "http://b.example/feed")
        after = await parser.parse(rss(2, tag="c"), "http://c.example/feed")
        return str(crashed.value), after.feed, parse_feed(rss(2, tag="c"), "http://c.example/feed")

    message, after, expected = asyncio.run(run())
    assert message == (
        "the feed's parser stopped on its body (the worker crashed) (http://b.example/feed)"
    )
    assert after == expected


def not_here(*args: object, **kwargs: object) -> None:
    raise AssertionError("parsed in the poller's process")


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def test_a_round_through_the_worker_reports_bad_feeds_alone_and_stores_the_rest(
    tmp_path, server, monkeypatch
):
    """Ten feeds parsed in the worker: one is an HTML page, one kills the worker; each gets
    its own error, the eight others are stored, and nothing was parsed in-process."""
    paths = [f"/f{i}" for i in range(10)]
    for i, path in enumerate(paths):
        server.feed(path, rss(4, tag=f"f{i}", extra=CRASH if i == 3 else b""))
    server.feed(paths[7], b"<!DOCTYPE html><html><body>moved</body></html>")
    lines = ["store: data", "poll:", "  every: 15m", "  timeout: 5s", "feeds:"]
    for i, path in enumerate(paths):
        lines += [f"  - name: Feed {i}", f"    url: {server.url(path)}"]
    lines += ["watch:", "  - name: Nayib Bukele", "    kind: person", "    aliases: [Bukele]"]
    lines += ["  - name: CECOT", "    kind: topic"]
    (tmp_path / "feeds.yaml").write_text("\n".join(lines) + "\n")
    config = load_config(tmp_path / "feeds.yaml")

    worker_up()
    monkeypatch.setattr(parsepool, "parse_body", parse_or_crash)
    monkeypatch.setattr("monitor.poll.parse_feed", not_here)
    poller = Poller(config, parse_worker=True)
    summary = asyncio.run(poller.poll_once())
    assert (summary.ok, summary.failed, summary.new_articles) == (8, 2, 32)
    errors = dict(summary.errors)
    assert errors["Feed 3"].startswith("the feed's parser stopped on its body")
    assert "HTML page" in errors["Feed 7"]
    snap = open_store(config.store).snapshot()
    stored = snap.query("SELECT DISTINCT feed FROM {articles}")["feed"]
    assert sorted(stored) == sorted(
        f.key for f in config.feeds if f.name not in ("Feed 3", "Feed 7")
    )
    assert poller.states[config.feeds[3].key].last_outcome == "failed"
    assert poller.states[config.feeds[3].key].body_hash is None  # fetched whole next time


def store_contents(location: Path) -> dict[str, list[tuple[object, ...]]]:
    """What a poll stored: articles, mentions with their tone and story, names, stories."""
    snap = open_store(location).snapshot()

    def rows(sql: str) -> list[tuple[object, ...]]:
        return sorted(map(tuple, snap.query(sql).itertuples(index=False)))

    return {
        "articles": rows(
            "SELECT id, url, title, text, published, first_seen, author, feed, date_flag "
            "FROM {articles}"
        ),
        "mentions": rows("SELECT article_id, entity, count, tone, story FROM {mentions}"),
        "names": rows("SELECT article_id, name, form FROM {names}"),
        "stories": rows("SELECT article_id, story FROM {stories}"),
    }


@pytest.mark.parametrize("count_aside", [False, True])
def test_the_poller_stores_the_same_with_and_without_the_worker(tmp_path, monkeypatch, count_aside):
    """The demo world's feeds (syndicated copies, many entities) polled with and without the
    worker. Feeds are fetched one at a time, so that both polls handle them in the same
    order: which feed carried an article first, and which copy founded a story, follow the
    order in which feeds come back, with or without the worker."""
    world = World.generate(seed=5, days=6, outlets=6, articles_per_day=120, now=NOW)
    got = {}
    with serve_world(world, clock=lambda: NOW) as server:
        for worker in (False, True):
            folder = tmp_path / str(worker)
            folder.mkdir()
            text = world.feeds_yaml(server.base_url, store="data", every="30s")
            text = text.replace("full_text: true", "full_text: false")
            (folder / "feeds.yaml").write_text(text.replace("poll:\n", "poll:\n  concurrency: 1\n"))
            config = load_config(folder / "feeds.yaml")
            if worker:
                worker_up()
                monkeypatch.setattr("monitor.poll.parse_feed", not_here)
                if count_aside:  # mentions are counted and their tone scored in the worker too
                    monkeypatch.setattr("monitor.poll.COUNT_ASIDE", True)
                    monkeypatch.setattr("monitor.enrich.Enricher.counts_and_tones", not_here)
            poller = Poller(config, now=lambda: NOW, parse_worker=worker)
            summary = asyncio.run(poller.poll_once())
            assert summary.failed == 0 and summary.new_articles > 500
            got[worker] = store_contents(config.store)
    assert got[True] == got[False]
    stories = [story for _, story in got[True]["stories"]]
    assert len(stories) - len(set(stories)) > 50  # syndicated copies were grouped, alike
    assert {tone for *_, tone, _ in got[True]["mentions"]} - {0.0}  # tones were scored


def test_the_worker_starts_only_for_a_round_with_enough_new_bodies(tmp_path, server, monkeypatch):
    """Auto mode: a round of a few feeds parses in-process, and so does a round whose feeds
    are all unchanged (`poll --once` with everything 304): neither starts the worker."""
    starts = []
    real = parsepool._pool

    def counting() -> object:
        starts.append(1)
        return real()

    monkeypatch.setattr(parsepool, "_pool", counting)
    paths = [f"/g{i}" for i in range(PARSE_ASIDE_FEEDS)]
    for i, path in enumerate(paths):
        server.feed(path, rss(3, tag=f"g{i}"), etag=f'"g{i}"')

    def config_of(n: int, folder: str) -> object:
        lines = [f"store: {folder}", "poll:", "  every: 15m", "feeds:"]
        for i, path in enumerate(paths[:n]):
            lines += [f"  - name: Feed {i}", f"    url: {server.url(path)}"]
        (tmp_path / f"{folder}.yaml").write_text("\n".join(lines) + "\n")
        return load_config(tmp_path / f"{folder}.yaml")

    small = asyncio.run(Poller(config_of(3, "small")).poll_once())
    assert (small.ok, small.new_articles, starts) == (3, 9, [])
    big = Poller(config_of(len(paths), "big"))
    first = asyncio.run(big.poll_once())
    assert first.ok == len(paths) and first.new_articles == 3 * len(paths)
    if len(os.sched_getaffinity(0)) >= 2:
        assert starts  # the round was big enough
    starts.clear()
    again = asyncio.run(big.poll_once())
    assert (again.unchanged, again.new_articles, starts) == (len(paths), 0, [])


def test_the_worker_ends_when_the_pollers_process_is_killed(tmp_path):
    """kill -9 of the poller leaves no worker waiting for work forever."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "poller.py"
    script.write_text(
        "import asyncio\n"
        "from tests.test_parsepool import worker_up\n"
        "from tests.parse_jobs import worker_pid\n"
        "parser = worker_up()\n"
        "parser.job = worker_pid\n"
        "print(asyncio.run(parser.parse(b'', '', '')), flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    root = Path(__file__).parent.parent
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=root, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        os.kill(worker, 0)  # alive
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived the poller's process")


def test_a_multiprocessing_child_that_used_the_worker_exits():
    """A poller run as a multiprocessing child (as the benchmark runs its pollers) ends when
    its work is done: its exit stops the parse worker rather than waiting for it forever."""
    child = multiprocessing.get_context("spawn").Process(
        target=parse_then_return, args=(rss(3, tag="a"),)
    )
    child.start()
    child.join(90)
    try:
        assert child.exitcode == 0, "the child hung at exit, waiting for its parse worker"
    finally:
        if child.exitcode is None:
            child.kill()  # (its worker follows it: it ends with its parent)
            child.join(10)
