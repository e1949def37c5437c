"""The Streamlit dashboard: layout, widgets, caching and charts over `monitor.queries`.

Run it with `monitor dashboard` (or `streamlit run dashboard.py`); it finds feeds.yaml like the
command line does ($MONITOR_CONFIG, else ./feeds.yaml), reads the store the poller fills, and
never writes to it.

- Every count comes from `monitor.queries` with the same `Filters` the CLI builds, so the
  numbers agree with `monitor mentions` / `monitor articles`; results are cached on
  `Snapshot.key` plus the filter values, and a fragment reruns the page when a new commit lands.
- The whole view lives in the URL: each filter is a widget bound to a query parameter (short
  keys: view, range, from, to, e, kind, feed, tag, q, by, measure, norm, roll, page). A link's
  parameters are checked before the widgets are made, and what Streamlit would silently drop
  is named in a notice.
- Text from feeds is untrusted: it is shown through st.dataframe, or as HTML built here with
  every piece of feed text escaped; only http(s) links are clickable.

What it leaves to others: counting and filtering (monitor/queries.py), the store (store.py),
reading feeds.yaml (config.py), the counting rules (match.py).
"""

from __future__ import annotations

import difflib
import functools
import html
import math
import re
import shlex
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import queries
from monitor.config import Config, file_stamp, load_config, resolve_config_path
from monitor.errors import ConfigError, MonitorError
from monitor.match import Matcher
from monitor.models import ENTITY_KINDS
from monitor.store import Snapshot, Store
from monitor.text import collapse_ws, is_http_url

VIEWS = ("overview", "timeline", "compare", "co-mentions", "sources", "articles", "feeds")
RANGES = ("24h", "7d", "30d", "90d", "all", "custom")
RANGE_LABELS = {"24h": "24 h", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
DEFAULT_RANGE = "30d"
MEASURES = ("mentions", "articles")
PAGE_SIZE = 50
MAX_CSV_ARTICLES = 50_000
MAX_PERIODS = 2_400  # per series; a finer granularity is coarsened (and the user told)
TOP_DEFAULT = 6  # entities drawn when none are chosen
REFRESH = "15s"
PARAMS = {
    "view", "range", "from", "to", "e", "kind", "feed", "tag", "q",
    "by", "measure", "norm", "roll", "page",
}  # fmt: skip
# One colour per watched entity, in watchlist order, the same in every chart.
PALETTE = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D",
    "#FF9DA6", "#BAB0AC", "#1F77B4", "#D62728", "#2CA02C", "#9467BD", "#8C564B", "#17BECF",
    "#BCBD22", "#7F7F7F", "#E377C2", "#FF7F0E",
)  # fmt: skip
DEGRADED_FILL = "rgba(120, 120, 120, 0.16)"
BEFORE_FILL = "rgba(120, 120, 120, 0.05)"
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


# --------------------------------------------------------------------------------------------
# Loading: config, store, snapshot


def load_or_stop() -> Config:
    """feeds.yaml, or every problem in it shown with st.error and the page stopped."""
    path = resolve_config_path(None)
    try:
        return _load_config(str(path), file_stamp(path))
    except ConfigError as exc:
        st.title("Media monitor")
        st.error(f"The configuration `{path}` cannot be used; fix these and reload:", icon="⚠️")
        for issue in exc.issues:
            st.error(str(issue))
        st.caption("`monitor validate` prints the same list in a terminal.")
        st.stop()
        raise  # not reached: st.stop() raises


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_config(path: str, stamp: tuple[int, int] | None) -> Config:
    """feeds.yaml, read again only when its modification time or size changes. A ConfigError
    is not cached, so a broken file is read (and reported) on every run until it is fixed."""
    return load_config(path)


@st.cache_resource(show_spinner=False)
def get_store(root: str) -> Store:
    return Store(root)


@st.cache_resource(show_spinner=False)
def get_matcher(key: str, _config: Config) -> Matcher:
    return Matcher(_config.watch)


# --------------------------------------------------------------------------------------------
# Cached queries: keyed on the snapshot (changes when data lands) and the filter values


@st.cache_data(max_entries=400, show_spinner=False)
def cached(
    name: str, snap_key: str, f_key: str, args: tuple, kwargs: tuple, _snap: Snapshot, _f: Any
) -> Any:
    return getattr(queries, name)(_snap, _f, *args, **dict(kwargs))


def q(name: str, snap: Snapshot, f: queries.Filters, *args: Any, **kwargs: Any) -> Any:
    """queries.<name>(snap, f, ...), cached on the snapshot's key and the filter values."""
    return cached(name, snap_id(snap), repr(f), args, tuple(sorted(kwargs.items())), snap, f)


def snap_id(snap: Snapshot) -> str:
    """`Snapshot.key`: changes with every commit, and differs for a store started afresh."""
    return snap.key


@st.cache_data(max_entries=50, show_spinner=False)
def cached_health(snap_key: str, minute: str, _snap: Snapshot) -> pd.DataFrame:
    return queries.feed_health(_snap, datetime.fromisoformat(minute))


# --------------------------------------------------------------------------------------------
# What the page knows about the watchlist and feeds


@dataclass(frozen=True)
class Context:
    config: Config
    snap: Snapshot
    now: datetime  # naive UTC
    entities: tuple[str, ...]  # watchlist order
    kinds: dict[str, str]
    feed_labels: dict[str, str]  # label shown (and put in the URL) -> feed URL
    tags: tuple[str, ...]
    first: datetime | None  # first publication time in the store
    last: datetime | None  # end of the last (exclusive)

    @property
    def kind_options(self) -> list[str]:
        """The kinds that some watched entity has, in the usual order."""
        present = set(self.kinds.values())
        return [k for k in ENTITY_KINDS if k in present]

    def color(self, entity: str) -> str:
        i = self.entities.index(entity) if entity in self.entities else len(self.entities)
        return PALETTE[i % len(PALETTE)]

    def colors(self, entities: Sequence[str]) -> dict[str, str]:
        return {e: self.color(e) for e in entities}


def make_context(config: Config, snap: Snapshot) -> Context:
    names = [e.name for e in config.watch]
    names += [e.name for e in snap.watchlist if e.name not in names]
    kinds = {e.name: e.kind for e in snap.watchlist} | {e.name: e.kind for e in config.watch}
    feeds: dict[str, str] = {f.url: f.name for f in config.feeds}
    for url, state in snap.feeds.items():
        feeds.setdefault(url, state.name or url)
    tags = sorted({t for s in snap.feeds.values() for t in s.tags})
    first, last = queries.time_bounds(snap)
    return Context(
        config=config,
        snap=snap,
        now=datetime.now(UTC).replace(tzinfo=None),
        entities=tuple(names),
        kinds=kinds,
        feed_labels=feed_labels(feeds),
        tags=tuple(tags),
        first=first,
        last=last,
    )


def feed_labels(feeds: dict[str, str]) -> dict[str, str]:
    """Unique, readable labels for feeds: the name, with the host (then URL) when names clash."""
    by_name: dict[str, list[str]] = {}
    for url, name in feeds.items():
        by_name.setdefault(name, []).append(url)
    out: dict[str, str] = {}
    for name, urls in sorted(by_name.items(), key=lambda kv: kv[0].casefold()):
        for url in urls:
            label = name if len(urls) == 1 else f"{name} ({urlsplit(url).hostname or url})"
            out[label if label not in out else f"{name} ({url})"] = url
    return out


# --------------------------------------------------------------------------------------------
# Time ranges


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time())


def preset_range(choice: str, now: datetime) -> tuple[datetime, datetime]:
    """Whole periods ending with the current one: the last 24 hours, or N days with today."""
    if choice == "24h":
        end = floor_hour(now) + timedelta(hours=1)
        return end - timedelta(hours=24), end
    days = int(choice.rstrip("d"))
    end = midnight(now.date() + timedelta(days=1))
    return end - timedelta(days=days), end


def default_granularity(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "day"
    span = end - start
    if span <= timedelta(days=2):
        return "hour"
    return "day" if span <= timedelta(days=92) else "week"


def fmt_time(t: datetime | pd.Timestamp | None, with_time: bool = True) -> str:
    if t is None or pd.isna(t):
        return "—"
    return t.strftime("%-d %b %Y %H:%M" if with_time else "%-d %b %Y")


def md(text: str) -> str:
    """Text for st.markdown, its Markdown punctuation escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])", r"\\\1", text)


def fmt_count(n: int | float) -> str:
    return f"{int(n):,}"


# --------------------------------------------------------------------------------------------
# The link: check query parameters before the widgets are made


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    lowered = {c.casefold(): c for c in choices}
    hit = lowered.get(word.casefold()) or next(
        iter(difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)), None
    )
    return f" (did you mean “{md(hit)}”?)" if hit else ""


def quote_list(values: Sequence[str], choices: Sequence[str] = ()) -> str:
    shown = [f"“{md(v[:60])}”{did_you_mean(v, choices) if choices else ''}" for v in values[:8]]
    more = f" and {len(values) - 8} more" if len(values) > 8 else ""
    return ", ".join(shown) + more


def parse_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def check_link(ctx: Context, params: dict[str, list[str]]) -> list[str]:
    """Notices for what the link asked for and cannot have (Streamlit drops it silently)."""
    notes: list[str] = []

    def one(key: str) -> str | None:
        values = params.get(key) or []
        return values[-1] if values else None

    def unknown_values(key: str, known: Sequence[str]) -> list[str]:
        return [v for v in params.get(key, []) if v and v not in known]

    if (v := one("view")) and v not in VIEWS:
        notes.append(
            f"The link asked for a view “{md(v[:40])}” that does not exist; showing the overview."
        )
    if (params.get("from") or params.get("to")) and one("range") not in (None, "custom"):
        notes.append(
            "The link's dates apply to a custom range only; they were left out for the "
            f"range “{md(str(one('range'))[:40])}”."
        )
    if (v := one("range")) and v not in RANGES:
        notes.append(
            f"The link's range “{md(v[:40])}” is not one of {', '.join(RANGES)}; "
            f"showing the last {RANGE_LABELS[DEFAULT_RANGE]}."
        )
    for key, what in (("from", "start"), ("to", "end")):
        if (v := one(key)) and parse_date(v) is None:
            notes.append(
                f"The link's {what} date “{md(v[:40])}” is not a date (YYYY-MM-DD); "
                "it was left out."
            )
    if bad := unknown_values("e", ctx.entities):
        notes.append(
            f"The link named entities that are not watched: {quote_list(bad, ctx.entities)}; "
            "they were left out."
        )
    if bad := unknown_values("kind", ctx.kind_options):
        notes.append(
            f"The link named kinds no watched entity has: {quote_list(bad)}; they were left out."
        )
    if bad := unknown_values("feed", list(ctx.feed_labels)):
        notes.append(
            f"The link named feeds that are not in this store: "
            f"{quote_list(bad, list(ctx.feed_labels))}; they were left out."
        )
    if bad := unknown_values("tag", ctx.tags):
        notes.append(
            f"The link named tags no feed carries: {quote_list(bad, ctx.tags)}; they were left out."
        )
    if (v := one("by")) and v not in queries.GRANULARITIES:
        notes.append(
            f"The link's granularity “{md(v[:40])}” is not one of "
            f"{', '.join(queries.GRANULARITIES)}; the default was used."
        )
    if (v := one("measure")) and v not in MEASURES:
        notes.append(
            f"The link's measure “{md(v[:40])}” is not mentions or articles; showing mentions."
        )
    if (v := one("norm")) and v.lower() not in ("true", "false"):
        notes.append(f"The link's “norm={md(v[:40])}” is not true or false; showing raw counts.")
    if (v := one("roll")) and ((n := parse_int(v)) is None or not 0 <= n <= 90):
        notes.append(
            f"The link's rolling window “{md(v[:40])}” is not a number of periods from 0 to 90; "
            "it was left out."
        )
    if (v := one("page")) and ((n := parse_int(v)) is None or n < 1):
        notes.append(f"The link's page “{md(v[:40])}” does not exist; showing page 1.")
    if extra := sorted(k for k in params if k not in PARAMS and not k.startswith("embed")):
        notes.append(
            f"The link had parameters this dashboard does not use: {quote_list(extra)}; "
            "they were ignored."
        )
    return notes


def link_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


# --------------------------------------------------------------------------------------------
# The selection: widgets bound to the URL


@dataclass(frozen=True)
class Selection:
    range: str
    start: datetime | None  # naive UTC; None: since the first article
    end: datetime | None  # exclusive; None: up to the last
    chosen: tuple[str, ...]  # entities in effect (chosen by name or by kind); () = all
    feeds: tuple[str, ...]  # feed URLs in effect; () = all
    search: str

    @property
    def filters(self) -> queries.Filters:
        return queries.Filters(
            start=self.start,
            end=self.end,
            entities=self.chosen,
            feeds=self.feeds,
            search=self.search,
        )

    def span(self, ctx: Context) -> tuple[datetime | None, datetime | None]:
        """The range as drawn: the chosen bounds, or the data's own."""
        return self.start or ctx.first, self.end or ctx.last


def on_filter_change() -> None:
    """A filter changed: back to the first page of articles."""
    st.session_state["page"] = 1


def on_range_change() -> None:
    """The range changed: first page, dates pre-filled for a custom range, and the
    granularity reset to the one that suits the new range."""
    st.session_state["page"] = 1
    bounds = st.session_state.get("_bounds")
    if bounds is None:
        return
    first, last, now = bounds
    choice = st.session_state.get("range") or DEFAULT_RANGE
    if choice == "custom":
        d0, d1 = st.session_state.get("from"), st.session_state.get("to")
        if d0 is None and d1 is None:  # pre-fill the dates with the range just left
            prev = st.session_state.get("_last_span")
            if prev:
                st.session_state["from"], st.session_state["to"] = prev
            d0, d1 = st.session_state.get("from"), st.session_state.get("to")
        start = midnight(d0) if d0 else first
        end = midnight(d1) + timedelta(days=1) if d1 else last
    elif choice == "all":
        start, end = first, last
    else:
        start, end = preset_range(choice, now)
    st.session_state["by"] = default_granularity(start, end)


def sidebar(ctx: Context) -> Selection:
    with st.sidebar:
        st.subheader("Filters")
        choice = st.segmented_control(
            "Date range",
            RANGES,
            default=DEFAULT_RANGE,
            required=True,
            key="range",
            bind="query-params",
            on_change=on_range_change,
            help="Relative ranges stay relative in a shared link; custom dates are stored in it.",
        )
        choice = choice or DEFAULT_RANGE
        start: datetime | None
        end: datetime | None
        if choice == "custom":
            c1, c2 = st.columns(2)
            lo = ctx.first.date() if ctx.first else None
            d0 = c1.date_input(
                "From",
                value=None,
                min_value=date(1990, 1, 1),
                max_value=date(2100, 1, 1),
                key="from",
                bind="query-params",
                on_change=on_range_change,
                format="YYYY-MM-DD",
            )
            d1 = c2.date_input(
                "To (included)",
                value=None,
                min_value=date(1990, 1, 1),
                max_value=date(2100, 1, 1),
                key="to",
                bind="query-params",
                on_change=on_range_change,
                format="YYYY-MM-DD",
            )
            if d0 and d1 and d0 > d1:
                st.warning("The start date is after the end date; they were swapped.")
                d0, d1 = d1, d0
            start = midnight(d0) if d0 else (midnight(lo) if lo else None)
            end = midnight(d1) + timedelta(days=1) if d1 else None
        elif choice == "all":
            start = end = None
        else:
            start, end = preset_range(choice, ctx.now)
        st.session_state["_last_span"] = (
            (start or ctx.first or ctx.now).date(),
            ((end or ctx.last or ctx.now) - timedelta(microseconds=1)).date(),
        )
        st.caption(range_caption(ctx, choice, start, end))

        chosen = st.multiselect(
            "Entities",
            list(ctx.entities),
            key="e",
            bind="query-params",
            on_change=on_filter_change,
            placeholder="All watched entities",
        )
        kinds = st.multiselect(
            "…or every entity of a kind",
            ctx.kind_options,
            key="kind",
            bind="query-params",
            on_change=on_filter_change,
            placeholder="Any kind",
        )
        effective = [e for e in ctx.entities if e in chosen or ctx.kinds.get(e) in kinds]
        feeds = st.multiselect(
            "Feeds",
            list(ctx.feed_labels),
            key="feed",
            bind="query-params",
            on_change=on_filter_change,
            placeholder="All feeds",
        )
        tags = st.multiselect(
            "…or every feed with a tag",
            list(ctx.tags),
            key="tag",
            bind="query-params",
            on_change=on_filter_change,
            placeholder="Any tag",
            disabled=not ctx.tags,
        )
        feed_urls = {ctx.feed_labels[label] for label in feeds if label in ctx.feed_labels}
        feed_urls |= set(queries.feeds_for_tags(ctx.snap, tags))
        search = st.text_input(
            "Search in the articles",
            key="q",
            bind="query-params",
            on_change=on_filter_change,
            placeholder="words in the title or text",
            max_chars=200,
        )
        st.caption(
            "Entities, kinds, feeds and tags add up: chosen by name, plus all of a kind or tag."
        )
    return Selection(
        range=choice,
        start=start,
        end=end,
        chosen=tuple(effective),
        feeds=tuple(sorted(feed_urls)),
        search=(search or "").strip(),
    )


def range_caption(ctx: Context, choice: str, start: datetime | None, end: datetime | None) -> str:
    s, e = start or ctx.first, end or ctx.last
    if s is None or e is None:
        return "No articles yet."
    hourly = choice == "24h"
    last = e - timedelta(hours=1 if hourly else 0, microseconds=0 if hourly else 1)
    return f"{fmt_time(s, hourly)} – {fmt_time(last, hourly)} UTC"


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


def cli_command(sel: Selection, command: str) -> str:
    parts = ["monitor", command]
    if sel.start is not None:
        parts += ["--since", cli_time(sel.start, sel.range == "24h")]
    if sel.end is not None:
        if sel.range == "24h":
            parts += ["--until", cli_time(sel.end, True)]
        else:
            parts += ["--until", (sel.end - timedelta(days=1)).date().isoformat()]
    for e in sel.chosen:
        parts += ["--entity", shlex.quote(e)]
    for url in sel.feeds:
        parts += ["--feed", shlex.quote(url)]
    if sel.search:
        parts += ["--search", shlex.quote(sel.search)]
    return " ".join(parts)


def cli_time(t: datetime, hourly: bool) -> str:
    return t.strftime("%Y-%m-%dT%H:%M") if hourly else t.date().isoformat()


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
# Small shared pieces


def go_to_articles(**state: Any) -> None:
    """Callback: open the Articles view, first page, with some filters changed."""
    for key, value in state.items():
        st.session_state[key] = value
    st.session_state["page"] = 1
    st.session_state["view"] = "articles"


def articles_button(label: str, key: str, **state: Any) -> None:
    st.button(
        label,
        key=key,
        on_click=go_to_articles,
        kwargs=state,
        icon=":material/article:",
        type="secondary",
    )


def csv_button(
    df: pd.DataFrame | Callable[[], str], name: str, key: str, label: str = "CSV"
) -> None:
    data = df if callable(df) else df.to_csv(index=False)
    st.download_button(
        f"Download {label}",
        data=data,
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def empty_state(text: str) -> None:
    st.info(text, icon="🔎")


def top_entities(ctx: Context, sel: Selection, n: int = TOP_DEFAULT) -> tuple[list[str], bool]:
    """The chosen entities, or the n most mentioned in the range (and True)."""
    if sel.chosen:
        return list(sel.chosen), False
    counts = q("mention_counts", ctx.snap, sel.filters, "none")
    return counts["entity"].head(n).tolist(), True


def style_figure(fig: go.Figure, height: int = 420, legend: bool = True) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="x unified",
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": None},
        hoverlabel={"namelength": -1},
    )
    return fig


def chart(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, theme="streamlit")


def chart_controls(
    ctx: Context, sel: Selection, with_norm: bool = True
) -> tuple[str, str, bool, int]:
    """Granularity, measure, normalization and rolling window (kept while other views show)."""
    start, end = sel.span(ctx)
    default_by = default_granularity(start, end)
    cols = st.columns([1.2, 1.6, 1.3, 1.2]) if with_norm else st.columns([1.2, 1.6, 1.2, 1.3])
    by = cols[0].selectbox(
        "Granularity",
        queries.GRANULARITIES,
        index=queries.GRANULARITIES.index(default_by),
        key="by",
        bind="query-params",
        persist_state="session",
    )
    norm_on = with_norm and bool(
        st.session_state.get("norm", st.query_params.get("norm") == "true")
    )
    measure = cols[1].segmented_control(
        "Count",
        MEASURES,
        default="mentions",
        required=True,
        key="measure",
        bind="query-params",
        persist_state="session",
        disabled=norm_on,
        help="Normalized always counts articles: the share of all articles that mention it."
        if norm_on
        else "Mentions: every occurrence of a name. Articles: articles with at least one.",
    )
    norm = False
    if with_norm:
        with cols[2]:
            st.write("")  # align with the labelled widgets
            norm = st.toggle(
                "Normalized",
                key="norm",
                bind="query-params",
                persist_state="session",
                help="Share of all articles stored in the period that mention the entity.",
            )
    roll = cols[-1 if with_norm else 2].number_input(
        "Rolling average",
        min_value=0,
        max_value=90,
        value=0,
        step=1,
        key="roll",
        bind="query-params",
        persist_state="session",
        help="Average over this many periods (0: off).",
    )
    return by or default_by, measure or "mentions", bool(norm), int(roll or 0)


def safe_granularity(by: str, start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """`by`, coarsened when it would draw more than MAX_PERIODS points; and a note."""
    if start is None or end is None:
        return by, ""
    order = list(queries.GRANULARITIES)
    chosen = by
    while len(queries.periods(start, end, by)) > MAX_PERIODS and by != order[-1]:
        by = order[order.index(by) + 1]
    note = (
        f"{chosen.title()} by {chosen} is too many points for this range; shown by {by}."
        if by != chosen
        else ""
    )
    return by, note


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


# --------------------------------------------------------------------------------------------
# Views


def view_overview(ctx: Context, sel: Selection) -> None:
    f = sel.filters
    start, end = sel.span(ctx)
    trend_by = "hour" if sel.range == "24h" else default_granularity(start, end)
    df = q("overview", ctx.snap, f, trend_by)
    total = q("count_articles", ctx.snap, replace(f, entities=()))
    st.subheader("Overview")
    prev_text = ""
    if start and end:
        before = start - (end - start)
        last = start - timedelta(microseconds=1)
        prev_text = (
            f" Change: against the previous {fmt_span(end - start)} "
            f"({fmt_time(before, False)} – {fmt_time(last, False)})."
        )
    st.caption(
        f"{fmt_count(total)} articles in the range. Click a row to open the entity's timeline; "
        f"click a column header to sort.{prev_text}"
    )
    if df.empty or int(df["mentions"].sum()) == 0:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        if df.empty:
            return
    table = pd.DataFrame(
        {
            "Entity": df["entity"],
            "Kind": df["kind"],
            "Mentions": df["mentions"],
            "Articles": df["articles"],
            "Share of articles": df["articles"] / total if total else 0.0,
            "Change": df["change"] * 100,
            "Previous": df["prev_mentions"],
            "Trend": df["trend"],
        }
    )
    n = st.session_state.get("_ov_n", 0)
    max_share = float(table["Share of articles"].max() or 0) or 1.0
    st.dataframe(
        table,
        hide_index=True,
        key=f"ov_table_{n}",
        on_select=functools.partial(open_timeline, df["entity"].tolist(), f"ov_table_{n}"),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "Entity": st.column_config.TextColumn(width="medium", pinned=True),
            "Kind": st.column_config.TextColumn(),
            "Mentions": st.column_config.NumberColumn(format="localized"),
            "Articles": st.column_config.NumberColumn(
                format="localized", help="Articles with at least one mention"
            ),
            "Share of articles": st.column_config.ProgressColumn(
                format="percent",
                min_value=0.0,
                max_value=max_share,
                help="Articles mentioning the entity / all articles in the range (same feeds)",
            ),
            "Change": st.column_config.NumberColumn(
                format="%+.0f%%", help="Mentions against the previous range of the same length"
            ),
            "Previous": st.column_config.NumberColumn(
                "Previous range", format="localized", help="Mentions in the previous range"
            ),
            "Trend": st.column_config.LineChartColumn(
                f"Articles per {trend_by}", y_min=0, width="medium"
            ),
        },
    )
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "ov_articles")
    with c2:
        out = df.drop(columns=["trend"]).assign(
            trend=df["trend"].map(lambda t: " ".join(map(str, t)))
        )
        csv_button(out, "overview", "ov_csv")


def fmt_span(span: timedelta) -> str:
    if span <= timedelta(days=1):
        return f"{int(span.total_seconds() // 3600)} hours"
    return f"{span.days} days"


def open_timeline(entities: list[str], key: str) -> None:
    state = st.session_state.get(key)
    rows = state.selection.rows if state is not None else []
    if not rows:
        return
    st.session_state["e"] = [entities[rows[0]]]
    st.session_state["kind"] = []
    st.session_state["view"] = "timeline"
    st.session_state["page"] = 1
    st.session_state["_ov_n"] = st.session_state.get("_ov_n", 0) + 1  # a fresh, unselected table


def view_timeline(ctx: Context, sel: Selection) -> None:
    st.subheader("Timeline")
    by, measure, norm, roll = chart_controls(ctx, sel)
    entities, top = top_entities(ctx, sel)
    if not entities:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    start, end = sel.span(ctx)
    by, note = safe_granularity(by, start, end)
    f = replace(sel.filters, entities=tuple(entities))
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
    if start and ctx.first and start < ctx.first - timedelta(hours=1):
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


def view_compare(ctx: Context, sel: Selection) -> None:
    st.subheader("Compare: share of voice")
    by, measure, _, roll = chart_controls(ctx, sel, with_norm=False)
    entities, top = top_entities(ctx, sel)
    if len(entities) < 2 and not top:
        st.caption("Choose two or more entities in the sidebar to compare them.")
    if not entities:
        empty_state("No mentions in this range. Try a longer range, or fewer filters.")
        return
    start, end = sel.span(ctx)
    by, note = safe_granularity(by, start, end)
    f = replace(sel.filters, entities=tuple(entities))
    df = q("timeline", ctx.snap, f, by)
    totals = q("mention_counts", ctx.snap, f, "none").set_index("entity")
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
    left, right = st.columns([2.2, 1])
    fig = go.Figure()
    for entity in entities:
        fig.add_trace(
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
        )
    fig.update_yaxes(
        tickformat=".0%", range=[0, 1], title=f"Share of the chosen entities' {measure}"
    )
    with left:
        chart(style_figure(fig, height=430), "compare_area")
        if roll > 1:
            st.caption(f"Shares of {roll}-period sums.")
    values = [int(totals[measure].get(e, 0)) for e in entities]
    donut = go.Figure(
        go.Pie(
            labels=entities,
            values=values,
            hole=0.55,
            sort=False,
            marker={"colors": [ctx.color(e) for e in entities]},
            textinfo="percent",
            hovertemplate="%{label}: %{value:,} " + measure + " (%{percent})<extra></extra>",
        )
    )
    donut.update_layout(
        height=430,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.05},
        annotations=[
            {"text": f"{sum(values):,}<br>{measure}", "showarrow": False, "font": {"size": 16}}
        ],
    )
    with right:
        chart(donut, "compare_donut")
    table = pd.DataFrame({"entity": entities, measure: values})
    table["share"] = table[measure] / max(sum(values), 1)
    c1, c2, _ = st.columns([1, 1, 3])
    with c1:
        articles_button("Open the articles", "cmp_articles", e=list(entities))
    with c2:
        csv_button(df, f"compare-{by}", "cmp_csv")


def view_co_mentions(ctx: Context, sel: Selection) -> None:
    st.subheader("Co-mentions")
    f = sel.filters
    if sel.chosen:
        entities = list(sel.chosen)
    else:
        counts = q("mention_counts", ctx.snap, f, "none")
        entities = counts["entity"].head(20).tolist()
    f = replace(f, entities=tuple(entities))
    pairs = q("co_mentions", ctx.snap, f)
    st.caption(
        "Articles that mention both entities of a pair, in the range."
        + (
            ""
            if sel.chosen
            else " The 20 most mentioned entities; choose entities in the sidebar for others."
        )
    )
    if pairs.empty:
        empty_state("No article mentions two of these entities in this range.")
        return
    names = [e for e in entities if e in set(pairs["entity_a"]) | set(pairs["entity_b"])]
    matrix = pd.DataFrame(0, index=names, columns=names, dtype="int64")
    for a, b, n in pairs[["entity_a", "entity_b", "articles"]].itertuples(index=False):
        if a in matrix.index and b in matrix.index:
            matrix.loc[a, b] = matrix.loc[b, a] = n
    z = matrix.to_numpy().astype(float)
    for i in range(len(names)):
        z[i, i] = math.nan
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            colorscale="Blues",
            texttemplate="%{z:,}",
            hovertemplate="%{y} & %{x}: %{z:,} articles<extra></extra>",
            colorbar={"title": "articles"},
            hoverongaps=False,
            xgap=2,
            ygap=2,
        )
    )
    size = max(360, min(40 * len(names) + 160, 760))
    fig.update_layout(height=size, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    fig.update_yaxes(autorange="reversed")
    left, right = st.columns([1.4, 1])
    with left:
        chart(fig, "co_heatmap")
    top = pairs.head(200).rename(
        columns={"entity_a": "Entity", "entity_b": "With", "articles": "Articles"}
    )
    with right:
        st.markdown("**Top pairs** — pick one to see its articles")
        st.dataframe(
            top,
            hide_index=True,
            key="co_pairs",
            on_select="rerun",
            selection_mode="single-row",
            height=min(38 + 35 * len(top), size - 40),
            column_config={"Articles": st.column_config.NumberColumn(format="localized")},
        )
        csv_button(pairs, "co-mentions", "co_csv")
    picked = st.session_state.get("co_pairs")
    rows = picked.selection.rows if picked is not None else []
    if rows and rows[0] < len(top):
        a, b, n = top.iloc[rows[0]][["Entity", "With", "Articles"]]
        show_pair(ctx, sel, str(a), str(b), int(n))


def show_pair(ctx: Context, sel: Selection, a: str, b: str, n: int) -> None:
    st.markdown(f"#### {md(a)} & {md(b)}: {n:,} article{'s' if n != 1 else ''}")
    both = replace(sel.filters, entities=(a, b), together=True)
    rows = q("articles", ctx.snap, both, limit=PAGE_SIZE)
    if len(rows) < n:
        st.caption(f"The newest {len(rows)} of {n:,}.")
    render_articles(ctx, rows, (a, b), sel.search)


def view_sources(ctx: Context, sel: Selection) -> None:
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
    state = st.session_state.get("src_table")
    rows = state.selection.rows if state is not None else []
    if rows and rows[0] < len(labels):
        go_to_articles(feed=[labels[rows[0]]], tag=[], e=[entities[rows[0]]], kind=[])


def view_articles(ctx: Context, sel: Selection) -> None:
    st.subheader("Articles")
    f = sel.filters
    total = q("count_articles", ctx.snap, f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    what = " mentioning " + ", ".join(sel.chosen) if sel.chosen else ""
    if total == 0:
        st.caption(f"Articles{md(what)}, newest first.")
        empty_state("No articles match these filters in this range.")
        page_widget(pages)
        return
    c1, c2, c3 = st.columns([1.2, 3, 1.2], vertical_alignment="bottom")
    with c1:
        page = page_widget(pages)
    if page > pages:
        st.info(f"There are only {pages:,} pages; showing the last.", icon="ℹ️")
        page = pages
    with c2:
        first = (page - 1) * PAGE_SIZE
        st.markdown(
            f"**{fmt_count(total)}** article{'s' if total != 1 else ''}{md(what)}, newest first · "
            f"{first + 1:,}–{min(first + PAGE_SIZE, total):,} · page {page:,} of {pages:,}"
        )
    with c3:
        csv_button(
            functools.partial(articles_csv, ctx.snap, f, total), "articles", "art_csv", "all as CSV"
        )
    df = q("articles", ctx.snap, f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    render_articles(ctx, df, sel.chosen, sel.search)
    nav = st.columns([1, 1, 6])
    nav[0].button(
        "Previous",
        key="art_prev",
        on_click=set_page,
        args=(page - 1,),
        disabled=page <= 1,
        icon=":material/chevron_left:",
    )
    nav[1].button(
        "Next",
        key="art_next",
        on_click=set_page,
        args=(page + 1,),
        disabled=page >= pages,
        icon=":material/chevron_right:",
    )
    st.caption(f"Same list in a terminal: `{cli_command(sel, 'articles')}`.")


def page_widget(pages: int) -> int:
    value = st.number_input(
        f"Page (of {pages:,})", min_value=1, value=1, step=1, key="page", bind="query-params"
    )
    return int(value or 1)


def set_page(page: int) -> None:
    st.session_state["page"] = max(1, page)


def articles_csv(snap: Snapshot, f: queries.Filters, total: int) -> str:
    df = queries.articles(snap, f, limit=min(total, MAX_CSV_ARTICLES))
    out = pd.DataFrame(
        {
            "published": pd.to_datetime(df["published"]).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "feed": df["feed_name"],
            "title": df["title"],
            "url": df["url"],
            "author": df["author"],
            "mentions": df["mentions"],
            "entities": df["entities"].map("; ".join),
            "date_flag": df["date_flag"],
        }
    )
    return out.to_csv(index=False)


def view_feeds(ctx: Context, sel: Selection) -> None:
    st.subheader("Feeds")
    minute = ctx.now.replace(second=0, microsecond=0).isoformat()
    df = cached_health(snap_id(ctx.snap), minute, ctx.snap)
    if df.empty:
        empty_state("No feed has been polled yet.")
        return
    status = df["status"].astype(str)
    ok = status.isin(["ok", "unchanged"]).sum()
    failing = status.str.startswith("failed").sum()
    gone = (status == "gone").sum()
    moved = (df["moved_to"] != "").sum()
    m = st.columns(4)
    m[0].metric("Feeds", f"{len(df):,}")
    m[1].metric("Last poll fine", f"{ok:,}")
    m[2].metric("Failing", f"{failing:,}")
    m[3].metric("Gone or moved", f"{gone + moved:,}")
    if moved:
        st.warning(
            f"{moved} feed{'s' if moved != 1 else ''} moved permanently: update "
            f"{'their' if moved != 1 else 'its'} url in feeds.yaml (see “Moved to”).",
            icon=":material/moved_location:",
        )
    if gone:
        st.warning(
            f"{gone} feed{' is' if gone == 1 else 's are'} gone (HTTP 410) and no longer polled.",
            icon=":material/block:",
        )
    table = df.assign(
        tags=df["tags"].map(", ".join),
        url=df["url"].where(df["url"].map(is_http_url), None),
    )
    problems = table["status"].astype(str).str.startswith(("failed", "gone")) | (
        table["moved_to"] != ""
    )
    table = pd.concat([table[problems], table[~problems]])
    st.dataframe(
        table[
            [
                "name",
                "status",
                "http_status",
                "last_poll",
                "last_success",
                "per_day",
                "articles",
                "last_new",
                "failures",
                "error",
                "moved_to",
                "tags",
                "url",
                "next_poll",
            ]
        ],
        hide_index=True,
        height=min(38 + 35 * len(table), 640),
        placeholder="—",
        column_config={
            "name": st.column_config.TextColumn("Feed", pinned=True),
            "status": "Last result",
            "http_status": st.column_config.NumberColumn("HTTP", format="%d"),
            "last_poll": st.column_config.DatetimeColumn("Last poll (UTC)", format="D MMM HH:mm"),
            "last_success": st.column_config.DatetimeColumn("Last success", format="D MMM HH:mm"),
            "per_day": st.column_config.NumberColumn("Articles/day (7 d)", format="%.1f"),
            "articles": st.column_config.NumberColumn("Articles (all time)", format="localized"),
            "last_new": st.column_config.NumberColumn("New last poll", format="localized"),
            "failures": st.column_config.NumberColumn("Failures in a row"),
            "error": "Last error",
            "moved_to": "Moved to",
            "tags": "Tags",
            "url": st.column_config.LinkColumn("URL"),
            "next_poll": st.column_config.DatetimeColumn("Next poll", format="D MMM HH:mm"),
        },
    )
    csv_button(df.assign(tags=df["tags"].map(", ".join)), "feeds", "feeds_csv")
    start, end = sel.span(ctx)
    by = "hour" if sel.range == "24h" else "day"
    ing = q("ingestion", ctx.snap, queries.Filters(start=start, end=end, feeds=sel.feeds), by)
    if not ing.empty:
        st.markdown(f"**Polling per {by}** — feeds polled, and those whose every poll failed")
        fig = go.Figure()
        fig.add_trace(
            go.Bar(
                x=ing["period"],
                y=ing["polled"] - ing["failed"],
                name="polled fine",
                marker={"color": "#54A24B"},
            )
        )
        fig.add_trace(
            go.Bar(x=ing["period"], y=ing["failed"], name="failed", marker={"color": "#E45756"})
        )
        fig.update_layout(barmode="stack")
        fig.update_yaxes(title="feeds", tickformat=",")
        chart(style_figure(fig, height=260), "feeds_polling")


VIEW_FUNCS: dict[str, Callable[[Context, Selection], None]] = {
    "overview": view_overview,
    "timeline": view_timeline,
    "compare": view_compare,
    "co-mentions": view_co_mentions,
    "sources": view_sources,
    "articles": view_articles,
    "feeds": view_feeds,
}


# --------------------------------------------------------------------------------------------
# Article cards: feed text escaped, matches highlighted, only http(s) links


CARD_CSS = """
<style>
.mm-list { font-family: inherit; }
.mm-card { padding: 0.55rem 0.2rem 0.7rem; border-bottom: 1px solid rgba(49, 51, 63, 0.12); }
.mm-meta { color: rgba(49, 51, 63, 0.65); font-size: 0.82rem; margin-bottom: 0.1rem; }
.mm-title { font-size: 1.02rem; font-weight: 600; color: rgb(49, 51, 63); }
.mm-title a { color: #1c5d99; text-decoration: none; }
.mm-title a:hover { text-decoration: underline; }
.mm-snippet { font-size: 0.9rem; color: rgba(49, 51, 63, 0.9); margin-top: 0.15rem; }
.mm-chip { display: inline-block; font-size: 0.72rem; padding: 0 0.45rem; margin-right: 0.25rem;
  border-radius: 0.6rem; color: white; line-height: 1.35rem; }
.mm-flag { color: #b35c00; }
mark.mm-hit { background: #fde68a; padding: 0 0.1em; border-radius: 0.15em; }
mark.mm-q { background: #bfdbfe; padding: 0 0.1em; border-radius: 0.15em; }
</style>
"""


def highlight(text: str, spans: list[tuple[int, int, str]]) -> str:
    """HTML of `text` with the spans marked; every piece of text escaped."""
    out, pos = [], 0
    for start, end, cls in sorted(spans):
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark class="{cls}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def prepared(text: Any) -> str:
    """Text as the matcher sees it (NFC, white space collapsed), so its positions fit."""
    return collapse_ws(unicodedata.normalize("NFC", str(text or "")))


def find_spans(
    matcher: Matcher, text: str, search: str, focus: Sequence[str] = ()
) -> tuple[list[tuple[int, int, str]], int | None]:
    """Spans to mark (mentions, then search words) and where the first focused mention is."""
    matches = matcher.find(text)
    spans = [(m.start, m.end, "mm-hit") for m in matches]
    for word in search.split():
        for hit in re.finditer(re.escape(word), text, re.IGNORECASE):
            spans.append((hit.start(), hit.end(), "mm-q"))
    at = next((m.start for m in matches if m.entity in focus), None)
    return spans, at


def snippet(
    text: str, spans: list[tuple[int, int, str]], at: int | None = None, width: int = 260
) -> tuple[str, list[tuple[int, int, str]]]:
    """A window of `text` around `at` (else its first marked span), and the spans in it."""
    if len(text) <= width:
        return text, spans
    first = at if at is not None else min((s for s, _, _ in spans), default=0)
    lo = max(0, first - width // 3)
    if lo:
        cut = text.rfind(" ", 0, lo)
        lo = cut + 1 if cut >= 0 and lo - cut < 30 else lo
    hi = min(len(text), lo + width)
    if hi < len(text):
        cut = text.rfind(" ", lo, hi)
        hi = cut if cut > lo + width // 2 else hi
    moved = [(s - lo, e - lo, c) for s, e, c in spans if s >= lo and e <= hi]
    prefix = "…" if lo else ""
    suffix = "…" if hi < len(text) else ""
    shift = len(prefix)
    return prefix + text[lo:hi] + suffix, [(s + shift, e + shift, c) for s, e, c in moved]


def article_html(
    ctx: Context, matcher: Matcher, row: dict[str, Any], focus: Sequence[str], search: str
) -> str:
    title = prepared(row.get("title")) or "(no title)"
    title_html = highlight(title, find_spans(matcher, title, search)[0])
    url = str(row.get("url") or "")
    if is_http_url(url):
        href = html.escape(url, quote=True)
        title_html = (
            f'<a href="{href}" target="_blank" rel="noopener noreferrer nofollow">{title_html}</a>'
        )
    text = prepared(row.get("text"))
    snip, spans = snippet(text, *find_spans(matcher, text, search, focus))
    published = pd.Timestamp(row["published"])
    meta = [
        f"{published:%-d %b %Y %H:%M} UTC",
        html.escape(str(row.get("feed_name") or row.get("feed") or "")),
    ]
    if row.get("author"):
        meta.append(html.escape(prepared(row["author"])[:80]))
    if row.get("date_flag"):
        meta.append(
            f'<span class="mm-flag">date {html.escape(str(row["date_flag"]))}: '
            "time first seen</span>"
        )
    chips = "".join(
        f'<span class="mm-chip" style="background:{ctx.color(e)}">{html.escape(e)}</span>'
        for e in row.get("entities") or []
    )
    return (
        '<div class="mm-card">'
        f'<div class="mm-meta">{" · ".join(meta)}</div>'
        f'<div class="mm-title">{title_html}</div>'
        f'<div class="mm-snippet">{highlight(snip, spans)}</div>'
        f"<div>{chips}</div>"
        "</div>"
    )


def render_articles(ctx: Context, df: pd.DataFrame, entities: Sequence[str], search: str) -> None:
    if df.empty:
        empty_state("No articles match these filters in this range.")
        return
    matcher = get_matcher(repr(ctx.config.watch), ctx.config)
    cards = "".join(
        article_html(ctx, matcher, row, entities, search) for row in df.to_dict("records")
    )
    st.html(f'{CARD_CSS}<div class="mm-list">{cards}</div>')


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
        current = snap_id(get_store(root).snapshot())
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
        watch_for_new_data(str(config.store), snap_id(snap))
        return
    ctx = make_context(config, snap)
    if "_notices" not in st.session_state:  # the session's first run: the link as opened
        params = link_params()
        st.session_state["_notices"] = check_link(ctx, params)
        if "range" not in params and ("from" in params or "to" in params):
            st.session_state["range"] = "custom"  # dates alone mean a custom range
    st.session_state["_bounds"] = (ctx.first, ctx.last, ctx.now)
    sel = sidebar(ctx)
    header(ctx, sel)
    show_notices()
    tabs = st.tabs(list(VIEWS), key="view", bind="query-params")
    for tab, name in zip(tabs, VIEWS, strict=True):
        if tab.open:
            with tab:
                VIEW_FUNCS[name](ctx, sel)
    watch_for_new_data(str(config.store), snap_id(snap))


main()
