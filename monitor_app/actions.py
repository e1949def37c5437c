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
- `start_recount(config)` runs it in a thread of its own (one per store), so that a large
  store (minutes at millions of articles) is recounted whatever the user does meanwhile:
  leaving the page, or closing it, does not interrupt the write; `recount_job(config)` says
  how far it is. A recount interrupted anyway (the server stopped) commits nothing: the
  store stays as it was and the pages offer to count again.

What it leaves to others: the writing rules (monitor/config.py), the counting (monitor/poll.py,
monitor/store.py), who may see the dashboard (access.py; whoever it admits may edit, except on
a public dashboard, which edits nothing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.config import Config, load_config, watch_name, writable_problem
from monitor.enrich import fingerprint
from monitor.errors import MonitorError
from monitor.match import Matcher
from monitor.models import Entity
from monitor.store import Snapshot, open_store

_EDIT = threading.Lock()  # sessions are threads of one process: one edit of feeds.yaml at once


PUBLIC = (
    "it is public (reachable beyond this machine without sign-in), so it edits nothing; "
    "set up sign-in to let the people it admits edit"
)


def edit_problem(config: Config, public: bool = False) -> str:
    """Why this dashboard cannot edit feeds.yaml, or "" when it can: a public dashboard
    (no sign-in, reachable beyond this machine) edits nothing; otherwise whoever may see it
    may edit, if the file can be written."""
    return PUBLIC if public else writable_problem(config.path)


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
    from monitor.poll import Poller  # the fetching and parsing stack: only when it counts

    store = open_store(config.store)
    poller = Poller(config, store)
    snap = store.snapshot()
    if snap.fingerprint == poller.fingerprint:
        return Recount(0, 0, False)
    full = not snap.fingerprint.endswith(poller.fingerprint[len(poller.matcher.fingerprint) :])
    rows = poller.rematch(progress, full=full)
    return Recount(rows, store.snapshot().rows("articles"), full)


@dataclass
class RecountJob:
    """A recount running in its own thread: how far it is, and how it ended."""

    root: str
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    result: Recount | None = None
    error: str = ""
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def run(self, path: str) -> None:
        try:
            self.result = recount(load_config(path), self.progress)
        except MonitorError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread must not die silently: say what happened
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = time.monotonic()


_JOBS: dict[str, RecountJob] = {}  # store folder -> its latest recount


def start_recount(config: Config) -> RecountJob:
    """Recount the store for feeds.yaml's watchlist in a thread (the one already running for
    this store, if any). feeds.yaml is read again when the thread starts."""
    root = str(config.store)
    with _EDIT:
        job = _JOBS.get(root)
        if job is not None and job.running:
            return job
        job = _JOBS[root] = RecountJob(root)
        job.thread = threading.Thread(
            target=job.run, args=(str(config.path),), name="monitor-recount", daemon=True
        )
        job.thread.start()
    return job


def recount_job(config: Config) -> RecountJob | None:
    """The latest recount started from this dashboard for the store, if any."""
    return _JOBS.get(str(config.store))
