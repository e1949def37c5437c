"""The dashboard's questions about stories, tone and names (issue 13): stories beside mentions
and articles in the timeline and the overview, one card per story on the Articles page with
the other copies, tone per entity on a card and per period, sample articles of rising names;
and stores written before stories still answer (each article a story of its own). Each runs
on the embedded store and on PostgreSQL (`store_location`), but the last (it damages Parquet
files on purpose)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from monitor import queries
from monitor.models import Article, Entity
from monitor.queries import Filters
from monitor.store import open_store
from tests.test_analyses import T0, WATCH, article, ingest, syndicated

DAY = Filters(start=T0.replace(hour=0), end=T0.replace(hour=0) + timedelta(days=2))


def wire_store(location, extra=()):
    """The wire story carried by three outlets, another article on the event, and more."""
    store = open_store(location)
    items = syndicated()
    later = [
        article(11, "CECOT again", "Bukele spoke at CECOT. " * 3, T0 + timedelta(days=1), "f"),
        *extra,
    ]
    ingest(store, items + later)
    return store, items


def test_timeline_counts_stories_as_mention_counts_does(store_location):
    store, _ = wire_store(store_location)
    snap = store.snapshot()
    f = Filters(start=DAY.start, end=DAY.end, entities=("Nayib Bukele", "CECOT"))
    tl = queries.timeline(snap, f, "day", story_share=True)
    counts = queries.mention_counts(snap, f, by="day")
    want = {(r.entity, r.period.day): (r.articles, r.stories) for r in counts.itertuples()}
    got = {(r.entity, r.period.day): (r.articles, r.stories) for r in tl.itertuples() if r.articles}
    assert got == want
    first = tl[
        (tl["entity"] == "Nayib Bukele") & (tl["period"] == T0.replace(hour=0, tzinfo=None))
    ].iloc[0]
    assert (first["articles"], first["stories"]) == (4, 2)  # the wire story once
    assert (first["total"], first["total_stories"]) == (4, 2)
    assert first["story_share"] == 1.0 and first["share"] == 1.0
    plain = queries.timeline(snap, f, "day")  # story totals only when asked
    assert plain["stories"].tolist() == tl["stories"].tolist()
    assert plain["total_stories"].eq(0).all()


def test_overview_gives_stories_and_their_change(store_location):
    store, _ = wire_store(store_location)
    snap = store.snapshot()
    day2 = T0.replace(hour=0) + timedelta(days=1)
    f = Filters(start=day2, end=day2 + timedelta(days=1))
    ov = queries.overview(snap, f).set_index("entity")
    assert ov.loc["Nayib Bukele", ["articles", "stories"]].tolist() == [1, 1]
    assert ov.loc["Nayib Bukele", ["prev_articles", "prev_stories"]].tolist() == [4, 2]
    # the previous day began before the first article: not comparable, so no change
    assert ov["stories_change"].isna().all()
    f = Filters(start=day2 + timedelta(days=1), end=day2 + timedelta(days=2))
    ov = queries.overview(snap, f).set_index("entity")
    assert ov.loc["Nayib Bukele", "stories"] == 0
    assert ov.loc["Nayib Bukele", "prev_stories"] == 1
    assert ov.loc["Nayib Bukele", "stories_change"] == -1.0


def test_a_story_is_listed_once_with_its_copies(store_location):
    store, items = wire_store(store_location)
    snap = store.snapshot()
    f = Filters(entities=("Nayib Bukele",))
    assert queries.count_articles(snap, f) == 5
    assert queries.count_stories(snap, f) == 3
    page = queries.articles(snap, f, one_per_story=True)
    assert len(page) == 3
    wire = page[page["id"] == items[0].id].iloc[0]  # the first copy stands for the story
    assert wire["copies"] == 3 and wire["matching"] == 3 and wire["story"] == items[0].id
    every = queries.articles(snap, f)
    assert len(every) == 5 and every["matching"].eq(1).all()
    assert every.set_index("id").loc[items[2].id, "copies"] == 3
    members = queries.story_members(snap, [items[0].id, items[3].id])
    assert set(members["of"]) == {items[0].id}  # the other article is a story of its own
    assert members["id"].tolist() == [items[1].id, items[2].id]  # oldest first
    assert members["feed"].tolist() == ["https://b/rss", "https://c/rss"]
    assert members["feeds"].tolist() == [["https://b/rss"], ["https://c/rss"]]
    assert members["url"].iloc[0] == items[1].url
    # all articles, no entity: the same grouping through the stories table
    assert queries.count_stories(snap, Filters()) == 3
    assert len(queries.articles(snap, Filters(), one_per_story=True)) == 3


def test_article_cards_carry_each_entitys_tone(store_location):
    sad = article(
        20,
        "Grief",
        "Bukele mourned. Rights groups condemned the horrific abuse at CECOT.",
        T0,
        "f",
    )
    store, _ = wire_store(store_location, [sad])
    page = queries.articles(store.snapshot(), Filters(entities=("CECOT",)))
    row = page.set_index("id").loc[sad.id]
    assert row["entities"] == ["CECOT", "Nayib Bukele"]
    assert set(row["tones"]) == {"CECOT", "Nayib Bukele"}
    assert row["tones"]["CECOT"] < -0.5
    per_day = queries.tone_timeline(store.snapshot(), Filters(entities=("CECOT",)))
    assert (
        per_day["mentions"].sum()
        == queries.mention_counts(store.snapshot(), Filters(entities=("CECOT",)))["mentions"].sum()
    )


def test_sample_articles_of_rising_names(store_location):
    noem = [
        article(30 + k, f"Visit {k}", f"Kristi Noem met Bukele on day {k}.", at, "f")
        for k in range(5)
        for at in [T0 + timedelta(days=1, hours=k)]
    ]
    store, _ = wire_store(store_location, noem)
    snap = store.snapshot()
    f = Filters(start=T0 - timedelta(days=5), end=T0 + timedelta(days=2))
    names = queries.rising_names(snap, f)["name"].tolist()
    assert "Kristi Noem" in names
    sample = queries.name_articles(snap, f, ["Kristi Noem", "Nobody Here"], per_name=3)
    assert sample["name"].tolist() == ["Kristi Noem"] * 3
    assert sample["title"].tolist() == ["Visit 4", "Visit 3", "Visit 2"]  # newest first
    assert sample["feed_name"].tolist() == ["f"] * 3
    assert queries.name_articles(snap, f, []).empty


def test_a_store_written_before_stories_counts_each_article_as_a_story(tmp_path):
    store, items = wire_store(tmp_path)
    snap = store.snapshot()
    for info in snap.files["mentions"]:
        path = tmp_path / info.path
        pq.write_table(pq.read_table(path).drop_columns(["tone", "story"]), path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for name in ("stories", "names"):
        for info in manifest["tables"].pop(name):
            (tmp_path / info["path"]).unlink()
    manifest.pop("rollups", None)  # written before the roll-ups too: read from the rows
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    snap = open_store(tmp_path).snapshot()
    f = Filters(start=DAY.start, end=DAY.end, entities=("Nayib Bukele",))
    tl = queries.timeline(snap, f, "day", story_share=True)
    assert tl["stories"].tolist() == tl["articles"].tolist()
    assert tl["total_stories"].tolist() == tl["total"].tolist()
    assert queries.overview(snap, f)["stories"].tolist() == [5]
    page = queries.articles(snap, f, one_per_story=True)
    assert len(page) == 5 and page["copies"].eq(1).all()
    assert all(v is None for tones in page["tones"] for v in tones.values())
    assert queries.story_members(snap, [items[0].id]).empty
    assert queries.count_stories(snap, f) == 5


def random_story_store(location, seed=7, n=120, recount=True, step=1, carriers=0.0):
    """Articles over five days in four feeds, each with random mentions of three entities;
    about half are copies of an earlier article (up to three days older, so copies cross
    midnight and ranges; some of a copy), some stored with no story (as before stories): the
    shapes the story counting must get right. Stories are set directly, not found from the
    text; stored in several commits, then (`recount`) some articles counted again (as on their
    pages). Publication times fall on multiples of `step` minutes (a large step: many
    articles at one time, ties to break); a `carriers` share of the articles is carried by a
    second feed too."""
    rng = random.Random(seed)
    store = open_store(location)
    writer = store.writer()
    heads: list[Article] = []
    stored: list[tuple[Article, int | None]] = []
    watch = [*WATCH, Entity("Noem", "person")]
    for i in range(n):
        published = T0 + timedelta(minutes=rng.randrange(5 * 24 * 60 // step) * step)
        heads.sort(key=lambda a: a.published)
        a = article(i + 1, f"item {i}", f"text {i}", published, f"https://f{rng.randrange(4)}/rss")
        older = [h for h in heads if timedelta(0) < published - h.published < timedelta(days=3)]
        if older and rng.random() < 0.5:
            story: int | None = rng.choice(older).id
        else:
            story = None if rng.random() < 0.1 else a.id
        heads.append(a)  # a copy can head a story too (a chain, as two pollers could make)
        counts = {e.name: rng.randrange(1, 4) for e in watch if rng.random() < 0.6}
        if rng.random() < carriers:  # another feed carries it too
            writer.add_article(a, f"https://f{rng.randrange(4, 6)}/rss", a.first_seen)
        if writer.add_article(a, a.feed, a.first_seen):
            if story is not None:
                writer.add_story_and_names(a, story, [])
            writer.add_mentions(a, counts, None, story)
            stored.append((a, story))
        if i % 17 == 16:  # several commits: copies stored after their stories' first articles
            writer.commit(watchlist=(watch, "fp"))
    writer.commit(watchlist=(watch, "fp"))
    for a, story in rng.sample(stored, 15 if recount else 0):  # counted again: other entities
        counts = {e.name: rng.randrange(1, 4) for e in watch if rng.random() < 0.5}
        writer.recount_article(a.id, a.published, counts, None, story)
    writer.commit(watchlist=(watch, "fp"))
    return store


def raw_counts(snap, f: Filters, key) -> dict:
    """(entity, key(published)) -> (mentions, articles, stories), from the raw rows."""
    rows = snap.query(
        "SELECT m.entity, m.article_id, m.count, m.published, coalesce(m.story, m.article_id)"
        " AS story FROM {mentions} m"
    )
    sources = snap.query("SELECT article_id, feed FROM {sources}")
    keep = rows["published"].notna()
    if f.start:
        keep &= rows["published"] >= f.start.replace(tzinfo=None)
    if f.end:
        keep &= rows["published"] < f.end.replace(tzinfo=None)
    if f.entities:
        keep &= rows["entity"].isin(f.entities)
    if f.feeds:
        keep &= rows["article_id"].isin(sources[sources["feed"].isin(f.feeds)]["article_id"])
    rows = rows[keep]
    out = {}
    for (entity, k), g in rows.groupby([rows["entity"], rows["published"].map(key)]):
        out[entity, k] = (int(g["count"].sum()), len(g), g["story"].nunique())
    return out


def raw_totals(snap, f: Filters, key) -> dict:
    """key(published) -> (articles, distinct stories) of every article stored, from the raw
    rows (the range and feed filter of `f`)."""
    rows = snap.query(
        "SELECT a.id, a.published, coalesce(s.story, a.id) AS story FROM {articles} a "
        "LEFT JOIN {stories} s ON s.article_id = a.id"
    )
    sources = snap.query("SELECT article_id, feed FROM {sources}")
    keep = (rows["published"] >= f.start) & (rows["published"] < f.end)
    if f.feeds:
        keep &= rows["id"].isin(sources[sources["feed"].isin(f.feeds)]["article_id"])
    rows = rows[keep]
    return {k: (len(g), g["story"].nunique()) for k, g in rows.groupby(rows["published"].map(key))}


@pytest.mark.parametrize("seed", [7, 8])
def test_stories_counted_from_the_copies_equal_distinct_stories_of_the_rows(store_location, seed):
    """mention_counts, the timeline and the overview count a group's distinct stories from
    the copies' rows (and the daily sums where they answer): the same numbers as counting
    distinct stories over every row, for ranges on and off midnight, every granularity,
    entity and feed filters, and copies whose first article is outside the range, in
    another period, or does not mention the entity."""
    snap = random_story_store(store_location, seed, recount=seed % 2 == 0).snapshot()
    rng = random.Random(seed)
    day0 = T0.replace(hour=0, tzinfo=None)
    for _ in range(12):
        a, b = sorted(rng.sample(range(0, 6 * 24), 2))
        hours = rng.random() < 0.5  # off midnight: the daily sums cannot answer
        start = day0 + timedelta(hours=a if hours else a // 24 * 24)
        end = day0 + timedelta(hours=b if hours else (b // 24 + 1) * 24)
        entities = tuple(rng.sample(["Nayib Bukele", "CECOT", "Noem"], rng.randrange(0, 3)))
        feeds = (f"https://f{rng.randrange(4)}/rss",) if rng.random() < 0.3 else ()
        f = Filters(start=start, end=end, entities=entities, feeds=feeds)
        for by in ("none", "hour", "day", "week"):
            key = (lambda t: "all") if by == "none" else (lambda t, by=by: _trunc(t, by))
            want = raw_counts(snap, f, key)
            df = queries.mention_counts(snap, f, by=by)
            got = {
                (r.entity, "all" if by == "none" else r.period): (r.mentions, r.articles, r.stories)
                for r in df.itertuples()
            }
            assert got == want, (f, by)
            if by in ("hour", "day", "week") and entities:
                tl = queries.timeline(snap, f, by, story_share=True)
                got = {
                    (r.entity, r.period): (r.mentions, r.articles, r.stories)
                    for r in tl.itertuples()
                    if r.articles
                }
                assert got == want, (f, by)
                totals = raw_totals(snap, f, key)
                got = {r.period: (r.total, r.total_stories) for r in tl.itertuples() if r.total}
                assert got == totals, (f, by)
        ov = queries.overview(snap, f).set_index("entity")
        cur = raw_counts(snap, f, lambda t: "all")
        prev = raw_counts(snap, replace(f, start=start - (end - start), end=start), lambda t: "all")
        for entity in ov.index:
            assert tuple(ov.loc[entity, ["mentions", "articles", "stories"]]) == cur.get(
                (entity, "all"), (0, 0, 0)
            ), (f, entity)
            assert tuple(
                ov.loc[entity, ["prev_mentions", "prev_articles", "prev_stories"]]
            ) == prev.get((entity, "all"), (0, 0, 0)), (f, entity)


def _trunc(t, by):
    t = pd.Timestamp(t)
    if by == "hour":
        return t.floor("h")
    day = t.floor("D")
    return day - pd.Timedelta(days=day.weekday()) if by == "week" else day


def test_check_compares_the_stories_sums_with_the_rows_and_repair_recomputes_them(pg_url):
    import psycopg

    store = random_story_store(pg_url, seed=9)
    assert not [p for p in store.check().problems if p.kind == "rollup"]
    for damage in (
        "DELETE FROM story_spans WHERE ctid IN (SELECT ctid FROM story_spans LIMIT 1)",
        "UPDATE mention_days SET stories = stories + 1 WHERE ctid IN "
        "(SELECT ctid FROM mention_days LIMIT 1)",
    ):
        with psycopg.connect(pg_url, autocommit=True) as con:
            assert con.execute(damage).rowcount == 1
        problems = [p for p in store.check().problems if p.kind == "rollup"]
        assert problems and problems[0].path in ("mention_days", "story_spans"), damage
        assert any("recomputed the daily roll-ups" in a for a in store.repair().actions)
        assert not [p for p in store.check().problems if p.kind == "rollup"]


def raw_hits(snap, f: Filters) -> pd.DataFrame:
    """`id, published, mentions, story` of the articles behind a count (entities chosen), from
    the raw rows: every mention row in the range, of the chosen entities, summed per article."""
    rows = snap.query(
        "SELECT m.article_id AS id, m.entity, m.count, m.published, "
        "coalesce(m.story, m.article_id) AS story FROM {mentions} m"
    )
    keep = (rows["published"] >= f.start) & (rows["published"] < f.end)
    rows = rows[keep & rows["entity"].isin(f.entities)]
    return rows.groupby("id", as_index=False).agg(
        published=("published", "max"), mentions=("count", "sum"), story=("story", "max")
    )


@pytest.mark.parametrize("seed", [3, 4])
def test_a_page_of_stories_and_the_counts_equal_a_computation_over_the_rows(store_location, seed):
    """One card per story (its first matching article: the earliest, then the lowest id), the
    stories ordered by that article's time then id, paged both ways; and the articles and
    stories behind the count: the same as sorting and grouping the raw rows in pandas, with
    many articles at the same time (ties), copies across the range's edges, several
    entities."""
    snap = random_story_store(store_location, seed, n=150, step=360).snapshot()
    rng = random.Random(seed)
    day0 = T0.replace(hour=0, tzinfo=None)
    for _ in range(4):
        a, b = sorted(rng.sample(range(0, 6 * 24), 2))
        f = Filters(
            start=day0 + timedelta(hours=a),
            end=day0 + timedelta(hours=b),
            entities=tuple(rng.sample(["Nayib Bukele", "CECOT", "Noem"], rng.randrange(1, 4))),
        )
        hits = raw_hits(snap, f)
        assert queries.count_hits(snap, f) == (len(hits), hits["story"].nunique()), f
        assert queries.count_articles(snap, f) == len(hits), f
        assert queries.count_stories(snap, f) == hits["story"].nunique(), f
        first = hits.sort_values(["published", "id"]).groupby("story", as_index=False)
        cards = first.head(1).merge(first.size().rename(columns={"size": "matching"}))
        for newest_first in (True, False):
            want = cards.sort_values(
                ["published", "id"], ascending=[not newest_first, True], ignore_index=True
            )
            for limit, offset in ((5, 0), (7, 3), (3, max(len(want) - 2, 0))):
                page = queries.articles(
                    snap, f, limit=limit, offset=offset, newest_first=newest_first,
                    one_per_story=True,
                )  # fmt: skip
                part = want.iloc[offset : offset + limit]
                assert page["id"].tolist() == part["id"].tolist(), (f, newest_first, offset)
                assert page["matching"].tolist() == part["matching"].tolist()
                assert page["mentions"].tolist() == part["mentions"].tolist()


@pytest.mark.parametrize("seed", [5, 6])
def test_top_feeds_equal_a_computation_over_the_rows(store_location, seed):
    """Sources' table (entity, feed, articles, mentions; an article carried by two feeds
    counts for both) in its order: the same as joining the raw mention rows with every
    carrier in pandas, for ranges, entities and a feed filter."""
    snap = random_story_store(store_location, seed, n=150, carriers=0.3).snapshot()
    rows = snap.query("SELECT article_id, entity, count, published FROM {mentions}")
    carried = snap.query("SELECT article_id, feed FROM {sources}")
    assert carried["article_id"].duplicated().any()  # (some articles have two carriers)
    rng = random.Random(seed)
    day0 = T0.replace(hour=0, tzinfo=None)
    for _ in range(6):
        a, b = sorted(rng.sample(range(0, 6 * 24), 2))
        f = Filters(
            start=day0 + timedelta(hours=a),
            end=day0 + timedelta(hours=b),
            entities=tuple(rng.sample(["Nayib Bukele", "CECOT", "Noem"], rng.randrange(0, 3))),
            feeds=(f"https://f{rng.randrange(6)}/rss",) if rng.random() < 0.3 else (),
        )
        keep = (rows["published"] >= f.start) & (rows["published"] < f.end)
        if f.entities:
            keep &= rows["entity"].isin(f.entities)
        joined = rows[keep].merge(carried, on="article_id")
        if f.feeds:
            ids = carried[carried["feed"].isin(f.feeds)]["article_id"]
            joined = joined[joined["article_id"].isin(ids) & joined["feed"].isin(f.feeds)]
        want = (
            joined.groupby(["entity", "feed"], as_index=False)
            .agg(articles=("article_id", "size"), mentions=("count", "sum"))
            .sort_values(["articles", "entity", "feed"], ascending=[False, True, True])
        )
        got = queries.top_feeds(snap, f)
        assert got[["entity", "feed", "articles", "mentions"]].values.tolist() == (
            want.values.tolist()
        ), f


@pytest.mark.parametrize("seed", [5, 6])
def test_feed_totals_are_top_feeds_summed(store_location, seed):
    """What the Sources page draws first: per feed, each of a few entities' rows of
    `top_feeds` and the others' rows summed into one (entity ""), for ranges, entity and feed
    filters and entity lists (empty, absent entities)."""
    snap = random_story_store(store_location, seed, n=150, carriers=0.3).snapshot()
    rng = random.Random(seed)
    day0 = T0.replace(hour=0, tzinfo=None)
    names = ["Nayib Bukele", "CECOT", "Noem", "Nobody Watched"]
    for _ in range(6):
        a, b = sorted(rng.sample(range(0, 6 * 24), 2))
        f = Filters(
            start=day0 + timedelta(hours=a),
            end=day0 + timedelta(hours=b),
            entities=tuple(rng.sample(names[:3], rng.randrange(0, 3))),
            feeds=(f"https://f{rng.randrange(6)}/rss",) if rng.random() < 0.3 else (),
        )
        drawn = rng.sample(names, rng.randrange(0, 4))
        rows = queries.top_feeds(snap, f)
        want = (
            rows.assign(entity=rows["entity"].where(rows["entity"].isin(drawn), ""))
            .groupby(["feed", "name", "entity"], as_index=False)[["articles", "mentions"]]
            .sum()
            .sort_values(["feed", "entity"])
        )
        got = queries.feed_totals(snap, f, drawn)
        assert list(got.columns) == ["feed", "name", "entity", "articles", "mentions"]
        assert got.values.tolist() == want.values.tolist(), (f, drawn)
