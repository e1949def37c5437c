"""The dashboard's and CLI's questions, on small stores built by a factory: every test runs on
the embedded store and on PostgreSQL (`store_location`), with the same expected numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitor import queries
from monitor.models import Article, Entity, FeedState
from monitor.queries import Filters
from monitor.store import article_key, open_store

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
WATCH = [Entity("Alpha", "person"), Entity("Beta", "topic"), Entity("Gamma", "place")]
F1, F2 = "http://f/1", "http://f/2"


class StoreFactory:
    def __init__(self, path):
        self.store = open_store(path)
        self.writer = self.store.writer()
        self.n = 0

    def article(self, published, counts=None, feeds=(F1,), title="", text="", flag=""):
        self.n += 1
        url = f"http://site/{self.n}"
        a = Article(
            id=article_key("url", url),
            url=url,
            title=title or f"title {self.n}",
            text=text or "body",
            published=published,
            first_seen=published,
            author="",
            feed=feeds[0],
            date_flag=flag,
        )
        for feed in feeds:
            if self.writer.add_article(a, feed, published):
                self.writer.add_mentions(a, counts or {})
        return a

    def fetch(self, feed, time, outcome="ok"):
        self.writer.add_fetch(
            {
                "feed": feed,
                "time": time.replace(tzinfo=None),
                "status": 200,
                "outcome": outcome,
                "bytes": 1,
                "new_articles": 0,
                "duration": 0.1,
                "error": "",
            }
        )

    def commit(self):
        for url, name, tags in ((F1, "One", ["a"]), (F2, "Two", ["b"])):
            st = self.writer.feed_states.get(url) or FeedState(url=url)
            st.name, st.tags, st.last_poll = name, tags, T0 + timedelta(days=30)
            self.writer.set_feed(st)
        return self.writer.commit(watchlist=(WATCH, "fp"))


@pytest.fixture
def make(store_location):
    """A store factory, on the embedded store and on PostgreSQL (every test runs on both)."""
    return StoreFactory(store_location)


def test_counts_per_entity_and_period(make):
    make.article(T0 + timedelta(hours=1), {"Alpha": 2, "Beta": 1})
    make.article(T0 + timedelta(hours=2), {"Alpha": 1})
    make.article(T0 + timedelta(days=1), {"Alpha": 3})
    snap = make.commit()
    total = queries.mention_counts(snap, Filters())
    assert total.to_dict("records") == [
        {"entity": "Alpha", "kind": "person", "mentions": 6, "articles": 3, "stories": 3},
        {"entity": "Beta", "kind": "topic", "mentions": 1, "articles": 1, "stories": 1},
    ]
    daily = queries.mention_counts(snap, Filters(entities=("Alpha",)), by="day")
    assert daily[["mentions", "articles"]].values.tolist() == [[3, 2], [3, 1]]
    ranged = queries.mention_counts(
        snap, Filters(start=T0 + timedelta(hours=2), end=T0 + timedelta(days=1))
    )
    assert ranged.to_dict("records") == [
        {"entity": "Alpha", "kind": "person", "mentions": 1, "articles": 1, "stories": 1}
    ]  # start inclusive, end exclusive


def test_timeline_is_zero_filled_and_normalized(make):
    make.article(T0, {"Alpha": 1})
    make.article(T0, {})
    make.article(T0 + timedelta(days=2), {"Alpha": 2})
    make.article(T0 + timedelta(days=2), {})
    make.article(T0 + timedelta(days=2), {})
    make.article(T0 + timedelta(days=2), {})
    snap = make.commit()
    tl = queries.timeline(
        snap, Filters(start=T0, end=T0 + timedelta(days=3), entities=("Alpha",)), "day"
    )
    assert tl["period"].dt.day.tolist() == [2, 3, 4]
    assert tl["articles"].tolist() == [1, 0, 1]
    assert tl["total"].tolist() == [2, 0, 4]
    assert tl["share"].tolist() == [0.5, 0.0, 0.25]


def test_weeks_start_on_monday_and_months_on_the_first(make):
    make.article(T0 + timedelta(days=6), {"Alpha": 1})  # Sunday 8 Nov
    make.article(T0 + timedelta(days=7), {"Alpha": 1})  # Monday 9 Nov
    snap = make.commit()
    weeks = queries.timeline(
        snap, Filters(start=T0, end=T0 + timedelta(days=14), entities=("Alpha",)), "week"
    )
    assert [p.strftime("%Y-%m-%d") for p in weeks["period"]] == ["2026-11-02", "2026-11-09"]
    assert weeks["articles"].tolist() == [1, 1]
    months = queries.mention_counts(snap, Filters(), by="month")
    assert months["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-11-01"]


def test_feed_filter_and_article_in_two_feeds_counts_once(make):
    make.article(T0, {"Alpha": 1}, feeds=(F1, F2))
    make.article(T0, {"Alpha": 1}, feeds=(F2,))
    snap = make.commit()
    assert queries.mention_counts(snap, Filters())["articles"].tolist() == [2]
    assert queries.mention_counts(snap, Filters(feeds=(F1,)))["articles"].tolist() == [1]
    assert queries.feeds_for_tags(snap, ["b"]) == (F2,)
    top = queries.top_feeds(snap, Filters())
    assert dict(zip(top["name"], top["articles"], strict=True)) == {"Two": 2, "One": 1}


def test_co_mentions_count_shared_articles(make):
    make.article(T0, {"Alpha": 1, "Beta": 1, "Gamma": 1})
    make.article(T0, {"Alpha": 1, "Beta": 2})
    make.article(T0, {"Gamma": 1})
    snap = make.commit()
    pairs = queries.co_mentions(snap, Filters())
    assert pairs.values.tolist() == [
        ["Alpha", "Beta", 2],
        ["Alpha", "Gamma", 1],
        ["Beta", "Gamma", 1],
    ]


def test_articles_behind_a_count_page_and_search(make):
    for i in range(7):
        make.article(T0 + timedelta(hours=i), {"Alpha": i + 1}, title=f"story {i}")
    make.article(T0, {"Beta": 1}, title="needle in here")
    snap = make.commit()
    f = Filters(entities=("Alpha",))
    assert queries.count_articles(snap, f) == 7
    page = queries.articles(snap, f, limit=3, offset=3)
    assert page["title"].tolist() == ["story 3", "story 2", "story 1"]
    assert page["mentions"].tolist() == [4, 3, 2]
    assert page["entities"].tolist() == [["Alpha"]] * 3
    assert queries.count_articles(snap, Filters(search="NEEDLE")) == 1
    assert queries.count_articles(snap, Filters(search="50%_")) == 0  # wildcards are literal
    # every number is traceable: the count equals the articles behind it
    counts = queries.mention_counts(snap, Filters()).set_index("entity")["articles"]
    for entity, n in counts.items():
        assert queries.count_articles(snap, Filters(entities=(entity,))) == n


def test_overview_change_against_the_previous_range(make):
    make.article(T0 - timedelta(days=20), {})  # the store starts early enough
    make.article(T0 - timedelta(days=3), {"Alpha": 2})
    make.article(T0 + timedelta(days=1), {"Alpha": 3, "Beta": 1})
    snap = make.commit()
    ov = queries.overview(snap, Filters(start=T0, end=T0 + timedelta(days=7))).set_index("entity")
    assert ov.loc["Alpha", "mentions"] == 3 and ov.loc["Alpha", "prev_mentions"] == 2
    assert ov.loc["Alpha", "change"] == pytest.approx(0.5)
    assert math.isnan(ov.loc["Beta", "change"])  # nothing before: no ratio
    assert ov.loc["Gamma", "mentions"] == 0  # every watched entity is listed
    assert ov.loc["Alpha", "trend"] == [0, 1, 0, 0, 0, 0, 0]  # articles per day of the range
    assert ov.loc["Gamma", "trend"] == [0] * 7
    hourly = queries.overview(snap, Filters(start=T0, end=T0 + timedelta(days=2)), "hour")
    assert hourly.set_index("entity").loc["Beta", "trend"] == [0] * 24 + [1] + [0] * 23


def test_overview_change_is_blank_when_the_store_starts_inside_the_previous_range(make):
    make.article(T0 - timedelta(days=1), {"Alpha": 1})
    make.article(T0 + timedelta(days=1), {"Alpha": 5})
    snap = make.commit()
    ov = queries.overview(snap, Filters(start=T0, end=T0 + timedelta(days=7))).set_index("entity")
    assert ov.loc["Alpha", "prev_mentions"] == 1
    assert math.isnan(ov.loc["Alpha", "change"])


def test_ingestion_marks_degraded_periods(make):
    for day in range(3):
        for feed, outcome in ((F1, "ok"), (F2, "failed" if day == 1 else "ok")):
            make.fetch(feed, T0 + timedelta(days=day), outcome)
    make.fetch(F1, T0 + timedelta(days=6))  # polled daily, then nothing for days 3-5
    snap = make.commit()
    health = queries.ingestion(snap, Filters(), "day")
    assert health["degraded"].tolist() == [False, True, False, True, True, True, False]
    assert health["failed"].tolist() == [0, 1, 0, 0, 0, 0, 0]


def test_date_flags_are_queryable(make):
    make.article(T0, {"Alpha": 1}, flag="missing")
    make.article(T0, {"Alpha": 1})
    snap = make.commit()
    assert queries.count_articles(snap, Filters(date_flags=("missing",))) == 1
    assert queries.mention_counts(snap, Filters(date_flags=("",)))["articles"].tolist() == [1]


def test_empty_store_gives_empty_frames(store_location):
    snap = open_store(store_location).snapshot()
    assert queries.mention_counts(snap, Filters()).empty
    assert queries.timeline(snap, Filters(), "day").empty
    assert queries.co_mentions(snap, Filters()).empty
    assert queries.count_articles(snap, Filters()) == 0
    assert queries.data_as_of(snap) is None
    assert isinstance(queries.feed_health(snap, T0), pd.DataFrame)


def test_together_keeps_the_articles_that_mention_every_entity(make):
    make.article(T0, {"Alpha": 1, "Beta": 2})
    make.article(T0, {"Alpha": 1})
    make.article(T0, {"Beta": 1, "Gamma": 1})
    snap = make.commit()
    both = Filters(entities=("Alpha", "Beta"), together=True)
    assert queries.count_articles(snap, both) == 1
    pairs = queries.co_mentions(snap, Filters()).set_index(["entity_a", "entity_b"])
    assert pairs.loc[("Alpha", "Beta"), "articles"] == queries.count_articles(snap, both)
    page = queries.articles(snap, both)
    assert page["mentions"].tolist() == [3] and page["entities"].tolist() == [["Alpha", "Beta"]]


def test_ingestion_gaps_shorter_than_the_polling_cadence_are_not_degraded(make):
    for hour in (0, 2, 4, 10, 12):  # polled every 2 h, then a 6 h outage
        make.fetch(F1, T0 + timedelta(hours=hour))
    snap = make.commit()
    health = queries.ingestion(snap, Filters(), "hour").set_index("period")["degraded"]
    assert not health[pd.Timestamp(T0 + timedelta(hours=1)).tz_localize(None)]
    assert health[pd.Timestamp(T0 + timedelta(hours=6)).tz_localize(None)]


def test_ingestion_reads_the_cadence_only_for_periods_without_a_poll(make, monkeypatch):
    """The polling cadence (a pass over the whole fetch log: 50 ms at 2M articles, after
    every commit) decides only whether a period without any poll is degraded: a range polled
    throughout never asks for it, and one with a silent period does."""
    for hour in (0, 1, 2, 3):
        make.fetch(F1, T0 + timedelta(hours=hour))
    snap = make.commit()
    asked: list[int] = []
    cadence = queries._cadence
    monkeypatch.setattr(queries, "_cadence", lambda s: asked.append(1) or cadence(s))
    health = queries.ingestion(snap, Filters(), "hour")
    assert not health["degraded"].any() and asked == []
    make.fetch(F1, T0 + timedelta(hours=9))  # a 6 h silence
    health = queries.ingestion(make.commit(), Filters(), "hour")
    assert health["degraded"].sum() == 5 and asked == [1]


def test_the_rollups_answer_as_the_rows_do(make, monkeypatch):
    """Timeline totals, overview trends and co-mentions from the daily roll-ups are what the
    same queries compute from the rows, through many commits (compaction), recounts of stored
    and buffered articles, and a reanalysis (`monitor rematch`); on both stores."""
    import random
    from dataclasses import replace

    from monitor.enrich import Enricher
    from monitor.match import Matcher

    rng = random.Random(11)
    names = ["Alpha", "Beta", "Gamma"]

    def add(n: int) -> Article:
        present = [e for e in names if rng.random() < 0.55]
        text = " ".join(e for e in present for _ in range(rng.randint(1, 3))) or "nothing"
        counts = {e: text.split().count(e) for e in present}
        when = T0 + timedelta(hours=rng.randrange(24 * 20))
        return make.article(when, counts, feeds=(F1,) if n % 3 else (F1, F2), text=text)

    def frames(snap) -> list[pd.DataFrame]:
        f = Filters(start=T0 + timedelta(days=2), end=T0 + timedelta(days=16))
        out: list[pd.DataFrame] = []
        for by in ("day", "week", "month"):
            out.append(queries.timeline(snap, replace(f, entities=("Gamma", "Alpha")), by))
            out.append(queries.article_totals(snap, f, by))
            out.append(queries.overview(snap, f, trend_by=by))
        for g in (f, Filters(), replace(f, entities=("Alpha", "Gamma"))):
            out.append(queries.co_mentions(snap, g))
        return out

    def compare() -> None:
        snap = make.store.snapshot()
        assert snap.rollups  # so the first frames come from the roll-ups
        with_rollups = frames(snap)
        with monkeypatch.context() as m:
            m.setattr(type(snap), "rollups", property(lambda self: False))
            from_rows = frames(snap)
        for a, b in zip(with_rollups, from_rows, strict=True):
            pd.testing.assert_frame_equal(a, b)
        pairs = with_rollups[-2].set_index(["entity_a", "entity_b"])["articles"]
        assert pairs.loc[("Alpha", "Beta")] > 0  # (something was compared)
        assert not [p for p in make.store.check().problems if p.kind == "rollup"]

    stored = [add(n) for n in range(150)]
    for n in range(30):  # many small commits: the roll-ups' files are compacted too
        add(n)
        make.commit()
    compare()
    for a in stored[::7]:  # counted again on their pages: the stored rows replaced
        make.writer.recount_article(a.id, a.published, {"Beta": 2, "Gamma": 1})
    fresh = add(0)  # and one recounted before its first commit
    make.writer.recount_article(fresh.id, fresh.published, {"Alpha": 5, "Beta": 1})
    make.commit()
    compare()
    enricher = Enricher(Matcher(WATCH), tone=False)  # what `monitor rematch` runs
    make.store.replace_analyses(enricher.batch, WATCH, "fp2")
    compare()
    for n in range(10):
        add(n)
    make.commit()
    compare()


@pytest.mark.parametrize("watch", [WATCH, []])
def test_entities_the_watchlist_lacks_have_no_kind(make, watch):
    """Rows of an entity not (or no longer) watched, until they are recounted, also with no
    watchlist stored yet (a second poller's rows seen before its first commit): counted, with
    kind "" (with no watchlist it was a float column of NaN, and filling it with "" warned)."""
    make.article(T0, {"Ghost": 2})
    snap = make.writer.commit(watchlist=(watch, "fp"))
    for df in (
        queries.mention_counts(snap, Filters()),
        queries.timeline(snap, Filters(entities=("Ghost",)), "day"),
    ):
        assert df["kind"].tolist() == [""] * len(df) and df["mentions"].sum() == 2
    assert queries.overview(snap, Filters(entities=("Ghost",)))["kind"].tolist() == [""]
