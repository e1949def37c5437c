"""The Timeline page: mentions, articles or stories per period for the chosen (or the most
mentioned) entities, raw or normalized, or their mean tone; periods of degraded ingestion
shaded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.queries import shift
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
    # ingestion reads the range and the feeds alone: the same key as the Feeds page's chart,
    # so that after a commit the two views compute it once
    ing = q("ingestion", ctx.snap, queries.Filters(start=f.start, end=f.end, feeds=f.feeds), by)
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


FEW_MENTIONS = 5  # a period's tone behind fewer mentions than this is drawn faded
TONE_NOTE = (
    "**Tone** is the mean score of the sentences that name the entity (the headline counts as "
    "one), from -1 (most negative) to +1 (most positive), by VADER, a word list with rules "
    "for negation and emphasis: a lexicon's reading of the words around a name, **not** the "
    "outlet's stance or what the article thinks of the entity (“Rights groups condemned "
    "Bukele's prisons” and “Bukele condemned the attack” both read as negative for Bukele). "
    f"Compare it over many mentions; periods with fewer than {FEW_MENTIONS} mentions are faded."
)


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
    df = q("timeline", ctx.snap, f, by, story_share=norm and measure == "stories")
    if top:
        st.caption(
            f"The {len(entities)} most mentioned entities in the range; "
            "choose entities in the sidebar for others."
        )
    if fit.note:
        st.caption(fit.note)
    counted = "mentions" if measure == "tone" else measure
    if df.empty or df[counted].sum() == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    fig = go.Figure()
    if measure == "tone":
        out = tone_traces(fig, ctx, f, by, df, entities, roll)
        if out.empty or out["tone"].notna().sum() == 0:
            empty_state(
                "No tone was scored for these entities in this range (a poller run with "
                "--no-tone scores none; `monitor rematch` scores what is stored)."
            )
            return
        ytitle = "Tone, -1 to +1" + (f" ({roll}-period average)" if roll > 1 else "")
        fig.update_yaxes(title=ytitle, range=tone_range(out["tone"]), zeroline=True)
        fig.update_yaxes(tickformat="+.2f", zerolinecolor="rgba(49, 51, 63, 0.45)")
    else:
        out = df
        ytitle = count_traces(fig, ctx, df, entities, measure, norm, roll)
        fmt = ".0%" if norm else ","
        fig.update_yaxes(title=ytitle, rangemode="tozero", tickformat=fmt)
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
    fig.update_xaxes(title=None)
    if start and end:
        fig.update_xaxes(range=[start, end])
    chart(style_figure(fig), "timeline_chart")
    if measure == "tone":
        st.caption(TONE_NOTE)
    elif measure == "stories":
        st.caption(
            "**Stories** count an entity's articles with syndicated copies (the same story "
            "carried by several feeds under other URLs) counted once"
            + (", as a share of all stories stored in the period." if norm else ".")
        )
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
        csv_button(out, f"timeline-{measure}-{by}", "tl_csv")


def count_traces(
    fig: go.Figure,
    ctx: Context,
    df: pd.DataFrame,
    entities: list[str],
    measure: str,
    norm: bool,
    roll: int,
) -> str:
    """One line per entity of a count (or its normalized share); returns the axis title."""
    ytitle = ""
    # Plain dicts, added at once: plotly checks each trace once as it adds it (a go.Scatter
    # was checked when made, then deep-copied and checked again: half the figure's cost)
    traces = []
    parts = dict(tuple(df.groupby("entity", sort=False)))
    for entity in entities:
        part = parts.get(entity, df.iloc[:0]).sort_values("period")
        y, ytitle = series(part, measure, norm, roll)
        share = "story_share" if norm and measure == "stories" else "share"
        # numbers and times as arrays: plotly checks and writes them whole (numbers as typed
        # arrays for the browser) where a list was checked and written item by item
        custom = part[["mentions", "articles", "total", share, "stories"]].to_numpy("float64")
        value = "%{y:.2%}" if norm else "%{y:,.1f}" if roll > 1 else "%{y:,}"
        traces.append(
            {
                "type": "scatter",
                "x": part["period"].to_numpy(),
                "y": y.to_numpy(),
                "name": plot_text(entity),
                "mode": "lines+markers" if len(part) <= 60 else "lines",
                "line": {"color": ctx.color(entity), "width": 2},
                "marker": {"size": 5},
                "customdata": custom,
                "hovertemplate": (
                    f"<b>{plot_text(entity)}</b>: {value}"
                    + " · %{customdata[0]:,} mentions in %{customdata[1]:,}"
                    + " of %{customdata[2]:,} articles"
                    + " (%{customdata[3]:.1%}) · %{customdata[4]:,} stories<extra></extra>"
                ),
            }
        )
    fig.add_traces(traces)
    return ytitle


def tone_traces(
    fig: go.Figure,
    ctx: Context,
    f: queries.Filters,
    by: str,
    grid: pd.DataFrame,
    entities: list[str],
    roll: int,
) -> pd.DataFrame:
    """One line per entity of its mean tone per period, with the mentions behind each point
    in the hover, points behind few mentions faded; returns what is drawn (for the CSV)."""
    tone = q("tone_timeline", ctx.snap, f, by)
    cols = ["entity", "period", "tone", "toned", "mentions"]
    frames = []
    for entity in entities:
        part = grid.loc[grid["entity"] == entity, ["entity", "period"]].sort_values("period")
        scored = tone.loc[tone["entity"] == entity, ["period", "tone", "toned", "mentions"]]
        part = part.merge(scored, on="period", how="left")
        part[["toned", "mentions"]] = part[["toned", "mentions"]].fillna(0).astype("int64")
        y = part["tone"]
        if roll > 1:  # the mean over the window, each period weighted by its scored articles
            weight = part["toned"].rolling(roll, min_periods=1).sum()
            total = (part["tone"].fillna(0) * part["toned"]).rolling(roll, min_periods=1).sum()
            y = total / weight.where(weight > 0)
        part = part.assign(tone=y)
        frames.append(part[cols])
        few = part["mentions"] < FEW_MENTIONS
        fig.add_trace(
            go.Scatter(
                x=part["period"].tolist(),
                y=[None if pd.isna(v) else float(v) for v in y],
                name=plot_text(entity),
                mode="lines+markers",
                connectgaps=False,
                line={"color": ctx.color(entity), "width": 2},
                marker={"size": 6, "opacity": [0.3 if x else 1.0 for x in few]},
                customdata=part[["mentions", "toned"]].to_numpy().tolist(),
                hovertemplate=(
                    f"<b>{plot_text(entity)}</b>: tone %{{y:+.2f}}"
                    " · %{customdata[0]:,} mentions in %{customdata[1]:,} scored articles"
                    "<extra></extra>"
                ),
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def tone_range(values: pd.Series) -> list[float]:
    """The y range of a tone chart: the values drawn and 0, with a margin, within -1..+1
    (means over many mentions sit near 0: a fixed -1..+1 axis would flatten them)."""
    drawn = values.dropna()
    lo = min(float(drawn.min()) if len(drawn) else 0.0, 0.0) - 0.1
    hi = max(float(drawn.max()) if len(drawn) else 0.0, 0.0) + 0.1
    return [max(lo, -1.0), min(hi, 1.0)]


def series(part: pd.DataFrame, measure: str, norm: bool, roll: int) -> tuple[pd.Series, str]:
    """The plotted values of one entity: counts or shares, optionally as a rolling average."""
    if norm:
        stories = measure == "stories"
        num_col, den_col = ("stories", "total_stories") if stories else ("articles", "total")
        what = "stories" if stories else "articles"
        if roll > 1:
            num = part[num_col].rolling(roll, min_periods=1).sum()
            den = part[den_col].rolling(roll, min_periods=1).sum()
            return (num / den.where(den > 0)).fillna(
                0.0
            ), f"Share of {what} ({roll}-period average)"
        return part["story_share" if stories else "share"], f"Share of all {what}"
    title = measure.title()
    if roll > 1:
        return part[measure].rolling(roll, min_periods=1).mean(), f"{title} ({roll}-period average)"
    return part[measure], title
