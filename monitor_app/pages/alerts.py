"""The Alerts page: the alert rules of feeds.yaml and their state, their backtest over the range
drawn on each entity's timeline (a marker where a rule would have fired), what fired (each with
a link to the dashboard's view at that time), and deliveries that failed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor import alerts, queries
from monitor.config import AlertRule, Config, DashboardSettings
from monitor.delivery import delivery_status, outbox, targets
from monitor.queries import shift
from monitor.text import plot_text

from ..data import Context, backtest, q
from ..state import (
    MAX_LINE_POINTS,
    Selection,
    cli_command,
    default_granularity,
    fit_granularity,
)
from ..widgets import PALETTE, chart, csv_button, empty_state, fmt_time, md, style_figure

MAX_CHARTS = 8  # entities drawn with their rules' markers
MAX_DAYS = 400  # the longest range backtested at once (every hour is read)
SYMBOLS = ("diamond", "triangle-up", "square", "star", "circle", "x", "cross", "hexagon")


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Alerts")
    config, snap = ctx.config, ctx.snap
    status = delivery_status(snap, ctx.now)
    if status:
        st.warning(md(status), icon=":material/outgoing_mail:")
    if not config.alerts:
        empty_state(
            "No alert rules: add some under `alerts:` in feeds.yaml (see the README's "
            "feeds.yaml reference), then check them here against the stored history."
        )
    start, end, note = backtest_range(ctx, sel)
    if start >= end:
        if config.alerts:
            rules_table(ctx, [])
        st.caption("The range holds no full hour yet: nothing to replay or list.")
        return
    fired = backtest(snap, config, start, end) if config.alerts else []
    if config.alerts:
        rules_table(ctx, fired)
        backtest_charts(ctx, sel, fired, start, end, note)
    lo, hi = sel.span(ctx)  # what happened: the range as chosen, not clamped to now
    fired_history(ctx, lo or start, hi or end)
    deliveries(ctx, lo or start, hi or end)


def backtest_range(ctx: Context, sel: Selection) -> tuple[datetime, datetime, str]:
    """The range to replay the rules over: the selection, up to now, at most MAX_DAYS."""
    lo, hi = sel.span(ctx)
    now = ctx.now.replace(minute=0, second=0, microsecond=0)
    end = min(hi or now, now)
    start = max(lo or end, alerts.EARLIEST.replace(tzinfo=None))
    note = ""
    if end - start > timedelta(days=MAX_DAYS):
        start = shift(end, -timedelta(days=MAX_DAYS))
        note = (
            f" The range is longer than {MAX_DAYS} days: the backtest covers the last "
            f"{MAX_DAYS}, from {fmt_time(start, False)}."
        )
    return start, end, note


# --------------------------------------------------------------------------------------------
# The rules


def rules_table(ctx: Context, fired: list[alerts.Firing]) -> None:
    config, snap = ctx.config, ctx.snap
    states = alerts.rule_states(snap)
    last = alerts.last_fired(snap)
    in_range = pd.Series([f.alert for f in fired]).value_counts()
    rows = []
    for rule in config.alerts:
        state = states.get(rule.name) or alerts.RuleState()
        to = [t.label for t in targets(config, rule.to, f"alert:{rule.name}")]
        rows.append(
            {
                "Rule": rule.name,
                "When": f"{rule.when}, {duration(rule.window)}",
                "Watches": watches(config, rule),
                "Fires when": condition(rule),
                "Firing now": ", ".join(sorted(state.open)),
                "Last fired": naive(last.get(rule.name)),
                "Backtest": int(in_range.get(rule.name, 0)),
                "To": ", ".join(to) or "nobody (recorded only)",
                "Read up to": naive(state.until),
            }
        )
    st.markdown("**Rules** in feeds.yaml, and what the poller has done with them")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        height=min(38 + 35 * len(rows), 360),
        placeholder="—",
        column_config={
            "Rule": st.column_config.TextColumn(pinned=True, width="medium"),
            "Fires when": st.column_config.TextColumn(width="large"),
            "Firing now": st.column_config.TextColumn(
                help="Episodes open now: each fired once and fires again only after its "
                "condition has stopped holding"
            ),
            "Last fired": st.column_config.DatetimeColumn(
                "Last fired (UTC)", format="D MMM YYYY HH:mm", help="By the poller, live"
            ),
            "Backtest": st.column_config.NumberColumn(
                help="Times it would have fired in the range (see below)"
            ),
            "Read up to": st.column_config.DatetimeColumn(
                format="D MMM HH:mm",
                help="The last full hour the poller has checked it at (it waits until every "
                "feed due within the hour has been polled)",
            ),
        },
    )
    st.caption(
        "The poller checks every rule at each full hour (UTC) once the hour's articles are in, "
        "and sends one message per episode. In a terminal: "
        f"`{cli_command(ctx, replace_sel(), 'alerts')}`"
    )


def replace_sel() -> Selection:
    """A selection with nothing in it, for commands that take no range or filter."""
    return Selection(range="all", start=None, end=None, chosen=(), feeds=(), search="")


def watches(config: Config, rule: AlertRule) -> str:
    if rule.when == "feed-down":
        if not rule.feeds:
            return "every enabled feed"
        names = {f.key: f.name for f in config.feeds}
        return ", ".join(names.get(url, url) for url in rule.feeds)
    return rule.selector or ", ".join(rule.entities)


def condition(rule: AlertRule) -> str:
    w = duration(rule.window)
    if rule.when == "spike":
        return (
            f"mentions in {w} reach {rule.factor:g}x their mean per {w} over the "
            f"{duration(rule.baseline)} before, and at least {rule.min}"
        )
    if rule.when == "above":
        return f"mentions in {w} reach {rule.min}"
    if rule.when == "first":
        where = " in a feed" if rule.scope == "feed" else ""
        return f"an entity is mentioned for the first time{where}"
    if rule.when == "together":
        return f"two of them are mentioned in the same articles {rule.min} times in {w}"
    return f"every poll of a feed has failed for longer than {w}"


def duration(d: timedelta) -> str:
    hours = d / timedelta(hours=1)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} days"
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def naive(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=None) if t is not None and t.tzinfo else t


def naive_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=None) if t.tzinfo else t


# --------------------------------------------------------------------------------------------
# The backtest on each entity's timeline


def backtest_charts(
    ctx: Context,
    sel: Selection,
    fired: list[alerts.Firing],
    start: datetime,
    end: datetime,
    note: str,
) -> None:
    config = ctx.config
    st.markdown("**Backtest** · where each rule would have fired in the range")
    cmd = cli_command(ctx, replace(sel, chosen=(), feeds=(), search=""), "alerts backtest")
    st.caption(
        "Each rule replayed at every full hour of the range with the poller's own code, "
        "starting with no episode open: a marker where it would have fired (once per "
        "episode), on the entity's mentions per period. Over the hours the poller saw, this is "
        "what it fired, unless articles arrived late (a feed that was down, back-dated "
        f"items).{note} In a terminal: `{cmd}`"
    )
    counting = [r for r in config.alerts if r.when != "feed-down"]
    entities = entities_to_draw(ctx, sel, counting, fired)
    if not entities:
        if counting:
            empty_state("None of the rules' entities is among those chosen in the sidebar.")
    else:
        draw_entities(ctx, entities, counting, fired, start, end)
    downs = [f for f in fired if f.kind == "feed-down"]
    if downs:
        feeds = sorted({f.entity for f in downs})
        st.caption(
            f"Feed-down rules would have fired {len(downs)} time{'s' if len(downs) != 1 else ''}"
            f" in the range ({md(', '.join(feeds[:6]))}{' …' if len(feeds) > 6 else ''}); "
            "they watch feeds, not entities, so they are listed below and not drawn."
        )
    rows = [f.public() for f in fired]
    if rows:
        csv_button(pd.DataFrame(rows), "alerts-backtest", "al_bt_csv", "backtest as CSV")


def subject_entities(f: alerts.Firing, known: set[str]) -> list[str]:
    """The watched entities a firing is about (a pair for together, the entity of a first
    mention in a feed)."""
    if f.entities:
        return [e for e in f.entities if e in known]
    parts = f.entity.split(" + ") if f.kind == "together" else [f.entity.split(" · ")[0]]
    return [p for p in parts if p in known]


def entities_to_draw(
    ctx: Context, sel: Selection, rules: list[AlertRule], fired: list[alerts.Firing]
) -> list[str]:
    """The rules' entities (those chosen in the sidebar, if any), those that fired most
    first, at most MAX_CHARTS."""
    known = {e for r in rules for e in r.entities}
    if sel.chosen:
        known &= set(sel.chosen)
    counts: dict[str, int] = {e: 0 for e in known}
    for f in fired:
        for e in subject_entities(f, known):
            counts[e] += 1
    order = {e: i for i, e in enumerate(ctx.entities)}
    ranked = sorted(counts, key=lambda e: (-counts[e], order.get(e, len(order)), e))
    if len(ranked) > MAX_CHARTS:
        st.caption(
            f"The {MAX_CHARTS} entities of the rules that fired most, of {len(ranked)}; "
            "choose entities in the sidebar for others."
        )
    return ranked[:MAX_CHARTS]


def draw_entities(
    ctx: Context,
    entities: list[str],
    rules: list[AlertRule],
    fired: list[alerts.Firing],
    start: datetime,
    end: datetime,
) -> None:
    fit = fit_granularity(default_granularity(start, end), start, end, MAX_LINE_POINTS)
    f = queries.Filters(start=fit.start or start, end=end, entities=tuple(entities))
    df = q("timeline", ctx.snap, f, fit.by)
    if fit.note:
        st.caption(fit.note)
    style = {
        r.name: (PALETTE[(i + 4) % len(PALETTE)], SYMBOLS[i % len(SYMBOLS)])
        for i, r in enumerate(rules)
    }
    cols = st.columns(2)
    for i, entity in enumerate(entities):
        part = df[df["entity"] == entity].sort_values("period")
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=part["period"].tolist(),
                y=part["mentions"].tolist(),
                name="mentions",
                mode="lines",
                line={"color": ctx.color(entity), "width": 2, "shape": "hv"},
                hovertemplate=f"%{{y:,}} mentions in the {fit.by}<extra></extra>",
                showlegend=False,
            )
        )
        for rule in rules:
            mine = [x for x in fired if x.alert == rule.name and subject_entities(x, {entity})]
            if mine:
                add_markers(fig, part, fit.by, rule, mine, style[rule.name])
        fig.update_yaxes(title=None, rangemode="tozero", tickformat=",")
        fig.update_xaxes(range=[fit.start or start, end])
        style_figure(fig, height=250)
        fig.update_layout(
            title={"text": plot_text(entity), "font": {"size": 14}, "x": 0, "y": 0.98},
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
            hovermode="closest",
        )
        with cols[i % 2]:
            chart(fig, f"alerts_chart_{i}")


def add_markers(
    fig: go.Figure,
    part: pd.DataFrame,
    by: str,
    rule: AlertRule,
    fired: list[alerts.Firing],
    style: tuple[str, str],
) -> None:
    """A rule's firings as markers on the line, at the period each fell in."""
    values = dict(zip(part["period"], part["mentions"], strict=True))
    x, y, text = [], [], []
    for f in fired:
        at = pd.Timestamp(naive_utc(f.fired))
        period = period_start(at, by)
        x.append(at)
        y.append(int(values.get(period, 0)))
        text.append(
            f"{fmt_time(at)} UTC: {alerts.fmt(f.value)}"
            + (f" (baseline {alerts.fmt(f.baseline)})" if not math.isnan(f.baseline) else "")
        )
    color, symbol = style
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name=plot_text(rule.name),
            mode="markers",
            marker={
                "color": color,
                "symbol": symbol,
                "size": 11,
                "line": {"width": 1, "color": "white"},
            },
            text=[plot_text(t) for t in text],
            hovertemplate=f"<b>{plot_text(rule.name)}</b> fired · %{{text}}<extra></extra>",
        )
    )


def period_start(t: pd.Timestamp, by: str) -> pd.Timestamp:
    """The start of the period (as queries.periods aligns them) holding the instant just
    before `t`: a rule fired at an hour boundary reads the hour that ends there."""
    t = t - pd.Timedelta(microseconds=1)
    if by == "hour":
        return t.floor("h")
    day = t.floor("D")
    if by == "week":
        return day - pd.Timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


# --------------------------------------------------------------------------------------------
# What fired, and deliveries


def fired_history(ctx: Context, start: datetime, end: datetime) -> None:
    history = [f for f in alerts.fired_history(ctx.snap, start) if naive_utc(f.fired) < end]
    st.markdown("**Fired** · what the poller fired in the range, newest first")
    if not history:
        st.caption("Nothing fired in the range.")
        return
    rules = {r.name: r for r in ctx.config.alerts}
    known = set(ctx.entities)
    rows = [
        {
            "Fired (UTC)": naive_utc(f.fired),
            "Rule": f.alert,
            "For": f.entity,
            "Value": f.value,
            "Baseline": None if math.isnan(f.baseline) else f.baseline,
            "Threshold": None if math.isnan(f.threshold) else f.threshold,
            "View": view_link(ctx.config, rules.get(f.alert), f, known),
        }
        for f in reversed(history)
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        height=min(38 + 35 * len(rows), 420),
        placeholder="—",
        column_config={
            "Fired (UTC)": st.column_config.DatetimeColumn(format="D MMM YYYY HH:mm"),
            "Value": st.column_config.NumberColumn(format="%.4g"),
            "Baseline": st.column_config.NumberColumn(format="%.3g"),
            "Threshold": st.column_config.NumberColumn(format="%.3g"),
            "View": st.column_config.LinkColumn(
                display_text="open the view", help="The dashboard's view at that time"
            ),
        },
    )
    csv_button(pd.DataFrame(rows), "alerts-fired", "al_fired_csv")


LOCAL = DashboardSettings(url="./")  # links to views of this dashboard, relative to the page


def view_link(config: Config, rule: AlertRule | None, f: alerts.Firing, known: set[str]) -> str:
    """The view of this dashboard that shows a firing (as the alert's message links it)."""
    here = replace(config, dashboard=LOCAL)
    f = replace(f, entities=tuple(subject_entities(f, known)))
    if rule is None:  # the rule is no longer in feeds.yaml: the day before it fired
        params = alerts.view_params("timeline", f.entities, f.fired - timedelta(days=1), f.fired)
        return alerts.dashboard_link(here, params) or ""
    return alerts.alert_link(here, rule, f) or ""


def deliveries(ctx: Context, start: datetime, end: datetime) -> None:
    snap = ctx.snap
    st.markdown("**Deliveries** · messages not delivered, and every attempt in the range")
    failures = list(snap.alerts.get("failures") or [])
    waiting = outbox(snap)
    log = q("deliveries", snap, queries.Filters(start=start, end=end))
    if not failures and not waiting and log.empty:
        st.caption("No message was sent or due in the range.")
        return
    if failures:
        st.caption(
            "Failures not yet reported in a message that went through (the next one mentions them):"
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "Message": [f.get("what", "") for f in failures],
                    "To": [f.get("target", "") for f in failures],
                    "Status": [f.get("status", "") for f in failures],
                    "Attempts": [f.get("attempts", 0) for f in failures],
                    "Last error": [f.get("error", "") for f in failures],
                    "At (UTC)": [when(f.get("time")) for f in failures],
                }
            ),
            hide_index=True,
            column_config={
                "At (UTC)": st.column_config.DatetimeColumn(format="D MMM HH:mm"),
                "Last error": st.column_config.TextColumn(width="large"),
            },
        )
    if waiting:
        st.caption("Waiting to be sent (the poller's delivery thread retries with backoff):")
        st.dataframe(
            pd.DataFrame(
                {
                    "Kind": [i.get("kind", "") for i in waiting],
                    "Name": [i.get("name", "") for i in waiting],
                    "To": [i.get("label", "") for i in waiting],
                    "Attempts": [i.get("attempts", 0) for i in waiting],
                    "Next try (UTC)": [when(i.get("next_try")) for i in waiting],
                    "Last error": [i.get("error", "") for i in waiting],
                }
            ),
            hide_index=True,
            column_config={
                "Next try (UTC)": st.column_config.DatetimeColumn(format="D MMM HH:mm"),
                "Last error": st.column_config.TextColumn(width="large"),
            },
        )
    if not log.empty:
        st.caption("Every attempt in the range, newest first:")
        st.dataframe(
            log.rename(columns=str.capitalize),
            hide_index=True,
            height=min(38 + 35 * len(log), 320),
            column_config={
                "Time": st.column_config.DatetimeColumn("Time (UTC)", format="D MMM HH:mm"),
                "Fired": st.column_config.DatetimeColumn(format="D MMM HH:mm"),
                "Error": st.column_config.TextColumn(width="large"),
            },
        )


def when(value: object) -> datetime | None:
    try:
        return naive(datetime.fromisoformat(str(value)))
    except ValueError:
        return None
