"""The article cards: the one place where text from feeds becomes HTML.

Every piece of feed text (title, snippet, author, feed name, entity names, the other copies of
a story, a rising name's sample articles) is escaped here; matched names and search words are
marked with <mark>; only http(s) links become links, opened with
rel="noopener noreferrer nofollow". Nothing else in the dashboard builds HTML from feed text.
A card shows each entity's tone in the article and, for a syndicated story, its other copies
in a <details> element (expandable, no script).

What it leaves to others: which articles (the pages, through monitor.queries), the matching
rules (monitor/match.py).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from monitor.match import Matcher
from monitor.text import collapse_ws, fold, is_http_url

from .data import Context, matcher
from .widgets import empty_state, ink

PAGE_SIZE = 50  # articles per page


CARD_CSS = """
<style>
.mm-list { font-family: inherit; }
.mm-card { padding: 0.55rem 0.2rem 0.7rem; border-bottom: 1px solid rgba(49, 51, 63, 0.12); }
.mm-meta { color: rgba(49, 51, 63, 0.65); font-size: 0.82rem; margin-bottom: 0.1rem; }
.mm-title { font-size: 1.02rem; font-weight: 600; color: rgb(49, 51, 63); }
.mm-title a { color: #1c5d99; text-decoration: none; }
.mm-title a:hover { text-decoration: underline; }
.mm-snippet { font-size: 0.9rem; color: rgba(49, 51, 63, 0.9); margin-top: 0.15rem; }
.mm-chip { display: inline-block; font-size: 0.72rem; padding: 0 0.45rem; margin-right: 0.25rem;
  border-radius: 0.6rem; color: white; line-height: 1.35rem; }
.mm-flag { color: #b35c00; }
.mm-src { color: rgba(49, 51, 63, 0.55); }
mark.mm-hit { background: #fde68a; padding: 0 0.1em; border-radius: 0.15em; }
mark.mm-q { background: #bfdbfe; padding: 0 0.1em; border-radius: 0.15em; }
.mm-tone { font-variant-numeric: tabular-nums; opacity: 0.9; margin-left: 0.3rem; }
.mm-copies { font-size: 0.85rem; margin-top: 0.3rem; color: rgba(49, 51, 63, 0.85); }
.mm-copies summary { cursor: pointer; color: #1c5d99; }
.mm-copies ul { margin: 0.2rem 0 0 1.1rem; padding: 0; }
.mm-copies li { margin: 0.1rem 0; }
.mm-copies a { color: #1c5d99; text-decoration: none; }
</style>
"""


def highlight(text: str, spans: list[tuple[int, int, str]]) -> str:
    """HTML of `text` with the spans marked; every piece of text escaped."""
    out, pos = [], 0
    for start, end, cls in sorted(spans):
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark class="{cls}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def prepared(text: Any) -> str:
    """Text as the matcher sees it (NFC, white space collapsed), so its positions fit."""
    return collapse_ws(unicodedata.normalize("NFC", str(text or "")))


def find_spans(
    matcher: Matcher, text: str, search: str, focus: Sequence[str] = ()
) -> tuple[list[tuple[int, int, str]], int | None]:
    """Spans to mark (mentions, then search words) and where the first focused mention is."""
    matches = matcher.find(text)
    spans = [(m.start, m.end, "mm-hit") for m in matches]
    for word in search.split():
        for hit in re.finditer(re.escape(word), text, re.IGNORECASE):
            spans.append((hit.start(), hit.end(), "mm-q"))
    at = next((m.start for m in matches if m.entity in focus), None)
    return spans, at


def snippet(
    text: str, spans: list[tuple[int, int, str]], at: int | None = None, width: int = 260
) -> tuple[str, list[tuple[int, int, str]]]:
    """A window of `text` around `at` (else its first marked span), and the spans in it."""
    if len(text) <= width:
        return text, spans
    first = at if at is not None else min((s for s, _, _ in spans), default=0)
    lo = max(0, first - width // 3)
    if lo:
        cut = text.rfind(" ", 0, lo)
        lo = cut + 1 if cut >= 0 and lo - cut < 30 else lo
    hi = min(len(text), lo + width)
    if hi < len(text):
        cut = text.rfind(" ", lo, hi)
        hi = cut if cut > lo + width // 2 else hi
    moved = [(s - lo, e - lo, c) for s, e, c in spans if s >= lo and e <= hi]
    prefix = "…" if lo else ""
    suffix = "…" if hi < len(text) else ""
    shift = len(prefix)
    return prefix + text[lo:hi] + suffix, [(s + shift, e + shift, c) for s, e, c in moved]


def link_html(url: Any, inner: str) -> str:
    """`inner` (HTML, already escaped) as a link to `url` when it is http(s), else as is."""
    url = str(url or "")
    if not is_http_url(url):
        return inner
    href = html.escape(url, quote=True)
    return f'<a href="{href}" target="_blank" rel="noopener noreferrer nofollow">{inner}</a>'


TONE_TIP = "tone: the mean score of the sentences naming it, -1 to +1 (a word list's reading)"


def chip_html(ctx: Context, entity: str, tone: float | None = None) -> str:
    color = ctx.color(entity)
    score = (
        f'<span class="mm-tone" title="{TONE_TIP}">{tone:+.2f}</span>'
        if tone is not None and not pd.isna(tone)
        else ""
    )
    return (
        f'<span class="mm-chip" style="background:{color};color:{ink(color)}">'
        f"{html.escape(entity)}{score}</span>"
    )


def copies_html(row: dict[str, Any], members: Sequence[dict[str, Any]]) -> str:
    """A story's other copies, expandable: when, which feeds, the title (linked)."""
    copies = int(row.get("copies") or 1)
    carriers = [f for f in row.get("carriers") or [] if f != row.get("feed_name")]
    if not members and not carriers:
        return ""
    outlets = list(dict.fromkeys([*carriers, *(str(m["feed_name"]) for m in members)]))
    named = ", ".join(html.escape(o) for o in outlets[:4])
    more = f" and {len(outlets) - 4} more" if len(outlets) > 4 else ""
    if members:
        n = len(members)
        head = f"Also carried by {n} other article{'s' if n != 1 else ''}: {named}{more}"
        head += f" ({copies} copies of this story in all)"
    else:
        head = f"Also carried by {named}{more} (the same article)"
    items = [f"<li>{html.escape(', '.join(carriers))}: the same article</li>" if carriers else ""]
    for m in members:
        when = f"{pd.Timestamp(m['published']):%-d %b %Y %H:%M}"
        feeds = ", ".join(m.get("feeds") or []) or str(m.get("feed_name") or "")
        title = html.escape(prepared(m.get("title")) or "(no title)")
        items.append(f"<li>{when} · {html.escape(feeds)} · {link_html(m.get('url'), title)}</li>")
    return (
        f'<details class="mm-copies"><summary>{head}</summary><ul>{"".join(items)}</ul></details>'
    )


def article_html(
    ctx: Context,
    matcher: Matcher,
    row: dict[str, Any],
    focus: Sequence[str],
    search: str,
    members: Sequence[dict[str, Any]] = (),
) -> str:
    title = prepared(row.get("title")) or "(no title)"
    title_html = link_html(row.get("url"), highlight(title, find_spans(matcher, title, search)[0]))
    text = prepared(row.get("text"))
    snip, spans = snippet(text, *find_spans(matcher, text, search, focus))
    published = pd.Timestamp(row["published"])
    meta = [
        f"{published:%-d %b %Y %H:%M} UTC",
        html.escape(str(row.get("feed_name") or row.get("feed") or "")),
    ]
    if row.get("author"):
        meta.append(html.escape(prepared(row["author"])[:80]))
    if row.get("date_flag"):
        meta.append(
            f'<span class="mm-flag">date {html.escape(str(row["date_flag"]))}: '
            "time first seen</span>"
        )
    source = text_source_label(row.get("text_source"), row.get("page_status"))
    if source:
        meta.append(f'<span class="mm-src">{html.escape(source)}</span>')
    tones = row.get("tones") or {}
    chips = "".join(chip_html(ctx, e, tones.get(e)) for e in row.get("entities") or [])
    return (
        '<div class="mm-card">'
        f'<div class="mm-meta">{" · ".join(meta)}</div>'
        f'<div class="mm-title">{title_html}</div>'
        f'<div class="mm-snippet">{highlight(snip, spans)}</div>'
        f"<div>{chips}</div>"
        f"{copies_html(row, members)}"
        "</div>"
    )


# Why an article is counted on its feed's text although its page was tried (pages.py).
PAGE_NOT_READ = {
    "robots": "page refused by robots.txt",
    "short": "page too short: paywall or consent page?",
    "failed": "page could not be read",
    "waiting": "page not read yet",
}


def text_source_label(source: Any, page_status: Any) -> str:
    """Where the text that was counted came from: the article's page, or its feed (and why)."""
    if source == "page":
        return "text from the page"
    if source != "feed":
        return ""
    why = PAGE_NOT_READ.get(str(page_status)) if isinstance(page_status, str) else None
    return f"text from the feed ({why})" if why else "text from the feed"


def render_articles(
    ctx: Context,
    df: pd.DataFrame,
    entities: Sequence[str],
    search: str,
    members: pd.DataFrame | None = None,
) -> None:
    """The cards of a page of articles (queries.articles), with each story's other copies
    (queries.story_members) when given."""
    if df.empty:
        empty_state("No articles match these filters in this range.")
        return
    m = matcher(ctx.config)
    others: dict[int, list[dict[str, Any]]] = {}
    if members is not None:
        for r in members.to_dict("records"):
            others.setdefault(int(r["of"]), []).append(r)
    cards = "".join(
        article_html(ctx, m, row, entities, search, others.get(int(row["id"]), []))
        for row in df.to_dict("records")
    )
    st.html(f'{CARD_CSS}<div class="mm-list">{cards}</div>')


def name_samples_html(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """A rising name's sample articles: when, feed, the title (linked) and the text around
    the name, the name marked."""
    key = fold(name)
    items = []
    for r in rows:
        title = prepared(r.get("title")) or "(no title)"
        text = prepared(r.get("text"))
        spans = [(i, i + len(name), "mm-hit") for i in _find_all(fold(text), key)]
        snip, spans = snippet(text, spans)
        tspans = [(i, i + len(name), "mm-hit") for i in _find_all(fold(title), key)]
        items.append(
            '<div class="mm-card">'
            f'<div class="mm-meta">{pd.Timestamp(r["published"]):%-d %b %Y %H:%M} UTC · '
            f"{html.escape(str(r.get('feed_name') or ''))}</div>"
            f'<div class="mm-title">{link_html(r.get("url"), highlight(title, tspans))}</div>'
            f'<div class="mm-snippet">{highlight(snip, spans)}</div>'
            "</div>"
        )
    return f'{CARD_CSS}<div class="mm-list">{"".join(items)}</div>'


def _find_all(haystack: str, needle: str) -> list[int]:
    out, at = [], haystack.find(needle)
    while needle and at >= 0:
        out.append(at)
        at = haystack.find(needle, at + len(needle))
    return out


PROBLEM_CSS = """
<style>
.mm-problems { width: 100%; border-collapse: collapse; font-size: 0.88rem; }
.mm-problems th { text-align: left; font-weight: 600; color: rgba(49, 51, 63, 0.7);
  border-bottom: 1px solid rgba(49, 51, 63, 0.2); padding: 0.25rem 0.5rem; }
.mm-problems td { vertical-align: top; padding: 0.3rem 0.5rem; white-space: nowrap;
  border-bottom: 1px solid rgba(49, 51, 63, 0.08); }
.mm-problems td.mm-name { font-weight: 600; }
.mm-problems td.mm-wrap { white-space: normal; overflow-wrap: anywhere; width: 38%; }
</style>
"""


def feed_problems(rows: Sequence[dict[str, Any]]) -> None:
    """The feeds that failed, are gone or moved, one row each, every cell wrapped so that the
    whole error and the whole new address read at any width. Feed and server text escaped."""

    def cell(value: Any, cls: str = "") -> str:
        text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else value
        if isinstance(text, float):
            text = f"{text:.0f}"
        attr = f' class="{cls}"' if cls else ""
        return f"<td{attr}>{html.escape(str(text))}</td>"

    body = "".join(
        "<tr>"
        + cell(r.get("name"), "mm-name")
        + cell(r.get("status"))
        + cell(r.get("http_status"))
        + cell(r.get("failures"))
        + cell(r.get("error"), "mm-wrap")
        + cell(r.get("moved_to"), "mm-wrap")
        + "</tr>"
        for r in rows
    )
    st.html(
        f"{PROBLEM_CSS}<table class='mm-problems'><thead><tr><th>Feed</th><th>Last result</th>"
        "<th>HTTP</th><th>Fails</th><th>Last error</th><th>Moved to</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )
