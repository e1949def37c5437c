"""The store's interface: what the poller, the queries, the alerts, the CLI and the dashboard
may ask of a store, whichever backend holds it.

- `Store`: a place data lives (a folder, a database). `snapshot()` for reading, `writer()` for
  the poller's writes, and the operations that rewrite or look at the whole store.
- `Snapshot`: one committed state to read: row counts, feed state, watchlist, alert state, and
  `query(template, params)`, SQL with `{articles}`-style placeholders for the tables and `?`
  for parameters, written in the dialect both engines run (see monitor/queries.py).
- `Writer`: buffers a poll's rows and commits them atomically; claims the feeds a poller is
  to fetch (several pollers may share a PostgreSQL store).

Callers never ask which backend they hold; `open_store(location)` picks it.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..models import Article, Entity, FeedState
from .schema import Quarantined

if TYPE_CHECKING:  # (a poller that reads nothing back never imports pandas)
    import pandas as pd
    import pyarrow as pa

Log = Callable[[str], None]
Progress = Callable[[int, int], None]
Count = Callable[[str, str], Mapping[str, int]]
# (id, published, title, text, feed, stored story) rows in publication order in ->
# (id, enrichment) out, as monitor.enrich.Enricher's `batch` and `recount`
Analyse = Callable[
    [Iterable[tuple[int, datetime, str, str, str, int | None]]], Iterable[tuple[int, Any]]
]


class Snapshot(abc.ABC):
    """One committed state of a store. Immutable; cheap to pass around and to cache on."""

    feeds: Mapping[str, FeedState]
    watchlist: tuple[Entity, ...]
    fingerprint: str  # of the watchlist the mentions were counted with ("": recount them)
    alerts: Mapping[str, Any]  # rule state, outbox, digests (monitor.delivery)
    quarantined: tuple[Quarantined, ...]  # damaged files taken out (embedded store only)
    updated: datetime | None
    # whether `{mention_days}` (entity, day, mentions, articles), `{article_days}` (day,
    # articles) and `{pair_days}` (entity_a, entity_b, day, articles), the daily sums of the
    # mentions and articles tables (schema.ROLLUP_SQL), can be queried for this state's rows.
    # A key may appear in several rows (the embedded store keeps deltas): always SUM by key.
    rollups: bool = False
    # whether `{mention_days}` also has `stories` (the distinct stories among the entity's
    # articles that day) and `{story_spans}` (entity, story, day) the days of each story that
    # spans several (see postgres.py, `_migration_2`)
    story_rollups: bool = False

    @property
    @abc.abstractmethod
    def key(self) -> str:
        """Changes whenever the data changes: use it as a cache key."""

    @abc.abstractmethod
    def rows(self, table: str) -> int:
        """Rows of a table (articles, sources, mentions, fetches, firings, deliveries)."""

    @abc.abstractmethod
    def query(self, template: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        """Run a query template (`{articles}`... for tables, `?` for parameters)."""

    def records(self, template: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """`query`'s rows as dicts, for callers that want no DataFrame (the embedded store
        answers without importing pandas: a poller's start-up, for one)."""
        rows: list[dict[str, Any]] = self.query(template, params).to_dict("records")
        return rows

    @abc.abstractmethod
    def time_bounds(self) -> tuple[datetime | None, datetime | None]:
        """First and last publication time of the articles (naive UTC; None when empty)."""

    def columns(self, table: str) -> frozenset[str]:
        """The columns of SCHEMAS[table] that the stored rows have (a store written before a
        column existed may lack it until its analyses are redone: read it as NULL then)."""
        from .schema import SCHEMAS

        return frozenset(SCHEMAS[table].names)

    @abc.abstractmethod
    def scan(self, table: str, start: int = 0, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """Every row of a table, in an order that is the same while the store does not change,
        as Arrow tables of SCHEMAS[table], skipping the first `start` rows (`store copy`)."""

    def details(self) -> dict[str, Any]:
        """What the backend can say about its layout (files per table, sizes), for reports."""
        return {}


@dataclass(frozen=True)
class Claim:
    """The feeds a poller may fetch now, and those another poller is fetching."""

    won: dict[str, FeedState | None]  # feed key -> its current state (None: never polled)
    busy: dict[str, datetime] = field(default_factory=dict)  # feed key -> lease end (UTC)


class Writer(abc.ABC):
    """Buffers new rows, knows what is stored already, and commits atomically."""

    # set when the store's mentions must be recounted (a damaged file was taken out): the
    # poller then calls `Store.replace_analyses`
    needs_recount: bool
    # set when the store's analyses were done with another fingerprint than the one this
    # writer committed with (another poller sharing the store has another feeds.yaml)
    other_analyses: bool = False
    feed_states: dict[str, FeedState]  # states set since the last commit
    damaged: bool = False  # damaged files met: the next commit takes them out (embedded store)

    @abc.abstractmethod
    def add_article(
        self, article: Article, feed: str, seen: datetime, entry: int | None = None
    ) -> Article | None:
        """Record that `feed` carried `article`; return the article to store if it is new.
        (See docs/design.md, "An entry's identity".)"""

    @abc.abstractmethod
    def add_mentions(
        self,
        article: Article,
        counts: Mapping[str, int],
        tones: Mapping[str, float] | None = None,
        story: int | None = None,
    ) -> int:
        """Buffer a new article's mentions (with their tone, and the article's story)."""

    @abc.abstractmethod
    def add_story_and_names(
        self, article: Article, story: int, names: Iterable[tuple[str, str]]
    ) -> None:
        """Buffer a new article's story and the names found in it."""

    @abc.abstractmethod
    def add_fetch(self, row: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def set_feed(self, state: FeedState) -> None: ...

    @abc.abstractmethod
    def add_page(self, row: Mapping[str, Any]) -> None:
        """Record a row of `pages` (SCHEMAS["pages"]): an article's page queued or tried."""

    @abc.abstractmethod
    def recount_article(
        self,
        article_id: int,
        published: datetime,
        counts: Mapping[str, int],
        tones: Mapping[str, float] | None = None,
        story: int | None = None,
        names: Iterable[tuple[str, str]] = (),
    ) -> int:
        """Replace an article's `mentions` and `names` rows (buffered or committed) with these,
        counted again on its page's text, in the next commit."""

    @property
    @abc.abstractmethod
    def pending(self) -> int: ...

    @abc.abstractmethod
    def commit(
        self,
        *,
        watchlist: tuple[Iterable[Entity], str] | None = None,
        on_commit: Callable[[Snapshot], None] | None = None,
    ) -> Snapshot:
        """Write everything buffered as one atomic commit. If it fails, the buffers are kept
        (the caller may retry) and nothing is taken as stored that was not."""

    def commit_later(
        self, *, watchlist: tuple[Iterable[Entity], str] | None = None
    ) -> Snapshot | None:
        """Start committing everything buffered while the caller goes on buffering, where the
        store can (PostgreSQL): at most one such commit is in flight, `commit` waits for it,
        and one that fails puts its rows back into the buffers for the next commit. Returns
        the snapshot of the last commit that ended, or None. Here: `commit`, now, if there
        is anything to commit."""
        if not (self.pending or self.feed_states):
            return None
        return self.commit(watchlist=watchlist)

    @property
    def committing(self) -> bool:
        """Whether a commit started by `commit_later` may still be running."""
        return False

    def prepare(self, feed: str, keys: Iterable[int]) -> None:  # noqa: B027 (optional)
        """Look up what the store holds of these article ids and entry keys of `feed` before
        `add_article` asks about them (a shared store may have rows another poller wrote)."""

    def claim(
        self, feeds: Sequence[str], due: Callable[[FeedState | None], bool], now: datetime
    ) -> Claim:
        """Of `feeds`, those this poller may fetch now: `due(state)` is asked with each feed's
        latest state. A shared store leases them to this poller (renewed by `heartbeat`,
        released by committing their state or by `release`)."""
        states = self.current_states(feeds)
        return Claim(won={k: states.get(k) for k in feeds if due(states.get(k))})

    @abc.abstractmethod
    def current_states(self, feeds: Sequence[str] | None) -> dict[str, FeedState]:
        """The latest stored state of these feeds (None: of every feed the store knows), or
        the state set since the last commit, where there is one."""

    def heartbeat(self) -> None:  # noqa: B027 (optional)
        """Called every few seconds while a poll runs: keeps this poller's leases."""

    def release(self) -> None:  # noqa: B027 (optional)
        """Give up the leases of feeds claimed but not committed (a poll stopped early)."""

    def close(self) -> None:  # noqa: B027 (optional)
        """Free what the writer holds (connections)."""


class BulkTarget(abc.ABC):
    """What `store copy` writes through (see copy.py): batches of rows committed with the
    copy's progress, so that an interrupted copy is resumed, never doubled."""

    @abc.abstractmethod
    def progress(self) -> dict[str, Any] | None:
        """The copy in progress or done here: {"source": key, "tables": {name: rows}, "done"}."""

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """Whether the store holds nothing at all (no rows, no feed state)."""

    @abc.abstractmethod
    def begin(self, source: str) -> None:
        """Record that a copy of the source state `source` (a snapshot's key) begins."""

    @abc.abstractmethod
    def append(self, table: str, rows: pa.Table, done: int) -> None:
        """Append rows (of SCHEMAS[table]) and record `done` rows of the table copied, in one
        commit."""

    @abc.abstractmethod
    def finish(self, snap: Snapshot) -> None:
        """Copy the source's feed state, watchlist and alert state; mark the copy done."""


class Store(abc.ABC):
    """A store: where articles, mentions, the fetch log, feed and alert state live."""

    kind: str  # "embedded" | "postgresql"
    # one poller at a time (embedded) or several sharing the work (PostgreSQL)
    shared: bool

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the store is, for people: a folder, or a URL with any password hidden."""

    @abc.abstractmethod
    def exists(self) -> bool: ...

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The latest committed state (an empty one when the store does not exist yet)."""

    @abc.abstractmethod
    def writer(self, log: Log | None = None, poller: str = "") -> Writer:
        """A writer; `poller` names the poller it writes for (shown by `monitor status`)."""

    @abc.abstractmethod
    def poller_lock(self, poller: str = "") -> contextlib.AbstractContextManager[None]:
        """Held by a running poller. The embedded store refuses a second poller
        (StoreBusyError); a shared store counts them (see `poller_running`)."""

    @abc.abstractmethod
    def poller_running(self) -> bool:
        """Whether a poller is running on this store now (read-only; for the dashboard)."""

    def lead(self, task: str) -> bool:
        """Whether this process is the one that runs `task` (e.g. "alerts") for the store:
        always with one poller; with several, one at a time, another taking over when it
        dies."""
        return True

    @abc.abstractmethod
    def replace_analyses(
        self,
        analyse: Analyse,
        watchlist: Iterable[Entity],
        fingerprint: str,
        progress: Progress | None = None,
        *,
        mentions_only: bool = False,
        log: Log | None = None,
        force: bool = True,
        chunk: int = 50_000,
    ) -> int:
        """Recompute mentions (with tone), stories and names from every stored article, in
        publication order, in one commit; with `mentions_only` (the watchlist changed,
        nothing else), the stories and names are kept. Without `force`, does nothing when
        the store's analyses were already done with `fingerprint` (another poller sharing
        the store just did it). Articles are read about `chunk` at a time, so memory stays
        bounded at any size. Returns the mention rows written."""

    @abc.abstractmethod
    def update_alerts(
        self,
        change: Callable[[dict[str, Any]], None],
        *,
        firings: Sequence[Mapping[str, Any]] = (),
        deliveries: Sequence[Mapping[str, Any]] = (),
    ) -> Snapshot:
        """Append `firings` and `deliveries` rows and change the alert state (a JSON-able dict
        given to `change` to modify in place) in one commit, so that writers in two threads
        or processes never lose each other's changes."""

    @abc.abstractmethod
    def check(self) -> Health:
        """Look at the whole store and say what is wrong; changes nothing."""

    @abc.abstractmethod
    def repair(self, log: Log | None = None) -> RepairReport:
        """Make a damaged store usable again (see each backend)."""

    @abc.abstractmethod
    def bulk(self) -> BulkTarget:
        """Where `store copy` writes into this store."""

    def migrate(self) -> list[str]:
        """Bring the store's schema up to this version; what was done, in sentences."""
        return []

    def close(self) -> None:  # noqa: B027 (optional)
        """Free what the store holds (connection pools)."""


# --------------------------------------------------------------------------------------------
# Health and repair reports


@dataclass(frozen=True)
class Finding:
    """One thing `check` found: a problem (the store is not healthy) or a note."""

    kind: str  # manifest | missing | damaged | rows | unlisted | newer | orphan | tmp | foreign
    #            | quarantined | schema | constraint | lease
    path: str  # what it is about: a file of the store, a table, "manifest.json", "schema"
    message: str
    problem: bool = True


@dataclass
class Health:
    """The health of a store, as `monitor check` reports it."""

    root: Path | str  # the store's folder, or its URL with secrets hidden
    exists: bool = True
    seq: int | None = None  # the latest commit
    files: int = 0  # data files (embedded store)
    rows: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    schema: str = ""  # PostgreSQL: the schema version, e.g. "3 (current)"
    hint: str = ""  # what to do about the problems (`monitor check` prints it)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if not f.problem]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: str, message: str, problem: bool = True) -> None:
        self.findings.append(Finding(kind, path, message, problem))


@dataclass
class RepairReport:
    """What `repair` did, in sentences, and what is left to do."""

    actions: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    rebuilt: bool = False  # the manifest's tables were rebuilt from the files found
    recount: bool = False  # mentions must be recounted (`monitor repair` does it)
    changed: bool = False  # something was written


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path) -> Store:
    """The store at `location`: a `postgresql://` URL, else a folder (the embedded store)."""
    if is_database_url(location):
        from .postgres import PgStore

        return PgStore(str(location))
    from .parquet import ParquetStore

    root = Path(location)
    if root.exists() and not root.is_dir():
        # else `check` called it "no store yet" (exit 0) and `repair` "nothing to repair"
        raise StoreError(
            f"the store {root} is not a folder (a file is in its place); move that file away, "
            "or point store: in feeds.yaml at a folder"
        )
    return ParquetStore(location)
