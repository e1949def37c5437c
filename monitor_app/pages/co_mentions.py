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

MAX_ENTITIES = 20  # drawn when none are chosen: the most mentioned
CELL = 38  # px per row of the heatmap


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Co-mentions")
    f = sel.filters
    which = ""
    if sel.chosen:
        entities = list(sel.chosen)
    else:
        counts = q("mention_counts", ctx.snap, f, "none")
        entities = counts["entity"].head(MAX_ENTITIES).tolist()
        which = which_entities(len(entities), len(counts))
    f = replace(f, entities=tuple(entities))
    pairs = q("co_mentions", ctx.snap, f)
    st.caption(f"Articles that mention both entities of a pair, in the range. {which}")
    if pairs.empty:
        empty_state("No article mentions two of these entities in this range.")
        return
    names = [e for e in entities if e in set(pairs["entity_a"]) | set(pairs["entity_b"])]
    chart(heatmap(names, pairs), "co_heatmap")
    top = pairs.head(200).rename(
        columns={"entity_a": "Entity", "entity_b": "With", "articles": "Articles"}
    )
    st.markdown("**Top pairs** — pick one to see its articles")
    st.dataframe(
        top,
        hide_index=True,
        key="co_pairs",
        on_select="rerun",
        selection_mode="single-row",
        height=min(38 + 35 * len(top), 420),
        column_config={
            "Entity": st.column_config.TextColumn(width="medium"),
            "With": st.column_config.TextColumn(width="medium"),
            "Articles": st.column_config.NumberColumn(format="localized"),
        },
    )
    csv_button(pairs, "co-mentions", "co_csv")
    rows = selected_rows("co_pairs")
    if rows and rows[0] < len(top):
        a, b, n = top.iloc[rows[0]][["Entity", "With", "Articles"]]
        show_pair(ctx, sel, str(a), str(b), int(n))


def which_entities(shown: int, mentioned: int) -> str:
    """Which entities the heatmap holds when none were chosen, counted right."""
    if shown < mentioned:
        return (
            f"The {shown} most mentioned entities of the {mentioned} mentioned in the range; "
            "choose entities in the sidebar for others."
        )
    return f"All {shown} entities mentioned in the range."


def heatmap(names: list[str], pairs: pd.DataFrame) -> go.Figure:
    """A symmetric matrix of shared articles, as wide as the page, with readable numbers and
    slanted names."""
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
            textfont={"size": 13},
            hovertemplate="%{y} & %{x}: %{z:,} articles<extra></extra>",
            colorbar={"title": {"text": "articles"}, "thickness": 14},
            hoverongaps=False,
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        height=max(420, min(CELL * len(names) + 200, 1000)),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"size": 13},
    )
    fig.update_xaxes(tickangle=-35, automargin=True)
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def show_pair(ctx: Context, sel: Selection, a: str, b: str, n: int) -> None:
    st.markdown(f"#### {md(a)} & {md(b)}: {n:,} article{'s' if n != 1 else ''}")
    both = replace(sel.filters, entities=(a, b), together=True)
    rows = q("articles", ctx.snap, both, limit=PAGE_SIZE)
    if len(rows) < n:
        st.caption(f"The newest {len(rows)} of {n:,}.")
    render_articles(ctx, rows, (a, b), sel.search)
