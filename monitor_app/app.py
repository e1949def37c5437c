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

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import streamlit as st

from monitor import queries
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.store import Snapshot

from . import access, actions, state
from .data import Context, get_store, load_or_stop, make_context
from .pages import (
    alerts,
    articles,
    co_mentions,
    compare,
    discover,
    feeds,
    overview,
    sources,
    timeline,
)
from .state import Selection, cli_command
from .widgets import assign_colors, fmt_count, fmt_time, md, store_damage

REFRESH = "15s"
PAGES: dict[str, Callable[[Context, Selection], None]] = {
    "overview": overview.render,
    "timeline": timeline.render,
    "compare": compare.render,
    "co-mentions": co_mentions.render,
    "sources": sources.render,
    "articles": articles.render,
    "discover": discover.render,
    "alerts": alerts.render,
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
    cmd = cli_command(ctx, sel, "mentions")
    return f"""
- **Mentions** count every occurrence of a watched name or one of its aliases in an article's
  title and text: whole words, case and accents ignored (names written in capitals only, like
  acronyms, count only in capitals), the longest name winning where names overlap, and
  nothing inside an entity's `exclude` phrases.
- **Articles** count the articles with at least one mention. An article carried by several
  feeds counts once; a feed filter keeps the articles carried by any chosen feed.
- **Stories** count those articles with syndicated copies counted once: the same wire story
  carried by several feeds under other URLs (with a dateline, boilerplate, light edits or
  another headline) is one story, however many outlets ran it.
- **Tone** is the mean score (-1 to +1) of the sentences naming the entity, by a word list
  (VADER): a reading of the words around a name, not the outlet's stance.
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
- The same numbers from a terminal (paste it anywhere): `{cmd}`
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


def ingestion_note(ctx: Context) -> None:
    """While the poller's first poll is still running, say so: the numbers are partial."""
    waiting, enabled = first_poll_progress(ctx.config, ctx.snap)
    if waiting and get_store(str(ctx.config.store)).poller_running():
        st.info(
            f"**Ingestion in progress**: the poller's first poll has reached "
            f"{enabled - waiting:,} of {enabled:,} feeds, so these numbers are partial. "
            "The page updates by itself as articles arrive.",
            icon=":material/hourglass_top:",
        )


def recount_note(ctx: Context) -> None:
    """Entities in feeds.yaml that the store has not counted yet: say who will count them
    (the running poller, by itself) or offer to count them now; while the dashboard counts,
    its progress."""
    job = actions.recount_job(ctx.config)
    if job is not None and job.running:
        recount_progress(ctx.config)
        return
    waiting = actions.not_counted(ctx.config, ctx.snap)
    if not waiting:
        return
    names = ", ".join(f"“{md(n)}”" for n in waiting[:5]) + (" …" if len(waiting) > 5 else "")
    text = (
        f"feeds.yaml watches {names}, which the store has not counted yet, so "
        f"{'they show' if len(waiting) > 1 else 'it shows'} no mentions."
    )
    if get_store(str(ctx.config.store)).poller_running():
        st.info(
            text + " The running poller rereads feeds.yaml between polls (at least once a "
            "minute) and then counts them over the whole stored history.",
            icon=":material/hourglass_top:",
        )
        return
    if ctx.public:
        st.info(
            text + " Start the poller, or run `monitor rematch`, to count them.",
            icon=":material/pending:",
        )
        return
    failed = f" The last count failed: {md(job.error)}." if job is not None and job.error else ""
    st.warning(
        text + failed + " No poller is running: count them now (mentions and their tone, "
        "from the stored text), or start the poller, which does it when it opens the store.",
        icon=":material/pending:",
    )
    st.button(
        "Count them now",
        key="_recount",
        icon=":material/calculate:",
        on_click=start_recount,
        args=(ctx.config,),
    )


def start_recount(config: Config) -> None:
    actions.start_recount(config)


@st.fragment(run_every="1s")
def recount_progress(config: Config) -> None:
    """The dashboard's recount, as it goes; the whole page reruns when it is done."""
    job = actions.recount_job(config)
    if job is None or not job.running:
        st.rerun()
        return
    share = job.done / job.total if job.total else 0.0
    st.progress(
        min(share, 1.0),
        text=f"Counting mentions for feeds.yaml's watchlist: {job.done:,} of {job.total:,} "
        f"stored articles ({job.seconds:.0f} s). The pages update when it is done.",
    )


def first_poll_progress(config: Config, snap: Snapshot) -> tuple[int, int]:
    """(enabled feeds in feeds.yaml never polled into this store, enabled feeds). A feed is
    known by its URL or its name (the store may keep a redacted URL)."""
    polled = [s for s in snap.feeds.values() if s.last_poll is not None]
    urls, names = {s.url for s in polled}, {s.name for s in polled}
    enabled = [f for f in config.feeds if f.enabled]
    waiting = [f for f in enabled if f.key not in urls and f.name not in names]
    return len(waiting), len(enabled)


def range_without_data(ctx: Context, sel: Selection) -> None:
    """The range holds no article because the data ends before it (or begins after it): say
    when, and offer one click to a range of the same length that has data."""
    if ctx.first is None or ctx.last is None or sel.start is None or sel.end is None:
        return
    days = max(1, round((sel.end - sel.start) / timedelta(days=1)))
    if ctx.last <= sel.start:
        newest = state.last_day(ctx.last)
        lo, hi = newest - timedelta(days=days - 1), newest
        text = f"The newest article is from {fmt_time(ctx.last)} UTC, before this range"
        label = f"Show the {days} day{'s' if days != 1 else ''} up to it"
    elif ctx.first >= sel.end:
        lo = ctx.first.date()
        hi = lo + timedelta(days=days - 1)
        text = f"The first article is from {fmt_time(ctx.first)} UTC, after this range"
        label = f"Show the {days} day{'s' if days != 1 else ''} from it"
    else:
        return
    start, end = state.midnight(lo), state.day_end(hi)
    st.warning(f"{text}: nothing to count here.", icon=":material/history:")
    st.button(
        label,
        key="_to_data",
        icon=":material/arrow_forward:",
        on_click=state.jump,
        kwargs={
            "range": "custom",
            "from": lo,
            "to": hi,
            "by": state.default_granularity(start, end),
            "page": 1,
        },
    )


# --------------------------------------------------------------------------------------------
# Empty store, refresh, page


def empty_page(config: Config, snap: Snapshot) -> None:
    st.title("Media monitor")
    store_damage(snap)
    waiting, enabled = first_poll_progress(config, snap)
    if get_store(str(config.store)).poller_running():
        st.info(
            f"**Ingestion in progress**: the poller is running its first poll "
            f"({enabled - waiting:,} of {enabled:,} feeds so far). Articles appear here as "
            "they are stored; the page updates by itself.",
            icon=":material/hourglass_top:",
        )
        return
    st.info("No articles yet: the store is empty. Start polling, or try the demo.", icon="👋")
    n_feeds, n_watch = len(config.feeds), len(config.watch)
    st.markdown(
        f"""
This dashboard reads the store at `{config.store_label}`, which the poller fills from the
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


_FROZEN = threading.Lock()
_frozen_modules = 0  # modules loaded when the collector last set the long-lived objects aside


def freeze_long_lived() -> None:
    """After a run that imported modules: set what is alive now (the libraries' modules, types
    and tables, the cached resources) aside from the garbage collector (`gc.freeze`).

    Python's collector walks every object it tracks in its full collections; with pandas,
    plotly and DuckDB loaded that walk took 0.1-0.2 s (see also `collect_when_idle`). Frozen
    objects are still freed when nothing uses them (reference counting); only reference
    cycles among them are never collected, so this is done once the imports are done (the
    process's first runs), not after every run."""
    global _frozen_modules
    if len(sys.modules) == _frozen_modules:
        return
    with _FROZEN:
        if len(sys.modules) == _frozen_modules:
            return
        gc.collect()
        gc.freeze()
        _frozen_modules = len(sys.modules)


IDLE_COLLECT_S = 1.0
_RUNS = threading.Lock()
_running = 0  # script runs of this process under way


@contextlib.contextmanager
def collect_when_idle() -> Iterator[None]:
    """Count the script runs under way; `IDLE_COLLECT_S` after the last one ends, collect
    garbage in a thread of its own (`gc.collect`), if no run is under way then.

    Streamlit's collection after every run (`runner.postScriptGC`) is off
    (.streamlit/config.toml, `monitor dashboard`): it held the GIL 0.05-0.1 s at the end of
    every run, so 20 sessions opened at once after a poll waited ~1 s on it in all. Collecting
    once the burst is over frees the reference cycles of its runs (pandas, plotly) as promptly
    when the server is idle, and costs the runs nothing."""
    global _running
    with _RUNS:
        _running += 1
    try:
        yield
    finally:
        with _RUNS:
            _running -= 1
            idle = _running == 0
        if idle:  # a moment later: sessions opened together start their runs a few ms apart
            timer = threading.Timer(IDLE_COLLECT_S, _collect_if_idle)
            timer.name = "collect-when-idle"
            timer.start()


def _collect_if_idle() -> None:
    with _RUNS:
        if _running:
            return
    gc.collect()


def main() -> None:
    with collect_when_idle():
        _main()


def _main() -> None:
    st.set_page_config(page_title="Media monitor", page_icon="📰", layout="wide")
    page_style()
    setup = access.current_setup()
    access.require_sign_in(setup)  # signed out: the sign-in page, before feeds.yaml is read
    config = load_or_stop(detailed=not setup.signing_in)
    viewer = access.admit(setup, config)  # not allowed: a refusal, before the store is read
    access.return_to_link(setup)
    access.show_viewer(viewer, setup)
    store = get_store(str(config.store))
    try:
        snap = store.snapshot()
    except MonitorError as exc:
        st.title("Media monitor")
        st.error(str(exc))
        st.stop()
    if snap.rows("articles") == 0:
        empty_page(config, snap)
        watch_for_new_data(str(config.store), snap.key)
        return
    try:
        render(config, snap, public=viewer.public)
    except MonitorError as exc:  # a damaged store file met by a query: one line, no traceback
        st.error(str(exc), icon=":material/report:")
    watch_for_new_data(str(config.store), snap.key)
    freeze_long_lived()


def render(config: Config, snap: Snapshot, *, public: bool = False) -> None:
    """The sidebar, the header and the page the URL names. `public`: the page is open to
    anyone who can reach it (no sign-in), so it offers no edit."""
    ctx = replace(make_context(config, snap), public=public)
    if "_notices" not in st.session_state:  # the session's first run: the link as opened
        params = state.link_params()
        link = state.check_link(ctx, params)
        st.session_state["_notices"] = link.notes
        st.session_state["_link"] = params
        st.session_state.update(link.state)
    st.session_state["_bounds"] = (ctx.first, ctx.last, ctx.now)
    sel = state.sidebar(ctx)
    in_play, _ = state.top_entities(ctx, sel)
    ctx = replace(ctx, colors=assign_colors(in_play, ctx.entities))
    header(ctx, sel)
    show_notices()
    ingestion_note(ctx)
    recount_note(ctx)
    range_without_data(ctx, sel)
    tabs = st.tabs(list(state.VIEWS), key="view", bind="query-params")
    for tab, name in zip(tabs, state.VIEWS, strict=True):
        if tab.open:
            with tab:
                PAGES[name](ctx, sel)
