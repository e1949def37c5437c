"""The view in the URL: the link's parameters checked, the filters, the `Selection`, jumps.

Everything the user chooses is a widget bound to a query parameter (short keys: view, range,
from, to, e, kind, feed, tag, q, by, measure, norm, roll, page, scope), so a link reproduces a
view. A link's parameters are checked before the widgets are made: what Streamlit would
silently drop is named in a notice, and a custom range missing a date gets one. Numbers from
the URL go through float widgets, which Streamlit bounds (an int widget raises OverflowError on
`inf`); date arithmetic goes through `queries.shift`, which never overflows. Pages read the
`Selection`; they change the view only through `jump` (one step in the browser's history).

What it leaves to others: drawing (widgets.py, the pages), the data (data.py).
"""

from __future__ import annotations

import difflib
import math
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from monitor import queries
from monitor.queries import shift

from .data import Context, q
from .widgets import fmt_time, md

VIEWS = (
    "overview", "timeline", "compare", "co-mentions", "sources", "articles", "discover",
    "alerts", "feeds",
)  # fmt: skip
RANGES = ("24h", "7d", "30d", "90d", "all", "custom")
RANGE_LABELS = {"24h": "24 h", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
DEFAULT_RANGE = "30d"
MEASURES = ("mentions", "articles", "stories", "tone")
MEASURE_HELP = (
    "Mentions: every occurrence of a name. Articles: articles with at least one. Stories: "
    "those articles with syndicated copies counted once. Tone: the mean tone of the "
    "sentences naming it, -1 to +1 (a word list's reading, not a stance)."
)
# Articles page, nothing chosen: those mentioning a watched entity, or all (the URL holds the label)
SCOPES = ("mentioning a watched entity", "all articles")
MAX_PERIODS = 2_400  # points per series of any chart; beyond, coarser (and the user told)
MAX_LINE_POINTS = 500  # points per line: more is a thicket at dashboard widths
TOP_DEFAULT = 6  # entities drawn when none are chosen
MAX_PAGE = 1e9  # a page number beyond this in a link is not a page
MAX_ROLL = 90
DATE_MIN, DATE_MAX = date(1990, 1, 1), date(2100, 12, 31)  # the date boxes' bounds (widened
# to the data's own first and last day)
PARAMS = {
    "view", "range", "from", "to", "e", "kind", "feed", "tag", "q",
    "by", "measure", "norm", "roll", "page", "scope", "name", "rows",
    "polling",
}  # fmt: skip
MULTI_PARAMS = {"e", "kind", "feed", "tag"}  # a link may repeat these; the others hold one value
SINGLE_PARAMS = PARAMS - MULTI_PARAMS


# --------------------------------------------------------------------------------------------
# Time ranges


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time())


def day_end(d: date) -> datetime:
    """The end (exclusive) of day `d`."""
    return shift(midnight(d), timedelta(days=1))


def last_day(end: datetime) -> date:
    """The last day a range ending (exclusive) at `end` includes."""
    return shift(end, -timedelta(microseconds=1)).date()


def preset_range(choice: str, now: datetime) -> tuple[datetime, datetime]:
    """Whole periods ending with the current one: the last 24 hours, or N days with today."""
    if choice == "24h":
        end = floor_hour(now) + timedelta(hours=1)
        return end - timedelta(hours=24), end
    days = int(choice.rstrip("d"))
    end = midnight(now.date() + timedelta(days=1))
    return end - timedelta(days=days), end


def date_bounds(ctx: Context) -> tuple[date, date]:
    """What the date boxes accept: DATE_MIN..DATE_MAX, widened to the data's own days."""
    lo = min(DATE_MIN, ctx.first.date()) if ctx.first else DATE_MIN
    hi = max(DATE_MAX, last_day(ctx.last)) if ctx.last else DATE_MAX
    return lo, hi


def default_granularity(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "day"
    span = end - start
    if span <= timedelta(days=2):
        return "hour"
    return "day" if span <= timedelta(days=92) else "week"


@dataclass(frozen=True)
class Fit:
    """A granularity and start that a chart can draw, and what was changed, said plainly."""

    by: str
    start: datetime | None
    note: str = ""


def fit_granularity(
    by: str, start: datetime | None, end: datetime | None, limit: int = MAX_PERIODS
) -> Fit:
    """`by`, coarsened until the range holds at most `limit` periods; if even months are too
    many (a feed dated an item in year 1), the start moves up to the last MAX_PERIODS months."""
    if start is None or end is None:
        return Fit(by, start)
    order = list(queries.GRANULARITIES)
    chosen = by
    while queries.period_count(start, end, by) > limit and by != order[-1]:
        by = order[order.index(by) + 1]
    notes = []
    if by != chosen:
        n = queries.period_count(start, end, chosen) - 2
        notes.append(f"By {chosen}, this range is about {n:,} points: shown by {by}.")
    if queries.period_count(start, end, by) > MAX_PERIODS:
        start = shift(end, -MAX_PERIODS * timedelta(days=28))
        notes.append(
            f"The range starts too long ago to draw by {by}; drawn from "
            f"{fmt_time(start, False)}. Choose custom dates to see earlier ones."
        )
    return Fit(by, start, " ".join(notes))


def range_caption(ctx: Context, choice: str, start: datetime | None, end: datetime | None) -> str:
    s, e = start or ctx.first, end or ctx.last
    if s is None or e is None:
        return "No articles yet."
    hourly = choice == "24h"
    last = shift(e, -timedelta(hours=1) if hourly else -timedelta(microseconds=1))
    return f"{fmt_time(s, hourly)} – {fmt_time(last, hourly)} UTC"


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


def parse_number(value: str, lo: float, hi: float) -> int | None:
    """A whole number from the URL as the float widgets read it (`2`, `2.0`, `1e3`), within
    [lo, hi]; None for anything else (`inf`, `nan`, `1e400`, `many`)."""
    try:
        n = float(value)
    except (ValueError, OverflowError):
        return None
    return int(n) if math.isfinite(n) and lo <= n <= hi else None


def whole(value: Any, default: int) -> int:
    """A float widget's value as a whole number (its default when not finite)."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return default
    return int(n) if math.isfinite(n) else default


def parse_date(value: str, bounds: tuple[date, date] = (date.min, date.max)) -> date | None:
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return d if bounds[0] <= d <= bounds[1] else None


@dataclass
class LinkCheck:
    """What the first run learns from the link: notices, and values to set before the
    widgets are made (a custom range's missing dates)."""

    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


def check_link(ctx: Context, params: dict[str, list[str]]) -> LinkCheck:
    """Notices for what the link asked for and cannot have (Streamlit drops it silently)."""
    out = LinkCheck()
    notes = out.notes

    def one(key: str) -> str | None:
        values = params.get(key) or []
        return values[-1] if values else None

    def unknown_values(key: str, known: Sequence[str]) -> list[str]:
        return [v for v in params.get(key, []) if v and v not in known]

    if (v := one("view")) and v not in VIEWS:
        notes.append(
            f"The link asked for a view “{md(v[:40])}” that does not exist; showing the overview."
        )
    rng = one("range")
    if (params.get("from") or params.get("to")) and rng not in (None, "custom"):
        notes.append(
            "The link's dates apply to a custom range only; they were left out for the "
            f"range “{md(str(rng)[:40])}”."
        )
    if rng and rng not in RANGES:
        notes.append(
            f"The link's range “{md(rng[:40])}” is not one of {', '.join(RANGES)}; "
            f"showing the last {RANGE_LABELS[DEFAULT_RANGE]}."
        )
    if rng is None and (params.get("from") or params.get("to")):
        rng = out.state["range"] = "custom"  # dates alone mean a custom range
    if rng == "custom":
        check_dates(ctx, one("from"), one("to"), out)
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
            f"The link's measure “{md(v[:40])}” is not one of {', '.join(MEASURES)}; "
            "showing mentions."
        )
    if (v := one("norm")) and v.lower() not in ("true", "false"):
        notes.append(f"The link's “norm={md(v[:40])}” is not true or false; showing raw counts.")
    if (v := one("roll")) and parse_number(v, 0, MAX_ROLL) is None:
        notes.append(
            f"The link's rolling window “{md(v[:40])}” is not a number of periods from 0 to "
            f"{MAX_ROLL}; it was left out."
        )
    if (v := one("page")) and parse_number(v, 1, MAX_PAGE) is None:
        notes.append(f"The link's page “{md(v[:40])}” does not exist; showing page 1.")
    if (v := one("scope")) and v not in SCOPES:
        notes.append(
            f"The link's “scope={md(v[:40])}” is not “{SCOPES[1]}”; showing the articles "
            f"{SCOPES[0]}."
        )
    for key in sorted(SINGLE_PARAMS & params.keys()):
        if len(set(params[key])) > 1:  # Streamlit keeps the last one
            notes.append(
                f"The link gives “{key}” more than once; using the last, "
                f"“{md(params[key][-1][:40])}”."
            )
    if extra := sorted(k for k in params if k not in PARAMS and not k.startswith("embed")):
        notes.append(
            f"The link had parameters this dashboard does not use: {quote_list(extra)}; "
            "they were ignored."
        )
    return out


def check_dates(ctx: Context, d0: str | None, d1: str | None, out: LinkCheck) -> None:
    """A custom range from a link: a date that is missing or not a date is filled in (the
    first article's day, or today; both missing: the default range), so the boxes never
    show a half range."""
    bounds = date_bounds(ctx)
    start, end = (parse_date(d, bounds) if d else None for d in (d0, d1))
    for value, what in ((d0, "start"), (d1, "end")):
        if value and parse_date(value, bounds) is None:
            out.notes.append(
                f"The link's {what} date “{md(value[:40])}” is not a date (YYYY-MM-DD) "
                f"between {bounds[0]} and {bounds[1]}; it was left out."
            )
    if start and end:
        return
    if start is None and end is None:
        p0, p1 = preset_range(DEFAULT_RANGE, ctx.now)
        start, end = p0.date(), last_day(p1)
        said = f"the last {RANGE_LABELS[DEFAULT_RANGE]}"
    elif start is None:
        assert end is not None
        start = min(ctx.first.date() if ctx.first else end, end)
        said = f"from the first article's day, {start}"
    else:
        end = max(ctx.now.date(), start)
        said = f"up to today, {end}"
    out.state.update({"from": start, "to": end})
    if d0 or d1:  # say it only when the link gave a date; a bare range=custom is just filled
        out.notes.append(f"The custom range shows {said}.")
    else:
        out.notes.append(f"The link asked for a custom range without dates; showing {said}.")


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
        end = day_end(d1) if d1 else last
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
        start, end = custom_dates(ctx) if choice == "custom" else (None, None)
        if choice not in ("custom", "all"):
            start, end = preset_range(choice, ctx.now)
        st.session_state["_last_span"] = (
            (start or ctx.first or ctx.now).date(),
            last_day(end or ctx.last or ctx.now),
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


def custom_dates(ctx: Context) -> tuple[datetime | None, datetime | None]:
    """The From and To boxes (one above the other: side by side they were too narrow to show
    a whole date), as the range's start and end (exclusive)."""
    lo, hi = date_bounds(ctx)
    d0 = st.date_input(
        "From",
        value=None,
        min_value=lo,
        max_value=hi,
        key="from",
        bind="query-params",
        on_change=on_range_change,
        format="YYYY-MM-DD",
    )
    d1 = st.date_input(
        "To (included)",
        value=None,
        min_value=lo,
        max_value=hi,
        key="to",
        bind="query-params",
        on_change=on_range_change,
        format="YYYY-MM-DD",
    )
    if d0 and d1 and d0 > d1:
        st.warning("The start date is after the end date; they were swapped.")
        d0, d1 = d1, d0
    first = ctx.first.date() if ctx.first else None
    start = midnight(d0) if d0 else (midnight(first) if first else None)
    return start, day_end(d1) if d1 else None


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
    cols = st.columns([2.1, 2.4, 1.1, 1.1])
    by = cols[0].segmented_control(
        "Granularity",
        queries.GRANULARITIES,
        default=default_by,
        required=True,
        key="by",
        bind="query-params",
        persist_state="session",
    )
    measure = cols[1].segmented_control(
        "Measure",
        MEASURES,
        default="mentions",
        required=True,
        key="measure",
        bind="query-params",
        persist_state="session",
        help=MEASURE_HELP,
    )
    measure = measure or "mentions"
    norm = False
    if with_norm:
        with cols[2]:
            st.write("")  # align with the labelled widgets
            norm = st.toggle(
                "Normalized",
                key="norm",
                bind="query-params",
                persist_state="session",
                disabled=measure == "tone",
                help="Tone is a mean score, not a count: there is nothing to normalize."
                if measure == "tone"
                else "The share of all articles stored in the period that mention the entity "
                "(counting stories: the share of all stories).",
            )
    roll = cols[-1 if with_norm else 2].number_input(
        "Rolling average",
        min_value=0.0,  # a float widget: Streamlit drops `inf` from a link instead of failing
        max_value=float(MAX_ROLL),
        value=0.0,
        step=1.0,
        format="%.0f",
        key="roll",
        bind="query-params",
        persist_state="session",
        help="Average over this many periods (0: off).",
    )
    return by or default_by, measure, bool(norm) and measure != "tone", whole(roll, 0)


# --------------------------------------------------------------------------------------------
# Jumps between pages


def selected_rows(key: str) -> list[int]:
    """The rows picked in the st.dataframe with this key (none before the first pick)."""
    state = st.session_state.get(key) or {}
    return list((state.get("selection") or {}).get("rows") or [])


def jump(**values: Any) -> None:
    """Callback: change several widgets at once, as one step in the browser's history.

    Streamlit writes each bound widget to the URL as the widget is drawn, and the browser
    makes a history entry of each write: a jump that sets `e` then `view` left Back on a
    half-changed view (`?e=X`, the overview filtered). So the final query string is written
    first, in one message; each widget then finds its value already there and writes nothing.
    This reaches into Streamlit's query-parameter object (1.67); should that change, the jump
    still happens, with one history entry per changed widget as before.
    """
    for key, value in values.items():
        st.session_state[key] = value
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    try:
        with ctx.session_state.query_params() as qp:
            for key, value in values.items():
                text = url_value(key, value)
                if text is None:
                    qp.discard_param_no_forward_msg(key)
                else:
                    qp._set_item_internal(key, text)
            qp._send_query_param_msg()
    except (AttributeError, TypeError):  # pragma: no cover - Streamlit's internals moved
        pass


def url_value(key: str, value: Any) -> str | list[str] | None:
    """How a widget writes `value` in the URL; None where it leaves its default out."""
    defaults = {"view": VIEWS[0], "range": DEFAULT_RANGE, "page": 1, "scope": SCOPES[0]}
    if key == "by" or value is None or value == defaults.get(key) or value == []:
        return None  # the jumps set `by` only to the new range's default
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def go_to_articles(**state: Any) -> None:
    """Callback: open the Articles view, first page, with some filters changed."""
    jump(**state, page=1, view="articles")


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


def cli_command(
    ctx: Context, sel: Selection, command: str, entities: Sequence[str] | None = None
) -> str:
    """The `monitor` command that prints the numbers of this view, runnable as pasted from any
    folder: the program's own path when `monitor` on the PATH is another one (or none), and
    `-c` with feeds.yaml's absolute path. Feeds by name when the name is unique."""
    parts = [monitor_program(), "-c", shlex.quote(str(ctx.config.path.absolute())), command]
    if sel.start is not None:
        parts += ["--since", cli_time(sel.start, sel.range == "24h")]
    if sel.end is not None:
        if sel.range == "24h":
            parts += ["--until", cli_time(sel.end, True)]
        else:
            parts += ["--until", last_day(sel.end).isoformat()]
    for e in sel.chosen if entities is None else entities:
        parts += ["--entity", shlex.quote(e)]
    names = [f.name.casefold() for f in ctx.config.feeds]
    by_url = {f.key: f.name for f in ctx.config.feeds if names.count(f.name.casefold()) == 1}
    for url in sel.feeds:
        parts += ["--feed", shlex.quote(by_url.get(url, url))]
    if sel.search:
        parts += ["--search", shlex.quote(sel.search)]
    return " ".join(parts)


def monitor_program() -> str:
    """`monitor` when that is the command beside this Python, else that command's path."""
    here = Path(sys.executable).with_name("monitor")
    found = shutil.which("monitor")
    if not here.exists() or (found and Path(found).resolve() == here.resolve()):
        return "monitor"
    return shlex.quote(str(here.absolute()))


def cli_time(t: datetime, hourly: bool) -> str:
    return t.strftime("%Y-%m-%dT%H:%M") if hourly else t.date().isoformat()
