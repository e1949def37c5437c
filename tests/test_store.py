"""The store: atomic commits, dedup, readers beside a writer, compaction, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import store as store_mod
from monitor.errors import StoreBusyError, StoreError
from monitor.models import Article, Entity
from monitor.store import Store, article_key

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def make_article(n: int, feed: str = "http://f/1", **kw) -> Article:
    fields = dict(
        id=article_key("url", f"http://site/{n}"),
        url=f"http://site/{n}",
        title=f"title {n}",
        text=f"text {n}",
        published=T0 + timedelta(hours=n),
        first_seen=T0,
        author="",
        feed=feed,
    )
    fields.update(kw)
    return Article(**fields)


def add(writer, n: int, feed: str = "http://f/1", counts=None) -> bool:
    a = make_article(n, feed)
    new = writer.add_article(a, feed, T0)
    if new:
        writer.add_mentions(a, counts or {"Alpha": 1})
    return new


def test_empty_store_reads_as_empty(tmp_path):
    snap = Store(tmp_path / "nothing").snapshot()
    assert snap.seq == 0 and snap.rows("articles") == 0
    df = snap.query("SELECT COUNT(*) AS n FROM {articles}")
    assert df["n"].iloc[0] == 0
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_commit_and_dedup_across_feeds(tmp_path):
    store = Store(tmp_path / "s")
    w = store.writer()
    assert add(w, 1) and add(w, 2)
    assert not add(w, 1)  # same feed again: nothing new
    assert not add(w, 1, feed="http://f/2")  # same URL in another feed: stored once
    snap = w.commit()
    assert snap.rows("articles") == 2
    assert snap.rows("sources") == 3  # but both feeds remembered
    assert snap.feeds["http://f/1"].articles == 2
    assert snap.feeds["http://f/2"].articles == 1
    # a new writer (a new process) knows what is stored
    w2 = store.writer()
    assert not add(w2, 2)
    assert not add(w2, 1, feed="http://f/2")
    assert add(w2, 3)
    assert w2.commit().rows("articles") == 3


def test_readers_see_whole_commits_only(tmp_path):
    store = Store(tmp_path / "s")
    w = store.writer()
    old = store.snapshot()
    for n in range(10):
        add(w, n)
    w.commit()
    assert old.query("SELECT COUNT(*) AS n FROM {articles}")["n"].iloc[0] == 0
    assert store.snapshot().query("SELECT COUNT(*) AS n FROM {articles}")["n"].iloc[0] == 10


def test_compaction_merges_files_and_keeps_every_row(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    w = store.writer()
    for batch in range(20):
        for n in range(batch * 5, batch * 5 + 5):
            add(w, n)
        w.commit()
    snap = store.snapshot()
    assert len(snap.files["articles"]) < 20
    df = snap.query("SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM {articles}")
    assert df["n"].iloc[0] == df["d"].iloc[0] == 100
    assert snap.query("SELECT SUM(count) AS n FROM {mentions}")["n"].iloc[0] == 100


def test_replaced_files_survive_their_grace_period(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    w = store.writer()
    old = None
    for batch in range(9):
        add(w, batch)
        w.commit()
        if batch == 0:
            old = store.snapshot()
    # the first snapshot's files were compacted away but are still readable
    assert old.query("SELECT COUNT(*) AS n FROM {articles}")["n"].iloc[0] == 1
    monkeypatch.setattr(store_mod, "GRACE_SECONDS", -1)
    add(w, 100)
    w.commit()
    listed = {f.path for files in store.snapshot().files.values() for f in files}
    on_disk = {f"{p.parent.name}/{p.name}" for p in (tmp_path / "s").glob("*/*.parquet")}
    assert on_disk == listed


def test_second_poller_is_refused(tmp_path):
    store = Store(tmp_path / "s")
    with (
        store.poller_lock(),
        pytest.raises(StoreBusyError, match="in use"),
        Store(tmp_path / "s").poller_lock(),
    ):
        pass


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest"):
        Store(tmp_path / "s").snapshot()


def test_rematch_recounts_from_stored_text(tmp_path):
    store = Store(tmp_path / "s")
    w = store.writer()
    add(w, 1, counts={"Alpha": 1})
    w.commit()

    def count(title, text):
        return {"Beta": 2} if "text" in text else {}

    rows = store_mod.replace_mentions(store, count, [Entity("Beta")], "fp2")
    snap = store.snapshot()
    assert rows == 1
    assert snap.fingerprint == "fp2" and snap.watchlist[0].name == "Beta"
    df = snap.query("SELECT entity, count FROM {mentions}")
    assert df.to_dict("records") == [{"entity": "Beta", "count": 2}]


def test_reader_beside_writer_never_errs_nor_sees_partial_rows(tmp_path):
    store = Store(tmp_path / "s")
    w = store.writer()
    stop = threading.Event()
    errors: list[Exception] = []
    seen: list[int] = []

    def read():
        reader = Store(tmp_path / "s")
        while not stop.is_set():
            try:
                snap = reader.snapshot()
                df = snap.query(
                    "SELECT (SELECT COUNT(*) FROM {articles}) AS a, "
                    "(SELECT COALESCE(SUM(count), 0) FROM {mentions}) AS m"
                )
                a, m = int(df["a"].iloc[0]), int(df["m"].iloc[0])
                assert a == m, (a, m)  # each article has exactly one mention row
                seen.append(a)
            except Exception as exc:
                errors.append(exc)

    t = threading.Thread(target=read)
    t.start()
    for batch in range(40):
        for n in range(batch * 10, batch * 10 + 10):
            add(w, n)
        w.commit()
    stop.set()
    t.join()
    assert not errors
    assert seen == sorted(seen) and seen[-1] <= 400


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from monitor.models import Article
    from monitor.store import Store, article_key
    store = Store(sys.argv[1])
    w = store.writer()
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    n = 0
    while True:
        for _ in range(50):
            url = f"http://site/{n}"
            a = Article(article_key("url", url), url, "t", "x" * 300, t0 + timedelta(minutes=n),
                        t0, "", "http://f/1")
            if w.add_article(a, "http://f/1", t0):
                w.add_mentions(a, {"Alpha": 1, "Beta": 2})
            n += 1
        w.commit()
        print(n, flush=True)
    """
)


def test_kill_9_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        for _ in range(3 + round_):  # let it commit a few times, then kill it mid-work
            proc.stdout.readline()
        time.sleep(0.01 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        snap = Store(path).snapshot()
        df = snap.query(
            "SELECT (SELECT COUNT(*) FROM {articles}) AS a,"
            " (SELECT COUNT(DISTINCT id) FROM {articles}) AS d,"
            " (SELECT COUNT(*) FROM {mentions}) AS m,"
            " (SELECT COUNT(*) FROM {sources}) AS s"
        ).iloc[0]
        assert df["a"] == df["d"] > 0  # no duplicates
        assert df["m"] == 2 * df["a"]  # no article without its mentions, no partial batch
        assert df["s"] == df["a"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["seq"] > 0
