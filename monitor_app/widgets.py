"""Shared widgets and charts: the palette, the figure style, the CSV button, formatting.

Every page draws with these, so a chart looks the same wherever it appears. Nothing here knows
the store or the URL.

What it leaves to others: the selection (state.py), the data (data.py), feed text as HTML
(cards.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

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


# --------------------------------------------------------------------------------------------
# Widgets


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
