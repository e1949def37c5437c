"""The Articles page: the articles behind any number, newest first, paged in the URL."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pandas as pd
import streamlit as st

from monitor import queries
from monitor.store import Snapshot

from ..cards import PAGE_SIZE, render_articles
from ..data import Context, q
from ..state import MAX_PAGE, SCOPES, Selection, cli_command, on_filter_change, whole
from ..widgets import csv_button, empty_state, fmt_count, md

MAX_CSV_ARTICLES = 50_000  # rows in the "all as CSV" download


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
    total = q("count_articles", ctx.snap, f)
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
        st.info(f"There are only {pages:,} pages; showing the last.", icon="ℹ️")
        page = pages
    with c2:
        first = (page - 1) * PAGE_SIZE
        st.markdown(
            f"**{fmt_count(total)}** article{'s' if total != 1 else ''}{md(what)}, newest first · "
            f"{first + 1:,}–{min(first + PAGE_SIZE, total):,}"
        )
    with c3:
        csv_button(
            functools.partial(articles_csv, ctx.snap, f, total), "articles", "art_csv", "all as CSV"
        )
    df = q("articles", ctx.snap, f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    render_articles(ctx, df, sel.chosen, sel.search)
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
    cmd = cli_command(ctx, sel, "articles", entities)
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
            "date_flag": df["date_flag"],
            "text_source": df["text_source"],
        }
    )
    return out.to_csv(index=False)
