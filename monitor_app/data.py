"""Loading and caching: feeds.yaml, the store, the matcher, the queries, and the `Context`.

- `load_or_stop()` reads feeds.yaml (again only when the file changed) or shows every problem in
  it with st.error and stops the page.
- `q(name, snap, filters, ...)` calls `monitor.queries.<name>`, cached on `Snapshot.key` (which
  changes with every commit) and the filter values, so the numbers are the CLI's numbers.
- `Context`: what a page knows about the watchlist, the feeds and the data's time span.

What it leaves to others: the counting (monitor/queries.py), the URL (state.py), drawing
(widgets.py and the pages).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from monitor import alerts, queries
from monitor.config import STORE_ENV, Config, file_stamp, load_config, resolve_config_path
from monitor.errors import ConfigError
from monitor.match import Matcher
from monitor.models import ENTITY_KINDS
from monitor.store import Snapshot, Store, open_store

from .widgets import OTHER_COLOR, assign_colors

# --------------------------------------------------------------------------------------------
# Config, store, matcher


def load_or_stop(detailed: bool = True) -> Config:
    """feeds.yaml, or every problem in it shown with st.error and the page stopped. Not
    `detailed` (sign-in is on and who may see the page is unknown until feeds.yaml is read):
    only how many problems there are, since they quote names from the file."""
    path = resolve_config_path(None)
    try:
        return _load_config(str(path), file_stamp(path), os.environ.get(STORE_ENV, ""))
    except ConfigError as exc:
        st.title("Media monitor")
        if not detailed:
            n = len(exc.issues)
            st.error(
                f"The dashboard's configuration has {n} problem{'s' if n != 1 else ''}, so "
                "it cannot tell who may see it. Whoever runs it can list them with "
                "`monitor validate`.",
                icon="⚠️",
            )
            st.stop()
        st.error(f"The configuration `{path}` cannot be used; fix these and reload:", icon="⚠️")
        for issue in exc.issues:
            st.error(str(issue))
        st.caption("`monitor validate` prints the same list in a terminal.")
        st.stop()
        raise  # not reached: st.stop() raises


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_config(path: str, stamp: tuple[int, int] | None, store_env: str) -> Config:
    """feeds.yaml, read again only when its modification time or size changes (or
    $MONITOR_STORE, which overrides its store). A ConfigError is not cached, so a broken file
    is read (and reported) on every run until it is fixed."""
    return load_config(path)


@st.cache_resource(show_spinner=False)
def get_store(root: str) -> Store:
    return open_store(root)


@st.cache_resource(show_spinner=False)
def get_matcher(key: str, _config: Config) -> Matcher:
    return Matcher(_config.watch)


def matcher(config: Config) -> Matcher:
    """The watchlist's matcher, built once per watchlist."""
    return get_matcher(repr(config.watch), config)


# --------------------------------------------------------------------------------------------
# Cached queries: keyed on the snapshot (changes when data lands) and the filter values


@st.cache_data(max_entries=400, show_spinner=False)
def cached(
    name: str, snap_key: str, f_key: str, args: tuple, kwargs: tuple, _snap: Snapshot, _f: Any
) -> Any:
    return getattr(queries, name)(_snap, _f, *args, **dict(kwargs))


def q(name: str, snap: Snapshot, f: queries.Filters, *args: Any, **kwargs: Any) -> Any:
    """queries.<name>(snap, f, ...), cached on the snapshot's key and the filter values."""
    return cached(name, snap.key, repr(f), args, tuple(sorted(kwargs.items())), snap, f)


def q_ids(name: str, snap: Snapshot, ids: list[int]) -> Any:
    """queries.<name>(snap, ids) for questions about given articles, cached the same way."""
    return cached_ids(name, snap.key, tuple(ids), snap)


@st.cache_data(max_entries=200, show_spinner=False)
def cached_ids(name: str, snap_key: str, ids: tuple[int, ...], _snap: Snapshot) -> Any:
    return getattr(queries, name)(_snap, list(ids))


@st.cache_data(max_entries=50, show_spinner=False)
def cached_backtest(
    snap_key: str, rules: str, start: datetime, end: datetime, _snap: Snapshot, _config: Config
) -> list[alerts.Firing]:
    """alerts.backtest over [start, end], cached on the snapshot and the rules."""
    return alerts.backtest(_snap, _config, start, end)


def backtest(snap: Snapshot, config: Config, start: datetime, end: datetime) -> list[alerts.Firing]:
    return cached_backtest(snap.key, repr(config.alerts), start, end, snap, config)


@st.cache_data(max_entries=50, show_spinner=False)
def cached_health(snap_key: str, minute: str, _snap: Snapshot) -> pd.DataFrame:
    return queries.feed_health(_snap, datetime.fromisoformat(minute))


@st.cache_data(max_entries=20, show_spinner=False)
def cached_full_text(snap_key: str, _snap: Snapshot) -> pd.DataFrame:
    return queries.full_text_by_feed(_snap)


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
    colors: dict[str, str] = field(default_factory=dict)  # see widgets.assign_colors
    public: bool = False  # reachable beyond this machine without sign-in: it edits nothing

    @property
    def kind_options(self) -> list[str]:
        """The kinds that some watched entity has, in the usual order."""
        present = set(self.kinds.values())
        return [k for k in ENTITY_KINDS if k in present]

    def color(self, entity: str) -> str:
        return self.colors.get(entity) or OTHER_COLOR


def make_context(config: Config, snap: Snapshot) -> Context:
    names = [e.name for e in config.watch]
    watched = set(names)
    names += [e.name for e in snap.watchlist if e.name not in watched]
    kinds = {e.name: e.kind for e in snap.watchlist} | {e.name: e.kind for e in config.watch}
    feeds: dict[str, str] = {f.key: f.name for f in config.feeds}
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
        colors=assign_colors((), names),
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
