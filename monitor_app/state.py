"""The view in the URL: the link's parameters checked, the filters, the `Selection`, jumps.

Everything the user chooses is a widget bound to a query parameter (short keys: view, range,
from, to, e, kind, feed, tag, q, by, measure, norm, roll, page), so a link reproduces a view.
A link's parameters are checked before the widgets are made, and what Streamlit would silently
drop is named in a notice. Pages read the `Selection`; they change the view only through the
jumps here (`go_to_articles`, `jump`).

What it leaves to others: drawing (widgets.py, the pages), the data (data.py).
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import streamlit as st

from monitor import queries

from .data import Context, q
from .widgets import fmt_time, md

VIEWS = ("overview", "timeline", "compare", "co-mentions", "sources", "articles", "feeds")
RANGES = ("24h", "7d", "30d", "90d", "all", "custom")
RANGE_LABELS = {"24h": "24 h", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
DEFAULT_RANGE = "30d"
MEASURES = ("mentions", "articles")
MAX_PERIODS = 2_400  # per series; a finer granularity is coarsened (and the user told)
TOP_DEFAULT = 6  # entities drawn when none are chosen
PARAMS = {
    "view", "range", "from", "to", "e", "kind", "feed", "tag", "q",
    "by", "measure", "norm", "roll", "page",
}  # fmt: skip


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


def top_entities(ctx: Context, sel: Selection, n: int = TOP_DEFAULT) -> tuple[list[str], bool]:
    """The chosen entities, or the n most mentioned in the range (and True)."""
    if sel.chosen:
        return list(sel.chosen), False
    counts = q("mention_counts", ctx.snap, sel.filters, "none")
    return counts["entity"].head(n).tolist(), True


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


# --------------------------------------------------------------------------------------------
# Jumps between pages


def selected_rows(key: str) -> list[int]:
    """The rows picked in the st.dataframe with this key (none before the first pick)."""
    state = st.session_state.get(key) or {}
    return list((state.get("selection") or {}).get("rows") or [])


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


# --------------------------------------------------------------------------------------------
# The same numbers from a terminal


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
