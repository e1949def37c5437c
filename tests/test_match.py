"""monitor.match: the counting rules, each with its own cases, and a cross-check."""

from __future__ import annotations

import random
import unicodedata
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import match
from monitor.match import Match, Matcher, is_acronym
from monitor.models import Entity
from monitor.text import fold

BUKELE = Entity("Nayib Bukele", "person", aliases=("Bukele",))
CECOT = Entity("CECOT", "place")
ICE = Entity("ICE", "organization", aliases=("Immigration and Customs Enforcement",))
MS13 = Entity("MS-13", "organization")
ACT = Entity("Alien Enemies Act", "topic")
MULINO = Entity("José Raúl Mulino", "person")
HILLARY = Entity("Hillary Clinton", "person", aliases=("Clinton",), exclude=("Bill Clinton",))
WATCH = [BUKELE, CECOT, ICE, MS13, ACT, MULINO, HILLARY]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(WATCH)


def counts(text: str, entities=WATCH) -> dict[str, int]:
    return Matcher(entities).count("", text)


# --- whole words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Bukele’s plan",  # curly apostrophe
        "Bukele's plan",
        "Bukeleʼs plan",  # modifier letter apostrophe
        "a Bukele-led government",
        "an ex-Bukele official",
        "trending: #Bukele",
        "the president (Bukele) said",
        "BUKELE",
        "bukele",
        "«Bukele»",
        "Bukele.",
        "Bukele—again",
        "x_y Bukele, z",
    ],
)
def test_name_counts_as_a_whole_word(matcher, text):
    assert matcher.count("", text) == {"Nayib Bukele": 1}


@pytest.mark.parametrize(
    "text",
    ["Bukele2024", "@nayibbukele", "bukeleño", "Bukeleños", "unBukele", "Bukele_fan", "2024Bukele"],
)
def test_name_inside_a_word_does_not_count(matcher, text):
    assert matcher.count("", text) == {}


def test_acronym_followed_by_punctuation_counts_but_plural_does_not(matcher):
    assert matcher.count("", "sent to CECOT.") == {"CECOT": 1}
    assert matcher.count("", "the CECOTs") == {}


def test_non_ascii_letters_are_word_characters():
    entities = [Entity("Weiss", "person")]
    assert counts("Weissman", entities) == {}
    assert counts("Weissé", entities) == {}
    assert counts("Weissя", entities) == {}
    assert counts("Weiss", entities) == {"Weiss": 1}


def test_names_that_start_or_end_with_punctuation():
    entities = [Entity("#MeToo", "topic"), Entity("U.S.", "place")]
    assert counts("the #MeToo movement in the U.S.", entities) == {"#MeToo": 1, "U.S.": 1}
    assert counts("x#MeToo", entities) == {}


def test_name_without_word_characters_is_ignored():
    matcher = Matcher([Entity("Dash", aliases=("-", "  ", "..."))])
    assert matcher.count("a - b ... c", "Dash") == {"Dash": 1}


# --- white space -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "the Alien Enemies Act",
        "the Alien  Enemies Act",
        "the Alien\nEnemies\r\nAct",
        "the Alien\u00a0Enemies\tAct",
    ],
)
def test_names_match_across_any_white_space(matcher, text):
    assert matcher.count("", text) == {"Alien Enemies Act": 1}


def test_white_space_in_names_is_collapsed_too():
    entities = [Entity("Alien   Enemies\nAct")]
    assert counts("Alien Enemies Act", entities) == {"Alien   Enemies\nAct": 1}


# --- case and accents ------------------------------------------------------------------------


def test_accents_do_not_matter_either_way():
    assert counts("Jose Raul Mulino said", [MULINO]) == {"José Raúl Mulino": 1}
    assert counts("JOSÉ RAÚL MULINO said", [MULINO]) == {"José Raúl Mulino": 1}
    plain = Entity("Jose Raul Mulino", "person")
    assert counts("José Raúl Mulino said", [plain]) == {"Jose Raul Mulino": 1}


def test_decomposed_accents_in_the_text_match():
    assert counts("Jose\u0301 Rau\u0301l Mulino", [MULINO]) == {"José Raúl Mulino": 1}


def test_acronyms_match_only_in_capitals(matcher):
    assert matcher.count("", "ICE agents") == {"ICE": 1}
    assert matcher.count("", "ICE’s raids") == {"ICE": 1}
    assert matcher.count("", "thin ice") == {}
    assert matcher.count("", "Ice Cream") == {}
    assert matcher.count("", "ICEs") == {}
    assert matcher.count("", "MS-13 and ms-13 and Ms-13") == {"MS-13": 1}
    assert matcher.count("", "MS–13") == {"MS-13": 1}  # en dash


def test_acronyms_are_still_accent_insensitive():
    assert counts("CÉCOT", [CECOT]) == {"CECOT": 1}


def test_long_name_of_an_acronym_entity_matches_in_any_case(matcher):
    assert matcher.count("", "immigration and customs enforcement") == {"ICE": 1}


def test_is_acronym():
    assert is_acronym("ICE") and is_acronym("MS-13") and is_acronym("U.S.") and is_acronym("CÉCOT")
    assert not is_acronym("I") and not is_acronym("Ice") and not is_acronym("13")


def test_case_sensitive_false_lets_acronyms_match_in_any_case():
    entities = [Entity("ICE", "organization", case_sensitive=False)]
    assert counts("ice, Ice and ICE", entities) == {"ICE": 3}


def test_case_sensitive_true_makes_every_name_exact():
    entities = [Entity("Bukele", "person", aliases=("José",), case_sensitive=True)]
    assert counts("Bukele", entities) == {"Bukele": 1}
    assert counts("bukele BUKELE", entities) == {}
    assert counts("José", entities) == {"Bukele": 1}
    assert counts("Jose JOSÉ", entities) == {}


def test_acronym_and_ordinary_word_with_the_same_letters():
    entities = [ICE, Entity("Ice", "topic")]
    assert counts("ICE", entities) == {"ICE": 1, "Ice": 1}
    assert counts("ice", entities) == {"Ice": 1}


def test_duplicate_names_of_one_entity_count_once():
    entities = [Entity("Bukele", "person", aliases=("bukele", "BUKELE", "Búkele"))]
    assert counts("Bukele BUKELE", entities) == {"Bukele": 2}


# --- overlaps --------------------------------------------------------------------------------


def test_full_name_counts_once(matcher):
    assert matcher.count("", "Nayib Bukele") == {"Nayib Bukele": 1}
    assert matcher.count("", "Nayib Bukele met Bukele") == {"Nayib Bukele": 2}


def test_longest_name_wins_across_entities():
    entities = [Entity("New York"), Entity("New York Times"), Entity("York Times")]
    assert counts("the New York Times", entities) == {"New York Times": 1}
    assert counts("New York, York Times", entities) == {"New York": 1, "York Times": 1}


def test_leftmost_match_wins_over_a_later_longer_one():
    entities = [Entity("New York"), Entity("York Times Square")]
    assert counts("New York Times Square", entities) == {"New York": 1}


def test_longer_name_failing_the_word_check_does_not_hide_a_shorter_one():
    entities = [Entity("Bukele", aliases=("Bukele Ortez",))]
    assert counts("Bukele Ortezano", entities) == {"Bukele": 1}


def test_a_name_shared_by_two_entities_counts_for_both():
    entities = [
        Entity("Hillary Clinton", aliases=("Clinton",)),
        Entity("Bill Clinton", aliases=("Clinton",)),
    ]
    assert counts("Clinton said", entities) == {"Hillary Clinton": 1, "Bill Clinton": 1}
    assert counts("Bill Clinton said", entities) == {"Bill Clinton": 1}


# --- exclude ---------------------------------------------------------------------------------


def test_exclude_phrase_hides_the_name_inside_it(matcher):
    assert matcher.count("", "Bill Clinton spoke") == {}
    assert matcher.count("", "BILL\nCLINTON spoke") == {}
    assert matcher.count("", "Clinton spoke") == {"Hillary Clinton": 1}
    assert matcher.count("", "Hillary Clinton spoke") == {"Hillary Clinton": 1}
    text = "Bill Clinton met Hillary Clinton. Clinton said Bill Clinton’s foundation"
    assert matcher.count("", text) == {"Hillary Clinton": 2}


def test_exclude_phrase_matches_whole_words_only(matcher):
    assert matcher.count("", "Billy Clinton") == {"Hillary Clinton": 1}


def test_exclude_applies_to_its_own_entity_only():
    entities = [HILLARY, Entity("Bill Clinton", "person")]
    assert counts("Bill Clinton", entities) == {"Bill Clinton": 1}


# --- title and text --------------------------------------------------------------------------


def test_count_adds_title_and_text(matcher):
    assert matcher.count("Bukele speaks", "Nayib Bukele said Bukele") == {"Nayib Bukele": 3}


def test_name_cannot_span_title_and_text(matcher):
    assert matcher.count("On the Alien Enemies", "Act of 1798") == {}
    assert matcher.count("Nayib", "Bukele") == {"Nayib Bukele": 1}  # the alias, in the text
    assert matcher.count("Bukele", "2024 review") == {"Nayib Bukele": 1}


# --- find ------------------------------------------------------------------------------------


def test_find_gives_positions_in_collapsed_text(matcher):
    text = "  Nayib\n Bukele  and   ICE "
    found = matcher.find(text)
    assert found == [Match(0, 12, "Nayib Bukele"), Match(17, 20, "ICE")]
    collapsed = "Nayib Bukele and ICE"
    assert [collapsed[m.start : m.end] for m in found] == ["Nayib Bukele", "ICE"]


def test_find_on_collapsed_text_uses_its_positions(matcher):
    text = "Ex-Bukele aide, José Raúl Mulino’s ally"
    assert [text[m.start : m.end] for m in matcher.find(text)] == ["Bukele", "José Raúl Mulino"]


def test_find_positions_with_other_white_space(matcher):
    text = "ICE\u00a0and Nayib\u2009Bukele\u2028\u2028ICE "
    collapsed = "ICE and Nayib Bukele ICE"
    found = matcher.find(text)
    assert [collapsed[m.start : m.end] for m in found] == ["ICE", "Nayib Bukele", "ICE"]


def test_exact_names_match_across_other_white_space():
    entities = [Entity("Casa Presidencial", case_sensitive=True)]
    assert counts("la Casa\u00a0Presidencial dijo", entities) == {"Casa Presidencial": 1}
    assert counts("la casa\u00a0presidencial dijo", entities) == {}


def test_match_is_a_small_record():
    m = Match(1, 4, "ICE")
    assert (m.start, m.end, m.entity) == (1, 4, "ICE")


# --- the matcher itself ----------------------------------------------------------------------


def test_empty_watchlist_counts_nothing():
    matcher = Matcher([])
    assert matcher.count("Bukele", "anything") == {}
    assert matcher.find("anything") == []
    assert matcher.entities == []


def test_empty_text(matcher):
    assert matcher.count("", "") == {}
    assert matcher.find("") == []


def test_entities_are_kept_in_order(matcher):
    assert matcher.entities == WATCH


def test_fingerprint_is_stable_and_order_free():
    a = Matcher(WATCH).fingerprint
    assert a == Matcher(WATCH).fingerprint == Matcher(list(reversed(WATCH))).fingerprint
    assert len(a) == 16 and int(a, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        Entity("Nayib Bukele", "person", aliases=("Bukele", "Nayib")),
        Entity("Nayib Bukele", "person", aliases=("Bukele",), exclude=("Bukele Ortez",)),
        Entity("Nayib Bukele", "person", aliases=("Bukele",), case_sensitive=True),
        Entity("Nayib Bukele", "organization", aliases=("Bukele",)),
        Entity("Nayib Bukelé", "person", aliases=("Bukele",)),
    ],
)
def test_fingerprint_changes_with_what_changes_counts(changed):
    assert Matcher([changed, *WATCH[1:]]).fingerprint != Matcher(WATCH).fingerprint


# --- cross-check against a slow reference ----------------------------------------------------


def reference_find(entities, text):
    """Obviously correct and slow: every occurrence of every folded name, then the rules.

    Text and names are read in Unicode NFC, as the matcher reads them.
    """
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    folded = fold(text)

    def is_word(i):
        return 0 <= i < len(folded) and (folded[i].isalnum() or folded[i] == "_")

    def occurrences(phrase, entity):
        name = unicodedata.normalize("NFC", " ".join(phrase.split()))
        key = fold(name)
        if not any(c.isalnum() or c == "_" for c in key):
            return
        letters = [c for c in name if c.isalpha()]
        acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
        start = folded.find(key)
        while start != -1:
            end = start + len(key)
            span = text[start:end]
            if not is_word(start - 1) and not is_word(end):
                if entity.case_sensitive:
                    ok = span == name
                elif entity.case_sensitive is None and acronym:
                    ok = span.isupper()
                else:
                    ok = True
                if ok:
                    yield start, end
            start = folded.find(key, start + 1)

    candidates = set()
    for entity in entities:
        excluded = [span for phrase in entity.exclude for span in occurrences(phrase, entity)]
        for name in entity.names:
            for s, e in occurrences(name, entity):
                if not any(xs <= s and e <= xe for xs, xe in excluded):
                    candidates.add((s, e, entity.name))
    result = []
    pos = 0
    while True:
        later = [c for c in candidates if c[0] >= pos]
        if not later:
            return result
        start = min(c[0] for c in later)
        end = max(c[1] for c in later if c[0] == start)
        result += sorted(c for c in later if c[0] == start and c[1] == end)
        pos = end


CROSS_WATCH = [
    *WATCH,
    Entity("El Salvador", "place", aliases=("Salvador",)),
    Entity("San Salvador", "place"),
    Entity("Salvador Sánchez Cerén", "person", aliases=("Sánchez Cerén",)),
    Entity("New York", "place"),
    Entity("New York Times", "organization", aliases=("NYT", "the Times")),
    Entity("Bill Clinton", "person", aliases=("Clinton",), exclude=("Hillary Clinton",)),
    Entity("Ice", "topic", aliases=("ice cream",)),
    Entity("Nayib", "person", case_sensitive=True),
    Entity("Mara", "organization", aliases=("Mara Salvatrucha", "MS"), case_sensitive=False),
    Entity("Act", "topic", aliases=("Enemies Act",), exclude=("Act of 1798",)),
    Entity("Casa Presidencial", "organization", case_sensitive=True),
    Entity("Asamblea Legislativa", "organization", aliases=("ASAMBLEA",)),
]
FILLER_WORDS = (
    "the of and said in a on El San New Times Bill Hillary ice Ice 2024 x_y act York Ortez"
)
FILLER = FILLER_WORDS.split()
SUFFIXES = ["", "", "", "’s", "'s", ",", ".", "-led", "2024", "ño", "s", ")", "—"]
PREFIXES = ["", "", "", "", "#", "@", "(", "ex-", "«", "x"]
SPACES = [" "] * 8 + ["  ", "\n", "\u00a0", " \t ", "\u2009", "\u2028", "\u3000", "\r\n"]


def _variant(name: str, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.15:
        name = name.upper()
    elif choice < 0.3:
        name = name.lower()
    elif choice < 0.4:
        name = fold(name)  # accents off
    elif choice < 0.45:
        name = name.replace("e", "é").replace("a", "á")
    return rng.choice(SPACES).join(name.split())


def _random_text(rng: random.Random, names: list[str]) -> str:
    words = []
    for _ in range(rng.randint(0, 30)):
        if rng.random() < 0.35:
            words.append(
                rng.choice(PREFIXES) + _variant(rng.choice(names), rng) + rng.choice(SUFFIXES)
            )
        else:
            words.append(rng.choice(FILLER))
    text = "".join(rng.choice(SPACES) + word for word in words)
    return text if rng.random() < 0.5 else text.strip() + rng.choice(["", "", "", " ", "\n"])


# Both automata the matcher chooses between (by the watchlist's size) must count alike.
BOTH_AUTOMATA = pytest.mark.parametrize("dfa_max_names", [0, 10**6], ids=["nfa", "dfa"])


@BOTH_AUTOMATA
def test_matcher_agrees_with_the_reference_on_random_texts(dfa_max_names):
    rng = random.Random(20240601)
    names = [n for e in CROSS_WATCH for n in (*e.names, *e.exclude)]
    with mock.patch.object(match, "_DFA_MAX_NAMES", dfa_max_names):
        matcher = Matcher(CROSS_WATCH)
    seen = 0
    for _ in range(400):
        text = _random_text(rng, names)
        expected = reference_find(CROSS_WATCH, text)
        got = sorted(tuple(m) for m in matcher.find(text))
        assert got == expected, text
        title = _random_text(rng, names)
        expected_counts: dict[str, int] = {}
        for part in (title, text):
            for _, _, entity in reference_find(CROSS_WATCH, part):
                expected_counts[entity] = expected_counts.get(entity, 0) + 1
        assert matcher.count(title, text) == expected_counts, (title, text)
        seen += len(expected)
    assert seen > 1000  # the texts did exercise the rules


# --- property: random watchlists and texts against the reference ------------------------------

# Words names are made of: prefixes of one another (overlaps), acronyms, punctuation at either
# end, digits and `_`, accents, other scripts (final sigma, ß, dotted İ, Cyrillic).
NAME_WORDS = [
    *("Ana", "Ana Bo", "Bo", "Bo Cal", "Cal", "ana", "Anab", "bo-cal"),
    *("ICE", "MS-13", "U.S.", "#Ana", "Ana’s", "x_y", "13"),
    *("José", "Jose", "Zoë", "Łódź", "Straße", "İzmir", "Σοφός", "Путин", "ñu"),
]
# What a text puts between and around names: white space of all kinds, punctuation that is a
# word boundary, and glue ("" or word characters) that makes a name part of a longer word.
GLUE = [""] * 12 + ["s", "x", "2024", "ño", "_", "é", "я"]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\u00a0", "\u2009", "-", "—", "’", "#", "(", ".", "\x00"]

names_st = st.lists(st.sampled_from(NAME_WORDS), min_size=1, max_size=3).map(" ".join)


@st.composite
def watchlists(draw):
    pool = draw(st.lists(names_st, min_size=1, max_size=6))  # shared among the entities
    entities = []
    for number in range(draw(st.integers(1, 5))):
        names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        wrap = st.tuples(st.sampled_from(pool + NAME_WORDS), st.booleans())
        exclude = tuple(
            f"{word} {names[0]}" if before else f"{names[0]} {word}"
            for word, before in draw(st.lists(wrap, max_size=2))
        )
        entities.append(
            Entity(
                f"{number}:{names[0]}",  # entity names are unique, their names need not be
                aliases=tuple(names[1:]),
                exclude=exclude,
                case_sensitive=draw(st.sampled_from([None, None, True, False])),
            )
        )
    return entities


def _spelling(name: str, how: str) -> str:
    return {
        "as is": name,
        "upper": name.upper(),
        "lower": name.lower(),
        "title": name.title(),
        "folded": fold(name),
        "decomposed": unicodedata.normalize("NFD", name),
    }[how]


@st.composite
def texts(draw, entities):
    phrases = [p for e in entities for p in (*e.names, *e.exclude)]
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        word = draw(st.sampled_from(phrases * 3 + NAME_WORDS))
        how = draw(st.sampled_from(["as is", "as is", "upper", "lower", "title", "folded"]))
        how = draw(st.sampled_from([how, "decomposed"])) if draw(st.booleans()) else how
        glue = st.sampled_from(GLUE)
        parts += [draw(glue), _spelling(word, how), draw(glue), draw(st.sampled_from(SEPARATORS))]
    return draw(st.sampled_from(["", " ", "\n"])) + "".join(parts)


@st.composite
def cases(draw):
    entities = draw(watchlists())
    return entities, draw(texts(entities)), draw(texts(entities))


@BOTH_AUTOMATA
@settings(max_examples=200, deadline=None)
@given(cases())
def test_matcher_follows_the_rules_on_random_watchlists(dfa_max_names, case):
    entities, title, text = case
    with mock.patch.object(match, "_DFA_MAX_NAMES", dfa_max_names):
        matcher = Matcher(entities)
    assert [tuple(m) for m in matcher.find(text)] == reference_find(entities, text)
    expected: dict[str, int] = {}
    for part in (title, text):
        for _, _, entity in reference_find(entities, part):
            expected[entity] = expected.get(entity, 0) + 1
    assert matcher.count(title, text) == expected


def test_the_markers_of_uncollapsed_white_space_are_the_spaces_fold_keeps():
    """`_UNCOLLAPSED` is written out (computing it builds the fold tables at import): it must be
    what `fold` makes of every kind of space in Unicode, less the plain space."""
    from monitor.text import fold

    spaces = {chr(cp) for cp in range(0x110000) if chr(cp).isspace()}
    computed = ("  ", *sorted({fold(c) for c in spaces} - {" "}))
    assert computed == match._UNCOLLAPSED
