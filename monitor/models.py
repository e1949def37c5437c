"""Plain data types shared by the modules. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ENTITY_KINDS = ("person", "organization", "topic", "place")

# Titles are stored at most this many characters long (real headlines stay under ~300; a feed
# with 1 MB titles once made `monitor articles` print 20 MB). The poller caps each new
# article's title with `cap_title`; its text is kept whole. Tables show up to the same length.
TITLE_MAX_CHARS = 1000


def cap_title(title: str) -> str:
    """`title`, cut to TITLE_MAX_CHARS characters (the last one "…") when longer."""
    return title if len(title) <= TITLE_MAX_CHARS else title[: TITLE_MAX_CHARS - 1] + "…"


@dataclass(frozen=True)
class Entity:
    """One watched person, organization, topic or place, with the names that count for it."""

    name: str
    kind: str = "topic"
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # None: names written in capitals only (acronyms) match only in capitals, others in any case.
    # True: every name matches exactly. False: every name matches in any case.
    case_sensitive: bool | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Entry:
    """One item of a feed as parsed, before it becomes an article."""

    guid: str  # RSS guid, Atom id or RSS 1.0 rdf:about, as given ("" if none)
    link: str  # absolute http(s) URL in canonical form, fragment kept, or ""
    title: str  # plain text
    text: str  # plain text of the summary/content
    published: datetime | None  # UTC, None when the feed gave none we could read
    author: str = ""


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    entries: list[Entry]
    ttl_minutes: int | None = None
    parser: str = ""  # which parser produced it: "fastfeedparser" or "feedparser"


@dataclass(frozen=True)
class Article:
    """An entry as stored: one per canonical URL across feeds, but never two entries of one
    feed merged (see docs/design.md, "An entry's identity")."""

    id: int  # signed 64-bit hash of the dedup key
    url: str  # the entry's link (canonical form, fragment kept), or ""
    title: str
    text: str
    published: datetime  # UTC; first_seen when missing or in the future (see date_flag)
    first_seen: datetime
    author: str
    feed: str  # URL of the first feed that carried it
    date_flag: str = ""  # "" | "missing" | "future"


@dataclass(frozen=True)
class FetchRequest:
    url: str = field(repr=False)  # the real URL, credentials and all: for the fetcher only
    etag: str | None = None
    last_modified: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)  # more values to hide in results


@dataclass
class FetchResult:
    """What a fetch gave, fit to show and store: its URLs are redacted (`secrets.redact_url`),
    and `error` and `moved_to` also hide the request's other secrets (`${VAR}` values)."""

    url: str  # the requested URL, redacted
    outcome: str  # "ok" | "unchanged" | "failed" | "gone" | "refused" (by `permit`: robots.txt)
    status: int | None = None
    body: bytes | None = None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # new URL after a permanent redirect (301/308)
    retry_after: float | None = None  # seconds, from Retry-After on 429/503 (at most 7 days)
    max_age: float | None = None  # seconds, from Cache-Control max-age or Expires (ditto)
    error: str = ""
    bytes: int = 0
    duration: float = 0.0  # seconds
    started: datetime | None = None
    final_url: str = ""  # URL the response came from, after any redirects; redacted


@dataclass
class FeedState:
    """What the poller remembers about one feed between polls (kept in the store's manifest)."""

    url: str
    name: str = ""
    tags: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_outcome: str = ""  # ok | unchanged | failed | gone
    last_status: int | None = None
    last_error: str = ""
    last_new: int = 0
    articles: int = 0  # articles stored from this feed, all time
    failures: int = 0  # consecutive failures
    next_poll: datetime | None = None
    moved_to: str | None = None
    gone: bool = False
    entry_hash: str = ""  # hash of the feeds.yaml entry; a changed entry revives a gone feed
    full_text: bool | None = None  # whether its last poll's new articles got their pages read
    entry_chars: int | None = None  # median characters of text of its entries (last poll)
    # publication time of the oldest of its articles whose page has not been tried yet: the
    # counts are not complete from then on (alerts wait; see alerts.caught_up)
    pages_pending: datetime | None = None
