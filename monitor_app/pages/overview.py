"""The Overview page: every entity with its counts (mentions, articles, stories), the change
against the previous range and a trend line; a row opens the entity's timeline.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st

from monitor import queries
from monitor.queries import shift
from monitor.store import Snapshot

from ..data import Context, q
from ..state import (
    Selection,
    articles_button,
    default_granularity,
    fit_granularity,
    jump,
    selected_rows,
)
from ..widgets import csv_button, empty_state, fmt_count, fmt_span, fmt_time

TREND_POINTS = 120  # points of a trend line in a table cell


def render(ctx: Context, sel: Selection) -> None:
    f = sel.filters
    start, end = sel.span(ctx)
    trend_by = "hour" if sel.range == "24h" else default_granularity(start, end)
    trend_by = fit_granularity(trend_by, start, end, TREND_POINTS).by
    total = q("count_articles", ctx.snap, replace(f, entities=()))
    compared = sel.range != "all"  # "all" has no previous range to compare with
    table = overview_table(ctx.snap, f, trend_by, total, compared)
    st.subheader("Overview")
    st.caption(
        f"{fmt_count(total)} articles in the range. {previous_text(sel) if compared else ''}"
        "Click a row to open the entity's timeline; click a column header to sort."
    )
    mentions = table.column("Mentions").to_pylist()
    if sum(mentions) == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        if not mentions:
            return
    n = st.session_state.get("_ov_n", 0)
    entities = table.column("Entity").to_pylist()
    max_share = float(pc.max(table.column("Share of articles")).as_py() or 0) or 1.0
    st.dataframe(
        table,
        hide_index=True,
        key=f"ov_table_{n}",
        on_select=functools.partial(open_timeline, entities, f"ov_table_{n}"),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "Entity": st.column_config.TextColumn(width=160, pinned=True),
            "Kind": st.column_config.TextColumn(width=90),
            "Mentions": st.column_config.NumberColumn(format="localized", width=75),
            "Articles": st.column_config.NumberColumn(
                format="localized", help="Articles with at least one mention", width=65
            ),
            "Stories": st.column_config.NumberColumn(
                format="localized",
                help="Those articles with syndicated copies (one story carried by several "
                "feeds under other URLs) counted once",
                width=65,
            ),
            "Share of articles": st.column_config.ProgressColumn(
                format="percent",
                min_value=0.0,
                max_value=max_share,
                help="Articles mentioning the entity / all articles in the range (same feeds)",
                width=110,
            ),
            "Change": st.column_config.NumberColumn(
                format="%+.0f%%",
                help="Mentions against the previous range of the same length (blank: that "
                "range began before the first article, or held no mention)",
                width=65,
            ),
            "Previous": st.column_config.NumberColumn(
                "Mentions, previous range",
                format="localized",
                help="Mentions in the previous range of the same length",
                width=95,
            ),
            "Stories change": st.column_config.NumberColumn(
                format="%+.0f%%",
                help="Stories against the previous range of the same length (blank: that "
                "range began before the first article, or held no story)",
                width=90,
            ),
            "Trend": st.column_config.LineChartColumn(
                f"Articles per {trend_by}", y_min=0, width=120
            ),
        },
    )
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "ov_articles")
    with c2:
        csv_button(
            # computed when clicked (outside the script run: no st.cache_data there)
            lambda: overview_csv(
                queries.overview(ctx.snap, f, trend_by, trend_periods=TREND_POINTS)
            ),
            "overview",
            "ov_csv",
        )


def overview_table(
    snap: Snapshot, f: queries.Filters, trend_by: str, total: int, compared: bool
) -> pa.Table:
    """The table shown, computed once per commit and filters and shared by the sessions. An
    Arrow table: Streamlit sends it as it is, where a DataFrame's column of Python lists (the
    trend lines) was converted again at every run of every session (~1,000 rows of 120
    points at 2M articles)."""
    return cached_overview_table(snap.key, repr(f), trend_by, total, compared, snap, f)


@st.cache_data(max_entries=50, show_spinner=False)
def cached_overview_table(
    snap_key: str,
    f_key: str,
    trend_by: str,
    total: int,
    compared: bool,
    _snap: Snapshot,
    _f: queries.Filters,
) -> pa.Table:
    df = q("overview", _snap, _f, trend_by, trend_periods=TREND_POINTS)
    table = pd.DataFrame(
        {
            "Entity": df["entity"],
            "Kind": df["kind"],
            "Mentions": df["mentions"],
            "Change": df["change"] * 100,
            "Previous": df["prev_mentions"],
            "Articles": df["articles"],
            "Stories": df["stories"],
            "Stories change": df["stories_change"] * 100,
            "Share of articles": df["articles"] / total if total else 0.0,
        }
    )
    if not compared:
        table = table.drop(columns=["Change", "Previous", "Stories change"])
    trend = pa.array(df["trend"].tolist(), type=pa.list_(pa.int64()))
    return pa.Table.from_pandas(table, preserve_index=False).append_column("Trend", trend)


def overview_csv(df: pd.DataFrame) -> pd.DataFrame:
    """The overview as downloaded: the trend as its numbers, separated by spaces."""
    return df.drop(columns=["trend"]).assign(trend=df["trend"].map(lambda t: " ".join(map(str, t))))


def previous_text(sel: Selection) -> str:
    """What Change and Previous compare with, in words."""
    if sel.start is None or sel.end is None:
        return ""
    span = sel.end - sel.start
    before = shift(sel.start, -span)
    last = shift(sel.start, -timedelta(microseconds=1))
    return (
        f"Change compares mentions with the previous {fmt_span(span)} "
        f"({fmt_time(before, False)} – {fmt_time(last, False)}, their mentions under "
        "“Mentions, previous range”); blank where that range began before the first article. "
    )


def open_timeline(entities: list[str], key: str) -> None:
    """Callback of a row pick: that entity's timeline, as one step in the history."""
    rows = selected_rows(key)
    if not rows or rows[0] >= len(entities):
        return
    st.session_state["_ov_n"] = st.session_state.get("_ov_n", 0) + 1  # a fresh, unselected table
    jump(e=[entities[rows[0]]], kind=[], view="timeline", page=1)
