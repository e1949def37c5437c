"""feeds.yaml loading and checking, and OPML import (monitor.config)."""

from __future__ import annotations

import os
import shutil
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import (
    Config,
    FeedConfig,
    import_opml,
    load_config,
    parse_duration,
    parse_size,
    resolve_config_path,
    watch_name,
    writable_problem,
)
from monitor.errors import ConfigError, ConfigIssue, MonitorError, OpmlError
from monitor.models import ENTITY_KINDS, Entity

ROOT = Path(__file__).resolve().parent.parent
OPML = Path(__file__).resolve().parent / "data" / "opml"


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.issues


def only_issue(path: Path) -> ConfigIssue:
    issues = issues_of(path)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


# --- A valid file -------------------------------------------------------------------------

EXAMPLE = """
store: data                     # folder of the embedded store
poll:
  every: 15m
  timeout: 30s
  max_bytes: 512KB
  per_host: 3
  concurrency: 8
feeds:
  - name: Example World News
    url: https://example.org/world/rss.xml
    tags: [world]
    every: 10m
    enabled: true
  - name: Second
    url: http://second.example.net/feed
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele, President Bukele]
  - name: Hillary Clinton
    kind: person
    aliases: [Clinton]
    exclude: [Bill Clinton]
    case_sensitive: false
"""


def test_valid_file_becomes_typed_config(tmp_path):
    config = load_config(write(tmp_path, EXAMPLE))

    assert isinstance(config, Config)
    assert config.path == tmp_path / "feeds.yaml"
    assert config.store == tmp_path / "data"
    assert config.poll.every == timedelta(minutes=15)
    assert config.poll.timeout == timedelta(seconds=30)
    assert config.poll.max_bytes == 512 * 1024
    assert (config.poll.per_host, config.poll.concurrency) == (3, 8)
    assert config.feeds == [
        FeedConfig(
            "Example World News",
            "https://example.org/world/rss.xml",
            ("world",),
            timedelta(minutes=10),
            True,
        ),
        FeedConfig("Second", "http://second.example.net/feed", (), None, True),
    ]
    assert config.watch == [
        Entity("Nayib Bukele", "person", ("Bukele", "President Bukele"), (), None),
        Entity("Hillary Clinton", "person", ("Clinton",), ("Bill Clinton",), False),
    ]


def test_feed_interval_falls_back_to_the_default(tmp_path):
    config = load_config(write(tmp_path, EXAMPLE))
    default = config.poll.every
    assert config.feeds[0].interval(default) == timedelta(minutes=10)
    assert config.feeds[1].interval(default) == timedelta(minutes=15)


def test_absent_keys_take_defaults(tmp_path):
    config = load_config(write(tmp_path, "feeds:\n  - name: A\n    url: https://a.example/\n"))
    assert config.store == tmp_path / "data"
    assert config.poll.every == timedelta(minutes=15)
    assert config.poll.timeout == timedelta(seconds=20)
    assert config.poll.max_bytes == 10 * 1024 * 1024
    assert (config.poll.per_host, config.poll.concurrency) == (2, 16)
    assert config.feeds[0].enabled is True
    assert config.watch == []


def test_full_text_under_poll_and_per_feed(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            poll:
              full_text: true
            feeds:
              - name: A
                url: https://a.example/
                full_text: false
              - name: B
                url: https://b.example/
            """,
        )
    )
    assert config.poll.full_text is True
    assert [f.full_text for f in config.feeds] == [False, None]  # None: the poll: setting
    assert load_config(write(tmp_path, "feeds: []\n")).poll.full_text is None  # the rule decides
    # the setting is not part of a feed's identity (toggling it revives no gone feed)
    a, b = (FeedConfig("A", "https://a.example/", full_text=v) for v in (True, None))
    assert a.entry_hash == b.entry_hash


def test_full_text_must_be_true_or_false(tmp_path):
    path = write(
        tmp_path,
        """
        poll:
          full_text: "yes"
        feeds:
          - name: A
            url: https://a.example/
            full_text: 1
          - name: B
            url: https://b.example/
            fulltext: true
        """,
    )
    shown = [str(i) for i in issues_of(path)]
    assert shown[0].endswith(
        'feeds.yaml:2: poll.full_text: expected true or false, got "yes" (write true or false)'
    )
    assert "feeds.yaml:6: feeds[0].full_text: expected true or false, got 1" in shown[1]
    assert 'unknown key "fulltext" (did you mean "full_text"?)' in shown[2]


def test_empty_values_mean_defaults(tmp_path):
    config = load_config(write(tmp_path, "store:\npoll:\nfeeds:\nwatch:\n"))
    assert (config.store, config.feeds, config.watch) == (tmp_path / "data", [], [])


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_is_a_config_with_nothing_to_do(tmp_path, text):
    config = load_config(write(tmp_path, text))
    assert config.feeds == [] and config.watch == []


def test_store_resolves_against_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", "store: ../archive\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("conf/feeds.yaml").store == tmp_path / "archive"
    assert load_config(path).path == path


def test_absolute_store_is_kept(tmp_path):
    assert load_config(write(tmp_path, f"store: {tmp_path}/x\n")).store == tmp_path / "x"


def test_entry_hash_is_stable_and_follows_the_entry():
    feed = FeedConfig("A", "https://a.example/", ("x",), timedelta(minutes=5))
    assert (
        feed.entry_hash
        == FeedConfig("A", "https://a.example/", ("x",), timedelta(minutes=5)).entry_hash
    )
    assert len(feed.entry_hash) == 16
    changed = [
        FeedConfig("B", "https://a.example/", ("x",), timedelta(minutes=5)),
        FeedConfig("A", "https://b.example/", ("x",), timedelta(minutes=5)),
        FeedConfig("A", "https://a.example/", ("y",), timedelta(minutes=5)),
        FeedConfig("A", "https://a.example/", ("x",), None),
        FeedConfig("A", "https://a.example/", ("x",), timedelta(minutes=5), enabled=False),
    ]
    assert len({feed.entry_hash, *(other.entry_hash for other in changed)}) == 6


# --- The file itself ------------------------------------------------------------------------


def test_missing_file_is_one_issue_with_a_hint(tmp_path):
    path = tmp_path / "nope.yaml"
    issue = only_issue(path)
    assert (issue.file, issue.line, issue.what) == (str(path), None, "file not found")
    assert str(issue) == f"{path}: file not found (create it, or pass -c PATH / set MONITOR_CONFIG)"


def test_issue_names_the_file_as_given(tmp_path, monkeypatch):
    write(tmp_path, "feeds: 3\n")
    monkeypatch.chdir(tmp_path)
    assert str(only_issue(Path("feeds.yaml"))).startswith("feeds.yaml:1: feeds: expected a list")


def test_yaml_syntax_error_has_the_parser_line(tmp_path):
    path = write(tmp_path, 'feeds:\n  - name: A\n    url: "https://a.example/\n  - name: B\n')
    issue = only_issue(path)
    assert issue.line == 5
    assert "YAML syntax error" in issue.what and issue.hint


def test_unclosed_flow_list_is_a_syntax_error(tmp_path):
    issue = only_issue(write(tmp_path, "store: data\nfeeds: [a\nwatch: []\n"))
    assert issue.line == 3 and issue.what.startswith("YAML syntax error")


def test_duplicate_key_is_reported_at_the_second_one(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/
            name: B
        """,
    )
    issue = only_issue(path)
    assert issue.line == 4
    assert issue.what == 'found duplicate key "name"'
    assert "remove one" in issue.hint


def test_tab_indentation_is_reported(tmp_path):
    issue = only_issue(write(tmp_path, "feeds:\n\t- name: A\n"))
    assert (issue.line, issue.what, issue.hint) == (
        2,
        "tab character",
        "indent with spaces, not tabs",
    )


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"store: data\nfeeds:\n  - name: Caf\xe9\n")
    issue = only_issue(path)
    assert (issue.line, issue.what) == (3, "not UTF-8 text")


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("just words\n", "a string")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    issue = only_issue(write(tmp_path, text))
    assert issue.line == 1
    assert (
        issue.what == f"expected a mapping of settings (store:, poll:, feeds:, watch:), got {got}"
    )


# --- Keys and types ---------------------------------------------------------------------------


def test_unknown_key_suggests_the_known_one(tmp_path):
    path = write(
        tmp_path,
        """
        watch:
          - name: Nayib Bukele
            kind: person
            alias: [Bukele]
        """,
    )
    issue = only_issue(path)
    assert str(issue) == f'{path}:4: watch[0]: unknown key "alias" (did you mean "aliases"?)'


def test_unknown_top_level_key(tmp_path):
    issue = only_issue(write(tmp_path, "store: data\nfeed: []\n"))
    assert (issue.line, issue.where, issue.what) == (2, "", 'unknown key "feed"')
    assert issue.hint == 'did you mean "feeds"?'


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path):
    issue = only_issue(write(tmp_path, "poll:\n  every: 5m\n  colour: blue\n"))
    assert (issue.line, issue.where) == (3, "poll")
    assert issue.hint == "known keys: every, timeout, max_bytes, per_host, concurrency, full_text"


def test_missing_required_keys(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - url: https://a.example/
        watch:
          - name: ICE
        """,
    )
    issues = issues_of(path)
    assert [(i.line, i.where, i.what) for i in issues] == [
        (2, "feeds[0]", 'missing key "name"'),
        (4, "watch[0]", 'missing key "kind"'),
    ]


def test_bad_duration_reads_like_the_style_guide(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/
          - name: B
            url: https://b.example/
            every: often
        """,
    )
    assert str(only_issue(path)) == (
        f'{path}:6: feeds[1].every: expected a duration like 15m or 2h, got "often"'
    )


def test_bare_integer_duration_asks_for_a_unit(tmp_path):
    issue = only_issue(write(tmp_path, "poll:\n  every: 15\n"))
    assert (issue.line, issue.where) == (2, "poll.every")
    assert issue.what == "expected a duration like 15m or 2h, got 15"
    assert issue.hint == "add a unit: s, m, h or d"


def test_zero_duration_is_refused(tmp_path):
    issue = only_issue(write(tmp_path, "poll:\n  timeout: 0s\n"))
    assert (issue.line, issue.what) == (2, 'must be longer than zero, got "0s"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1h 30m", timedelta(minutes=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["often", "", "15", "1.5h", "m", "15 minutes", "30m1h30m", "-5m"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="expected a duration like 15m or 2h"):
        parse_duration(text)


def test_parse_duration_bare_integer_hint():
    with pytest.raises(ValueError, match=r"add a unit: s, m, h or d"):
        parse_duration(15)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2048, 2048),
        ("10MB", 10 * 1024 * 1024),
        ("512KB", 512 * 1024),
        ("1 GB", 1024**3),
        ("300", 300),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


def test_bad_size(tmp_path):
    issue = only_issue(write(tmp_path, "poll:\n  max_bytes: lots\n"))
    assert (issue.line, issue.where) == (2, "poll.max_bytes")
    assert issue.what == 'expected a size like 10MB or 512KB, or a number of bytes, got "lots"'


def test_numbers_in_quotes_and_numbers_out_of_range(tmp_path):
    issues = issues_of(write(tmp_path, 'poll:\n  per_host: "2"\n  concurrency: 0\n'))
    assert [(i.line, i.where, i.what, i.hint) for i in issues] == [
        (2, "poll.per_host", 'expected a whole number, got "2"', "remove the quotes"),
        (3, "poll.concurrency", "must be at least 1, got 0", ""),
    ]


def test_booleans_in_plain_words(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/
            enabled: "false"
        watch:
          - name: B
            kind: topic
            case_sensitive: yes
        """,
    )
    assert [(i.line, i.where, i.what, i.hint) for i in issues_of(path)] == [
        (4, "feeds[0].enabled", 'expected true or false, got "false"', "remove the quotes"),
        (8, "watch[0].case_sensitive", 'expected true or false, got "yes"', "write true or false"),
    ]


def test_kind_must_be_one_of_the_four(tmp_path):
    path = write(tmp_path, "watch:\n  - name: Bukele\n    kind: persn\n")
    issue = only_issue(path)
    assert (issue.line, issue.where) == (3, "watch[0].kind")
    assert issue.what == f'expected one of {", ".join(ENTITY_KINDS)}, got "persn"'
    assert issue.hint == 'did you mean "person"?'


def test_kind_synonym_gets_a_suggestion_and_case_does_not_matter(tmp_path):
    issue = only_issue(write(tmp_path, "watch:\n  - name: ICE\n    kind: org\n"))
    assert issue.hint == 'did you mean "organization"?'
    config = load_config(write(tmp_path, "watch:\n  - name: ICE\n    kind: Organization\n"))
    assert config.watch[0].kind == "organization"


def test_string_where_a_list_is_expected(tmp_path):
    path = write(
        tmp_path,
        """
        watch:
          - name: Nayib Bukele
            kind: person
            aliases: Bukele
        """,
    )
    issue = only_issue(path)
    assert (issue.line, issue.where) == (4, "watch[0].aliases")
    assert (issue.what, issue.hint) == (
        "expected a list of names, got a string",
        "write [Bukele] for one",
    )


def test_feed_written_as_a_bare_url(tmp_path):
    issue = only_issue(write(tmp_path, "feeds:\n  - https://a.example/rss\n"))
    assert (issue.line, issue.where) == (2, "feeds[0]")
    assert issue.what == "expected a feed (a mapping with name: and url:), got a string"


def test_number_where_text_is_expected(tmp_path):
    issue = only_issue(write(tmp_path, "watch:\n  - name: 1917\n    kind: topic\n"))
    assert (issue.line, issue.what, issue.hint) == (
        2,
        "expected a name, got 1917",
        'put it in quotes: "1917"',
    )


def test_store_must_be_a_string_path(tmp_path):
    issues = issues_of(write(tmp_path, "store: [a, b]\n"))
    assert [(i.line, i.where, i.what) for i in issues] == [
        (1, "store", "expected a folder path or a postgresql:// URL, got a list")
    ]
    issue = only_issue(write(tmp_path, "store: 12\n"))
    assert (issue.what, issue.hint) == (
        "expected a folder path or a postgresql:// URL, got 12",
        'put it in quotes: "12"',
    )


def test_store_may_be_a_postgresql_url_without_a_password(tmp_path, monkeypatch):
    monkeypatch.delenv("MONITOR_STORE", raising=False)
    config = load_config(write(tmp_path, "store: postgres://monitor@db.example:5432/news\n"))
    assert config.store == "postgresql://monitor@db.example:5432/news"
    assert config.store_label == "postgresql://***@db.example:5432/news"
    for text, what in (
        ("store: postgresql://monitor:s3cret@db/news\n", "a password in feeds.yaml"),
        ("store: postgresql://monitor@db/news?password=s3cret\n", "a password in feeds.yaml"),
        ("store: mysql://db/news\n", '"mysql://" is not a store'),
        ("store: postgresql:///news\n", "names no host"),
        ("store: postgresql://db:port/news\n", "port of this database URL"),
    ):
        [issue] = issues_of(write(tmp_path, text))
        assert (issue.line, issue.where) == (1, "store") and what in issue.what, issue
        assert "s3cret" not in str(issue)
    assert "MONITOR_STORE" in issues_of(write(tmp_path, "store: postgresql://a:b@db/x\n"))[0].hint


def test_a_store_url_that_does_not_parse_or_a_connection_string_is_one_line(tmp_path, monkeypatch):
    # an unclosed "[" made urlsplit raise: every command ended in "unexpected ValueError";
    # a libpq "key=value" string was taken for a folder and printed, password and all
    monkeypatch.delenv("MONITOR_STORE", raising=False)
    for text, what in (
        ('store: "postgresql://monitor@[db.example/news"\n', "does not parse"),
        ("store: postgresql://monitor@db:99999/news\n", "port of this database URL"),
        ('store: "host=db.example dbname=news password=s3cret"\n', "connection string"),
    ):
        [issue] = issues_of(write(tmp_path, text))
        assert (issue.line, issue.where) == (1, "store") and what in issue.what, issue
        assert "s3cret" not in str(issue)
    path = write(tmp_path, "store: data\n")
    for value in ("postgresql://monitor:s3cret@[db.example/news", "host=db password=s3cret"):
        monkeypatch.setenv("MONITOR_STORE", value)
        [issue] = issues_of(path)
        assert str(issue).startswith("$MONITOR_STORE: ") and "s3cret" not in str(issue), issue
    monkeypatch.setenv("MONITOR_STORE", "my data/user files")  # a folder with a space stays one
    assert load_config(path).store == (Path.cwd() / "my data/user files").resolve()


def test_monitor_store_overrides_store(tmp_path, monkeypatch):
    path = write(tmp_path, "store: data\n")
    monkeypatch.setenv("MONITOR_STORE", "postgresql://monitor:s3cret@db.example/news")
    config = load_config(path)
    assert config.store == "postgresql://monitor:s3cret@db.example/news"  # for connecting only
    assert "s3cret" not in config.store_label
    monkeypatch.setenv("MONITOR_STORE", "elsewhere")  # a folder: relative to the current one
    monkeypatch.chdir(tmp_path / "..")
    assert load_config(path).store == (tmp_path / ".." / "elsewhere").resolve()
    monkeypatch.setenv("MONITOR_STORE", "redis://cache/0")
    [issue] = issues_of(path)
    assert str(issue).startswith("$MONITOR_STORE: ") and "is not a store" in issue.what
    monkeypatch.setenv("MONITOR_STORE", "  ")  # empty: feeds.yaml's store
    assert load_config(path).store == tmp_path / "data"


# --- URLs and names ------------------------------------------------------------------------


def test_urls_must_be_http_or_https_with_a_host(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/
          - name: B
            url: https://b.example/
          - name: C
            url: http://c.example/
          - name: D
            url: ftp://x
          - name: E
            url: example.org/rss
          - name: F
            url: "https://"
        """,
    )
    issues = issues_of(path)
    assert [str(i).removeprefix(f"{path}:") for i in issues] == [
        '9: feeds[3].url: not an http(s) URL: "ftp://x"',
        '11: feeds[4].url: not an http(s) URL: "example.org/rss" (add the scheme: "https://example.org/rss")',
        '13: feeds[5].url: not an http(s) URL: "https://"',
    ]


def test_duplicate_feed_url_reports_the_second_and_names_the_first(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://news.example.org/rss
          - name: B
            url: https://b.example/
          - name: A again
            url: HTTPS://News.Example.ORG/rss/
        """,
    )
    issue = only_issue(path)
    assert (issue.line, issue.where) == (7, "feeds[2].url")
    assert issue.what == 'duplicate URL, already in feeds[0] ("A")'
    assert issue.hint == "first listed on line 3; remove one"


def test_urls_differing_in_path_case_are_different_feeds(tmp_path):
    text = "feeds:\n  - name: A\n    url: https://a.example/Rss\n  - name: B\n    url: https://a.example/rss\n"
    assert len(load_config(write(tmp_path, text)).feeds) == 2


def test_duplicate_entity_names_ignore_case_accents_and_spaces(tmp_path):
    path = write(
        tmp_path,
        """
        watch:
          - name: Nicolás Maduro
            kind: person
          - name: ICE
            kind: organization
          - name: "nicolas   MADURO"
            kind: person
        """,
    )
    issue = only_issue(path)
    assert (issue.line, issue.where) == (6, "watch[2].name")
    assert issue.what == 'duplicate entity "nicolas MADURO", already watch[0]'
    assert issue.hint == "first listed on line 2; merge the two"


def test_alias_claimed_by_two_entities(tmp_path):
    path = write(
        tmp_path,
        """
        watch:
          - name: Hillary Clinton
            kind: person
            aliases: [Clinton, Secretary Clinton]
          - name: Bill Clinton
            kind: person
            aliases: [President Clinton, CLINTON]
          - name: Clintón
            kind: topic
        """,
    )
    issues = issues_of(path)
    assert [(i.line, i.where) for i in issues] == [(7, "watch[1].aliases[1]"), (8, "watch[2].name")]
    assert issues[0].what == '"CLINTON" is also a name of watch[0] ("Hillary Clinton")'
    assert issues[0].hint == "a name counts for one entity only; remove it here or on line 4"
    assert issues[1].what == '"Clintón" is also a name of watch[0] ("Hillary Clinton")'


def test_an_entity_may_repeat_its_own_name(tmp_path):
    text = "watch:\n  - name: CECOT\n    kind: place\n    aliases: [Cecot, CECOT]\n"
    assert load_config(write(tmp_path, text)).watch[0].aliases == ("Cecot", "CECOT")


def test_empty_names_and_names_without_letters(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: "  "
            url: https://a.example/
        watch:
          - name: "***"
            kind: topic
          - name: Bukele
            kind: person
            aliases: ["", "--", Nayib]
        """,
    )
    assert [(i.line, i.where, i.what) for i in issues_of(path)] == [
        (2, "feeds[0].name", "empty name"),
        (5, "watch[0].name", 'no letters or digits in "***"'),
        (9, "watch[1].aliases[0]", "empty name"),
        (9, "watch[1].aliases[1]", 'no letters or digits in "--"'),
    ]


def test_checks_across_items_see_items_with_a_problem_elsewhere(tmp_path):
    # each of these came out only in a second run, once the first run's errors were fixed
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/rss
            every: 0s
          - name: A copy
            url: https://a.example/rss/
        watch:
          - name: Nayib Bukele
            kind: persn
            aliases: [Bukele]
          - name: bukele
            kind: person
          - name: CECOT
            kind: topic
            alais: [Terrorism Confinement Center]
        notify:
          team: ["json://127.0.0.1:9/hook"]
        alerts:
          - name: Spike
            when: spike
            entity: Nobody
            to: [team, missing]
            windw: 3h
          - name: Feed down
            when: feed-down
            feeds: [A, Nowhere]
          - name: Bukele fine
            when: first
            entity: Nayib Bukele
        """,
    )
    assert [(i.line, i.where, i.what) for i in issues_of(path)] == [
        (4, "feeds[0].every", 'must be longer than zero, got "0s"'),
        (6, "feeds[1].url", 'duplicate URL, already in feeds[0] ("A")'),
        (9, "watch[0].kind", 'expected one of person, organization, topic, place, got "persn"'),
        (11, "watch[1].name", '"bukele" is also a name of watch[0] ("Nayib Bukele")'),
        (15, "watch[2]", 'unknown key "alais"'),
        (21, "alerts[0].entity", '"Nobody" is not in the watch list'),
        (22, "alerts[0].to[1]", 'no target "missing" in notify:'),
        (23, "alerts[0]", 'unknown key "windw"'),
        (26, "alerts[1].feeds[1]", 'no feed "Nowhere" in feeds:'),
    ]


def test_names_are_trimmed_and_white_space_collapsed(tmp_path):
    text = 'watch:\n  - name: "  Nayib   Bukele "\n    kind: person\n'
    assert load_config(write(tmp_path, text)).watch[0].name == "Nayib Bukele"


# --- All at once -------------------------------------------------------------------------------


def test_every_issue_is_reported_in_one_error_in_line_order(tmp_path):
    path = write(
        tmp_path,
        """
        store: data
        poll:
          every: often
          per_host: 0
        feeds:
          - name: A
            url: https://a.example/rss
            tags: world
          - name: B
            url: ftp://b.example/
            every: 15
          - name: C
            url: https://A.example/rss/
        watch:
          - name: Nayib Bukele
            kind: persn
            alias: [Bukele]
          - name: Hillary Clinton
            kind: person
            aliases: [Clinton]
          - name: Bill Clinton
            kind: person
            aliases: [clinton]
        extra: 1
        """,
    )
    issues = issues_of(path)
    assert [(i.line, i.where) for i in issues] == [
        (3, "poll.every"),
        (4, "poll.per_host"),
        (8, "feeds[0].tags"),
        (10, "feeds[1].url"),
        (11, "feeds[1].every"),
        (13, "feeds[2].url"),
        (16, "watch[0].kind"),
        (17, "watch[0]"),
        (23, "watch[2].aliases[0]"),
        (24, ""),
    ]
    # feeds[2] duplicates feeds[0], whose URL is fine though its tags are not: reported now,
    # not in the next run once the tags are fixed
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).count("\n") == len(issues) - 1


# --- The shipped feeds.yaml -------------------------------------------------------------------


def test_shipped_feeds_yaml_loads_and_covers_all_kinds():
    config = load_config(ROOT / "feeds.yaml")
    assert len(config.feeds) >= 20
    assert {entity.kind for entity in config.watch} == set(ENTITY_KINDS)
    assert config.store == ROOT / "data"
    assert all(feed.url.startswith(("https://", "http://")) for feed in config.feeds)
    assert any(entity.exclude for entity in config.watch)


# --- resolve_config_path ----------------------------------------------------------------------


def test_resolve_config_path_precedence(monkeypatch):
    monkeypatch.setenv("MONITOR_CONFIG", "/etc/monitor/feeds.yaml")
    assert resolve_config_path("mine.yaml") == Path("mine.yaml")
    assert resolve_config_path(None) == Path("/etc/monitor/feeds.yaml")
    monkeypatch.delenv("MONITOR_CONFIG")
    assert resolve_config_path(None) == Path("feeds.yaml")
    monkeypatch.setenv("MONITOR_CONFIG", "")
    assert resolve_config_path(None) == Path("feeds.yaml")


# --- OPML import ------------------------------------------------------------------------------

CONFIG_WITH_COMMENTS = """
# My feeds, hand-written.
store: data   # next to this file

feeds:
  # the one I already had
  - name: Existing
    url: https://existing.example.com/rss
    tags: [misc]   # keep this tag

# --- watchlist ---
watch:
  - name: Nayib Bukele
    kind: person
"""


def test_import_opml_adds_feeds_and_keeps_comments(tmp_path):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    original = config_path.read_text()

    report = import_opml(OPML / "malformed.opml", config_path)

    assert report.added == [
        "https://example.org/world/rss.xml",
        "https://news.example.net/feed?topic=world&lang=es",
        "https://cafe.example.com/rss",
        "https://diario.example.sv/feed/",
        "https://untitled.example.org/atom.xml",
    ]
    assert report.skipped == [
        "HTTPS://EXISTING.example.com/rss/",  # already in feeds.yaml
        "https://diario.example.sv/feed",  # twice in the OPML
        "ftp://files.example.org/feed.xml",  # not http(s)
    ]
    text = config_path.read_text()
    head, _, _ = original.partition("\n# --- watchlist ---")
    assert text.startswith(head + "  - name: Example World\n")  # old lines untouched
    assert text.endswith(
        "\n\n# --- watchlist ---\nwatch:\n  - name: Nayib Bukele\n    kind: person\n"
    )
    for comment in ("# My feeds, hand-written.", "# next to this file", "# keep this tag"):
        assert comment in text

    config = load_config(config_path)
    feeds = {feed.url: feed for feed in config.feeds}
    assert len(config.feeds) == 6
    assert feeds["https://example.org/world/rss.xml"].tags == ("world-news",)
    assert feeds["https://news.example.net/feed?topic=world&lang=es"].name == "Search & Rescue"
    assert feeds["https://cafe.example.com/rss"].name == "Café Global"
    assert feeds["https://cafe.example.com/rss"].tags == ("world-news", "food", "coffee", "opinion")
    assert feeds["https://diario.example.sv/feed/"].tags == ("latin-america", "el-salvador")
    assert feeds["https://untitled.example.org/atom.xml"].name == "untitled.example.org"


def test_import_opml_never_takes_a_variable_reference_or_a_control_character(tmp_path, monkeypatch):
    # an OPML file from anywhere could name ${SMTP_PASSWORD} in a feed URL: the poller then
    # sent its value to the OPML's host; a bidirectional override makes a URL read as another
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-value")
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="Leak" xmlUrl="https://evil.example/rss?k=${SMTP_PASSWORD}"/>'
        '<outline text="Bidi" xmlUrl="https://evil.example/&#x202e;lmx.ssr"/>'
        '<outline text="Ctrl" xmlUrl="https://evil.example/rss&#1;"/>'
        '<outline text="Fine" xmlUrl="https://ok.example/rss"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    config_path = write(tmp_path, "feeds: []\n")
    report = import_opml(opml, config_path)
    assert report.added == ["https://ok.example/rss"]
    assert report.reasons == [
        "holds a ${VAR} reference: an OPML file may not read your environment",
        "a control character in the URL",
        "a control character in the URL",
    ]
    assert "SMTP_PASSWORD" not in config_path.read_text()
    assert [f.url for f in load_config(config_path).feeds] == ["https://ok.example/rss"]


def test_a_feed_url_with_a_control_character_is_an_error(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: Bidi
            url: "https://example.org/\\u202egnp.exe"
          - name: Control
            url: "https://example.org/rss\\x01"
          - name: Zero width
            url: "https://exa\\u200bmple.org/rss"
        """,
    )
    issues = issues_of(path)
    assert [(i.line, i.where) for i in issues] == [
        (3, "feeds[0].url"),
        (5, "feeds[1].url"),
        (7, "feeds[2].url"),
    ]
    assert [i.what for i in issues] == [
        "a control character in the URL (U+202E)",
        "a control character in the URL (U+0001)",
        "a control character in the URL (U+200B)",
    ]


def test_import_opml_twice_adds_nothing_the_second_time(tmp_path):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    import_opml(OPML / "malformed.opml", config_path)
    after_first = config_path.read_text()
    report = import_opml(OPML / "malformed.opml", config_path)
    assert report.added == []
    assert config_path.read_text() == after_first


def test_import_opml_into_the_shipped_file_changes_only_the_feed_list(tmp_path):
    config_path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", config_path)
    before = config_path.read_text()
    import_opml(OPML / "malformed.opml", config_path)
    after = config_path.read_text()
    assert len(after.splitlines()) == len(before.splitlines()) + 18  # 6 feeds x 3 lines
    assert after.split("\nwatch:\n")[1] == before.split("\nwatch:\n")[1]
    assert len(load_config(config_path).feeds) == len(load_config(ROOT / "feeds.yaml").feeds) + 6


def test_import_opml_creates_a_missing_config(tmp_path):
    config_path = tmp_path / "feeds.yaml"
    report = import_opml(OPML / "malformed.opml", config_path)
    assert len(load_config(config_path).feeds) == len(report.added) == 6


def test_import_opml_adds_a_feed_list_where_there_was_none(tmp_path):
    config_path = write(
        tmp_path, "# just a watchlist\nwatch:\n  - name: ICE\n    kind: organization\n"
    )
    import_opml(OPML / "malformed.opml", config_path)
    text = config_path.read_text()
    assert text.startswith("# just a watchlist\nfeeds:\n  - name: Example World\n")
    assert len(load_config(config_path).watch) == 1


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("empty.opml", "the file is empty"),
        ("not-xml.opml", "not an OPML file: no XML could be read from it"),
        ("no-feeds.opml", "no feeds in it (no <outline> has an xmlUrl)"),
        ("missing.opml", "file not found"),
    ],
)
def test_unusable_opml_is_a_config_error_naming_the_file(tmp_path, name, what):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    with pytest.raises(ConfigError) as caught:
        import_opml(OPML / name, config_path)
    [issue] = caught.value.issues
    assert (issue.file, issue.what) == (str(OPML / name), what)
    assert config_path.read_text() == textwrap.dedent(CONFIG_WITH_COMMENTS).lstrip("\n")


def test_import_opml_refuses_a_broken_config_and_leaves_it_alone(tmp_path):
    config_path = write(
        tmp_path, "feeds:\n  - name: A\n    url: https://a.example/\n    every: often\n"
    )
    before = config_path.read_text()
    with pytest.raises(ConfigError) as caught:
        import_opml(OPML / "malformed.opml", config_path)
    assert caught.value.issues[0].line == 4
    assert config_path.read_text() == before


# --------------------------------------------------------------------------------------------
# Watching a name from the dashboard (the Discover page's "watch this")

WATCH_WITH_COMMENTS = """
# My watchlist.
watch:
  - name: Nayib Bukele   # the president
    kind: person
    aliases: [Bukele]
  # topics below
  - name: CECOT
    kind: topic

# --- alerts ---
alerts:
  - name: Spike
    when: spike
    entity: CECOT
"""


def test_watch_name_appends_to_the_watchlist_and_keeps_comments(tmp_path):
    config_path = write(tmp_path, WATCH_WITH_COMMENTS)
    before = config_path.read_text()
    entity = watch_name(config_path, "  José Raúl   Mulino ", "person")
    assert entity == Entity("José Raúl Mulino", "person")
    after = config_path.read_text()
    head, _, _ = before.partition("\n# --- alerts ---")
    assert after == head + (
        "  - name: José Raúl Mulino\n    kind: person\n\n# --- alerts ---\n"
        "alerts:\n  - name: Spike\n    when: spike\n    entity: CECOT\n"
    )
    watch_name(config_path, "MS-13: the gang", "organization")  # quoted where YAML needs it
    names = [e.name for e in load_config(config_path).watch]
    assert names == ["Nayib Bukele", "CECOT", "José Raúl Mulino", "MS-13: the gang"]


@pytest.mark.parametrize(
    ("name", "kind", "what"),
    [
        ("jose raul  MULINO", "person", '"jose raul MULINO" is already watched'),
        ("bukele", "person", '"bukele" is already watched (an alias of Nayib Bukele)'),
        ("   ", "person", "empty name"),
        ("New One", "persn", "expected one of person, organization, topic, place"),
    ],
)
def test_watch_name_refuses_what_cannot_be_watched(tmp_path, name, kind, what):
    config_path = write(tmp_path, WATCH_WITH_COMMENTS + "  # x\n")
    watch_name(config_path, "José Raúl Mulino", "person")
    before = config_path.read_text()
    with pytest.raises(ConfigError) as caught:
        watch_name(config_path, name, kind)
    assert what in str(caught.value)
    assert config_path.read_text() == before


def test_watch_name_puts_the_file_back_when_it_no_longer_loads(tmp_path, monkeypatch):
    import monitor.config as config_module

    config_path = write(tmp_path, WATCH_WITH_COMMENTS)
    before = config_path.read_text()
    real = config_module.load_config
    calls = []

    def load_then_fail(path):
        calls.append(path)
        if len(calls) > 1:  # the check after writing
            raise ConfigError([ConfigIssue(str(path), 3, "watch[2]", "broken by the edit")])
        return real(path)

    monkeypatch.setattr(config_module, "load_config", load_then_fail)
    with pytest.raises(ConfigError, match="broken by the edit"):
        watch_name(config_path, "Kristi Noem", "person")
    assert config_path.read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_watch_name_refuses_a_file_it_cannot_write(tmp_path, monkeypatch):
    import os

    config_path = write(tmp_path, WATCH_WITH_COMMENTS)
    assert writable_problem(config_path) == ""
    assert writable_problem(tmp_path / "nowhere.yaml") == "the file does not exist"
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == config_path else real(p, mode)
    )
    assert writable_problem(config_path) == "the file is read-only for this process"
    with pytest.raises(MonitorError, match="read-only"):
        watch_name(config_path, "Kristi Noem", "person")
    assert "Kristi Noem" not in config_path.read_text()


# --- Resource limits (issue 9, §4) ------------------------------------------------------------


def billion_laughs(levels: int, width: int = 9) -> str:
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_in_one_line_and_bounded_memory(tmp_path):
    import tracemalloc

    path = write(tmp_path, billion_laughs(9))
    tracemalloc.start()
    try:
        issue = only_issue(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert issue.what == "YAML aliases repeat more than 100,000 values"
    assert issue.line is not None and issue.hint
    assert peak < 20 * 1024 * 1024


def test_a_smaller_alias_bomb_that_would_still_expand_is_refused(tmp_path):
    # 6 levels of 10: a million values; a loader that expands aliases accepts it slowly
    issue = only_issue(write(tmp_path, billion_laughs(6, width=10)))
    assert "aliases repeat more than" in issue.what


def test_aliases_and_merge_keys_within_the_budget_work(tmp_path):
    path = write(
        tmp_path,
        """
        poll: &defaults
          every: 10m
        feeds:
          - name: A
            url: https://a.example/
            tags: &world [world, wire]
          - name: B
            url: https://b.example/
            tags: *world
        watch:
          - &person
            name: Nayib Bukele
            kind: person
          - <<: *person
            name: Hillary Clinton
        """,
    )
    config = load_config(path)
    assert [f.tags for f in config.feeds] == [("world", "wire"), ("world", "wire")]
    assert [(e.name, e.kind) for e in config.watch] == [
        ("Nayib Bukele", "person"),
        ("Hillary Clinton", "person"),
    ]
    assert config.poll.every == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("feeds: *nowhere\n", 'alias "*nowhere" refers to no anchor "&nowhere" above it'),
        ("feeds: &loop [*loop]\n", 'alias "*loop" is inside the list or mapping it refers to'),
        ("feeds: []\n---\nwatch: []\n", "more than one YAML document (a second --- line)"),
    ],
)
def test_alias_and_document_mistakes_are_one_issue(tmp_path, text, what):
    issue = only_issue(write(tmp_path, text))
    assert issue.what == what and issue.line is not None


def test_plain_words_stay_words_as_in_yaml_1_2(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: Norway
            url: https://no.example/
            tags: [no, off, yes, y, on]
        """,
    )
    assert load_config(path).feeds[0].tags == ("no", "off", "yes", "y", "on")


def test_a_config_larger_than_the_cap_is_refused_without_reading_it_all(tmp_path):
    from monitor.config import MAX_CONFIG_BYTES

    path = tmp_path / "feeds.yaml"
    path.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    issue = only_issue(path)
    assert issue.what == "larger than 10 MB, the most this reads"


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = {"device": Path("/dev/zero"), "fifo": tmp_path / "fifo", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes to it: a plain open would wait for ever
    issue = only_issue(path)
    expected = "is a folder, not a file" if kind == "folder" else "not a regular file"
    assert issue.what.startswith(expected)


def test_lines_are_right_for_problems_found_after_a_valid_start(tmp_path):
    # lines are worked out only when there is a problem: check them deep in a list
    feeds = "".join(f"  - name: F{i}\n    url: https://f{i}.example/\n" for i in range(500))
    path = write(tmp_path, f"feeds:\n{feeds}  - name: Bad\n    url: ftp://x\n    every: often\n")
    assert [(i.line, i.where) for i in issues_of(path)] == [
        (1003, "feeds[500].url"),
        (1004, "feeds[500].every"),
    ]


def test_an_opml_file_that_is_a_device_is_refused(tmp_path):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    with pytest.raises(OpmlError) as caught:
        import_opml(Path("/dev/zero"), config_path)
    assert caught.value.issues[0].what.startswith("not a regular file")


def test_import_opml_says_why_each_feed_was_skipped(tmp_path):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    report = import_opml(OPML / "malformed.opml", config_path)
    assert report.added_names[:2] == ["Example World", "Search & Rescue"]
    assert list(zip(report.skipped, report.reasons, strict=True)) == [
        ("HTTPS://EXISTING.example.com/rss/", "already in feeds.yaml"),
        ("https://diario.example.sv/feed", "repeated in the OPML file"),
        ("ftp://files.example.org/feed.xml", "not an http(s) URL"),
    ]


def test_a_missing_opml_file_is_an_opml_error_not_a_feeds_yaml_one(tmp_path):
    config_path = write(tmp_path, CONFIG_WITH_COMMENTS)
    with pytest.raises(OpmlError):
        import_opml(OPML / "missing.opml", config_path)


def test_a_duplicate_key_after_an_alias_is_reported_on_its_own_line(tmp_path):
    path = write(
        tmp_path,
        """
        feeds:
          - name: A
            url: https://a.example/
            tags: &t [world]
          - name: B
            url: https://b.example/
            tags: *t
            name: C
        """,
    )
    issue = only_issue(path)
    assert (issue.line, issue.what) == (8, 'found duplicate key "name"')


def test_huge_durations_and_sizes_are_one_message_each(tmp_path):
    """Numbers past what dates and ints can hold (a typo, or an attack) are refused with a
    hint, never an OverflowError."""
    digits = "9" * 400
    text = f"poll:\n  every: 99999999999d\n  timeout: {digits}s\n  max_bytes: {digits}\n"
    issues = issues_of(write(tmp_path, text))
    assert [(i.line, i.hint) for i in issues] == [
        (2, "at most 3650d"),
        (3, "at most 3650d"),
        (4, "at most 1024GB"),
    ]
    assert only_issue(write(tmp_path, f'poll:\n  max_bytes: "{digits}KB"\n')).hint == (
        "at most 1024GB"
    )
    assert parse_duration("3650d") == timedelta(days=3650)
    assert parse_size("1024GB") == 1024**4


def test_a_persian_domain_name_with_a_zero_width_non_joiner_is_a_url(tmp_path):
    # ZWNJ (U+200C) is part of how some Persian and Indic names are written; it is not hidden
    # markup, so such a feed URL stays valid
    path = write(
        tmp_path,
        """
        feeds:
          - name: Persian outlet
            url: "https://\\u0645\\u06cc\\u200c\\u062e\\u0648\\u0627\\u0647\\u0645.example/rss"
        """,
    )
    config = load_config(path)
    assert "\u200c" in config.feeds[0].url
