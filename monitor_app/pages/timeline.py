"""The Timeline page: mentions or articles per period for the chosen (or the most mentioned)
entities, raw or normalized, with periods of degraded ingestion shaded.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.queries import shift

from ..data import Context, q
from ..state import (
    MAX_LINE_POINTS,
    Selection,
    articles_button,
    chart_controls,
    fit_granularity,
    top_entities,
)
from ..widgets import BEFORE_FILL, DEGRADED_FILL, chart, csv_button, empty_state, style_figure

PERIOD_STEP = {
    "hour": pd.DateOffset(hours=1),
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
}


def degraded_spans(df: pd.DataFrame, by: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of degraded periods as (start, end) pairs."""
    spans: list[list[pd.Timestamp]] = []
    for period in sorted(df.loc[df["degraded"], "period"]):
        p = pd.Timestamp(period)
        stop = p + PERIOD_STEP[by]
        if spans and spans[-1][1] >= p:
            spans[-1][1] = stop
        else:
            spans.append([p, stop])
    return [(a, b) for a, b in spans]


def shade_degraded(fig: go.Figure, ctx: Context, f: queries.Filters, by: str) -> int:
    ing = q("ingestion", ctx.snap, f, by)
    if ing.empty or not ing["degraded"].any():
        return 0
    spans = degraded_spans(ing, by)
    for a, b in spans:
        fig.add_vrect(x0=a, x1=b, fillcolor=DEGRADED_FILL, line_width=0, layer="below")
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="Ingestion degraded",
            marker={"symbol": "square", "size": 12, "color": DEGRADED_FILL},
            hoverinfo="skip",
        )
    )
    return len(spans)


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Timeline")
    by, measure, norm, roll = chart_controls(ctx, sel)
    entities, top = top_entities(ctx, sel)
    if not entities:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    span_start, end = sel.span(ctx)
    fit = fit_granularity(by, span_start, end, MAX_LINE_POINTS)
    f = replace(sel.filters, entities=tuple(entities))
    if fit.start != span_start:
        f = replace(f, start=fit.start)  # drawn from a later start (see fit_granularity)
    by, start = fit.by, fit.start
    df = q("timeline", ctx.snap, f, by)
    if top:
        st.caption(
            f"The {len(entities)} most mentioned entities in the range; "
            "choose entities in the sidebar for others."
        )
    if fit.note:
        st.caption(fit.note)
    if df.empty or df[measure].sum() == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    fig = go.Figure()
    for entity in entities:
        part = df[df["entity"] == entity].sort_values("period")
        y, ytitle = series(part, measure, norm, roll)
        custom = part[["mentions", "articles", "total", "share"]].to_numpy().tolist()
        value = "%{y:.2%}" if norm else "%{y:,.1f}" if roll > 1 else "%{y:,}"
        fig.add_trace(
            go.Scatter(
                x=part["period"].tolist(),
                y=y.tolist(),
                name=entity,
                mode="lines+markers" if len(part) <= 60 else "lines",
                line={"color": ctx.color(entity), "width": 2},
                marker={"size": 5},
                customdata=custom,
                hovertemplate=(
                    f"<b>{html.escape(entity)}</b>: {value}"
                    + " · %{customdata[0]:,} mentions in %{customdata[1]:,}"
                    + " of %{customdata[2]:,} articles"
                    + " (%{customdata[3]:.1%})<extra></extra>"
                ),
            )
        )
    shaded = shade_degraded(fig, ctx, f, by)
    if start and ctx.first and start < shift(ctx.first, -timedelta(hours=1)):
        fig.add_vrect(
            x0=start,
            x1=ctx.first,
            fillcolor=BEFORE_FILL,
            line_width=0,
            layer="below",
            annotation_text="before the first article",
            annotation_position="top left",
            annotation_font={"color": "gray", "size": 11},
        )
    fig.update_yaxes(title=ytitle, rangemode="tozero", tickformat=".0%" if norm else ",")
    fig.update_xaxes(title=None)
    if start and end:
        fig.update_xaxes(range=[start, end])
    chart(style_figure(fig), "timeline_chart")
    if shaded:
        st.caption(
            f"Grey: {shaded} stretch{'es' if shaded != 1 else ''} where most feeds failed to "
            "poll; fewer articles there may be missing data, not less coverage."
        )
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button(
            "Open the articles",
            "tl_articles",
            e=list(entities) if top else st.session_state.get("e", []),
        )
    with c2:
        csv_button(df, f"timeline-{by}", "tl_csv")


def series(part: pd.DataFrame, measure: str, norm: bool, roll: int) -> tuple[pd.Series, str]:
    """The plotted values of one entity: counts or shares, optionally as a rolling average."""
    if norm:
        if roll > 1:
            num = part["articles"].rolling(roll, min_periods=1).sum()
            den = part["total"].rolling(roll, min_periods=1).sum()
            return (num / den.where(den > 0)).fillna(
                0.0
            ), f"Share of articles ({roll}-period average)"
        return part["share"], "Share of all articles"
    title = measure.title()
    if roll > 1:
        return part[measure].rolling(roll, min_periods=1).mean(), f"{title} ({roll}-period average)"
    return part[measure], title
