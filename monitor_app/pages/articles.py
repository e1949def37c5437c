"""The Articles page: the articles behind any number, newest first, paged in the URL."""

from __future__ import annotations

import functools
import math

import pandas as pd
import streamlit as st

from monitor import queries
from monitor.store import Snapshot

from ..cards import PAGE_SIZE, render_articles
from ..data import Context, q
from ..state import Selection, cli_command
from ..widgets import csv_button, empty_state, fmt_count, md

MAX_CSV_ARTICLES = 50_000  # rows in the "all as CSV" download


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Articles")
    f = sel.filters
    total = q("count_articles", ctx.snap, f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    what = " mentioning " + ", ".join(sel.chosen) if sel.chosen else ""
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
            f"{first + 1:,}–{min(first + PAGE_SIZE, total):,} · page {page:,} of {pages:,}"
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
    st.caption(f"Same list in a terminal: `{cli_command(sel, 'articles')}`.")


def page_widget(pages: int) -> int:
    value = st.number_input(
        f"Page (of {pages:,})", min_value=1, value=1, step=1, key="page", bind="query-params"
    )
    return int(value or 1)


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
        }
    )
    return out.to_csv(index=False)
