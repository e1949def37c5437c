"""The Sources page: which feeds carry which entities; a row opens its articles."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.store import Snapshot
from monitor.text import plot_text

from ..data import Context
from ..state import Selection, go_to_articles, selected_rows, top_entities
from ..widgets import OTHER_COLOR, chart, csv_button, empty_state, style_figure

MAX_FEEDS = 25  # bars drawn


COLUMNS = {
    "name": "Feed",
    "entity": "Entity",
    "articles": "Articles",
    "mentions": "Mentions",
    "feed": "Feed URL",
}


@dataclass(frozen=True)
class SourcesView:
    """What the page draws first, from `queries.feed_totals`: the bars' feeds and, per colour
    group, its articles and mentions per feed. The table of every (feed, entity) pair waits
    for its expander (`sources_table`)."""

    feeds: list[str]  # the MAX_FEEDS feeds with the most articles, most first
    n_feeds: int  # feeds in all
    drawn: list[str]  # the entities with a colour of their own that have a bar
    bars: list[tuple[str, list[float], list[float]]]  # (group, articles, mentions) per feed


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Sources")
    f = sel.filters
    entities, top = top_entities(ctx, sel)
    view = sources_view(ctx.snap, f, tuple(entities))
    if view is None:
        st.caption("Which feeds carry the entities.")
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    feeds = view.feeds
    st.caption(
        f"Which feeds carry the entities: each bar counts a feed's articles that mention the "
        f"entity. {drawn_text(len(view.drawn), top)} An article carried by two feeds counts "
        "for both, so these sums can exceed the overview's."
        + (
            f" The {len(feeds)} feeds with the most such articles, of {view.n_feeds}."
            if view.n_feeds > len(feeds)
            else ""
        )
    )
    fig = go.Figure(
        [
            go.Bar(
                y=[plot_text(feed) for feed in feeds],
                x=articles,
                name=plot_text(group),
                orientation="h",
                marker={"color": OTHER_COLOR if group == "Other entities" else ctx.color(group)},
                customdata=mentions,
                hovertemplate=(
                    f"{plot_text(group)}: %{{x:,}} articles, %{{customdata:,.0f}} mentions"
                    "<extra></extra>"
                ),
            )
            for group, articles, mentions in view.bars
        ]
    )
    style_figure(fig, height=max(320, 30 * len(feeds) + 110))
    fig.update_layout(barmode="stack", hovermode="y unified", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title="Articles mentioning the entity (per feed)", tickformat=",")
    chart(fig, "sources_bar")
    rows = st.expander(
        "**Every feed and entity**, a row each: pick one to open its articles",
        key="rows",
        bind="query-params",
        icon=":material/table_rows:",
    )
    if rows.open:  # computed and sent only when open (~80,000 rows at 2M articles)
        table = sources_table(ctx.snap, f)
        with rows:
            st.caption(f"{len(table):,} rows. Click a column header to sort.")
            st.dataframe(
                table,
                hide_index=True,
                key="src_table",
                on_select=functools.partial(open_source, table, ctx.feed_labels),
                selection_mode="single-row",
                height=min(38 + 35 * len(table), 520),
                column_config={
                    "Articles": st.column_config.NumberColumn(format="localized"),
                    "Mentions": st.column_config.NumberColumn(format="localized"),
                },
            )
    csv_button(functools.partial(csv_rows, ctx.snap, f), "sources", "src_csv")


def sources_view(
    snap: Snapshot, f: queries.Filters, entities: tuple[str, ...]
) -> SourcesView | None:
    """The page's bars for the filters and the entities that get a colour (None: no
    mentions), computed once per commit and shared by the sessions that show them."""
    return cached_sources_view(snap.key, repr(f), entities, snap, f)


@st.cache_data(max_entries=50, show_spinner=False)
def cached_sources_view(
    snap_key: str, f_key: str, entities: tuple[str, ...], _snap: Snapshot, _f: queries.Filters
) -> SourcesView | None:
    df = queries.feed_totals(_snap, _f, entities)
    if df.empty:
        return None
    per_feed = df.groupby("name")["articles"].sum()
    # most articles first, ties by name
    per_feed = per_feed.sort_index().sort_values(ascending=False, kind="stable")
    feeds = per_feed.head(MAX_FEEDS).index.tolist()
    present = set(df["entity"])
    drawn = [e for e in entities if e in present]
    shown = df[df["name"].isin(feeds)].groupby(["entity", "name"])[["articles", "mentions"]].sum()
    bars = []
    for group, entity in [*((e, e) for e in drawn), ("Other entities", "")]:
        if entity not in shown.index:
            continue
        part = shown.loc[entity].reindex(feeds).fillna(0)
        bars.append((group, part["articles"].tolist(), part["mentions"].tolist()))
    return SourcesView(feeds, len(per_feed), drawn, bars)


def sources_table(snap: Snapshot, f: queries.Filters) -> pd.DataFrame:
    """The expander's table: `queries.top_feeds` (every feed and entity), its columns as
    COLUMNS names them and its texts as categories, cached like the queries."""
    return cached_sources_table(snap.key, repr(f), snap, f)


@st.cache_data(max_entries=20, show_spinner=False)
def cached_sources_table(
    snap_key: str, f_key: str, _snap: Snapshot, _f: queries.Filters
) -> pd.DataFrame:
    # ~80,000 rows at 2M articles. Names, entities and URLs repeat, so they go to the browser
    # as categories (each text once): a third of the bytes
    return (
        queries.top_feeds(_snap, _f)[list(COLUMNS)]
        .astype({"name": "category", "entity": "category", "feed": "category"})
        .rename(columns=COLUMNS)
    )


def csv_rows(snap: Snapshot, f: queries.Filters) -> pd.DataFrame:
    """The CSV's rows, when its button is clicked: the table (computed once for both) as
    `queries.top_feeds` has it, its columns and their names."""
    back = {shown: column for column, shown in COLUMNS.items()}
    table = sources_table(snap, f).rename(columns=back)
    return table[["entity", "feed", "name", "articles", "mentions"]]


def drawn_text(n: int, top: bool) -> str:
    """Which entities have their own colour, and why they are the ones on Timeline too."""
    if not top:
        return "The chosen entities have a colour each; other entities are grouped."
    return (
        f"The {n} entities with a colour are the most mentioned in the range, the same as on "
        "Timeline and Compare; the others are grouped (bars count articles, not mentions, so "
        "their order here can differ)."
    )


def open_source(table: pd.DataFrame, feed_labels: dict[str, str]) -> None:
    """Callback of a row pick: the articles of that feed that mention that entity."""
    rows = selected_rows("src_table")
    if not rows or rows[0] >= len(table):
        return
    row = table.iloc[rows[0]]
    labels = {url: label for label, url in feed_labels.items()}
    label = labels.get(str(row["Feed URL"]), str(row["Feed"]))
    go_to_articles(feed=[label], tag=[], e=[str(row["Entity"])], kind=[])
