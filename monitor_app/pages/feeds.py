"""The Feeds page: the health of every feed, and polling per period (drawn when its expander is
opened)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.text import is_http_url

from ..cards import feed_problems
from ..data import Context, cached_full_text, cached_health, q
from ..state import Selection
from ..widgets import chart, csv_button, empty_state, store_damage, style_figure


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Feeds")
    store_damage(ctx.snap)
    minute = ctx.now.replace(second=0, microsecond=0).isoformat()
    df = cached_health(ctx.snap.key, minute, ctx.snap)
    if df.empty:
        empty_state("No feed has been polled yet.")
        return
    status = df["status"].astype(str)
    ok = status.isin(["ok", "unchanged"]).sum()
    failing = status.str.startswith("failed").sum()
    gone = (status == "gone").sum()
    moved = (df["moved_to"] != "").sum()
    m = st.columns(4)
    m[0].metric("Feeds", f"{len(df):,}")
    m[1].metric("Last poll fine", f"{ok:,}")
    m[2].metric("Failing", f"{failing:,}")
    m[3].metric("Gone or moved", f"{gone + moved:,}")
    if moved:
        st.warning(
            f"{moved} feed{'s' if moved != 1 else ''} moved permanently: update "
            f"{'their' if moved != 1 else 'its'} url in feeds.yaml (see “Moved to”).",
            icon=":material/moved_location:",
        )
    if gone:
        st.warning(
            f"{gone} feed{' is' if gone == 1 else 's are'} gone (HTTP 410) and no longer polled.",
            icon=":material/block:",
        )
    problems = df["status"].astype(str).str.startswith(("failed", "gone")) | (df["moved_to"] != "")
    if problems.any():
        st.markdown("**Needs attention** — the last error and new address of each, in full")
        feed_problems(df[problems].to_dict("records"))
    pages = cached_full_text(ctx.snap.key, ctx.snap).set_index("feed")
    df = df.assign(read_in_full=df["url"].map(read_in_full(ctx, pages)))
    table = df.assign(
        tags=df["tags"].map(", ".join),
        url=df["url"].where(df["url"].map(is_http_url), None),
    )
    table = pd.concat([table[problems], table[~problems]])
    st.dataframe(
        table[COLUMNS],
        hide_index=True,
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "name": st.column_config.TextColumn("Feed", pinned=True, width=170),
            "status": st.column_config.TextColumn("Last result", width=105),
            "http_status": st.column_config.NumberColumn("HTTP", format="%d", width=50),
            "last_poll": st.column_config.DatetimeColumn(
                "Last poll (UTC)", format="D MMM HH:mm", width=100
            ),
            "last_success": st.column_config.DatetimeColumn(
                "Last success", format="D MMM HH:mm", width=100
            ),
            "per_day": st.column_config.NumberColumn(
                "Per day", format="%.1f", width=65, help="Articles per day, last 7 days"
            ),
            "articles": st.column_config.NumberColumn(
                "Articles", format="localized", width=75, help="Articles stored, all time"
            ),
            "last_new": st.column_config.NumberColumn(
                "New", format="localized", width=50, help="New articles at the last poll"
            ),
            "failures": st.column_config.NumberColumn("Fails", width=50, help="Failures in a row"),
            "read_in_full": st.column_config.ProgressColumn(
                "Read in full",
                format="percent",
                min_value=0.0,
                max_value=1.0,
                width=95,
                help="Share of its articles counted on their page's text; empty: the feed "
                "carries whole articles and its pages are not read (full_text)",
            ),
            "next_poll": st.column_config.DatetimeColumn(
                "Next poll", format="D MMM HH:mm", width=100
            ),
            "tags": st.column_config.TextColumn("Tags", width=110),
            "url": st.column_config.LinkColumn("URL", width=220),
        },
    )
    st.caption("Errors and new addresses are above, under Needs attention, and in the CSV.")
    csv_button(df.assign(tags=df["tags"].map(", ".join)), "feeds", "feeds_csv")
    full_text_table(df, pages)
    polling = st.expander(
        "**Polling over the range**: feeds polled, and those whose every poll failed",
        key="polling",
        bind="query-params",
        icon=":material/bar_chart:",
    )
    if polling.open:  # below the grid: drawn when asked for (a first open loads no plotly.js)
        with polling:
            polling_chart(ctx, sel)


def read_in_full(ctx: Context, pages: pd.DataFrame) -> dict[str, float | None]:
    """Per feed URL: the share of its articles counted on their page (None: pages not read)."""
    out: dict[str, float | None] = {}
    for url, state in ctx.snap.feeds.items():
        tried = int(pages["tried"].get(url, 0)) if "tried" in pages else 0
        out[url] = float(pages["read_in_full"].get(url, 0.0)) if tried or state.full_text else None
    return out


def full_text_table(df: pd.DataFrame, pages: pd.DataFrame) -> None:
    """Per feed that reads pages: what reading them gave."""
    if pages.empty or not pages["tried"].any():
        return
    names = dict(zip(df["url"], df["name"], strict=True))
    rows = pages[pages["tried"] > 0].reset_index()
    rows.insert(0, "name", rows["feed"].map(names).fillna(rows["feed"]))
    st.markdown(
        "**Full text** — feeds whose articles' pages are read: mentions are counted on the "
        "page's text; when the page cannot be used, on what the feed carries"
    )
    st.dataframe(
        rows[["name", "read_in_full", "articles", "ok", "robots", "short", "failed", "waiting"]],
        hide_index=True,
        height=min(38 + 35 * len(rows), 400),
        column_config={
            "name": st.column_config.TextColumn("Feed", pinned=True, width=170),
            "read_in_full": st.column_config.ProgressColumn(
                "Read in full", format="percent", min_value=0.0, max_value=1.0, width=110
            ),
            "articles": st.column_config.NumberColumn("Articles", format="localized", width=75),
            "ok": st.column_config.NumberColumn("Pages read", format="localized", width=90),
            "robots": st.column_config.NumberColumn(
                "Refused", format="localized", width=75, help="Refused by the site's robots.txt"
            ),
            "short": st.column_config.NumberColumn(
                "Too short",
                format="localized",
                width=80,
                help="Too little text on the page: a paywall or consent page",
            ),
            "failed": st.column_config.NumberColumn(
                "Failed",
                format="localized",
                width=65,
                help="HTTP errors, pages that are not HTML or too large, after every try",
            ),
            "waiting": st.column_config.NumberColumn(
                "Waiting", format="localized", width=70, help="Not read yet, or to be tried again"
            ),
        },
    )


# the grid's columns, narrow ones first: at 1,400 px they fit up to "Next poll"
COLUMNS = [
    "name", "status", "http_status", "last_poll", "last_success", "per_day", "articles",
    "last_new", "read_in_full", "failures", "next_poll", "tags", "url",
]  # fmt: skip


def polling_chart(ctx: Context, sel: Selection) -> None:
    """Feeds polled fine and failed per day (per hour for the last 24 h), over the range, with
    bars one period wide and dates (not times) on a per-day axis."""
    start, end = sel.span(ctx)
    by = "hour" if sel.range == "24h" else "day"
    ing = q("ingestion", ctx.snap, queries.Filters(start=start, end=end, feeds=sel.feeds), by)
    if ing.empty:
        st.caption("No poll in this range.")
        return
    first, last = ing["period"].min(), ing["period"].max() + STEP[by]
    lo = max(pd.Timestamp(start), first - STEP[by]) if start else first - STEP[by]
    hi = min(pd.Timestamp(end), last + STEP[by]) if end else last + STEP[by]
    lo = min(lo, hi - MIN_SPAN[by])  # a few periods at least, so one bar is not the whole plot
    st.caption(f"Per {by}: feeds polled fine, and those whose every poll failed.")
    width = [STEP[by] / pd.Timedelta(milliseconds=1) * 0.8] * len(ing)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=ing["period"],
            y=ing["polled"] - ing["failed"],
            width=width,
            offset=0,
            name="polled fine",
            marker={"color": "#59A14F"},
        )
    )
    fig.add_trace(
        go.Bar(
            x=ing["period"],
            y=ing["failed"],
            width=width,
            offset=0,
            name="failed",
            marker={"color": "#E15759"},
        )
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="feeds", tickformat=",", rangemode="tozero")
    fig.update_xaxes(
        range=[lo, hi],
        type="date",
        tickformat="%H:%M<br>%-d %b" if by == "hour" else "%-d %b",
        dtick=None if by == "hour" else DAY_MS * max(1, round((hi - lo) / pd.Timedelta(days=12))),
    )
    chart(style_figure(fig, height=260), "feeds_polling")


DAY_MS = 86_400_000
STEP = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}
MIN_SPAN = {"hour": pd.Timedelta(hours=24), "day": pd.Timedelta(days=14)}
