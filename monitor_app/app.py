"""The dashboard's frame and router: what every page shares, then the page the URL names.

`main()` loads feeds.yaml and the store's latest snapshot, checks the link on the session's
first run, draws the sidebar (the `Selection`), the header and the link's notices, then one
tab per page, bound to `?view=`; only the open tab's page runs. A fragment reruns the page
when the poller commits new data.

Pages are tabs rather than `st.navigation` pages: `st.navigation` routes by the URL's path
(`/timeline`), which would break every shared `?view=timeline&...` link (see docs/design.md).

What it leaves to others: the URL and the filters (state.py), the data (data.py), each page
(pages/).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from monitor import queries
from monitor.config import Config
from monitor.errors import MonitorError

from . import state
from .data import Context, get_store, load_or_stop, make_context
from .pages import articles, co_mentions, compare, feeds, overview, sources, timeline
from .state import Selection, cli_command
from .widgets import fmt_count, fmt_time

REFRESH = "15s"
PAGES: dict[str, Callable[[Context, Selection], None]] = {
    "overview": overview.render,
    "timeline": timeline.render,
    "compare": compare.render,
    "co-mentions": co_mentions.render,
    "sources": sources.render,
    "articles": articles.render,
    "feeds": feeds.render,
}
assert tuple(PAGES) == state.VIEWS


# --------------------------------------------------------------------------------------------
# Header, notices, how counting works


def header(ctx: Context, sel: Selection) -> None:
    snap = ctx.snap
    as_of = queries.data_as_of(snap)
    as_of_text = f"{fmt_time(as_of)} UTC" if as_of else "never polled"
    n_feeds = len(snap.feeds)
    st.title("Media monitor")
    st.markdown(
        f"Data as of **{as_of_text}** · **{fmt_count(snap.rows('articles'))}** articles from "
        f"**{n_feeds}** feed{'s' if n_feeds != 1 else ''} · counts since "
        f"**{fmt_time(ctx.first, False)}**"
    )
    with st.expander("How counting works"):
        st.markdown(counting_text(ctx, sel))


def counting_text(ctx: Context, sel: Selection) -> str:
    enabled = sum(1 for f in ctx.config.feeds if f.enabled)
    cmd = cli_command(sel, "mentions")
    return f"""
- **Mentions** count every occurrence of a watched name or one of its aliases in an article's
  title and text: whole words, case and accents ignored (names written in capitals only, like
  acronyms, count only in capitals), the longest name winning where names overlap, and
  nothing inside an entity's `exclude` phrases.
- **Articles** count the articles with at least one mention. An article carried by several
  feeds counts once; a feed filter keeps the articles carried by any chosen feed.
- An article belongs to the hour, day or week of its **publication time (UTC)**. When a feed
  gave no date, or one in the future, the time it was first seen is used instead.
- **Normalized** shows the share of all articles stored for the period (same feeds) that
  mention the entity, so that a busier news day does not read as more attention.
- **Sources**: {len(ctx.config.feeds)} feeds in `{ctx.config.path.name}` ({enabled} enabled);
  the store holds articles from {len(ctx.snap.feeds)} feeds, since
  {fmt_time(ctx.first, False)}. Feeds added later only count from their first poll (and the
  history their feed still offered then).
- **Gaps**: periods where most feeds failed to poll are shaded grey on the timeline: fewer
  articles there may be missing data, not less coverage. See the Feeds view for each feed.
- The same numbers from a terminal: `{cmd}`.
"""


def show_notices() -> None:
    notes = st.session_state.get("_notices") or []
    if not notes:
        return
    text = notes[0] if len(notes) == 1 else "\n".join(f"- {note}" for note in notes)
    st.info(text, icon=":material/link:")

    def dismiss() -> None:
        st.session_state["_notices"] = []

    st.button("Dismiss", key="_dismiss", on_click=dismiss, type="tertiary")


# --------------------------------------------------------------------------------------------
# Empty store, refresh, page


def empty_page(config: Config) -> None:
    st.title("Media monitor")
    st.info("No articles yet: the store is empty. Start polling, or try the demo.", icon="👋")
    n_feeds, n_watch = len(config.feeds), len(config.watch)
    st.markdown(
        f"""
This dashboard reads the store at `{config.store}`, which the poller fills from the
{n_feeds} feed{"s" if n_feeds != 1 else ""} in `{config.path}`
(watching {n_watch} entit{"ies" if n_watch != 1 else "y"}).

**Start polling** (the page updates by itself when the first articles arrive):

```
monitor validate        # check feeds.yaml
monitor poll            # poll every feed, again and again (Ctrl-C stops)
monitor run             # or: poll and serve this dashboard together
```

**Or run the offline demo**, a synthetic news world served on this machine:

```
monitor demo
```
"""
    )


@st.fragment(run_every=REFRESH)
def watch_for_new_data(root: str, seen: str) -> None:
    """Rerun the page (keeping every choice) when the poller has committed new data."""
    try:
        current = get_store(root).snapshot().key
    except MonitorError:
        return
    if current != seen:
        st.rerun()


def page_style() -> None:
    st.html(
        """<style>
        .st-key-view button[role="tab"] p { text-transform: capitalize; font-size: 1rem; }
        [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
        [data-testid="stSidebarHeader"] { height: 1.5rem; min-height: 1.5rem; }
        </style>"""
    )


def main() -> None:
    st.set_page_config(page_title="Media monitor", page_icon="📰", layout="wide")
    page_style()
    config = load_or_stop()
    store = get_store(str(config.store))
    try:
        snap = store.snapshot()
    except MonitorError as exc:
        st.title("Media monitor")
        st.error(str(exc))
        st.stop()
    if snap.rows("articles") == 0:
        empty_page(config)
        watch_for_new_data(str(config.store), snap.key)
        return
    ctx = make_context(config, snap)
    if "_notices" not in st.session_state:  # the session's first run: the link as opened
        params = state.link_params()
        st.session_state["_notices"] = state.check_link(ctx, params)
        if "range" not in params and ("from" in params or "to" in params):
            st.session_state["range"] = "custom"  # dates alone mean a custom range
    st.session_state["_bounds"] = (ctx.first, ctx.last, ctx.now)
    sel = state.sidebar(ctx)
    header(ctx, sel)
    show_notices()
    tabs = st.tabs(list(state.VIEWS), key="view", bind="query-params")
    for tab, name in zip(tabs, state.VIEWS, strict=True):
        if tab.open:
            with tab:
                PAGES[name](ctx, sel)
    watch_for_new_data(str(config.store), snap.key)
