"""feeds.yaml -> typed `Config`, with every problem reported at once; and OPML import.

`load_config` reads the file (a regular file of at most 5 MB), parses it with libyaml's event
stream into plain values plus the line of every key and item, checks those against small
schemas that forbid unknown keys, and reports each problem with its line, in plain words and
with a hint where one helps:

    feeds.yaml:6: feeds[1].every: expected a duration like 15m or 2h, got "often"

Checks across entries (duplicate feed URLs, a name claimed by two entities) run on the entries
that are valid on their own, so one pass reports everything. The result is plain frozen
dataclasses. The schema checks are written here rather than with a validation library: they
are ~20 keys, and importing pydantic alone cost more than the whole of `monitor validate`
may take (issue 14: 0.25 s). YAML aliases may repeat at most MAX_ALIAS_VALUES values.

`import_opml` appends the feeds of an OPML file to feeds.yaml, keeping its comments (it uses
ruamel.yaml's round-trip writer and lxml, imported only there); `watch_name` appends an
entity to its watchlist with the same writer (the dashboard's Discover page).

Left to others: polling, fetching and matching (this module only describes what to do), the
store's layout (`Config.store` is only a folder path or a database URL: `$MONITOR_STORE` when
set), and how errors are shown (the CLI prints `str(issue)`, the dashboard shows them).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import difflib
import hashlib
import html.entities
import io
import json
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.errors import ConfigError, ConfigIssue, MonitorError, OpmlError
from monitor.models import ENTITY_KINDS, Entity
from monitor.secrets import (
    env_names,
    env_values,
    expand_env,
    malformed_env_reference,
    missing_env,
    redact_broken_url,
    redact_url,
)

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

CONFIG_ENV = "MONITOR_CONFIG"
STORE_ENV = "MONITOR_STORE"  # overrides `store:`, so that a database password stays out of the file
DATABASE_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_CONFIG = "feeds.yaml"

# --------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class PollSettings:
    every: timedelta = timedelta(minutes=15)  # default interval between polls of one feed
    timeout: timedelta = timedelta(seconds=20)  # connect/read timeout
    max_bytes: int = 10 * 1024 * 1024  # response size cap
    per_host: int = 2  # concurrent fetches per host
    concurrency: int = 16  # concurrent fetches in all
    # read each new article's page and count mentions on its text (None: when the feed's
    # entries carry little text; see monitor.pages.wants_full_text)
    full_text: bool | None = None


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    tags: tuple[str, ...] = ()
    every: timedelta | None = None
    enabled: bool = True
    full_text: bool | None = None  # this feed's own `full_text` (None: the poll: setting)

    def interval(self, default: timedelta) -> timedelta:
        """Time between polls of this feed: its own `every`, else the default."""
        return self.every if self.every is not None else default

    @cached_property
    def key(self) -> str:
        """How the store, status and dashboard know this feed: the URL as written in
        feeds.yaml with its secrets hidden (`secrets.redact_url`; `${VAR}` kept as written).
        A URL without secrets is its own key."""
        return redact_url(self.url)

    def fetch_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The URL to fetch, `${VAR}` filled in from the environment: for the fetcher only."""
        try:
            return expand_env(self.url, os.environ if environ is None else environ)
        except KeyError as exc:
            raise MonitorError(
                f"environment variable {exc.args[0]} is not set (the url of this feed uses it)"
            ) from None

    def env_values(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """The values of this feed's `${VAR}` references, to be hidden wherever they appear."""
        return env_values(self.url, os.environ if environ is None else environ)

    @property
    def entry_hash(self) -> str:
        """Short stable hash of this entry's settings; changes when the user edits the entry.

        Built on `key`, not the URL, so that no hash of a password lands in the store."""
        every = self.every.total_seconds() if self.every is not None else None
        settings = {
            "url": self.key,
            "name": self.name,
            "tags": list(self.tags),
            "every": every,
            "enabled": self.enabled,
        }
        payload = json.dumps(settings, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Config:
    path: Path  # the config file, absolute
    # an absolute folder (the embedded store) or a postgresql:// URL, from $MONITOR_STORE when
    # set (then it may hold a password: show `store_label`, never this)
    store: Path | str
    poll: PollSettings = field(default_factory=PollSettings)
    feeds: list[FeedConfig] = field(default_factory=list)
    watch: list[Entity] = field(default_factory=list)
    # alerts, digests and where they go (see "Alerts, digests, ..." at the end of this file)
    notify: dict[str, tuple[str, ...]] = field(default_factory=dict)
    alerts: list[AlertRule] = field(default_factory=list)
    digests: list[DigestConfig] = field(default_factory=list)
    dashboard: DashboardSettings = field(default_factory=lambda: DashboardSettings())

    @property
    def store_label(self) -> str:
        """How to show the store to people: its folder, or its URL with any password hidden."""
        return redact_url(self.store) if isinstance(self.store, str) else str(self.store)


@dataclass
class OpmlReport:
    added: list[str] = field(default_factory=list)  # URLs added to feeds.yaml
    added_names: list[str] = field(default_factory=list)  # their names, in the same order
    skipped: list[str] = field(default_factory=list)  # URLs already there, repeated, or not http(s)
    reasons: list[str] = field(default_factory=list)  # why each of `skipped` was skipped


# --------------------------------------------------------------------------------------------
# Public functions


def resolve_config_path(arg: str | None) -> Path:
    """The config file to use: `arg`, else $MONITOR_CONFIG, else ./feeds.yaml."""
    if arg:
        return Path(arg)
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    return Path(from_env) if from_env else Path(DEFAULT_CONFIG)


def load_config(path: Path | str) -> Config:
    """Read and check feeds.yaml; raise ConfigError listing every problem found."""
    path = Path(path)
    file = str(path)
    return _Checker(_Document(_read_text(path, file), file)).build(path)


def file_stamp(path: Path | str) -> tuple[int, int] | None:
    """(modification time in ns, size) of a file, or None when it cannot be read: a cheap
    way to tell that feeds.yaml has not changed since it was last loaded."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """`90s`, `15m`, `2h`, `1d`, `1h30m` -> timedelta; raises ValueProblem (a ValueError)."""
    if isinstance(value, timedelta):
        return value
    expected = "expected a duration like 15m or 2h"
    if isinstance(value, str) and value.strip().isdigit():
        raise ValueProblem(f"{expected}, got {_show(value)}", "add a unit: s, m, h or d")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueProblem(f"{expected}, got {_show(value)}", "add a unit: s, m, h or d")
    if not isinstance(value, str):
        raise ValueProblem(f"{expected}, got {_show(value)}")
    text = re.sub(r"\s+", "", value).lower()
    parts = _DURATION_PART.findall(text)
    units = [unit for _, unit in parts]
    if not parts or "".join(n + u for n, u in parts) != text or len(set(units)) != len(units):
        raise ValueProblem(f"{expected}, got {_show(value)}")
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if seconds > _MAX_DURATION:  # also keeps timedelta and the clock's arithmetic in range
        raise ValueProblem(f"{expected}, got {_show(value)}: too long", "at most 3650d")
    return timedelta(seconds=seconds)


def parse_size(value: str | int) -> int:
    """`10MB`, `512KB`, `1GB`, `2048` -> bytes (binary units: 1KB = 1024 bytes)."""
    expected = "expected a size like 10MB or 512KB, or a number of bytes"
    if isinstance(value, int) and not isinstance(value, bool):
        if value > _MAX_SIZE:
            raise ValueProblem(f"{expected}, got {_show(value)}: too large", "at most 1024GB")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueProblem(f"{expected}, got {_show(value)}")
    number, unit = match.groups()
    if len(number) > 20:  # float() of hundreds of digits is inf
        raise ValueProblem(f"{expected}, got {_show(value)}: too large", "at most 1024GB")
    size = int(float(number) * _SIZE_UNITS[(unit or "b").lower()[0]])
    if size > _MAX_SIZE:
        raise ValueProblem(f"{expected}, got {_show(value)}: too large", "at most 1024GB")
    return size


def import_opml(opml: Path | str, config: Path | str) -> OpmlReport:
    """Add the feeds of an OPML file to feeds.yaml, keeping its comments and layout.

    Feeds whose URL is already in feeds.yaml (or earlier in the OPML), non-http(s) URLs, URLs
    with control characters and URLs with `${VAR}` references (which would send the value of
    a variable of this machine wherever the OPML file says) are skipped. The config must load
    before the import and still loads after it.
    """
    opml, config = Path(opml), Path(config)
    found = _read_opml(opml)
    known = {_url_key(feed.url) for feed in load_config(config).feeds} if config.exists() else set()
    report, new_items = OpmlReport(), []
    in_opml: set[str] = set()
    for feed in found:
        key = _url_key(feed.url)
        if "${" in feed.url:  # else an OPML file from anywhere picks what the poller sends out
            why = "holds a ${VAR} reference: an OPML file may not read your environment"
        elif _HAS_CONTROL(feed.url):
            why = "a control character in the URL"
        elif not _is_usable_url(feed.url):
            why = "not an http(s) URL"
        elif key in in_opml:
            why = "repeated in the OPML file"
        elif key in known:
            why = f"already in {config.name}"
        else:
            why = ""
        if why:
            report.skipped.append(feed.url)
            report.reasons.append(why)
            continue
        known.add(key)
        in_opml.add(key)
        report.added.append(feed.url)
        report.added_names.append(feed.name)
        new_items.append(feed)
    if new_items:
        _append_feeds(config, new_items)
    return report


# --------------------------------------------------------------------------------------------
# Values: durations, sizes, URLs, names


class ValueProblem(ValueError):
    """A value that cannot be used, described for the user (`what`) with an optional hint."""

    def __init__(self, what: str, hint: str = ""):
        self.what, self.hint = what, hint
        super().__init__(f"{what} ({hint})" if hint else what)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_MAX_DURATION = 3650 * 86400  # ten years: longer is a typo, and overflows date arithmetic
_MAX_SIZE = 1024**4


def _positive_duration(value: Any) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueProblem(f"must be longer than zero, got {_show(value)}")
    return duration


def _positive_size(value: Any) -> int:
    size = parse_size(value)
    if size < 1:
        raise ValueProblem(f"must be at least 1 byte, got {_show(value)}")
    return size


# Most feed URLs are plain (scheme, host, port, path): a regex says yes to those, and urlsplit
# (~5 µs a call, most of the time it takes to check 60,000 feeds) judges the rest.
_PLAIN_HTTP_URL = re.compile(r"(?i:https?)://[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(?:[/?#]\S*)?")
_URL_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_HAS_TAB_OR_NEWLINE = re.compile(r"[\t\r\n]").search


def _is_http_url(url: str) -> bool:
    plain = _PLAIN_HTTP_URL.fullmatch(url.strip())
    if plain and (plain.group(1) is None or int(plain.group(1)) <= 65535):
        return True
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_HAS_SPACE = re.compile(r"\s").search
# Control characters (C0, DEL, C1) and invisible format ones (zero-width space, bidirectional
# marks and overrides: a URL reading as another on screen). Never in a URL: percent-encode
# them. ZWNJ and ZWJ (U+200C, U+200D) stay allowed: Persian and Indic domain names written
# in Unicode use them.
_HAS_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
).search
_HAS_ALNUM = re.compile(r"[^\W_]").search  # a letter or digit of any script


def _check_url(value: str) -> str:
    """An http(s) URL, `${VAR}` references set; messages never show a secret or a value."""
    url = value.strip()
    real = url
    if "${" in url:
        bad = malformed_env_reference(url)
        if bad is not None:
            hint = "write ${NAME}, the name made of letters, digits and _"
            raise ValueProblem(f"not an environment variable reference: {_show(bad)}", hint)
        missing = missing_env(url, os.environ)
        if missing:
            what = f"environment variable {missing[0]} is not set"
            if len(missing) > 1:
                what = f"environment variables {', '.join(missing)} are not set"
            hint = f"export {missing[0]}=... in the shell or service that runs monitor"
            raise ValueProblem(what, hint)
        real = expand_env(url, os.environ)
    if _HAS_CONTROL(url) and not _HAS_SPACE(url):
        char = _HAS_CONTROL(url).group()  # type: ignore[union-attr]
        raise ValueProblem(
            f"a control character in the URL (U+{ord(char):04X})",
            "remove it, or percent-encode it if the server really wants it",
        )
    if _is_http_url(real) and not _HAS_SPACE(real):
        return url
    shown, hint = redact_broken_url(url), ""
    if _HAS_SPACE(url):
        hint = "remove the spaces"
    elif shown != redact_url(url):
        hint = "percent-encode / ? # @ in a user name or password (%2F %3F %23 %40)"
    elif real != url:
        hint = "check the values of " + ", ".join(f"${name}" for name in env_names(url))
    elif "://" not in url and "." in url.split("/")[0]:
        hint = f'add the scheme: "https://{shown}"'
    after = " once its variables are filled in" if real != url else ""
    raise ValueProblem(f"not an http(s) URL{after}: {_show(shown)}", hint)


def _is_usable_url(url: str) -> bool:
    """Whether feeds.yaml would accept this URL."""
    try:
        _check_url(url)
    except ValueProblem:
        return False
    return True


def _url_key(url: str) -> str:
    """What makes two feed URLs the same: scheme and host in any case, trailing slash ignored."""
    plain = _URL_PARTS.match(url.strip())
    if plain and not _HAS_TAB_OR_NEWLINE(url):  # what urlsplit would find (it drops those)
        scheme, netloc, path, query = plain.groups()
        query = f"?{query}" if query else ""
        return f"{scheme.lower()}://{netloc.lower()}{path.rstrip('/')}{query}"
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _fold_name(text: str) -> str:
    """Case-, accent- and white-space-insensitive form of a name, to find names claimed twice."""
    if text.isascii():
        return _collapse(text.casefold())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _collapse(bare.casefold())


def _check_name(value: str) -> str:
    name = _collapse(value)
    if not name:
        raise ValueProblem("empty name")
    if not _HAS_ALNUM(name):
        raise ValueProblem(f"no letters or digits in {_show(name)}")
    return name


def _check_text(value: str) -> str:
    text = _collapse(value)
    if not text:
        raise ValueProblem("empty text", "write it, or remove it")
    return text


def _check_store(value: str) -> str:
    if not value.strip():
        raise ValueProblem("empty folder path", "write a folder such as data, or remove the key")
    return _check_store_value(value.strip(), in_file=True)


# libpq's "host=db dbname=news password=..." form: not a folder name anyone means
_CONNINFO = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|sslmode|service)\s*=", re.I
)


def _check_store_value(value: str, *, in_file: bool) -> str:
    """A folder path, or a PostgreSQL URL (with no password when written in feeds.yaml)."""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", value)
    if scheme is None and _CONNINFO.search(value):  # never quoted: it may hold a password
        raise ValueProblem(
            "a PostgreSQL connection string (key=value) is not a store",
            "write it as a URL: postgresql://user@host:5432/dbname",
        )
    if scheme is None:
        return value
    if not value.lower().startswith(DATABASE_SCHEMES):
        raise ValueProblem(
            f"{_show(scheme.group(1) + '://')} is not a store: expected a folder path or a "
            "postgresql:// URL",
            "postgresql://user@host:5432/dbname",
        )
    if value.lower().startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://") :]
    try:
        parts = urlsplit(value)  # raises on an unclosed "[" (an IPv6 address)
    except ValueError:
        raise ValueProblem(
            "this database URL does not parse (an unclosed [ in its host)",
            "write an IPv6 address as [::1], or percent-encode [ and ] in the password",
        ) from None
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        what = "the port of this database URL is not a number from 0 to 65535"
        raise ValueProblem(what) from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueProblem("this database URL names no host", "postgresql://user@host:5432/dbname")
    if in_file and (parts.password or re.search(r"(^|&)password=", parts.query)):
        raise ValueProblem(
            "a password in feeds.yaml (a file meant to be shared)",
            f"put the URL with its password in ${STORE_ENV} instead, or use PGPASSWORD or "
            "~/.pgpass",
        )
    return value


_KIND_SYNONYMS = {
    "org": "organization",
    "organisation": "organization",
    "company": "organization",
    "group": "organization",
    "people": "person",
    "persons": "person",
    "location": "place",
    "country": "place",
    "city": "place",
    "subject": "topic",
    "theme": "topic",
}


def _check_kind(value: str) -> str:
    kind = value.strip().lower()
    if kind in ENTITY_KINDS:
        return kind
    guess = _KIND_SYNONYMS.get(kind) or _closest(kind, ENTITY_KINDS)
    raise ValueProblem(
        f"expected one of {', '.join(ENTITY_KINDS)}, got {_show(value)}",
        f'did you mean "{guess}"?' if guess else "",
    )


def _closest(word: str, choices: Any) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    prefixed = [choice for choice in choices if word and str(choice).startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def _show(value: Any) -> str:
    """A value as quoted in a message: strings in quotes, YAML words for the rest."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f'"{text}"'
    return _kind_of(value)


def _kind_of(value: Any) -> str:
    """What sort of YAML value this is, in words."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return "a date"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------------------------
# The schema: what each mapping of feeds.yaml may hold (unknown keys are errors)

_REQUIRED: Any = object()


@dataclass(frozen=True)
class _Field:
    """One key: the type its value must have, a check of the value, its default.

    `kind`: "str", "bool", "int", "list" (each item a `str`), "any" (only `check` decides) or
    "mapping" (of `model`'s keys). `check` gets the value once its type is right and returns
    it converted, or raises ValueProblem. No quiet conversions: "2" is not a number.
    """

    kind: str
    check: Callable[[Any], Any] | None = None
    default: Any = _REQUIRED
    minimum: int | None = None
    model: _Model | None = None

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class _Model:
    """The keys of one mapping, in the order they are checked and documented."""

    model_fields: dict[str, _Field]


_PollModel = _Model(
    {
        "every": _Field("any", _positive_duration, timedelta(minutes=15)),
        "timeout": _Field("any", _positive_duration, timedelta(seconds=20)),
        "max_bytes": _Field("any", _positive_size, 10 * 1024 * 1024),
        "per_host": _Field("int", default=2, minimum=1),
        "concurrency": _Field("int", default=16, minimum=1),
        "full_text": _Field("bool", default=None),
    }
)
_FeedModel = _Model(
    {
        "name": _Field("str", _check_name),
        "url": _Field("str", _check_url),
        "tags": _Field("list", _check_text, default=()),
        "every": _Field("any", _positive_duration, default=None),
        "enabled": _Field("bool", default=True),
        "full_text": _Field("bool", default=None),
    }
)
_EntityModel = _Model(
    {
        "name": _Field("str", _check_name),
        "kind": _Field("str", _check_kind),
        "aliases": _Field("list", _check_name, default=()),
        "exclude": _Field("list", _check_text, default=()),
        "case_sensitive": _Field("bool", default=None),
    }
)
_ENTITY_NAMES = ("name", "kind", "aliases")  # what checks across entities read of each
_FileModel = _Model(
    {
        "store": _Field("str", _check_store, default="data"),
        "poll": _Field("mapping", default=None, model=_PollModel),
        # items checked one by one, so that one bad feed hides nothing else
        "feeds": _Field("list", default=()),
        "watch": _Field("list", default=()),
        # checked by _check_alerting (at the end of this file)
        "notify": _Field("any", default=None),
        "alerts": _Field("any", default=None),
        "digests": _Field("any", default=None),
        "dashboard": _Field("any", default=None),
    }
)
_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "bool": bool,
    "int": int,
    "list": list,
    "mapping": dict,
}


# --------------------------------------------------------------------------------------------
# Reading the file

# feeds.yaml (and an OPML file) is read whole, and refused beyond this size. The shipped file is
# ~10 KB; 60,000 feeds written one key per line take ~5-6 MB, so 10 MB leaves room for a big
# team's list, while `-c /dev/zero` or a log file given by mistake is refused at once instead
# of filling the memory.
MAX_CONFIG_BYTES = 10 * 1024 * 1024
# YAML aliases (`*name`) repeat what their anchor holds; in all, they may repeat at most this
# many values (scalars, lists, mappings). Reusing a list of tags on every feed stays far below;
# a "billion laughs" file (9 levels of 9 aliases: ~400 million values) is refused at once.
MAX_ALIAS_VALUES = 100_000


def _read_at_most(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_capped(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_CONFIG_BYTES; ValueProblem otherwise.

    A FIFO, a device (`/dev/zero`) or a folder is refused without reading from it.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ValueProblem("file not found") from None
    except IsADirectoryError:
        raise ValueProblem("is a folder, not a file") from None
    except OSError as exc:
        raise ValueProblem(f"cannot read it: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ValueProblem("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise ValueProblem("not a regular file (a device, pipe or socket)", "give a file")
        raw = _read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ValueProblem(f"cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_CONFIG_BYTES:
        what = f"larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB, the most this reads"
        raise ValueProblem(what, "is this the right file?")
    return raw


def _read_text(path: Path, file: str) -> str:
    try:
        raw = _read_capped(path)
    except ValueProblem as exc:
        hint = exc.hint
        if exc.what == "file not found":
            hint = f"create it, or pass -c PATH / set {CONFIG_ENV}"
        raise ConfigError([ConfigIssue(file, None, "", exc.what, hint)]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        issue = ConfigIssue(file, line, "", "not UTF-8 text", "save the file as UTF-8")
        raise ConfigError([issue]) from None


# --------------------------------------------------------------------------------------------
# YAML -> plain values and the line of every key and item

Loc = tuple[str | int, ...]


class _Frame:
    """A list or mapping being read: where it is, and the key awaiting its value."""

    __slots__ = ("anchor", "key", "key_line", "line", "loc", "mapping", "merged", "value")

    def __init__(self, value: Any, loc: Loc, line: int, anchor: str | None):
        self.value = value
        self.loc = loc
        self.line = line  # where it starts (0 when lines are not recorded)
        self.mapping = isinstance(value, dict)
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merged: set[Any] | None = None  # keys that came from a `<<` merge


_NO_KEY: Any = object()
_DUPLICATE: Any = object()
_OPEN: Any = object()  # an anchored list or mapping still being read
_RESOLVABLE = frozenset("0123456789+-.~nNtTfF")  # first characters of non-string plain scalars


class _Document:
    """feeds.yaml as plain Python values (dict, list, str, int, float, bool, None, date),
    the problems found on the way (duplicate keys), and, with `lines`, the line of every key
    and list item (`lines[loc]`, 1-based; only needed to report problems, so a valid file is
    read without them).

    Built from libyaml's event stream (PyYAML's C parser): ~30x faster than a pure-Python
    round-trip loader on a file of 60,000 feeds. Aliases share their anchor's value, never
    copied; what each one repeats is counted against MAX_ALIAS_VALUES. Plain scalars follow
    the YAML 1.2 core schema, as ruamel.yaml reads them: only true/false are booleans (`no`
    stays a word), numbers, null, and ISO dates. `<<: *anchor` merges a mapping's keys.
    """

    def __init__(self, text: str, file: str, *, lines: bool = False):
        self.text = text
        self.file = file
        self.lines: dict[Loc, int] | None = {} if lines else None
        self.issues: list[ConfigIssue] = []
        self.root: Any = None
        self._anchors: dict[str, Any] = {}
        self._sizes: dict[int, int] = {}  # id of a list or mapping -> values in it, expanded
        self._repeated = 0  # values repeated by aliases so far
        self._read()

    def with_lines(self) -> dict[Loc, int]:
        """The line of every key and item (reads the text again the first time)."""
        if self.lines is None:
            self.lines = _Document(self.text, self.file, lines=True).lines
        assert self.lines is not None
        return self.lines

    def _read(self) -> None:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(self.text)
        try:
            self._build(loader, yaml)
        except yaml.MarkedYAMLError as exc:
            raise ConfigError([_syntax_issue(exc, self.file, self.text)]) from None
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable YAML"
            issue = ConfigIssue(self.file, None, "", f"YAML syntax error: {first}")
            raise ConfigError([issue]) from None
        finally:
            loader.dispose()

    def _build(self, loader: Any, yaml: Any) -> None:
        # The loop runs once per YAML event (~10 per feed): kept flat, with local names, and
        # the line of an event is looked up only when it is recorded or reported.
        get_event = loader.get_event
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
        ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        lines = self.lines
        anchors = self._anchors
        no_key, resolvable = _NO_KEY, _RESOLVABLE
        stack: list[_Frame] = []
        frame: _Frame | None = None  # the top of the stack
        line = 0
        documents = 0
        while True:
            event = get_event()
            kind = type(event)
            if kind is scalar_event:
                value = event.value
                if event.style or event.tag is not None or not event.implicit[0]:
                    value = _scalar(event)
                elif not value or value[0] in resolvable:
                    value = _resolve(value)
                if event.anchor is not None:
                    anchors[event.anchor] = value
                if lines is not None:
                    line = event.start_mark.line + 1
            elif kind in ends:
                assert frame is not None
                done = stack.pop()
                frame = stack[-1] if stack else None
                value, line = done.value, done.line
                if done.anchor is not None:
                    anchors[done.anchor] = value
            elif kind is mapping_start or kind is sequence_start:
                loc: Loc = ()
                if lines is not None:
                    line = event.start_mark.line + 1
                    if frame is not None and not frame.mapping:
                        loc = (*frame.loc, len(frame.value))
                    elif frame is not None and frame.key is not no_key:
                        loc = (*frame.loc, frame.key)
                value = {} if kind is mapping_start else []
                frame = _Frame(value, loc, line, event.anchor)
                stack.append(frame)
                if event.anchor is not None:
                    anchors[event.anchor] = _OPEN
                continue
            elif kind is alias_event:
                line = event.start_mark.line + 1
                value = self._alias(event.anchor, line)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    what = "more than one YAML document (a second --- line)"
                    issue = ConfigIssue(self.file, event.start_mark.line + 1, "", what, "keep one")
                    raise ConfigError([issue])
                continue
            elif kind is yaml.StreamEndEvent:
                break
            else:  # the start of the stream, the end of the document
                continue
            # put the finished value into the list or mapping being read
            if frame is None:
                self.root = value
                if lines is not None:
                    lines[()] = line
            elif not frame.mapping:
                if lines is not None:
                    lines[(*frame.loc, len(frame.value))] = line
                frame.value.append(value)
            elif frame.key is no_key:  # the value is a key
                if type(value) is str and value not in frame.value and value != "<<":
                    frame.key = value
                    frame.key_line = line
                else:  # a duplicate, a merge (<<), a number or a list as a key: the slow way
                    self._key(
                        frame, value, line if lines is not None else event.start_mark.line + 1
                    )
            else:
                key, frame.key = frame.key, no_key
                if lines is not None:
                    lines[(*frame.loc, key)] = frame.key_line
                if key is _DUPLICATE:
                    continue  # the first one counts
                if key == "<<":
                    self._merge(frame, value, frame.key_line)
                    continue
                if frame.merged is not None:
                    frame.merged.discard(key)  # a key written out wins over a merged one
                frame.value[key] = value

    def _key(self, frame: _Frame, key: Any, line: int) -> None:
        frame.key_line = line
        if isinstance(key, dict | list):
            what = "a key must be a plain value, not a list or mapping"
            self.issues.append(ConfigIssue(self.file, line, "", what))
            frame.key = _DUPLICATE
        elif key in frame.value and not (frame.merged and key in frame.merged):
            what = f'found duplicate key "{key}"'
            hint = "a key may appear once in a mapping; remove one"
            self.issues.append(ConfigIssue(self.file, line, "", what, hint))
            frame.key = _DUPLICATE
        else:
            frame.key = key

    def _alias(self, anchor: str, line: int) -> Any:
        value = self._anchors.get(anchor, _NO_KEY)
        if value is _NO_KEY:
            what = f'alias "*{anchor}" refers to no anchor "&{anchor}" above it'
            raise ConfigError([ConfigIssue(self.file, line, "", what)])
        if value is _OPEN:
            what = f'alias "*{anchor}" is inside the list or mapping it refers to'
            raise ConfigError([ConfigIssue(self.file, line, "", what)])
        self._repeated += self._size(value)
        if self._repeated > MAX_ALIAS_VALUES:
            what = f"YAML aliases repeat more than {MAX_ALIAS_VALUES:,} values"
            hint = "an alias bomb? write the values out, or use fewer aliases"
            raise ConfigError([ConfigIssue(self.file, line, "", what, hint)])
        return value

    def _size(self, value: Any) -> int:
        """How many values `value` holds with every alias in it expanded (itself included).

        Each list or mapping is counted once (`_sizes`), so shared values cost nothing more
        however often they are repeated, and the count never expands anything.
        """
        if not isinstance(value, dict | list):
            return 1
        known = self._sizes.get(id(value))
        if known is not None:
            return known
        todo: list[Any] = [value]
        # an explicit walk (no recursion): children first, each list or mapping once
        order: list[Any] = []
        seen: set[int] = set()
        while todo:
            node = todo.pop()
            if id(node) in seen or id(node) in self._sizes:
                continue
            seen.add(id(node))
            order.append(node)
            children = node.values() if isinstance(node, dict) else node
            todo += [child for child in children if isinstance(child, dict | list)]
        for node in reversed(order):
            children = node.values() if isinstance(node, dict) else node
            total = 1
            for child in children:
                total += self._sizes[id(child)] if isinstance(child, dict | list) else 1
            self._sizes[id(node)] = total
        return self._sizes[id(value)]

    def _merge(self, frame: _Frame, value: Any, line: int) -> None:
        """`<<: *defaults` (or a list of them): keys not written out come from the mappings."""
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            what = "<< (merge) takes a mapping or a list of mappings"
            self.issues.append(ConfigIssue(self.file, line, "", what))
            return
        merged = frame.merged if frame.merged is not None else set()
        frame.merged = merged
        for source in sources:
            for key, item in source.items():
                if key not in frame.value:
                    frame.value[key] = item
                    merged.add(key)


_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_SPECIAL = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
_TAGGED = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
}


def _scalar(event: Any) -> Any:
    """A scalar's value: quoted and block scalars are strings; plain ones are resolved."""
    value: str = event.value
    if event.tag not in (None, "!"):
        convert = _TAGGED.get(event.tag)
        if convert is None:
            return _resolve(value)  # !!bool, !!null, !custom: read as if plain
        try:
            return convert(value)
        except ValueError:
            return value
    if event.style or not event.implicit[0]:
        return value
    return _resolve(value)


def _resolve(value: str) -> Any:
    if value in _SPECIAL:
        return _SPECIAL[value]
    first = value[0]
    if not (first.isdigit() or first in "+-."):
        return value
    if _INT.fullmatch(value):
        return int(value)
    if value.startswith(("0o", "0x")):
        try:
            return int(value[2:], 8 if value[1] == "o" else 16)
        except ValueError:
            return value
    if _FLOAT.fullmatch(value):
        return float(value)
    if _DATE.match(value):
        return _timestamp(value)
    return value


def _timestamp(value: str) -> Any:
    """`2026-11-01` -> date; `2026-11-01 12:00:00` and the like -> datetime; else the text."""
    try:
        if _DATE.fullmatch(value):
            year, month, day = (int(part) for part in value.split("-"))
            return date(year, month, day)
        return datetime.fromisoformat(value.replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        return value


def _syntax_issue(exc: Any, file: str, text: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = _collapse(str(exc.problem or exc.context or "unreadable YAML"))
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        return ConfigIssue(file, line, "", "tab character", "indent with spaces, not tabs")
    hint = "check the indentation, colons and quotes on this line and the one above"
    return ConfigIssue(file, line, "", f"YAML syntax error: {problem}", hint)


def _char_at(text: str, line: int, column: int) -> str:
    start = 0
    for _ in range(line):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    return text[start + column : start + column + 1]


# --------------------------------------------------------------------------------------------
# Checking: values -> issues with lines

# What a key holds, in words, for "expected ..., got ..." messages. Collections describe the
# value found by its sort ("got a string"); scalars quote it ("got "often"").
_EXPECTED = {
    "store": "a folder path or a postgresql:// URL",
    "poll": "a mapping of poll settings (every:, timeout:, ...)",
    "feeds": "a list of feeds",
    "watch": "a list of names to watch",
    "name": "a name",
    "url": "a URL",
    "tags": "a list of tags",
    "aliases": "a list of names",
    "exclude": "a list of phrases",
    "kind": f"one of {', '.join(ENTITY_KINDS)}",
    "every": "a duration like 15m or 2h",
    "timeout": "a duration like 20s",
    "max_bytes": "a size like 10MB",
    "per_host": "a whole number",
    "concurrency": "a whole number",
    "enabled": "true or false",
    "full_text": "true or false",
    "case_sensitive": "true or false",
}
_EXPECTED_ITEM = {
    "feeds": "a feed (a mapping with name: and url:)",
    "watch": "an entry (a mapping with name: and kind:)",
    "tags": "a tag",
    "aliases": "a name",
    "exclude": "a phrase",
}
_COLLECTIONS = {"poll", "feeds", "watch", "tags", "aliases", "exclude"}
_SECTIONS = {"feeds", "watch"}  # lists whose items are mappings
_MISSING_HINTS = {
    "name": 'add "name: ..."',
    "url": 'add "url: https://..."',
    "kind": f'add "kind: ..." with one of {", ".join(ENTITY_KINDS)}',
}


class _Checker:
    """One pass over a parsed feeds.yaml, collecting issues and building the Config."""

    def __init__(self, doc: _Document):
        self.doc = doc
        self.file = doc.file
        self.root = doc.root
        self.salvaged: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.issues: list[ConfigIssue] = list(doc.issues)
        self.known: dict[tuple[Callable[[Any], Any], str], Any] = {}  # list items checked

    def build(self, path: Path) -> Config:
        data = self.root if self.root is not None else {}  # an empty file: nothing to do
        if not isinstance(data, dict):
            what = (
                "expected a mapping of settings (store:, poll:, feeds:, watch:), "
                f"got {_kind_of(data)}"
            )
            raise ConfigError([ConfigIssue(self.file, 1, "", what)])
        top = self.validate(_FileModel, data, ())
        env_store = os.environ.get(STORE_ENV, "").strip()
        if env_store:
            try:
                _check_store_value(env_store, in_file=False)
            except ValueProblem as exc:
                self.issues.append(ConfigIssue(f"${STORE_ENV}", None, "", exc.what, exc.hint))
        feeds = self.check_items(_FeedModel, data.get("feeds"), "feeds", ("name", "url"))
        watch = self.check_items(_EntityModel, data.get("watch"), "watch", _ENTITY_NAMES)
        self.check_feed_urls(_with_salvaged(feeds, self.salvaged["feeds"], "url"))
        self.check_entity_names(_with_salvaged(watch, self.salvaged["watch"], "name"))
        alerting = _check_alerting(
            self,
            data,
            _with_salvaged(feeds, self.salvaged["feeds"], "name", "url"),
            _with_salvaged(watch, self.salvaged["watch"], "name"),
        )
        if self.issues or top is None:
            raise ConfigError(sorted(self.issues, key=lambda i: i.line or 0))
        return dataclasses.replace(_to_config(path, top, feeds, watch), **alerting)

    def validate(self, model: _Model, data: dict[Any, Any], prefix: Loc) -> dict[str, Any] | None:
        """The mapping's values, checked and converted (defaults filled in), or None."""
        before = len(self.issues)
        values: dict[str, Any] = {}
        fields = model.model_fields
        for name, spec in fields.items():
            value = data.get(name)
            if value is None:  # absent, or written empty: the default
                if spec.required:
                    self.add_missing((*prefix, name))
                values[name] = spec.default
            elif type(value) is str and spec.kind == "str" and spec.check is not None:
                try:  # the common case, without the detours of `value`
                    values[name] = spec.check(value)
                except ValueProblem as exc:
                    self.add((*prefix, name), exc.what, exc.hint)
            else:
                values[name] = self.value(spec, value, (*prefix, name))
        every_value_fine = len(self.issues) == before
        if not data.keys() <= fields.keys():
            for key in [key for key in data if key not in fields]:  # in the file's order
                loc = (*prefix, key)
                what, hint = _unknown_key(loc)
                line = self.line(loc)
                self.issues.append(ConfigIssue(self.file, line, _where(prefix), what, hint))
        # An unknown key beside good values: the values still take part in the checks across
        # items (a URL listed twice, an alert naming an entity), so that every error is
        # reported in one run; the file is refused all the same (self.issues).
        return values if every_value_fine else None

    def value(self, spec: _Field, value: Any, loc: Loc) -> Any:
        if spec.kind != "any" and (
            not isinstance(value, _TYPES[spec.kind])
            or (spec.kind == "int" and isinstance(value, bool))
        ):
            self.add(loc, *_wrong_type(loc, value))
            return None
        if spec.kind == "mapping":
            assert spec.model is not None
            return self.validate(spec.model, value, loc)
        if spec.kind == "list":
            return self.items(spec, value, loc)
        if spec.minimum is not None and value < spec.minimum:
            self.add(loc, f"must be at least {spec.minimum}, got {_show(value)}")
            return None
        return self.checked(spec.check, value, loc)

    def items(self, spec: _Field, items: list[Any], loc: Loc) -> list[Any]:
        if spec.check is None:
            return items
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, str):
                where = (*loc, index)
                self.add(where, *_wrong_type(where, item))
            elif (spec.check, item) in self.known:  # the same tags on many feeds
                out.append(self.known[spec.check, item])
            else:
                checked = self.checked(spec.check, item, (*loc, index))
                if checked is not None:
                    self.known[spec.check, item] = checked
                out.append(checked)
        return out

    def checked(self, check: Callable[[Any], Any] | None, value: Any, loc: Loc) -> Any:
        if check is None:
            return value
        try:
            return check(value)
        except ValueProblem as exc:
            self.add(loc, exc.what, exc.hint)
            return None

    def check_items(
        self, model: _Model, items: Any, section: str, salvage: tuple[str, ...] = ()
    ) -> list[tuple[int, Any]]:
        """Check each item of a list on its own; return (index, values) of the valid ones.

        With `salvage`, an item with a problem elsewhere still lends those keys, when they are
        fine, to `self.salvaged[section]` (index, values): the checks across items see it, so a
        URL listed twice is reported in the same run as a bad interval beside it.
        """
        valid: list[tuple[int, Any]] = []
        salvaged: list[tuple[int, dict[str, Any]]] = []
        self.salvaged[section] = salvaged
        if not isinstance(items, list):
            return []
        for index, item in enumerate(items):
            loc = (section, index)
            if not isinstance(item, dict):
                self.add(loc, *_wrong_type(loc, item))
                continue
            checked = self.validate(model, item, loc)
            if checked is not None:
                valid.append((index, checked))
            elif salvage:
                salvaged.append((index, _salvaged(model, item, salvage)))
        return valid

    def check_feed_urls(self, feeds: list[tuple[int, dict[str, Any]]]) -> None:
        first: dict[str, int] = {}
        for index, feed in feeds:
            key = _url_key(redact_url(feed["url"]))  # the store's key: secrets hidden
            if key not in first:
                first[key] = index
                continue
            earlier = first[key]
            line = self.line(("feeds", earlier, "url"))
            name = _item_of(feeds, earlier).get("name")
            named = f' ("{name}")' if name else ""
            hint = f"first listed on line {line}; remove one"
            what = f"duplicate URL, already in feeds[{earlier}]{named}"
            if _url_key(feed["url"]) != _url_key(_item_of(feeds, earlier)["url"]):
                what = f"same URL as feeds[{earlier}]{named} apart from its password or key"
                hint = (
                    "the store knows a feed by its URL with secrets hidden, so these two "
                    f"would be mixed up; keep one (the other: line {line}"
                )
            self.add(("feeds", index, "url"), what, hint)

    def check_entity_names(self, watch: list[tuple[int, dict[str, Any]]]) -> None:
        """An entity's name or alias may belong to no other entity (case, accents, spaces aside)."""
        owner: dict[str, tuple[int, Loc]] = {}
        for index, entity in watch:
            names: list[tuple[Loc, str]] = [(("watch", index, "name"), entity["name"])]
            aliases = entity.get("aliases", ())
            names += [(("watch", index, "aliases", i), a) for i, a in enumerate(aliases)]
            for loc, name in names:
                key = _fold_name(name)
                if key not in owner:
                    owner[key] = (index, loc)
                elif owner[key][0] != index:
                    self.add_claimed_twice(loc, name, *owner[key], watch)

    def add_claimed_twice(
        self, loc: Loc, name: str, other: int, other_loc: Loc, watch: list[tuple[int, Any]]
    ) -> None:
        other_name = _item_of(watch, other)["name"]
        where_first = f"line {self.line(other_loc)}"
        if loc[-1] == "name" and other_loc[-1] == "name":
            what = f'duplicate entity "{name}", already watch[{other}]'
            hint = f"first listed on {where_first}; merge the two"
        else:
            what = f'"{name}" is also a name of watch[{other}] ("{other_name}")'
            hint = f"a name counts for one entity only; remove it here or on {where_first}"
        self.add(loc, what, hint)

    def add(self, loc: Loc, what: str, hint: str = "") -> None:
        self.issues.append(ConfigIssue(self.file, self.line(loc), _where(loc), what, hint))

    def add_missing(self, loc: Loc) -> None:
        what, hint = f'missing key "{loc[-1]}"', _MISSING_HINTS.get(str(loc[-1]), "")
        self.issues.append(ConfigIssue(self.file, self.line(loc), _where(loc[:-1]), what, hint))

    def line(self, loc: Loc) -> int | None:
        """1-based line of the deepest node of `loc` written in the file (a key's own line)."""
        lines = self.doc.with_lines()
        for end in range(len(loc), -1, -1):
            line = lines.get(loc[:end])
            if line is not None:
                return line
        return None


def _salvaged(model: _Model, item: dict[Any, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The keys of an item with problems that are fine on their own, checked quietly (its
    problems are reported already); a list keeps the entries that are fine."""
    out: dict[str, Any] = {}
    for key in keys:
        spec, raw = model.model_fields[key], item.get(key)
        check = spec.check or (lambda value: value)
        if raw is None:
            if not spec.required:
                out[key] = spec.default
            continue
        try:
            if spec.kind == "str" and isinstance(raw, str):
                out[key] = check(raw)
            elif spec.kind == "list" and isinstance(raw, list):
                out[key] = [check(x) for x in raw if isinstance(x, str) and _fine(check, x)]
        except ValueProblem:
            continue
    return out


def _fine(check: Callable[[Any], Any], value: Any) -> bool:
    try:
        check(value)
    except ValueProblem:
        return False
    return True


def _with_salvaged(
    valid: list[tuple[int, dict[str, Any]]], salvaged: list[tuple[int, dict[str, Any]]], *keys: str
) -> list[tuple[int, dict[str, Any]]]:
    """The valid items and the salvaged ones that have `keys`, in the file's order."""
    more = [(i, v) for i, v in salvaged if all(k in v for k in keys)]
    return sorted(valid + more, key=lambda item: item[0]) if more else valid


def _item_of(items: list[tuple[int, dict[str, Any]]], index: int) -> dict[str, Any]:
    """The values of the valid item at `index` of the list (binary search: items are in order)."""
    position = bisect.bisect_left(items, index, key=lambda item: item[0])
    return items[position][1]


def _model_at(loc: Loc) -> _Model:
    """The model that holds the key at the end of `loc`."""
    if len(loc) >= 2 and loc[0] in _ALERTING_MODELS:
        return _ALERTING_MODELS[str(loc[0])]
    if len(loc) >= 2 and loc[0] == "feeds":
        return _FeedModel
    if len(loc) >= 2 and loc[0] == "watch":
        return _EntityModel
    if len(loc) >= 2 and loc[0] == "poll":
        return _PollModel
    return _FileModel


def _unknown_key(loc: Loc) -> tuple[str, str]:
    key = str(loc[-1])
    known = list(_model_at(loc).model_fields)
    guess = _closest(key, known)
    hint = f'did you mean "{guess}"?' if guess else f"known keys: {', '.join(known)}"
    return f'unknown key "{key}"', hint


def _wrong_type(loc: Loc, value: Any) -> tuple[str, str]:
    last = loc[-1] if loc else ""
    if isinstance(last, int):  # an item of a list
        parent = str(loc[-2])
        expected, collection = _EXPECTED_ITEM.get(parent, "another value"), parent in _SECTIONS
    else:
        expected, collection = _EXPECTED.get(str(last), "another value"), last in _COLLECTIONS
    got = _kind_of(value) if collection else _show(value)
    return f"expected {expected}, got {got}", _type_hint(expected, value)


def _type_hint(expected: str, value: Any) -> str:
    if expected.startswith("a list") and isinstance(value, str):
        return f"write [{value}] for one"
    if expected.startswith("a list") and isinstance(value, dict):
        return 'start each item with "- "'
    if expected.startswith("a feed") and isinstance(value, str) and "://" in value:
        return f'write "- name: ..." and, below it, "url: {value}"'
    if expected.startswith(("a feed", "an entry")) and isinstance(value, str):
        return 'write "- name: ..." and the other keys on the lines below it'
    if expected == "true or false" and isinstance(value, str):
        known = value.strip().lower() in ("true", "false")
        return "remove the quotes" if known else "write true or false"
    if expected == "a whole number" and isinstance(value, str) and value.strip().isdigit():
        return "remove the quotes"
    if expected == "a whole number" and isinstance(value, float):
        return "write it without a decimal point"
    textual = ("a name", "a URL", "a tag", "a phrase", "a folder")
    if expected.startswith(textual) and isinstance(value, bool | int | float | date):
        return f'put it in quotes: "{_show(value) if isinstance(value, bool) else value}"'
    if value is None:
        return "fill it in"
    return ""


def _where(loc: Loc) -> str:
    """("feeds", 1, "every") -> "feeds[1].every"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _store_location(written: str, folder: Path) -> Path | str:
    """The store: $MONITOR_STORE when set (a folder there is relative to the current
    folder), else `store:` (relative to feeds.yaml's folder); a database URL as it is."""
    value, base = os.environ.get(STORE_ENV, "").strip(), Path.cwd()
    if not value:
        value, base = written, folder
    if value.lower().startswith(DATABASE_SCHEMES):
        return _check_store_value(value, in_file=False)
    store = Path(value).expanduser()
    if not store.is_absolute():
        store = base / store
    return Path(os.path.abspath(store))


def _to_config(
    path: Path,
    top: dict[str, Any],
    feeds: list[tuple[int, dict[str, Any]]],
    watch: list[tuple[int, dict[str, Any]]],
) -> Config:
    absolute = Path(os.path.abspath(path))
    poll = PollSettings(**(top["poll"] or {}))
    return Config(
        path=absolute,
        store=_store_location(top["store"], absolute.parent),
        poll=poll,
        feeds=[
            FeedConfig(
                f["name"], f["url"], tuple(f["tags"]), f["every"], f["enabled"], f["full_text"]
            )
            for _, f in feeds
        ],
        watch=[
            Entity(
                e["name"], e["kind"], tuple(e["aliases"]), tuple(e["exclude"]), e["case_sensitive"]
            )
            for _, e in watch
        ],
    )


# --------------------------------------------------------------------------------------------
# OPML import


@dataclass(frozen=True)
class _OpmlFeed:
    url: str
    name: str
    tags: tuple[str, ...]


_ENTITY_REF = re.compile(rb"&(#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)?")
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}


def _repair_entities(raw: bytes) -> bytes:
    """Escape raw `&` and turn HTML-only entities (&nbsp;) into numeric references."""

    def fix(match: re.Match[bytes]) -> bytes:
        ref = match.group(1)
        if ref is None:
            return b"&amp;"
        if ref.startswith(b"#"):
            return match.group(0)
        name = ref[:-1]
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name.decode("ascii"))
        return f"&#{codepoint};".encode() if codepoint else b"&amp;" + ref

    return _ENTITY_REF.sub(fix, raw)


def _opml_error(opml: Path, what: str, hint: str = "") -> OpmlError:
    return OpmlError([ConfigIssue(str(opml), None, "", what, hint)])


def _read_opml(opml: Path) -> list[_OpmlFeed]:
    try:
        raw = _read_capped(opml)
    except ValueProblem as exc:
        raise _opml_error(opml, exc.what, exc.hint) from None
    if not raw.strip():
        raise _opml_error(opml, "the file is empty", "export the subscriptions again")
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(_repair_entities(raw), parser)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        raise _opml_error(opml, "not an OPML file: no XML could be read from it")
    feeds = list(_opml_feeds(root, ()))
    if not feeds:
        raise _opml_error(opml, "no feeds in it (no <outline> has an xmlUrl)")
    return feeds


def _local_name(name: Any) -> str:
    return str(name).rsplit("}", 1)[-1].lower()


def _opml_feeds(element: Any, folders: tuple[str, ...]) -> Iterator[_OpmlFeed]:
    """Every outline with an xmlUrl below `element`; the folders above it become tags."""
    for child in element:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        if _local_name(child.tag) != "outline":
            yield from _opml_feeds(child, folders)
            continue
        attrs = {_local_name(key): value for key, value in child.attrib.items()}
        url = attrs.get("xmlurl", "").strip()
        if url:
            tags = _unique(folders + _category_tags(attrs.get("category", "")))
            yield _OpmlFeed(url, _opml_name(attrs, url), tags)
        else:
            label = _tag(attrs.get("text") or attrs.get("title") or "")
            yield from _opml_feeds(child, folders + ((label,) if label else ()))


def _opml_name(attrs: dict[str, str], url: str) -> str:
    for key in ("title", "text"):
        name = _collapse(attrs.get(key) or "")
        if any(ch.isalnum() for ch in name):
            return name
    return urlsplit(url).hostname or url


def _tag(label: str) -> str:
    """A folder or category label as a tag: lower-case, spaces -> '-'."""
    return "-".join(label.lower().split())


def _category_tags(category: str) -> tuple[str, ...]:
    """OPML `category`: comma-separated, slash-delimited paths ("/News/World,Tech")."""
    parts = (part for path in category.split(",") for part in path.split("/"))
    return tuple(tag for part in parts if (tag := _tag(part)))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _new_yaml() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")  # round trip: keeps comments and layout
    yaml.width = 4096  # never re-wrap long lines when writing back
    yaml.preserve_quotes = True
    return yaml


def _append_feeds(config: Path, feeds: list[_OpmlFeed]) -> None:
    """Append feeds to the `feeds:` list of the config file, keeping comments and layout."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    original = config.read_text(encoding="utf-8-sig") if config.exists() else ""
    yaml = _new_yaml()
    _match_indent(yaml, original)
    doc = yaml.load(original) if original.strip() else None
    items = [_feed_node(feed) for feed in feeds]
    if doc is None:  # empty or comments only: add the list below whatever is there
        text = original.rstrip("\n") + "\n" if original.strip() else ""
        text += _dump(yaml, CommentedMap(feeds=CommentedSeq(items)))
    else:
        _add_to_feed_list(doc, items)
        text = _dump(yaml, doc)
    _write_checked(config, text, original)


def watch_name(config: Path | str, name: str, kind: str) -> Entity:
    """Append an entity (`name`, `kind`) to the `watch:` list of feeds.yaml, keeping the
    file's comments and layout (the writer of `import_opml`). The file must load before; it
    is checked after writing and put back as it was if it no longer loads. Raises ConfigError
    for a name or kind that is not valid, or a name already watched (as a name or an alias,
    case and accents aside); MonitorError when the file cannot be written."""
    config = Path(config)
    current = load_config(config)
    file = str(config)
    try:
        entity = Entity(_check_name(name), _check_kind(kind))
    except ValueProblem as exc:
        raise ConfigError([ConfigIssue(file, None, "watch", exc.what, exc.hint)]) from None
    for e in current.watch:
        if _fold_name(entity.name) in {_fold_name(n) for n in (e.name, *e.aliases)}:
            what = f"{_show(entity.name)} is already watched"
            as_ = (
                "" if _fold_name(e.name) == _fold_name(entity.name) else f" (an alias of {e.name})"
            )
            raise ConfigError([ConfigIssue(file, None, "watch", what + as_)])
    problem = writable_problem(config)
    if problem:
        raise MonitorError(f"{config}: {problem}")
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    original = config.read_text(encoding="utf-8-sig")
    yaml = _new_yaml()
    _match_indent(yaml, original)
    doc = yaml.load(original)
    if not isinstance(doc, CommentedMap):  # comments only: the list below them
        text = original.rstrip("\n") + "\n" if original.strip() else ""
        text += _dump(yaml, CommentedMap(watch=CommentedSeq([_entity_node(entity)])))
    else:
        watch = doc.get("watch")
        if not isinstance(watch, CommentedSeq):
            watch = CommentedSeq()
            doc["watch"] = watch
        watch.fa.set_block_style()
        trailing = _detach_trailing_comment(watch) if watch else None
        item = _entity_node(entity)
        watch.append(item)
        if trailing:
            _attach_trailing_comment(item, trailing)
        text = _dump(yaml, doc)
    try:
        _write_checked(config, text, original)
    except OSError as exc:
        raise MonitorError(f"cannot write {config}: {exc.strerror or exc}") from exc
    return entity


def writable_problem(config: Path | str) -> str:
    """Why feeds.yaml cannot be edited in place (written to a temporary file beside it, then
    renamed over it), or "" when it can."""
    config = Path(config)
    if not config.is_file():
        return "the file does not exist"
    if not os.access(config, os.W_OK):
        return "the file is read-only for this process"
    if not os.access(config.parent, os.W_OK | os.X_OK):
        return f"its folder {config.parent} is read-only for this process"
    return ""


def _entity_node(entity: Entity) -> CommentedMap:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap(name=entity.name, kind=entity.kind)


def _match_indent(yaml: YAML, text: str) -> None:
    from ruamel.yaml import YAML, YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    try:
        _, sequence, offset = load_yaml_guess_indent(text or "a: 1\n", yaml=YAML(typ="safe"))
    except (YAMLError, IndexError):
        sequence, offset = None, None
    yaml.indent(mapping=2, sequence=sequence or 4, offset=offset if offset is not None else 2)


def _feed_node(feed: _OpmlFeed) -> CommentedMap:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node = CommentedMap(name=feed.name, url=feed.url)
    if feed.tags:
        tags = CommentedSeq(feed.tags)
        tags.fa.set_flow_style()
        node["tags"] = tags
    return node


def _add_to_feed_list(doc: CommentedMap, items: list[CommentedMap]) -> None:
    from ruamel.yaml.comments import CommentedSeq

    feeds = doc.get("feeds")
    if not isinstance(feeds, CommentedSeq):
        feeds = CommentedSeq()
        if "feeds" in doc:
            doc["feeds"] = feeds
        else:
            doc.insert(list(doc).index("watch") if "watch" in doc else len(doc), "feeds", feeds)
    feeds.fa.set_block_style()
    trailing = _detach_trailing_comment(feeds) if feeds else ""
    feeds.extend(items)
    if trailing:
        _attach_trailing_comment(items[-1], trailing)


def _detach_trailing_comment(seq: CommentedSeq) -> Any:
    """Take the comment lines that follow the last item (not its end-of-line comment).

    ruamel.yaml keeps the comments between a list and the next key on the list's last item,
    so without this, items appended to the list would land above those comments. Returns a
    comment token to put on the new last item, or None.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node: Any = seq
    last: Any = len(seq) - 1
    while True:
        slot = 0 if isinstance(node, CommentedSeq) else 2
        entry = node.ca.items.get(last)
        token = entry[slot] if entry and len(entry) > slot else None
        if token is not None:
            return _split_comment(entry, slot)
        child = node[last]
        if not isinstance(child, CommentedMap | CommentedSeq) or not child:
            return None
        node, last = child, (len(child) - 1 if isinstance(child, CommentedSeq) else list(child)[-1])


def _split_comment(entry: list[Any], slot: int) -> Any:
    """Keep the end-of-line part of a comment token in place; return the rest as a new token."""
    token = entry[slot]
    head, _, tail = token.value.partition("\n")
    if not tail:
        return None
    moved = copy.copy(token)
    moved.value = "\n" + tail
    if head.strip():
        token.value = head + "\n"
    else:
        entry[slot] = None
    return moved


def _attach_trailing_comment(item: CommentedMap, token: Any) -> None:
    item.ca.items[list(item)[-1]] = [None, None, token, None]


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _write_checked(config: Path, text: str, original: str) -> None:
    """Replace the file atomically; put the original back if the result no longer loads."""
    _write_atomic(config, text)
    try:
        load_config(config)
    except ConfigError:
        if original:
            _write_atomic(config, original)
        else:
            config.unlink()
        raise


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)


# --------------------------------------------------------------------------------------------
# Alerts, digests, delivery targets and the dashboard's address
#
# `notify:` names lists of apprise URLs; `alerts:` are rules that monitor.alerts evaluates;
# `digests:` are scheduled emails that monitor.digest builds; `dashboard.url` is the base of
# the links in messages, `dashboard.allow` who may see the dashboard once signed in (what
# matches is monitor/access.py's). Checked here like the rest of the file (every problem at
# once, with its line); what the rules mean is left to monitor/alerts.py, sending to
# monitor/notify.py.

ALERT_KINDS = ("spike", "above", "first", "together", "feed-down")
COUNT_ALERTS = ("spike", "above", "first", "together")  # rules on mention counts
DIGEST_PERIODS = ("day", "week")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AlertRule:
    """One rule of `alerts:`, its entities resolved against the watchlist."""

    name: str
    when: str  # one of ALERT_KINDS
    entities: tuple[str, ...] = ()  # the watched entities it looks at (feed-down: none)
    feeds: tuple[str, ...] = ()  # feed-down: URLs of the feeds it looks at; () = every feed
    window: timedelta = timedelta(hours=24)
    baseline: timedelta = timedelta(days=14)
    factor: float = 3.0
    min: int = 5
    scope: str = "entity"  # first: "entity" (anywhere) or "feed" (in each feed)
    to: tuple[str, ...] = ()  # names from notify: or apprise URLs
    selector: str = ""  # how the entities were chosen, as written ("kind: person")


@dataclass(frozen=True)
class DigestConfig:
    """One digest of `digests:`: when it goes out, about what, to whom."""

    name: str
    every: str  # "day" | "week"
    at: str  # as written, normalized: "08:00" or "mon 08:00"
    hour: int = 8
    minute: int = 0
    weekday: int = 0  # 0 = Monday; used when every is "week"
    timezone: str = "UTC"
    entities: tuple[str, ...] = ()  # () = the whole watchlist
    to: tuple[str, ...] = ()

    @property
    def period(self) -> timedelta:
        return timedelta(days=7 if self.every == "week" else 1)


@dataclass(frozen=True)
class DashboardSettings:
    url: str | None = None  # base address of the dashboard, for links in messages
    allow: tuple[str, ...] | None = None  # who may see it once signed in; None: not said


_ALERT_SYNONYMS = {
    "spikes": "spike",
    "surge": "spike",
    "threshold": "above",
    "over": "above",
    "new": "first",
    "first-time": "first",
    "both": "together",
    "co-mention": "together",
    "co-mentions": "together",
    "cooccurrence": "together",
    "feed_down": "feed-down",
    "feeddown": "feed-down",
    "down": "feed-down",
    "failing": "feed-down",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _one_of(value: Any, choices: tuple[str, ...], synonyms: dict[str, str]) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in choices:
        return text
    guess = synonyms.get(text) or (_closest(text, choices) if text else None)
    raise ValueProblem(
        f"expected one of {', '.join(choices)}, got {_show(value)}",
        f'did you mean "{guess}"?' if guess else "",
    )


def _check_when(value: Any) -> str:
    return _one_of(value, ALERT_KINDS, _ALERT_SYNONYMS)


def _check_scope(value: Any) -> str:
    return _one_of(value, ("entity", "feed"), {"feeds": "feed", "entities": "entity"})


def _check_period(value: Any) -> str:
    synonyms = {"daily": "day", "weekly": "week", "1d": "day", "7d": "week", "1w": "week"}
    return _one_of(value, DIGEST_PERIODS, synonyms)


def _check_factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "remove the quotes" if isinstance(value, str) and _is_number(value) else ""
        raise ValueProblem(f"expected a number like 3 or 2.5, got {_show(value)}", hint)
    if value <= 0:
        raise ValueProblem(f"must be more than zero, got {_show(value)}")
    return float(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_AT = re.compile(r"(?:([a-z]+)\s+)?(\d{1,2}):(\d{2})")


def _check_at(value: Any) -> str:
    """`08:00` or `mon 08:00` (weekday names in English, three letters or whole)."""
    expected = 'expected a time like "08:00" or "mon 08:00"'
    if not isinstance(value, str):
        hint = 'put it in quotes: "08:00"' if isinstance(value, int) else ""
        raise ValueProblem(f"{expected}, got {_show(value)}", hint)
    match = _AT.fullmatch(value.strip().lower())
    if not match:
        raise ValueProblem(f"{expected}, got {_show(value)}")
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ValueProblem(f"no such time of day: {_show(value)}", "hours 0-23, minutes 0-59")
    if day is not None:
        full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        if day not in WEEKDAYS and day not in full:
            guess = _closest(day[:3], WEEKDAYS)
            hint = f'did you mean "{guess}"?' if guess else "mon, tue, wed, thu, fri, sat or sun"
            raise ValueProblem(f"not a day of the week: {_show(day)}", hint)
        return f"{day[:3]} {hour:02d}:{minute:02d}"
    return f"{hour:02d}:{minute:02d}"


def _check_timezone(value: Any) -> str:
    import zoneinfo

    name = value.strip() if isinstance(value, str) else ""
    try:
        zoneinfo.ZoneInfo(name)
        return name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    zones = zoneinfo.available_timezones()
    by_case = {z.lower(): z for z in zones}
    guess = by_case.get(name.lower().replace(" ", "_"))
    if guess is None:
        ends = [z for z in zones if z.lower().endswith("/" + name.lower().replace(" ", "_"))]
        guess = ends[0] if len(ends) == 1 else _closest(name, sorted(zones))
    hint = f'did you mean "{guess}"?' if guess else "a name such as Europe/Madrid or UTC"
    raise ValueProblem(f"unknown time zone {_show(value)}", hint)


_AlertModel = _Model(
    {
        "name": _Field("str", _check_name),
        "when": _Field("any", _check_when),
        "entity": _Field("str", _check_name, default=None),
        "entities": _Field("list", _check_name, default=()),
        "kind": _Field("str", _check_kind, default=None),
        "window": _Field("any", _positive_duration, timedelta(hours=24)),
        "baseline": _Field("any", _positive_duration, timedelta(days=14)),
        "factor": _Field("any", _check_factor, 3.0),
        "min": _Field("int", default=5, minimum=1),
        "scope": _Field("any", _check_scope, "entity"),
        "feeds": _Field("list", _check_name, default=()),
        "to": _Field("list", _check_text, default=()),
    }
)
_DigestModel = _Model(
    {
        "name": _Field("str", _check_name),
        "every": _Field("any", _check_period),
        "at": _Field("any", _check_at, default=None),
        "timezone": _Field("any", _check_timezone, "UTC"),
        "entities": _Field("list", _check_name, default=()),
        "to": _Field("list", _check_text, default=()),
    }
)


def _check_allow(value: str) -> str:
    """One entry of dashboard.allow: an email address, or a whole domain as @example.org."""
    from monitor.access import allow_rule_hint, is_allow_rule

    rule = value.strip()
    if not rule:
        raise ValueProblem("empty text", "write an address or a domain like @example.org")
    if not is_allow_rule(rule):
        what = f"expected an email address or a domain like @example.org, got {_show(value)}"
        raise ValueProblem(what, allow_rule_hint(rule))
    return rule


_DashboardModel = _Model(
    {
        "url": _Field("str", _check_url, default=None),
        "allow": _Field("list", _check_allow, default=None),
    }
)

_ALERTING_MODELS: dict[str, _Model] = {
    "alerts": _AlertModel,
    "digests": _DigestModel,
    "dashboard": _DashboardModel,
}
# keys each kind of rule uses, besides name, when and to
_ALERT_KEYS = {
    "spike": {"entity", "entities", "kind", "window", "baseline", "factor", "min"},
    "above": {"entity", "entities", "kind", "window", "baseline", "min"},
    "first": {"entity", "entities", "kind", "window", "scope"},
    "together": {"entity", "entities", "kind", "window", "baseline", "min"},
    "feed-down": {"window", "feeds"},
}
_EXPECTED.update(
    {
        "notify": "a mapping of names to lists of apprise URLs",
        "alerts": "a list of alert rules",
        "digests": "a list of digests",
        "dashboard": "a mapping with url:",
        "allow": "a list of email addresses and domains like @example.org",
        "entity": "a name",
        "entities": "a list of names",
        "window": "a duration like 24h",
        "baseline": "a duration like 14d",
        "min": "a whole number",
        "to": "a list of names from notify: or apprise URLs",
    }
)
_EXPECTED_ITEM.update(
    {
        "alerts": "an alert rule (a mapping with name: and when:)",
        "digests": "a digest (a mapping with name: and every:)",
        "entities": "a name",
        "to": "a name from notify: or an apprise URL",
        "allow": "an email address or a domain like @example.org",
    }
)
_COLLECTIONS.update({"notify", "alerts", "digests", "dashboard", "entities", "to", "allow"})
_SECTIONS.update({"alerts", "digests"})
_MISSING_HINTS.update(
    {
        "when": f'add "when: ..." with one of {", ".join(ALERT_KINDS)}',
        "every": 'add "every: day" or "every: week"',
    }
)


def _check_alerting(
    checker: _Checker,
    data: dict[str, Any],
    feeds: list[tuple[int, dict[str, Any]]],
    watch: list[tuple[int, dict[str, Any]]],
) -> dict[str, Any]:
    """Check notify:, alerts:, digests: and dashboard:; return the Config fields they give."""
    if not any(data.get(key) is not None for key in ("notify", "alerts", "digests", "dashboard")):
        return {}  # the common case: nothing to check, nothing to import
    entities = _EntityIndex([e for _, e in watch])
    for key in ("alerts", "digests"):
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            what, hint = _wrong_type((key,), value)
            checker.add((key,), what, hint)
    notify = _check_notify(checker, data.get("notify"))
    targets = _Targets(checker, notify)
    alerts = []
    listed = _listed(data, "alerts")
    for index, rule in checker.check_items(_AlertModel, listed, "alerts"):
        given = {key for key, value in listed[index].items() if value is not None}
        given &= _AlertModel.model_fields.keys()  # an unknown key is reported already
        checked = _check_alert(checker, index, rule, given, entities, feeds, targets)
        if checked is not None:
            alerts.append(checked)
    _check_unique(checker, "alerts", _names(data, "alerts"))
    digests = []
    for index, item in checker.check_items(_DigestModel, _listed(data, "digests"), "digests"):
        digests.append(_check_digest(checker, index, item, entities, targets))
    _check_unique(checker, "digests", _names(data, "digests"))
    dashboard = DashboardSettings()
    if data.get("dashboard") is not None:
        if not isinstance(data["dashboard"], dict):
            what = f"expected {_EXPECTED['dashboard']}, got {_kind_of(data['dashboard'])}"
            checker.add(
                ("dashboard",), what, 'write "dashboard:" and, below it, "  url: https://..."'
            )
        else:
            values = checker.validate(_DashboardModel, data["dashboard"], ("dashboard",))
            if values is not None:
                allow = values["allow"]
                dashboard = DashboardSettings(
                    url=values["url"], allow=None if allow is None else tuple(allow)
                )
    return {"notify": notify, "alerts": alerts, "digests": digests, "dashboard": dashboard}


def _listed(data: dict[str, Any], key: str) -> Any:
    """A section that should be a list, or None (a wrong type is reported by the caller)."""
    value = data.get(key)
    if value is not None and not isinstance(value, list):
        return None
    return value


def _names(data: dict[str, Any], key: str) -> list[tuple[int, str]]:
    """(index, name) of the items of a section that have a name."""
    items = _listed(data, key) or []
    return [
        (i, item["name"])
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip()
    ]


def _check_unique(checker: _Checker, section: str, named: list[tuple[int, str]]) -> None:
    first: dict[str, int] = {}
    for index, name in named:
        key = _fold_name(name)
        if key in first:
            earlier = first[key]
            line = checker.line((section, earlier, "name"))
            checker.add(
                (section, index, "name"),
                f'duplicate name "{_collapse(str(name))}", already {section}[{earlier}]',
                f"first used on line {line}; names must differ",
            )
        else:
            first[key] = index


class _EntityIndex:
    """Watched entities by any of their names (case, accents and spaces aside)."""

    def __init__(self, entities: list[dict[str, Any]]):
        self.names = [e["name"] for e in entities]
        self.kinds = {e["name"]: e.get("kind") for e in entities}  # (None: a kind with a problem)
        self.by_key: dict[str, str] = {}
        for e in entities:
            for name in (e["name"], *e.get("aliases", ())):
                self.by_key.setdefault(_fold_name(name), e["name"])

    def find(self, name: str) -> str | None:
        return self.by_key.get(_fold_name(name))

    def hint(self, name: str) -> str:
        guess = _closest(name, self.names) or _closest(_fold_name(name), list(self.by_key))
        if guess in self.by_key:
            guess = self.by_key[guess]
        return f'did you mean "{guess}"?' if guess else "add it to watch:, or correct the name"


def _check_notify(checker: _Checker, value: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        hint = 'write "notify:" and, below it, "  team: [mailtos://...]"'
        checker.add(("notify",), f"expected {_EXPECTED['notify']}, got {_kind_of(value)}", hint)
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, urls in value.items():
        loc: Loc = ("notify", key)
        name = _collapse(str(key))
        if not isinstance(key, str) or not any(ch.isalnum() for ch in name):
            checker.add(loc, f"not a usable name: {_show(key)}", "a word such as team or desk")
            continue
        items = [urls] if isinstance(urls, str) else urls
        if not isinstance(items, list) or not items:
            what = f"expected a list of apprise URLs, got {_kind_of(urls)}"
            checker.add(loc, what, 'write [mailtos://...] or ["json://host/path", "slack://..."]')
            continue
        good = []
        for i, url in enumerate(items):
            where: Loc = (*loc, i) if not isinstance(urls, str) else loc
            problem = _delivery_url_problem(url)
            if problem:
                checker.add(where, *problem)
            else:
                good.append(url.strip())
        if len(good) == len(items):
            out[name] = tuple(good)
    return out


def _delivery_url_problem(url: Any) -> tuple[str, str] | None:
    """Why `url` cannot be a delivery target (what, hint), or None when it can.

    Messages never quote the URL itself, which may hold a password or a token.
    """
    from .notify import known_scheme, redact_url, url_is_known

    if not isinstance(url, str) or not url.strip():
        return f"expected an apprise URL, got {_kind_of(url)}", ""
    text = url.strip()
    if "://" not in text:
        return "not an apprise URL (no scheme://)", "write it like mailtos://user:${PASSWORD}@host"
    if "${" in _VAR.sub("", text):
        hint = "write ${NAME} with letters, digits and _ only, such as ${SMTP_PASSWORD}"
        return "a ${...} that does not name an environment variable", hint
    scheme = text.split("://", 1)[0].lower()
    if not known_scheme(scheme):
        return f'unknown delivery service "{scheme}://"', (
            "see https://github.com/caronc/apprise/wiki for the URL of each service"
        )
    if not url_is_known(text):
        what = f'incomplete or malformed {scheme}:// URL: "{redact_url(text)}"'
        return what, f"see https://github.com/caronc/apprise/wiki for what {scheme}:// needs"
    return None


class _Targets:
    """What `to:` may name: the names of notify:, or apprise URLs."""

    def __init__(self, checker: _Checker, notify: dict[str, tuple[str, ...]]):
        self.checker = checker
        self.names = dict(notify)
        raw = checker.root.get("notify") if isinstance(checker.root, dict) else None
        # names given in notify: but with a problem: reported there, not again here
        self.broken = (
            {_collapse(str(k)) for k in raw} - set(notify) if isinstance(raw, dict) else set()
        )

    def check(self, loc: Loc, items: list[str]) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(items):
            text = item.strip()
            if "://" in text:
                problem = _delivery_url_problem(text)
                if problem:
                    self.checker.add((*loc, i), *problem)
                    continue
                out.append(text)
            elif text in self.names or text in self.broken:
                out.append(text)
            else:
                guess = _closest(text, list(self.names))
                if guess:
                    hint = f'did you mean "{guess}"?'
                elif self.names:
                    hint = f"names in notify: {', '.join(self.names)}"
                else:
                    hint = "define it under notify:, or write an apprise URL"
                self.checker.add((*loc, i), f'no target "{text}" in notify:', hint)
        return tuple(out)


def _check_alert(
    checker: _Checker,
    index: int,
    rule: dict[str, Any],
    given: set[str],
    entities: _EntityIndex,
    feeds: list[tuple[int, dict[str, Any]]],
    targets: _Targets,
) -> AlertRule | None:
    """One rule's checked values (`given`: the keys written, not left empty) -> AlertRule."""
    loc: Loc = ("alerts", index)
    when, window, baseline = rule["when"], rule["window"], rule["baseline"]
    unused = sorted(k for k in given - _ALERT_KEYS[when] - {"name", "when", "to"})
    before = len(checker.issues)
    for key in unused:
        uses = ", ".join(sorted(_ALERT_KEYS[when]))
        checker.add((*loc, key), f'"{key}" is not used by when: {when}', f"it uses {uses}")
    chosen, selector = _alert_entities(checker, loc, rule, given, entities)
    if when in COUNT_ALERTS and window % timedelta(hours=1):
        checker.add((*loc, "window"), "must be whole hours, like 6h or 2d", "rules count by hour")
    if "baseline" in _ALERT_KEYS[when] and baseline % timedelta(hours=1):
        checker.add((*loc, "baseline"), "must be whole hours, like 7d or 36h")
    elif "baseline" in _ALERT_KEYS[when] and baseline < window:
        checker.add(
            (*loc, "baseline"),
            "must be at least as long as the window",
            "the baseline is the period before the window that it is compared with",
        )
    for key in ("window", "baseline"):
        if rule[key] > timedelta(days=366):
            checker.add((*loc, key), "must be a year or shorter")
    urls = _rule_feeds(checker, loc, rule["feeds"], feeds)
    to = targets.check((*loc, "to"), rule["to"])
    if len(checker.issues) > before:
        return None
    return AlertRule(
        name=rule["name"],
        when=when,
        entities=chosen,
        feeds=urls,
        window=window,
        baseline=baseline,
        factor=rule["factor"],
        min=rule["min"],
        scope=rule["scope"],
        to=to,
        selector=selector,
    )


def _alert_entities(
    checker: _Checker, loc: Loc, rule: dict[str, Any], given: set[str], entities: _EntityIndex
) -> tuple[tuple[str, ...], str]:
    """The watched entities a rule is about, and how they were chosen."""
    if rule["when"] == "feed-down":
        return (), ""
    ways = [k for k in ("entity", "entities", "kind") if k in given]
    if not ways:
        checker.add(loc, 'missing "entity", "entities" or "kind"', "say which entities it watches")
        return (), ""
    if len(ways) > 1:
        checker.add(
            (*loc, ways[1]), f'give one of "entity", "entities" or "kind", not {" and ".join(ways)}'
        )
        return (), ""
    chosen: list[str] = []
    kind, entity = rule["kind"], rule["entity"]
    if kind is not None:
        chosen = [name for name, of_kind in entities.kinds.items() if of_kind == kind]
        if not chosen:
            checker.add((*loc, "kind"), f'no watched entity is a "{kind}"', "add one to watch:")
        selector = f"kind: {kind}"
    else:
        names = [entity] if entity is not None else list(rule["entities"])
        key: Loc = (*loc, "entity") if entity is not None else (*loc, "entities")
        for i, name in enumerate(names):
            found = entities.find(name)
            if found is None:
                where = key if entity is not None else (*key, i)
                checker.add(where, f'"{name}" is not in the watch list', entities.hint(name))
            elif found not in chosen:
                chosen.append(found)
        if entity is None and not names:
            checker.add(key, "empty list", "name at least one watched entity")
        selector = ", ".join(chosen)
    if rule["when"] == "together" and chosen and len(chosen) < 2:
        checker.add(loc, "together needs two or more entities", "list them in entities: [A, B]")
    return tuple(chosen), selector


def _rule_feeds(
    checker: _Checker, loc: Loc, names: list[str], feeds: list[tuple[int, dict[str, Any]]]
) -> tuple[str, ...]:
    """The keys of the feeds a rule names (by name, key or URL as written)."""
    if not names:
        return ()
    # a feed is known in the store by its key: its URL with secrets hidden
    by_name = {_fold_name(f["name"]): redact_url(f["url"]) for _, f in feeds}
    by_name |= {u: redact_url(f["url"]) for _, f in feeds for u in (f["url"], redact_url(f["url"]))}
    urls = []
    for i, name in enumerate(names):
        url = by_name.get(_fold_name(name)) or by_name.get(name)
        if url is None:
            guess = _closest(name, [f["name"] for _, f in feeds])
            hint = f'did you mean "{guess}"?' if guess else "a name or URL from feeds:"
            checker.add((*loc, "feeds", i), f'no feed "{name}" in feeds:', hint)
        else:
            urls.append(url)
    return tuple(dict.fromkeys(urls))


def _check_digest(
    checker: _Checker,
    index: int,
    item: dict[str, Any],
    entities: _EntityIndex,
    targets: _Targets,
) -> DigestConfig:
    loc: Loc = ("digests", index)
    every = item["every"]
    at = item["at"] or ("mon 08:00" if every == "week" else "08:00")
    day, _, clock = at.rpartition(" ")
    if every == "day" and day:
        checker.add((*loc, "at"), "a daily digest takes a time only", f'write "{clock}"')
    if every == "week" and not day:
        checker.add((*loc, "at"), "a weekly digest takes a day and a time", f'write "mon {clock}"')
        day = "mon"
    chosen = []
    for i, name in enumerate(item["entities"]):
        found = entities.find(name)
        if found is None:
            checker.add(
                (*loc, "entities", i), f'"{name}" is not in the watch list', entities.hint(name)
            )
        elif found not in chosen:
            chosen.append(found)
    hour, minute = (int(part) for part in clock.split(":"))
    return DigestConfig(
        name=item["name"],
        every=every,
        at=f"{day} {clock}" if every == "week" else clock,
        hour=hour,
        minute=minute,
        weekday=WEEKDAYS.index(day) if day in WEEKDAYS else 0,
        timezone=item["timezone"],
        entities=tuple(chosen),
        to=targets.check((*loc, "to"), item["to"]),
    )
