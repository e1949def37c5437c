"""The Overview page: every entity with its counts, the change against the previous range and
a trend line; a row opens the entity's timeline.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from ..data import Context, q
from ..state import Selection, articles_button, default_granularity, selected_rows
from ..widgets import csv_button, empty_state, fmt_count, fmt_span, fmt_time


def render(ctx: Context, sel: Selection) -> None:
    f = sel.filters
    start, end = sel.span(ctx)
    trend_by = "hour" if sel.range == "24h" else default_granularity(start, end)
    df = q("overview", ctx.snap, f, trend_by)
    total = q("count_articles", ctx.snap, replace(f, entities=()))
    st.subheader("Overview")
    prev_text = ""
    if start and end:
        before = start - (end - start)
        last = start - timedelta(microseconds=1)
        prev_text = (
            f" Change: against the previous {fmt_span(end - start)} "
            f"({fmt_time(before, False)} – {fmt_time(last, False)})."
        )
    st.caption(
        f"{fmt_count(total)} articles in the range. Click a row to open the entity's timeline; "
        f"click a column header to sort.{prev_text}"
    )
    if df.empty or int(df["mentions"].sum()) == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        if df.empty:
            return
    table = pd.DataFrame(
        {
            "Entity": df["entity"],
            "Kind": df["kind"],
            "Mentions": df["mentions"],
            "Articles": df["articles"],
            "Share of articles": df["articles"] / total if total else 0.0,
            "Change": df["change"] * 100,
            "Previous": df["prev_mentions"],
            "Trend": df["trend"],
        }
    )
    n = st.session_state.get("_ov_n", 0)
    max_share = float(table["Share of articles"].max() or 0) or 1.0
    st.dataframe(
        table,
        hide_index=True,
        key=f"ov_table_{n}",
        on_select=functools.partial(open_timeline, df["entity"].tolist(), f"ov_table_{n}"),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "Entity": st.column_config.TextColumn(width="medium", pinned=True),
            "Kind": st.column_config.TextColumn(),
            "Mentions": st.column_config.NumberColumn(format="localized"),
            "Articles": st.column_config.NumberColumn(
                format="localized", help="Articles with at least one mention"
            ),
            "Share of articles": st.column_config.ProgressColumn(
                format="percent",
                min_value=0.0,
                max_value=max_share,
                help="Articles mentioning the entity / all articles in the range (same feeds)",
            ),
            "Change": st.column_config.NumberColumn(
                format="%+.0f%%", help="Mentions against the previous range of the same length"
            ),
            "Previous": st.column_config.NumberColumn(
                "Previous range", format="localized", help="Mentions in the previous range"
            ),
            "Trend": st.column_config.LineChartColumn(
                f"Articles per {trend_by}", y_min=0, width="medium"
            ),
        },
    )
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "ov_articles")
    with c2:
        out = df.drop(columns=["trend"]).assign(
            trend=df["trend"].map(lambda t: " ".join(map(str, t)))
        )
        csv_button(out, "overview", "ov_csv")


def open_timeline(entities: list[str], key: str) -> None:
    rows = selected_rows(key)
    if not rows:
        return
    st.session_state["e"] = [entities[rows[0]]]
    st.session_state["kind"] = []
    st.session_state["view"] = "timeline"
    st.session_state["page"] = 1
    st.session_state["_ov_n"] = st.session_state.get("_ov_n", 0) + 1  # a fresh, unselected table
