"""The Articles page: the articles behind any number, newest first, paged in the URL.

The page counts stories: a story carried by several feeds (syndicated copies under other URLs)
is one card, under its first article among those behind the number, with the other copies
expandable ("also carried by"); the number of articles is said beside. The CSV lists every
article, copies included.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pandas as pd
import streamlit as st

from monitor import queries
from monitor.store import Snapshot

from ..cards import PAGE_SIZE, render_articles
from ..data import Context, q, q_ids
from ..state import MAX_PAGE, SCOPES, Selection, cli_command, on_filter_change, whole
from ..widgets import csv_button, empty_state, fmt_count, md

MAX_CSV_ARTICLES = 50_000  # rows in the "all as CSV" download
STORIES_NOTE = (
    "One card per story: copies of a story carried by several feeds under other URLs "
    "(syndicated, see “How counting works”) are one card, under its first article here; "
    "expand “also carried by” for the others. The CSV lists every article, with its story. "
    "The number beside an entity is its tone in the article, -1 to +1: a word list's reading "
    "of the sentences naming it, not the article's stance (see “Tone” on the Timeline)."
)


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Articles")
    watched = tuple(e.name for e in ctx.config.watch)
    scope = scope_widget(bool(sel.chosen))
    f, entities, what = sel.filters, None, ""
    if sel.chosen:
        what = " mentioning " + ", ".join(sel.chosen)
    elif scope == SCOPES[0]:
        f, entities, what = replace(f, entities=watched), watched, " mentioning a watched entity"
    if scope == SCOPES[0] and not sel.chosen and not watched:
        empty_state("No entity is watched: add some under `watch:` in feeds.yaml.")
        return
    n_articles, total = q("count_hits", ctx.snap, f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if total == 0:
        st.caption(f"Articles{md(what)}, newest first.")
        empty_state("No articles match these filters in this range.")
        page_widget(pages)
        return
    c1, c2, c3 = st.columns([1.2, 3, 1.2], vertical_alignment="bottom")
    with c1:
        page = page_widget(pages)
    if page > pages:
        there = "There is only one page" if pages == 1 else f"There are only {pages:,} pages"
        st.info(f"{there}; showing the last.", icon="ℹ️")
        page = pages
    with c2:
        first = (page - 1) * PAGE_SIZE
        st.markdown(
            f"**{fmt_count(total)}** stor{'ies' if total != 1 else 'y'} "
            f"({fmt_count(n_articles)} article{'s' if n_articles != 1 else ''}){md(what)}, "
            f"newest first · {first + 1:,}–{min(first + PAGE_SIZE, total):,}"
        )
    with c3:
        csv_button(
            functools.partial(articles_csv, ctx.snap, f, n_articles),
            "articles",
            "art_csv",
            "all as CSV",
        )
    st.caption(STORIES_NOTE)
    df = q(
        "articles", ctx.snap, f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, one_per_story=True
    )
    ids = [int(i) for i in df["id"]]
    carriers = q_ids("article_feeds", ctx.snap, ids)
    by_id = carriers.groupby("id")["name"].agg(lambda n: sorted(set(n))) if ids else {}
    df = df.assign(carriers=[list(by_id.get(i, [])) for i in ids])
    copied = [int(i) for i, n in zip(df["id"], df["copies"], strict=True) if n > 1]
    members = q_ids("story_members", ctx.snap, copied)
    render_articles(ctx, df, sel.chosen, sel.search, members)
    nav = st.columns([1, 1, 6])
    nav[0].button(
        "Previous",
        key="art_prev",
        on_click=set_page,
        args=(page - 1,),
        disabled=page <= 1,
        icon=":material/chevron_left:",
    )
    nav[1].button(
        "Next",
        key="art_next",
        on_click=set_page,
        args=(page + 1,),
        disabled=page >= pages,
        icon=":material/chevron_right:",
    )
    cmd = cli_command(ctx, sel, "articles", entities) + " --one-per-story"
    st.caption(f"Same list in a terminal (paste it anywhere): `{cmd}`")


def scope_widget(chosen: bool) -> str:
    """Which articles, when no entity is chosen: those that mention a watched entity (what
    every count here is about), or all articles stored, explicitly."""
    value = st.segmented_control(
        "Show",
        SCOPES,
        default=SCOPES[0],
        required=True,
        key="scope",
        bind="query-params",
        on_change=on_filter_change,
        disabled=chosen,
        help="Entities are chosen in the sidebar: the articles that mention them."
        if chosen
        else "Articles with at least one mention of a watched entity, or every article stored.",
    )
    return str(value or SCOPES[0])


def page_widget(pages: int) -> int:
    """The page number, in the URL. A float widget: from a link, Streamlit drops `inf` or
    `1e400` for it (an int widget raised OverflowError)."""
    value = st.number_input(
        f"Page (of {pages:,})",
        min_value=1.0,
        max_value=MAX_PAGE,
        value=1.0,
        step=1.0,
        format="%.0f",
        key="page",
        bind="query-params",
    )
    return max(1, whole(value, 1))


def set_page(page: int) -> None:
    st.session_state["page"] = max(1, page)


def articles_csv(snap: Snapshot, f: queries.Filters, total: int) -> str:
    """Every article behind the number (copies included), with its story and tones."""
    df = queries.articles(snap, f, limit=min(total, MAX_CSV_ARTICLES))
    out = pd.DataFrame(
        {
            "published": pd.to_datetime(df["published"]).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "feed": df["feed_name"],
            "title": df["title"],
            "url": df["url"],
            "author": df["author"],
            "mentions": df["mentions"],
            "entities": df["entities"].map("; ".join),
            "tone": df["tones"].map(
                lambda t: "; ".join(f"{e}: {v:+.3f}" for e, v in t.items() if v is not None)
            ),
            "story": [f"{int(i) & (2**64 - 1):016x}" for i in df["story"]],
            "copies": df["copies"],
            "date_flag": df["date_flag"],
            "text_source": df["text_source"],
        }
    )
    return out.to_csv(index=False)
