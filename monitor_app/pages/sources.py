"""The Sources page: which feeds carry which entities; a row opens its articles."""

from __future__ import annotations

import functools
import html

import plotly.graph_objects as go
import streamlit as st

from ..data import Context, q
from ..state import TOP_DEFAULT, Selection, go_to_articles, selected_rows
from ..widgets import chart, csv_button, empty_state, style_figure


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Sources")
    f = sel.filters
    df = q("top_feeds", ctx.snap, f)
    st.caption(
        "Which feeds carry the entities. An article carried by two feeds counts for both here, "
        "so these sums can exceed the overview's. Pick a row of the table to open its articles."
    )
    if df.empty:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    per_feed = df.groupby("name")["articles"].sum().sort_values(ascending=False)
    feeds = per_feed.head(25).index.tolist()
    by_entity = df.groupby("entity")["articles"].sum().sort_values(ascending=False)
    drawn = list(sel.chosen) if sel.chosen else by_entity.head(TOP_DEFAULT).index.tolist()
    drawn = [e for e in drawn if e in by_entity.index]
    shown = df[df["name"].isin(feeds)].assign(
        group=lambda d: d["entity"].where(d["entity"].isin(drawn), "Other entities")
    )
    fig = go.Figure()
    for group in [*drawn, "Other entities"]:
        part = shown[shown["group"] == group].groupby("name")[["articles", "mentions"]].sum()
        part = part.reindex(feeds).fillna(0)
        if part["articles"].sum() == 0:
            continue
        color = "#C7C7C7" if group == "Other entities" else ctx.color(group)
        fig.add_trace(
            go.Bar(
                y=feeds,
                x=part["articles"].tolist(),
                name=group,
                orientation="h",
                marker={"color": color},
                customdata=part["mentions"].tolist(),
                hovertemplate=(
                    f"{html.escape(group)}: %{{x:,}} articles, %{{customdata:,.0f}} mentions"
                    "<extra></extra>"
                ),
            )
        )
    style_figure(fig, height=max(320, 30 * len(feeds) + 110))
    fig.update_layout(barmode="stack", hovermode="y unified", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title="Articles mentioning the entity (per feed)", tickformat=",")
    chart(fig, "sources_bar")
    if len(per_feed) > len(feeds):
        st.caption(f"The {len(feeds)} feeds with the most articles, of {len(per_feed)}.")
    labels = {url: label for label, url in ctx.feed_labels.items()}
    table = df.assign(label=df["feed"].map(labels).fillna(df["name"]))
    st.dataframe(
        table[["name", "entity", "articles", "mentions", "feed"]].rename(
            columns={
                "name": "Feed",
                "entity": "Entity",
                "articles": "Articles",
                "mentions": "Mentions",
                "feed": "Feed URL",
            }
        ),
        hide_index=True,
        key="src_table",
        on_select=functools.partial(open_source, table["label"].tolist(), table["entity"].tolist()),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 520),
        column_config={
            "Articles": st.column_config.NumberColumn(format="localized"),
            "Mentions": st.column_config.NumberColumn(format="localized"),
        },
    )
    csv_button(df, "sources", "src_csv")


def open_source(labels: list[str], entities: list[str]) -> None:
    rows = selected_rows("src_table")
    if rows and rows[0] < len(labels):
        go_to_articles(feed=[labels[rows[0]]], tag=[], e=[entities[rows[0]]], kind=[])
