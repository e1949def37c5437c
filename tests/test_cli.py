"""The `monitor` command line, run as a user runs it (a subprocess) where exit codes matter."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor import cli, console
from monitor.cli import main
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
REPO = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def item(title: str, link: str, when: datetime) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate><description>Body.</description></item>"
    )


@pytest.fixture
def world(tmp_path):
    """A feeds.yaml with two good feeds and a broken one, served locally."""
    with FeedServer() as server:
        a = "".join(
            [
                item("Bukele and CECOT", "http://a.example/1", NOW - timedelta(days=2)),
                item("Bukele again", "http://a.example/2", NOW - timedelta(days=1)),
            ]
        )
        server.feed(
            "/a", f"<rss version='2.0'><channel><title>A</title>{a}</channel></rss>".encode()
        )
        b = item("CECOT only", "http://b.example/1", NOW - timedelta(days=1))
        server.feed(
            "/b", f"<rss version='2.0'><channel><title>B</title>{b}</channel></rss>".encode()
        )
        server.feed("/broken", b"nope", status=503)
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"""# test config
store: store
poll:
  full_text: false  # the entries link to invented hosts: no page is read
feeds:
  - name: Feed A
    url: {server.url("/a")}
    tags: [world]
  - name: Feed B
    url: {server.url("/b")}
  - name: Broken
    url: {server.url("/broken")}
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele]
  - name: CECOT
    kind: topic
"""
        )
        yield config


def test_validate_reports_every_error_with_lines_and_no_traceback(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: X\n    url: ftp://x\n    every: often\nwatch: []\n")
    result = run("-c", str(bad), "validate")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith('feeds.yaml:3: feeds[0].url: not an http(s) URL: "ftp://x"')
    assert "feeds.yaml:4: feeds[0].every" in lines[1]
    assert "Traceback" not in result.stderr


def test_articles_say_where_their_text_came_from(tmp_path, capsys):
    """A feed of summaries: `poll --once` reads the pages and says so; `articles` JSON has
    `text_source` (page, or feed when the page could not be used)."""
    article = "".join(
        f"<p>Sentence {i} of the article: Bukele spoke at length about the plan.</p>"
        for i in range(12)
    )
    with FeedServer() as server:
        server.feed(
            "/story",
            f"<html><body><article><h1>Bukele</h1>{article}</article></body></html>".encode(),
            content_type="text/html",
        )
        items = item("Bukele", server.url("/story"), NOW - timedelta(hours=1)) + item(
            "CECOT", server.url("/missing"), NOW - timedelta(hours=2)
        )
        server.feed("/f", f"<rss version='2.0'><channel>{items}</channel></rss>".encode())
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"store: s\nfeeds:\n  - name: F\n    url: {server.url('/f')}\n"
            "watch:\n  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
            "  - name: CECOT\n    kind: topic\n"
        )
        result = run("-c", str(config), "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert "article pages: 1 read in full, 1 failed" in result.stdout
    assert main(["-c", str(config), "articles", "--format", "json"]) == 0
    arts = {a["title"]: a for a in json.loads(capsys.readouterr().out)}
    assert arts["Bukele"]["text_source"] == "page" and arts["Bukele"]["mentions"] == 13
    assert arts["CECOT"]["text_source"] == "feed" and arts["CECOT"]["mentions"] == 1


def test_every_command_validates_first(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("store: [oops\n")
    for command in (["poll", "--once"], ["status"], ["mentions"], ["articles"], ["rematch"]):
        result = run("-c", str(bad), *command)
        assert result.returncode == 1, command
        assert "feeds.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_config_from_environment_and_missing_file(tmp_path):
    result = run("validate", env={"MONITOR_CONFIG": str(tmp_path / "nope.yaml")})
    assert result.returncode == 1
    assert "nope.yaml: file not found" in result.stderr


def test_poll_once_then_read_commands(world, capsys):
    result = run("-c", str(world), "poll", "--once")
    assert result.returncode == 0, result.stderr  # a failed feed is not a failed run
    assert "3 feeds: 2 ok, 0 unchanged, 1 failed; 3 new articles" in result.stdout
    assert "Broken: HTTP 503" in result.stdout

    assert main(["-c", str(world), "mentions", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [  # sorted by mentions, then name
        {"entity": "CECOT", "kind": "topic", "mentions": 2, "articles": 2, "stories": 2},
        {"entity": "Nayib Bukele", "kind": "person", "mentions": 2, "articles": 2, "stories": 2},
    ]
    assert main(["-c", str(world), "mentions", "--by", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["period"] for r in rows} == {
        (NOW - timedelta(days=d)).strftime("%Y-%m-%d") for d in (1, 2)
    }
    assert sum(r["mentions"] for r in rows if r["entity"] == "CECOT") == 2
    assert set(rows[0]) == {"entity", "kind", "period", "mentions", "articles", "stories"}

    assert main(["-c", str(world), "articles", "--entity", "cecot", "--format", "json"]) == 0
    arts = json.loads(capsys.readouterr().out)
    assert [a["title"] for a in arts] == ["CECOT only", "Bukele and CECOT"]
    assert {"time", "feed", "title", "url", "mentions"} <= set(arts[0])

    assert main(["-c", str(world), "status", "--format", "json"]) == 0
    status = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert status["Feed A"]["articles"] == 2 and status["Feed A"]["status"] == "ok"
    assert status["Broken"]["status"] == "failed" and "503" in status["Broken"]["error"]
    assert {"name", "url", "articles", "status", "error"} <= set(status["Feed B"])

    assert (
        main(["-c", str(world), "mentions", "--since", NOW.strftime("%Y-%m-%d"), "--format", "csv"])
        == 0
    )
    assert capsys.readouterr().out.strip() == "entity,kind,mentions,articles,stories"


def test_a_limit_beyond_what_the_store_takes_means_no_limit(world, capsys):
    # the query failed: "error: query failed: Conversion Error: ... LIMIT ? OFFSET ? ^"
    assert main(["-c", str(world), "poll", "--once"]) == 0
    capsys.readouterr()
    huge = "9" * 30
    for command in (["articles"], ["articles", "--one-per-story"], ["names"]):
        assert main(["-c", str(world), *command, "--limit", huge, "--format", "json"]) == 0
        out, error = capsys.readouterr()
        assert error == "" and isinstance(json.loads(out), list), command
    assert main(["-c", str(world), "articles", "--limit", huge, "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_unknown_entity_is_a_clear_error(world):
    result = run("-c", str(world), "mentions", "--entity", "Bukel")
    assert result.returncode == 2
    assert 'no watched entity is called "Bukel"' in result.stderr
    assert "Traceback" not in result.stderr


def test_rematch_counts_a_new_entity_over_history(world, capsys):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    world.write_text(world.read_text() + "  - name: Again\n    kind: topic\n")
    assert main(["-c", str(world), "rematch"]) == 0
    assert main(["-c", str(world), "mentions", "--entity", "Again", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("[") :])[0]["articles"] == 1


def test_unusable_store_is_a_nonzero_exit(tmp_path):
    (tmp_path / "store").write_text("a file where the folder should be")
    config = tmp_path / "feeds.yaml"
    config.write_text("store: store\nfeeds: []\nwatch: []\n")
    result = run("-c", str(config), "poll", "--once")
    assert result.returncode == 2
    assert "store" in result.stderr and "Traceback" not in result.stderr


def test_a_file_in_place_of_the_store_is_no_healthy_store(tmp_path, capsys):
    # `check` said "no store yet: nothing to check" (exit 0) and `repair` "nothing to repair"
    (tmp_path / "store").write_text("a file where the folder should be")
    config = tmp_path / "feeds.yaml"
    config.write_text("store: store\nfeeds: []\nwatch: []\n")
    for command in (["check"], ["check", "--format", "json"], ["repair"], ["status"]):
        assert main(["-c", str(config), *command]) == 2, command
        out, error = capsys.readouterr()
        assert out == "" and error.count("\n") == 1 and "is not a folder" in error, command
    assert (tmp_path / "store").read_text() == "a file where the folder should be"


def test_import_opml_adds_feeds_and_keeps_comments(tmp_path, capsys):
    config = tmp_path / "feeds.yaml"
    config.write_text("# my feeds\nfeeds:\n  - name: A\n    url: http://a.example/rss\nwatch: []\n")
    opml = tmp_path / "list.opml"
    opml.write_text(
        '<opml version="1.0"><body><outline text="News & Views">'
        '<outline text="B & C" xmlUrl="http://b.example/rss?x=1&y=2"/>'
        '<outline text="A again" xmlUrl="http://a.example/rss"/>'
        "</outline></body></opml>"
    )
    assert main(["-c", str(config), "import-opml", str(opml)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"added 1 feed to {config}; skipped 1",
        "  + B & C <http://b.example/rss?x=1&y=2>",
        "  skipped http://a.example/rss: already in feeds.yaml",
    ]
    text = config.read_text()
    assert text.startswith("# my feeds") and "http://b.example/rss?x=1&y=2" in text


def test_feed_tag_and_search_filters(world, capsys):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    assert main(["-c", str(world), "mentions", "--tag", "world", "--format", "json"]) == 0
    rows = {r["entity"]: r["articles"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"Nayib Bukele": 2, "CECOT": 1}  # Feed A only
    assert main(["-c", str(world), "mentions", "--feed", "feed b", "--format", "json"]) == 0
    assert [r["entity"] for r in json.loads(capsys.readouterr().out)] == ["CECOT"]
    assert main(["-c", str(world), "articles", "--search", "again", "--format", "json"]) == 0
    assert [a["title"] for a in json.loads(capsys.readouterr().out)] == ["Bukele again"]
    assert main(["-c", str(world), "mentions", "--tag", "nope"]) == 2


# --- Text from feeds and feeds.yaml is shown literally (issue 9, §2) -------------------------

MARKUP = "[/x] [/bold] [link=https://evil.example/]click[/link]"
HOSTILE_TITLE = f"Bukele says {MARKUP} and \x1b[31mred\x1b[0m"


def rss(*items: str) -> bytes:
    channel = "<title>t</title>" + "".join(items)
    return f"<rss version='2.0'><channel>{channel}</channel></rss>".encode()


def answer_503_with_reason(reason: str):
    def answer(ex) -> None:
        ex._answered()
        ex.send_response(503, reason)
        ex.send_header("Content-Length", "0")
        ex.end_headers()

    return answer


@pytest.fixture
def hostile(tmp_path):
    """A feeds.yaml whose names, titles, errors and redirects carry rich markup."""
    with FeedServer() as server:
        title = HOSTILE_TITLE.replace("&", "&amp;").replace("\x1b", "&#27;")
        server.feed("/a", rss(item(title, "http://a.example/1", NOW - timedelta(days=1))))
        server.handle("/down", answer_503_with_reason(f"Down {MARKUP}"))
        server.redirect("/old", "/a?x=[/x]", status=301)
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"""store: store
feeds:
  - name: "Feed {MARKUP}"
    url: {server.url("/a")}
  - name: "Down [/x]"
    url: {server.url("/down")}
  - name: "Moved [/x]"
    url: {server.url("/old")}
watch:
  - name: "Bukele [/x]"
    kind: person
    aliases: [Bukele]
"""
        )
        yield config


def assert_literal(text: str) -> None:
    assert "Traceback" not in text and "MarkupError" not in text
    assert "\x1b]8;" not in text  # no terminal hyperlink
    assert "\x1b[31m" not in text  # no escape sequence from a feed reaches the terminal


def test_poll_status_articles_mentions_show_hostile_text_literally(hostile):
    result = run("-c", str(hostile), "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout + result.stderr)
    assert f"failed: Down [/x]: HTTP 503 Down {MARKUP}" in result.stdout
    assert "moved: Moved [/x] now lives at" in result.stdout

    result = run("-c", str(hostile), "status")
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout + result.stderr)
    assert f"Feed {MARKUP}" in result.stdout and f"HTTP 503 Down {MARKUP}" in result.stdout

    result = run("-c", str(hostile), "articles")
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout + result.stderr)
    assert f"Bukele says {MARKUP} and \\x1b[31mred\\x1b[0m" in result.stdout
    assert f"Feed {MARKUP}" in result.stdout

    result = run("-c", str(hostile), "mentions")
    assert result.returncode == 0, result.stderr
    assert "Bukele [/x]" in result.stdout

    result = run("-c", str(hostile), "articles", "--format", "json")
    [article] = json.loads(result.stdout)
    assert article["title"] == HOSTILE_TITLE  # data for programs: exact (JSON escapes ESC)


def test_tables_on_a_terminal_show_hostile_text_literally(hostile, capsys, monkeypatch):
    assert run("-c", str(hostile), "poll", "--once").returncode == 0
    monkeypatch.setattr(console.Output, "is_terminal", property(lambda self: True))
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell wraps
    assert main(["-c", str(hostile), "status"]) == 0
    assert main(["-c", str(hostile), "articles"]) == 0
    shown = capsys.readouterr().out
    assert_literal(shown)
    assert "[/x]" in shown and "[link=https://evil.example/]" in shown
    assert "\\x1b[31mred" in shown
    assert "┃" in shown  # it is rich's table, not the plain one


def test_config_errors_and_poll_log_show_hostile_text_literally(hostile):
    text = hostile.read_text()
    hostile.write_text(text + f'  - name: "X"\n    kind: topic\n    "{MARKUP}": 1\n')
    result = run("-c", str(hostile), "validate")
    assert result.returncode == 1
    assert f'unknown key "{MARKUP}"' in result.stderr
    assert_literal(result.stderr)


def test_long_running_poll_logs_hostile_text_literally(hostile):
    """`monitor poll` reports failures and feeds.yaml errors through the Poller's log."""
    hostile.write_text(
        hostile.read_text().replace("store: store\n", "store: store\npoll:\n  every: 1s\n")
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "-c", str(hostile), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stderr is not None
        while not any("failed: Down [/x]" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        # an edit with an error: reported through the log, the previous version kept
        hostile.write_text(hostile.read_text() + f"extra {MARKUP}: 1\n")
        while not any("still using the previous version" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        while not any(f'unknown key "extra {MARKUP}"' in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert_literal("".join(lines) + rest[1])


def test_import_opml_with_hostile_titles_writes_once_and_reports_literally(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nwatch: []\n")
    opml = tmp_path / "list.opml"
    opml.write_text(
        f'<opml version="1.0"><body><outline text="{MARKUP}">'
        f'<outline text="News {MARKUP}" xmlUrl="http://b.example/rss"/>'
        f'<outline text="Again" xmlUrl="http://b.example/rss/"/>'
        f'<outline text="Gopher" xmlUrl="gopher://c.example/"/>'
        "</outline></body></opml>"
    )
    result = run("-c", str(config), "import-opml", str(opml))
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout + result.stderr)
    assert result.stdout.splitlines() == [
        f"added 1 feed to {config}; skipped 2",
        f"  + News {MARKUP} <http://b.example/rss>",
        "  skipped http://b.example/rss/: repeated in the OPML file",
        "  skipped gopher://c.example/: not an http(s) URL",
    ]
    assert run("-c", str(config), "validate").returncode == 0


def test_a_missing_opml_file_is_the_opml_files_fault(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nwatch: []\n")
    result = run("-c", str(config), "import-opml", str(tmp_path / "nope.opml"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'nope.opml'}: file not found",
        "the OPML file could not be imported; feeds.yaml is unchanged",
    ]


# --- Dates (issue 9, §2 and §5) -----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "999999999d"],
        ["--since", "99999999999999999999999d"],
        ["--until", "9999-12-31"],
        ["--since", "0001-01-01T00:00+14:00"],
        ["--since", "9999-12-31T23:00-05:00"],
        ["--until", "0001-01-01"],
        ["--since", "2w", "--until", "today"],
    ],
)
def test_dates_at_the_ends_of_time_are_clamped(world, args):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    for command in ("mentions", "articles"):
        result = run("-c", str(world), command, *args, "--format", "json")
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)


def test_open_ended_dates_mean_no_bound(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    everything = run("-c", str(world), "mentions", "--format", "json").stdout
    for args in (["--since", "999999999d"], ["--until", "9999-12-31"]):
        assert run("-c", str(world), "mentions", *args, "--format", "json").stdout == everything
    nothing = run("-c", str(world), "mentions", "--until", "0001-01-01", "--format", "json")
    assert json.loads(nothing.stdout) == []


@pytest.mark.parametrize("value", ["0d", "yesterday", "2026-13-01", "7 days"])
def test_bad_dates_are_one_line_exit_2(world, value):
    result = run("-c", str(world), "mentions", "--since", value)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--since" in result.stderr and "Traceback" not in result.stderr


def _dashboard_preset_range():
    """The dashboard's preset_range (and its helpers), taken from the source of
    monitor_app/state.py: importing it would import Streamlit."""
    import ast
    from datetime import date, time

    path = Path(__file__).resolve().parent.parent / "monitor_app" / "state.py"
    wanted = {"preset_range", "floor_hour", "midnight"}
    nodes = [n for n in ast.parse(path.read_text()).body if getattr(n, "name", None) in wanted]
    assert {n.name for n in nodes} == wanted, "state.preset_range moved: update this test"
    namespace = {"datetime": datetime, "date": date, "time": time, "timedelta": timedelta}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["preset_range"]


@pytest.mark.parametrize("choice", ["24h", "7d", "30d", "90d"])
def test_relative_dates_mean_what_the_dashboard_means(choice):
    preset_range = _dashboard_preset_range()
    for now in (
        datetime(2026, 11, 5, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 5, 23, 59, tzinfo=UTC),
    ):
        start, _ = preset_range(choice, now.replace(tzinfo=None))
        assert cli.parse_when(choice, now=now) == start.replace(tzinfo=UTC), (choice, now)


def test_since_help_says_which_days():
    result = run("mentions", "--help")
    assert "calendar days including today" in " ".join(result.stdout.split())


# --- Output to pipes, files and full disks (issue 9, §2) ------------------------------------


def test_a_closed_pipe_ends_quietly(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes anything
    try:
        result = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "-c", str(world), "articles", "--format", "csv"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == ""


def test_a_pipe_closed_by_true_in_a_shell(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    command = f"{sys.executable} -m monitor.cli -c {world} articles --format csv | true"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert result.returncode in (0, 141) and result.stderr == ""


def test_a_full_disk_is_one_line_exit_2(world):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "-c", str(world), "status"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert result.stderr == "error: cannot write the output: No space left on device\n"


def test_a_closed_standard_output_is_one_line_exit_2(world):
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "-c", str(world), "validate"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert result.returncode == 2
    assert result.stderr == "error: cannot write the output: standard output is closed\n"


def test_an_unexpected_error_is_one_line_exit_2(world, capsys, monkeypatch):
    from monitor import queries

    def broken(*args, **kwargs):
        raise RuntimeError("a bug [/x]")

    monkeypatch.setattr(queries, "mention_counts", broken)
    monkeypatch.delenv("MONITOR_DEBUG", raising=False)
    assert main(["-c", str(world), "mentions"]) == 2
    assert capsys.readouterr().err == (
        "error: unexpected RuntimeError: a bug [/x] (set MONITOR_DEBUG=1 to see the traceback)\n"
    )
    monkeypatch.setenv("MONITOR_DEBUG", "1")
    assert main(["-c", str(world), "mentions"]) == 2  # never 1, which means bad configuration
    assert "Traceback" in capsys.readouterr().err


# --- Resource limits (issue 9, §4) ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/dev/zero", "fifo", "folder"])
def test_config_that_is_not_a_regular_file_is_refused_at_once(tmp_path, path):
    if path == "fifo":
        path = str(tmp_path / "feeds.yaml")
        os.mkfifo(path)  # nobody writes: reading it would wait for ever
    elif path == "folder":
        path = str(tmp_path)
    result = run("-c", path, "validate")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 2 and "Traceback" not in result.stderr


def test_huge_titles_are_cut_in_tables(tmp_path):
    long_title = "Bukele " + "x" * 1_000_000
    with FeedServer() as server:
        items = [
            item(long_title, f"http://a.example/{i}", NOW - timedelta(hours=i)) for i in range(3)
        ]
        server.feed("/a", rss(*items))
        config = tmp_path / "feeds.yaml"
        config.write_text(f"feeds:\n  - name: A\n    url: {server.url('/a')}\nwatch: []\n")
        assert run("-c", str(config), "poll", "--once").returncode == 0
    result = run("-c", str(config), "articles")
    assert result.returncode == 0
    assert len(result.stdout) < 5 * 1500  # 3 rows of at most 1,000 characters of title
    assert "x" * 990 + "…" in result.stdout


def test_the_title_cap_is_one_number_for_storing_and_showing():
    from monitor.models import TITLE_MAX_CHARS, cap_title

    assert cap_title("short") == "short"
    capped = cap_title("x" * 1_000_000)
    assert len(capped) == TITLE_MAX_CHARS and capped.endswith("…")
    assert console.clean_cell("y" * 1_000_000) == "y" * (TITLE_MAX_CHARS - 1) + "…"


def test_tables_off_a_terminal_keep_full_values_on_one_line(tmp_path):
    url = "http://127.0.0.1:9/" + "very-long-path/" * 12 + "feed.xml"
    name = "A feed with a long name " * 4
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds:\n  - name: {name.strip()}\n    url: {url}\nwatch: []\n")
    result = run("-c", str(config), "status", env={"COLUMNS": "80"})
    assert result.returncode == 0
    [row] = [line for line in result.stdout.splitlines() if line.startswith("A feed")]
    assert name.strip() in row and len(row) > 80  # one line, nothing cut or wrapped


def test_tables_on_a_terminal_fit_the_terminal(hostile, capsys, monkeypatch):
    assert run("-c", str(hostile), "poll", "--once").returncode == 0
    monkeypatch.setattr(console.Output, "is_terminal", property(lambda self: True))
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["-c", str(hostile), "articles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) <= 60
    # long values fold onto more lines instead of being cut ("http://a.ex…")
    urls = [line.split("│")[4].strip() for line in lines if line.startswith("│")]
    assert "".join(urls) == "http://a.example/1"


# --- What a new user hit (issue 9, §5) ------------------------------------------------------


def test_config_option_before_or_after_the_command(world, tmp_path):
    elsewhere = tmp_path / "other.yaml"
    elsewhere.write_text("feeds: [")
    for args in (["-c", str(world), "validate"], ["validate", "-c", str(world)],
                 ["-c", str(elsewhere), "validate", "-c", str(world)]):  # fmt: skip
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "feeds.yaml: ok" in result.stdout
    result = run("validate", env={"MONITOR_CONFIG": str(world)})
    assert result.returncode == 0


def test_every_option_has_help_and_shows_its_default():
    def commands(parser, prefix=()):  # every command and sub-command (alerts backtest, ...)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sp in action.choices.items():
                    yield (*prefix, name), sp
                    yield from commands(sp, (*prefix, name))

    found = dict(commands(cli.build_parser()))
    assert ("alerts", "backtest") in found and ("check",) in found and ("demo",) in found
    for name, sp in found.items():
        text = " ".join(sp.format_help().split())
        for action in sp._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.dest)
            default = action.default
            if default not in (None, False, argparse.SUPPRESS):
                assert f"(default: {default})" in text, (name, action.dest)


def _commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                yield (*prefix, name), sp
                yield from _commands(sp, (*prefix, name))


@pytest.mark.parametrize(
    "argv",
    [
        ["poll", "--once"],
        ["-c", "x.yaml", "poll", "--once", "--no-tone", "--name", "a"],
        ["--config=x.yaml", "status", "--format", "json"],
        ["-cx.yaml", "articles", "--entity", "Bukele", "--since", "7d", "--limit", "5"],
        ["alerts", "backtest", "--since", "2026-11-01"],
        ["store", "copy", "config", "elsewhere"],
        ["dashboard", "--port", "8600", "--host", "0.0.0.0", "--no-auth"],
        ["run", "--no-tone"],
        ["demo", "--seed", "3"],
        ["validate", "-c", "y.yaml"],
    ],
)
def test_a_command_line_parses_the_same_with_only_its_command_built(argv):
    """`main` builds the options of the command given only (cli.command_of): same result."""
    only = cli.command_of(argv)
    assert only == next(w for w in argv if not w.startswith("-") and w != "x.yaml")
    lazy = vars(cli.build_parser(only=only).parse_args(argv))
    full = vars(cli.build_parser().parse_args(argv))
    assert lazy == full
    commands = dict(_commands(cli.build_parser()))
    for name, sp in _commands(cli.build_parser(only=only)):
        assert (sp.format_help() == commands[name].format_help()) == (name[0] == only), name


def test_a_command_line_without_a_plain_command_word_builds_every_command():
    assert cli.command_of(["--help"]) is None and cli.command_of(["--version"]) is None
    assert cli.command_of(["-c", "f.yaml"]) is None and cli.command_of([]) is None
    assert cli.command_of(["--conf", "f.yaml", "poll"]) is None  # an abbreviation: argparse's
    assert cli.command_of(["pol"]) == "pol"  # not a command: argparse lists them all


def test_an_unknown_command_still_lists_every_command(capsys):
    assert main(["pol", "--once"]) == 2
    text = capsys.readouterr().err
    assert "invalid choice: 'pol'" in text and "'poll'" in text and "'dashboard'" in text


def test_help_version_and_validate_import_nothing_heavy():
    heavy = (
        "pandas",
        "duckdb",
        "pyarrow",
        "aiohttp",
        "streamlit",
        "rich.progress",
        "pydantic",
        "apprise",  # only for feeds.yaml with a notify: section (checking its URLs)
        "numpy",
    )
    config = Path(__file__).resolve().parent.parent / "feeds.yaml"
    for args in (["--version"], ["--help"], ["-c", str(config), "validate"]):
        code = (
            "import sys, contextlib, io\n"
            "from monitor.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()): main({args!r})\n"
            f"print([m for m in {heavy!r} if m in sys.modules])"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert result.stdout.strip().splitlines()[-1] == "[]", (args, result.stdout)


def test_the_demo_does_not_import_the_command_line():
    """cli.py imports the demo; the demo takes its output and process helpers from
    console.py and runner.py, never from cli.py (no import cycle, not even in a function)."""
    import ast

    package = Path(__file__).resolve().parent.parent / "monitor"
    sources = [*package.glob("demo*.py"), *package.glob("demo/**/*.py")]
    assert sources
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert module not in (".cli", "..cli", "monitor.cli"), source


def test_status_shows_whole_http_codes_and_blanks(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    world.write_text(
        world.read_text().replace(
            "watch:", "  - name: Later\n    url: http://127.0.0.1:9/x\nwatch:"
        )
    )
    result = run("-c", str(world), "status")
    assert result.returncode == 0
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()[3:]}
    assert " 200 " in rows["Feed A"] and "200.0" not in result.stdout
    assert " 503 " in rows["Broken"] and "nan" not in result.stdout.lower().split()
    assert "never polled" in rows["Later"]
    status = {
        s["name"]: s for s in json.loads(run("-c", str(world), "status", "--format", "json").stdout)
    }
    assert status["Feed A"]["http_status"] == 200 and status["Later"]["http_status"] is None


def test_articles_without_an_entity_show_their_real_mention_counts(world, capsys):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    assert main(["-c", str(world), "articles", "--format", "json"]) == 0
    counts = {a["title"]: a["mentions"] for a in json.loads(capsys.readouterr().out)}
    assert counts == {"Bukele and CECOT": 2, "Bukele again": 1, "CECOT only": 1}


def test_a_poll_that_fetched_nothing_is_not_data(tmp_path):
    config = tmp_path / "feeds.yaml"
    feeds = "".join(f"  - name: F{i}\n    url: http://127.0.0.1:9/{i}\n" for i in range(4))
    config.write_text(f"feeds:\n{feeds}watch: []\n")
    result = run("-c", str(config), "poll", "--once")
    assert result.returncode == 0
    # every feed failed the same way: said once, not four times
    assert "  failed: F" not in result.stdout
    [line] = [line for line in result.stdout.splitlines() if "every feed failed" in line]
    assert line.startswith("  every feed failed: connection refused (e.g. F")
    status = run("-c", str(config), "status")
    assert "4 feeds · data as of never" in status.stdout


def test_every_feed_failing_to_resolve_suggests_no_network():
    from monitor.poll import PollSummary

    errors = [
        (f"F{i}", f"could not resolve host h{i}.example (Name or service not known)")
        for i in range(34)
    ]
    summary = PollSummary(failed=34, errors=errors)
    lines = console.failure_lines(summary)
    assert lines == [
        "  every feed failed: could not resolve the host names "
        "(e.g. F0: could not resolve host h0.example (Name or service not known)); no network?"
    ]
    mixed = PollSummary(failed=2, errors=[("A", "HTTP 503"), ("B", "HTTP 404")])
    assert console.failure_lines(mixed) == ["  failed: A: HTTP 503", "  failed: B: HTTP 404"]


def test_mentions_by_period_are_in_time_order(tmp_path, capsys):
    with FeedServer() as server:
        server.feed(
            "/a",
            rss(
                item("Bukele", "http://a.example/1", NOW - timedelta(days=2)),
                item("Bukele, Bukele, Bukele and CECOT", "http://a.example/2", NOW),
            ),
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"feeds:\n  - name: A\n    url: {server.url('/a')}\n"
            "watch:\n  - name: Bukele\n    kind: person\n  - name: CECOT\n    kind: topic\n"
        )
        assert run("-c", str(config), "poll", "--once").returncode == 0
    assert main(["-c", str(config), "mentions", "--by", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    days = [(NOW - timedelta(days=d)).strftime("%Y-%m-%d") for d in (2, 0)]
    assert [(r["period"], r["entity"], r["mentions"]) for r in rows] == [
        (days[0], "Bukele", 1),
        (days[1], "Bukele", 3),
        (days[1], "CECOT", 1),
    ]


# --------------------------------------------------------------------------------------------
# The store's health: check, repair, damage while polling, a read-only store


def store_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.parquet")}


def test_check_and_repair_a_store_that_lost_its_manifest(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    result = run("-c", str(world), "check")
    assert result.returncode == 0 and "healthy" in result.stdout, result.stdout
    mentions = run("-c", str(world), "mentions", "--format", "json").stdout
    root = world.parent / "store"
    before = store_files(root)
    (root / "manifest.json").unlink()

    for command in (["poll", "--once"], ["mentions"], ["status"], ["rematch"]):
        result = run("-c", str(world), *command)
        assert result.returncode == 2, command
        [line] = result.stderr.strip().splitlines()
        assert "damaged" in line and "monitor repair" in line, line
    assert store_files(root) == before  # nothing deleted, nothing started afresh

    result = run("-c", str(world), "check")
    assert result.returncode == 2
    assert "problem: manifest.json: missing, but the table folders hold" in result.stdout
    result = run("-c", str(world), "check", "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["healthy"] is False and report["problems"][0]["kind"] == "manifest"

    result = run("-c", str(world), "repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "manifest.json is missing" in result.stdout and "recounted mentions" in result.stdout
    assert result.stdout.strip().endswith("healthy")
    assert run("-c", str(world), "mentions", "--format", "json").stdout == mentions
    result = run("-c", str(world), "check", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout)["healthy"] is True
    assert run("-c", str(world), "poll", "--once").returncode == 0


def test_a_damaged_file_is_quarantined_while_polling_and_reported(world):
    assert run("-c", str(world), "poll", "--once").returncode == 0
    root = world.parent / "store"
    manifest = json.loads((root / "manifest.json").read_text())
    bad = manifest["tables"]["articles"][0]["path"]
    (root / bad).write_bytes(b"PAR1 [/bold] not parquet any more")

    result = run("-c", str(world), "articles")
    assert result.returncode == 2
    assert bad in result.stderr and "Traceback" not in result.stderr

    result = run("-c", str(world), "poll", "--once")
    assert result.returncode == 0, result.stderr  # the poller carries on
    assert f"store: {bad} is damaged" in result.stderr
    assert (root / "quarantine" / bad).read_bytes() == b"PAR1 [/bold] not parquet any more"
    # its articles are lost, so their mentions were recounted away (no count without articles)
    assert json.loads(run("-c", str(world), "mentions", "--format", "json").stdout) == []

    result = run("-c", str(world), "status")
    assert result.returncode == 0
    assert f"store: {bad} was damaged" in result.stdout and "rows lost" in result.stdout
    result = run("-c", str(world), "status", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout)[0]["name"] == "Feed A"
    assert f"store: {bad} was damaged" in result.stderr
    assert run("-c", str(world), "articles").returncode == 0

    result = run("-c", str(world), "check")
    assert result.returncode == 2
    [problem] = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert bad in problem and "quarantined" in problem
    result = run("-c", str(world), "repair")
    assert result.returncode == 0 and "marked 1 earlier quarantined file as seen" in result.stdout
    assert run("-c", str(world), "check").returncode == 0
    result = run("-c", str(world), "status")
    assert "was damaged" not in result.stdout


@pytest.fixture
def readonly_world(world):
    """The world's store after one poll, made read-only; yields a runner that can't write it.

    As root, permissions do not bind: the commands then run as the user "nobody", on a copy of
    the world in a folder that user may read.
    """
    assert run("-c", str(world), "poll", "--once").returncode == 0
    if os.geteuid() != 0:
        root = world.parent / "store"
        paths = [root, *root.rglob("*")]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield world, run
        finally:
            for p in paths:
                p.chmod(0o755 if p.is_dir() else 0o644)
        return
    shared = Path(tempfile.mkdtemp(prefix="monitor-ro-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(world.parent, shared / "w")
        for p in [shared / "w", *(shared / "w").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)

        def run_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
            # setpriv (util-linux): Python's own user= cannot exec this interpreter here
            drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            return subprocess.run(
                [*drop, sys.executable, "-m", "monitor.cli", *args],
                capture_output=True,
                text=True,
                env={**os.environ, "HOME": str(shared), "PYTHONPATH": str(REPO)},
                cwd=shared,
                timeout=120,
            )

        yield shared / "w" / world.name, run_as_nobody
    finally:
        shutil.rmtree(shared)


def test_a_read_only_store_can_be_read_but_not_polled(readonly_world):
    config, run_ro = readonly_world
    for command in (["poll", "--once"], ["rematch"], ["repair"]):
        result = run_ro("-c", str(config), *command)
        assert result.returncode == 2, (command, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert "cannot write to the store" in line and "read-only" in line, line
    for command in (["status"], ["mentions"], ["articles"], ["check"]):
        result = run_ro("-c", str(config), *command)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_mentions_with_tone_and_rising_names(tmp_path, capsys):
    """The tone of mentions and the names nobody watches, from a real poll."""
    day = NOW - timedelta(days=1)
    items = "".join(
        item(title, f"http://n.example/{i}", day - timedelta(hours=i)).replace(
            "<description>Body.</description>", f"<description>{text}</description>"
        )
        for i, (title, text) in enumerate(
            [
                ("Bukele praised", "Kristi Noem praised Bukele for a great, safe success."),
                (
                    "CECOT abuse",
                    "Rights groups condemned horrific abuse at CECOT, Kristi Noem said.",
                ),
                ("Visit", "Marco Rubio visited CECOT."),
            ]
        )
    )
    with FeedServer() as server:
        server.feed(
            "/n", f"<rss version='2.0'><channel><title>N</title>{items}</channel></rss>".encode()
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"store: store\nfeeds:\n  - name: N\n    url: {server.url('/n')}\nwatch:\n"
            "  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
            "  - name: CECOT\n    kind: topic\n"
        )
        assert main(["-c", str(config), "poll", "--once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "mentions", "--with-tone", "--format", "json"]) == 0
    tone = {r["entity"]: r["tone"] for r in json.loads(capsys.readouterr().out)}
    assert tone["Nayib Bukele"] > 0.5 and -1 <= tone["CECOT"] < 0
    assert main(["-c", str(config), "names", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "name": "Kristi Noem", "articles": 2, "previous": 0, "growth": None,
        "with": ["CECOT", "Nayib Bukele"],
    }  # fmt: skip
    assert [r["name"] for r in rows] == ["Kristi Noem", "Marco Rubio"]
    assert main(["-c", str(config), "names", "--limit", "1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name,articles,previous,growth,with",
        "Kristi Noem,2,0,,CECOT; Nayib Bukele",
    ]
    assert main(["-c", str(config), "names"]) == 0
    assert "new" in capsys.readouterr().out
    assert main(["-c", str(config), "rematch", "--no-tone"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "mentions", "--with-tone", "--format", "json"]) == 0
    assert all(r["tone"] is None for r in json.loads(capsys.readouterr().out))
