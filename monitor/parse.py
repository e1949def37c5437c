"""Feed bytes -> entries with plain text, absolute links and UTC times. Pure: no I/O.

Two parsers, chosen per body (figures in ../shared/NOTES.md):
- fastfeedparser (Rust-backed, ~40x faster) for bodies that are well-formed XML, where it
  loses nothing;
- feedparser for everything else (undefined entities, broken markup, odd encodings), which it
  recovers from more faithfully.
Neither sanitizes for us: titles and summaries become plain text here (text.html_to_text),
and only http(s) links survive. What it leaves to others: fetching (fetch.py), deduplication
and dates that are missing or in the future (poll.py).
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import fastfeedparser
import feedparser
from lxml import etree

from .errors import ParseError
from .models import Entry, ParsedFeed
from .text import canonical_http_url, collapse_ws, html_to_text

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
# an entity defined in terms of other entities: the shape of "billion laughs" expansion bombs
_NESTED_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[\w.-]+\s+(\"[^\"]*&|'[^']*&)", re.I)
_ITEM = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>]")
_ENCODED = b":encoded>"
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, recover=False
)


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    """Parse one fetched body of the feed at `url`; raise ParseError if it is not a feed."""
    if not body.strip():
        raise ParseError(url, "the response was empty")
    head = body[:2048].lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        raise ParseError(
            url,
            "the server sent an HTML page, not a feed; the feed may have moved "
            "(look for its RSS or Atom link on the site)",
        )
    if _NESTED_ENTITY.search(body[:65536]):
        raise ParseError(
            url, "the feed declares nested XML entities (an expansion attack); refused"
        )
    tree = _xml_tree(body)
    if tree is not None:
        try:
            parsed = fastfeedparser.parse(body)
        except Exception:  # fastfeedparser raises plain ValueErrors and worse; fall back
            parsed = None
        if parsed is not None and _complete(parsed, body, tree):
            return _from_fastfeedparser(parsed, url)
    return _from_feedparser(body, url)


def _complete(parsed: Mapping[str, Any], body: bytes, tree: etree._Element) -> bool:
    """Whether fastfeedparser kept every item and the full content that the body carries.

    fastfeedparser skips content:encoded in RSS 1.0 items; it is taken from the XML tree
    when every item can be paired with its own. Anything else incomplete goes to feedparser.
    """
    entries = parsed.get("entries") or []
    if len(entries) != len(_ITEM.findall(body)):
        return False
    if _ENCODED not in body or all(e.get("content") for e in entries):
        return True
    items = tree.findall("{http://purl.org/rss/1.0/}item")
    if not items:  # not RSS 1.0: fastfeedparser reads content:encoded itself
        return True
    if len(items) != len(entries):
        return False
    for entry, item in zip(entries, items, strict=True):
        encoded = item.findtext(_CONTENT_ENCODED)
        if encoded and not entry.get("content"):
            entry["content"] = [{"value": encoded}]
    return True


def _xml_tree(body: bytes) -> etree._Element | None:
    """The parsed document when the body is well-formed XML (entities never expanded)."""
    try:
        return etree.fromstring(body, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


# fastfeedparser ------------------------------------------------------------------------------


def _from_fastfeedparser(d: Mapping[str, Any], url: str) -> ParsedFeed:
    feed = d.get("feed") or {}
    base = feed.get("link") or url
    entries = [_fast_entry(e, url, base) for e in d.get("entries") or []]
    return ParsedFeed(
        title=html_to_text(feed.get("title") or ""),
        link=_link(feed.get("link"), url),
        entries=entries,
        parser="fastfeedparser",
    )


def _fast_entry(e: Mapping[str, Any], url: str, base: str) -> Entry:
    link = _link(e.get("link"), base)
    content = _first_content(e.get("content"))
    return Entry(
        guid=str(e.get("id") or "").strip(),
        link=link,
        title=html_to_text(e.get("title") or ""),
        text=html_to_text(content or e.get("description") or ""),
        published=_iso_time(e.get("published") or e.get("updated")),
        author=collapse_ws(str(e.get("author") or "")),
    )


def _first_content(content: Iterable[Mapping[str, Any]] | None) -> str:
    values = [c.get("value") or "" for c in content or []]
    return max(values, key=len) if values else ""


def _iso_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# feedparser ----------------------------------------------------------------------------------


def _from_feedparser(body: bytes, url: str) -> ParsedFeed:
    try:
        d = feedparser.parse(
            io.BytesIO(body),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is meant never to raise; be safe all the same
        raise ParseError(url, f"not a readable feed: {exc}") from exc
    if not d.entries and (d.get("bozo") or not d.get("version")):
        reason = d.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise ParseError(url, f"not a readable RSS or Atom feed{detail}")
    base = d.feed.get("link") or url
    entries = [_slow_entry(e, base) for e in d.entries]
    return ParsedFeed(
        title=html_to_text(d.feed.get("title") or ""),
        link=_link(d.feed.get("link"), url),
        entries=entries,
        ttl_minutes=_int(d.feed.get("ttl")),
        parser="feedparser",
    )


def _slow_entry(e: Any, base: str) -> Entry:
    content = _first_content(e.get("content"))
    parsed = e.get("published_parsed") or e.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None
    return Entry(
        guid=str(e.get("id") or "").strip(),
        link=_link(e.get("link"), base),
        title=html_to_text(e.get("title") or ""),
        text=html_to_text(content or e.get("summary") or ""),
        published=published,
        author=collapse_ws(str(e.get("author") or "")),
    )


# shared --------------------------------------------------------------------------------------


def _link(value: Any, base: str) -> str:
    """An absolute, canonical http(s) URL, or "" for anything else (javascript:, data:...)."""
    if not value:
        return ""
    link = str(value).strip()
    if not link.startswith(("http://", "https://")):
        link = urljoin(base, link)
    return canonical_http_url(link)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
