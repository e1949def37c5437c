"""Article pages -> the article's text. Pure: no I/O.

`read_page(body, content_type, title, feed_chars)` turns the bytes of a fetched page into the
text mentions are counted on, or says why there is none:

- **HTML only**: a page whose Content-Type is not HTML (`text/html`, `application/xhtml+xml`;
  a missing type is sniffed from the first bytes) is `failed` ("not an HTML page").
- **Character set**, as browsers read HTML: a byte order mark, else the `charset` of the HTTP
  Content-Type, else a `<meta charset>` (or `http-equiv="Content-Type"`) in the first 1,024
  bytes, else UTF-8 if the bytes are valid UTF-8, else windows-1252. `iso-8859-1` and
  `us-ascii` are read as windows-1252 and UTF-8 (the WHATWG mapping, as for feeds).
- **Main text**: trafilatura (`fast` and `favor_precision`: its own algorithm, no fallback to
  other extractors or to the whole page's text when it finds little) keeps the article's
  paragraphs and drops navigation, "most read" boxes, related links, comments, cookie banners,
  headers and footers. Its first line is dropped when it is the article's title (the
  headline is counted once, from the title).
- **Too little text**: a page whose text has fewer than `MIN_PAGE_CHARS` characters, or fewer
  than the feed's own text, is a paywall, consent or error page rather than the article
  (`short`): the feed's text is kept.

What it leaves to others: fetching and robots.txt (pages.py), counting (match.py).
"""

from __future__ import annotations

import logging
import re
import signal
import time
from dataclasses import dataclass

from .parse import _BOMS, _codec  # one set of charset rules (and the monitor-cp1252 handler)
from .text import collapse_ws, fold

MIN_PAGE_CHARS = 500  # fewer characters of article text than this: not the article
PRESCAN = 1024  # bytes searched for a <meta> charset, as browsers do
HTML_TYPES = ("text/html", "application/xhtml+xml")

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|p|div)[\s>]", re.I | re.S
)
# Labels that mean a superset in practice (WHATWG Encoding Standard), beyond parse.py's.
_HTML_SUPERSETS = {"utf-16-le": "utf-8", "utf-16-be": "utf-8", "utf-16": "utf-8"}

# trafilatura and the libraries it calls log what they discard at WARNING and ERROR; a page
# that yields nothing is an outcome recorded per article, never a line on the console.
for _name in ("trafilatura", "htmldate", "courlan", "justext", "readability"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class PageText:
    """What a page gave: `status` is `ok` (then `text` is the article's text), `short` (too
    little text: paywall, consent or error page) or `failed` (not HTML, unreadable)."""

    status: str
    text: str = ""
    reason: str = ""  # for short and failed: one line saying why
    encoding: str = ""


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_html(body: bytes, content_type: str) -> bool:
    """Whether a response is an HTML page: by its media type, else by its first bytes."""
    kind = media_type(content_type)
    if kind:
        return kind in HTML_TYPES
    return _HTML_START.match(body[:PRESCAN].lstrip(b"\xef\xbb\xbf")) is not None


def html_encoding(body: bytes, content_type: str = "") -> tuple[str, int]:
    """The Python codec an HTML page is in, and the length of its byte order mark."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    found = _CHARSET_PARAM.search(content_type or "")
    label = _html_codec(found.group(1)) if found else None
    if label:
        return label, 0
    meta = _META_CHARSET.search(body[:PRESCAN])
    label = _html_codec(meta.group(1).decode("ascii")) if meta else None
    if label:
        return label, 0
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a page cut off by the size cap may end inside a character: that alone is no reason
        if exc.start < len(body) - 3:
            return "cp1252", 0
    return "utf-8", 0


def _html_codec(label: str) -> str | None:
    name = _codec(label)
    return _HTML_SUPERSETS.get(name, name) if name else None


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """The page as text, and the codec it was read with. Bytes invalid in that codec are read
    as windows-1252, one by one (as for feeds), so a stray byte garbles nothing else."""
    encoding, bom = html_encoding(body, content_type)
    try:
        return body[bom:].decode(encoding, "monitor-cp1252"), encoding
    except (LookupError, UnicodeError):
        return body[bom:].decode("utf-8", "monitor-cp1252"), "utf-8"


def main_text(html: str) -> str:
    """The article's text in a page (paragraphs on lines of their own), "" when none found."""
    import trafilatura  # 0.2 s to import: only where pages are read

    try:
        text = trafilatura.extract(
            html,
            fast=True,
            favor_precision=True,  # no fallback to the whole page's text when little is found
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            include_formatting=False,
            deduplicate=False,
            output_format="txt",
        )
    except (ValueError, TypeError, LookupError, RecursionError, AttributeError):
        return ""  # what a broken page makes lxml or trafilatura raise
    return text or ""


def drop_title(text: str, title: str) -> str:
    """`text` without its first line when that line is the title (counted once, as the title)."""
    first, _, rest = text.partition("\n")
    if title and fold(collapse_ws(first)) == fold(collapse_ws(title)):
        return rest.lstrip("\n")
    return text


def read_page(
    body: bytes, content_type: str = "", title: str = "", feed_chars: int = 0
) -> PageText:
    """The article's text in a fetched page, or why there is none (see the module docstring).

    `title` is the article's (its line is dropped from the text); `feed_chars` the length of
    the feed's own text (the page must give at least as much).
    """
    if not is_html(body, content_type):
        shown = media_type(content_type) or "unknown type"
        return PageText("failed", reason=f"not an HTML page ({shown})")
    html, encoding = decode_html(body, content_type)
    text = drop_title(main_text(html).strip(), title).strip()
    chars = len(collapse_ws(text))
    need = max(MIN_PAGE_CHARS, feed_chars)
    if chars < need:
        found = f"{chars:,} characters of text" if chars else "no article text"
        return PageText(
            "short",
            reason=f"{found} on the page, {need:,} needed (a paywall, consent or error page?)",
            encoding=encoding,
        )
    return PageText("ok", text=text, encoding=encoding)


# In the worker processes of pages.py -----------------------------------------------------------


def worker_setup() -> None:
    """A worker ignores Ctrl-C (the poller's business; workers stop with it) and loads
    trafilatura before its first page."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import trafilatura  # noqa: F401


def worker_ready(seconds: float) -> bool:
    """Occupy a worker for a moment, so that each worker of a new pool gets started."""
    time.sleep(seconds)
    return True
