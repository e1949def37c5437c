"""Text helpers: feed HTML to plain text, white space, accent folding, URL canonicalization.

Everything here is pure and fast enough to run on every article. Parsing feeds is
`monitor.parse`'s job, counting names is `monitor.match`'s; this module only supplies the
string operations both rely on:

- `html_to_text`: the plain text of feed HTML (script and style content dropped, entities
  decoded, block boundaries turned into spaces, white space collapsed);
- `collapse_ws`: runs of any white space become one space, ends stripped;
- `fold`: lower-case, accent-free text of the **same length** as the input, so that a position
  found in `fold(s)` is the same position in `s`;
- `canonical_url` / `is_http_url`: the URL form used as an article's identity across feeds
  (and, with its fragment kept, the form an article's link is stored in);
- `plot_text`: a name as a chart label that plotly shows as it is, never as markup.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import NamedTuple
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

import nh3

__all__ = ["canonical_url", "collapse_ws", "fold", "html_to_text", "is_http_url", "plot_text"]

# --- HTML -> text ----------------------------------------------------------------------------

# Tags whose start or end separates words. A space is put before each of them, so that
# `<p>a</p><p>b</p>` reads "a b" while inline tags (`Bu<b>kele</b>`) join their text.
_BLOCK_TAGS = (
    "address|article|aside|blockquote|br|caption|dd|details|div|dl|dt|figcaption|figure|footer|"
    "h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|table|tbody|td|tfoot|th|thead|tr|ul"
)
_BLOCK_TAG_RE = re.compile(rf"<(?=/?(?:{_BLOCK_TAGS})[\s/>])", re.IGNORECASE)


def plot_text(s: str) -> str:
    """`s` for a chart's trace name, category, title or hover template, shown as it is.

    Plotly reads a subset of HTML in every text it draws: `<a href>` (http, https, mailto),
    with a `popup` attribute that becomes an onclick script, `<b>`, `<span style>`, `<br>`...
    An entity or feed name from feeds.yaml or a feed is text, so its `&`, `<` and `>` are
    written as entities, which plotly turns back into characters. Quotes are left alone:
    plotly would show `&quot;` as it is. `html.unescape` gives back `s` (a clicked category).
    """
    return html.escape(s, quote=False)


def collapse_ws(s: str) -> str:
    """Turn every run of white space (any Unicode space, tab, line break) into one space; strip."""
    # Already collapsed (the usual case, and much cheaper to check than to redo): no two spaces
    # in a row, none at the ends, and no other white space (which `isprintable` rejects).
    if s.isprintable() and "  " not in s and s[:1] != " " and s[-1:] != " ":
        return s
    return " ".join(s.split())


# Markup that an HTML parser reads as its text in order, tags only separating or joining it:
# start and end tags of common inline and block elements with plain attributes. A body made
# only of text and these tags is read here; anything else (comments, script, style, tables,
# whose stray text a parser moves, forms, unusual attribute quoting...) goes through nh3.
_PLAIN_TAGS = (
    "a|abbr|address|article|aside|b|bdi|bdo|big|blockquote|br|cite|code|dd|del|dfn|div|dl|dt|"
    "em|figcaption|figure|footer|h[1-6]|header|hr|i|img|ins|kbd|li|main|mark|nav|ol|p|q|s|"
    "samp|section|small|span|strike|strong|sub|summary|sup|time|tt|u|ul|var|wbr"
)
_PLAIN_TAG_RE = re.compile(
    rf"</(?:{_PLAIN_TAGS})\s*>"
    rf"|<(?:{_PLAIN_TAGS})"
    r"""(?:\s+[a-z_:][-a-z0-9_:.]*(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]+))?)*\s*/?>""",
    re.IGNORECASE,
)


def html_to_text(html_text: str) -> str:
    """Return the plain text of a piece of feed HTML, on one line.

    Tags are removed (the content of script and style elements with them), character
    references decoded, block-level tag boundaries become spaces, and white space is collapsed.
    Text without tags or references only has its white space collapsed.
    """
    if "<" not in html_text:
        if "&" in html_text:
            html_text = html.unescape(html_text)
        return collapse_ws(html_text)
    spaced = _BLOCK_TAG_RE.sub(" <", html_text)
    plain = _plain_markup_text(spaced)
    if plain is not None:
        return collapse_ws(plain)
    text = nh3.clean(spaced, tags=set())
    return collapse_ws(html.unescape(text) if "&" in text else text)


def _plain_markup_text(s: str) -> str | None:
    """The text of `s` when it is text and `_PLAIN_TAG_RE` tags only (each piece of text
    decoded on its own, as a parser does), else None. The same text as nh3's reading (the
    tests hold the two to it), five times faster: most feed summaries are such markup."""
    pieces = _PLAIN_TAG_RE.split(s)
    if any("<" in piece or "\x00" in piece for piece in pieces):
        return None
    return "".join(html.unescape(p) if "&" in p else p for p in pieces)


# --- folding ---------------------------------------------------------------------------------

# `fold` lower-cases with `str.lower` (which keeps the length, "İ" aside), then maps each
# character to its accent-free form. The map is built once, here, for the code points up to the
# end of the general punctuation / letter-like blocks, Latin Extended-D/E, Cyrillic Extended-B
# and the presentation / half- and full-width forms; characters outside are kept as they are.
_FOLD_RANGES = ((0, 0x3000), (0xA640, 0xAB70), (0xFB00, 0xFFF0))

_FOLD_EXTRA = {
    "\u2019": "'",  # right single quotation mark (curly apostrophe)
    "\u2018": "'",  # left single quotation mark
    "\u02bc": "'",  # modifier letter apostrophe
    "\u201a": "'",  # single low-9 quotation mark
    "\u201b": "'",  # single high-reversed-9 quotation mark
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u201f": '"',  # double high-reversed-9 quotation mark
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u03c2": "\u03c3",  # final sigma: str.lower() picks one sigma or the other by context
}


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _fold_char(c: str) -> str:
    """The character a lower-cased character `c` folds to (itself when there is no one form)."""
    if c in _FOLD_EXTRA:
        return _FOLD_EXTRA[c]
    nfkd = unicodedata.normalize("NFKD", c)
    base = "".join(ch for ch in nfkd if not unicodedata.combining(ch)).lower()
    if len(base) != 1:
        return c
    # Folding never turns a word character into a non-word one or the reverse (the circled
    # letter "ⓐ" is a symbol, "a" a letter), nor anything into white space ("´" is a space and
    # a combining accent), so word boundaries read the same in the text and in its fold.
    if _is_word_char(base) != _is_word_char(c) or base.isspace() != c.isspace():
        return c
    return base


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for lo, hi in _FOLD_RANGES:
        for cp in range(lo, hi):
            if 0xD800 <= cp < 0xE000:
                continue
            folded = _fold_char(chr(cp))
            if folded != chr(cp):
                table[cp] = folded
    return table


class _FoldTables(NamedTuple):
    chars: dict[int, str]  # code point -> its fold, for those that fold to another character
    runs: re.Pattern[str]  # runs of characters that fold to something else (the general path)
    latin1: bytes  # byte maps (`_build_byte_table`)
    cp1252: bytes


@functools.cache
def _fold_tables() -> _FoldTables:
    """Built on the first text that is not ASCII (~20 ms: a command that folds none, such as
    a poll where every feed is unchanged, never builds them)."""
    chars = _build_fold_table()
    runs = re.compile("([" + "".join(re.escape(chr(cp)) for cp in chars) + "]+)")
    return _FoldTables(
        chars, runs, _build_byte_table("latin-1", chars), _build_byte_table("cp1252", chars)
    )


def _build_byte_table(encoding: str, chars: dict[int, str]) -> bytes:
    """A byte map doing `fold` on text encoded in a one-byte `encoding` (latin-1 or cp1252).

    Bytes whose character folds to one the encoding lacks ("µ" folds to the Greek "μ") are
    kept; `fold` sends text containing them down the general path.
    """
    table = bytearray(range(256))
    for b in range(256):
        try:
            c = bytes([b]).decode(encoding)
            table[b] = chars.get(ord(c.lower()), c.lower()).encode(encoding)[0]
        except UnicodeError:
            continue
    return bytes(table)


_BYTE_UNFOLDABLE = "µ"
# Characters outside latin-1 that are common in news text and fold to ASCII: quotes, dashes.
_WIDE_TO_ASCII = tuple((c, f) for c, f in _FOLD_EXTRA.items() if f.isascii())


def _fold_general(s: str) -> str:
    """`fold` for any text: lower-case, then map the runs of characters that fold."""
    if "\u0130" in s:  # "İ".lower() is two characters
        s = s.replace("\u0130", "I")
    tables = _fold_tables()
    parts = tables.runs.split(s.lower())
    parts[1::2] = [run.translate(tables.chars) for run in parts[1::2]]
    return "".join(parts)


def fold(s: str) -> str:
    """Lower-case, accent-free form of `s`, one character for each character of `s`.

    `fold("José Raúl")` is `"jose raul"`; curly apostrophes and quotes become straight ones
    (`'`, `"`), typographic dashes `-`, and no-break, thin and other spaces a plain space.
    Characters with no one-character form (`ß`, `æ`, `½`) are only lower-cased. Because the
    length never changes, positions in `fold(s)` are positions in `s`.
    """
    if s.isascii():
        return s.lower()
    # Fast paths (the same result as `_fold_general`): most Western text is latin-1 once its
    # curly quotes and dashes are replaced, or else cp1252; fold it with a byte map.
    if _BYTE_UNFOLDABLE not in s:
        for wide, ascii_char in _WIDE_TO_ASCII:
            if wide in s:
                s = s.replace(wide, ascii_char)
        tables = _fold_tables()
        for encoding, table in (("latin-1", tables.latin1), ("cp1252", tables.cp1252)):
            try:
                return s.encode(encoding).translate(table).decode(encoding)
            except UnicodeEncodeError:
                pass
    return _fold_general(s)


# --- URLs ------------------------------------------------------------------------------------

# Query parameters that only say how a reader arrived (campaigns, click ids), never which page.
# Parameters that some sites use for content (id, p, s, ref, source, cmpid, ...) are kept.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "twclid",
        "ttclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "oly_enc_id",
        "oly_anon_id",
        "vero_id",
        "_ga",
        "_gl",
    }
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def default_port(scheme: str) -> int | None:
    """The port an http or https URL means when it names none (80, 443); None for another
    scheme."""
    port = _DEFAULT_PORTS.get(scheme.lower())
    return None if port is None else int(port)


def _is_tracking(param: str) -> bool:
    key = unquote_plus(param.partition("=")[0]).strip().lower()
    return key.startswith("utm_") or key in _TRACKING_PARAMS


def _canonical_netloc(netloc: str, scheme: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # IPv6 literal
        close = hostport.find("]")
        host, port = hostport[: close + 1], hostport[close + 1 :].removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    host = host.lower()
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{userinfo}{at}{host}"


def canonical_url(url: str, *, fragment: bool = False) -> str:
    """The form of an http(s) URL used to recognise the same article behind different links.

    Scheme and host are lower-cased, a default port and the fragment dropped, tracking
    parameters (`utm_*`, `fbclid`, `gclid`, `mc_cid`, ...) removed and the other parameters
    kept in their order; an empty path becomes `/`. `www.` is kept. Anything that is not an
    http(s) URL is returned stripped but otherwise as it came.

    With `fragment=True` the fragment is kept: the link of one comment on a page
    (`/page#comment-12`) stays that comment's link. That is the form an article's link is
    stored and shown in; the form without the fragment is what identifies an article across
    feeds.
    """
    url = url.strip()
    parts = _http_parts(url)
    return url if parts is None else _canonical(parts, fragment)


def canonical_http_url(url: str, *, fragment: bool = False) -> str:
    """`canonical_url` of an http(s) URL; "" for anything else (javascript:, data:, ...)."""
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    if plain:  # already canonical (most links): no need to take it apart
        return url if plain.group(1) else url + "/"
    parts = _http_parts(url)
    return "" if parts is None else _canonical(parts, fragment)


# An http(s) URL that `_canonical` returns as it is (or with "/" for an empty path): lower-case
# scheme and host, no port, user info, query or fragment, and nothing in its path that URL
# splitting would drop or read otherwise (white space and control characters, "?", "#", "\\").
_PLAIN_URL = re.compile(r"https?://[a-z0-9][a-z0-9.-]*(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")


def is_http_url(url: str) -> bool:
    """True when `url` has an http or https scheme and a host."""
    return _http_parts(url.strip()) is not None


def _http_parts(url: str) -> SplitResult | None:
    """The parts of an http(s) URL with a host; None for anything else."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)
    except ValueError:
        return None
    return parts if ok else None


def _canonical(parts: SplitResult, fragment: bool = False) -> str:
    scheme = parts.scheme.lower()
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit(
        (
            scheme,
            _canonical_netloc(parts.netloc, scheme),
            parts.path or "/",
            query,
            parts.fragment if fragment else "",
        )
    )
