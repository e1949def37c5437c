"""The PostgreSQL store on its own: schema and migrations, dedup when writers race, feed leases,
the read-only role, recounts, alert leadership, check and repair, secrets in URLs, and
`store copy` both ways (resumed after an interruption, never doubled). The behaviour both
stores share is tested on both elsewhere (test_queries.py, test_demo_ingest.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from monitor import queries
from monitor.enrich import Enricher
from monitor.errors import StoreError
from monitor.match import Matcher
from monitor.models import Article, Entity, FeedState
from monitor.store import open_store, schema
from monitor.store import postgres as pg
from monitor.store.copy import copy_store
from monitor.store.schema import SCHEMAS, article_key

T0 = datetime(2026, 11, 2, 8)
WATCH = [Entity("Alpha", "person"), Entity("Beta", "topic")]


def article(n: int, feed: str = "http://f/1", text: str = "Alpha said") -> Article:
    url = f"http://site/{n}"
    return Article(
        id=article_key("url", url),
        url=url,
        title=f"title {n}",
        text=text,
        published=T0 + timedelta(minutes=n),
        first_seen=T0,
        author="",
        feed=feed,
    )


def add(writer, n: int, feed: str = "http://f/1", counts=None) -> bool:
    a = article(n, feed)
    stored = writer.add_article(a, feed, T0, article_key("entry", feed, str(n)))
    if stored is not None:
        writer.add_mentions(stored, counts or {"Alpha": 1}, {"Alpha": 0.5}, stored.id)
        writer.add_story_and_names(stored, stored.id, [("alpha", "Alpha")])
    return stored is not None


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as con:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]


# --- schema ------------------------------------------------------------------------------------


def test_a_writer_creates_the_schema_and_a_reader_of_an_empty_database_sees_an_empty_store(
    pg_url,
):
    store = open_store(pg_url)
    snap = store.snapshot()
    assert not snap.ready and snap.rows("articles") == 0 and not store.exists()
    assert queries.mention_counts(snap, queries.Filters()).empty  # no tables: no error
    store.writer().commit()
    assert store.exists()
    assert count(pg_url, "SELECT max(version) FROM monitor_migrations") == pg.SCHEMA_VERSION
    with psycopg.connect(pg_url) as con:
        keys = {
            r[0]
            for r in con.execute(
                "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'p'"
            )
        }
    assert set(schema.KEYS) <= keys  # every keyed table has its primary key
    assert store.check().healthy and store.check().schema == f"{pg.SCHEMA_VERSION} (current)"


def test_a_column_added_to_schemas_reaches_postgresql_at_the_next_migration(pg_url, monkeypatch):
    open_store(pg_url).migrate()
    grown = dict(SCHEMAS, articles=SCHEMAS["articles"].append(pa.field("text_source", pa.string())))
    monkeypatch.setattr(schema, "SCHEMAS", grown)
    monkeypatch.setattr(pg, "SCHEMAS", grown)
    monkeypatch.setattr(pg, "schema_fingerprint", lambda: "grown")
    reader = open_store(pg_url)
    with pytest.raises(StoreError, match=r"lacks articles.text_source.*monitor store migrate"):
        reader.snapshot()
    assert open_store(pg_url).migrate() == ["column articles.text_source added"]
    assert open_store(pg_url).migrate() == []  # nothing more to do
    assert open_store(pg_url).snapshot().ready


# --- writers racing ------------------------------------------------------------------------------


def test_two_writers_storing_the_same_articles_at_once_store_each_once(pg_url):
    """Two pollers meet the same 300 articles through different feeds at the same moment:
    one article row each, mentions and stories only once, a source row per feed."""
    store = open_store(pg_url)
    writers = [store.writer(poller=f"p{i}") for i in range(2)]
    for i, w in enumerate(writers):
        for n in range(300):
            add(w, n, feed=f"http://f/{i}")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def commit(w) -> None:
        barrier.wait()
        try:
            w.commit(watchlist=(WATCH, "fp"))
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    snap = store.snapshot()
    assert count(pg_url, "SELECT count(*) FROM articles") == snap.rows("articles") == 300
    assert count(pg_url, "SELECT count(*) FROM mentions") == snap.rows("mentions") == 300
    assert count(pg_url, "SELECT count(*) FROM stories") == 300
    assert count(pg_url, "SELECT count(*) FROM sources") == snap.rows("sources") == 600
    assert snap.feeds == {} or all(st.articles == 300 for st in snap.feeds.values())
    assert store.check().healthy


def held_open(writer) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """`writer.commit()` started in a thread and held open just before its end (after its
    articles, mentions, daily sums and stories, before its feed states and the commit
    sequence); returns (thread, reached, release)."""
    reached, release = threading.Event(), threading.Event()
    write_states = writer._write_states

    def hold(cur, *args):
        reached.set()
        assert release.wait(60)
        return write_states(cur, *args)

    writer._write_states = hold
    thread = threading.Thread(target=writer.commit)
    thread.start()
    assert reached.wait(60)
    return thread, reached, release


def copy_of(writer, n: int, story: int, feed: str) -> None:
    """Article n, mentioning Alpha and Beta, as a copy of the article `story`."""
    a = article(n, feed)
    assert writer.add_article(a, feed, T0, article_key("entry", feed, str(n))) is not None
    writer.add_mentions(a, {"Alpha": 1, "Beta": 1}, {}, story)
    writer.add_story_and_names(a, story, [])


def test_two_writers_commit_the_same_days_at_once_without_waiting_for_each_other(pg_url):
    """Pollers committing at once add to the same days' sums (every commit of a busy day
    touches its rows): one commit does not wait for the other's to end, and the sums are
    those of the rows afterwards."""
    store = open_store(pg_url)
    head, first = store.writer(poller="h"), store.writer(poller="a")
    # the second poller gives up on any lock it waits for over 5 s (as a failed commit)
    second = open_store(f"{pg_url}?options=-c%20lock_timeout%3D5000").writer(poller="b")
    add(head, 0)
    head.commit(watchlist=(WATCH, "fp"))
    for n in range(1, 20):  # the same days, entities, pairs; copies of one story and new ones
        copy_of(first, n, article(0).id if n % 2 else article(n).id, "http://f/a")
        copy_of(second, 100 + n, article(100 + n).id, "http://f/b")
    thread, _, release = held_open(first)
    try:
        second.commit()  # while the first commit is open
    finally:
        release.set()
        thread.join(60)
    for w in (first, second):  # the commit's rows are gone from the temporary tables
        assert w.con.execute("SELECT count(*) FROM new_articles").fetchone() == (0,)
        assert w.con.execute("SELECT count(*) FROM new_mentions").fetchone() == (0,)
    snap = store.snapshot()
    assert snap.rows("articles") == 39 == count(pg_url, "SELECT count(*) FROM articles")
    assert not store.check().problems
    day = datetime(T0.year, T0.month, T0.day)  # whole days: the daily sums answer
    counts = queries.overview(snap, queries.Filters(start=day, end=day + timedelta(days=1)))
    counts = counts.set_index("entity")
    assert counts.loc["Alpha", "articles"] == 39 and counts.loc["Beta", "articles"] == 38


def test_two_writers_adding_copies_of_one_story_at_once_count_it_once(pg_url):
    """A story stored on one day, copies of it from two pollers on the next day, committed at
    once: the story is counted once on that day (the second commit waits for the first's end
    to see its copy), in the daily sums as in the rows."""
    store = open_store(pg_url)
    head, first, second = (store.writer(poller=p) for p in ("h", "a", "b"))
    add(head, 0)
    head.commit(watchlist=(WATCH, "fp"))
    story = article(0).id
    for w, n in ((first, 2000), (second, 2001)):  # (published on the next day: T0 + n min)
        copy_of(w, n, story, f"http://f/{n}")
    thread, _, release = held_open(first)
    try:
        waiting = threading.Thread(target=second.commit)
        waiting.start()
        waiting.join(2)
        assert waiting.is_alive()  # waiting for the first commit's end (the story's lock)
    finally:
        release.set()
        thread.join(60)
        waiting.join(60)
    assert not store.check().problems
    snap = store.snapshot()
    day = datetime(T0.year, T0.month, T0.day) + timedelta(days=1)
    f = queries.Filters(start=day, end=day + timedelta(days=1))
    with_sums = queries.overview(snap, f).set_index("entity")
    for entity in ("Alpha", "Beta"):  # (the story's first article mentions Alpha only)
        assert with_sums.loc[entity, "articles"] == 2 and with_sums.loc[entity, "stories"] == 1


def test_a_recount_by_another_poller_than_the_one_that_stored_keeps_the_sums_exact(pg_url):
    """One poller stores articles, another counts them again on their pages: the second's
    changes to the daily sums go to its own rows (a key's rows may then sum to nothing: the
    key is gone), and the sums stay those of the rows."""
    store = open_store(pg_url)
    first, second = store.writer(poller="a"), store.writer(poller="b")
    for n in (1, 2):
        add(first, n)  # Alpha once each, a story each
    first.commit(watchlist=(WATCH, "fp"))
    for n in (1, 2):
        second.recount_article(article(n).id, article(n).published, {"Beta": n})
    second.commit(watchlist=(WATCH, "fp"))
    assert not store.check().problems
    day = datetime(T0.year, T0.month, T0.day)
    counts = queries.overview(store.snapshot(), queries.Filters(start=day, end=day + timedelta(1)))
    counts = counts.set_index("entity")
    assert counts.loc["Alpha", "articles"] == 0 and counts.loc["Beta", "mentions"] == 3
    assert counts.loc["Beta", "articles"] == 2 == counts.loc["Beta", "stories"]
    assert count(pg_url, "SELECT count(*) FROM mention_days WHERE entity = 'Alpha'") == 0
    assert count(pg_url, "SELECT count(DISTINCT slot) FROM mention_days") == 1  # (b's rows)


def test_an_article_another_poller_stored_first_is_not_new_nor_counted_twice(pg_url):
    store = open_store(pg_url)
    first, second = store.writer(poller="a"), store.writer(poller="b")
    assert add(first, 1, "http://f/a")
    first.commit()
    # the second writer has not looked the article up: it takes it for new ...
    assert add(second, 1, "http://f/b")
    second.add_fetch({"feed": "http://f/b", "time": T0, "status": 200, "outcome": "ok",
                      "bytes": 1, "new_articles": 1, "duration": 0.1, "error": ""})  # fmt: skip
    second.set_feed(FeedState(url="http://f/b", last_new=1))
    snap = second.commit()
    # ... and the database says otherwise: no second article, no second mention, and the
    # fetch log and feed state say the poll brought nothing new
    assert snap.rows("articles") == 1 and snap.rows("mentions") == 1 and snap.rows("sources") == 2
    assert count(pg_url, "SELECT new_articles FROM fetches") == 0
    assert snap.feeds["http://f/b"].last_new == 0 and snap.feeds["http://f/b"].articles == 1


def test_a_retried_commit_discounts_an_article_another_poller_stored_once(pg_url, monkeypatch):
    """The discount of an article another poller stored first is taken from the feed's state
    only when the transaction commits: a commit retried after a serialization failure (or
    failed and made again later) must not take it twice."""
    store = open_store(pg_url)
    first, second = store.writer(poller="a"), store.writer(poller="b")
    assert add(first, 1, "http://f/a")
    first.commit()
    assert add(second, 1, "http://f/b") and add(second, 2, "http://f/b")  # one lost, one new
    second.set_feed(FeedState(url="http://f/b", last_new=2))
    write_states, failed = pg.PgWriter._write_states, []

    def fail_once(self, cur, *args):
        if not failed:
            failed.append(1)
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return write_states(self, cur, *args)

    monkeypatch.setattr(pg.PgWriter, "_write_states", fail_once)
    snap = second.commit()
    assert failed and snap.rows("articles") == 2
    assert snap.feeds["http://f/b"].last_new == 1 and snap.feeds["http://f/b"].articles == 2


def test_prepare_finds_what_another_poller_stored_so_its_entries_are_not_new(pg_url):
    store = open_store(pg_url)
    first = store.writer(poller="a")
    for n in range(5):
        add(first, n)
    first.commit()
    second = store.writer(poller="b")
    feed = "http://f/1"
    second.prepare(
        feed, [k for n in range(6) for k in (article(n).id, article_key("entry", feed, str(n)))]
    )
    assert [add(second, n) for n in range(6)] == [False] * 5 + [True]


def test_the_same_entry_from_two_writers_is_stored_once(pg_url):
    """The unique entry key holds even when both writers think the entry new."""
    store = open_store(pg_url)
    a, b = store.writer(poller="a"), store.writer(poller="b")
    feed = "http://f/1"
    entry = article_key("entry", feed, "x")
    for w, n in ((a, 1), (b, 2)):  # the same entry under two links (its link changed)
        w.add_article(article(n, feed), feed, T0, entry)
    a.commit()
    b.commit()
    assert count(pg_url, "SELECT count(*) FROM sources") == 1


# --- leases --------------------------------------------------------------------------------------


def test_a_feed_is_leased_to_one_poller_until_it_commits_its_state(pg_url):
    store = open_store(pg_url)
    a, b = store.writer(poller="a"), store.writer(poller="b")
    feeds = ["http://f/1", "http://f/2"]
    won = a.claim(feeds, lambda st: True, T0).won
    assert set(won) == set(feeds) and won["http://f/1"] is None  # never polled
    claim = b.claim(feeds, lambda st: True, T0)
    assert claim.won == {} and set(claim.busy) == set(feeds)
    assert all(until > datetime.now(UTC) for until in claim.busy.values())
    a.set_feed(FeedState(url="http://f/1", name="One", poller="a"))
    a.commit()  # its state is stored: the lease is released
    snap = store.snapshot()
    assert snap.feeds["http://f/1"].poller == "a" and "http://f/1" not in snap.leases
    assert "http://f/2" not in snap.feeds  # leased, never polled: not a feed of the store yet
    due_again = b.claim(feeds, lambda st: st is not None, T0)
    assert set(due_again.won) == {"http://f/1"} and set(due_again.busy) == {"http://f/2"}
    a.release()  # a poll stopped before f/2 was fetched: free again, and forgotten
    assert set(b.claim(["http://f/2"], lambda st: True, T0).won) == {"http://f/2"}


def test_the_lease_of_a_poller_that_stopped_renewing_runs_out(pg_url, monkeypatch):
    # 3 s: b's first claim must come before a's lease runs out, even on a loaded machine
    monkeypatch.setattr(pg, "LEASE", timedelta(seconds=3))
    store = open_store(pg_url)
    a, b = store.writer(poller="a"), store.writer(poller="b")
    assert a.claim(["http://f/1"], lambda st: True, T0).won
    assert not b.claim(["http://f/1"], lambda st: True, T0).won
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not b.claim(["http://f/1"], lambda st: True, T0).won:
        assert datetime.now(UTC) < deadline
    # the poller that lost its lease does not overwrite the state of the one that has it
    b.set_feed(FeedState(url="http://f/1", last_error="b polled it"))
    b.commit()
    a.set_feed(FeedState(url="http://f/1", last_error="a, late"))
    a.commit()
    assert store.snapshot().feeds["http://f/1"].last_error == "b polled it"


def test_a_stale_copy_of_a_feed_state_never_overwrites_a_newer_one(pg_url):
    store = open_store(pg_url)
    a, b = store.writer(poller="a"), store.writer(poller="b")
    a.set_feed(FeedState(url="http://f/1", etag="v1"))
    a.commit()
    stale = b.current_states(None)["http://f/1"]  # b reads version 1
    a.set_feed(FeedState(url="http://f/1", etag="v2"))
    a.commit()
    stale.etag = "old"
    b.set_feed(stale)
    b.commit()
    assert store.snapshot().feeds["http://f/1"].etag == "v2"


# --- readers -------------------------------------------------------------------------------------


def test_a_dashboard_reads_through_a_role_that_cannot_write(pg_url, pg_reader_url):
    writer = open_store(pg_url).writer()
    for n in range(3):
        add(writer, n)
    writer.set_feed(FeedState(url="http://f/1", name="One"))
    writer.commit(watchlist=(WATCH, "fp"))
    reader = open_store(pg_reader_url)
    snap = reader.snapshot()
    assert snap.rows("articles") == 3 and snap.feeds["http://f/1"].name == "One"
    counts = queries.mention_counts(snap, queries.Filters())
    assert counts[["entity", "mentions"]].values.tolist() == [["Alpha", 3]]
    assert not reader.poller_running()
    with pytest.raises(StoreError, match="permission denied"):
        w = reader.writer()
        add(w, 9)
        w.commit()
    assert open_store(pg_url).snapshot().rows("articles") == 3


def test_the_snapshot_key_changes_with_every_commit(pg_url):
    store = open_store(pg_url)
    w = store.writer()
    keys = {store.snapshot().key}
    for n in range(3):
        add(w, n)
        keys.add(w.commit().key)
    w.set_feed(FeedState(url="http://f/1", etag="x"))  # a feed state alone is a commit too
    keys.add(w.commit().key)
    assert len(keys) == 5


def test_nul_characters_in_feed_text_are_stored(pg_url):
    w = open_store(pg_url).writer()
    a = article(1)
    a = Article(**{**a.__dict__, "title": "a\x00b", "text": "Alpha\x00"})
    w.add_article(a, "http://f/1", T0)
    w.set_feed(FeedState(url="http://f/1", last_error="bad \x00 byte"))
    snap = w.commit()
    page = queries.articles(snap, queries.Filters())
    assert page["title"].tolist() == ["a\ufffdb"]
    assert snap.feeds["http://f/1"].last_error == "bad \ufffd byte"


# --- whole-store operations -----------------------------------------------------------------------


def test_a_recount_replaces_every_mention_at_once(pg_url):
    store = open_store(pg_url)
    w = store.writer()
    for n in range(10):
        add(w, n)
    w.commit(watchlist=(WATCH, "fp1"))
    from monitor.enrich import Enricher
    from monitor.match import Matcher

    enricher = Enricher(Matcher([Entity("Alpha"), Entity("said")]), tone=False)
    rows = store.replace_analyses(enricher.batch, [Entity("Alpha"), Entity("said")], "fp2")
    snap = store.snapshot()
    assert rows == 20 == snap.rows("mentions") == count(pg_url, "SELECT count(*) FROM mentions")
    assert snap.fingerprint == "fp2" and snap.rows("stories") == 10
    # not forced, the same fingerprint: another poller did it already
    assert store.replace_analyses(enricher.batch, [], "fp2", force=False) == 0


def test_a_writer_with_another_watchlist_than_the_store_is_told(pg_url):
    store = open_store(pg_url)
    a, b = store.writer(), store.writer()
    add(a, 1)
    a.commit(watchlist=(WATCH, "fp-a"))
    add(b, 2)
    b.commit(watchlist=(WATCH[:1], "fp-b"))
    assert b.other_analyses and store.snapshot().fingerprint == "fp-a"


def test_alerts_are_led_by_one_process_at_a_time(pg_url):
    first, second = open_store(pg_url), open_store(pg_url)
    first.migrate()
    assert first.lead("alerts") and first.lead("alerts")
    assert not second.lead("alerts")
    assert second.lead("digests")  # another task, another lock
    first.close()  # the leader stops (or dies: its connection closes)
    second._lead_retry.clear()
    assert second.lead("alerts")


def test_poller_running_sees_a_poller_on_another_connection(pg_url):
    poller, dashboard = open_store(pg_url), open_store(pg_url)
    poller.migrate()
    assert not dashboard.poller_running()
    with poller.poller_lock("p1"):
        assert dashboard.poller_running()
        with open_store(pg_url).poller_lock("p2"):  # any number of pollers
            assert dashboard.poller_running()
    assert not dashboard.poller_running()


def test_check_and_repair(pg_url):
    store = open_store(pg_url)
    w = store.writer()
    for n in range(4):
        add(w, n)
    w.commit(watchlist=(WATCH, "fp"))
    assert store.check().healthy
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DELETE FROM articles WHERE id = %s", (article(0).id,))
        con.execute("DROP INDEX mentions_entity")
        con.execute("UPDATE monitor_feeds SET lease_owner = 'gone:1', lease_until = '2000-01-01'")
    health = store.check()
    kinds = {(f.kind, f.path) for f in health.problems}
    assert ("rows", "articles") in kinds and ("orphan", "mentions") in kinds
    assert ("constraint", "mentions_entity") in kinds
    assert any(f.kind == "lease" and "gone:1" in f.message for f in health.notes)
    report = store.repair()
    assert report.changed and "deleted 1 rows of mentions naming articles not stored" in (
        report.actions
    )
    assert "index mentions_entity created" in report.actions
    assert store.check().healthy
    assert store.snapshot().rows("articles") == 3 == store.snapshot().rows("mentions")


def test_a_password_in_the_url_is_never_shown(pg_cluster):
    url = f"postgresql://monitor:hunter2-secret@127.0.0.1:{pg_cluster.port}/no_such_db"
    store = open_store(url)
    assert "hunter2" not in store.location and "***" in store.location
    with pytest.raises(StoreError) as exc:
        store.snapshot()
    assert "hunter2" not in str(exc.value) and "no_such_db" in str(exc.value)


# --- store copy ----------------------------------------------------------------------------------


def build_embedded(folder) -> object:
    from tests.dashboard_store import build_store

    return build_store(folder, datetime(2026, 5, 1, 12, tzinfo=UTC))


def table_rows(store) -> dict[str, int]:
    snap = store.snapshot()
    return {t: snap.rows(t) for t in SCHEMAS}


def test_copy_embedded_to_postgresql_and_back_gives_the_same_numbers(tmp_path, pg_url):
    build_embedded(tmp_path / "w")
    embedded = open_store(tmp_path / "w" / "data")
    database = open_store(pg_url)
    seen: list[tuple[str, int, int]] = []
    report = copy_store(embedded, database, progress=lambda *p: seen.append(p), batch_rows=64)
    assert report.equal and not report.resumed and report.copied["articles"] > 64
    assert seen[-1][0] == "pages" and ("articles", 64, embedded.snapshot().rows("articles")) in seen
    back = open_store(tmp_path / "back")
    assert copy_store(database, back, batch_rows=50).equal
    f = queries.Filters(start=datetime(2026, 4, 1), end=datetime(2026, 5, 2))
    expected = queries.timeline(embedded.snapshot(), f, "day")
    for store in (database, back):
        snap = store.snapshot()
        assert table_rows(store) == table_rows(embedded)
        assert snap.fingerprint == embedded.snapshot().fingerprint
        assert {u: (s.name, s.articles) for u, s in snap.feeds.items()} == {
            u: (s.name, s.articles) for u, s in embedded.snapshot().feeds.items()
        }
        got = queries.timeline(snap, f, "day")
        assert got[["entity", "period", "mentions", "articles", "total"]].values.tolist() == (
            expected[["entity", "period", "mentions", "articles", "total"]].values.tolist()
        )
    assert copy_store(embedded, database).already  # a finished copy: nothing more to do


@pytest.mark.parametrize("direction", ["to_postgresql", "to_embedded"])
def test_an_interrupted_copy_resumes_and_never_doubles_a_row(tmp_path, pg_url, direction):
    build_embedded(tmp_path / "w")
    embedded = open_store(tmp_path / "w" / "data")
    if direction == "to_postgresql":
        source, target = embedded, open_store(pg_url)
    else:
        source, target = open_store(pg_url), open_store(tmp_path / "copy")
        assert copy_store(embedded, source).equal

    class Stop(Exception):
        pass

    def stop_in_fetches(table: str, done: int, total: int) -> None:
        if table == "fetches" and done >= 500:
            raise Stop

    with pytest.raises(Stop):
        copy_store(source, target, progress=stop_in_fetches, batch_rows=250)
    partial = table_rows(target)
    assert partial["articles"] == source.snapshot().rows("articles")
    assert 0 < partial["fetches"] < source.snapshot().rows("fetches")
    report = copy_store(source, target, batch_rows=250)
    assert report.resumed and report.equal
    total = source.snapshot().rows("fetches")
    assert report.copied["articles"] == 0 and report.copied["fetches"] == total - partial["fetches"]
    assert table_rows(target) == table_rows(source)


def test_a_copy_from_a_source_that_changed_meanwhile_is_not_resumed(tmp_path, pg_url):
    build_embedded(tmp_path / "w")
    embedded = open_store(tmp_path / "w" / "data")
    target = open_store(pg_url)

    def stop(table: str, done: int, total: int) -> None:
        if table == "sources":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_store(embedded, target, progress=stop)
    w = embedded.writer()
    add(w, 999)
    w.commit()  # a poller ran on the source in between
    with pytest.raises(StoreError, match=r"unfinished copy of another store, or of .* changed"):
        copy_store(embedded, target)


def test_copy_refuses_a_busy_source_and_a_destination_holding_something_else(tmp_path, pg_url):
    build_embedded(tmp_path / "w")
    embedded = open_store(tmp_path / "w" / "data")
    other = open_store(pg_url)
    w = other.writer()
    add(w, 1)
    w.commit()
    with pytest.raises(StoreError, match="already holds data"):
        copy_store(embedded, other)
    with embedded.poller_lock(), pytest.raises(StoreError, match="a poller is writing"):
        copy_store(embedded, open_store(tmp_path / "x"))
    with pytest.raises(StoreError, match="no store at"):
        copy_store(open_store(tmp_path / "nothing"), open_store(tmp_path / "y"))


def test_the_daily_sums_answer_as_the_rows_do(pg_url, monkeypatch):
    """The timeline, the overview and the co-mentions read PostgreSQL's daily roll-ups when no
    filter needs the rows: the same frames as from the rows, through commits from two
    writers, a recount and a repair; `check` names each damaged roll-up, `repair` fixes it."""
    import random

    from monitor.enrich import Enricher
    from monitor.match import Matcher

    rng = random.Random(3)
    store = open_store(pg_url)
    writers = [store.writer(poller="a"), store.writer(poller="b")]
    for n in range(400):
        w = writers[n % 2]
        a = Article(
            **{**article(n).__dict__, "published": T0 + timedelta(hours=rng.randrange(24 * 60))}
        )
        feed = f"http://f/{n % 3}"
        if w.add_article(a, feed, T0, article_key("entry", feed, str(n))):
            w.add_mentions(a, {e.name: rng.randint(1, 3) for e in WATCH if rng.random() < 0.6})
        if n % 50 == 49:
            w.commit()
    for w in writers:
        w.commit(watchlist=(WATCH, "fp"))

    def frames() -> list[object]:
        snap = store.snapshot()
        out: list[object] = []
        for by in ("day", "week", "month"):
            day = datetime(T0.year, T0.month, T0.day)  # whole days: what the sums hold
            f = queries.Filters(start=day + timedelta(days=3), end=day + timedelta(days=40))
            out.append(queries.timeline(snap, replace_entities(f), by))
            out.append(queries.article_totals(snap, f, by))
            out.append(queries.overview(snap, f, trend_by=by))
        out.append(queries.co_mentions(snap, f))
        out.append(queries.co_mentions(snap, replace_entities(f)))
        return out

    def replace_entities(f):
        import dataclasses

        return dataclasses.replace(f, entities=("Beta", "Alpha"))

    def compare() -> None:
        assert store.snapshot().rollups
        with_sums = frames()
        monkeypatch.setattr(pg.PgSnapshot, "rollups", property(lambda self: False))
        from_rows = frames()
        monkeypatch.undo()
        for a, b in zip(with_sums, from_rows, strict=True):
            pd.testing.assert_frame_equal(a, b)  # type: ignore[arg-type]

    compare()
    enricher = Enricher(Matcher([Entity("Alpha"), Entity("title")]), tone=False)
    store.replace_analyses(enricher.batch, [Entity("Alpha"), Entity("title")], "fp2")
    compare()
    assert not [p for p in store.check().problems if p.kind == "rollup"]
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("UPDATE mention_days SET mentions = mentions + 1, articles = articles + 1")
        con.execute("UPDATE pair_days SET articles = articles + 1 WHERE entity_a = 'Alpha'")
        damaged = con.execute("SELECT count(*) FROM pair_days WHERE entity_a = 'Alpha'")
        pairs = damaged.fetchone()[0]  # type: ignore[index]
    with pytest.raises(AssertionError):  # (the sums are what answered above)
        compare()
    monkeypatch.undo()
    found = {f.path: f.message for f in store.check().problems if f.kind == "rollup"}
    assert set(found) == {"mention_days", "pair_days"}
    assert pairs > 1 and f"on {pairs:,} keys " in found["pair_days"]
    (action,) = [a for a in store.repair().actions if "roll-ups" in a]
    assert "mention_days on" in action and f"pair_days on {pairs:,} keys)" in action
    assert not [p for p in store.check().problems if p.kind == "rollup"]
    compare()


# --- full text: pages and recounts ------------------------------------------------------------


def page_row(n: int, attempt: int, status: str, text: str | None = None) -> dict[str, object]:
    a = article(n)
    return {"article_id": a.id, "url": a.url, "published": a.published, "attempt": attempt,
            "status": status, "time": T0 + timedelta(hours=attempt), "next_try": None,
            "http_status": 200, "bytes": 100, "error": "", "text": text}  # fmt: skip


@pytest.mark.parametrize("where", ["embedded", "postgresql"])
def test_an_article_counted_again_on_its_page_replaces_its_rows(where, tmp_path, request):
    location = tmp_path / "s" if where == "embedded" else request.getfixturevalue("pg_url")
    store = open_store(location)
    w = store.writer()
    for n in (1, 2):
        add(w, n)  # each: Alpha once, a story, the name "alpha"
    w.commit(watchlist=(WATCH, "fp"))
    w.add_page(page_row(1, 0, "pending"))
    w.add_page(page_row(1, 1, "ok", "Beta met Alpha; Beta again."))
    w.recount_article(article(1).id, article(1).published, {"Alpha": 1, "Beta": 2},
                      {"Beta": 0.1}, names=[("beta", "Beta")])  # fmt: skip
    add(w, 3)  # a new article recounted before its first commit: its buffered rows replaced
    w.recount_article(article(3).id, article(3).published, {"Beta": 4})
    w.commit(watchlist=(WATCH, "fp"))
    snap = store.snapshot()
    got = snap.query("SELECT article_id, entity, count FROM {mentions} ORDER BY 1, 2")
    assert sorted(map(tuple, got.values.tolist())) == sorted(
        [(article(1).id, "Alpha", 1), (article(1).id, "Beta", 2),
         (article(2).id, "Alpha", 1), (article(3).id, "Beta", 4)]
    )  # fmt: skip
    names = snap.query("SELECT article_id, name FROM {names}")
    assert sorted(names["name"][names["article_id"] == article(1).id]) == ["beta"]
    assert snap.rows("mentions") == 4 and snap.rows("pages") == 2
    counts = queries.mention_counts(snap, queries.Filters()).set_index("entity")
    assert counts.loc["Beta", "mentions"] == 6 and counts.loc["Alpha", "articles"] == 2
    if where == "postgresql":  # the daily sums followed (check compares them with the rows)
        assert not [p for p in store.check().problems if p.kind == "rollup"]
        day = datetime(T0.year, T0.month, T0.day)
        f = queries.Filters(start=day, end=day + timedelta(days=1))
        tl = queries.overview(snap, f).set_index("entity")
        assert tl.loc["Beta", "trend"] == [2] and tl.loc["Alpha", "trend"] == [2]
    # a recount of everything reads the page's text where the page was read
    enricher = Enricher(Matcher(WATCH), tone=False)
    store.replace_analyses(enricher.batch, WATCH, "fp2")
    counts = queries.mention_counts(store.snapshot(), queries.Filters()).set_index("entity")
    assert counts.loc["Beta", "mentions"] == 2  # article 1's page; article 3's feed text has none
    if where == "postgresql":  # the same attempt from a second poller is stored once
        w = store.writer()
        w.add_page(page_row(1, 1, "ok", "Beta met Alpha; Beta again."))
        w.commit()
        assert store.snapshot().rows("pages") == 2 == count(location, "SELECT count(*) FROM pages")
