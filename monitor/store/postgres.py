"""The team store: a PostgreSQL database that several pollers write and several dashboards read.

Tables (in the connecting role's schema, `public` by default):

    articles, sources, mentions, fetches, firings, deliveries
                         the columns of schema.SCHEMAS, with primary keys (articles.id,
                         sources (article_id, feed), mentions (article_id, entity)), a unique
                         entry key in sources, and the indexes the dashboard's questions use
    monitor_feeds        one row per feed: its state (jsonb), its all-time article count, the
                         lease of the poller fetching it now, and a version
    monitor_meta         one row: the store's id, the commit sequence, the watchlist and its
                         fingerprint, the alert state (jsonb), the row counts, the schema version
    monitor_migrations   the migrations applied, numbered

Commits. A writer buffers rows like the embedded store's, then writes them in one transaction:
articles, mentions and sources are COPYed into temporary tables and inserted with
`ON CONFLICT DO NOTHING`, so a row another poller stored meanwhile is skipped, and mentions are
inserted only for the articles this transaction did insert (whatever the race, no article or
mention is stored twice). The fetch log is COPYed as is. The transaction ends by bumping the
commit sequence in `monitor_meta`: a snapshot's `key` is that sequence, so dashboards caching
on it see new data at their next refresh. Inserts go in key order, so two writers never
deadlock on each other's rows. The daily sums (`mention_days`, `article_days`, `pair_days`)
are grown by every commit, on the same few days' rows for all pollers: each writer holds a
slot of its own (an advisory lock per slot, taken with its connection) and adds to its own
rows of each key, so that pollers committing at once do not wait for each other there;
readers sum a key's rows. The distinct stories a commit adds are counted under an advisory
lock on each older story it adds copies of (two commits adding copies of one story take
turns; others never wait). A poller's commits while a round runs go to the background
(`PgWriter.commit_later`): the buffers are handed to a commit on a second connection (its own
temporary tables and slot) in a thread, at most one at a time, while the poller goes on; one
that fails puts its rows back into the buffers for the next commit.

Several pollers. A poller claims the feeds it is about to fetch (`PgWriter.claim`): it locks
their rows with `SELECT ... FOR UPDATE SKIP LOCKED`, judges each on its latest state, and
leases the due ones to itself until now + LEASE (the database's clock). The lease is renewed
while the poll runs (`heartbeat`) and released by the commit that stores the feed's new state;
a poller killed with kill -9 stops renewing, so its feeds are free again within LEASE. Feed
state is written only by the lease holder (or, for a feed nobody holds, only if its version is
the one the writer read), so a stale copy never overwrites newer state. Before adding a feed's
entries, the writer looks up which of them the database already holds (`prepare`), so that
an entry stored by the poller that had the feed before is recognised. Alerts and digests are
run by one poller at a time: the one holding the "alerts" advisory lock (`lead`), which the
database releases when its connection dies.

Recounting mentions (`replace_analyses`) holds an exclusive advisory lock that every commit
takes in shared mode, and replaces the mentions in one transaction: readers see the old
counts until it commits.

Schema. Tables and columns come from schema.SCHEMAS; a column or table added there is created
by the next migration run (any column is nullable). Numbered migrations (`MIGRATIONS`) hold
what is not a column: keys, indexes. Writers (a poller starting, `store copy`, `rematch`)
migrate on start under an advisory lock; `monitor store migrate` does it explicitly. Readers
never change the schema: the dashboard may connect with a role that can only SELECT.

Times are `timestamp without time zone`, naive UTC, as everywhere in the project.

What it leaves to others: what the rows mean (poll.py), the questions (queries.py), the
embedded store (parquet.py).
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import io
import json
import logging
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import psycopg.errors
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb

from ..errors import StoreError
from ..models import Article, Entity, FeedState
from ..secrets import redact_text, redact_url, url_secrets
from .base import (
    Analyse,
    BulkTarget,
    Claim,
    Health,
    Log,
    Progress,
    RepairReport,
    Snapshot,
    Store,
)
from .buffer import BufferedWriter, source_key
from .schema import (
    KEYS,
    NATURAL_KEYS,
    ROLLUP_SCHEMAS,
    ROLLUP_SQL,
    SCHEMAS,
    TS,
    Quarantined,
    entity_from_json,
    entity_to_json,
    schema_fingerprint,
    state_from_json,
    state_to_json,
    utc_naive,
)

LEASE = timedelta(seconds=30)  # a claimed feed is this poller's for this long, renewed while polled
RENEW_EVERY = 10.0  # seconds between renewals of a poll's leases
LEAD_RETRY = 10.0  # seconds before a poller that does not lead a task asks again
COMMIT_RETRIES = 3  # a commit that deadlocks or loses its connection is tried this often

# Advisory locks: (LOCK_CLASS, one of these). Per database.
LOCK_CLASS = 0x4D4F4E  # "MON"
LOCK_MIGRATE = 1  # held while migrating
LOCK_POLLERS = 2  # held (shared) by every running poller: `poller_running`
LOCK_RECOUNT = 3  # exclusive while mentions are recounted; every commit takes it shared
LOCK_SLOT = 10  # + a slot number (1 to SLOTS): held by the writer adding to that slot
LOCK_LEAD = 100  # + a number per task: `lead`
SLOTS = 32  # writers' own rows in the daily sums (`_migration_4`); slot 0: copies, rebuilds
# Lease transactions (claim, renew, release) do not wait for their WAL to reach the disk: a
# lease lost to a server crash only lets another poller fetch the feed again (the keys keep
# its rows single), and waiting took ~0.2 s a claim behind the commits' WAL on a busy disk.
# A later commit of the session flushes them anyway.
_LEASE_COMMIT = "SET LOCAL synchronous_commit = off"

PG_TYPES = {
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.int16(): "smallint",
    pa.string(): "text",
    TS: "timestamp",
    pa.float64(): "double precision",
    pa.float32(): "real",
    pa.bool_(): "boolean",
}
# Indexes of the tables, beyond their keys (named so that `check` can look for them).
INDEXES: dict[str, str] = {
    "articles_published": "articles (published)",
    "sources_entry": "sources (entry) WHERE entry IS NOT NULL",  # unique: see MIGRATIONS
    "sources_feed": "sources (feed, seen)",
    "mentions_entity": "mentions (entity, published) INCLUDE (count, article_id)",
    "mentions_published": "mentions (published) INCLUDE (entity, count, article_id)",
    # a story's copies, per entity (the daily sums' distinct stories, at each commit)
    "mentions_story": "mentions (story, entity) INCLUDE (published) WHERE story <> article_id",
    "stories_story": "stories (story)",  # a story's copies (the article cards' "copies")
    "stories_copies": "stories (published) INCLUDE (article_id, story) WHERE story <> article_id",
    # the daily sums read by index alone: over a range of days, and per entity
    "mention_days_cover": "mention_days (day) INCLUDE (entity, mentions, articles, stories)",
    "mention_days_entity": "mention_days (entity, day) INCLUDE (mentions, articles, stories)",
    "story_spans_day": "story_spans (day) INCLUDE (entity, story)",
    "story_spans_entity": "story_spans (entity, day) INCLUDE (story)",
    "fetches_time": "fetches (time)",
    "fetches_feed": "fetches (feed, time)",
    "firings_fired": "firings (fired)",
    "deliveries_time": "deliveries (time)",
}
UNIQUE_INDEXES = {"sources_entry"}
# derived tables: see `_migration_1`, `_2` and `_3`
ROLLUPS = ("mention_days", "article_days", "pair_days", "story_spans")

# The stories' roll-ups as queries.py reads them (the embedded store's tables): here the
# stories are a column of mention_days, and each span row counts once.
_ROLLUP_VIEWS = {
    "story_days": "(SELECT entity, day, stories FROM mention_days)",
    "story_spans": "(SELECT entity, story, day, 1::bigint AS n FROM story_spans)",
}

# Result columns of these PostgreSQL types become these pandas dtypes (as DuckDB gives them).
_TIMESTAMP_OIDS = {1114, 1184}
_FLOAT_OIDS = {700, 701, 1700}
_INT_OIDS = {20, 21, 23, 26}
_EMPTY_DTYPES = {16: "bool", 1114: "datetime64[us]", 1184: "datetime64[us]"}

logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)  # its failures reach us as errors


def _ident(name: str) -> pgsql.Identifier:
    return pgsql.Identifier(name)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_OPEN: weakref.WeakSet[PgStore] = weakref.WeakSet()  # stores with connections, for close_all


def close_all_stores() -> None:
    """Close every PostgreSQL store of this process (before its database is dropped)."""
    for store in list(_OPEN):
        store.close()


def _lead_lock(task: str) -> int:
    return LOCK_LEAD + zlib.crc32(task.encode()) % 100_000


# --------------------------------------------------------------------------------------------
# Schema: DDL from SCHEMAS, and the numbered migrations


def _table_ddl(name: str) -> pgsql.Composed:
    cols = [
        pgsql.SQL("{} {}").format(_ident(f.name), pgsql.SQL(PG_TYPES[f.type]))
        for f in SCHEMAS[name]
    ]
    if name in KEYS:
        key = pgsql.SQL(", ").join(_ident(c) for c in KEYS[name])
        cols.append(pgsql.SQL("PRIMARY KEY ({})").format(key))
    return pgsql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        _ident(name), pgsql.SQL(", ").join(cols)
    )


def _migration_1(cur: psycopg.Cursor[Any]) -> None:
    """The tables, their keys and indexes, the feed state and the meta row."""
    for name in SCHEMAS:
        cur.execute(_table_ddl(name))
    # daily roll-ups of mentions and articles, kept by every commit (see queries.py: the
    # timeline and overview read them when no filter needs the rows themselves)
    cur.execute(
        """CREATE TABLE IF NOT EXISTS mention_days (
            entity text NOT NULL, day timestamp NOT NULL,
            mentions bigint NOT NULL, articles bigint NOT NULL,
            PRIMARY KEY (entity, day))"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS mention_days_day ON mention_days (day)")
    cur.execute(
        """CREATE TABLE IF NOT EXISTS article_days (
            day timestamp PRIMARY KEY, articles bigint NOT NULL)"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS monitor_feeds (
            url text PRIMARY KEY,
            state jsonb,  -- NULL while a poller holds the feed before its first poll
            articles bigint NOT NULL DEFAULT 0,
            version bigint NOT NULL DEFAULT 0,
            lease_owner text,
            lease_until timestamp)"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS monitor_meta (
            id integer PRIMARY KEY CHECK (id = 1),
            store_id text NOT NULL,
            seq bigint NOT NULL DEFAULT 0,
            updated timestamp,
            watchlist jsonb NOT NULL DEFAULT '[]',
            fingerprint text NOT NULL DEFAULT '',
            alerts jsonb NOT NULL DEFAULT '{}',
            rows jsonb NOT NULL DEFAULT '{}',
            schema_version integer NOT NULL DEFAULT 0,
            schema_fingerprint text NOT NULL DEFAULT '',
            copy jsonb,  -- progress of a `monitor store copy` into this database
            labels jsonb NOT NULL DEFAULT '{}')  -- e.g. {"demo": true}: made by `monitor demo`"""
    )
    cur.execute(
        "INSERT INTO monitor_meta (id, store_id) VALUES (1, %s) ON CONFLICT DO NOTHING",
        (uuid.uuid4().hex,),
    )


def _create_index(cur: psycopg.Cursor[Any], index: str) -> None:
    unique = "UNIQUE " if index in UNIQUE_INDEXES else ""
    cur.execute(f"CREATE {unique}INDEX IF NOT EXISTS {index} ON {INDEXES[index]}")  # type: ignore[arg-type]


def _migration_2(cur: psycopg.Cursor[Any]) -> None:
    """The daily roll-up of pairs of entities mentioned in the same articles (co-mentions),
    filled from the mentions stored."""
    cur.execute(
        """CREATE TABLE IF NOT EXISTS pair_days (
            entity_a text NOT NULL, entity_b text NOT NULL, day timestamp NOT NULL,
            articles bigint NOT NULL,
            PRIMARY KEY (entity_a, entity_b, day))"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS pair_days_day ON pair_days (day)")
    for statement in _rebuild("pair_days"):
        cur.execute(statement)  # type: ignore[arg-type]


def _migration_3(cur: psycopg.Cursor[Any]) -> None:
    """Distinct stories in the daily sums: `mention_days.stories` (the distinct stories among
    the entity's articles that day) and `story_spans` (entity, story, day) for the stories
    whose articles mentioning the entity fall on more than one day, so that a range's
    distinct stories are its days' sums less each spanning story's extra days (queries.py)."""
    cur.execute("ALTER TABLE mention_days ADD COLUMN IF NOT EXISTS stories bigint")
    cur.execute(
        """CREATE TABLE IF NOT EXISTS story_spans (
            entity text NOT NULL, story bigint NOT NULL, day timestamp NOT NULL,
            PRIMARY KEY (entity, story, day))"""
    )
    for statement in (*_rebuild("mention_days"), *SPANS_REBUILD):
        cur.execute(statement)  # type: ignore[arg-type]


# the additive daily sums and their keys without the slot
_SLOTTED = {
    "mention_days": "entity, day",
    "article_days": "day",
    "pair_days": "entity_a, entity_b, day",
}


def _migration_4(cur: psycopg.Cursor[Any]) -> None:
    """The daily sums keyed by writer too (`slot`): each writer adds its commits' sums to
    rows of its own (`PgWriter.slot`), so that pollers committing at once never wait for each
    other's rows of the same days (every commit of a busy day touches them). Readers sum a
    key's rows, as they sum the embedded store's deltas; rebuilds and copies write slot 0."""
    for table, key in _SLOTTED.items():
        for statement in (
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS slot smallint NOT NULL DEFAULT 0",
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey",
            f"ALTER TABLE {table} ADD PRIMARY KEY ({key}, slot)",
        ):
            cur.execute(statement)  # type: ignore[arg-type]


MIGRATIONS: list[tuple[int, str, Callable[[psycopg.Cursor[Any]], None]]] = [
    (1, "tables, keys, indexes, feed state and meta", _migration_1),
    (2, "daily roll-up of co-mentions (pair_days)", _migration_2),
    (3, "distinct stories in the daily sums", _migration_3),
    (4, "the daily sums keyed by writer too (slot)", _migration_4),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _missing_columns(cur: psycopg.Cursor[Any]) -> dict[str, list[pa.Field]]:
    """Columns of SCHEMAS the database's tables lack (a whole table when it is missing)."""
    cur.execute(
        """SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ANY(%s)""",
        (list(SCHEMAS),),
    )
    have: dict[str, set[str]] = {}
    for table, column in cur.fetchall():
        have.setdefault(table, set()).add(column)
    return {
        name: [f for f in schema if f.name not in have.get(name, set())]
        for name, schema in SCHEMAS.items()
        if any(f.name not in have.get(name, set()) for f in schema)
    }


def _migrate(con: psycopg.Connection[Any]) -> list[str]:
    """Apply the migrations not applied yet and add the columns SCHEMAS has gained, under the
    migration lock (pollers starting together migrate once). What was done, in sentences."""
    done: list[str] = []
    with con.transaction(), con.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
        cur.execute(
            """CREATE TABLE IF NOT EXISTS monitor_migrations (
                version integer PRIMARY KEY, applied timestamp NOT NULL, what text NOT NULL)"""
        )
        cur.execute("SELECT coalesce(max(version), 0) FROM monitor_migrations")
        current = int(cur.fetchone()[0])  # type: ignore[index]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the database's schema is version {current}, newer than this version of "
                f"monitor knows ({SCHEMA_VERSION}): upgrade monitor on this machine"
            )
        for version, what, step in MIGRATIONS:
            if version > current:
                step(cur)
                cur.execute(
                    "INSERT INTO monitor_migrations VALUES (%s, %s, %s)",
                    (version, _utc_now(), what),
                )
                done.append(f"migration {version}: {what}")
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        present = {r[0] for r in cur.fetchall()}
        for index in INDEXES:
            if index not in present:
                _create_index(cur, index)
                if current:  # (a new database: its tables and indexes are one step)
                    done.append(f"index {index} created")
        for name, fields in _missing_columns(cur).items():
            if len(fields) == len(SCHEMAS[name]):
                cur.execute(_table_ddl(name))
                done.append(f"table {name} created")
                continue
            for f in fields:
                cur.execute(
                    pgsql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        _ident(name), _ident(f.name), pgsql.SQL(PG_TYPES[f.type])
                    )
                )
                done.append(f"column {name}.{f.name} added")
        cur.execute(
            """UPDATE monitor_meta SET schema_version = %s, schema_fingerprint = %s
            WHERE id = 1 AND (schema_version, schema_fingerprint) IS DISTINCT FROM (%s, %s)""",
            (SCHEMA_VERSION, schema_fingerprint(), SCHEMA_VERSION, schema_fingerprint()),
        )
    return done


# --------------------------------------------------------------------------------------------
# Reading


def _frame(cur: psycopg.Cursor[Any]) -> pd.DataFrame:
    """The cursor's result as a DataFrame with the dtypes DuckDB would give."""
    desc = cur.description or []
    names = [d.name for d in desc]
    rows = cur.fetchall()
    if not rows:
        return pd.DataFrame(
            {
                d.name: pd.Series(
                    dtype=_EMPTY_DTYPES.get(
                        d.type_code,
                        "int64"
                        if d.type_code in _INT_OIDS
                        else "float64"
                        if d.type_code in _FLOAT_OIDS
                        else "object",
                    )
                )
                for d in desc
            }
        )
    df = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    for d in desc:
        if d.type_code in _TIMESTAMP_OIDS:
            df[d.name] = pd.to_datetime(df[d.name]).astype("datetime64[us]")
        elif d.type_code in _FLOAT_OIDS and df[d.name].dtype == object:
            df[d.name] = df[d.name].astype("float64")
    return df


def _translate(template: str, tables: Mapping[str, str]) -> str:
    """A query template of queries.py for PostgreSQL: the tables filled in, `?` -> `%s`."""
    text = template.format(**tables)
    return text.replace("%", "%%").replace("?", "%s")


def _empty_table(name: str) -> str:
    cols = ", ".join(f'NULL::{PG_TYPES[f.type]} AS "{f.name}"' for f in SCHEMAS[name])
    return f"(SELECT {cols} WHERE false)"


@dataclass(frozen=True)
class PgSnapshot(Snapshot):
    """One committed state of the database: its commit sequence and what `monitor_meta` and
    `monitor_feeds` held then. Queries read the latest rows (a commit after this snapshot
    was taken shows up in them); the key says when to look again."""

    store: PgStore = field(repr=False, compare=False)
    seq: int = 0
    store_id: str = ""
    ready: bool = False  # the tables exist (a poller or `store migrate` created them)
    schema_version: int = 0
    updated: datetime | None = None
    feeds: Mapping[str, FeedState] = field(default_factory=dict)
    watchlist: tuple[Entity, ...] = ()
    fingerprint: str = ""
    alerts: Mapping[str, Any] = field(default_factory=dict)
    quarantined: tuple[Quarantined, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    leases: Mapping[str, tuple[str, datetime]] = field(default_factory=dict)  # owner, until
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.store.location}:{self.store_id}:{self.seq}"

    def rows(self, table: str) -> int:
        return int(self.counts.get(table, 0))

    @property
    def rollups(self) -> bool:  # type: ignore[override]
        # a database not migrated to this version's roll-ups yet is read from its rows
        return self.ready and self.schema_version >= SCHEMA_VERSION

    @property
    def story_rollups(self) -> bool:  # type: ignore[override]
        return self.rollups

    def query(self, template: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        text = _translate(template, {**{n: n for n in (*SCHEMAS, *ROLLUPS)}, **_ROLLUP_VIEWS})
        if not self.ready:  # no tables yet: empty ones of the same columns, as CTEs
            empty = ", ".join(f"{n} AS {_empty_table(n)}" for n in SCHEMAS)
            body = text.lstrip()
            if body[:4].upper() == "WITH":
                text = f"WITH {empty}, {body[4:]}"
            else:
                text = f"WITH {empty} {body}"
        return self.store._query(text, list(params))

    def time_bounds(self) -> tuple[datetime | None, datetime | None]:
        if "bounds" not in self._cache:
            if not self.ready or not self.rows("articles"):
                self._cache["bounds"] = (None, None)
            else:
                df = self.store._query(
                    "SELECT min(published) AS lo, max(published) AS hi FROM articles", []
                )
                lo, hi = df["lo"].iloc[0], df["hi"].iloc[0]
                self._cache["bounds"] = (
                    None if pd.isna(lo) else pd.Timestamp(lo).to_pydatetime(),
                    None if pd.isna(hi) else pd.Timestamp(hi).to_pydatetime(),
                )
        return self._cache["bounds"]  # type: ignore[no-any-return]

    def scan(self, table: str, start: int = 0, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """The rows of a table ordered by its (natural) key, from row `start` on."""
        if not self.ready:
            return
        schema = SCHEMAS[table]
        cols = pgsql.SQL(", ").join(_ident(f.name) for f in schema)
        order = pgsql.SQL(", ").join(_ident(c) for c in NATURAL_KEYS[table])
        query = pgsql.SQL("SELECT {} FROM {} ORDER BY {} OFFSET %s").format(
            cols, _ident(table), order
        )
        with (
            self.store._connect(autocommit=False) as con,
            con.transaction(),
            con.cursor(name=f"scan_{table}") as cur,
        ):
            cur.itersize = batch_rows
            cur.execute(query, (start,))
            while rows := cur.fetchmany(batch_rows):
                columns = list(zip(*rows, strict=True))
                yield pa.Table.from_arrays(
                    [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema,
                )

    def details(self) -> dict[str, Any]:
        if not self.ready:
            return {}
        df = self.store._query(
            """SELECT relname AS "table", pg_total_relation_size(c.oid) AS bytes
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND relname = ANY(%s)""",
            [list(SCHEMAS)],
        )
        return {"bytes": dict(zip(df["table"], df["bytes"].astype(int), strict=True))}


# --------------------------------------------------------------------------------------------
# The store


class PgStore(Store):
    """A PostgreSQL database, by its URL (`postgresql://user@host:port/dbname`)."""

    kind = "postgresql"
    shared = True

    def __init__(self, url: str):
        self.url = url
        self._secrets = url_secrets(url)
        self._pool: Any = None
        self._lock = threading.Lock()
        self._cache: PgSnapshot | None = None
        self._checked = ""  # the schema fingerprint whose columns were found all present
        self._leads: dict[str, psycopg.Connection[Any]] = {}
        self._lead_retry: dict[str, float] = {}
        self._pollers: list[psycopg.Connection[Any]] = []
        self._migrated = False
        self._writers: weakref.WeakSet[PgWriter] = weakref.WeakSet()
        _OPEN.add(self)

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def _error(self, what: str, exc: BaseException) -> StoreError:
        text = redact_text(_one_line(exc), self._secrets)
        return StoreError(f"{what} the PostgreSQL store at {self.location}: {text}")

    # connections -----------------------------------------------------------------------------
    def _connect(self, autocommit: bool = True) -> psycopg.Connection[Any]:
        """A connection of its own (writers, locks held by a session, long reads)."""
        try:
            return psycopg.connect(
                self.url, autocommit=autocommit, connect_timeout=10, application_name="monitor"
            )
        except psycopg.Error as exc:
            raise self._error("cannot connect to", exc) from exc

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the store's pool (readers: the dashboard's threads share it)."""
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._connect().close()  # fail fast, with the server's reason
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=4,
                    timeout=30,
                    kwargs={"autocommit": True, "application_name": "monitor"},
                    open=True,
                )
                atexit.register(self.close)
        try:
            with self._pool.connection() as con:
                yield con
        except psycopg.OperationalError as exc:
            raise self._error("lost the connection to", exc) from exc
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise self._error("cannot connect to", exc) from exc
            raise

    def _query(self, query: Any, params: Sequence[Any]) -> pd.DataFrame:
        with self._pooled() as con:
            try:
                with con.cursor() as cur:
                    cur.execute(query, params)
                    return _frame(cur)
            except psycopg.errors.UndefinedColumn as exc:
                raise StoreError(
                    f"query failed: {_one_line(exc)} (the database's schema is older than this "
                    "version of monitor: run `monitor store migrate`)"
                ) from exc
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise StoreError(f"query failed: {_one_line(exc)}") from exc

    def close(self) -> None:
        for writer in list(self._writers):  # first: a commit in flight ends (it reads a snapshot)
            writer.close()
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            for con in [*self._leads.values(), *self._pollers]:
                with contextlib.suppress(psycopg.Error):
                    con.execute("SELECT pg_advisory_unlock_all()")
                con.close()
            self._leads.clear()
            self._pollers.clear()

    # schema ----------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        with self._connect() as con:
            try:
                done = _migrate(con)
            except psycopg.Error as exc:
                raise self._error("cannot migrate", exc) from exc
        self._migrated = True
        return done

    def _ensure_schema(self) -> None:
        """Writers: migrate on start (once per process)."""
        if not self._migrated:
            self.migrate()

    def exists(self) -> bool:
        return self.snapshot().ready

    # reading ---------------------------------------------------------------------------------
    def snapshot(self) -> PgSnapshot:
        try:
            with self._pooled() as con, con.cursor() as cur:
                try:
                    cur.execute(
                        """SELECT seq, store_id, updated, watchlist, fingerprint, alerts, rows,
                               schema_version, schema_fingerprint FROM monitor_meta WHERE id = 1"""
                    )
                except psycopg.errors.UndefinedTable:
                    return PgSnapshot(store=self)
                meta = cur.fetchone()
                if meta is None:
                    return PgSnapshot(store=self)
                seq, store_id = int(meta[0]), str(meta[1])
                cached = self._cache
                if cached is not None and cached.seq == seq and cached.store_id == store_id:
                    return cached
                self._check_columns(cur, int(meta[7]), str(meta[8]))
                cur.execute(
                    """SELECT url, state, articles, lease_owner, lease_until FROM monitor_feeds
                    WHERE state IS NOT NULL AND state <> 'null'::jsonb"""
                )
                feeds: dict[str, FeedState] = {}
                leases: dict[str, tuple[str, datetime]] = {}
                for url, state, articles, owner, until in cur.fetchall():
                    st = state_from_json({**state, "url": url})
                    st.articles = int(articles)
                    feeds[url] = st
                    if owner and until:
                        leases[url] = (owner, until)
        except psycopg.OperationalError as exc:
            raise self._error("cannot read", exc) from exc
        except psycopg.Error as exc:
            raise self._error("cannot read", exc) from exc
        snap = PgSnapshot(
            store=self,
            seq=seq,
            store_id=store_id,
            ready=True,
            schema_version=int(meta[7]),
            updated=meta[2],
            feeds=feeds,
            watchlist=tuple(entity_from_json(e) for e in meta[3] or []),
            fingerprint=str(meta[4] or ""),
            alerts=dict(meta[5] or {}),
            counts={k: int(v) for k, v in (meta[6] or {}).items()},
            leases=leases,
        )
        self._cache = snap
        return snap

    def _check_columns(self, cur: psycopg.Cursor[Any], version: int, fingerprint: str) -> None:
        """Readers never migrate, but say so when the tables lack columns this version reads."""
        if fingerprint == schema_fingerprint() or version > SCHEMA_VERSION:
            return
        if self._checked == fingerprint:
            return
        missing = _missing_columns(cur)
        if missing:
            name, fields = next(iter(missing.items()))
            raise StoreError(
                f"the PostgreSQL store at {self.location} lacks {name}.{fields[0].name}: its "
                "schema is older than this version of monitor; run `monitor store migrate` "
                "(pollers of this version do it when they start)"
            )
        self._checked = fingerprint

    # pollers ---------------------------------------------------------------------------------
    def writer(self, log: Log | None = None, poller: str = "") -> PgWriter:
        self._ensure_schema()
        writer = PgWriter(self, log=log, poller=poller)
        self._writers.add(writer)
        return writer

    @contextlib.contextmanager
    def poller_lock(self, poller: str = "") -> Iterator[None]:
        """Held by each running poller (a shared advisory lock: any number may hold it), so
        that `poller_running` can tell; migrates the schema first."""
        self._ensure_schema()
        con = self._connect()
        try:
            con.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOCK_CLASS, LOCK_POLLERS))
            self._pollers.append(con)
            yield
        finally:
            with contextlib.suppress(ValueError):
                self._pollers.remove(con)
            with contextlib.suppress(psycopg.Error):  # closing releases it too, a little later
                con.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (LOCK_CLASS, LOCK_POLLERS))
            con.close()
            for task in list(self._leads):
                self._leads.pop(task).close()

    def poller_running(self) -> bool:
        df = self._query(
            """SELECT count(*) AS n FROM pg_locks
            WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            [LOCK_CLASS, LOCK_POLLERS],
        )
        return bool(df["n"].iloc[0])

    def lead(self, task: str) -> bool:
        """One process at a time leads a task (a session advisory lock); when it dies or
        stops, the database releases the lock and another poller takes over."""
        with self._lock:
            con = self._leads.get(task)
            if con is not None:
                try:
                    con.execute("SELECT 1")
                    return True
                except psycopg.Error:
                    con.close()
                    del self._leads[task]
            if time.monotonic() < self._lead_retry.get(task, 0.0):
                return False
            try:
                con = self._connect()
                got = con.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, _lead_lock(task))
                ).fetchone()
            except (psycopg.Error, StoreError):
                self._lead_retry[task] = time.monotonic() + LEAD_RETRY
                return False
            if got and got[0]:
                self._leads[task] = con
                return True
            con.close()
            self._lead_retry[task] = time.monotonic() + LEAD_RETRY
            return False

    # whole-store operations --------------------------------------------------------------------
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
        """See `Store.replace_analyses`. One transaction, under the recount lock (commits
        wait): readers see the old rows until it commits."""
        self._ensure_schema()
        entities = list(watchlist)
        tables = ("mentions",) if mentions_only else ("mentions", "stories", "names")
        rows = 0
        with self._connect(autocommit=False) as con:
            try:
                with con.transaction(), con.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_RECOUNT))
                    cur.execute(
                        "SELECT fingerprint, rows FROM monitor_meta WHERE id = 1 FOR UPDATE"
                    )
                    stored, counts = cur.fetchone()  # type: ignore[misc]
                    if not force and fingerprint and stored == fingerprint:
                        return 0
                    counts = dict(counts or {})
                    total = int(counts.get("articles", 0))
                    for name in tables:
                        cur.execute(pgsql.SQL("DELETE FROM {}").format(_ident(name)))
                    written = dict.fromkeys(tables, 0)
                    done = 0
                    with con.cursor(name="reanalyse") as read:
                        read.itersize = chunk
                        read.execute(
                            """SELECT a.id, a.published, a.title, coalesce(p.text, a.text),
                                a.feed, s.story
                            FROM articles a LEFT JOIN stories s ON s.article_id = a.id
                            LEFT JOIN (SELECT DISTINCT ON (article_id) article_id, text
                                FROM pages WHERE status = 'ok'
                                ORDER BY article_id, attempt DESC) p ON p.article_id = a.id
                            ORDER BY a.published, a.id"""
                        )
                        while batch := read.fetchmany(chunk):
                            out: dict[str, list[tuple[Any, ...]]] = {n: [] for n in tables}
                            for (aid, e), row in zip(analyse(batch), batch, strict=True):
                                when = row[1]
                                for entity, n in e.counts.items():
                                    out["mentions"].append(
                                        (aid, entity, n, when, e.tones.get(entity), e.story)
                                    )
                                if not mentions_only:
                                    out["stories"].append((aid, e.story, when))
                                    out["names"].extend((aid, k, f, when) for k, f in e.names)
                            for name in tables:
                                _copy_rows(cur, name, out[name])
                                written[name] += len(out[name])
                            done += len(batch)
                            if progress:
                                progress(done, total)
                    rows = written["mentions"]
                    counts.update(written)
                    for statement in MENTION_ROLLUPS:  # the articles' are unchanged
                        cur.execute(statement)  # type: ignore[arg-type]
                    cur.execute(
                        """UPDATE monitor_meta SET seq = seq + 1,
                            updated = now() AT TIME ZONE 'UTC', rows = %s, watchlist = %s,
                            fingerprint = %s WHERE id = 1""",
                        (
                            Jsonb(counts),
                            Jsonb([entity_to_json(e) for e in entities]),
                            fingerprint,
                        ),
                    )
            except psycopg.Error as exc:
                raise self._error("cannot recount mentions in", exc) from exc
        return rows

    def update_alerts(
        self,
        change: Callable[[dict[str, Any]], None],
        *,
        firings: Sequence[Mapping[str, Any]] = (),
        deliveries: Sequence[Mapping[str, Any]] = (),
    ) -> PgSnapshot:
        self._ensure_schema()
        with self._connect(autocommit=False) as con:
            try:
                with con.transaction(), con.cursor() as cur:
                    cur.execute("SELECT alerts, rows FROM monitor_meta WHERE id = 1 FOR UPDATE")
                    alerts, counts = cur.fetchone()  # type: ignore[misc]
                    state = dict(alerts or {})
                    change(state)
                    counts = dict(counts or {})
                    for name, rows in (("firings", firings), ("deliveries", deliveries)):
                        if rows:
                            cols = SCHEMAS[name].names
                            _copy_rows(cur, name, [tuple(r.get(c) for c in cols) for r in rows])
                            counts[name] = int(counts.get(name, 0)) + len(rows)
                    cur.execute(
                        """UPDATE monitor_meta SET alerts = %s, rows = %s, seq = seq + 1,
                            updated = now() AT TIME ZONE 'UTC' WHERE id = 1""",
                        (Jsonb(_clean(json.loads(json.dumps(state, default=str)))), Jsonb(counts)),
                    )
            except psycopg.Error as exc:
                raise self._error("cannot write the alert state to", exc) from exc
        return self.snapshot()

    def labels(self) -> dict[str, Any]:
        """What the store was marked with (`monitor demo` marks the stores it fills)."""
        if not self.exists():
            return {}
        with self._connect() as con:
            row = con.execute("SELECT labels FROM monitor_meta WHERE id = 1").fetchone()
        return dict(row[0]) if row and row[0] else {}

    def erase(self, labels: Mapping[str, Any]) -> None:
        """Empty every table and give the store a new id, keeping the schema; then mark it
        with `labels`. Only `monitor demo` does this, and only to a store it filled."""
        self._ensure_schema()
        tables = pgsql.SQL(", ").join(_ident(t) for t in [*SCHEMAS, *ROLLUPS, "monitor_feeds"])
        with self._connect(autocommit=False) as con, con.transaction(), con.cursor() as cur:
            cur.execute(pgsql.SQL("TRUNCATE {}").format(tables))
            cur.execute(
                """UPDATE monitor_meta SET store_id = %s, seq = seq + 1, watchlist = '[]',
                fingerprint = '', alerts = '{}', rows = '{}', copy = NULL, labels = %s,
                updated = now() AT TIME ZONE 'UTC' WHERE id = 1""",
                (uuid.uuid4().hex, Jsonb(dict(labels))),
            )

    def bulk(self) -> PgBulk:
        self._ensure_schema()
        return PgBulk(self)

    def check(self) -> Health:
        from .pgcheck import check

        return check(self)

    def repair(self, log: Log | None = None) -> RepairReport:
        from .pgcheck import repair

        return repair(self, log)


def _clean(value: Any) -> Any:
    """PostgreSQL's text cannot hold NUL characters, which feed text may carry: they become
    U+FFFD (the embedded store keeps them as they are)."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _copy_rows(
    cur: psycopg.Cursor[Any], table: str, rows: Sequence[Sequence[Any]], into: str = ""
) -> None:
    """COPY rows (tuples in SCHEMAS[table]'s column order) into a table (or `into`)."""
    if not rows:
        return
    cols = pgsql.SQL(", ").join(_ident(f.name) for f in SCHEMAS[table])
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(_ident(into or table), cols)
    texts = [i for i, f in enumerate(SCHEMAS[table]) if f.type == pa.string()]
    with cur.copy(statement) as copy:
        for row in rows:
            if any(isinstance(row[i], str) and "\x00" in row[i] for i in texts):
                row = tuple(_clean(v) for v in row)
            copy.write_row(row)


# --------------------------------------------------------------------------------------------
# `store copy` into this database


class PgBulk(BulkTarget):
    """Each batch is COPYed (as CSV, written by pyarrow) into a temporary table and inserted
    (keyed tables: `ON CONFLICT DO NOTHING`) in one transaction with the copy's progress,
    kept in `monitor_meta.copy`."""

    def __init__(self, store: PgStore):
        self.store = store
        self.con: psycopg.Connection[Any] | None = None

    def _con(self) -> psycopg.Connection[Any]:
        if self.con is None or self.con.closed:
            self.con = self.store._connect()
        return self.con

    def progress(self) -> dict[str, Any] | None:
        row = self._con().execute("SELECT copy FROM monitor_meta WHERE id = 1").fetchone()
        return dict(row[0]) if row and row[0] else None

    def is_empty(self) -> bool:
        snap = self.store.snapshot()
        if snap.feeds or any(snap.rows(t) for t in SCHEMAS):
            return False
        con = self._con()
        return not any(
            con.execute(pgsql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(_ident(t))).fetchone()[
                0
            ]  # type: ignore[index]
            for t in SCHEMAS
        )

    def begin(self, source: str) -> None:
        self._con().execute(
            "UPDATE monitor_meta SET copy = %s WHERE id = 1",
            (Jsonb({"source": source, "tables": {}, "done": False}),),
        )

    def append(self, table: str, rows: pa.Table, done: int) -> None:
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        schema = SCHEMAS[table]
        rows = rows.select(schema.names)
        for i, f in enumerate(schema):
            if f.type == pa.string():
                rows = rows.set_column(i, f, pc.replace_substring(rows.column(i), "\x00", "\ufffd"))
        data = io.BytesIO()
        pacsv.write_csv(
            rows,
            data,
            pacsv.WriteOptions(include_header=False, quoting_style="all_valid"),
        )
        cols = pgsql.SQL(", ").join(_ident(f.name) for f in schema)
        types = pgsql.SQL(", ").join(
            pgsql.SQL("{} {}").format(_ident(f.name), pgsql.SQL(PG_TYPES[f.type])) for f in schema
        )
        conflict = pgsql.SQL(" ON CONFLICT DO NOTHING" if table in KEYS else "")
        con = self._con()
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute(
                    pgsql.SQL("CREATE TEMP TABLE copy_in ({}) ON COMMIT DROP").format(types)
                )
                with cur.copy(
                    pgsql.SQL("COPY copy_in ({}) FROM STDIN (FORMAT csv)").format(cols)
                ) as copy:
                    copy.write(data.getvalue())
                cur.execute(
                    pgsql.SQL("INSERT INTO {} ({}) SELECT {} FROM copy_in{}").format(
                        _ident(table), cols, cols, conflict
                    )
                )
                inserted = cur.rowcount
                cur.execute(
                    """UPDATE monitor_meta SET
                        copy = jsonb_set(copy, ARRAY['tables', %s], to_jsonb(%s::bigint)),
                        rows = jsonb_set(rows, ARRAY[%s], to_jsonb(
                            coalesce((rows ->> %s)::bigint, 0) + %s)),
                        seq = seq + 1, updated = now() AT TIME ZONE 'UTC'
                    WHERE id = 1""",
                    (table, done, table, table, inserted),
                )
        except psycopg.Error as exc:
            raise self.store._error(f"cannot copy {table} into", exc) from exc

    def finish(self, snap: Snapshot) -> None:
        con = self._con()
        try:
            with con.transaction(), con.cursor() as cur:
                for url, st in sorted(snap.feeds.items()):
                    state = state_to_json(st)
                    state.pop("articles", None)
                    cur.execute(
                        """INSERT INTO monitor_feeds AS f (url, state, articles, version)
                        VALUES (%s, %s, %s, 1)
                        ON CONFLICT (url) DO UPDATE SET state = excluded.state,
                            articles = excluded.articles, version = f.version + 1""",
                        (url, Jsonb(_clean(state)), st.articles),
                    )
                for statement in REBUILD_ROLLUPS:
                    cur.execute(statement)  # type: ignore[arg-type]
                counts = {}
                for table in SCHEMAS:
                    cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(_ident(table)))
                    counts[table] = int(cur.fetchone()[0])  # type: ignore[index]
                cur.execute(
                    """UPDATE monitor_meta SET watchlist = %s, fingerprint = %s, alerts = %s,
                        rows = %s, copy = jsonb_set(copy, '{done}', 'true'), seq = seq + 1,
                        updated = now() AT TIME ZONE 'UTC' WHERE id = 1""",
                    (
                        Jsonb([entity_to_json(e) for e in snap.watchlist]),
                        snap.fingerprint,
                        Jsonb(_clean(json.loads(json.dumps(dict(snap.alerts), default=str)))),
                        Jsonb(counts),
                    ),
                )
        except psycopg.Error as exc:
            raise self.store._error("cannot finish the copy into", exc) from exc
        finally:
            con.close()


# --------------------------------------------------------------------------------------------
# Writing


def _entities(
    watchlist: tuple[Iterable[Entity], str] | None,
) -> tuple[list[Entity], str] | None:
    return (list(watchlist[0]), watchlist[1]) if watchlist is not None else None


def _take_slot(cur: psycopg.Cursor[Any]) -> int:
    """A slot of the daily sums no other connection holds, held by this one's session (the
    database frees it with the connection); 0 (shared) when all are taken."""
    for slot in range(1, SLOTS + 1):
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_SLOT + slot))
        if cur.fetchone()[0]:  # type: ignore[index]
            return slot
    return 0


class PgWriter(BufferedWriter):
    """Buffers a poll's rows and commits them in one transaction (see the module docstring).

    The dedup index holds what this writer wrote and what `prepare` looked up; the database's
    keys decide the rest, so rows another poller stored meanwhile are skipped at commit."""

    def __init__(self, store: PgStore, log: Log | None = None, poller: str = ""):
        super().__init__(log)
        self.store = store
        self.poller = poller or f"writer-{uuid.uuid4().hex[:8]}"
        self.con: psycopg.Connection[Any] | None = None
        self._versions: dict[str, int] = {}  # feed -> version of the state this writer read
        self._claimed: set[str] = set()  # feeds leased to this poller, state not committed
        self._renewed = 0.0
        self.slot = 0  # this writer's rows of the daily sums (taken with its connection)
        # background commits (`commit_later`): the one in flight (its rows, its result), the
        # thread running them, and their connection and slot between commits
        self._inflight: tuple[PgWriter, Future[PgSnapshot]] | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._later_con: psycopg.Connection[Any] | None = None
        self._later_slot = 0
        self.written: dict[str, int] = {}  # feed -> version of the state the last commit wrote

    # connection ------------------------------------------------------------------------------
    def _con(self) -> psycopg.Connection[Any]:
        if self.con is None or self.con.closed or self.con.broken:
            self.con = self.store._connect(autocommit=True)
            with self.con.cursor() as cur:
                for name in _TEMP_TABLES:
                    cols = pgsql.SQL(", ").join(
                        pgsql.SQL("{} {}").format(_ident(f.name), pgsql.SQL(PG_TYPES[f.type]))
                        for f in SCHEMAS[name]
                    )
                    cur.execute(
                        pgsql.SQL("CREATE TEMP TABLE {} ({})").format(_ident(f"new_{name}"), cols)
                    )
                self.slot = _take_slot(cur)
        return self.con

    def close(self) -> None:
        """Close the connections, after the commit in flight ended (see `commit_later`)."""
        if self._inflight is not None:
            with contextlib.suppress(StoreError):
                self._finish()
        if self._committer is not None:
            self._committer.shutdown(wait=True)
            self._committer = None
        for con in (self.con, self._later_con):
            if con is not None:
                con.close()
        self.con = self._later_con = None

    def _empty_temp(self) -> None:
        """Empty the temporary tables after a commit, in a transaction of its own. (Emptied
        by the commit itself, `ON COMMIT DELETE ROWS`, their files were truncated while the
        commit still held the commit sequence's row, which every other poller's commit
        waits for: the largest wait left between two pollers.) Should that fail, the
        connection is dropped, and its temporary tables with it."""
        try:
            if self.con is not None:
                self.con.execute(_EMPTY_TEMP)
        except psycopg.Error:
            self.close()

    def _run(self, what: str, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        """Run `fn` on the writer's connection, once more after a lost connection."""
        for attempt in range(2):
            con = self._con()
            try:
                return fn(con)
            except psycopg.OperationalError as exc:
                self.close()
                if attempt:
                    raise self.store._error(f"cannot {what}", exc) from exc
            except psycopg.Error as exc:
                raise self.store._error(f"cannot {what}", exc) from exc
        raise AssertionError("not reached")

    # feed state and leases -----------------------------------------------------------------
    def current_states(self, feeds: Sequence[str] | None) -> dict[str, FeedState]:
        def read(con: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            where = "" if feeds is None else "AND url = ANY(%s)"
            return con.execute(
                f"""SELECT url, state, articles, version FROM monitor_feeds
                WHERE state IS NOT NULL AND state <> 'null'::jsonb {where}""",  # type: ignore[arg-type]
                () if feeds is None else (list(feeds),),
            ).fetchall()

        out: dict[str, FeedState] = {}
        for url, state, articles, version in self._run("read the feed state of", read):
            st = state_from_json({**state, "url": url})
            st.articles = int(articles)
            out[url] = st
            self._versions[url] = int(version)
        committing = self._inflight[0].feed_states if self._inflight else {}
        for url, st in {**committing, **self.feed_states}.items():
            if feeds is None or url in feeds:
                out[url] = st
        return out

    def _committing_feeds(self) -> set[str]:
        """The feeds whose state the commit in flight writes (and whose leases it releases:
        renewing them meanwhile would wait for its locks on their rows)."""
        return set(self._inflight[0].feed_states) if self._inflight else set()

    def claim(
        self, feeds: Sequence[str], due: Callable[[FeedState | None], bool], now: datetime
    ) -> Claim:
        """Lock the feeds' rows (skipping those another poller is claiming this instant), and
        lease to this poller those that are due and that no live lease holds."""
        if not feeds:
            return Claim(won={})

        def claim(con: psycopg.Connection[Any]) -> Claim:
            won: dict[str, FeedState | None] = {}
            busy: dict[str, datetime] = {}
            with con.transaction(), con.cursor() as cur:
                cur.execute(_LEASE_COMMIT)
                cur.execute("SELECT now() AT TIME ZONE 'UTC'")
                db_now = cur.fetchone()[0]  # type: ignore[index]
                until = db_now + LEASE
                cur.execute(
                    """SELECT url, state, articles, version, lease_owner, lease_until
                    FROM monitor_feeds WHERE url = ANY(%s) ORDER BY url
                    FOR UPDATE SKIP LOCKED""",
                    (list(feeds),),
                )
                locked = cur.fetchall()
                present = {r[0] for r in locked}
                for url, state, articles, version, owner, lease_until in locked:
                    self._versions[url] = int(version)
                    if owner and owner != self.poller and lease_until and lease_until > db_now:
                        busy[url] = lease_until.replace(tzinfo=UTC)
                        continue
                    st = None
                    if state is not None and state != "null":
                        st = state_from_json({**state, "url": url})
                        st.articles = int(articles)
                    if due(st):
                        won[url] = st
                new = [u for u in feeds if u not in present]
                if new:
                    # never polled: whoever inserts the row has it (the others see it locked,
                    # or leased)
                    cur.execute(
                        """INSERT INTO monitor_feeds (url, state, lease_owner, lease_until)
                        SELECT u, NULL, %s, %s FROM unnest(%s::text[]) AS u ORDER BY u
                        ON CONFLICT (url) DO NOTHING RETURNING url""",
                        (self.poller, until, sorted(new)),
                    )
                    inserted = {r[0] for r in cur.fetchall()}
                    for url in new:
                        if url in inserted:
                            won[url] = None
                            self._versions[url] = 0
                        else:
                            busy[url] = (db_now + timedelta(seconds=5)).replace(tzinfo=UTC)
                skipped = present.symmetric_difference(r[0] for r in locked)
                for url in set(feeds) - present - set(new) - skipped:
                    busy[url] = (db_now + timedelta(seconds=5)).replace(tzinfo=UTC)
                leased = sorted(u for u in won if u in present)
                if leased:
                    cur.execute(
                        """UPDATE monitor_feeds SET lease_owner = %s, lease_until = %s
                        WHERE url = ANY(%s)""",
                        (self.poller, until, leased),
                    )
            return Claim(won=won, busy=busy)

        claim_ = self._run("claim feeds in", claim)
        self._claimed.update(claim_.won)
        self._renewed = time.monotonic()
        return claim_

    def heartbeat(self) -> None:
        if not self._claimed or time.monotonic() - self._renewed < RENEW_EVERY:
            return
        self._renewed = time.monotonic()
        claimed = sorted(self._claimed - self._committing_feeds())
        if not claimed:
            return

        def renew(con: psycopg.Connection[Any]) -> None:
            with con.transaction():
                con.execute(_LEASE_COMMIT)
                con.execute(
                    """UPDATE monitor_feeds SET lease_until = now() AT TIME ZONE 'UTC' + %s
                    WHERE lease_owner = %s AND url = ANY(%s)""",
                    (LEASE, self.poller, claimed),
                )

        self._run("renew leases in", renew)

    def release(self) -> None:
        claimed = sorted(self._claimed - self._committing_feeds())
        if not claimed:
            return

        def release(con: psycopg.Connection[Any]) -> None:
            with con.transaction():
                con.execute(_LEASE_COMMIT)
                con.execute(
                    """DELETE FROM monitor_feeds WHERE lease_owner = %s AND url = ANY(%s)
                    AND state IS NULL AND articles = 0""",
                    (self.poller, claimed),
                )
                con.execute(
                    """UPDATE monitor_feeds SET lease_owner = NULL, lease_until = NULL
                    WHERE lease_owner = %s AND url = ANY(%s)""",
                    (self.poller, claimed),
                )

        with contextlib.suppress(StoreError):
            self._run("release leases in", release)
        self._claimed.clear()

    # lookups ---------------------------------------------------------------------------------
    def prepare(self, feed: str, keys: Iterable[int]) -> None:
        """Load into the dedup index what the database holds of these article ids and entry
        keys of `feed` (what another poller stored, or this one before it started)."""
        unknown = sorted({k for k in keys if k not in self.articles and k not in self.entries})
        if not unknown:
            return

        def look(con: psycopg.Connection[Any]) -> list[Any]:
            # one round trip (a poll makes one per feed): the stored ids (entry NULL, seen
            # NULL), then the feed's sources rows
            return con.execute(
                """SELECT id, NULL::bigint, NULL::timestamp, true FROM articles
                WHERE id = ANY(%(keys)s::bigint[])
                UNION ALL
                SELECT article_id, entry, seen, false FROM sources WHERE feed = %(feed)s
                AND (article_id = ANY(%(keys)s::bigint[]) OR entry = ANY(%(keys)s::bigint[]))""",
                {"keys": unknown, "feed": feed},
            ).fetchall()

        found = self._run("look up articles in", look)
        rows = [r[:3] for r in found if not r[3]]
        for aid, _, _, stored in found:
            if stored:
                self.articles.add(int(aid))
        legacy_pairs, legacy_seen, keyed = [], [], []
        for aid, entry, seen in rows:
            pair = source_key(int(aid), feed)
            self.sources.add(pair)
            if entry is not None:
                self.entries.add(int(entry))
                keyed.append(pair)
            else:
                legacy_pairs.append(pair)
                legacy_seen.append(int((seen - datetime(1970, 1, 1)) / timedelta(microseconds=1)))
        if legacy_pairs:
            self.legacy.add(
                np.array(legacy_pairs, dtype=np.int64),
                np.array(legacy_seen, dtype=np.int64),
                np.array(keyed, dtype=np.int64),
            )

    # committing ------------------------------------------------------------------------------
    def commit(
        self,
        *,
        watchlist: tuple[Iterable[Entity], str] | None = None,
        on_commit: Callable[[Snapshot], None] | None = None,
    ) -> PgSnapshot:
        waited = self._inflight is not None
        done = self._finish()  # the commit in flight first (its rows put back if it failed)
        if waited and not (self.pending or self.feed_states):
            snap = done or self.store.snapshot()
        else:
            self._write(_entities(watchlist))
            self._claimed -= set(self.feed_states)
            self._reset_buffers()
            snap = self.store.snapshot()
        if on_commit:
            on_commit(snap)
        return snap

    def commit_later(
        self, *, watchlist: tuple[Iterable[Entity], str] | None = None
    ) -> PgSnapshot | None:
        """Hand the buffered rows over to a commit in the background, on a connection of its
        own, so that the poller goes on fetching and parsing meanwhile; at most one is in
        flight (this waits for the one before). Returns the snapshot of the commit before,
        when it succeeded. A commit that fails puts its rows back into the buffers, ahead of
        those buffered since, so that the next commit stores them (nothing is lost, and the
        database's keys store nothing twice); `commit` and `close` wait for it."""
        done = self._finish()
        if not (self.pending or self.feed_states):
            return done
        batch = copy.copy(self)  # the buffers' lists go with it; this writer gets new ones
        batch.con, batch.slot = self._later_con, self._later_slot
        batch._versions = dict(self._versions)
        batch._inflight, batch._committer, batch._later_con = None, None, None
        batch.other_analyses = False
        self._reset_buffers()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="monitor-commit")
        future = self._committer.submit(batch._commit_later, _entities(watchlist))
        self._inflight = (batch, future)
        return done

    @property
    def committing(self) -> bool:
        return self._inflight is not None

    def _commit_later(self, watchlist: tuple[list[Entity], str] | None) -> PgSnapshot:
        """(In the committing thread, on the batch handed over.)"""
        self._write(watchlist)
        return self.store.snapshot()

    def _finish(self) -> PgSnapshot | None:
        """Wait for the commit in flight, if any: its snapshot, or None when there was none
        or it failed (its rows then back in the buffers, and why in the log)."""
        if self._inflight is None:
            return None
        batch, future = self._inflight
        self._inflight = None
        try:
            snap = future.result()
        except StoreError as exc:
            self._put_back(batch)
            self.log(f"store: a commit failed; its rows are kept for the next one: {exc}")
            return None
        except BaseException:
            self._put_back(batch)
            raise
        finally:
            self._later_con, self._later_slot = batch.con, batch.slot
        self._claimed -= set(batch.feed_states)
        self._versions.update(batch.written)
        self.other_analyses = self.other_analyses or batch.other_analyses
        return snap

    def _put_back(self, batch: PgWriter) -> None:
        """The rows of a commit that failed, ahead of those buffered since (a feed's newer
        state and an article's newer recount win)."""
        self.new_articles[:0] = batch.new_articles
        self.new_sources[:0] = batch.new_sources
        self.new_mentions[:0] = batch.new_mentions
        self.new_stories[:0] = batch.new_stories
        self.new_names[:0] = batch.new_names
        self.new_fetches[:0] = batch.new_fetches
        self.new_pages[:0] = batch.new_pages
        self.feed_states = {**batch.feed_states, **self.feed_states}
        self.recounted = {**batch.recounted, **self.recounted}
        for feed, n in batch.source_counts.items():
            self.source_counts[feed] = self.source_counts.get(feed, 0) + n

    def _write(self, watchlist: tuple[list[Entity], str] | None) -> None:
        """Commit the buffered rows (retried after a deadlock), then empty the temporary
        tables; raises StoreError, the buffers kept."""
        for attempt in range(COMMIT_RETRIES):
            try:
                self.written = self._run("write to", lambda con: self._commit(con, watchlist))
                break
            except StoreError as exc:
                cause = exc.__cause__
                retry = isinstance(
                    cause, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
                )
                if not retry or attempt == COMMIT_RETRIES - 1:
                    raise
        self._versions.update(self.written)
        self._empty_temp()

    def _commit(
        self, con: psycopg.Connection[Any], watchlist: tuple[list[Entity], str] | None
    ) -> dict[str, int]:
        fetches = [dict(r) for r in self.new_fetches]
        with con.transaction(), con.cursor() as cur:
            # a recount in progress holds this lock exclusively: wait for it
            cur.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (LOCK_CLASS, LOCK_RECOUNT))
            inserted: set[int] = set()
            lost: set[int] = set()
            mentions = stories = names = 0
            if self.new_articles:
                _copy_temp(cur, "articles", [_article_row(a) for a in self.new_articles])
                _copy_temp(cur, "mentions", self._recounted_rows("mentions", self.new_mentions))
                _copy_temp(cur, "stories", self.new_stories)
                _copy_temp(cur, "names", self._recounted_rows("names", self.new_names))
                cur.execute(_INSERT_ARTICLES, {"slot": self.slot})
                ids, mentions, stories, names, _ = cur.fetchone()  # type: ignore[misc]
                inserted = set(ids or ())
                if inserted:
                    for statement in COMMIT_STORY_ROLLUPS:
                        cur.execute(statement, {"ids": sorted(inserted), "slot": self.slot})  # type: ignore[arg-type]
                lost = {a.id for a in self.new_articles} - inserted
            stored = self._stored_recounts()
            if stored:  # articles counted again on their pages: their rows replaced
                more_mentions, more_names = self._recount_stored(cur, sorted(stored))
                mentions, names = mentions + more_mentions, names + more_names
            pages = 0
            if self.new_pages:
                cols = SCHEMAS["pages"].names
                _copy_temp(cur, "pages", [tuple(_naive(r.get(c)) for c in cols)
                                          for r in self.new_pages])  # fmt: skip
                cur.execute(_INSERT_PAGES)
                pages = cur.rowcount
            # stored by another poller meanwhile: not new after all
            discounts = self._discount(lost, fetches) if lost else {}
            per_feed: dict[str, int] = {}
            if self.new_sources:
                _copy_temp(cur, "sources", self.new_sources)
                cur.execute(_INSERT_SOURCES)
                per_feed = {feed: int(n) for feed, n in cur.fetchall()}
            if fetches:
                cols = SCHEMAS["fetches"].names
                _copy_rows(cur, "fetches", [tuple(r.get(c) for c in cols) for r in fetches])
            versions = self._write_states(cur, discounts)
            if per_feed:
                urls = sorted(per_feed)
                cur.execute(
                    """INSERT INTO monitor_feeds AS f (url, state, articles)
                    SELECT u, NULL, n FROM unnest(%s::text[], %s::bigint[]) AS t(u, n)
                    ORDER BY u
                    ON CONFLICT (url) DO UPDATE SET articles = f.articles + excluded.articles""",
                    (urls, [per_feed[u] for u in urls]),
                )
            cur.execute(
                "SELECT rows, fingerprint, watchlist FROM monitor_meta WHERE id = 1 FOR UPDATE"
            )
            counts, stored_fp, _ = cur.fetchone()  # type: ignore[misc]
            counts = dict(counts or {})
            empty = not counts.get("articles")
            for name, n in (
                ("articles", len(inserted)),
                ("mentions", mentions),
                ("stories", stories),
                ("names", names),
                ("pages", pages),
                ("sources", sum(per_feed.values())),
                ("fetches", len(fetches)),
            ):
                counts[name] = int(counts.get(name, 0)) + int(n)
            set_watchlist = ""
            params: list[Any] = [Jsonb(counts)]
            if watchlist is not None:
                entities, fingerprint = watchlist
                if stored_fp in ("", fingerprint) or empty:
                    set_watchlist = ", watchlist = %s, fingerprint = %s"
                    params += [Jsonb([entity_to_json(e) for e in entities]), fingerprint]
                else:
                    self.other_analyses = True  # the store's analyses are another poller's
            cur.execute(
                f"""UPDATE monitor_meta SET seq = seq + 1, updated = now() AT TIME ZONE 'UTC',
                rows = %s{set_watchlist} WHERE id = 1""",  # type: ignore[arg-type]
                params,
            )
        self.new_fetches = fetches
        for feed, n in discounts.items():  # committed: the poller's own states say so too
            if (st := self.feed_states.get(feed)) is not None:
                st.last_new = max(st.last_new - n, 0)
        return versions

    def _recount_stored(self, cur: psycopg.Cursor[Any], ids: list[int]) -> tuple[int, int]:
        """Replace the stored mention and name rows of these articles with their recounted
        ones (and the daily sums with them); the change in the number of rows of each."""
        params = {"ids": ids, "slot": self.slot}
        cur.execute(_DELETE_RECOUNTED, params)
        gone_mentions, gone_names, _ = cur.fetchone()  # type: ignore[misc]
        for statement in _DROP_EMPTY_SUMS:
            cur.execute(statement, params)  # type: ignore[arg-type]
        cur.execute("DELETE FROM new_mentions")
        cur.execute("DELETE FROM new_names")
        _copy_temp(cur, "mentions", [r for i in ids for r in self.recounted[i][1]])
        _copy_temp(cur, "names", [r for i in ids for r in self.recounted[i][2]])
        cur.execute(_INSERT_RECOUNTED, params)
        mentions, names, _ = cur.fetchone()  # type: ignore[misc]
        for statement in RECOUNT_STORY_ROLLUPS:
            cur.execute(statement, params)  # type: ignore[arg-type]
        return int(mentions) - int(gone_mentions), int(names) - int(gone_names)

    def _discount(self, lost: set[int], fetches: list[dict[str, Any]]) -> dict[str, int]:
        """Articles another poller stored first: they are not new articles of this poll (its
        fetch log and feed state say so) and their buffered mentions are not inserted.
        Changes this attempt's copies of the fetch rows; returns, per feed, how many to take
        from its state's `last_new`, applied only once the transaction commits (a retried or
        failed commit must not take them twice)."""
        by_feed: dict[str, int] = {}
        for aid, feed, _, _ in self.new_sources:
            if aid in lost:
                by_feed[feed] = by_feed.get(feed, 0) + 1
                lost = lost - {aid}
        for feed, n in by_feed.items():
            for row in reversed(fetches):
                if row.get("feed") == feed and row.get("new_articles"):
                    row["new_articles"] = max(int(row["new_articles"]) - n, 0)
                    break
        return by_feed

    def _write_states(self, cur: psycopg.Cursor[Any], discounts: dict[str, int]) -> dict[str, int]:
        """Write the feed states set since the last commit, where this writer may (see the
        module docstring), `last_new` less this commit's `discounts`; their new versions."""
        versions: dict[str, int] = {}
        for url in sorted(self.feed_states):
            state = state_to_json(self.feed_states[url])
            if url in discounts:
                state["last_new"] = max(int(state.get("last_new") or 0) - discounts[url], 0)
            state.pop("articles", None)  # a column of its own, summed in the database
            cur.execute(
                """INSERT INTO monitor_feeds AS f (url, state, version)
                VALUES (%(url)s, %(state)s, 1)
                ON CONFLICT (url) DO UPDATE SET state = excluded.state, version = f.version + 1,
                    lease_owner = NULL, lease_until = NULL
                WHERE f.lease_owner = %(me)s
                   OR ((f.lease_owner IS NULL OR f.lease_until < now() AT TIME ZONE 'UTC')
                       AND (%(known)s::bigint IS NULL OR f.version = %(known)s::bigint))
                RETURNING version""",
                {
                    "url": url,
                    "state": Jsonb(_clean(state)),
                    "me": self.poller,
                    "known": self._versions.get(url),
                },
            )
            row = cur.fetchone()
            if row is not None:
                versions[url] = int(row[0])
            else:
                self.log(f"store: the state of {url} was changed by another poller: kept theirs")
        return versions


_TEMP_TABLES = ("articles", "sources", "mentions", "stories", "names", "pages")
_EMPTY_TEMP = "TRUNCATE " + ", ".join(f"new_{name}" for name in _TEMP_TABLES)
_ARTICLE_COLS = ", ".join(f'"{n}"' for n in SCHEMAS["articles"].names)
_SOURCE_COLS = ", ".join(f'"{n}"' for n in SCHEMAS["sources"].names)


def _insert_for_new(table: str, order: str, returning: str = "1") -> str:
    """A CTE inserting the rows of `new_<table>` whose article `ins` inserted."""
    cols = ", ".join(f'"{n}"' for n in SCHEMAS[table].names)
    picked = ", ".join(f't."{n}"' for n in SCHEMAS[table].names)
    return f"""INSERT INTO {table} ({cols}) SELECT {picked}
    FROM new_{table} t JOIN ins ON ins.id = t.article_id ORDER BY {order}
    ON CONFLICT DO NOTHING RETURNING {returning}"""


# The daily sums of mentions grown by the rows a CTE `men` inserted (in the writer's slot).
_GROW_MENTION_DAYS = """
    INSERT INTO mention_days AS r (entity, day, slot, mentions, articles)
    SELECT entity, date_trunc('day', published), %(slot)s::smallint, sum("count"), count(*)
    FROM men GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (entity, day, slot) DO UPDATE
    SET mentions = r.mentions + excluded.mentions, articles = r.articles + excluded.articles
    RETURNING 1"""
# The daily co-mention pairs grown by the rows `men` inserted (all of an article's rows are
# inserted together, so its pairs are all there).
_GROW_PAIR_DAYS = """
    INSERT INTO pair_days AS r (entity_a, entity_b, day, slot, articles)
    SELECT a.entity, b.entity, date_trunc('day', a.published), %(slot)s::smallint, count(*)
    FROM men a JOIN men b ON a.article_id = b.article_id AND a.entity < b.entity
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (entity_a, entity_b, day, slot) DO UPDATE
    SET articles = r.articles + excluded.articles
    RETURNING 1"""

_MEN = 'article_id, entity, "count", published'  # what the mentions' CTE `men` returns

# One statement: the articles not stored yet, then the mentions, stories and names of those
# (and of no other: an article another poller stored keeps that poller's rows), and the daily
# roll-ups grown by what was inserted (in key order, like every insert here).
_INSERT_ARTICLES = f"""
WITH ins AS (
    INSERT INTO articles ({_ARTICLE_COLS}) SELECT {_ARTICLE_COLS} FROM new_articles ORDER BY id
    ON CONFLICT DO NOTHING RETURNING id, published),
men AS ({_insert_for_new("mentions", "t.article_id, t.entity", _MEN)}),
sto AS ({_insert_for_new("stories", "t.article_id")}),
nam AS ({_insert_for_new("names", "t.article_id, t.name")}),
md AS ({_GROW_MENTION_DAYS}),
pd AS ({_GROW_PAIR_DAYS}),
ad AS (
    INSERT INTO article_days AS r (day, slot, articles)
    SELECT date_trunc('day', published), %(slot)s::smallint, count(*) FROM ins
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (day, slot) DO UPDATE SET articles = r.articles + excluded.articles
    RETURNING 1)
SELECT (SELECT array_agg(id) FROM ins), (SELECT count(*) FROM men), (SELECT count(*) FROM sto),
       (SELECT count(*) FROM nam),
       (SELECT count(*) FROM md) + (SELECT count(*) FROM ad) + (SELECT count(*) FROM pd)"""

# An article counted again on its page (Writer.recount_article): its mention and name rows
# deleted, the daily sums shrunk by them; then the new rows inserted from the temporary tables
# (for articles still stored), the sums grown by them; the sums' changes go to the writer's
# slot, and a key whose slots sum to no article any more is dropped. Run in the commit's
# transaction.
_DELETE_RECOUNTED = """
WITH del AS (
    DELETE FROM mentions WHERE article_id = ANY(%(ids)s::bigint[])
    RETURNING article_id, entity, published, "count"),
upd AS (
    INSERT INTO mention_days AS r (entity, day, slot, mentions, articles)
    SELECT entity, date_trunc('day', published), %(slot)s::smallint, -sum("count"), -count(*)
    FROM del GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (entity, day, slot) DO UPDATE
    SET mentions = r.mentions + excluded.mentions, articles = r.articles + excluded.articles
    RETURNING 1),
pupd AS (
    INSERT INTO pair_days AS r (entity_a, entity_b, day, slot, articles)
    SELECT a.entity, b.entity, date_trunc('day', a.published), %(slot)s::smallint, -count(*)
    FROM del a JOIN del b ON a.article_id = b.article_id AND a.entity < b.entity
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (entity_a, entity_b, day, slot) DO UPDATE
    SET articles = r.articles + excluded.articles
    RETURNING 1),
dn AS (DELETE FROM names WHERE article_id = ANY(%(ids)s::bigint[]) RETURNING 1)
SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM dn),
       (SELECT count(*) FROM upd) + (SELECT count(*) FROM pupd)"""
_DAYS_OF_IDS = "SELECT DISTINCT date_trunc('day', published) FROM articles WHERE id = ANY(%(ids)s)"
_DROP_EMPTY_SUMS = tuple(
    f"""DELETE FROM {table} r USING (
        SELECT {key} FROM {table} WHERE day IN ({_DAYS_OF_IDS})
        GROUP BY {key} HAVING sum(articles) <= 0) z
    WHERE {" AND ".join(f"r.{k} = z.{k}" for k in key.split(", "))}"""
    for table, key in _SLOTTED.items()
    if table != "article_days"
)
_INSERT_RECOUNTED = f"""
WITH ins AS (SELECT id FROM articles WHERE id = ANY(%(ids)s::bigint[])),
men AS ({_insert_for_new("mentions", "t.article_id, t.entity", _MEN)}),
nam AS ({_insert_for_new("names", "t.article_id, t.name")}),
md AS ({_GROW_MENTION_DAYS}),
pd AS ({_GROW_PAIR_DAYS})
SELECT (SELECT count(*) FROM men), (SELECT count(*) FROM nam),
       (SELECT count(*) FROM md) + (SELECT count(*) FROM pd)"""
_PAGE_COLS = ", ".join(f'"{n}"' for n in SCHEMAS["pages"].names)
_INSERT_PAGES = f"""INSERT INTO pages ({_PAGE_COLS}) SELECT {_PAGE_COLS} FROM new_pages
ORDER BY article_id, attempt ON CONFLICT DO NOTHING"""

# The stories of some days and stories recomputed from the mentions: `{keys}` is SQL of
# (entity, day) rows whose distinct stories to count again, `{stories}` of the story ids whose
# spans over days to find again (see `_migration_2`). Run after the rows changed; a key's
# change goes to the writer's slot.
_STORY_SUMS = """
WITH k AS ({keys}),
n AS (
    SELECT m.entity, date_trunc('day', m.published) AS day,
           count(DISTINCT coalesce(m.story, m.article_id)) AS stories
    FROM mentions m JOIN k ON m.entity = k.entity
        AND m.published >= k.day AND m.published < k.day + interval '1 day'
    GROUP BY 1, 2),
was AS (
    SELECT r.entity, r.day, sum(r.stories) AS stories
    FROM mention_days r JOIN n ON r.entity = n.entity AND r.day = n.day GROUP BY 1, 2)
INSERT INTO mention_days AS r (entity, day, slot, mentions, articles, stories)
SELECT n.entity, n.day, %(slot)s::smallint, 0, 0, n.stories - coalesce(was.stories, 0)
FROM n LEFT JOIN was ON was.entity = n.entity AND was.day = n.day
WHERE n.stories IS DISTINCT FROM was.stories ORDER BY 1, 2
ON CONFLICT (entity, day, slot) DO UPDATE SET stories = coalesce(r.stories, 0) + excluded.stories"""
_SPANS_DELETE = "DELETE FROM story_spans WHERE story IN ({stories})"
SPANS_ROWS = """
WITH s AS ({stories}),
d AS (
    SELECT m.entity, m.story, date_trunc('day', m.published) AS day FROM mentions m
    WHERE m.story IN (SELECT story FROM s) AND m.story <> m.article_id
    UNION
    SELECT m.entity, m.article_id, date_trunc('day', m.published) FROM mentions m
    WHERE m.article_id IN (SELECT story FROM s)
      AND coalesce(m.story, m.article_id) = m.article_id),
multi AS (SELECT entity, story FROM d GROUP BY 1, 2 HAVING count(*) > 1)
SELECT d.entity, d.story, d.day FROM d JOIN multi ON multi.entity = d.entity
    AND multi.story = d.story"""
_SPANS_INSERT = (
    "INSERT INTO story_spans (entity, story, day) "
    + SPANS_ROWS
    + " ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING"
)


def _story_rollups(keys: str, stories: str) -> tuple[str, ...]:
    """The statements recomputing the stories of `keys` and the spans of `stories`."""
    return (
        _STORY_SUMS.format(keys=keys),
        _SPANS_DELETE.format(stories=stories),
        _SPANS_INSERT.format(stories=stories),
    )


# The daily roll-ups, from the tables they sum (after a recount, a copy, a repair): the SQL of
# schema.ROLLUP_SQL, which the embedded store and `monitor check` use too; here
# `mention_days` also counts the distinct stories of each entity and day (`_migration_3`).
_ROWS = {"articles": "articles", "mentions": "mentions"}
ROLLUP_SQL_PG = {
    **ROLLUP_SQL,
    "mention_days": """SELECT entity, date_trunc('day', published) AS day,
        SUM("count")::BIGINT AS mentions, COUNT(*)::BIGINT AS articles,
        COUNT(DISTINCT coalesce(story, article_id))::BIGINT AS stories
        FROM {mentions} GROUP BY 1, 2""",
}


def _rebuild(name: str) -> tuple[str, str]:
    cols = [*ROLLUP_SCHEMAS[name].names, *(["stories"] if name == "mention_days" else [])]
    return (
        f"DELETE FROM {name}",
        f"INSERT INTO {name} ({', '.join(cols)}) " + ROLLUP_SQL_PG[name].format(**_ROWS),
    )


COPIED_STORIES = "SELECT DISTINCT story FROM mentions WHERE story <> article_id"
SPANS_REBUILD = ("DELETE FROM story_spans", _SPANS_INSERT.format(stories=COPIED_STORIES))
# after mentions were counted again (the articles' sums are unchanged)
MENTION_ROLLUPS = (*_rebuild("mention_days"), *SPANS_REBUILD, *_rebuild("pair_days"))
REBUILD_ROLLUPS = (*MENTION_ROLLUPS, *_rebuild("article_days"))
# After a commit (the ids of the articles it inserted as the parameter): each (entity, day)
# gains the stories of its new rows that no row stored before had there (looked up by the
# first article's key and by the copies' index: a few rows each, not the day's rows); the
# spans only grow (rows are only added), so those of the stories of its copies that now fall
# on several days are added. First the stories that earlier commits stored articles of are
# locked (an advisory lock on the story's id, in id order, until the commit ends), so that two
# pollers' commits adding copies of one story cannot both count it new (the second counts
# after the first ended, seeing its rows); a story this commit stores first needs none (no
# other commit can have its id before this one ends), and commits of other stories never
# wait for each other.
COMMIT_STORY_ROLLUPS = (
    """SELECT count(pg_advisory_xact_lock(sid)) FROM (
        SELECT DISTINCT story AS sid FROM new_mentions
        WHERE article_id IN (SELECT unnest(%(ids)s::bigint[])) AND story <> article_id
          AND story NOT IN (SELECT unnest(%(ids)s::bigint[]))
        ORDER BY 1) AS s""",
    """WITH i AS MATERIALIZED (SELECT unnest(%(ids)s::bigint[]) AS id),
    n AS MATERIALIZED (
        SELECT DISTINCT entity, date_trunc('day', published) AS day,
               coalesce(story, article_id) AS sid
        FROM new_mentions WHERE article_id IN (SELECT id FROM i)),
    -- a story first stored in this commit is new wherever it is; another may have rows
    old AS (SELECT * FROM n WHERE sid NOT IN (SELECT id FROM i)),
    fresh AS (
        SELECT entity, day, count(*) AS k FROM (
            SELECT entity, day FROM n WHERE sid IN (SELECT id FROM i)
            UNION ALL
            SELECT n.entity, n.day FROM old n
        LEFT JOIN LATERAL (
            SELECT 1 AS hit FROM mentions m WHERE m.article_id = n.sid AND m.entity = n.entity
              AND coalesce(m.story, m.article_id) = m.article_id
              AND m.published >= n.day AND m.published < n.day + interval '1 day'
              LIMIT 1) head ON true
        LEFT JOIN LATERAL (
            SELECT 1 AS hit FROM mentions m WHERE m.story = n.sid AND m.entity = n.entity
              AND m.story <> m.article_id
              AND m.published >= n.day AND m.published < n.day + interval '1 day'
              AND m.article_id NOT IN (SELECT id FROM i) LIMIT 1) copy ON true
            WHERE head.hit IS NULL AND copy.hit IS NULL) AS x
        GROUP BY 1, 2)
    UPDATE mention_days r SET stories = coalesce(r.stories, 0) + f.k FROM fresh f
    WHERE r.entity = f.entity AND r.day = f.day AND r.slot = %(slot)s""",
    """WITH n AS (
        SELECT DISTINCT entity, story AS sid FROM new_mentions
        WHERE article_id IN (SELECT unnest(%(ids)s::bigint[])) AND story <> article_id),
    d AS (
        SELECT m.entity, m.story AS sid, date_trunc('day', m.published) AS day
        FROM mentions m JOIN n ON m.story = n.sid AND m.entity = n.entity
        WHERE m.story <> m.article_id
        UNION
        SELECT m.entity, m.article_id, date_trunc('day', m.published)
        FROM mentions m JOIN n ON m.article_id = n.sid AND m.entity = n.entity
        WHERE coalesce(m.story, m.article_id) = m.article_id),
    multi AS (SELECT entity, sid FROM d GROUP BY 1, 2 HAVING count(*) > 1)
    INSERT INTO story_spans (entity, story, day)
    SELECT d.entity, d.sid, d.day FROM d JOIN multi ON multi.entity = d.entity
        AND multi.sid = d.sid
    ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING""",
)
# after a recount of articles (ids as the parameter): every entity's stories on their days,
# the spans of their stories
RECOUNT_STORY_ROLLUPS = _story_rollups(
    """SELECT DISTINCT r.entity, r.day FROM mention_days r WHERE r.day IN (
        SELECT DISTINCT date_trunc('day', published) FROM articles WHERE id = ANY(%(ids)s))""",
    """SELECT coalesce(s.story, a.id) AS story FROM articles a
        LEFT JOIN stories s ON s.article_id = a.id WHERE a.id = ANY(%(ids)s)""",
)
_INSERT_SOURCES = f"""
WITH ins AS (
    INSERT INTO sources ({_SOURCE_COLS}) SELECT {_SOURCE_COLS} FROM new_sources
    ORDER BY article_id, feed ON CONFLICT DO NOTHING RETURNING feed)
SELECT feed, count(*) FROM ins GROUP BY feed"""


def _naive(value: Any) -> Any:
    return utc_naive(value) if isinstance(value, datetime) else value


def _article_row(a: Article) -> tuple[Any, ...]:
    return (
        a.id,
        a.url,
        a.title,
        a.text,
        utc_naive(a.published),
        utc_naive(a.first_seen),
        a.author,
        a.feed,
        a.date_flag,
    )


def _copy_temp(cur: psycopg.Cursor[Any], table: str, rows: Sequence[Sequence[Any]]) -> None:
    """COPY rows into the writer's temporary table for `table` (emptied after a commit, and
    by the rollback of one that failed)."""
    _copy_rows(cur, table, rows, into=f"new_{table}")
