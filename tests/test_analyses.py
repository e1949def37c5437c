"""Stories, tone and rising names end to end: computed at ingest and by rematch, stored,
counted by the queries; stores written before them still read."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from monitor import queries
from monitor.enrich import Enricher, prepare
from monitor.match import Matcher
from monitor.models import Article, Entity
from monitor.names import extract_names
from monitor.poll import Poller
from monitor.queries import Filters
from monitor.store import Store, article_key, open_store
from monitor.tone import ToneScorer, sentence_spans

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
WATCH = [
    Entity("Nayib Bukele", "person", aliases=("Bukele",)),
    Entity("CECOT", "topic", aliases=("Terrorism Confinement Center",)),
]
WIRE = (
    "El Salvador's Congress on Wednesday approved a constitutional reform that allows "
    "indefinite presidential re-election, a change long sought by President Nayib Bukele. "
    "The reform passed 57-3. Opponents said the change dismantles the last checks on the "
    "president's power, and Kristi Noem praised the vote. Lawmakers also voted to expand "
    "CECOT, the Terrorism Confinement Center."
)


def article(n: int, title: str, text: str, published: datetime, feed: str) -> Article:
    url = f"https://site{n}.example/{n}"
    return Article(article_key("url", url), url, title, text, published, published, "", feed)


def ingest(store: Store, items: list[Article], watch=WATCH, tone=True) -> None:
    """What Poller._ingest does for each new article, on a Writer."""
    writer = store.writer()
    enricher = Enricher(Matcher(watch), tone=tone)
    for a in items:
        if writer.add_article(a, a.feed, a.first_seen):
            e = enricher.article(a.id, a.published, a.title, a.text, a.feed)
            writer.add_story_and_names(a, e.story, e.names)
            writer.add_mentions(a, e.counts, e.tones, e.story)
    writer.commit(watchlist=(watch, "fp"))


def syndicated(n0: int = 0) -> list[Article]:
    """One wire story carried by three outlets, and one other article on the same event."""
    return [
        article(n0 + 1, "El Salvador approves indefinite re-election", WIRE, T0, "https://a/rss"),
        article(
            n0 + 2,
            "Bukele allies clear way for indefinite rule",
            "SAN SALVADOR (AP) — " + WIRE + " Copyright 2026 The Associated Press.",
            T0 + timedelta(hours=2),
            "https://b/rss",
        ),
        article(
            n0 + 3,
            "El Salvador approves indefinite re-election",
            WIRE.split(". ")[0] + "…",
            T0 + timedelta(hours=3),
            "https://c/rss",
        ),
        article(
            n0 + 4,
            "Term limits scrapped in El Salvador",
            "Salvadoran lawmakers loyal to Nayib Bukele voted to scrap presidential term limits, "
            "a move critics called the end of checks and balances in the country. Rights groups "
            "warned of one-man rule, while supporters credited Bukele with ending gang violence.",
            T0 + timedelta(hours=1),
            "https://d/rss",
        ),
    ]


def test_a_story_syndicated_by_three_outlets_counts_once(tmp_path):
    store = open_store(tmp_path)
    items = syndicated()
    ingest(store, items)
    snap = store.snapshot()
    counts = queries.mention_counts(snap, Filters()).set_index("entity")
    assert counts.loc["Nayib Bukele", "articles"] == 4
    assert counts.loc["Nayib Bukele", "stories"] == 2  # the wire story once, the other once
    stories = snap.query("SELECT article_id, story FROM {stories}")
    by_id = dict(zip(stories["article_id"], stories["story"], strict=True))
    assert by_id[items[1].id] == by_id[items[2].id] == items[0].id
    assert by_id[items[3].id] == items[3].id


def test_tone_is_stored_per_article_and_entity(tmp_path):
    store = open_store(tmp_path)
    items = [
        article(1, "Bukele wins praise", "Bukele was praised for a great, safe recovery.", T0, "f"),
        article(
            2,
            "Crisis deepens",
            "Rights groups condemned the brutal abuse at CECOT. Bukele said nothing.",
            T0,
            "f",
        ),
    ]
    ingest(store, items)
    snap = store.snapshot()
    df = queries.mention_counts(snap, Filters(), with_tone=True).set_index("entity")
    assert df.loc["CECOT", "tone"] < -0.5 and df.loc["CECOT", "toned"] == 1
    # Bukele: positive title + sentence (article 1), "Bukele said nothing." (neutral, article 2)
    assert 0 < df.loc["Nayib Bukele", "tone"] < 1 and df.loc["Nayib Bukele", "toned"] == 2
    per_day = queries.tone_timeline(snap, Filters(entities=("CECOT",)))
    assert per_day["toned"].tolist() == [1] and per_day["tone"].iloc[0] < 0


def test_tone_off_leaves_it_empty(tmp_path):
    store = open_store(tmp_path)
    ingest(store, syndicated(), tone=False)
    df = queries.mention_counts(store.snapshot(), Filters(), with_tone=True)
    assert df["toned"].eq(0).all() and df["tone"].isna().all()


def test_rising_names_rank_new_names_and_skip_the_watchlist(tmp_path):
    store = open_store(tmp_path)
    items = []
    n = 0
    for day, names in ((-8, ["Kristi Noem"]), (-2, ["Kristi Noem", "Marco Rubio"])):
        for name in names:
            for k in range(2):
                n += 1
                text = f"{name} met Nayib Bukele at the Terrorism Confinement Center on day {k}."
                items.append(article(n, f"Story {n}", text, T0 + timedelta(days=day), "f"))
    ingest(store, items)
    snap = store.snapshot()
    end = T0 + timedelta(days=1)
    df = queries.rising_names(snap, Filters(start=end - timedelta(days=7), end=end), limit=10)
    rows = df.to_dict("records")
    names = [r["name"] for r in rows]
    # both named in 2 articles this week; Rubio is new (previous 0), so first on the tie
    assert names[:2] == ["Marco Rubio", "Kristi Noem"]
    assert rows[0]["previous"] == 0 and rows[0]["growth"] != rows[0]["growth"]  # NaN: new
    assert rows[1]["previous"] == 2 and rows[1]["growth"] == 0.0
    assert rows[0]["with"] == ["CECOT", "Nayib Bukele"]
    assert not {"Nayib Bukele", "Terrorism Confinement Center"} & set(names)  # watched


def test_rematch_recomputes_stories_names_and_tone(tmp_path):
    store = open_store(tmp_path / "data")
    items = syndicated()
    ingest(store, items, tone=False)
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "store: data\nfeeds: []\nwatch:\n"
        "  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
        "  - name: CECOT\n    kind: topic\n    aliases: [Terrorism Confinement Center]\n"
    )
    from monitor.config import load_config

    poller = Poller(load_config(cfg))
    poller.open()  # a fingerprint from elsewhere: the store is reanalysed in time order
    snap = poller.store.snapshot()
    assert snap.fingerprint == poller.fingerprint
    df = queries.mention_counts(snap, Filters(), with_tone=True).set_index("entity")
    assert df.loc["Nayib Bukele", "stories"] == 2 and df.loc["Nayib Bukele", "toned"] == 4
    stories = snap.query("SELECT story, COUNT(*) AS n FROM {stories} GROUP BY story")
    assert sorted(stories["n"]) == [1, 3]
    assert snap.rows("names") > 0
    # the poller's story index now holds the recent articles: a fourth copy joins the story
    e = poller.enricher.article(99, T0 + timedelta(hours=5), "Copy", WIRE, "https://e/rss")
    assert e.story == items[0].id


def test_a_store_written_before_stories_still_reads(tmp_path):
    """Old mention files lack tone/story and there are no stories/names tables."""
    store = open_store(tmp_path)
    ingest(store, syndicated())
    snap = store.snapshot()
    for info in snap.files["mentions"]:
        path = tmp_path / info.path
        t = pq.read_table(path)
        pq.write_table(t.drop_columns(["tone", "story"]), path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for name in ("stories", "names"):
        for info in manifest["tables"].pop(name):
            (tmp_path / info["path"]).unlink()
    manifest.pop("rollups", None)  # written before the roll-ups too
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    snap = open_store(tmp_path).snapshot()
    df = queries.mention_counts(snap, Filters(), with_tone=True).set_index("entity")
    assert df.loc["Nayib Bukele", "stories"] == 4  # no stories known: each its own
    assert df["tone"].isna().all()
    assert queries.rising_names(snap, Filters()).empty
    # new rows (with the new columns) beside the old files, and a commit on the old manifest
    ingest(open_store(tmp_path), [article(9, "New", "Bukele spoke. " * 3, T0, "https://x/rss")])
    snap = open_store(tmp_path).snapshot()
    df = queries.mention_counts(snap, Filters(), with_tone=True).set_index("entity")
    assert df.loc["Nayib Bukele", "articles"] == 5 and df.loc["Nayib Bukele", "toned"] == 1


def test_counts_equal_the_matchers_find():
    """Tone relies on Matcher.find(title) + find(text) seeing what count(title, text) counts."""
    m = Matcher(WATCH)
    texts = [
        ("Bukele’s CECOT", "Nayib  Bukele visited the Terrorism\nConfinement Center; bukele-led."),
        ("", "ex-Bukele CECOT. cecot #Bukele"),
        ("CECOT CECOT", ""),
    ]
    for title, text in texts:
        found = Counter(x.entity for x in m.find(title)) + Counter(x.entity for x in m.find(text))
        assert dict(found) == m.count(title, text)


def test_counts_are_the_same_with_tone_on_and_off():
    """With tone on, the enricher counts the mentions found for tone instead of calling
    Matcher.count: the same counts (exclude phrases, case rules, white space to collapse,
    names at the end of the title and the start of the text)."""
    watch = [
        *WATCH,
        Entity("ICE", "organization", aliases=("Immigration and Customs Enforcement",)),
        Entity("Salvador", "place", exclude=("San Salvador",)),
        Entity("Noem", "person", case_sensitive=True),
    ]
    rows = [
        ("Bukele’s CECOT", "Nayib  Bukele visited the Terrorism\nConfinement Center; bukele-led."),
        ("", "ex-Bukele CECOT. cecot #Bukele ice ICE Noem noem"),
        ("CECOT CECOT", ""),
        (
            "In San Salvador, Bukele",
            "Salvador and San Salvador. Immigration and Customs\tEnforcement",
        ),
        ("Nothing here", "Nothing to count at all."),
        ("Bukele", "Bukele"),
    ]
    with_tone, without = Enricher(Matcher(watch), tone=True), Enricher(Matcher(watch), tone=False)
    for title, text in rows:
        expected = Matcher(watch).count(title, text)
        assert with_tone.counts_and_tones(title, text)[0] == expected
        assert without.counts_and_tones(title, text) == (expected, {})
    assert any(Matcher(watch).count(t, x) for t, x in rows)


def test_counts_prepared_elsewhere_are_used_only_when_made_with_the_same_analysis():
    """`prepare` with an enricher (what the parse worker does) counts and scores as
    `articles()` would; `articles()` takes those counts only from an enricher with the same
    watchlist and tone setting, and counts again otherwise."""
    rows = [(a.id, a.published, a.title, a.text, a.feed) for a in syndicated()] + [
        (99, T0, "CECOT", "Nothing about him.", "https://e/rss")
    ]
    items = [(title, text) for _, _, title, text, _ in rows]
    other = [*WATCH, Entity("Kristi Noem", "person")]
    here = Enricher(Matcher(WATCH), tone=True).articles(rows)
    assert any(e.tones for e in here)
    for counter in (
        Enricher(Matcher(WATCH), tone=True),  # the same analysis: its counts are taken
        Enricher(Matcher(other), tone=True),  # another watchlist: counted again
        Enricher(Matcher(WATCH), tone=False),  # tone off there, on here: counted again
    ):
        prepared = prepare(items, counter)
        assert all(p.analysis == counter.analysis and p.counts is not None for p in prepared)
        assert [(p.counts, p.tones) for p in prepared] == [
            counter.counts_and_tones(t, x) for t, x in items
        ]
        got = Enricher(Matcher(WATCH), tone=True).articles(rows, prepared)
        assert got == here
    assert Enricher(Matcher(other)).analysis != Enricher(Matcher(WATCH)).analysis
    assert Enricher(Matcher(WATCH), tone=False).analysis != Enricher(Matcher(WATCH)).analysis
    # counts made with another watchlist differ, and were not taken
    noem = prepare(items, Enricher(Matcher(other), tone=True))
    assert any("Kristi Noem" in (p.counts or {}) for p in noem)
    assert not any("Kristi Noem" in e.counts for e in here)


def test_sentences():
    text = "Mr. Bukele met U.S. officials. “It works,” he said! Gen. Smith agreed… 5 died."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Mr. Bukele met U.S. officials.",
        "“It works,” he said!",
        "Gen. Smith agreed…",
        "5 died.",
    ]


def test_tone_scores_only_the_sentences_with_the_mention():
    m = Matcher(WATCH)
    scorer = ToneScorer()
    text = "Bukele opened a school. Rights groups condemned the horrific abuse at CECOT."
    tones = scorer.entity_tones("", text, m.find(""), m.find(text))
    assert tones["Nayib Bukele"] == scorer.sentence("Bukele opened a school.")
    assert tones["CECOT"] < -0.5


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        (
            "Bukele defends CECOT",
            "SAN SALVADOR (AP) — President Nayib Bukele's government said on Monday that the "
            "Terrorism Confinement Center would stay closed. The Department of Homeland "
            "Security and ICE declined to comment. The New rules start in March. After that, "
            "José Raúl Mulino met Kristi Noem. The Bukele-led coalition won. U.S. officials "
            "named MS-13.",
            [
                "CECOT",
                "Nayib Bukele",
                "Terrorism Confinement Center",
                "Department of Homeland Security",
                "ICE",
                "José Raúl Mulino",
                "Kristi Noem",
                "MS-13",
            ],
        ),
        # a Title Case headline says nothing through its capitals; its acronyms still count
        ("Judge Blocks Deportations Under Alien Enemies Act, ACLU Says", "", ["ACLU"]),
        ("BREAKING: ICE RAIDS IN CHICAGO", "", []),  # shouting: no acronyms
        ("On Monday Tuesday", "The And. Monday March. Today In History.", []),
    ],
)
def test_names(title, text, expected):
    assert sorted(form for _, form in extract_names(title, text)) == sorted(expected)


def test_name_keys_are_folded_like_the_matcher():
    ((key, form),) = extract_names("", "It was José Raúl Mulino’s day.")
    assert key == "jose raul mulino" and form == "José Raúl Mulino"


def test_reanalysis_reads_in_time_order_across_files_and_slices(tmp_path):
    """Articles stored newest first, over several commits, then reanalysed in slices of 2."""
    from monitor.store import replace_analyses

    store = open_store(tmp_path)
    items = syndicated()
    for a in reversed(items):  # one file per commit, in reverse time order
        ingest(store, [a])
    enricher = Enricher(Matcher(WATCH), tone=False)
    rows = replace_analyses(store, enricher.batch, WATCH, "fp2", chunk=2)
    snap = store.snapshot()
    stories = snap.query("SELECT article_id, story FROM {stories}")
    assert len(stories) == 4 and rows == snap.rows("mentions")
    by_id = dict(zip(stories["article_id"], stories["story"], strict=True))
    first = items[0]  # the earliest copy names the story, whatever the storing order
    assert by_id[items[1].id] == by_id[items[2].id] == first.id
    assert snap.fingerprint == "fp2" and len(snap.files["stories"]) >= 2


def test_a_watchlist_change_recounts_mentions_and_keeps_stories_and_names(tmp_path):
    from monitor.config import load_config

    store = open_store(tmp_path / "data")
    items = syndicated()
    ingest(store, items)
    cfg = tmp_path / "feeds.yaml"
    watch = (
        "store: data\nfeeds: []\nwatch:\n"
        "  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
        "  - name: CECOT\n    kind: topic\n    aliases: [Terrorism Confinement Center]\n"
    )
    cfg.write_text(watch)
    Poller(load_config(cfg)).open()  # another fingerprint: the full reanalysis
    before = store.snapshot()
    cfg.write_text(watch + "  - name: Kristi Noem\n    kind: person\n")
    poller = Poller(load_config(cfg))
    poller.open()  # only the watchlist changed: mentions recounted, the rest kept
    after = store.snapshot()
    assert after.files["stories"] == before.files["stories"]
    assert after.files["names"] == before.files["names"]
    assert after.files["mentions"] != before.files["mentions"]
    df = queries.mention_counts(after, Filters(), with_tone=True).set_index("entity")
    assert df.loc["Kristi Noem", "articles"] == 2 and df.loc["Kristi Noem", "stories"] == 1
    assert df.loc["Kristi Noem", "toned"] == 2
    assert df.loc["Nayib Bukele", "stories"] == 2
    assert len(poller.enricher.stories) == 0  # filled when a new article first needs it
    poller._seed_stories()
    assert len(poller.enricher.stories) == 4  # from the store
