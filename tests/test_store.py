"""The store: atomic commits, dedup, readers beside a writer, compaction, kill -9."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitor.errors import StoreBusyError, StoreError
from monitor.models import Article, Entity
from monitor.store import Store, article_key, open_store
from monitor.store import parquet as store_mod

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
    snap = open_store(tmp_path / "nothing").snapshot()
    assert snap.seq == 0 and snap.rows("articles") == 0
    df = snap.query("SELECT COUNT(*) AS n FROM {articles}")
    assert df["n"].iloc[0] == 0
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_commit_and_dedup_across_feeds(tmp_path):
    store = open_store(tmp_path / "s")
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
    store = open_store(tmp_path / "s")
    w = store.writer()
    old = store.snapshot()
    for n in range(10):
        add(w, n)
    w.commit()
    assert old.query("SELECT COUNT(*) AS n FROM {articles}")["n"].iloc[0] == 0
    assert store.snapshot().query("SELECT COUNT(*) AS n FROM {articles}")["n"].iloc[0] == 10


def test_compaction_merges_files_and_keeps_every_row(tmp_path, monkeypatch):
    store = open_store(tmp_path / "s")
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
    store = open_store(tmp_path / "s")
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
    store = open_store(tmp_path / "s")
    with (
        store.poller_lock(),
        pytest.raises(StoreBusyError, match="in use"),
        open_store(tmp_path / "s").poller_lock(),
    ):
        pass


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest"):
        open_store(tmp_path / "s").snapshot()


def test_rematch_recounts_from_stored_text(tmp_path):
    store = open_store(tmp_path / "s")
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
    store = open_store(tmp_path / "s")
    w = store.writer()
    stop = threading.Event()
    errors: list[Exception] = []
    seen: list[int] = []

    def read():
        reader = open_store(tmp_path / "s")
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
    from monitor.store import Store, article_key, open_store
    store = open_store(sys.argv[1])
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
        snap = open_store(path).snapshot()
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


# --------------------------------------------------------------------------------------------
# Damage: never lose data, never delete what the store does not own, report and repair


def commit_batches(store: Store, batches: int, per: int = 5, feed: str = "http://f/1") -> None:
    w = store.writer()
    for batch in range(batches):
        for n in range(batch * per, batch * per + per):
            add(w, n, feed)
        w.add_fetch({"feed": feed, "time": T0.replace(tzinfo=None) + timedelta(minutes=batch)})
        w.commit()


def files_on_disk(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def data_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in files_on_disk(root).items() if k.endswith(".parquet")}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt(path: Path) -> None:
    """Flip every byte of the data pages (the footer stays readable)."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def damage(path: Path, how: str) -> None:
    {"truncated": truncate, "corrupted": corrupt, "missing": Path.unlink}[how](path)


def count(snap, table: str = "articles") -> int:
    return int(snap.query(f"SELECT COUNT(*) AS n FROM {{{table}}}")["n"].iloc[0])


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("manifest", ["missing", "unreadable"])
def test_a_store_without_a_usable_manifest_is_damaged_not_empty(tmp_path, manifest):
    root = tmp_path / "s"
    commit_batches(open_store(root), 3)
    before = files_on_disk(root)
    if manifest == "missing":
        (root / "manifest.json").unlink()
    else:
        (root / "manifest.json").write_text('{"format": 1, "seq": 3, "tab')
    store = open_store(root)
    with pytest.raises(StoreError) as exc:
        store.snapshot()
    assert "damaged" in one_line(exc) and "monitor repair" in str(exc.value)
    with pytest.raises(StoreError, match="monitor repair"):
        store.writer()  # a poller opening the store
    with pytest.raises(StoreError, match="monitor repair"), store.transaction():
        pass
    after = files_on_disk(root)
    for path, data in before.items():  # no data file deleted, no fresh manifest written
        if path != "manifest.json":
            assert after[path] == data, path
    assert ("manifest.json" in after) == (manifest == "unreadable")


def test_files_the_store_did_not_write_are_never_deleted(tmp_path, monkeypatch):
    root = tmp_path / "s"
    foreign = {
        "articles/notes.txt": b"my notes",
        "articles/foo.parquet": b"not ours",
        "articles/00000001-NOTHEX00.parquet": b"not a name the store writes",
        "articles/.foo.parquet.tmp": b"not ours either",
        "sources/other.parquet": b"x",
        "mentions/sub/deep.txt": b"y",
        "notes.md": b"z",
    }
    for rel, data in foreign.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    old = time.time() - 3600
    os.utime(root / "articles/.foo.parquet.tmp", (old, old))
    monkeypatch.setattr(store_mod, "GRACE_SECONDS", -1)
    monkeypatch.setattr(store_mod, "TMP_GRACE_SECONDS", -1)
    store = open_store(root)
    commit_batches(store, 20)  # commits, compactions, garbage deleted past its grace period
    on_disk = files_on_disk(root)
    for rel, data in foreign.items():
        assert on_disk.get(rel) == data, rel
    assert count(store.snapshot()) == 100


def test_only_provable_orphans_of_a_dead_writer_are_deleted(tmp_path, monkeypatch):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 1)  # seq 1
    listed = store.snapshot().files["articles"][0].path
    parquet = (root / listed).read_bytes()
    old = time.time() - 2 * store_mod.TMP_GRACE_SECONDS
    planted = {
        "articles/00000002-aaaaaaaa.parquet": (parquet, None),  # seq + 1: a dead writer's
        "articles/.00000002-bbbbbbbb.parquet.tmp": (b"half", old),  # its old temporary file
        ".manifest.json.cccccccc.tmp": (b"{", old),  # a manifest write that failed
        "articles/.00000002-dddddddd.parquet.tmp": (b"new", None),  # too young to judge
        ".manifest.json.eeeeeeee.tmp": (b"{", None),
        "articles/00000001-ffffffff.parquet": (parquet, None),  # unlisted, not provably garbage
    }
    for rel, (data, mtime) in planted.items():
        (root / rel).write_bytes(data)
        if mtime:
            os.utime(root / rel, (mtime, mtime))
    commit_batches(store, 1)
    on_disk = files_on_disk(root)
    assert "articles/00000002-aaaaaaaa.parquet" not in on_disk
    assert "articles/.00000002-bbbbbbbb.parquet.tmp" not in on_disk
    assert ".manifest.json.cccccccc.tmp" not in on_disk
    for kept in (
        "articles/.00000002-dddddddd.parquet.tmp",
        ".manifest.json.eeeeeeee.tmp",
        "articles/00000001-ffffffff.parquet",
    ):
        assert kept in on_disk, kept
    assert count(store.snapshot()) == 5  # the planted copy is not read


def test_a_manifest_older_than_its_files_stops_writers_and_deletes_nothing(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 1)
    old_manifest = (root / "manifest.json").read_bytes()
    commit_batches(store, 3)
    (root / "manifest.json").write_bytes(old_manifest)  # "restored from a backup"
    before = data_files(root)
    with pytest.raises(StoreError) as exc:
        commit_batches(open_store(root), 1)
    assert "newer than its manifest" in one_line(exc) and "monitor repair" in str(exc.value)
    assert data_files(root) == before


def _edit_manifest(root: Path, change) -> None:
    m = json.loads((root / "manifest.json").read_text())
    change(m)
    (root / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize(
    "where",
    ["garbage-relative", "garbage-absolute", "table-entry", "symlinked-file", "symlinked-folder"],
)
def test_manifest_paths_never_leave_the_store(tmp_path, monkeypatch, where):
    root = tmp_path / "s"
    canary = tmp_path / "canary.txt"
    canary.write_text("keep me")
    store = open_store(root)
    commit_batches(store, 1)
    monkeypatch.setattr(store_mod, "GRACE_SECONDS", -1)
    if where == "garbage-relative":
        _edit_manifest(root, lambda m: m["garbage"].append({"path": "../canary.txt", "since": 0}))
    elif where == "garbage-absolute":
        _edit_manifest(root, lambda m: m["garbage"].append({"path": str(canary), "since": 0}))
    elif where == "table-entry":
        _edit_manifest(
            root,
            lambda m: m["tables"]["articles"].append(
                {"path": "articles/../../canary.txt", "rows": 1}
            ),
        )
    elif where == "symlinked-file":
        (root / "articles/00000001-0000beef.parquet").symlink_to(canary)
        _edit_manifest(
            root,
            lambda m: m["tables"]["articles"].append(
                {"path": "articles/00000001-0000beef.parquet", "rows": 1}
            ),
        )
    else:  # the whole table folder is a link to somewhere else
        elsewhere = tmp_path / "elsewhere"
        (root / "articles").rename(elsewhere)
        (root / "articles").symlink_to(elsewhere)
    fresh = open_store(root)
    with pytest.raises(StoreError) as exc:
        fresh.snapshot()
    assert "monitor repair" in one_line(exc)
    assert re.search(r"absolute|leaves the store|outside the store", str(exc.value))
    with pytest.raises(StoreError):
        commit_batches(fresh, 1)
    assert canary.read_text() == "keep me"


@pytest.mark.parametrize(
    "change",
    [
        lambda m: [1, 2],
        lambda m: {**m, "tables": None},
        lambda m: {k: v for k, v in m.items() if k != "seq"},
        lambda m: {**m, "seq": "3"},
        lambda m: {**m, "feeds": []},
        lambda m: {**m, "tables": {**m["tables"], "articles": {"a": 1}}},
        lambda m: {**m, "tables": {**m["tables"], "articles": [{"path": 1, "rows": 2}]}},
        lambda m: {
            **m,
            "tables": {**m["tables"], "articles": [{**m["tables"]["articles"][0], "rows": "5"}]},
        },
        lambda m: {**m, "feeds": {"http://f/1": {"url": "http://f/1", "tags": "a"}}},
        lambda m: {**m, "watchlist": [1]},
        lambda m: {**m, "garbage": [{"path": "articles/00000001-00000000.parquet"}]},
        lambda m: {**m, "quarantined": [{"path": "x"}]},
    ],
)
def test_a_manifest_of_the_wrong_shape_is_one_clear_error(tmp_path, change):
    root = tmp_path / "s"
    commit_batches(open_store(root), 1)
    m = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps(change(m)))
    for attempt in (
        lambda: open_store(root).snapshot(),
        lambda: commit_batches(open_store(root), 1),
    ):
        with pytest.raises(StoreError) as exc:
            attempt()
        assert "damaged" in one_line(exc) and "monitor repair" in str(exc.value)


@pytest.mark.parametrize("value", [5, "yesterday", None])
def test_an_unreadable_feed_time_reads_as_no_time(tmp_path, value):
    # a feed's times only schedule it: a bad one means "poll now", not a damaged store
    root = tmp_path / "s"
    commit_batches(open_store(root), 1)
    m = json.loads((root / "manifest.json").read_text())
    m["feeds"] = {"http://f/1": {"url": "http://f/1", "last_poll": value, "next_poll": value}}
    (root / "manifest.json").write_text(json.dumps(m))
    state = open_store(root).snapshot().feeds["http://f/1"]
    assert state.last_poll is None and state.next_poll is None
    commit_batches(open_store(root), 1)  # and writers carry on


@pytest.mark.parametrize("how", ["truncated", "corrupted", "missing"])
def test_a_damaged_file_is_quarantined_and_the_writer_carries_on(tmp_path, how):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 2, per=10)  # two articles files of 10 rows
    bad = store.snapshot().files["articles"][0].path
    damage(root / bad, how)
    damaged_bytes = (root / bad).read_bytes() if how != "missing" else None
    logged: list[str] = []
    w = store.writer(log=logged.append)  # the poller restarts on the damaged store
    for n in range(100, 105):
        assert add(w, n)
    snap = w.commit()
    assert snap.rows("articles") == 15 and count(snap) == 15
    assert bad not in {f.path for f in snap.files["articles"]}
    [q] = snap.quarantined
    assert (q.path, q.table, q.rows_lost, q.acknowledged) == (bad, "articles", 10, False)
    assert q.reason.startswith("missing" if how == "missing" else "unreadable")
    if how == "missing":
        assert q.moved_to == ""
    else:  # kept, byte for byte, out of the table
        assert q.moved_to == f"quarantine/{bad}"
        assert (root / q.moved_to).read_bytes() == damaged_bytes
        assert not (root / bad).exists()
    assert len(logged) == 1 and bad in logged[0] and "10 rows lost" in logged[0]
    # mentions of the lost articles are still there: the writer asks for a recount
    assert w.needs_recount and snap.fingerprint == ""
    # the lost articles are no longer known: a feed that still carries them brings them back
    assert add(w, 0)
    assert w.commit().rows("articles") == 16
    assert store.snapshot().fingerprint == ""  # still to be recounted
    store_mod.replace_mentions(store, lambda title, text: {"Alpha": 1}, [Entity("Alpha")], "fp")
    snap = store.snapshot()
    assert snap.fingerprint == "fp"
    assert snap.query("SELECT SUM(count) AS n FROM {mentions}")["n"].iloc[0] == 16  # once each


def test_compaction_quarantines_a_damaged_file_and_merges_the_rest(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 7)  # 7 small files per table; an 8th makes compaction due
    bad = store.snapshot().files["mentions"][2].path  # the writer never reads mentions otherwise
    truncate(root / bad)
    w = store.writer()
    for batch in (7, 8):  # the first finds the damaged file, the second compacts 8 files
        for n in range(batch * 5, batch * 5 + 5):
            add(w, n)
        snap = w.commit()
    assert [q.path for q in snap.quarantined] == [bad]
    assert len(snap.files["mentions"]) == 1  # compacted
    assert snap.query("SELECT SUM(count) AS n FROM {mentions}")["n"].iloc[0] == 45 - 5


def test_rematch_survives_a_damaged_file(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 2)
    bad = store.snapshot().files["articles"][1].path
    corrupt(root / bad)
    rows = store_mod.replace_mentions(
        store, lambda title, text: {"Beta": 1}, [Entity("Beta")], "fp"
    )
    snap = store.snapshot()
    assert rows == 5 and snap.rows("articles") == 5
    assert [q.path for q in snap.quarantined] == [bad]
    assert snap.query("SELECT SUM(count) AS n FROM {mentions}")["n"].iloc[0] == 5


@pytest.mark.parametrize("how", ["truncated", "missing"])
def test_a_reader_names_the_damaged_file_in_one_line(tmp_path, how):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 2)
    bad = store.snapshot().files["articles"][0].path
    damage(root / bad, how)
    with pytest.raises(StoreError) as exc:
        count(open_store(root).snapshot())
    assert bad in one_line(exc) and "monitor check" in str(exc.value)


def test_check_reports_problems_and_notes(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    assert not store_mod.check_store(store).exists
    commit_batches(store, 3)
    health = store_mod.check_store(store)
    # each commit: articles, sources, mentions, fetches, and the daily roll-ups' deltas
    # (no pairs: one entity per article)
    assert health.healthy and health.exists and health.files == 21
    assert {k: n for k, n in health.rows.items() if n} == {
        "articles": 15,
        "sources": 15,
        "mentions": 15,
        "fetches": 3,
        "article_days": 4,  # 1 + 1 + 2 days
        "mention_days": 4,
        "story_days": 4,
    }
    files = store.snapshot().files
    truncate(root / files["articles"][0].path)
    (root / files["sources"][1].path).unlink()
    corrupt(root / files["mentions"][2].path)
    (root / "articles/00000002-0badf00d.parquet").write_bytes(b"x")  # unlisted, older seq
    (root / "articles/.00000004-0badf00d.parquet.tmp").write_bytes(b"x")
    (root / "articles/notes.txt").write_text("mine")
    health = store_mod.check_store(store)
    kinds = sorted((f.kind, f.path) for f in health.problems)
    assert kinds == [
        ("damaged", files["articles"][0].path),
        ("damaged", files["mentions"][2].path),
        ("missing", files["sources"][1].path),
        ("unlisted", "articles/00000002-0badf00d.parquet"),
    ]
    assert {f.kind for f in health.notes} == {"tmp", "foreign"}
    # the store itself is untouched by a check
    assert (root / "articles/00000002-0badf00d.parquet").read_bytes() == b"x"


def _store_with_history(root: Path, monkeypatch) -> Store:
    """Commits, compactions with garbage still in its grace period, a rematch, two feeds."""
    store = open_store(root)
    w = store.writer()
    for batch in range(12):
        for n in range(batch * 5, batch * 5 + 5):
            add(w, n, feed="http://f/1")
        add(w, batch * 5, feed="http://f/2")  # the same article carried by a second feed
        w.add_fetch(
            {"feed": "http://f/1", "time": T0.replace(tzinfo=None) + timedelta(hours=batch)}
        )
        w.commit()
    store_mod.replace_mentions(store, lambda title, text: {"Alpha": 2}, [Entity("Alpha")], "fp")
    return store


def _totals(store: Store) -> dict:
    return (
        store.snapshot()
        .query(
            "SELECT (SELECT COUNT(*) FROM {articles}) AS articles,"
            " (SELECT COUNT(DISTINCT id) FROM {articles}) AS ids,"
            " (SELECT COUNT(*) FROM {sources}) AS sources,"
            " (SELECT SUM(count) FROM {mentions}) AS mentions,"
            " (SELECT COUNT(*) FROM {fetches}) AS fetches"
        )
        .iloc[0]
        .to_dict()
    )


def test_repair_rebuilds_a_lost_manifest_without_losing_or_doubling_rows(tmp_path, monkeypatch):
    root = tmp_path / "s"
    store = _store_with_history(root, monkeypatch)
    expected = _totals(store)
    assert expected == {"articles": 60, "ids": 60, "sources": 72, "mentions": 120, "fetches": 12}
    snap = store.snapshot()
    assert snap.quarantined == () and len(
        json.loads((root / "manifest.json").read_text())["garbage"]
    )
    # a compaction that died before committing: a full copy of rows under the next seq
    biggest = max(snap.files["articles"], key=lambda f: f.rows)
    shutil.copy(root / biggest.path, root / f"articles/{snap.seq + 1:08d}-0000dead.parquet")
    before = data_files(root)
    (root / "manifest.json").unlink()

    report = store_mod.repair_store(store)
    assert report.rebuilt and report.recount and report.changed and not report.quarantined
    assert any("manifest.json is missing" in a for a in report.actions)
    assert _totals(store) == expected  # nothing lost, nothing counted twice
    snap = store.snapshot()
    assert snap.feeds["http://f/1"].articles == 60 and snap.feeds["http://f/2"].articles == 12
    assert snap.fingerprint == ""  # the poller (or `monitor repair`) recounts mentions
    after = data_files(root)
    assert set(before) <= set(after)  # every file is still there (listed, or garbage in grace)
    assert store_mod.check_store(store).healthy
    commit_batches(store, 1)  # and a writer carries on


def test_a_folder_in_place_of_the_manifest_is_damage_that_repair_sets_aside(tmp_path, monkeypatch):
    root = tmp_path / "s"
    store = _store_with_history(root, monkeypatch)
    expected = _totals(store)
    (root / "manifest.json").unlink()
    (root / "manifest.json").mkdir()
    (root / "manifest.json" / "note.txt").write_text("someone's file")
    fresh = open_store(root)
    with pytest.raises(StoreError, match=r"manifest\.json is a folder.*monitor repair"):
        fresh.snapshot()
    health = store_mod.check_store(fresh)
    assert not health.healthy
    assert any("a folder, not a file" in p.message for p in health.problems)

    report = store_mod.repair_store(fresh)
    moved = [a for a in report.actions if "manifest.json was a folder" in a]
    assert moved and report.rebuilt
    assert _totals(fresh) == expected  # rebuilt from the data files, nothing lost
    kept = list((root / "quarantine").glob("manifest-folder-*/note.txt"))
    assert [k.read_text() for k in kept] == ["someone's file"]  # nothing deleted
    assert store_mod.check_store(fresh).healthy


def test_repair_quarantines_damaged_files_and_keeps_what_is_readable(tmp_path, monkeypatch):
    root = tmp_path / "s"
    store = _store_with_history(root, monkeypatch)
    canary = tmp_path / "canary.txt"
    canary.write_text("keep me")
    snap = store.snapshot()
    bad = min(snap.files["articles"], key=lambda f: f.rows)
    truncate(root / bad.path)
    feeds_before = json.loads((root / "manifest.json").read_text())["feeds"]

    def mangle(m):
        m["garbage"].append({"path": "../canary.txt", "since": 0})
        m["feeds"]["http://bad/"] = {"url": "http://bad/", "failures": "many"}
        m["tables"]["fetches"][0]["rows"] = "x"

    _edit_manifest(root, mangle)
    with pytest.raises(StoreError):
        store.snapshot()
    logged: list[str] = []
    report = store_mod.repair_store(store, log=logged.append)
    assert not report.rebuilt and report.recount  # the lost articles had mentions
    [q] = report.quarantined
    assert (q.path, q.rows_lost, q.acknowledged) == (bad.path, bad.rows, False)
    assert (root / q.moved_to).exists() and canary.read_text() == "keep me"
    text = "\n".join(report.actions)
    assert "canary" in text and "http://bad/" in text and "row count corrected" in text
    assert any(
        a.startswith("kept the old manifest as quarantine/manifest-") for a in report.actions
    )
    snap = store.snapshot()
    assert {
        u: s for u, s in json.loads((root / "manifest.json").read_text())["feeds"].items()
    } == feeds_before
    assert snap.rows("articles") == 60 - bad.rows == count(snap)
    assert [(x.path, x.acknowledged) for x in snap.quarantined] == [(bad.path, True)]
    health = store_mod.check_store(store)
    assert health.healthy and [f.kind for f in health.notes] == ["quarantined"]


def test_repair_marks_quarantined_files_as_seen_and_leaves_a_healthy_store_alone(tmp_path):
    root = tmp_path / "s"
    store = open_store(root)
    commit_batches(store, 2)
    report = store_mod.repair_store(store)
    assert not report.changed and not report.actions
    truncate(root / store.snapshot().files["articles"][0].path)
    commit_batches(store, 1)  # the writer quarantines it
    health = store_mod.check_store(store)
    assert [f.kind for f in health.problems] == ["quarantined"]
    report = store_mod.repair_store(store)
    assert report.changed and "marked 1 earlier quarantined file as seen" in report.actions
    assert store_mod.check_store(store).healthy
    assert store_mod.repair_store(store).changed is False


def test_repair_keeps_feed_state_from_a_partly_readable_manifest(tmp_path, monkeypatch):
    root = tmp_path / "s"
    store = _store_with_history(root, monkeypatch)
    expected = _totals(store)
    w = store.writer()
    state = store.snapshot().feeds["http://f/1"]
    state.name, state.etag = "Feed one", '"v1"'
    w.set_feed(state)
    w.commit()
    _edit_manifest(root, lambda m: m.update(tables=None))  # the list of files is gone
    report = store_mod.repair_store(store)
    assert report.rebuilt and report.recount
    assert "manifest.json: tables: null is not an object" in report.actions
    snap = store.snapshot()
    assert (snap.feeds["http://f/1"].name, snap.feeds["http://f/1"].etag) == ("Feed one", '"v1"')
    assert snap.feeds["http://f/1"].articles == 60  # recounted from the sources table
    assert _totals(store) == expected


# --- article pages: an article's mentions replaced when its page is read -----------------------


def page_row(a: Article, status: str, attempt: int, text: str | None = None) -> dict:
    return {
        "article_id": a.id,
        "url": a.url,
        "published": a.published,
        "attempt": attempt,
        "status": status,
        "time": T0,
        "next_try": None if status == "ok" else T0,
        "http_status": 200 if status == "ok" else None,
        "bytes": 0,
        "error": "",
        "text": text,
    }


def mention_totals(store: Store) -> dict[int, dict[str, int]]:
    df = store.snapshot().query("SELECT article_id, entity, count FROM {mentions}")
    out: dict[int, dict[str, int]] = {}
    for aid, entity, n in zip(df["article_id"], df["entity"], df["count"], strict=True):
        assert entity not in out.setdefault(int(aid), {}), "an article's entity counted twice"
        out[int(aid)][entity] = int(n)
    return out


def test_recounting_an_article_in_the_buffer_replaces_its_rows(tmp_path):
    store = open_store(tmp_path / "s")
    w = store.writer()
    add(w, 1, counts={"Alpha": 1})
    add(w, 2, counts={"Alpha": 1})
    a1 = make_article(1)
    w.add_page(page_row(a1, "ok", 1, "Alpha Alpha Beta"))
    w.recount_article(a1.id, a1.published, {"Alpha": 2, "Beta": 1}, names=[("beta", "Beta")])
    w.commit()
    assert mention_totals(store) == {
        a1.id: {"Alpha": 2, "Beta": 1},
        make_article(2).id: {"Alpha": 1},
    }
    snap = store.snapshot()
    assert snap.rows("pages") == 1 and snap.rows("names") == 1


def test_recounting_a_committed_and_compacted_article_rewrites_only_its_files(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(store_mod, "TIER_BASE", 2)
    store = open_store(tmp_path / "s")
    w = store.writer()
    for n in range(1, 9):  # one commit each: compaction merges them into larger files
        add(w, n, counts={"Alpha": n})
        w.commit()
    before = store.snapshot()
    assert len(before.files["mentions"]) < 8
    untouched = {f.path for f in before.files["mentions"] if f.rows == 1}  # newest, unmerged
    a3 = make_article(3)
    w.recount_article(a3.id, a3.published, {"Beta": 5})
    w.commit()
    totals = mention_totals(store)
    assert totals[a3.id] == {"Beta": 5}
    assert {make_article(n).id: totals[make_article(n).id] for n in (1, 2, 8)} == {
        make_article(1).id: {"Alpha": 1},
        make_article(2).id: {"Alpha": 2},
        make_article(8).id: {"Alpha": 8},
    }
    assert sum(len(v) for v in totals.values()) == 8
    after = {f.path for f in store.snapshot().files["mentions"]}
    assert untouched <= after  # files without the article's rows are not rewritten
    # the same recount again (a retry) never doubles
    w.recount_article(a3.id, a3.published, {"Beta": 5})
    w.commit()
    assert mention_totals(store)[a3.id] == {"Beta": 5}


def test_rematch_counts_page_text_where_a_page_was_read(tmp_path):
    store = open_store(tmp_path / "s")
    w = store.writer()
    for n in (1, 2, 3):
        add(w, n)
    a1, a2 = make_article(1), make_article(2)
    w.add_page(page_row(a1, "pending", 0))
    w.add_page(page_row(a1, "ok", 1, "Beta Beta Beta"))
    w.add_page(page_row(a2, "pending", 0))
    w.add_page(page_row(a2, "short", 1))
    w.commit()

    def count(title: str, text: str) -> dict[str, int]:
        words = f"{title} {text}".split()
        return {e: words.count(e) for e in ("Beta", "text") if e in words}

    rows = store_mod.replace_mentions(store, count, [Entity("Beta"), Entity("text")], "fp")
    assert rows == 3
    totals = mention_totals(store)
    assert totals[a1.id] == {"Beta": 3}  # the page's text, not "text 1"
    assert totals[a2.id] == {"text": 1}  # a page too short: the feed's text
    assert totals[make_article(3).id] == {"text": 1}


def test_repair_keeps_every_page_attempt(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "TIER_BASE", 2)
    store = open_store(tmp_path / "s")
    w = store.writer()
    for n in range(1, 5):
        add(w, n)
        a = make_article(n)
        w.add_page(page_row(a, "pending", 0))
        w.commit()
        w.add_page(page_row(a, "failed", 1))
        w.add_page(page_row(a, "ok", 2, "page"))
        w.commit()
    assert store.snapshot().rows("pages") == 12
    (store.root / "manifest.json").unlink()
    report = store_mod.repair_store(store)
    assert report.rebuilt
    df = store.snapshot().query("SELECT article_id, attempt FROM {pages}")
    assert len(df) == 12 and not df.duplicated().any()  # none lost, none twice


# --- daily roll-ups (issue 14) ----------------------------------------------------------------


def _pairs_store(root: Path, commits: int = 20) -> Store:
    """Articles mentioning Alpha, Beta and Gamma in turns, over several days, in many commits."""
    store = open_store(root)
    w = store.writer()
    for c in range(commits):
        for n in range(c * 6, c * 6 + 6):
            counts = {"Alpha": 1 + n % 2, "Beta": 1} if n % 3 else {"Beta": 2, "Gamma": 1}
            add(w, n, counts=counts)
        w.commit(watchlist=([Entity("Alpha"), Entity("Beta"), Entity("Gamma")], "fp"))
    return store


def _co_mentions(store: Store) -> dict:
    from monitor import queries

    df = queries.co_mentions(store.snapshot(), queries.Filters())
    return {(a, b): n for a, b, n in df.itertuples(index=False)}


EXPECTED_PAIRS = {("Alpha", "Beta"): 80, ("Beta", "Gamma"): 40}  # of 120 articles


def test_rollups_are_kept_by_every_commit_and_compacted(tmp_path):
    store = _pairs_store(tmp_path / "s", commits=40)
    snap = store.snapshot()
    assert snap.rollups and _co_mentions(store) == {
        ("Alpha", "Beta"): 160,
        ("Beta", "Gamma"): 80,
    }
    assert store_mod._rollup_differences(snap) == dict.fromkeys(store_mod.ROLLUP_SCHEMAS, 0)
    for name in store_mod.ROLLUP_SCHEMAS:  # 40 commits, a few files each: compacted
        assert (name != "story_spans") <= len(snap.files[name]) < 2 * store_mod.TIER_BASE, name
    days = snap.query("SELECT day, SUM(articles) AS n FROM {article_days} GROUP BY 1 ORDER BY 1")
    assert days["n"].tolist() == [12, 24, 24, 24, 24, 24, 24, 24, 24, 24, 12]
    assert days["n"].sum() == snap.rows("articles") == 240


def test_a_store_without_rollups_is_read_from_its_rows_until_a_writer_computes_them(tmp_path):
    """A store written by a version before the roll-ups: exact answers from the rows; the next
    commit (or `monitor repair`) computes them once."""
    for fix in ("commit", "repair"):
        root = tmp_path / fix
        store = _pairs_store(root)
        manifest = json.loads((root / "manifest.json").read_text())
        del manifest["rollups"]
        for name in store_mod.ROLLUP_SCHEMAS:  # as an older version wrote it
            for f in manifest["tables"].pop(name):
                (root / f["path"]).unlink()
        (root / "manifest.json").write_text(json.dumps(manifest))
        assert not store.snapshot().rollups
        assert _co_mentions(store) == EXPECTED_PAIRS
        health = store.check()
        assert health.healthy and [f.kind for f in health.notes] == ["rollup"]
        if fix == "commit":
            logged: list[str] = []
            store.writer(log=logged.append).commit()
            assert logged == ["store: computing the daily roll-ups of the stored rows (once)"]
        else:
            action, kept = store.repair().actions
            assert kept.startswith("kept the old manifest")
            assert action.startswith("recomputed the daily roll-ups") and "not kept" in action
        snap = store.snapshot()
        assert snap.rollups and _co_mentions(store) == EXPECTED_PAIRS
        # one file each (none for spans when no story falls on two days)
        for n in store_mod.ROLLUP_SCHEMAS:  # one file each (spans: none when no story
            assert len(snap.files[n]) == (n != "story_spans")  # falls on two days)
        assert not store.check().findings


@pytest.mark.parametrize("name", ["article_days", "mention_days", "pair_days"])
def test_check_reports_a_rollup_that_differs_from_the_rows_and_repair_recomputes_it(tmp_path, name):
    import pyarrow as pa

    from monitor import queries

    store = _pairs_store(tmp_path / "s")

    def frames() -> list[pd.DataFrame]:
        snap = store.snapshot()
        f = queries.Filters(start=datetime(2026, 11, 1), end=datetime(2026, 11, 8))  # whole days
        return [
            queries.co_mentions(snap, f),
            queries.overview(snap, f, trend_by="day"),
            queries.article_totals(snap, f, "day"),
        ]

    before = frames()
    schema = store_mod.ROLLUP_SCHEMAS[name]
    day = datetime(2026, 11, 2)
    row = {"day": day, "articles": 3, "mentions": 5, "entity": "Alpha"}
    row.update(entity_a="Alpha", entity_b="Beta")
    bogus = pa.Table.from_pylist([{f.name: row[f.name] for f in schema}], schema)
    with store.transaction() as txn:  # a delta no row accounts for, in a kept roll-up
        txn.append(name, bogus)
    assert store.snapshot().rollups
    after = frames()  # the damage shows: the roll-ups are what answered
    assert not all(a.equals(b) for a, b in zip(before, after, strict=True))
    health = store.check()
    assert [(f.kind, f.path) for f in health.problems] == [("rollup", name)]
    assert "differs from the rows it sums on 1 key " in health.problems[0].message
    (action,) = [a for a in store.repair().actions if "roll-ups" in a]
    assert action.startswith("recomputed the daily roll-ups") and f"{name} on 1 key)" in action
    assert store.check().healthy and store.snapshot().rollups
    for a, b in zip(before, frames(), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_damaged_rollup_file_is_reported_and_repair_computes_the_rollup_again(tmp_path):
    root = tmp_path / "s"
    store = _pairs_store(root)
    bad = store.snapshot().files["pair_days"][0].path
    truncate(root / bad)
    assert [(f.kind, f.path) for f in store.check().problems] == [("damaged", bad)]
    report = store.repair()
    assert [q.path for q in report.quarantined] == [bad]
    assert any(a.startswith("recomputed the daily roll-ups") for a in report.actions)
    assert store.snapshot().rollups and _co_mentions(store) == EXPECTED_PAIRS
    assert store.check().healthy


def test_a_table_past_2_gib_of_text_is_sorted_in_slices_with_the_same_rows(monkeypatch):
    # sorting a big table joins its chunks, and a `string` column past 2 GiB overflows its
    # offsets (ArrowInvalid at ~3M feed articles); `_sorted` then goes through 64-bit copies
    import pyarrow as pa

    rng = __import__("random").Random(3)
    chunks = [
        pa.table(
            {
                "published": pa.array([rng.randrange(100) for _ in range(50)], pa.int64()),
                "text": pa.array([f"t{rng.random()}" if i % 7 else None for i in range(50)]),
                "raw": pa.array([bytes([i]) for i in range(50)], pa.binary()),
            }
        )
        for _ in range(5)
    ]
    table = pa.concat_tables(chunks)
    expected = table.sort_by("published")
    monkeypatch.setattr(store_mod, "SORT_BYTES", 0)
    monkeypatch.setattr(store_mod, "SORT_SLICE", 16)
    got = store_mod._sorted(table, "published")
    assert got.schema == table.schema
    assert got.equals(expected)
    assert max(len(c) for c in got.column("text").chunks) <= 16


def test_compaction_leaves_a_tier_too_big_to_merge_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "MERGE_BYTES", 1)  # every tier is "too big"
    store = open_store(tmp_path / "s")
    w = store.writer()
    for batch in range(10):
        add(w, batch)
        w.commit()
    snap = store.snapshot()
    assert len(snap.files["articles"]) == 10  # nothing merged
    df = snap.query("SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM {articles}")
    assert df["n"].iloc[0] == df["d"].iloc[0] == 10
    monkeypatch.setattr(store_mod, "MERGE_BYTES", 1 << 30)
    add(w, 100)
    w.commit()
    assert len(store.snapshot().files["articles"]) < 10  # merged once it fits


def test_a_lock_file_holds_exactly_the_pid_of_its_holder(tmp_path):
    """The pid is written over the old content, not after a truncation to nothing (see
    `_write_pid`): a longer pid left by an earlier holder must not leave digits behind."""
    store = open_store(tmp_path / "s")
    lock = tmp_path / "s" / "poller.lock"
    assert not store.poller_running()
    lock.parent.mkdir()
    lock.write_text("123456789012")  # an earlier holder's (longer) pid
    with store.poller_lock():
        assert lock.read_text() == str(os.getpid())
        assert store.poller_running()  # the dashboard finds the pid in /proc/locks
        with store.transaction():
            assert (tmp_path / "s" / "commit.lock").read_text() == str(os.getpid())
    assert not store.poller_running()
    assert lock.read_text() == str(os.getpid())  # left for whoever looks


def test_tables_built_from_buffers_equal_arrows_own():
    """The rows a commit appends (strings, numbers, times, nulls) make the table `pa.array`
    would make, without importing pandas as `pa.array` does."""
    import pyarrow as pa

    aware = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    rows = {
        "articles": [
            (
                2**63 - 1,
                "https://a.example/é",
                "Bukele’s",
                "text\x00 ü",
                aware,
                aware.replace(tzinfo=None),
                "",
                "f",
                "",
            ),
            (
                -(2**63),
                "",
                "",
                "",
                datetime(1970, 1, 1),
                datetime(9999, 12, 31),
                None,
                "f",
                "future",
            ),
        ],
        "mentions": [
            (1, "Nayib Bukele", 3, aware, -0.333333333, None),
            (2, "CECOT", 2**31 - 1, datetime(2026, 1, 1), None, 7),
        ],
        "names": [(1, "el salvador", "El Salvador", aware)],
        "stories": [],
    }
    for name, table_rows in rows.items():
        schema = store_mod.TABLES[name]
        columns = list(zip(*table_rows, strict=True)) if table_rows else [[]] * len(schema)
        expected = pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
            schema=schema,
        )
        built = store_mod._table(name, table_rows)
        built.validate(full=True)
        assert built.equals(expected), name


def test_a_commit_of_new_articles_does_not_import_pandas(tmp_path):
    """A first poll's commits (articles, mentions, stories, names, roll-ups) need no pandas
    (importing it is ~0.3 s of a cold ingest)."""
    script = textwrap.dedent(
        f"""
        import sys
        from datetime import UTC, datetime
        from monitor.models import Article, Entity
        from monitor.store import article_key, open_store
        when = datetime(2026, 11, 2, 9, tzinfo=UTC)
        store = open_store({str(tmp_path / "data")!r})
        writer = store.writer()
        for n in range(3):
            url = f"https://s.example/{{n}}"
            aid = article_key("url", url)
            a = Article(aid, url, "Bukele", "Bukele spoke.", when, when, "", "f")
            assert writer.add_article(a, "f", when)
            writer.add_story_and_names(a, a.id, [("bukele", "Bukele")])
            writer.add_mentions(a, {{"Nayib Bukele": 2}}, {{"Nayib Bukele": 0.5}}, a.id)
        writer.commit(watchlist=([Entity("Nayib Bukele", "person")], "fp"))
        assert store.snapshot().rows("mentions") == 3
        print("pandas" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parent.parent,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "False"
