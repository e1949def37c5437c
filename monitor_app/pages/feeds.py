"""The Feeds page: the health of every feed, and polling per period."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.text import is_http_url

from ..data import Context, cached_health, q
from ..state import Selection
from ..widgets import chart, csv_button, empty_state, style_figure


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Feeds")
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
    table = df.assign(
        tags=df["tags"].map(", ".join),
        url=df["url"].where(df["url"].map(is_http_url), None),
    )
    problems = table["status"].astype(str).str.startswith(("failed", "gone")) | (
        table["moved_to"] != ""
    )
    table = pd.concat([table[problems], table[~problems]])
    st.dataframe(
        table[
            [
                "name",
                "status",
                "http_status",
                "last_poll",
                "last_success",
                "per_day",
                "articles",
                "last_new",
                "failures",
                "error",
                "moved_to",
                "tags",
                "url",
                "next_poll",
            ]
        ],
        hide_index=True,
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "name": st.column_config.TextColumn("Feed", pinned=True),
            "status": "Last result",
            "http_status": st.column_config.NumberColumn("HTTP", format="%d"),
            "last_poll": st.column_config.DatetimeColumn("Last poll (UTC)", format="D MMM HH:mm"),
            "last_success": st.column_config.DatetimeColumn("Last success", format="D MMM HH:mm"),
            "per_day": st.column_config.NumberColumn("Articles/day (7 d)", format="%.1f"),
            "articles": st.column_config.NumberColumn("Articles (all time)", format="localized"),
            "last_new": st.column_config.NumberColumn("New last poll", format="localized"),
            "failures": st.column_config.NumberColumn("Failures in a row"),
            "error": "Last error",
            "moved_to": "Moved to",
            "tags": "Tags",
            "url": st.column_config.LinkColumn("URL"),
            "next_poll": st.column_config.DatetimeColumn("Next poll", format="D MMM HH:mm"),
        },
    )
    csv_button(df.assign(tags=df["tags"].map(", ".join)), "feeds", "feeds_csv")
    start, end = sel.span(ctx)
    by = "hour" if sel.range == "24h" else "day"
    ing = q("ingestion", ctx.snap, queries.Filters(start=start, end=end, feeds=sel.feeds), by)
    if not ing.empty:
        st.markdown(f"**Polling per {by}** — feeds polled, and those whose every poll failed")
        fig = go.Figure()
        fig.add_trace(
            go.Bar(
                x=ing["period"],
                y=ing["polled"] - ing["failed"],
                name="polled fine",
                marker={"color": "#54A24B"},
            )
        )
        fig.add_trace(
            go.Bar(x=ing["period"], y=ing["failed"], name="failed", marker={"color": "#E45756"})
        )
        fig.update_layout(barmode="stack")
        fig.update_yaxes(title="feeds", tickformat=",")
        chart(style_figure(fig, height=260), "feeds_polling")
