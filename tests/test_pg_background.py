"""Commits in the background (PostgreSQL, `Writer.commit_later`): the poller hands its buffered
rows over to a commit on a connection of its own and goes on fetching and parsing.

- A background commit that fails loses nothing: its rows go back into the buffers, ahead of
  those buffered since, and the next commit stores them, each exactly once.
- `commit` and `close` wait for the commit in flight, which is stored.
- A poll whose commits all go to the background (one after every finished fetch) and one of
  which fails stores the demo world's ground truth, every entity x day count, no article twice.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from monitor import poll
from monitor.poll import Poller
from monitor.store import open_store
from monitor.store import postgres as pg
from tests.test_demo_ingest import POLL_TIME, assert_equals_truth, served, world  # noqa: F401
from tests.test_pg_store import WATCH, add, count


def failing_once(monkeypatch, *, after: int = 0, delay: float = 0.0) -> list[str]:
    """Make the writers' commit number `after` (0: the first) fail with a database error,
    and every commit take `delay` seconds first; the names of the threads that committed."""
    real = pg.PgWriter._commit
    calls: list[str] = []

    def commit(self, con, watchlist):
        calls.append(threading.current_thread().name)
        time.sleep(delay)
        if len(calls) == after + 1:
            raise psycopg.errors.DataCorrupted("could not read block 7: a test")
        return real(self, con, watchlist)

    monkeypatch.setattr(pg.PgWriter, "_commit", commit)
    return calls


def test_a_background_commit_that_fails_loses_nothing_and_the_next_stores_it_once(
    pg_url, monkeypatch
):
    calls = failing_once(monkeypatch, delay=0.2)
    logged: list[str] = []
    writer = open_store(pg_url).writer(log=logged.append, poller="p")
    for n in range(50):
        assert add(writer, n)
    assert writer.commit_later(watchlist=(WATCH, "fp")) is None  # handed over
    assert writer.committing and writer.pending == 0  # the buffers are free for more rows
    for n in range(50, 80):
        assert add(writer, n)
    assert not add(writer, 10)  # in flight: still known, not buffered twice
    # the next hand-over finds the first commit failed: its rows go again, with the new ones
    assert writer.commit_later(watchlist=(WATCH, "fp")) is None
    assert len(logged) == 1 and "a commit failed; its rows are kept" in logged[0]
    assert "could not read block 7: a test" in logged[0]
    snap = writer.commit()  # waits for the one in flight
    assert not writer.committing
    assert all(name.startswith("monitor-commit") for name in calls[:2])
    assert snap.rows("articles") == 80
    assert count(pg_url, "SELECT count(*) FROM articles") == 80
    assert count(pg_url, "SELECT count(DISTINCT id) FROM articles") == 80
    assert count(pg_url, "SELECT count(*) FROM mentions") == 80
    assert count(pg_url, "SELECT count(*) FROM sources") == 80
    assert count(pg_url, "SELECT sum(articles) FROM mention_days WHERE entity = 'Alpha'") == 80
    assert count(pg_url, "SELECT sum(articles) FROM article_days") == 80


def test_commit_and_close_wait_for_the_commit_in_flight(pg_url, monkeypatch):
    failing_once(monkeypatch, after=10**6, delay=0.5)  # slow, never failing
    store = open_store(pg_url)
    writer = store.writer(poller="p")
    for n in range(20):
        add(writer, n)
    writer.commit_later()
    started = time.monotonic()
    snap = writer.commit()  # nothing buffered since: waits, and the snapshot has it all
    assert time.monotonic() - started > 0.3
    assert snap.rows("articles") == 20
    for n in range(20, 30):
        add(writer, n)
    writer.commit_later()
    assert writer.committing
    store.close()  # (a process stopping) the commit in flight ends first
    assert count(pg_url, "SELECT count(*) FROM articles") == 30


def test_a_background_commit_failing_on_a_lost_connection_is_retried(pg_url):
    """The connection of background commits dies between two commits: the next one connects
    again (with its temporary tables and a slot of its own) and stores its rows."""
    writer = open_store(pg_url).writer(poller="p")
    add(writer, 1)
    writer.commit_later()
    writer.commit_later()  # nothing new: only collects the first
    assert writer._later_con is not None
    pid = writer._later_con.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("SELECT pg_terminate_backend(%s)", (pid,))
    add(writer, 2)
    writer.commit_later()
    writer.commit()
    assert count(pg_url, "SELECT count(*) FROM articles") == 2


def test_a_poll_committing_in_the_background_equals_the_truth(world, served, pg_url, monkeypatch):  # noqa: F811
    """Every finished fetch hands a commit over (COMMIT_EVERY 0), and the third commit fails:
    the store still holds the world's truth, each article once."""
    monkeypatch.setattr(poll, "COMMIT_EVERY", 0.0)
    calls = failing_once(monkeypatch, after=2)
    logged: list[str] = []
    for _ in range(4):
        poller = Poller(served, open_store(pg_url), log=logged.append)
        summary = asyncio.run(poller.poll_once())
        if summary.failed <= 1:  # the HTML feed always fails; the flaky one may owe a poll
            break
    background = [name for name in calls if name.startswith("monitor-commit")]
    assert len(background) >= 5, calls  # the round's commits went to the background
    assert calls[2].startswith("monitor-commit")  # the one that failed too
    assert [line for line in logged if "a commit failed" in line] == [
        "store: a commit failed; its rows are kept for the next one: cannot write to the "
        f"PostgreSQL store at {open_store(pg_url).location}: could not read block 7: a test"
    ]
    assert_equals_truth(world, served, pg_url)
    assert open_store(pg_url).snapshot().rows("articles") == world.expected_articles(POLL_TIME)


@pytest.mark.parametrize("where", ["embedded"])
def test_the_embedded_store_commits_at_once(where, tmp_path):
    """The embedded store has no background: `commit_later` commits now (if anything is
    buffered) and returns the snapshot."""
    store = open_store(tmp_path / "s")
    writer = store.writer()
    assert writer.commit_later() is None  # nothing buffered: nothing written
    assert not store.exists()
    add(writer, 1)
    snap = writer.commit_later(watchlist=(WATCH, "fp"))
    assert snap is not None and snap.rows("articles") == 1 and not writer.committing
