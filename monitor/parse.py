"""Feed bytes -> entries with plain text, absolute links and UTC times. Pure: no I/O.

Two parsers, chosen per body (figures in ../shared/NOTES.md):
- fastfeedparser (Rust-backed, ~40x faster) for bodies that are well-formed XML: it supplies
  the text and the dates, while the link, the guid and the title of each entry are read here
  from the XML tree, by the rules below;
- feedparser for everything else (undefined entities, broken markup), which it recovers from
  more faithfully, and for the rare well-formed feed whose entries fastfeedparser would read
  differently (two dates of one kind, a date it cannot read, a title only in media:title...).
Both paths apply the same rules, and tests/data/feeds/ holds them to the same results:

- **Character set** (RFC 7303): a byte order mark, else the `charset` of an XML media type in
  the HTTP Content-Type, else the XML declaration, else UTF-8. `us-ascii` is read as UTF-8 and
  `iso-8859-1` as windows-1252 (as browsers do); bytes that are invalid in the encoding chosen
  are read as windows-1252, one by one, so a stray Latin-1 byte costs nothing else.
- **Link**: the entry's first `rel="alternate"` link (a link without `rel` counts as one; an
  RSS `<link>` is one, with its URL as text or, leniently, in `href`; an Atom `<link>` with
  its URL as text and no `href` too), else in RSS a `<guid>` that is a permalink (no
  `isPermaLink="false"`) and an http(s) URL, else none. Enclosure, license, self, via,
  related and other links never are, nor is an Atom `<id>`. Links are made absolute (against
  xml:base, else the feed's home page, else the feed's URL) and kept only if http(s).
- **Title**: the entry's own `<title>` (or `dc:title`), markup and all (Atom `type="xhtml"`,
  Atom 0.3 `mode="xml"` and `mode="base64"`, tags left unescaped), as plain text;
  `media:title` only when the entry has no title.
- **Date**: the publication date (`pubDate`, `published`, `dcterms:issued`), else the last
  update (`updated`, `dc:date`, `dcterms:modified`); when an entry gives two dates of one kind,
  the last one counts. Dates before 1900 (`Mon, 01 Jan 0001`) are not dates: the entry is
  treated as undated; so is an entry without a date element, whatever its guid looks like.
  A date is read as written or not at all: a reading whose year is not the one written
  (PHP's zero date `Wed, 30 Nov -0001`, which one parser took for 2000) is not a date, and
  a part the string lacks is never filled in from today (`Dec 2026`, `12`, `Monday`).

Neither parser sanitizes for us: titles and summaries become plain text here
(text.html_to_text). What it leaves to others: fetching (fetch.py), deduplication and dates
that are missing or in the future (poll.py).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import codecs
import functools
import html
import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urljoin

import fastfeedparser
import fastfeedparser.main
import feedparser
from dateutil import parser as dateutil_parser
from lxml import etree

from .errors import ParseError
from .models import Entry, ParsedFeed
from .text import canonical_http_url, collapse_ws, html_to_text

MIN_YEAR = 1900  # an earlier date is a placeholder (0001-01-01), never a publication time

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
# an entity defined in terms of other entities: the shape of "billion laughs" expansion bombs
_NESTED_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[\w.-]+\s+(\"[^\"]*&|'[^']*&)", re.I)
_ITEM = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>]")
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
_EMPTY_LINK = re.compile(rb"<link\s*/>|<link\s*>\s*</link\s*>")
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, recover=False
)


def _no_dateparser(value: str) -> None:
    """fastfeedparser's last resort for a date string, dateparser, is not used.

    It cost a cold ingest of 10,000 articles ~0.3 s (0.15 s to load on first use, then ~0.3 ms
    a string), nearly all of it on the guids of undated RSS items, which fastfeedparser tries
    as dates (and whose readings are not used: see `_from_fastfeedparser`). A date only it
    reads ("2 hours ago", against the clock) now goes, like any date fastfeedparser cannot
    read, to feedparser, so that both paths read the same dates.
    """
    return None


if callable(getattr(fastfeedparser.main, "_slow_dateparser", None)):
    fastfeedparser.main._slow_dateparser = _no_dateparser

# Two defaults that differ in year, month and day (at midnight, as dateutil's own default is)
_DEFAULTS = (datetime(2001, 1, 1), datetime(2004, 2, 2))


@functools.lru_cache(maxsize=512)
def _dateutil_as_written(value: str) -> datetime | None:
    """fastfeedparser's dateutil fallback, without filling in from today what the string lacks.

    dateutil completes a partial date from a default, today's date unless told otherwise:
    `Dec 2026` read as the 2nd of December on the 2nd, `12` as the 12th of this month,
    `Monday` as next Monday. Read against two defaults, a string that names its year, month
    and day reads the same twice; any other is no date (and goes to feedparser, which reads
    only whole dates, and `2026` as the 1st of January as W3C dates say).
    """
    tzinfos = getattr(fastfeedparser.main, "_custom_tzinfos", None)
    readings = set()
    for default in _DEFAULTS:
        try:
            readings.add(dateutil_parser.parse(value, default=default, tzinfos=tzinfos))
        except (ValueError, TypeError, ArithmeticError):
            return None
    return readings.pop() if len(readings) == 1 else None


if callable(getattr(fastfeedparser.main, "_slow_dateutil_parse", None)):
    fastfeedparser.main._slow_dateutil_parse = _dateutil_as_written

# A time of day and its zone, left out when looking for the year a date string names
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?", re.I)
_YEAR = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])")


def _as_written(t: datetime | None, raw: str) -> datetime | None:
    """A parser's reading of a date string, or None when its year is not the one written.

    PHP writes an unset date as `Wed, 30 Nov -0001 00:00:00 +0000` or `-0001-11-30T00:00:00`,
    which parsers read as 2000 (a two-digit year, or an ISO 8601 "year of this century"). A
    string without a four-digit year (`01 Dec 26`, `20261201`) is taken as read.
    """
    if t is None or str(t.year) in raw:  # the common case, checked fast
        return t
    years = [int(y) for y in _YEAR.findall(_TIME_OF_DAY.sub(" ", raw))]
    if years and all(abs(t.year - year) > 1 for year in years):  # (±1: the shift to UTC)
        return None
    return t


def parse_feed(
    body: bytes, url: str, content_type: str | None = None, *, parser: str = "auto"
) -> ParsedFeed:
    """Parse one fetched body of the feed at `url`; raise ParseError if it is not a feed.

    `content_type` is the response's Content-Type header (its charset counts, see the module
    docstring). `parser="feedparser"` skips the fast path: tests use it to hold both paths to
    the same results.
    """
    if not body.strip():
        raise ParseError(url, "the response was empty")
    body = to_utf8(body, content_type)
    if _HTML_START.match(body[:2048]):
        raise ParseError(
            url,
            "the server sent an HTML page, not a feed; the feed may have moved "
            "(look for its RSS or Atom link on the site)",
        )
    if _NESTED_ENTITY.search(body[:65536]):
        raise ParseError(
            url, "the feed declares nested XML entities (an expansion attack); refused"
        )
    if parser != "feedparser":
        tree = _xml_tree(body)
        if tree is not None:
            parsed = _from_fastfeedparser(body, tree, url)
            if parsed is not None:
                return parsed
    return _from_feedparser(body, url)


def _xml_tree(body: bytes) -> etree._Element | None:
    """The parsed document when the body is well-formed XML (entities never expanded)."""
    try:
        return etree.fromstring(body, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


# Character sets ------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_DECLARATION = re.compile(rb"^<\?xml[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']\s*([A-Za-z][\w.:-]*)\s*["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.I)
# Labels that mean a superset in practice (the WHATWG Encoding Standard maps them so).
_SUPERSETS = {"ascii": "utf-8", "latin-1": "cp1252", "iso8859-1": "cp1252"}


def _decode_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: read the bytes that failed as windows-1252 (Latin-1 where unset)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in bad), exc.end


codecs.register_error("monitor-cp1252", _decode_as_cp1252)


def xml_encoding(body: bytes, content_type: str | None = None) -> tuple[str, int]:
    """The Python codec a feed body is in, and the length of its byte order mark.

    RFC 7303: a byte order mark first, then the charset parameter of an XML media type
    (`application/rss+xml`, `text/xml`, ...), then the XML declaration; UTF-8 by default.
    A charset sent with another media type (a server's `text/html; charset=...` default) is
    not about XML and is ignored. Unknown names are ignored too.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    charset = _http_charset(content_type)
    if charset:
        return charset, 0
    if body.startswith(b"<\x00?\x00"):
        return "utf-16-le", 0
    if body.startswith(b"\x00<\x00?"):
        return "utf-16-be", 0
    declaration = _DECLARATION.match(body[:512].lstrip())
    if declaration:
        found = _DECLARED_ENCODING.search(declaration.group(0))
        declared = _codec(found.group(1).decode("ascii")) if found else None
        if declared:
            return declared, 0
    return "utf-8", 0


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not (media_type.endswith(("/xml", "+xml"))):
        return None
    found = _CHARSET_PARAM.search(content_type)
    return _codec(found.group(1)) if found else None


def _codec(label: str) -> str | None:
    """The Python codec for a charset label; None for unknown ones, for codecs that are not
    text encodings (`base64`, `zlib`...) and for UTF-7 (refused by browsers too)."""
    try:
        name = codecs.lookup(label.strip()).name
        b"<".decode(name)
    except (LookupError, ValueError, UnicodeError):
        return None
    return None if name == "utf-7" else _SUPERSETS.get(name, name)


def to_utf8(body: bytes, content_type: str | None = None) -> bytes:
    """The body re-encoded as UTF-8, without a byte order mark, its declaration saying so.

    Both parsers then read the same characters, whatever the body came in. A UTF-8 body that
    declares nothing else (nearly every feed) is returned as it is.
    """
    encoding, bom = xml_encoding(body, content_type)
    if encoding == "utf-8":
        try:
            body[bom:].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return _declare_utf8(body[bom:])
    try:
        text = body[bom:].decode(encoding, "monitor-cp1252")
    except (LookupError, UnicodeError):  # a codec that fails its own way: read it as UTF-8
        text = body[bom:].decode("utf-8", "monitor-cp1252")
    return _declare_utf8(text.lstrip("\ufeff").encode("utf-8"))


def _declare_utf8(body: bytes) -> bytes:
    """`body` (UTF-8) with its XML declaration saying so, for parsers that read it."""
    stripped = body.lstrip()  # white space before the declaration: an error, but seen
    declaration = _DECLARATION.match(stripped)
    found = _DECLARED_ENCODING.search(declaration.group(0)) if declaration else None
    if not declaration or not found or found.group(1).lower() in (b"utf-8", b"utf8"):
        return body
    fixed = _DECLARED_ENCODING.sub(b'encoding="utf-8"', declaration.group(0), count=1)
    return fixed + stripped[declaration.end() :]


# The XML tree: what fastfeedparser's entries are checked and completed with -----------------

_ATOM = "{http://www.w3.org/2005/Atom}"
_ATOM03 = "{http://purl.org/atom/ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_RSS090 = "{http://my.netscape.com/rdf/simple/0.9/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_MEDIA_TITLE = "{http://search.yahoo.com/mrss/}title"
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_LINK_TAGS = ("link", f"{_RSS1}link", f"{_RSS090}link", f"{_ATOM}link", f"{_ATOM03}link")
_ATOM_ENTRY_TAGS = (f"{_ATOM}entry", f"{_ATOM03}entry")
_ITEM_TAGS = ("item", f"{_RSS1}item", f"{_RSS090}item", f"{_ATOM}entry", f"{_ATOM03}entry")

# What an entry's child element is, for the rules above. Date kinds follow feedparser's.
_OTHER, _TITLE, _MEDIA, _RSS_LINK, _ATOM_LINK, _GUID, _ATOM_ID, _PUBLISHED, _UPDATED = range(9)
_KINDS: dict[str, int] = {
    "title": _TITLE,
    f"{_RSS1}title": _TITLE,
    f"{_RSS090}title": _TITLE,
    f"{_ATOM}title": _TITLE,
    f"{_ATOM03}title": _TITLE,
    f"{_DC}title": _TITLE,
    _MEDIA_TITLE: _MEDIA,
    "link": _RSS_LINK,
    f"{_RSS1}link": _RSS_LINK,
    f"{_RSS090}link": _RSS_LINK,
    f"{_ATOM}link": _ATOM_LINK,
    f"{_ATOM03}link": _ATOM_LINK,
    "guid": _GUID,
    f"{_ATOM}id": _ATOM_ID,
    f"{_ATOM03}id": _ATOM_ID,
    "pubDate": _PUBLISHED,
    "published": _PUBLISHED,
    "issued": _PUBLISHED,
    f"{_ATOM}published": _PUBLISHED,
    f"{_ATOM}issued": _PUBLISHED,
    f"{_ATOM03}issued": _PUBLISHED,
    f"{_ATOM03}published": _PUBLISHED,
    f"{_DCTERMS}issued": _PUBLISHED,
    "updated": _UPDATED,
    "modified": _UPDATED,
    "lastBuildDate": _UPDATED,
    f"{_ATOM}updated": _UPDATED,
    f"{_ATOM}modified": _UPDATED,
    f"{_ATOM03}modified": _UPDATED,
    f"{_ATOM03}updated": _UPDATED,
    f"{_DC}date": _UPDATED,
    f"{_DCTERMS}modified": _UPDATED,
}
_FOREIGN_DATE = -1  # a date element only one of the two parsers reads: feedparser decides
_DATE_NAMES = frozenset(
    ("pubdate", "published", "issued", "date", "updated", "modified", "lastbuilddate")
)
_TAG_KINDS: dict[Any, int] = {
    **_KINDS,
    etree.Comment: _OTHER,
    etree.ProcessingInstruction: _OTHER,
    etree.Entity: _OTHER,
}


def _kind(tag: Any) -> int:
    """What a child element of an entry is; remembered per tag (at most a few thousand)."""
    kind = _TAG_KINDS.get(tag)
    if kind is None:
        # fastfeedparser reads RSS dates by their local name in any namespace, feedparser only
        # those of _KINDS: a date in another namespace goes to feedparser.
        local = tag.rpartition("}")[2].rpartition(":")[2].lower() if isinstance(tag, str) else ""
        kind = _FOREIGN_DATE if local in _DATE_NAMES else _OTHER
        if len(_TAG_KINDS) < 4096:
            _TAG_KINDS[tag] = kind
    return kind


class _ItemFacts(NamedTuple):
    guid: str
    link: str  # absolute http(s), fragment kept, or ""
    title: str  # plain text
    has_date: bool  # carries a date element fastfeedparser should have read
    date_text: str  # the text of its date elements, to check what a parser read in it


def _read_item(item: etree._Element, base: str, xml_base: bool) -> _ItemFacts | None:
    """The guid, link and title of one item or entry; None if feedparser should read it.

    `xml_base`: whether the document uses xml:base at all (looking it up costs time).
    """
    atom = item.tag in _ATOM_ENTRY_TAGS
    guid = ""
    permalink = None  # the RSS guid, when it may serve as the link
    link_el: etree._Element | None = None
    link = ""
    title_el = media_el = None
    published = updated = guids = 0
    date_text = ""
    kinds = _TAG_KINDS
    for child in item:
        kind = kinds.get(child.tag)
        if kind is None:
            kind = _kind(child.tag)
        if kind == _OTHER:
            continue
        if kind == _TITLE:
            if title_el is None and (len(child) or (child.text or "").strip()):
                title_el = child
        elif kind == _MEDIA:
            media_el = child
        elif kind in (_RSS_LINK, _ATOM_LINK):
            if not link:
                link = _alternate_href(child, kind)
                link_el = child if link else None
        elif kind in (_GUID, _ATOM_ID):
            guids += 1
            if kind == _ATOM_ID and not atom:
                return None  # an Atom id in an RSS item: feedparser takes it for the guid
            guid = (child.text or "").strip()
            if kind == _GUID and _is_permalink(child):
                permalink = guid
        elif kind == _PUBLISHED:
            published += 1
            date_text += f" {child.text or ''}"
        elif kind == _UPDATED:
            updated += 1
            date_text += f" {child.text or ''}"
        else:  # _FOREIGN_DATE
            return None
    if guids > 1 or published > 1 or updated > 1:
        return None  # two of a kind: the last one counts, which only feedparser does
    if title_el is None and (media_el is not None or item.find(f".//{_MEDIA_TITLE}") is not None):
        return None  # a title only in media:title: feedparser's rules for it are its own
    if not guid and not atom:
        guid = (item.get(_RDF_ABOUT) or "").strip()  # RSS 1.0
    if link and link_el is not None:
        relative = not link.startswith(("http://", "https://"))
        link = _link(link, _base(link_el, base) if relative and xml_base else base)
    elif permalink and permalink.startswith(("http://", "https://")):
        link = _link(permalink, base)
    title = _title_text(title_el) if title_el is not None else ""
    if title_el is not None and not title:
        return None  # a title we could not read: never store it empty
    return _ItemFacts(guid, link, title, bool(published or updated), date_text)


def _is_permalink(guid: etree._Element) -> bool:
    """RSS: a guid is a permalink unless it says otherwise (only `true` says yes, as feedparser
    reads it)."""
    value = guid.get("isPermaLink")
    if value is not None:
        return value == "true"
    for name, value in guid.attrib.items() if len(guid.attrib) else ():
        if str(name).lower() == "ispermalink":
            return value == "true"
    return True


def _alternate_href(el: etree._Element, kind: int) -> str:
    """The URL of a link element that is an alternate link, else ""."""
    if kind == _ATOM_LINK:
        rel = (el.get("rel") or "alternate").strip().lower()
        if rel != "alternate":
            return ""
    return (el.get("href") or el.text or "").strip()


def _base(el: etree._Element, base: str) -> str:
    """The base of relative links: xml:base where given, resolved against `base`."""
    xml_base = el.base
    return urljoin(base, xml_base) if xml_base else base


def _title_text(el: etree._Element) -> str:
    """Plain text of a title element, whatever it holds: text, HTML, XHTML or base64."""
    if el.attrib and el.get("mode") == "base64":
        try:
            raw = base64.b64decode((el.text or "").encode("ascii"), validate=False)
            return html_to_text(raw.decode("utf-8"))
        except (binascii.Error, UnicodeError, ValueError):
            return html_to_text(el.text or "")
    if len(el) == 0:
        return html_to_text(el.text or "")
    # markup inside the title (Atom xhtml, Atom 0.3 mode="xml", or tags left unescaped)
    inner = html.escape(el.text or "", quote=False) + "".join(
        etree.tostring(child, encoding="unicode", with_tail=True) for child in el
    )
    return html_to_text(inner)


def _feed_link(root: etree._Element) -> str:
    """The feed's home page: its channel `<link>` or Atom alternate link, as given."""
    channel = next(root.iterchildren("channel", f"{_RSS1}channel", f"{_RSS090}channel"), root)
    for el in channel.iterchildren(*_LINK_TAGS):
        href = _alternate_href(el, _KINDS[el.tag])
        if href:
            return href
    return ""


# fastfeedparser ------------------------------------------------------------------------------


def _from_fastfeedparser(body: bytes, tree: etree._Element, url: str) -> ParsedFeed | None:
    """The feed read by fastfeedparser and the XML tree; None when feedparser should read it.

    fastfeedparser's entries give the text and the dates; the tree gives each entry's guid,
    link and title (see the module docstring) and tells when fastfeedparser missed something:
    an item of its own, RSS 1.0 content:encoded (taken from the tree), a date it could not
    read, two dates or guids of one kind.
    """
    try:
        d = fastfeedparser.parse(body)
    except Exception:  # fastfeedparser raises plain ValueErrors and worse; fall back
        return None
    entries = d.get("entries") or []
    items = list(tree.iter(*_ITEM_TAGS))
    if len(entries) != len(items) or len(entries) != len(_ITEM.findall(body)):
        return None
    home = _feed_link(tree)
    base = _link(home, url) or url
    xml_base = b"xml:base" in body
    out = []
    for e, item in zip(entries, items, strict=True):
        facts = _read_item(item, base, xml_base)
        if facts is None or (facts.guid and str(e.get("id") or "").strip() != facts.guid):
            return None  # not read alike (or not paired alike): feedparser reads it all
        if facts.has_date:
            published = _as_written(
                _iso_time(e.get("published") or e.get("updated")), facts.date_text
            )
            if published is None:
                return None  # a date fastfeedparser could not read; feedparser knows more
        else:  # fastfeedparser reads a guid as a date when it can; feedparser never does
            published = None
        content = _first_content(e.get("content")) or _rss1_encoded(item)
        out.append(
            Entry(
                guid=facts.guid,
                link=facts.link,
                title=facts.title,
                text=html_to_text(content or e.get("description") or ""),
                published=_sane(published),
                author=collapse_ws(str(e.get("author") or "")),
            )
        )
    feed = d.get("feed") or {}
    return ParsedFeed(
        title=html_to_text(feed.get("title") or ""),
        link=_link(home, url),
        entries=out,
        parser="fastfeedparser",
    )


def _rss1_encoded(item: etree._Element) -> str:
    """content:encoded of an RSS 1.0 item, which fastfeedparser skips."""
    if item.tag != f"{_RSS1}item":
        return ""
    return item.findtext(_CONTENT_ENCODED) or ""


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
    # An empty <link/> says nothing, but makes feedparser ignore a permalink guid after it.
    body = _EMPTY_LINK.sub(b"", body)
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
    home = _alternate(d.feed.get("links"))
    base = _link(home, url) or url
    atom = str(d.get("version") or "").startswith("atom")
    entries = [_slow_entry(e, base, atom) for e in d.entries]
    return ParsedFeed(
        title=html_to_text(d.feed.get("title") or ""),
        link=_link(home, url),
        entries=entries,
        ttl_minutes=_int(d.feed.get("ttl")),
        parser="feedparser",
    )


def _slow_entry(e: Any, base: str, atom: bool) -> Entry:
    guid = str(e.get("id") or "").strip()
    link = _link(_alternate(e.get("links")), base)
    if not link and not atom and e.get("guidislink") and guid.startswith(("http://", "https://")):
        link = _link(guid, base)  # an RSS guid that is a permalink
    content = _first_content(e.get("content"))
    # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed, with a warning
    parsed = e.get("published_parsed") or dict.get(e, "updated_parsed")
    raw = dict.get(e, "published" if e.get("published_parsed") else "updated") or ""
    return Entry(
        guid=guid,
        link=link,
        title=html_to_text(e.get("title") or ""),
        text=html_to_text(content or e.get("summary") or ""),
        published=_sane(_as_written(_struct_time(parsed), str(raw))),
        author=collapse_ws(str(e.get("author") or "")),
    )


def _alternate(links: Iterable[Mapping[str, Any]] | None) -> str:
    """The href of the first alternate link in feedparser's list (rel defaults to alternate)."""
    for link in links or ():
        if (link.get("rel") or "alternate").strip().lower() == "alternate" and link.get("href"):
            return str(link["href"]).strip()
    return ""


def _struct_time(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


# shared --------------------------------------------------------------------------------------


def _link(value: Any, base: str) -> str:
    """An absolute http(s) URL in canonical form, fragment kept; "" for anything else."""
    if not value:
        return ""
    link = str(value).strip()
    if not link.startswith(("http://", "https://")):
        link = urljoin(base, link)
    return canonical_http_url(link, fragment=True)


def _sane(t: datetime | None) -> datetime | None:
    """A publication time, or None for placeholders such as 0001-01-01."""
    return t if t is not None and t.year >= MIN_YEAR else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
