"""The Sources page: which feeds carry which entities; a row opens its articles."""

from __future__ import annotations

import functools
import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ..data import Context, q
from ..state import Selection, go_to_articles, selected_rows, top_entities
from ..widgets import OTHER_COLOR, chart, csv_button, empty_state, style_figure

MAX_FEEDS = 25  # bars drawn


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Sources")
    f = sel.filters
    df = q("top_feeds", ctx.snap, f)
    if df.empty:
        st.caption("Which feeds carry the entities.")
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    per_feed = df.groupby("name")["articles"].sum().sort_values(ascending=False)
    feeds = per_feed.head(MAX_FEEDS).index.tolist()
    entities, top = top_entities(ctx, sel)
    present = set(df["entity"].unique())
    drawn = [e for e in entities if e in present]
    st.caption(
        f"Which feeds carry the entities: each bar counts a feed's articles that mention the "
        f"entity. {drawn_text(len(drawn), top)} An article carried by two feeds counts for "
        "both, so these sums can exceed the overview's."
        + (
            f" The {len(feeds)} feeds with the most such articles, of {len(per_feed)}."
            if len(per_feed) > len(feeds)
            else ""
        )
    )
    shown = df[df["name"].isin(feeds)].assign(
        group=lambda d: d["entity"].where(d["entity"].isin(drawn), "Other entities")
    )
    fig = go.Figure()
    for group in [*drawn, "Other entities"]:
        part = shown[shown["group"] == group].groupby("name")[["articles", "mentions"]].sum()
        part = part.reindex(feeds).fillna(0)
        if part["articles"].sum() == 0:
            continue
        color = OTHER_COLOR if group == "Other entities" else ctx.color(group)
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
    st.caption("Every feed and entity; pick a row to open its articles.")
    # every (feed, entity) pair: ~90,000 rows at 2M articles. Names, entities and URLs repeat,
    # so they go to the browser as categories (each text once): a third of the bytes
    table = df[["name", "entity", "articles", "mentions", "feed"]].astype(
        {"name": "category", "entity": "category", "feed": "category"}
    )
    st.dataframe(
        table.rename(
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
        on_select=functools.partial(open_source, df, ctx.feed_labels),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 520),
        column_config={
            "Articles": st.column_config.NumberColumn(format="localized"),
            "Mentions": st.column_config.NumberColumn(format="localized"),
        },
    )
    csv_button(df, "sources", "src_csv")


def drawn_text(n: int, top: bool) -> str:
    """Which entities have their own colour, and why they are the ones on Timeline too."""
    if not top:
        return "The chosen entities have a colour each; other entities are grouped."
    return (
        f"The {n} entities with a colour are the most mentioned in the range, the same as on "
        "Timeline and Compare; the others are grouped (bars count articles, not mentions, so "
        "their order here can differ)."
    )


def open_source(df: pd.DataFrame, feed_labels: dict[str, str]) -> None:
    """Callback of a row pick: the articles of that feed that mention that entity."""
    rows = selected_rows("src_table")
    if not rows or rows[0] >= len(df):
        return
    row = df.iloc[rows[0]]
    labels = {url: label for label, url in feed_labels.items()}
    label = labels.get(row["feed"], row["name"])
    go_to_articles(feed=[label], tag=[], e=[row["entity"]], kind=[])
