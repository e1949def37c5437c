"""Shared widgets and charts: the palette, the figure style, the CSV button, formatting.

Every page draws with these, so a chart looks the same wherever it appears. Nothing here knows
the store or the URL.

What it leaves to others: the selection (state.py), the data (data.py), feed text as HTML
(cards.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from monitor.store import Snapshot

# Tableau 10 in its order (each colour far from its neighbours), then ten more chosen to be
# as far as possible (CIEDE2000) from those and from each other: no two of the 20 are closer
# than 16. The old palette repeated Tableau's hues as its second ten (two greens at 4.7).
PALETTE = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
    "#9C755F", "#BAB0AC",
    "#283618", "#3A0CA3", "#93003A", "#0B6E4F", "#666666", "#B2DF8A", "#BB3E03", "#003F5C",
    "#665191", "#E7298A",
)  # fmt: skip
OTHER_COLOR = "#D9D9D9"  # "Other entities" and the like: lighter than every palette colour


def assign_colors(in_play: Sequence[str], everyone: Sequence[str]) -> dict[str, str]:
    """A colour for every entity: those drawn together (`in_play`) take the palette's first
    colours, in watchlist order, so up to ten drawn together are always clearly distinct and
    the same set always gets the same colours; the others follow, in watchlist order."""
    drawn = set(in_play)
    order = [e for e in everyone if e in drawn] + [e for e in in_play if e not in everyone]
    order += [e for e in everyone if e not in drawn]
    return {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(order)}


def ink(background: str) -> str:
    """Black or white, whichever reads better on a #RRGGBB background."""
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#1F1F1F" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "white"


DEGRADED_FILL = "rgba(120, 120, 120, 0.16)"
BEFORE_FILL = "rgba(120, 120, 120, 0.05)"
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


# --------------------------------------------------------------------------------------------
# Formatting


def fmt_time(t: datetime | pd.Timestamp | None, with_time: bool = True) -> str:
    if t is None or pd.isna(t):
        return "—"
    return t.strftime("%-d %b %Y %H:%M" if with_time else "%-d %b %Y")


def fmt_count(n: int | float) -> str:
    return f"{int(n):,}"


def fmt_span(span: timedelta) -> str:
    if span <= timedelta(days=1):
        return f"{int(span.total_seconds() // 3600)} hours"
    return f"{span.days} days"


def md(text: str) -> str:
    """Text for st.markdown, its Markdown punctuation escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])", r"\\\1", text)


def code(text: str) -> str:
    """Text as inline code in st.markdown (where escapes would show): backticks dropped."""
    return "`" + text.replace("`", "").replace("\n", " ") + "`"


# --------------------------------------------------------------------------------------------
# Widgets


def csv_button(
    df: pd.DataFrame | Callable[[], pd.DataFrame | str], name: str, key: str, label: str = "CSV"
) -> None:
    """A download button for `df` (or what a function returns) as CSV. The CSV is written
    when the button is clicked (Streamlit's deferred download), not on every run: a page of
    100,000 rows took 0.4 s to write, for every session, at every rerun."""

    def data() -> str:
        out = df() if callable(df) else df
        return out if isinstance(out, str) else out.to_csv(index=False)

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


# --------------------------------------------------------------------------------------------
# Charts


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


def store_damage(snap: Snapshot) -> None:
    """Damaged data files the poller took out of the store (rows lost), until repaired."""
    damaged = [q for q in snap.quarantined if not q.acknowledged]
    if not damaged:
        return
    lines = [
        f"- {md(q.path)} ({md(q.reason)}): "
        + (f"{q.rows_lost:,} rows lost" if q.rows_lost is not None else "rows lost unknown")
        + f", {fmt_time(q.time)}"
        for q in damaged
    ]
    st.error(
        f"{len(damaged)} damaged data file{'s' if len(damaged) != 1 else ''} of the store "
        "were taken out of the counts (kept in its quarantine/ folder). Run `monitor check` "
        "for details and `monitor repair` to mark them as seen.\n\n" + "\n".join(lines),
        icon=":material/report:",
    )
