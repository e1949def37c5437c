"""The dashboard's only edits: watching a name (feeds.yaml) and recounting mentions after it.

- `watch(config, name, kind)` appends an entity to feeds.yaml's watchlist with
  `monitor.config.watch_name` (comments and layout kept, checked after writing, put back if
  the file no longer loads), one edit at a time in this process.
- `recount(config)` brings the store's mentions up to the watchlist of feeds.yaml when no
  poller runs, the way a poller does when it opens the store: a watchlist change recounts
  mentions and their tone from the stored text (stories and names are kept); a store whose
  analyses are older is reanalysed in full. It runs `store.replace_analyses` (through
  `Poller.rematch`), which holds the store's commit lock, so a poller starting meanwhile
  waits for it. When a poller runs, nothing is done here: it rereads feeds.yaml between
  polls (at least once a minute) and recounts by itself.

What it leaves to others: the writing rules (monitor/config.py), the counting (monitor/poll.py,
monitor/store.py), whether a user may edit (the page says who cannot: a read-only file).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from monitor.config import Config, watch_name, writable_problem
from monitor.enrich import fingerprint
from monitor.match import Matcher
from monitor.models import Entity
from monitor.poll import Poller
from monitor.store import Snapshot, Store

_EDIT = threading.Lock()  # sessions are threads of one process: one edit of feeds.yaml at once


def edit_problem(config: Config) -> str:
    """Why this dashboard cannot edit feeds.yaml, or "" when it can."""
    return writable_problem(config.path)


def watch(config: Config, name: str, kind: str) -> Entity:
    """Append `name` (of `kind`) to feeds.yaml's watchlist; ConfigError or MonitorError with
    the reason when it cannot be."""
    with _EDIT:
        return watch_name(config.path, name, kind)


def not_counted(config: Config, snap: Snapshot) -> list[str]:
    """Entities of feeds.yaml that the store has not counted yet (its watchlist is older)."""
    counted = {e.name for e in snap.watchlist}
    return [e.name for e in config.watch if e.name not in counted]


def needs_recount(config: Config, snap: Snapshot) -> bool:
    return snap.rows("articles") > 0 and snap.fingerprint != fingerprint(Matcher(config.watch))


@dataclass(frozen=True)
class Recount:
    rows: int  # article-entity rows written
    articles: int  # articles read
    full: bool  # every analysis redone (the store's analyses were older), not only mentions


def recount(config: Config, progress: Callable[[int, int], None] | None = None) -> Recount:
    """Recount the store's mentions for the watchlist of `config`, as a poller opening the
    store would. Call only when no poller runs (`Store.poller_running`)."""
    store = Store(config.store)
    poller = Poller(config, store)
    snap = store.snapshot()
    if snap.fingerprint == poller.fingerprint:
        return Recount(0, 0, False)
    full = not snap.fingerprint.endswith(poller.fingerprint[len(poller.matcher.fingerprint) :])
    rows = poller.rematch(progress, full=full)
    return Recount(rows, store.snapshot().rows("articles"), full)
