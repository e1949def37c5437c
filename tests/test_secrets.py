"""Secrets in feed URLs: never printed, stored or shown; only the fetcher sees them.

Unit tests of monitor/secrets.py and of what feeds.yaml accepts, then the whole product
against a local server that asks for basic auth and a key: every byte of the store, and what
`poll --once`, `status` and `validate` print, is searched for the secrets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from monitor.config import FeedConfig, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.fetch import Fetcher
from monitor.models import FetchRequest
from monitor.poll import Poller
from monitor.secrets import (
    expand_env,
    is_secret_name,
    malformed_env_reference,
    missing_env,
    redact_broken_url,
    redact_text,
    redact_url,
    url_secrets,
    without_userinfo,
)
from monitor.store import Store
from tests.feedserver import Exchange, FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)

# -- redact_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:s3cret@host/feed", "http://***@host/feed"),
        ("https://TOKEN123@host/feed", "https://***@host/feed"),  # a key as the user name
        ("https://user:p%40ss@host:8443/x", "https://***@host:8443/x"),
        ("https://user:p@ss@host/x", "https://***@host/x"),  # the last @ ends the user info
        ("https://h/rss?token=abc&page=2", "https://h/rss?token=***&page=2"),
        ("https://h/rss?page=2&TOKEN=abc", "https://h/rss?page=2&TOKEN=***"),
        (
            "https://h/rss?apiKey=1&api_key=2&api-key=3",
            "https://h/rss?apiKey=***&api_key=***&api-key=***",
        ),
        ("https://h/rss?access_token=a&sig=b", "https://h/rss?access_token=***&sig=***"),
        (
            "https://h/r?X-Amz-Signature=a&X-Amz-Credential=b",
            "https://h/r?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("https://h/r?secret=a&password=b&key=c", "https://h/r?secret=***&password=***&key=***"),
        ("https://h/r?feed_token=a&private-key=b", "https://h/r?feed_token=***&private-key=***"),
        ("https://h/r#access_token=abc&x=1", "https://h/r#access_token=***&x=1"),
        ("https://h/rss?token=${FEED_TOKEN}", "https://h/rss?token=***"),
        ("https://${USER}:${PASS}@h/rss", "https://***@h/rss"),
    ],
)
def test_redact_url_hides_user_info_and_keys(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/world/rss.xml",
        "http://127.0.0.1:8080/a?b=1&c=2",
        "https://medium.com/feed/@someone",  # an @ in the path is not user info
        "https://h/rss?",  # kept character for character: no re-encoding, no normalizing
        "https://H/rss/?q=a%20b&&x",
        "https://h/rss?token=",  # nothing to hide
        "https://[::1]:8080/feed",
        "https://h/feeds/${FEED_ID}/rss",  # a reference outside the user info and keys stays
        "https://h/r?monkey_business=1&keyboard=2&q=token",
        "not a url at all",
        "",
    ],
)
def test_a_url_without_secrets_is_its_own_key(url):
    assert redact_url(url) == url
    assert FeedConfig("x", url).key == url


def test_secret_names():
    for name in ("token", "Token", "KEY", "apikey", "API_KEY", "access_token", "sig", "auth"):
        assert is_secret_name(name), name
    for name in ("page", "q", "format", "category", "id", "lang", "keyboard"):
        assert not is_secret_name(name), name


def test_redact_text_hides_urls_and_given_values_everywhere():
    text = (
        "HTTP 401 invalid key k3yValue (http://bob:pw12@h/x?token=t0ken) "
        "see URL('https://h/y?sig=abc123')"
    )
    shown = redact_text(text, ["k3yValue"])
    assert shown == (
        "HTTP 401 invalid key *** (http://***@h/x?token=***) see URL('https://h/y?sig=***')"
    )
    assert redact_text("a bc def", ["bc"]) == "a bc def"  # too short to hunt for in text


def test_url_secrets_and_helpers():
    assert url_secrets("http://al:p%40ss@h/x?token=t%2B1&q=2") == [
        "al",
        "p%40ss",
        base64.b64encode(b"al:p@ss").decode(),  # what goes out as Authorization: Basic ...
        "t%2B1",
        "p@ss",
        "t+1",
    ]
    assert without_userinfo("http://u:p@h:1/x?y") == "http://h:1/x?y"
    assert without_userinfo("http://h/x@y") == "http://h/x@y"
    assert redact_broken_url("http://user:pa/ss@host/x") == "http://***@host/x"


def test_environment_references():
    env = {"A": "1", "B": "two"}
    assert expand_env("http://h/${A}/${B}?x=${A}", env) == "http://h/1/two?x=1"
    assert missing_env("http://h/${A}/${C}/${D}", env) == ["C", "D"]
    assert missing_env("http://h/${A}", {"A": ""}) == ["A"]  # empty counts as not set
    with pytest.raises(KeyError, match="C"):
        expand_env("http://h/${C}", env)
    assert malformed_env_reference("http://h/${A}") is None
    assert malformed_env_reference("http://h/$A/${A-B}/x") == "${A-B}"
    assert malformed_env_reference("http://h/${") == "${"


# -- feeds.yaml ------------------------------------------------------------------------------


def config_file(tmp_path: Path, *urls: str) -> Path:
    lines = ["feeds:"]
    for i, url in enumerate(urls):
        lines += [f"  - name: F{i}", f"    url: {url}"]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\nwatch: []\n")
    return path


def issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(i) for i in caught.value.issues]


def test_a_missing_variable_is_a_config_error_with_line_and_hint(tmp_path, monkeypatch):
    monkeypatch.delenv("MM_TEST_TOKEN", raising=False)
    monkeypatch.delenv("MM_TEST_USER", raising=False)
    path = config_file(
        tmp_path, "https://h/a", "https://${MM_TEST_USER}@h/b?token=${MM_TEST_TOKEN}"
    )
    (line,) = issues(path)
    assert line.endswith(
        "feeds.yaml:5: feeds[1].url: environment variables MM_TEST_USER, MM_TEST_TOKEN are "
        "not set (export MM_TEST_USER=... in the shell or service that runs monitor)"
    )
    monkeypatch.setenv("MM_TEST_TOKEN", "t0kenValue")
    monkeypatch.setenv("MM_TEST_USER", "u5er")
    config = load_config(path)
    feed = config.feeds[1]
    assert feed.url == "https://${MM_TEST_USER}@h/b?token=${MM_TEST_TOKEN}"
    assert feed.key == "https://***@h/b?token=***"
    assert feed.fetch_url() == "https://u5er@h/b?token=t0kenValue"
    monkeypatch.delenv("MM_TEST_TOKEN")
    with pytest.raises(MonitorError, match="MM_TEST_TOKEN is not set"):
        feed.fetch_url()


def test_a_malformed_reference_is_a_config_error(tmp_path):
    (line,) = issues(config_file(tmp_path, "https://h/a?token=${MY-TOKEN}"))
    assert 'feeds[0].url: not an environment variable reference: "${MY-TOKEN}"' in line


def test_messages_never_show_a_password_or_a_variable_value(tmp_path, monkeypatch):
    monkeypatch.setenv("MM_TEST_HOSTPART", "bad host value")
    path = config_file(
        tmp_path,
        "http://user:s3cretPass@host:notaport/feed",
        "http://user:pa/s3cretPass@host/x",  # an unencoded / in the password
        "https://h/${MM_TEST_HOSTPART}",
    )
    found = issues(path)
    assert len(found) == 3
    text = "\n".join(found)
    assert "s3cretPass" not in text and "bad host value" not in text
    assert 'not an http(s) URL: "http://***@host:notaport/feed"' in found[0]
    assert "percent-encode" in found[1]
    assert "once its variables are filled in" in found[2] and "$MM_TEST_HOSTPART" in found[2]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://alice:one@h/feed", "http://alice:two@h/feed"),
        ("http://h/feed?token=one", "http://h/feed?token=two"),
        ("http://h/feed?token=${MM_A}", "http://h/feed?token=${MM_B}"),
        ("http://bob:x@h/feed", "http://carol:x@h/feed"),
    ],
)
def test_feeds_that_differ_only_in_a_secret_are_a_config_error(
    tmp_path, monkeypatch, first, second
):
    monkeypatch.setenv("MM_A", "FirstPw")
    monkeypatch.setenv("MM_B", "SecondPw")
    (line,) = issues(config_file(tmp_path, first, second))
    assert 'feeds[1].url: same URL as feeds[0] ("F0") apart from its password or key' in line
    assert "FirstPw" not in line and "SecondPw" not in line
    assert line.endswith("so these two would be mixed up; keep one (the other: line 3)")


def test_the_key_of_a_plain_url_and_its_entry_hash_are_unchanged():
    feed = FeedConfig("A", "https://example.org/rss", ("t",))
    assert feed.key == feed.url
    settings = {"url": feed.url, "name": "A", "tags": ["t"], "every": None, "enabled": True}
    before = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    assert feed.entry_hash == before  # as stored by earlier versions: gone flags still hold
    a = FeedConfig("A", "https://u:one@example.org/rss")
    b = FeedConfig("A", "https://u:two@example.org/rss")
    assert a.entry_hash == b.entry_hash  # built on the key: no hash of a password is stored


# -- the fetcher -----------------------------------------------------------------------------

USER, PASSWORD = "alice7user", "s3cretPass"
ENV_USER, ENV_PASSWORD = "bob7user", "envPassw0rd"
TOKEN = "tok3nValue42"
SECRETS = (
    USER,
    PASSWORD,
    ENV_USER,
    ENV_PASSWORD,
    TOKEN,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),  # sent as Authorization: Basic
    base64.b64encode(f"{ENV_USER}:{ENV_PASSWORD}".encode()).decode(),
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>CECOT story {i}</title><link>{link}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(hours=i + 1))}</pubDate></item>"
        for i, link in enumerate(links)
    )
    return f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()


def refuse(ex: Exchange, reason: str) -> None:
    """A 401 whose reason phrase echoes what the client sent (some APIs do)."""
    ex.send_response(401, reason)
    ex.send_header("WWW-Authenticate", 'Basic realm="feeds"')
    ex.send_header("Content-Length", "0")
    ex.end_headers()


def authed(body: bytes, *accounts: tuple[str, str], status: int = 200, location: str = ""):
    """A route answering only requests with basic auth for one of the accounts."""

    def answer(ex: Exchange) -> None:
        got = ex.request_headers.get("authorization", "")
        if got not in {basic(u, p) for u, p in accounts}:
            refuse(ex, f"bad credentials {got}")
            return
        headers = {"Content-Type": "application/rss+xml"}
        if location:
            headers["Location"] = location
        ex.respond(status, body, headers)

    return answer


def keyed(body: bytes):
    """A route answering only ?token=TOKEN, echoing a wrong query in its reason phrase."""

    def answer(ex: Exchange) -> None:
        token = re.search(r"token=([^&]*)", ex.path)
        if token is None or token.group(1) != TOKEN:
            refuse(ex, f"invalid request {ex.path.partition('?')[2]}")
            return
        ex.respond(200, body, {"Content-Type": "application/rss+xml"})

    return answer


@pytest.fixture
def server():
    with FeedServer() as running:
        both = ((USER, PASSWORD), (ENV_USER, ENV_PASSWORD))
        running.handle("/private/feed", authed(rss("/story/1", "story/2"), *both))
        running.handle("/private/feed2", authed(rss("/story/3"), *both))
        running.handle("/private/old", authed(b"", *both, status=301, location="/private/feed"))
        running.handle("/private/hop", authed(b"", *both, status=302, location="/private/broken"))
        running.handle("/private/broken", authed(b"oops", *both, status=500))
        running.handle("/private/wrong", authed(b"", ("nobody", "nothing")))
        running.handle("/api/feed", keyed(rss("http://a.example/api-story")))
        running.handle("/api/wrong", keyed(b""))
        yield running


def test_the_fetcher_sends_credentials_and_returns_none(server):
    secret_url = server.url("/private/old").replace("http://", f"http://{USER}:{PASSWORD}@")

    async def go():
        async with Fetcher(timeout=2) as fetcher:
            return await fetcher.fetch(FetchRequest(secret_url))

    result = asyncio.run(go())
    assert result.outcome == "ok" and result.body  # credentials sent, redirect followed
    assert all(r.headers.get("authorization") == basic(USER, PASSWORD) for r in server.requests)
    shown = server.url("/private/feed").replace("http://", "http://***@")
    assert result.moved_to == result.final_url == shown
    assert result.url == server.url("/private/old").replace("http://", "http://***@")
    assert PASSWORD not in repr(result) and USER not in repr(result)


def test_fetch_errors_hide_the_request_secrets(server):
    hop = server.url("/private/hop").replace("http://", f"http://{USER}:{PASSWORD}@")
    wrong = server.url("/api/wrong") + f"?token={TOKEN}x"  # not the one the server wants
    env_wrong = server.url("/api/wrong") + "?lang=" + ENV_PASSWORD  # e.g. from ${VAR}

    async def go():
        async with Fetcher(timeout=2) as fetcher:
            return [
                await fetcher.fetch(FetchRequest(hop)),
                await fetcher.fetch(FetchRequest(wrong)),
                await fetcher.fetch(FetchRequest(env_wrong, secrets=(ENV_PASSWORD,))),
            ]

    failed_hop, wrong_token, wrong_env = asyncio.run(go())
    assert failed_hop.error == (
        "HTTP 500 Internal Server Error ("
        + server.url("/private/broken").replace("http://", "http://***@")
        + ")"
    )
    assert wrong_token.error == "HTTP 401 invalid request token=***"
    assert wrong_env.error == "HTTP 401 invalid request lang=***"
    for result in (failed_hop, wrong_token, wrong_env):
        for secret in SECRETS:
            assert secret not in result.error
            if secret != ENV_PASSWORD:  # a value outside user info and keys: part of the URL
                assert secret not in f"{result.url} {result.final_url}"


# -- the whole product -----------------------------------------------------------------------


def write_secret_config(tmp_path: Path, server: FeedServer) -> Path:
    def with_user(path: str, userinfo: str) -> str:
        return server.url(path).replace("http://", f"http://{userinfo}@")

    feeds = [
        ("Literal password", with_user("/private/feed", f"{USER}:{PASSWORD}")),
        ("Password from env", with_user("/private/feed2", "${MM_FEED_USER}:${MM_FEED_PASSWORD}")),
        ("Moved", with_user("/private/old", f"{USER}:{PASSWORD}")),
        ("Fails after a hop", with_user("/private/hop", "${MM_FEED_USER}:${MM_FEED_PASSWORD}")),
        ("Wrong password", with_user("/private/wrong", f"{USER}:{PASSWORD}")),
        ("Token", server.url("/api/feed") + f"?token={TOKEN}&lang=en"),
        ("Token from env", server.url("/api/wrong") + "?format=rss&token=${MM_FEED_PASSWORD}"),
    ]
    lines = ["store: store", "poll:", "  timeout: 2s", "  full_text: false", "feeds:"]
    for name, url in feeds:
        lines += [f"  - name: {name}", f"    url: {url}"]
    lines += ["watch:", "  - name: CECOT", "    kind: topic"]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MM_FEED_USER": ENV_USER,
        "MM_FEED_PASSWORD": ENV_PASSWORD,
        "COLUMNS": "400",  # no wrapping, so a secret cannot hide across two lines
    }
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def flat(text: str) -> str:
    """Text without white space and table borders, so a secret split by wrapping is found."""
    return re.sub(r"[\s│┃║|─━┌┐└┘├┤┬┴┼╭╮╯╰]", "", text)


def assert_hidden(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text and secret not in flat(text), f"{secret!r} found in {where}"


def store_texts(root: Path) -> dict[str, str]:
    """Every file of the store as text: raw bytes, and Parquet files decoded row by row."""
    texts = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        texts[str(path)] = raw.decode("latin-1")
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            texts[f"{path} (rows)"] = json.dumps(rows, default=str)
    return texts


def test_no_secret_reaches_the_store_or_the_output(tmp_path, server, monkeypatch):
    monkeypatch.setenv("MM_FEED_USER", ENV_USER)  # for load_config in this process
    monkeypatch.setenv("MM_FEED_PASSWORD", ENV_PASSWORD)
    config = write_secret_config(tmp_path, server)
    validate = run_cli(config, "validate")
    assert validate.returncode == 0, validate.stderr
    polled = run_cli(config, "poll", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "7 feeds: 4 ok, 0 unchanged, 3 failed" in polled.stdout
    moved = server.url("/private/feed").replace("http://", "http://***@")
    assert f"moved: Moved now lives at {moved}" in polled.stdout

    # the credentials did reach the server, from the URL and from the environment
    seen = {(r.path.split("?")[0], r.headers.get("authorization")) for r in server.requests}
    assert ("/private/feed", basic(USER, PASSWORD)) in seen
    assert ("/private/feed2", basic(ENV_USER, ENV_PASSWORD)) in seen
    assert ("/private/hop", basic(ENV_USER, ENV_PASSWORD)) in seen
    assert any(r.path.endswith(f"token={TOKEN}&lang=en") for r in server.requests)
    assert any(r.path.endswith(f"token={ENV_PASSWORD}") for r in server.requests)

    repolled = run_cli(config, "poll", "--once")  # a second pass: validators, states reused
    table = run_cli(config, "status")
    as_json = run_cli(config, "status", "--format", "json")
    for name, result in [("validate", validate), ("poll", polled), ("poll again", repolled)]:
        assert_hidden(name, result.stdout + result.stderr)
    assert_hidden("status", table.stdout + table.stderr)
    assert_hidden("status --format json", as_json.stdout + as_json.stderr)

    store_root = tmp_path / "store"
    texts = store_texts(store_root)
    assert any(name.endswith("manifest.json") for name in texts)
    assert sum(name.endswith("(rows)") for name in texts) >= 4  # articles, sources, ...
    for name, text in texts.items():
        assert_hidden(name, text)

    # what is shown instead: the keys, the errors and moved_to with secrets hidden
    status = {row["name"]: row for row in json.loads(as_json.stdout)}
    private = server.url("/private/").replace("http://", "http://***@")
    assert status["Literal password"]["url"] == private + "feed"
    assert status["Password from env"]["url"] == private + "feed2"
    assert status["Token"]["url"] == server.url("/api/feed") + "?token=***&lang=en"
    assert status["Token from env"]["url"] == server.url("/api/wrong") + "?format=rss&token=***"
    assert status["Moved"]["moved_to"] == private + "feed"
    assert status["Fails after a hop"]["error"] == (
        f"HTTP 500 Internal Server Error ({private}broken)"
    )
    assert status["Wrong password"]["error"] == "HTTP 401 bad credentials Basic ***"
    assert status["Token from env"]["error"] == "HTTP 401 invalid request format=rss&token=***"
    assert status["Literal password"]["articles"] == 2

    snap = Store(load_config(config).store).snapshot()
    assert set(snap.feeds) == {row["url"] for row in status.values()}
    urls = set(snap.query("SELECT url FROM {articles}")["url"])
    # relative links resolve against the feed's URL without its user info
    assert server.url("/story/1") in urls and server.url("/private/story/2") in urls
    feeds = set(snap.query("SELECT DISTINCT feed FROM {sources}")["feed"])
    assert feeds <= set(snap.feeds) and private + "feed" in feeds


def test_the_poller_stores_keys_and_a_lost_variable_is_that_feeds_error(
    tmp_path, server, monkeypatch
):
    monkeypatch.setenv("MM_FEED_USER", ENV_USER)
    monkeypatch.setenv("MM_FEED_PASSWORD", ENV_PASSWORD)
    config = load_config(write_secret_config(tmp_path, server))
    monkeypatch.delenv("MM_FEED_PASSWORD")  # gone after the config was checked
    summary = asyncio.run(Poller(config).poll_once())
    errors = dict(summary.errors)
    assert errors["Password from env"] == (
        "environment variable MM_FEED_PASSWORD is not set (the url of this feed uses it)"
    )
    assert summary.ok == 3  # the feeds with a literal password or token still work
    snap = Store(config.store).snapshot()
    assert set(snap.feeds) == {f.key for f in config.feeds}
    for name, text in store_texts(config.store).items():
        assert_hidden(name, text)
