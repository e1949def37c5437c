"""Digests: a scheduled email about a period, for readers who never open the dashboard.

`build_digest` makes one edition for a period: each entity's mentions and the change against
the period before, a timeline chart (a PNG made by plotly's static export, kaleido, which
drives Debian's chromium; one browser session for all the charts of an edition), the top
articles of each entity with links, the alerts that fired, and a link to the dashboard's view
of the period. The HTML uses inline styles and tables only (what mail clients render), shows
every number as text too, and gives the chart an alt text with its figures, so it reads
the same with images off; `Message.text` is the plain-text version for text-only targets.
Feed text is escaped everywhere; only http(s) links become links.

`last_slot` says when the latest edition was due (`every: day|week`, `at:` in `timezone:`).

What it leaves to others: when to build and whom to send to (delivery.py), sending
(notify.py), the counting (queries.py).
"""

from __future__ import annotations

import asyncio
import base64
import html
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import queries
from .alerts import articles_about, dashboard_link, fired_history, view_params
from .config import Config, DigestConfig
from .errors import MonitorError
from .notify import Attachment, Message
from .store import Snapshot
from .text import plot_text

CHART_FILE = "timeline.png"
MAX_ENTITIES = 12  # rows of the table and sections of top articles
CHART_LINES = 8  # entities drawn in the chart
TOP_PER_ENTITY = 3
MAX_PERIOD = timedelta(days=31)  # an edition after a long pause covers at most this
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D")


class ChartError(MonitorError):
    """The chart could not be drawn (no browser, a browser that failed)."""


@dataclass(frozen=True)
class Digest:
    message: Message  # html with cid:timeline.png and the PNG attached; text for the rest
    png: bytes | None  # the chart, when it could be drawn
    start: datetime
    end: datetime

    def standalone_html(self) -> str:
        """The HTML as one file: the chart embedded as a data: URI instead of cid:."""
        if self.png is None:
            return self.message.html
        data = base64.b64encode(self.png).decode("ascii")
        return self.message.html.replace(f"cid:{CHART_FILE}", f"data:image/png;base64,{data}")


# --------------------------------------------------------------------------------------------
# Schedule


def last_slot(d: DigestConfig, now: datetime) -> datetime:
    """When the latest edition was due, at or before `now` (UTC)."""
    tz = ZoneInfo(d.timezone)
    local = now.astimezone(tz)
    slot = local.replace(hour=d.hour, minute=d.minute, second=0, microsecond=0)
    if d.every == "week":
        slot -= timedelta(days=(local.weekday() - d.weekday) % 7)
    if slot > local:
        slot -= d.period
    return _as_utc(slot)


def edition_period(
    d: DigestConfig, end: datetime, since: datetime | None
) -> tuple[datetime, datetime]:
    """The period an edition ending at `end` covers: since the last edition, else one
    period, and never more than MAX_PERIOD."""
    start = since if since is not None else _as_utc(end.astimezone(ZoneInfo(d.timezone)) - d.period)
    return max(start, end - MAX_PERIOD), end


def _as_utc(t: datetime) -> datetime:
    # ZoneInfo arithmetic is wall-clock arithmetic; converting afterwards gives the real instant
    return t.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Building an edition


def build_digest(
    snap: Snapshot,
    config: Config,
    d: DigestConfig,
    start: datetime,
    end: datetime,
    *,
    chart: bool = True,
    note: str = "",
) -> Digest:
    """One edition of digest `d` for [start, end). `note` (plain text) is added at the end,
    e.g. delivery problems since the last message."""
    names = list(d.entities) or [e.name for e in config.watch]
    f = queries.Filters(start=start, end=end, entities=tuple(names))
    table = queries.overview(snap, f, trend_by="day")
    table = table[table["entity"].isin(names)].head(MAX_ENTITIES)
    active = [str(e) for e, n in zip(table["entity"], table["mentions"], strict=True) if n > 0]
    by = "hour" if end - start <= timedelta(days=2) else "day"
    series = queries.timeline(
        snap, queries.Filters(start=start, end=end, entities=tuple(active[:CHART_LINES])), by
    )
    png, chart_problem = None, ""
    if chart and active:
        try:
            png = render_pngs([_figure(series, by)])[0]
        except ChartError as exc:
            chart_problem = str(exc)
    tops = {e: _top(snap, config, e, start, end) for e in active}
    fired = [
        x
        for x in fired_history(snap, since=start)
        if x.fired < end and (not d.entities or _about(x.entity, d.entities))
    ]
    link = dashboard_link(config, view_params("overview", list(d.entities), start, end))
    period = _period_label(d, start, end)
    title = f"{d.name}: {period}"
    parts = _Parts(
        d, period, table, series, by, tops, fired, link, note, chart_problem, png is not None
    )
    message = Message(
        title=title,
        text=parts.text(),
        html=parts.html(),
        attachments=(Attachment(CHART_FILE, png),) if png else (),
    )
    return Digest(message=message, png=png, start=start, end=end)


def _top(
    snap: Snapshot, config: Config, entity: str, start: datetime, end: datetime
) -> list[dict[str, str]]:
    return articles_about(snap, config, [entity], start, end, TOP_PER_ENTITY)


def _about(subject: str, entities: tuple[str, ...]) -> bool:
    """Whether a firing's subject ("A", "A + B", "A · Feed") names one of the entities."""
    names = {part.split(" · ")[0] for part in subject.split(" + ")}
    return bool(names & set(entities))


def _period_label(d: DigestConfig, start: datetime, end: datetime) -> str:
    tz = ZoneInfo(d.timezone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    zone = "UTC" if d.timezone == "UTC" else d.timezone
    return f"{a:%a %d %b %Y %H:%M} to {b:%a %d %b %Y %H:%M} ({zone})"


def _figure(series: Any, by: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (entity, part) in enumerate(series.groupby("entity", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["mentions"],
                name=plot_text(str(entity)),
                mode="lines",
                line={"width": 2, "color": PALETTE[i % len(PALETTE)]},
            )
        )
    fig.update_layout(
        title={"text": f"Mentions per {by}", "x": 0.01, "font": {"size": 14}},
        width=640,
        height=300,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.15},
        template="plotly_white",
        font={"family": "Liberation Sans, Arial, sans-serif", "size": 11},
    )
    return fig


def render_pngs(figures: list[Any]) -> list[bytes]:
    """PNG images of plotly figures, all drawn in one browser session (kaleido + chromium)."""
    import kaleido

    async def draw() -> list[bytes]:
        images = []
        async with kaleido.Kaleido(n=1, timeout=60) as k:
            for fig in figures:
                opts = {
                    "format": "png",
                    "width": fig.layout.width,
                    "height": fig.layout.height,
                    "scale": 2,
                }
                images.append(bytes(await k.calc_fig(fig, opts=opts)))
        return images

    try:
        return asyncio.run(draw())
    except Exception as exc:  # kaleido and its browser fail in many ways; one message for all
        raise ChartError(f"the chart could not be drawn ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------------------------
# HTML and text


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(url: str, text: str) -> str:
    if url.startswith(("http://", "https://")):
        return f'<a href="{_e(url)}" style="color:#1a5fb4">{_e(text)}</a>'
    return _e(text)


def _small_url(url: str) -> str:
    """The address written out, so that it survives in the plain-text part and on paper."""
    return f'<span style="color:#777;font-size:12px;word-break:break-all">{_e(url)}</span>'


def _change(mentions: int, prev: int, change: float) -> str:
    if change is not None and not math.isnan(change):
        return f"{change:+.0%}"
    if prev == 0:
        return "new" if mentions else "–"
    return "n/a"  # the period before is older than the store


class _Parts:
    """The content of an edition, written once as HTML and once as plain text."""

    def __init__(
        self,
        d: DigestConfig,
        period: str,
        table: Any,
        series: Any,
        by: str,
        tops: dict[str, list[dict[str, str]]],
        fired: list[Any],
        link: str | None,
        note: str,
        chart_problem: str,
        has_chart: bool,
    ):
        self.d, self.period, self.table, self.series, self.by = d, period, table, series, by
        self.tops, self.fired, self.link, self.note = tops, fired, link, note
        self.chart_problem, self.has_chart = chart_problem, has_chart

    def rows(self) -> list[tuple[str, int, int, str]]:
        return [
            (
                str(r.entity),
                int(r.mentions),
                int(r.prev_mentions),
                _change(int(r.mentions), int(r.prev_mentions), r.change),
            )
            for r in self.table.itertuples(index=False)
        ]

    def alt(self) -> str:
        totals = ", ".join(f"{e} {m:,}" for e, m, _, _ in self.rows()[:CHART_LINES] if m)
        return f"Chart of mentions per {self.by}, {self.period}. Totals: {totals or 'none'}."

    def text(self) -> str:
        out = [f"{self.d.name}", self.period, ""]
        out.append("Mentions (change against the period before):")
        for entity, m, prev, change in self.rows():
            out.append(f"  {entity}: {m:,} ({change}; before: {prev:,})")
        if not self.rows():
            out.append("  (no watched entity)")
        out.append("")
        for entity, arts in self.tops.items():
            out.append(f"Top articles on {entity}:")
            for a in arts:
                out.append(f"  - {a['title']} ({a['outlet']})")
                if a["url"]:
                    out.append(f"    {a['url']}")
            out.append("")
        out.append("Alerts fired:" if self.fired else "No alert fired in this period.")
        for f in self.fired:
            out.append(f"  - {f.fired:%Y-%m-%d %H:%M} UTC, {f.alert}: {f.entity} ({_num(f.value)})")
        if self.fired:
            out.append("")
        if self.chart_problem:
            out += [f"(No chart in this edition: {self.chart_problem}.)", ""]
        if self.link:
            out.append(f"This period in the dashboard: {self.link}")
        if self.note:
            out += ["", self.note]
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        cell = 'style="padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:{}"'
        rows = "".join(
            f"<tr><td {cell.format('left')}>{_e(e)}</td><td {cell.format('right')}>{m:,}</td>"
            f"<td {cell.format('right')}>{_e(c)}</td><td {cell.format('right')}>{p:,}</td></tr>"
            for e, m, p, c in self.rows()
        )
        head = "".join(
            f"<th {cell.format(a)}>{_e(h)}</th>"
            for h, a in (
                ("Entity", "left"),
                ("Mentions", "right"),
                ("Change", "right"),
                ("Before", "right"),
            )
        )
        body = [
            f'<h1 style="font-size:20px;margin:0 0 4px">{_e(self.d.name)}</h1>',
            f'<p style="color:#555;margin:0 0 16px">{_e(self.period)}</p>',
            '<h2 style="font-size:16px">Mentions</h2>',
            f'<table role="presentation" cellspacing="0" style="border-collapse:collapse">'
            f"<tr>{head}</tr>{rows}</table>",
            '<p style="color:#555;font-size:12px">Change: against the period of the same length '
            "just before.</p>",
        ]
        if self.has_chart:
            body.append(
                f'<p><img src="cid:{CHART_FILE}" width="640" alt="{_e(self.alt())}" '
                'style="max-width:100%;height:auto;border:0"></p>'
            )
        elif self.chart_problem:
            body.append(
                f'<p style="color:#555">(No chart in this edition: {_e(self.chart_problem)}.)</p>'
            )
        for entity, arts in self.tops.items():
            items = "".join(
                f'<li style="margin-bottom:6px">{_link(a["url"], a["title"])} '
                f'<span style="color:#555">({_e(a["outlet"])})</span>'
                + (f"<br>{_small_url(a['url'])}" if a["url"] else "")
                + "</li>"
                for a in arts
            )
            body.append(
                f'<h2 style="font-size:16px">Top articles on {_e(entity)}</h2><ul>{items}</ul>'
            )
        body.append('<h2 style="font-size:16px">Alerts fired</h2>')
        if self.fired:
            items = "".join(
                f"<li>{f.fired:%Y-%m-%d %H:%M} UTC, {_e(f.alert)}: {_e(f.entity)} "
                f"({_num(f.value)})</li>"
                for f in self.fired
            )
            body.append(f"<ul>{items}</ul>")
        else:
            body.append("<p>No alert fired in this period.</p>")
        if self.link:
            body.append(f"<p>This period in the dashboard: {_link(self.link, self.link)}</p>")
        if self.note:
            body.append(f'<p style="color:#a00;white-space:pre-wrap">{_e(self.note)}</p>')
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{_e(self.d.name)}</title></head>"
            '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;'
            'max-width:680px;margin:0 auto;padding:12px">' + "".join(body) + "</body></html>"
        )


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
