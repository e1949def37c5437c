"""The embedded store's fetch log: the fetches rows of a commit that writes no data file.

A poll where every feed is unchanged commits only feed state and one fetches row per feed;
those rows wait in the manifest (monitor/store/parquet.py, "The fetch log") until a commit
that writes data files anyway, or a long log, writes them as a fetches file. These tests check
that every reader sees them as rows of `fetches` all along, that no row is lost or doubled when
they move, and that damage to them is reported and repaired like any other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import queries
from monitor.errors import StoreError
from monitor.models import Article, FeedState
from monitor.store import article_key, open_store
from monitor.store import parquet as store_mod

T0 = datetime(2026, 11, 1, 12)
COLUMNS = ("feed", "time", "status", "outcome", "bytes", "new_articles", "duration", "error")


def fetch(feed: str, minutes: int, outcome: str = "unchanged", **kw) -> dict:
    row = {
        "feed": feed,
        "time": T0 + timedelta(minutes=minutes),
        "status": 304 if outcome == "unchanged" else None,
        "outcome": outcome,
        "bytes": 0,
        "new_articles": 0,
        "duration": 0.012,
        "error": "",
    }
    return {**row, **kw}


def article(n: int) -> Article:
    return Article(
        id=article_key("url", f"http://site/{n}"),
        url=f"http://site/{n}",
        title=f"title {n}",
        text=f"text {n}",
        published=(T0 + timedelta(hours=n)).replace(tzinfo=UTC),
        first_seen=T0.replace(tzinfo=UTC),
        author="",
        feed="http://f/1",
    )


def commit(store, rows, articles=()) -> None:
    w = store.writer()
    for a in articles:
        w.add_article(a, "http://f/1", T0.replace(tzinfo=UTC))
    for row in rows:
        w.add_fetch(row)
        w.set_feed(FeedState(url=row["feed"], last_outcome=row["outcome"]))
    w.commit()


def stored(snap) -> list[tuple]:
    rows = snap.records("SELECT * FROM {fetches}")
    return sorted(tuple(r[c] for c in COLUMNS) for r in rows)


def expected(rows) -> list[tuple]:
    return sorted(tuple(r[c] for c in COLUMNS) for r in rows)


def fetch_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "fetches").glob("*.parquet"))


HOSTILE = fetch(
    "http://f/3?q='x'",
    7,
    "failed",
    bytes=None,
    duration=30.0,
    error="it's [bold]broken[/bold]\nline two, \"quoted\", café \\ 'x'); DROP TABLE x; --",
)


def test_an_unchanged_pass_keeps_its_fetches_in_the_manifest_and_every_reader_sees_them(
    tmp_path,
):
    root = tmp_path / "s"
    store = open_store(root)
    first = [fetch("http://f/1", 0, "ok", status=200, bytes=900, new_articles=1)]
    commit(store, first, [article(1)])
    files = fetch_files(root)
    assert len(files) == 1  # a commit with articles writes its fetches as a file

    passes = [
        [fetch("http://f/1", 15), fetch("http://f/2", 15)],
        [fetch("http://f/1", 30), HOSTILE],
    ]
    for rows in passes:
        commit(store, rows)

    assert fetch_files(root) == files  # no fetches file more, nothing to compact
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(manifest["fetch_log"]) == 4
    snap = store.snapshot()
    everything = expected(first + passes[0] + passes[1])
    assert snap.rows("fetches") == 5
    assert stored(snap) == everything  # the hostile text came back exactly, as a value
    records = snap.records("SELECT feed, error FROM {fetches} WHERE outcome = 'failed'")
    assert records == [{"feed": HOSTILE["feed"], "error": HOSTILE["error"]}]
    scanned = [r for t in snap.scan("fetches", batch_rows=2) for r in t.to_pylist()]
    assert sorted(tuple(r[c] for c in COLUMNS) for r in scanned) == everything
    tail = [r for t in snap.scan("fetches", start=3) for r in t.to_pylist()]
    assert [r["feed"] for r in tail] == [r["feed"] for r in scanned[3:]]
    # the dashboard's polling-health view and `monitor check` count them
    by_hour = queries.ingestion(snap, queries.Filters(), by="hour")
    assert by_hour["polled"].tolist() == [3] and by_hour["failed"].tolist() == [1]
    health = store.check()
    assert health.healthy and health.rows["fetches"] == 5


def test_the_fetch_log_becomes_a_file_with_the_next_commit_that_writes_data(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    log = [fetch("http://f/1", 15), HOSTILE]
    commit(store, log)
    assert fetch_files(root) == []
    before = stored(store.snapshot())

    later = [fetch("http://f/1", 60, "ok", status=200, bytes=500, new_articles=1)]
    commit(store, later, [article(2)])

    assert "fetch_log" not in json.loads((root / "manifest.json").read_text())
    assert len(fetch_files(root)) == 1  # the log and the new row, in one file
    snap = store.snapshot()
    assert stored(snap) == sorted(before + expected(later))  # none lost, none doubled
    assert store.check().healthy


def test_a_long_fetch_log_is_written_as_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "FETCH_LOG_ROWS", 3)
    root = tmp_path / "s"
    store = open_store(root)
    commit(store, [fetch("http://f/1", 0), fetch("http://f/2", 0)])
    assert fetch_files(root) == []
    commit(store, [fetch("http://f/1", 15), fetch("http://f/2", 15)])  # 4 > 3
    assert len(fetch_files(root)) == 1
    assert "fetch_log" not in json.loads((root / "manifest.json").read_text())
    assert store.snapshot().rows("fetches") == 4


def test_a_failed_commit_keeps_the_log_it_had_and_the_retry_stores_the_rows_once(
    tmp_path, monkeypatch
):
    store = open_store(tmp_path / "s")
    commit(store, [fetch("http://f/1", 0)])
    w = store.writer()
    w.add_fetch(fetch("http://f/1", 15))

    def fail(path, data):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(store_mod, "_write_atomic", fail)
        with pytest.raises(StoreError, match="No space left"):
            w.commit()
    assert store.snapshot().rows("fetches") == 1  # the last commit's state, whole
    w.commit()  # the buffers were kept
    assert stored(store.snapshot()) == expected([fetch("http://f/1", 0), fetch("http://f/1", 15)])


def test_a_damaged_fetch_log_is_reported_and_repair_keeps_its_sound_rows(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit(store, [fetch("http://f/1", 0), fetch("http://f/2", 0), fetch("http://f/3", 0)])
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["fetch_log"][1][2] = "three hundred and four"  # status: not a number
    (root / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(StoreError, match=r"damaged: manifest.json: fetch_log\[1\]: status"):
        open_store(root).snapshot()
    health = store.check()
    assert not health.healthy
    assert any("fetch_log[1]" in p.message for p in health.problems)

    report = store.repair()
    assert any("fetch_log[1]" in a for a in report.actions)
    snap = open_store(root).snapshot()
    assert sorted(r["feed"] for r in snap.records("SELECT feed FROM {fetches}")) == [
        "http://f/1",
        "http://f/3",
    ]
    assert open_store(root).check().healthy


def test_a_copy_of_the_store_carries_the_fetch_log(tmp_path):
    from monitor.store.copy import copy_store

    source = open_store(tmp_path / "a")
    commit(source, [fetch("http://f/1", 0, "ok", status=200, new_articles=1)], [article(1)])
    commit(source, [fetch("http://f/1", 15), HOSTILE])
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["fetch_log"]

    copy = open_store(tmp_path / "b")
    copy_store(source, copy)

    assert stored(copy.snapshot()) == stored(source.snapshot())
    assert copy.snapshot().rows("fetches") == 3


def test_the_snapshot_a_commit_leaves_is_the_one_a_fresh_reader_reads(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit(store, [fetch("http://f/1", 0, "ok", status=200, new_articles=1)], [article(1)])
    commit(store, [fetch("http://f/1", 15), HOSTILE])
    store.update_alerts(lambda state: state.update({"rule": {"last": [1, 2], "n": 3}}))

    kept = store.snapshot()  # (the commit's own, not read back from the file)
    assert kept == open_store(root).snapshot()
    assert kept.alerts == {"rule": {"last": [1, 2], "n": 3}} and len(kept.fetch_log) == 2
