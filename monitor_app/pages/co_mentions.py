"""The Co-mentions page: how often two entities are mentioned in the same article (heatmap and
top pairs); a pair opens its articles.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ..cards import PAGE_SIZE, render_articles
from ..data import Context, q
from ..state import Selection, selected_rows
from ..widgets import chart, csv_button, empty_state, md


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Co-mentions")
    f = sel.filters
    if sel.chosen:
        entities = list(sel.chosen)
    else:
        counts = q("mention_counts", ctx.snap, f, "none")
        entities = counts["entity"].head(20).tolist()
    f = replace(f, entities=tuple(entities))
    pairs = q("co_mentions", ctx.snap, f)
    st.caption(
        "Articles that mention both entities of a pair, in the range."
        + (
            ""
            if sel.chosen
            else " The 20 most mentioned entities; choose entities in the sidebar for others."
        )
    )
    if pairs.empty:
        empty_state("No article mentions two of these entities in this range.")
        return
    names = [e for e in entities if e in set(pairs["entity_a"]) | set(pairs["entity_b"])]
    matrix = pd.DataFrame(0, index=names, columns=names, dtype="int64")
    for a, b, n in pairs[["entity_a", "entity_b", "articles"]].itertuples(index=False):
        if a in matrix.index and b in matrix.index:
            matrix.loc[a, b] = matrix.loc[b, a] = n
    z = matrix.to_numpy().astype(float)
    for i in range(len(names)):
        z[i, i] = math.nan
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            colorscale="Blues",
            texttemplate="%{z:,}",
            hovertemplate="%{y} & %{x}: %{z:,} articles<extra></extra>",
            colorbar={"title": "articles"},
            hoverongaps=False,
            xgap=2,
            ygap=2,
        )
    )
    size = max(360, min(40 * len(names) + 160, 760))
    fig.update_layout(height=size, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    fig.update_yaxes(autorange="reversed")
    left, right = st.columns([1.4, 1])
    with left:
        chart(fig, "co_heatmap")
    top = pairs.head(200).rename(
        columns={"entity_a": "Entity", "entity_b": "With", "articles": "Articles"}
    )
    with right:
        st.markdown("**Top pairs** — pick one to see its articles")
        st.dataframe(
            top,
            hide_index=True,
            key="co_pairs",
            on_select="rerun",
            selection_mode="single-row",
            height=min(38 + 35 * len(top), size - 40),
            column_config={"Articles": st.column_config.NumberColumn(format="localized")},
        )
        csv_button(pairs, "co-mentions", "co_csv")
    rows = selected_rows("co_pairs")
    if rows and rows[0] < len(top):
        a, b, n = top.iloc[rows[0]][["Entity", "With", "Articles"]]
        show_pair(ctx, sel, str(a), str(b), int(n))


def show_pair(ctx: Context, sel: Selection, a: str, b: str, n: int) -> None:
    st.markdown(f"#### {md(a)} & {md(b)}: {n:,} article{'s' if n != 1 else ''}")
    both = replace(sel.filters, entities=(a, b), together=True)
    rows = q("articles", ctx.snap, both, limit=PAGE_SIZE)
    if len(rows) < n:
        st.caption(f"The newest {len(rows)} of {n:,}.")
    render_articles(ctx, rows, (a, b), sel.search)
