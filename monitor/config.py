"""feeds.yaml -> typed `Config`, with every problem reported at once; and OPML import.

`load_config` reads the file once with ruamel.yaml's round-trip loader, which keeps the line
of every key and item, validates it with pydantic models that forbid unknown keys, and maps
each validation error back to its line, in plain words and with a hint where one helps:

    feeds.yaml:6: feeds[1].every: expected a duration like 15m or 2h, got "often"

Checks across entries (duplicate feed URLs, a name claimed by two entities) run on the entries
that are valid on their own, so one pass reports everything. The result is plain frozen
dataclasses; pydantic stays inside this module.

`import_opml` appends the feeds of an OPML file to feeds.yaml, keeping its comments.

Left to others: polling, fetching and matching (this module only describes what to do), the
store's layout (`Config.store` is only a folder path), and how errors are shown (the CLI prints
`str(issue)`, the dashboard shows them).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import html.entities
import io
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from lxml import etree
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from monitor.errors import ConfigError, ConfigIssue, OpmlError
from monitor.models import ENTITY_KINDS, Entity

CONFIG_ENV = "MONITOR_CONFIG"
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


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    tags: tuple[str, ...] = ()
    every: timedelta | None = None
    enabled: bool = True

    def interval(self, default: timedelta) -> timedelta:
        """Time between polls of this feed: its own `every`, else the default."""
        return self.every if self.every is not None else default

    @property
    def entry_hash(self) -> str:
        """Short stable hash of this entry's settings; changes when the user edits the entry."""
        every = self.every.total_seconds() if self.every is not None else None
        settings = {
            "url": self.url,
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
    store: Path  # absolute
    poll: PollSettings = field(default_factory=PollSettings)
    feeds: list[FeedConfig] = field(default_factory=list)
    watch: list[Entity] = field(default_factory=list)


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
    root = _parse_yaml(_read_text(path, file), file)
    return _Checker(file, root).build(path)


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
    return timedelta(seconds=seconds)


def parse_size(value: str | int) -> int:
    """`10MB`, `512KB`, `1GB`, `2048` -> bytes (binary units: 1KB = 1024 bytes)."""
    expected = "expected a size like 10MB or 512KB, or a number of bytes"
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueProblem(f"{expected}, got {_show(value)}")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b").lower()[0]])


def import_opml(opml: Path | str, config: Path | str) -> OpmlReport:
    """Add the feeds of an OPML file to feeds.yaml, keeping its comments and layout.

    Feeds whose URL is already in feeds.yaml (or earlier in the OPML) and non-http(s) URLs are
    skipped. The config must load before the import and still loads after it.
    """
    opml, config = Path(opml), Path(config)
    found = _read_opml(opml)
    known = {_url_key(feed.url) for feed in load_config(config).feeds} if config.exists() else set()
    report, new_items = OpmlReport(), []
    in_opml: set[str] = set()
    for feed in found:
        key = _url_key(feed.url)
        if not _is_usable_url(feed.url):
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


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _check_url(value: str) -> str:
    url = value.strip()
    if _is_http_url(url) and not any(ch.isspace() for ch in url):
        return url
    hint = ""
    if any(ch.isspace() for ch in url):
        hint = "remove the spaces"
    elif "://" not in url and "." in url.split("/")[0]:
        hint = f'add the scheme: "https://{url}"'
    raise ValueProblem(f"not an http(s) URL: {_show(url)}", hint)


def _is_usable_url(url: str) -> bool:
    """Whether feeds.yaml would accept this URL."""
    try:
        _check_url(url)
    except ValueProblem:
        return False
    return True


def _url_key(url: str) -> str:
    """What makes two feed URLs the same: scheme and host in any case, trailing slash ignored."""
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _fold_name(text: str) -> str:
    """Case-, accent- and white-space-insensitive form of a name, to find names claimed twice."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _collapse(bare.casefold())


def _check_name(value: str) -> str:
    name = _collapse(value)
    if not name:
        raise ValueProblem("empty name")
    if not any(ch.isalnum() for ch in name):
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
    return value.strip()


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
# Models (private: the public result is the dataclasses above)


def _checked(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Turn a check raising ValueProblem into a pydantic validator keeping `what` and `hint`."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except ValueProblem as exc:
            raise PydanticCustomError(
                "config_value", "{what}", {"what": exc.what, "hint": exc.hint}
            ) from None

    return validate


Duration = Annotated[timedelta, BeforeValidator(_checked(_positive_duration))]
Size = Annotated[int, BeforeValidator(_checked(_positive_size))]
Name = Annotated[str, AfterValidator(_checked(_check_name))]
Text = Annotated[str, AfterValidator(_checked(_check_text))]
Url = Annotated[str, AfterValidator(_checked(_check_url))]
Kind = Annotated[str, AfterValidator(_checked(_check_kind))]
StorePath = Annotated[str, AfterValidator(_checked(_check_store))]


class _Strict(BaseModel):
    """Unknown keys forbidden, no quiet conversions; an empty value means the default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {name for name, info in cls.model_fields.items() if not info.is_required()}
        return {k: v for k, v in data.items() if not (v is None and k in optional)}


class _PollModel(_Strict):
    every: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=20)
    max_bytes: Size = 10 * 1024 * 1024
    per_host: int = Field(default=2, ge=1)
    concurrency: int = Field(default=16, ge=1)


class _FeedModel(_Strict):
    name: Name
    url: Url
    tags: list[Text] = []
    every: Duration | None = None
    enabled: bool = True


class _EntityModel(_Strict):
    name: Name
    kind: Kind
    aliases: list[Name] = []
    exclude: list[Text] = []
    case_sensitive: bool | None = None


class _FileModel(_Strict):
    store: StorePath = "data"
    poll: _PollModel = _PollModel()
    feeds: list[Any] = []  # items checked one by one, so one bad feed hides nothing else
    watch: list[Any] = []


# --------------------------------------------------------------------------------------------
# Reading the file


def _read_text(path: Path, file: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        hint = f"create it, or pass -c PATH / set {CONFIG_ENV}"
        raise ConfigError([ConfigIssue(file, None, "", "file not found", hint)]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue(file, None, "", "is a folder, not a file")]) from None
    except OSError as exc:
        what = f"cannot read it: {exc.strerror or exc}"
        raise ConfigError([ConfigIssue(file, None, "", what)]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        issue = ConfigIssue(file, line, "", "not UTF-8 text", "save the file as UTF-8")
        raise ConfigError([issue]) from None


def _new_yaml() -> YAML:
    yaml = YAML(typ="rt")  # round trip: keeps lines and comments; refuses duplicate keys
    yaml.width = 4096  # never re-wrap long lines when writing back
    yaml.preserve_quotes = True
    return yaml


def _parse_yaml(text: str, file: str) -> Any:
    try:
        return _new_yaml().load(text)
    except MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(exc, file)]) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable YAML"
        raise ConfigError([ConfigIssue(file, None, "", f"YAML syntax error: {first}")]) from None


def _syntax_issue(exc: MarkedYAMLError, file: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = _collapse(str(exc.problem or exc.context or "unreadable YAML"))
    if "duplicate key" in problem:
        what = problem.split(" with value")[0]
        return ConfigIssue(file, line, "", what, "a key may appear once in a mapping; remove one")
    if "'\\t'" in problem:
        return ConfigIssue(file, line, "", "tab character", "indent with spaces, not tabs")
    hint = "check the indentation, colons and quotes on this line and the one above"
    return ConfigIssue(file, line, "", f"YAML syntax error: {problem}", hint)


def _plain(node: Any) -> Any:
    """ruamel's round-trip values -> plain Python (dict, list, str, int, float, bool, None)."""
    if isinstance(node, dict):
        return {_plain(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


# --------------------------------------------------------------------------------------------
# Checking: validation errors -> issues with lines

Loc = tuple[str | int, ...]

# What a key holds, in words, for "expected ..., got ..." messages. Collections describe the
# value found by its sort ("got a string"); scalars quote it ("got "often"").
_EXPECTED = {
    "store": "a folder path",
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

    def __init__(self, file: str, root: Any):
        self.file = file
        self.root = root
        self.issues: list[ConfigIssue] = []

    def build(self, path: Path) -> Config:
        if self.root is None:  # an empty file: no feeds, no watchlist
            self.root = CommentedMap()
        if not isinstance(self.root, dict):
            got = _kind_of(_plain(self.root))
            what = f"expected a mapping of settings (store:, poll:, feeds:, watch:), got {got}"
            raise ConfigError([ConfigIssue(self.file, 1, "", what)])
        data = _plain(self.root)
        top = self.validate(_FileModel, data, ())
        feeds = self.check_items(_FeedModel, data.get("feeds"), "feeds")
        watch = self.check_items(_EntityModel, data.get("watch"), "watch")
        self.check_feed_urls(feeds)
        self.check_entity_names(watch)
        if self.issues or top is None:
            raise ConfigError(sorted(self.issues, key=lambda i: i.line or 0))
        return _to_config(path, top, feeds, watch)

    def validate(self, model: type[BaseModel], data: Any, prefix: Loc) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self.issues.append(self.issue_from_error(error, prefix))
            return None

    def check_items(
        self, model: type[BaseModel], items: Any, section: str
    ) -> list[tuple[int, Any]]:
        """Validate each item of a list on its own; return the (index, model) of the valid ones."""
        if not isinstance(items, list):
            return []
        valid = []
        for index, item in enumerate(items):
            checked = self.validate(model, item, (section, index))
            if checked is not None:
                valid.append((index, checked))
        return valid

    def check_feed_urls(self, feeds: list[tuple[int, _FeedModel]]) -> None:
        first: dict[str, int] = {}
        for index, feed in feeds:
            key = _url_key(feed.url)
            if key not in first:
                first[key] = index
                continue
            earlier = first[key]
            hint = f"first listed on line {self.line(('feeds', earlier, 'url'))}; remove one"
            what = f'duplicate URL, already in feeds[{earlier}] ("{_feed_name(feeds, earlier)}")'
            self.add(("feeds", index, "url"), what, hint)

    def check_entity_names(self, watch: list[tuple[int, _EntityModel]]) -> None:
        """An entity's name or alias may belong to no other entity (case, accents, spaces aside)."""
        owner: dict[str, tuple[int, Loc]] = {}
        for index, entity in watch:
            names: list[tuple[Loc, str]] = [(("watch", index, "name"), entity.name)]
            names += [(("watch", index, "aliases", i), a) for i, a in enumerate(entity.aliases)]
            for loc, name in names:
                key = _fold_name(name)
                if key not in owner:
                    owner[key] = (index, loc)
                elif owner[key][0] != index:
                    self.add_claimed_twice(loc, name, *owner[key], watch)

    def add_claimed_twice(
        self, loc: Loc, name: str, other: int, other_loc: Loc, watch: list[tuple[int, Any]]
    ) -> None:
        other_name = dict(watch)[other].name
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

    def line(self, loc: Loc) -> int | None:
        return _line_of(self.root, loc)

    def issue_from_error(self, error: Any, prefix: Loc) -> ConfigIssue:
        loc: Loc = prefix + tuple(error["loc"])
        kind, value = error["type"], error.get("input")
        line = self.line(loc)
        if kind == "extra_forbidden":
            what, hint = _unknown_key(loc)
            return ConfigIssue(self.file, line, _where(loc[:-1]), what, hint)
        if kind == "missing":
            what, hint = f'missing key "{loc[-1]}"', _MISSING_HINTS.get(str(loc[-1]), "")
            return ConfigIssue(self.file, line, _where(loc[:-1]), what, hint)
        if kind == "config_value":
            context = error.get("ctx") or {}
            return ConfigIssue(self.file, line, _where(loc), context["what"], context["hint"])
        if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
            what, hint = _wrong_type(loc, value)
            return ConfigIssue(self.file, line, _where(loc), what, hint)
        if kind == "greater_than_equal":
            what = f"must be at least {error['ctx']['ge']}, got {_show(value)}"
            return ConfigIssue(self.file, line, _where(loc), what)
        return ConfigIssue(self.file, line, _where(loc), error["msg"])


def _feed_name(feeds: list[tuple[int, Any]], index: int) -> str:
    return str(dict(feeds)[index].name)


def _model_at(loc: Loc) -> type[BaseModel]:
    """The model that holds the key at the end of `loc`."""
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


def _line_of(root: Any, loc: Loc) -> int | None:
    """1-based line of the deepest node of `loc` present in the YAML (a key's own line)."""
    node, line = root, (root.lc.line + 1) if isinstance(root, CommentedMap) and root else None
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line, node = node.lc.key(part)[0] + 1, node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, node = node.lc.item(part)[0] + 1, node[part]
            else:
                break
        except (KeyError, AttributeError, TypeError):  # merged keys (<<) carry no position
            break
    return line


def _to_config(
    path: Path, top: _FileModel, feeds: list[tuple[int, Any]], watch: list[Any]
) -> Config:
    absolute = Path(os.path.abspath(path))
    store = Path(top.store).expanduser()
    if not store.is_absolute():
        store = absolute.parent / store
    poll = PollSettings(**top.poll.model_dump())
    return Config(
        path=absolute,
        store=Path(os.path.abspath(store)),
        poll=poll,
        feeds=[FeedConfig(f.name, f.url, tuple(f.tags), f.every, f.enabled) for _, f in feeds],
        watch=[
            Entity(e.name, e.kind, tuple(e.aliases), tuple(e.exclude), e.case_sensitive)
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
        raw = opml.read_bytes()
    except FileNotFoundError:
        raise _opml_error(opml, "file not found") from None
    except OSError as exc:
        raise _opml_error(opml, f"cannot read it: {exc.strerror or exc}") from None
    if not raw.strip():
        raise _opml_error(opml, "the file is empty", "export the subscriptions again")
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


def _append_feeds(config: Path, feeds: list[_OpmlFeed]) -> None:
    """Append feeds to the `feeds:` list of the config file, keeping comments and layout."""
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


def _match_indent(yaml: YAML, text: str) -> None:
    try:
        _, sequence, offset = load_yaml_guess_indent(text or "a: 1\n", yaml=YAML(typ="safe"))
    except (YAMLError, IndexError):
        sequence, offset = None, None
    yaml.indent(mapping=2, sequence=sequence or 4, offset=offset if offset is not None else 2)


def _feed_node(feed: _OpmlFeed) -> CommentedMap:
    node = CommentedMap(name=feed.name, url=feed.url)
    if feed.tags:
        tags = CommentedSeq(feed.tags)
        tags.fa.set_flow_style()
        node["tags"] = tags
    return node


def _add_to_feed_list(doc: CommentedMap, items: list[CommentedMap]) -> None:
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
