"""The Compare page: share of voice of the chosen (or the most mentioned) entities over time,
and their totals as a donut, in one figure.
"""

from __future__ import annotations

import html
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ..data import Context, q
from ..state import (
    MAX_LINE_POINTS,
    Selection,
    articles_button,
    chart_controls,
    fit_granularity,
    top_entities,
)
from ..widgets import chart, csv_button, empty_state, style_figure


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Compare: share of voice")
    by, measure, _, roll = chart_controls(ctx, sel, with_norm=False)
    if measure == "tone":
        st.caption(
            "Share of voice divides a count; tone is a mean score (see it on the Timeline). "
            "Showing mentions."
        )
        measure = "mentions"
    entities, top = top_entities(ctx, sel)
    if len(entities) < 2 and not top:
        st.caption("Choose two or more entities in the sidebar to compare them.")
    if not entities:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    span_start, end = sel.span(ctx)
    fit = fit_granularity(by, span_start, end, MAX_LINE_POINTS)
    f = replace(sel.filters, entities=tuple(entities))
    totals = q("mention_counts", ctx.snap, f, "none").set_index("entity")
    if fit.start != span_start:
        f = replace(f, start=fit.start)  # drawn from a later start (see fit_granularity)
    by, note = fit.by, fit.note
    df = q("timeline", ctx.snap, f, by)
    if top:
        st.caption(
            f"The {len(entities)} most mentioned entities in the range; "
            "choose entities in the sidebar for others."
        )
    if note:
        st.caption(note)
    if df.empty or df[measure].sum() == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    wide = df.pivot_table(index="period", columns="entity", values=measure, aggfunc="sum")
    wide = wide.reindex(columns=entities).fillna(0)
    if roll > 1:
        wide = wide.rolling(roll, min_periods=1).sum()
    sums = wide.sum(axis=1)
    shares = wide.div(sums.where(sums > 0), axis=0).fillna(0.0)
    values = [int(totals[measure].get(e, 0)) for e in entities]
    chart(share_figure(ctx, entities, shares, wide, values, measure), "compare_chart")
    if roll > 1:
        st.caption(f"Shares of {roll}-period sums.")
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "cmp_articles", e=list(entities))
    with c2:
        csv_button(df, f"compare-{by}", "cmp_csv")


AREA_WIDTH = 0.66  # of the figure: the share over time; the donut of the totals on the right


def share_figure(
    ctx: Context,
    entities: list[str],
    shares: pd.DataFrame,
    wide: pd.DataFrame,
    values: list[int],
    measure: str,
) -> go.Figure:
    """The share of voice over time (stacked areas) and the totals (a donut) in one figure:
    a browser draws a second plotly chart on a page in ~0.4-0.5 s more (measured at 2M
    articles, docs/benchmarks.md); one figure with two areas draws both at once."""
    fig = go.Figure(
        [  # one Figure of every trace: adding them one by one revalidated the figure's data
            go.Scatter(
                x=shares.index.tolist(),
                y=shares[entity].tolist(),
                name=entity,
                mode="lines",
                stackgroup="share",
                line={"color": ctx.color(entity), "width": 0.5},
                customdata=wide[entity].tolist(),
                hovertemplate=(
                    f"{html.escape(entity)}: %{{y:.1%}} (%{{customdata:,.0f}} {measure})"
                    "<extra></extra>"
                ),
            )
            for entity in entities
        ]
        + [
            go.Pie(
                labels=entities,
                values=values,
                hole=0.55,
                sort=False,
                marker={"colors": [ctx.color(e) for e in entities]},
                textinfo="percent",
                hovertemplate="%{label}: %{value:,} " + measure + " (%{percent})<extra></extra>",
                domain={"x": [AREA_WIDTH + 0.06, 1.0], "y": [0.0, 1.0]},
                showlegend=False,  # the areas' legend names the same colours
                name="Total",
            )
        ]
    )
    style_figure(fig, height=430)
    fig.update_xaxes(domain=[0.0, AREA_WIDTH])
    fig.update_yaxes(
        tickformat=".0%", range=[0, 1], title=f"Share of the chosen entities' {measure}"
    )
    fig.update_layout(
        annotations=[
            {
                "text": f"{sum(values):,}<br>{measure}",
                "showarrow": False,
                "font": {"size": 16},
                "xref": "paper",
                "yref": "paper",
                "x": (AREA_WIDTH + 0.06 + 1.0) / 2,
                "y": 0.5,
                "xanchor": "center",
                "yanchor": "middle",
            }
        ]
    )
    return fig
