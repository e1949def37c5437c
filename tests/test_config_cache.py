"""The cache of checked feeds.yaml files (`load_config(cache=True)`, as `monitor poll` loads).

What it must never change: the Config a load gives, and every error a load reports (with file
and line). What it must never do: keep a secret (a password in a URL, the value of a `${VAR}`,
$MONITOR_STORE), trust a file it did not write (damaged, foreign, another user's), or run
anything a cached file holds.
"""

from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path

import pytest

import monitor.config as config_module
from monitor.config import CACHE_FOLDER, STORE_ENV, load_config
from monitor.errors import ConfigError

FEEDS = """
store: data
poll:
  every: 10m
feeds:
  - name: Plain
    url: https://example.org/feed.xml
    tags: [news]
    every: 1h
  - name: Keyed
    url: https://example.org/private/${FEED_TOKEN}/rss
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele]
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.setenv("FEED_TOKEN", "s3cr3t-token-value")
    monkeypatch.delenv(STORE_ENV, raising=False)
    return folder / CACHE_FOLDER


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files parsed from YAML (a cached load parses none)."""
    seen: list[str] = []
    real = config_module._Document

    def counting(text: str, file: str, **kwargs: object) -> object:
        seen.append(file)
        return real(text, file, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(config_module, "_Document", counting)
    return seen


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def cached_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("config-*.pickle")) if cache.exists() else []


def test_a_file_checked_once_is_loaded_from_the_cache_as_the_same_config(tmp_path, cache, parses):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    fresh = load_config(path)
    first = load_config(path, cache=True)
    assert len(parses) == 2 and len(cached_files(cache)) == 1
    again = load_config(path, cache=True)
    assert len(parses) == 2  # not parsed again
    assert again == first == fresh
    assert again.store == tmp_path / "data" and again.path == path.resolve()
    assert [f.key for f in again.feeds] == [f.key for f in fresh.feeds]
    mode = cached_files(cache)[0].stat().st_mode
    assert mode & 0o077 == 0 and cache.stat().st_mode & 0o077 == 0  # this user's only


def test_any_change_of_the_file_is_a_full_load_with_its_errors_and_lines(tmp_path, cache, parses):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    load_config(path, cache=True)
    path.write_text(path.read_text().replace("every: 1h", "every: often"))
    with pytest.raises(ConfigError) as cached:
        load_config(path, cache=True)
    with pytest.raises(ConfigError) as plain:
        load_config(path)
    assert [str(i) for i in cached.value.issues] == [str(i) for i in plain.value.issues]
    assert str(cached.value.issues[0]).startswith(f"{path}:8: feeds[0].every: expected")
    path.write_text(path.read_text().replace("every: often", "every: 2h"))  # fixed again
    assert load_config(path, cache=True).feeds[0].every.total_seconds() == 7200
    assert load_config(path, cache=True) == load_config(path)
    # parsed: 1 + 2 and 2 (an error: again with the lines) + 1 (fixed) + 0 (cached) + 1 (plain)
    assert len(parses) == 7


def test_the_environment_is_checked_again_at_every_cached_load(tmp_path, cache, monkeypatch):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    load_config(path, cache=True)
    monkeypatch.delenv("FEED_TOKEN")
    with pytest.raises(ConfigError) as caught:
        load_config(path, cache=True)
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:10: feeds[1].url: environment variable FEED_TOKEN is not set "
        "(export FEED_TOKEN=... in the shell or service that runs monitor)"
    ]
    with pytest.raises(ConfigError) as plain:
        load_config(path)
    assert caught.value.issues == plain.value.issues
    monkeypatch.setenv("FEED_TOKEN", "two words")  # makes the URL no http(s) URL
    with pytest.raises(ConfigError) as caught:
        load_config(path, cache=True)
    assert "not an http(s) URL once its variables are filled in" in str(caught.value)
    monkeypatch.setenv("FEED_TOKEN", "another-token")
    assert load_config(path, cache=True).feeds[1].fetch_url().endswith("/another-token/rss")


def test_the_store_from_the_environment_is_never_cached_and_always_current(
    tmp_path, cache, monkeypatch
):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    monkeypatch.setenv(STORE_ENV, "postgresql://poller:db-pa55word@db.example.org/news")
    assert load_config(path, cache=True).store == os.environ[STORE_ENV]
    assert load_config(path, cache=True).store == os.environ[STORE_ENV]  # from the cache
    monkeypatch.setenv(STORE_ENV, "elsewhere")
    monkeypatch.chdir(tmp_path)
    assert load_config(path, cache=True).store == tmp_path / "elsewhere"
    monkeypatch.setenv(STORE_ENV, "mysql://x@y/z")
    with pytest.raises(ConfigError) as caught:
        load_config(path, cache=True)
    assert str(caught.value).startswith(f"${STORE_ENV}: ")
    monkeypatch.delenv(STORE_ENV)
    assert load_config(path, cache=True).store == tmp_path / "data"
    written = b"".join(p.read_bytes() for p in cached_files(cache))
    assert b"db-pa55word" not in written and b"s3cr3t-token-value" not in written
    assert b"${FEED_TOKEN}" in written  # the reference as written, never its value


@pytest.mark.parametrize(
    "extra",
    [
        "  - name: Paid\n    url: https://reader:hunter2@example.net/feed\n",
        "  - name: Keyed\n    url: https://example.net/feed?api_key=hunter2\n",
        "notify:\n  desk: [json://localhost:9/hook]\n",
        "dashboard:\n  url: https://${DASH_HOST}/\n",
    ],
)
def test_a_config_that_may_hold_a_secret_is_never_cached(tmp_path, cache, monkeypatch, extra):
    monkeypatch.setenv("DASH_HOST", "dash.example.org")
    text = textwrap.dedent(FEEDS).lstrip("\n")
    if extra.startswith("  - "):
        text = text.replace("watch:\n", extra + "watch:\n")
    else:
        text += extra
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    config = load_config(path, cache=True)
    assert load_config(path, cache=True) == config == load_config(path)
    assert cached_files(cache) == []


def corrupt_in_place(file: Path, how: str) -> None:
    data = file.read_bytes()
    if how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif how == "one byte changed":
        file.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif how == "garbage":
        file.write_bytes(os.urandom(len(data)))
    elif how == "empty":
        file.write_bytes(b"")
    elif how == "writable by others":
        file.chmod(0o666)


@pytest.mark.parametrize(
    "how", ["truncated", "one byte changed", "garbage", "empty", "writable by others"]
)
def test_a_damaged_cache_is_a_full_load(tmp_path, cache, parses, how):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    expected = load_config(path, cache=True)
    corrupt_in_place(cached_files(cache)[0], how)
    assert load_config(path, cache=True) == expected
    assert len(parses) == 2  # read from the file again
    assert load_config(path, cache=True) == expected  # and cached afresh
    assert len(parses) == 2


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


def test_a_cached_file_that_holds_anything_but_a_config_runs_nothing(
    tmp_path, cache, parses, monkeypatch
):
    """Even with a right key and checksum (someone who could write this user's cache), only
    the config's own classes are unpickled: anything else is refused, then a full load."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "feeds.yaml", FEEDS)
    expected = load_config(path, cache=True)
    file = cached_files(cache)[0]
    payload = pickle.dumps((Boom(), "data"))
    header = file.read_bytes()[: len(config_module._CACHE_MAGIC) + 32]
    file.write_bytes(header + config_module.hashlib.sha256(payload).digest() + payload)
    assert load_config(path, cache=True) == expected
    assert not (tmp_path / "pwned").exists()
    assert len(parses) == 2


def test_no_cache_folder_to_be_had_is_no_cache(tmp_path, monkeypatch, parses):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setenv("FEED_TOKEN", "t")
    path = write(tmp_path / "feeds.yaml", FEEDS)
    assert load_config(path, cache=True) == load_config(path, cache=True) == load_config(path)
    assert len(parses) == 3


def test_another_version_of_the_checking_code_is_a_miss(tmp_path, cache, parses, monkeypatch):
    path = write(tmp_path / "feeds.yaml", FEEDS)
    load_config(path, cache=True)
    load_config(path, cache=True)
    assert len(parses) == 1
    real = config_module._code_stamp()
    assert [Path(f).name for f, _, _ in real] == list(config_module._CHECKING_MODULES)
    assert all(size > 0 for _, size, _ in real)
    monkeypatch.setattr(config_module, "_code_stamp", lambda: (*real[:-1], ("access.py", 1, 2)))
    load_config(path, cache=True)
    assert len(parses) == 2
