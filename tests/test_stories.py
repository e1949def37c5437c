"""Stories: syndicated copies grouped, different articles about the same event kept apart."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.stories import StoryAssigner, body_words, signature, title_key

DATA = Path(__file__).parent / "data" / "stories"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

WIRE = (
    "El Salvador's Congress on Wednesday approved a constitutional reform that allows "
    "indefinite presidential re-election and extends the presidential term to six years. The "
    "reform, proposed by lawmakers from President Nayib Bukele's party, passed 57-3. Opponents "
    "said the change dismantles the last checks on the president's power. Bukele, who won "
    "re-election last year despite a constitutional ban, has enjoyed wide popularity for his "
    "crackdown on gangs."
)
OTHER = (
    "Salvadoran lawmakers loyal to President Nayib Bukele voted on Wednesday to scrap "
    "presidential term limits, a move critics called the end of checks and balances. The "
    "measure lengthens terms to six years and passed with 57 votes. Rights groups warned the "
    "country was sliding toward one-man rule, while supporters credited Bukele with ending gang "
    "violence."
)


def load_pairs() -> list[dict]:
    pairs = [json.loads(line) for line in (DATA / "pairs.jsonl").read_text().splitlines()]
    return pairs + json.loads((DATA / "hand_pairs.json").read_text())


def when(side: dict) -> datetime:
    return datetime.fromisoformat(side["published"].replace("Z", "+00:00"))


def test_labelled_pairs_precision_and_recall():
    pairs = load_pairs()
    kinds = {p["kind"].split(":")[0] for p in pairs}
    assert len(pairs) >= 300 and {"copy", "same-event", "hand"} <= kinds
    tp = fp = fn = 0
    for p in pairs:
        assigner = StoryAssigner()
        a, b = p["a"], p["b"]
        sa = assigner.assign(1, when(a), a["title"], a["text"], a["feed"])
        sb = assigner.assign(2, when(b), b["title"], b["text"], b["feed"])
        same = sa == sb
        tp += same and p["label"] == 1
        fp += same and p["label"] == 0
        fn += (not same) and p["label"] == 1
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.97, precision
    assert recall >= 0.90, recall


def test_same_event_by_other_outlets_stays_apart():
    pairs = [p for p in load_pairs() if p["label"] == 0 and "same-event" in p["kind"]]
    assert len(pairs) >= 50
    merged = 0
    for p in pairs:
        assigner = StoryAssigner()
        a, b = p["a"], p["b"]
        merged += assigner.assign(1, when(a), a["title"], a["text"], a["feed"]) == 2 or (
            assigner.assign(2, when(b), b["title"], b["text"], b["feed"]) == 1
        )
    assert merged == 0


def test_labelled_pairs_are_what_the_script_makes():
    spec = importlib.util.spec_from_file_location("make_pairs", DATA / "make_pairs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_pairs"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["make_pairs"]
    made = [json.dumps(p, ensure_ascii=False) for p in module.generate()]
    assert made == (DATA / "pairs.jsonl").read_text().splitlines()


def test_story_id_is_the_first_articles_id_across_feeds():
    s = StoryAssigner()
    first = s.assign(101, T0, "El Salvador approves indefinite re-election", WIRE, "https://a/rss")
    copies = [
        s.assign(
            102,
            T0 + timedelta(hours=2),
            "Bukele allies clear way for indefinite rule | Reuters",
            "SAN SALVADOR, El Salvador (AP) — " + WIRE + " Copyright 2026 The Associated Press. "
            "All rights reserved.",
            "https://b/rss",
        ),
        s.assign(
            103,
            T0 + timedelta(hours=5),
            "El Salvador approves indefinite re-election",
            WIRE.split(". ")[0] + "…",  # the feed's summary: its first sentence
            "https://c/rss",
        ),
    ]
    other = s.assign(104, T0 + timedelta(hours=1), "Term limits scrapped", OTHER, "https://d/rss")
    assert first == 101 and copies == [101, 101]
    assert other == 104


def test_copies_further_apart_than_the_window_are_new_stories():
    s = StoryAssigner(window=timedelta(days=3))
    assert s.assign(1, T0, "A", WIRE) == 1
    assert s.assign(2, T0 + timedelta(days=2), "B", WIRE) == 1
    assert s.assign(3, T0 + timedelta(days=9), "C", WIRE) == 3
    assert 1 not in s and 2 not in s  # evicted: older than the window before the newest


def test_index_is_bounded():
    s = StoryAssigner(max_articles=50)
    for i in range(200):
        s.assign(i, T0 + timedelta(minutes=i), f"story {i}", f"{WIRE} number {i} " * 2)
    assert len(s) == 50


def test_short_texts_group_by_long_headline_only():
    s = StoryAssigner()
    title = "Supreme Court lets Trump resume deportations under wartime law"
    assert s.assign(1, T0, title, "") == 1
    assert s.assign(2, T0 + timedelta(hours=1), title + " - The Hill", "Read more…") == 1
    assert s.assign(3, T0, "Today in History", "") == 3
    assert s.assign(4, T0 + timedelta(hours=2), "Today in History", "") == 4


def test_a_feed_repeating_one_description_is_not_one_story():
    s = StoryAssigner()
    blurb = (
        "Listen to the latest episode of our weekly podcast on politics and power in Latin America."
    )
    feed = "https://podcast/rss"
    assert s.assign(1, T0, "Episode 212: Inside the mega-prison", blurb, feed) == 1
    assert s.assign(2, T0 + timedelta(days=1), "Episode 213: Deportations", blurb, feed) == 2


def test_rebuilt_index_keeps_known_stories():
    s = StoryAssigner()
    s.add(7, T0, "El Salvador approves indefinite re-election", WIRE, story=5)
    assert s.assign(8, T0 + timedelta(hours=3), "Another headline entirely here", WIRE) == 5
    assert s.assign(7, T0, "anything", "anything") == 5  # known: its story


@pytest.mark.parametrize(
    "text",
    [
        "WASHINGTON (AP) — " + WIRE,
        "(AP) -- " + WIRE,
        "SAN SALVADOR, March 3 (Reuters) - " + WIRE,
        "By Jane Ortiz, Associated Press " + WIRE,
        "SAN SALVADOR — " + WIRE,
        WIRE + " Reporting by Ana Ruiz; Editing by Tom Hogue",
        WIRE + " The post Reform passes appeared first on Latin Times.",
        WIRE + " Sign up for our free newsletter.",
    ],
)
def test_cleaning_drops_datelines_and_boilerplate(text):
    assert body_words(text) == body_words(WIRE)


def test_cleaning_keeps_a_leading_sentence_with_a_dash():
    text = "Critics — including two former judges — said the vote was rushed."
    assert body_words(text)[:2] == ["critics", "including"]


def test_truncated_summary_drops_the_cut_word():
    assert body_words("The reform passed with fifty-seven vot…") == [
        "the", "reform", "passed", "with", "fifty", "seven",
    ]  # fmt: skip


def test_title_key():
    assert title_key("Judge blocks deportations under wartime law | Reuters") == (
        "judge blocks deportations under wartime law"
    )
    assert title_key("Letters to the editor") is None
    assert signature("x", "").short


def test_band_keys_are_datasketchs_minhash():
    """The LSH band keys are datasketch's MinHash values (computed for a batch at once)."""
    from datasketch import MinHash

    from monitor.stories import BANDS, LSH_WORDS, ROWS, SHINGLE, shingle_hashes, signatures

    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(300)]
    texts = [WIRE, OTHER] + [
        " ".join(rng.choice(vocabulary, size=n)) for n in (12, 13, 30, 59, 60, 61, 200)
    ]
    sigs = signatures([("a headline", text) for text in texts])
    for text, sig in zip(texts, sigs, strict=True):
        lsh = shingle_hashes(body_words(text))[: LSH_WORDS - SHINGLE + 1]
        m = MinHash(num_perm=BANDS * ROWS, seed=1, hashfunc=lambda x: x, scheme="affine32")
        m.update_batch(lsh.tolist())
        assert sig.bands is not None
        assert sig.bands.tolist() == m.hashvalues.astype(np.uint32).view(np.uint64).tolist()


def test_a_batch_assigns_what_one_at_a_time_does():
    rows = [
        (i, T0 + timedelta(hours=i), title, text, f"https://f{i}/rss")
        for i, (title, text) in enumerate(
            [
                ("El Salvador approves indefinite re-election", WIRE),
                ("Term limits scrapped", OTHER),
                ("Bukele allies clear the way", "(AP) — " + WIRE),
                ("El Salvador approves indefinite re-election", WIRE.split(". ")[0] + "…"),
                ("Term limits scrapped", OTHER + " Sign up for our newsletter."),
                ("Supreme Court lets Trump resume deportations under law", ""),
                ("Supreme Court lets Trump resume deportations under law", "Read more…"),
            ]
        )
    ]
    one = StoryAssigner()
    singly = [one.assign(*row) for row in rows]
    assert singly == [0, 1, 0, 0, 1, 5, 5]
    assert StoryAssigner().assign_many(rows) == singly
    assert StoryAssigner().assign_many(rows + rows[:2]) == singly + singly[:2]  # known ids


def test_evicted_slots_are_reused_without_mixing_articles():
    rng = np.random.default_rng(3)
    vocabulary = [f"word{i}" for i in range(5000)]
    s = StoryAssigner(window=timedelta(hours=10))
    for i in range(60):  # each hour a new story and a copy of it: the index keeps ~10 hours
        when = T0 + timedelta(hours=i)
        text = " ".join(rng.choice(vocabulary, size=80))
        assert s.assign(2 * i, when, f"Story {i} in the news today", text, "a") == 2 * i
        copy = s.assign(2 * i + 1, when, "Another headline", "(AP) — " + text, "b")
        assert copy == 2 * i
    assert len(s) <= 24 and s._capacity == 256  # slots freed by eviction are reused


@pytest.mark.parametrize("bits", [64, 2048])
def test_the_bit_filter_never_hides_a_copy(monkeypatch, bits):
    """The filter that rules out candidates only bounds the shared shingles from above: every
    candidate at or above the threshold gets its exact score, even when the filter is so small
    that most hashes collide (64 bits)."""
    import monitor.stories as stories

    monkeypatch.setattr(stories, "BLOOM_BITS", bits)
    rng = np.random.default_rng(11)
    vocabulary = [f"word{i}" for i in range(3000)]
    base = list(rng.choice(vocabulary, size=110))
    texts = []
    for changed in range(0, 60, 2):  # copies from identical to well below the threshold
        words = list(base)
        for at in rng.choice(len(words), size=changed, replace=False):
            words[at] = str(rng.choice(vocabulary))
        texts.append(" ".join(words))
    sigs = stories.signatures([(f"headline {i}", text) for i, text in enumerate(texts)])
    s = stories.StoryAssigner()
    s.add_many([(i, T0, f"headline {i}", text, i, f"feed{i}") for i, text in enumerate(texts)])
    slots = np.array([s._ids[i] for i in range(len(texts))])
    for sig in sigs:
        exact = [stories.copy_score(sig, other) for other in sigs]
        expected = [score if score >= stories.THRESHOLD else 0.0 for score in exact]
        assert s._scores(sig, slots).tolist() == pytest.approx(expected)
        assert 0 < sum(x > 0 for x in expected) < len(texts)  # copies and non-copies


def test_a_held_index_finds_copies_of_a_feed_polled_before_another():
    """A poll round brings feed after feed, each newest first, some with weeks of history: the
    copies that a second feed carries of the first feed's older articles are found while the
    poller holds the index, and only what lies beyond the window is evicted on release."""
    s = StoryAssigner(window=timedelta(days=3))
    s.hold()
    assert s.assign(1, T0 + timedelta(days=20), "Newest of feed A", OTHER, "https://a/rss") == 1
    assert s.assign(2, T0, "Old story of feed A", WIRE, "https://a/rss") == 2
    assert s.assign(3, T0 + timedelta(hours=3), "Feed B's copy", WIRE, "https://b/rss") == 2
    assert 2 in s and 3 in s
    s.release()
    assert 1 in s and 2 not in s and 3 not in s
    # without the hold, the old article is evicted as soon as it is added
    s = StoryAssigner(window=timedelta(days=3))
    s.assign(1, T0 + timedelta(days=20), "Newest of feed A", OTHER, "https://a/rss")
    s.assign(2, T0, "Old story of feed A", WIRE, "https://a/rss")
    assert s.assign(3, T0 + timedelta(hours=3), "Feed B's copy", WIRE, "https://b/rss") == 3


def test_permutations_are_datasketchs():
    """The MinHash permutations are drawn as datasketch draws them (without importing it)."""
    from datasketch import MinHash

    from monitor.stories import BANDS, ROWS, _permutations

    want = MinHash(num_perm=BANDS * ROWS, seed=1, scheme="affine32").permutations
    a, b = _permutations()
    assert a.dtype == b.dtype == np.uint32
    assert a.tolist() == want[0].tolist() and b.tolist() == want[1].tolist()


def test_few_candidates_are_judged_as_many_are(monkeypatch):
    """A few candidates are judged one by one in Python, many in one numpy pass: the same
    stories either way (every labelled article in one stream, in publication order)."""
    import monitor.stories as stories

    rows = []
    for i, p in enumerate(load_pairs()):
        for j, side in enumerate((p["a"], p["b"])):
            when = datetime.fromisoformat(side["published"].replace("Z", "+00:00"))
            rows.append((2 * i + j, when, side["title"], side["text"], side["feed"]))
    rows.sort(key=lambda r: r[1])
    got = {}
    for few in (0, 10**9):
        monkeypatch.setattr(stories, "_FEW", few)
        s = StoryAssigner(window=timedelta(days=30))
        got[few] = [s.assign_many(rows[k : k + 7]) for k in range(0, len(rows), 7)]
    assert got[0] == got[10**9]
    assert len({story for batch in got[0] for story in batch}) < len(rows) * 0.8  # copies met
