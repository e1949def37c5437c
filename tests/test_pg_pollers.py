"""Several pollers on one PostgreSQL store, for real: `monitor poll` processes (the CLI, with
`$MONITOR_STORE`) against a demo world served on 127.0.0.1.

- Two pollers at the same time: the store ends equal to the world's ground truth (every entity
  x day count), no article stored twice, each feed fetched by one poller per interval (its
  fetches are at least an interval apart), both pollers doing part of the work, and
  `monitor status` saying which poller polled each feed.
- A poller killed with kill -9 in the middle of a poll: the feed it was fetching is picked up by
  the other poller within two polling intervals, and the store still equals the truth.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from monitor import queries
from monitor.demo.server import serve_world
from monitor.demo.world import World
from monitor.store import open_store

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
POLL_TIME = NOW + timedelta(minutes=1)
EVERY = 30  # seconds: the polling interval of these tests


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=11, days=14, outlets=10, articles_per_day=150, now=NOW)


def write_config(world: World, base_url: str, folder: Path, poll: str = "") -> Path:
    text = world.feeds_yaml(base_url, store="unused", every=f"{EVERY}s")
    path = folder / "feeds.yaml"
    path.write_text(text.replace("poll:\n", "poll:\n" + poll, 1))
    return path


def start_poller(config: Path, url: str, name: str, folder: Path) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "-c", str(config), "poll", "--name", name],
        env={**os.environ, "MONITOR_STORE": url, "PYTHONPATH": os.getcwd()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def counts(url: str) -> pd.DataFrame:
    df = queries.mention_counts(open_store(url).snapshot(), queries.Filters(), by="day")
    df["day"] = pd.to_datetime(df["period"]).dt.date
    df = df[["entity", "day", "mentions", "articles"]]
    return df.sort_values(["entity", "day"], ignore_index=True).astype(
        {"mentions": "int64", "articles": "int64"}
    )


def equals_truth(world: World, url: str) -> bool:
    truth = world.truth(until=POLL_TIME, undated_seen=datetime.now(UTC)).reset_index(drop=True)
    got = counts(url)
    return len(got) == len(truth) and bool((got.values == truth.values).all())


def wait_for(what: str, check, timeout: float, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for p in procs:
            assert p.poll() is None, f"a poller stopped (status {p.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.5)


def sql(url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(query, params).fetchall()  # type: ignore[arg-type]


def assert_no_duplicates(world: World, url: str) -> None:
    [(n, distinct)] = sql(url, "SELECT count(*), count(DISTINCT id) FROM articles")
    assert n == distinct == world.expected_articles(POLL_TIME)
    [(m, keys)] = sql(url, "SELECT count(*), count(DISTINCT (article_id, entity)) FROM mentions")
    assert m == keys
    assert open_store(url).check().healthy


def test_two_pollers_share_the_feeds_and_store_everything_once(world, tmp_path, pg_url):
    with serve_world(world, clock=lambda: POLL_TIME, slow_delay=0.2) as server:
        # fetches of 3 feeds at a time per poller: each claims a few feeds at a time
        config = write_config(world, server.base_url, tmp_path, "  concurrency: 3\n")
        pollers = [start_poller(config, pg_url, name, tmp_path) for name in ("east", "west")]
        try:
            wait_for("store equal to the truth", lambda: equals_truth(world, pg_url), 240, pollers)

            def both_polled() -> bool:
                rows = sql(pg_url, "SELECT DISTINCT state->>'poller' FROM monitor_feeds")
                return {r[0] for r in rows} >= {"east", "west"}

            wait_for("feed polled by each poller", both_polled, 4 * EVERY, pollers)
        finally:
            for p in pollers:
                stop(p)
        requests = dict(server.requests)
    assert all(p.returncode == 0 for p in pollers), [
        (tmp_path / f"{n}.log").read_text()[-2000:] for n in ("east", "west")
    ]
    assert_no_duplicates(world, pg_url)
    # each feed was fetched by one poller per interval: its fetches are an interval apart
    rows = sql(pg_url, "SELECT feed, time FROM fetches ORDER BY feed, time")
    by_feed: dict[str, list[datetime]] = {}
    for feed, t in rows:
        by_feed.setdefault(feed, []).append(t)
    for feed, times in by_feed.items():
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(g >= EVERY - 1 for g in gaps), (feed, gaps)
    assert sum(len(t) for t in by_feed.values()) <= sum(requests.values())
    # status says which poller polled each feed last
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "-c", str(config), "status", "--format", "json"],
        env={**os.environ, "MONITOR_STORE": pg_url, "PYTHONPATH": os.getcwd()},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    feeds = json.loads(result.stdout)
    assert {f["poller"] for f in feeds if f["last_poll"]} == {"east", "west"}


def test_a_poller_killed_mid_poll_has_its_feed_taken_over_within_two_intervals(
    world, tmp_path, pg_url
):
    slow = next(o for o in world.outlets if o.health == "slow").feeds[0]
    with serve_world(world, clock=lambda: POLL_TIME, slow_delay=12.0) as server:
        config = write_config(world, server.base_url, tmp_path)
        slow_url = server.base_url + slow
        open_store(pg_url).migrate()  # (the poller would; the checks below read the tables)
        first = start_poller(config, pg_url, "first", tmp_path)
        second = None
        try:

            def stuck_in_the_slow_feed() -> bool:
                leased = sql(pg_url, "SELECT url FROM monitor_feeds WHERE lease_owner = 'first'")
                polled = sql(pg_url, "SELECT count(*) FROM monitor_feeds WHERE state IS NOT NULL")
                return (slow_url,) in leased and polled[0][0] > 1

            wait_for("poll in progress", stuck_in_the_slow_feed, 120, [first])
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed = time.monotonic()
            [(owner,)] = sql(
                pg_url, "SELECT lease_owner FROM monitor_feeds WHERE url = %s", slow_url
            )
            assert owner == "first"  # the dead poller's lease is still there ...
            second = start_poller(config, pg_url, "second", tmp_path)

            def taken_over() -> bool:
                rows = sql(
                    pg_url, "SELECT state->>'poller' FROM monitor_feeds WHERE url = %s", slow_url
                )
                return rows == [("second",)]

            wait_for("take-over of the slow feed", taken_over, 4 * EVERY, [second])
            assert time.monotonic() - killed < 2 * EVERY  # ... until it runs out
            wait_for("store equal to the truth", lambda: equals_truth(world, pg_url), 240, [second])
        finally:
            for p in (first, second):
                if p is not None:
                    stop(p)
    assert_no_duplicates(world, pg_url)
