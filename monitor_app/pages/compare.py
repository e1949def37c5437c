"""The Compare page: share of voice of the chosen (or the most mentioned) entities over time,
with each one's total in the range and its share of them all in the legend.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor.text import plot_text

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
    st.caption(
        f"{sum(values):,} {measure} in all in the range; the legend gives each entity's total "
        "and its share of them." + (f" Shares of {roll}-period sums." if roll > 1 else "")
    )
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "cmp_articles", e=list(entities))
    with c2:
        csv_button(df, f"compare-{by}", "cmp_csv")


def share_figure(
    ctx: Context,
    entities: list[str],
    shares: pd.DataFrame,
    wide: pd.DataFrame,
    values: list[int],
    measure: str,
) -> go.Figure:
    """The share of voice over time (stacked areas), each entity's total in the range and its
    share of them all in its legend entry. The totals were a donut beside the areas: a
    browser drew a first open 0.3-1 s later with it (paired medians of three runs of 8
    opens at 2M articles, each against one without it; the busier the machine, the more)."""
    everyone = sum(values)
    fig = go.Figure(
        [  # one Figure of every trace: adding them one by one revalidated the figure's data
            go.Scatter(
                x=shares.index.tolist(),
                y=shares[entity].tolist(),
                name=total_label(entity, value, everyone),
                mode="lines",
                stackgroup="share",
                line={"color": ctx.color(entity), "width": 0.5},
                customdata=wide[entity].tolist(),
                hovertemplate=(
                    f"{plot_text(entity)}: %{{y:.1%}} (%{{customdata:,.0f}} {measure})"
                    "<extra></extra>"
                ),
            )
            for entity, value in zip(entities, values, strict=True)
        ]
    )
    style_figure(fig, height=430)
    fig.update_yaxes(
        tickformat=".0%", range=[0, 1], title=f"Share of the chosen entities' {measure}"
    )
    return fig


def total_label(entity: str, value: int, everyone: int) -> str:
    """An entity's legend entry: its name, its total and its share of all the totals."""
    share = f"{value / everyone:.0%}" if everyone else "-"
    return f"{plot_text(entity)}: {value:,} ({share})"
