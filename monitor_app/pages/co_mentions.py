"""The Co-mentions page: how often two entities are mentioned in the same article (a heatmap,
and the top pairs as a table on demand); a click on a cell, or a pick of a row, opens the
pair's articles.
"""

from __future__ import annotations

import functools
import html
import math
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor.text import plot_text

from ..cards import PAGE_SIZE, render_articles
from ..data import Context, q
from ..state import Selection, selected_rows
from ..widgets import PLOTLY_CONFIG, csv_button, empty_state, md

MAX_ENTITIES = 20  # drawn when none are chosen: the most mentioned
CELL = 38  # px per row of the heatmap
TOP_PAIRS = 200  # rows of the table
PAIR = "co_pair"  # session state: the pair whose articles are shown, (entity, with)


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
    st.caption(
        f"Articles that mention both entities of a pair, in the range. {which} "
        "Click a cell to see its articles."
    )
    if pairs.empty:
        empty_state("No article mentions two of these entities in this range.")
        return
    names = [e for e in entities if e in set(pairs["entity_a"]) | set(pairs["entity_b"])]
    st.plotly_chart(
        heatmap(names, pairs),
        key="co_heatmap",
        config=PLOTLY_CONFIG,
        theme="streamlit",
        on_select=pick_cell,
        selection_mode="points",
    )
    top = pairs.head(TOP_PAIRS).rename(
        columns={"entity_a": "Entity", "entity_b": "With", "articles": "Articles"}
    )
    # the table's code and rows reach the browser only when it is open (the data grid is
    # ~1.8 MB of JavaScript more on a first open); `?rows=true` opens it, as on Sources
    table = st.expander(
        "**Top pairs**, most shared articles first: pick one to see its articles",
        key="rows",
        bind="query-params",
        icon=":material/table_rows:",
    )
    if table.open:
        with table:
            st.dataframe(
                top,
                hide_index=True,
                key="co_pairs",
                on_select=functools.partial(pick_row, top),
                selection_mode="single-row",
                height=min(38 + 35 * len(top), 420),
                column_config={
                    "Entity": st.column_config.TextColumn(width="medium"),
                    "With": st.column_config.TextColumn(width="medium"),
                    "Articles": st.column_config.NumberColumn(format="localized"),
                },
            )
    csv_button(pairs, "co-mentions", "co_csv")
    if pair := st.session_state.get(PAIR):
        shared = pair_count(pairs, *pair)
        if shared:  # the pair is still among those drawn
            show_pair(ctx, sel, pair[0], pair[1], shared)


def pick_cell() -> None:
    """Callback of a click on the heatmap: that cell's pair (none when the click cleared it).
    The cell's names are the chart's labels (`plot_text`): unescaped back to the names."""
    points = (st.session_state.get("co_heatmap") or {}).get("selection", {}).get("points", [])
    cell = next((p for p in points if "x" in p and "y" in p), None)
    pair = (html.unescape(str(cell["y"])), html.unescape(str(cell["x"]))) if cell else None
    st.session_state[PAIR] = pair


def pick_row(top: pd.DataFrame) -> None:
    """Callback of a pick in the Top pairs table: that row's pair (none when unpicked)."""
    rows = selected_rows("co_pairs")
    pair = None
    if rows and rows[0] < len(top):
        pair = tuple(str(v) for v in top.iloc[rows[0]][["Entity", "With"]])
    st.session_state[PAIR] = pair


def pair_count(pairs: pd.DataFrame, a: str, b: str) -> int:
    """The articles shared by `a` and `b` (in either order), 0 if they are not a pair here."""
    match = ((pairs["entity_a"] == a) & (pairs["entity_b"] == b)) | (
        (pairs["entity_a"] == b) & (pairs["entity_b"] == a)
    )
    return int(pairs.loc[match, "articles"].sum())


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
    height = max(420, min(CELL * len(names) + 200, 1000))
    # Plotly selects no heatmap cell on a click: a transparent square marker over each cell
    # (the diagonal has none) is what the click picks, and what the hover names
    cells = [(a, b, n) for a, row in zip(names, z, strict=True)
             for b, n in zip(names, row, strict=True) if a != b and n > 0]  # fmt: skip
    side = max(10, min(60, 0.9 * (height - 200) / max(len(names), 1)))
    labels = {name: plot_text(name) for name in names}  # names as text, never as markup
    fig = go.Figure(
        [
            go.Heatmap(
                z=z,
                x=list(labels.values()),
                y=list(labels.values()),
                colorscale="Blues",
                texttemplate="%{z:,}",
                textfont={"size": 13},
                hoverinfo="skip",
                colorbar={"title": {"text": "articles"}, "thickness": 14},
                hoverongaps=False,
                xgap=2,
                ygap=2,
            ),
            go.Scatter(
                x=[labels[b] for _, b, _ in cells],
                y=[labels[a] for a, _, _ in cells],
                customdata=[int(n) for _, _, n in cells],
                mode="markers",
                marker={"symbol": "square", "size": side, "color": "rgba(0,0,0,0)"},
                selected={"marker": {"opacity": 0}},
                unselected={"marker": {"opacity": 0}},
                hovertemplate="%{y} & %{x}: %{customdata:,} articles<extra></extra>",
                showlegend=False,
                name="pairs",
            ),
        ]
    )
    fig.update_layout(
        height=height,
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
