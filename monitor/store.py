"""The embedded store: Parquet files, one manifest, DuckDB to read them.

This is the only module that knows the store's layout and engine. Layout of the folder:

    manifest.json        the commit point: the files of each table, feed state, watchlist
    articles/*.parquet   id, url, title, text, published, first_seen, author, feed, date_flag
    sources/*.parquet    article_id, feed, seen            (every feed that carried an article)
    mentions/*.parquet   article_id, entity, count, published, tone, story   (published and
                         the article's story denormalized; tone: see tone.py)
    stories/*.parquet    article_id, story, published   (story: the id of its first article)
    names/*.parquet      article_id, name, form, published   (capitalised names: names.py)
    fetches/*.parquet    feed, time, status, outcome, bytes, new_articles, duration, error
    commit.lock          held while a commit (or a rematch) is written
    poller.lock          held by the one poller allowed per store

A commit writes new Parquet files under temporary names, renames them into place, then
replaces manifest.json atomically. Readers read the manifest once and query exactly the files
it lists, so they see whole commits or nothing, and a writer killed at any instant leaves the
previous manifest in force (orphan files are removed by the next writer). Times are stored as
naive UTC timestamps.

What it leaves to others: what the rows mean (poll.py builds them), the questions asked of them
(queries.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import StoreBusyError, StoreError
from .models import Article, Entity, FeedState

FORMAT = 1
MANIFEST = "manifest.json"
GRACE_SECONDS = 600  # replaced files stay on disk this long for readers of older manifests
TIER_BASE = 8  # compaction merges this many files of the same size tier into one

TS = pa.timestamp("us")
SCHEMAS: dict[str, pa.Schema] = {
    "articles": pa.schema(
        [
            ("id", pa.int64()),
            ("url", pa.string()),
            ("title", pa.string()),
            ("text", pa.string()),
            ("published", TS),
            ("first_seen", TS),
            ("author", pa.string()),
            ("feed", pa.string()),
            ("date_flag", pa.string()),
        ]
    ),
    "sources": pa.schema([("article_id", pa.int64()), ("feed", pa.string()), ("seen", TS)]),
    "mentions": pa.schema(
        [
            ("article_id", pa.int64()),
            ("entity", pa.string()),
            ("count", pa.int32()),
            ("published", TS),
        ]
    ),
    "fetches": pa.schema(
        [
            ("feed", pa.string()),
            ("time", TS),
            ("status", pa.int32()),
            ("outcome", pa.string()),
            ("bytes", pa.int64()),
            ("new_articles", pa.int32()),
            ("duration", pa.float64()),
            ("error", pa.string()),
        ]
    ),
}
SORT_KEY = {"articles": "published", "mentions": "published", "sources": "seen", "fetches": "time"}
DUCK_TYPES = {
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.string(): "VARCHAR",
    TS: "TIMESTAMP",
    pa.float64(): "DOUBLE",
}

# --- Stories, tone and names (issue 13): added to the first layout. Files written before
# them lack these columns and tables; readers use union_by_name (a missing column reads as
# NULL) and treat an article without a story row as a story of its own.
SCHEMAS["mentions"] = (
    SCHEMAS["mentions"]
    .append(pa.field("tone", pa.float32()))  # mean VADER compound of the mention sentences
    .append(pa.field("story", pa.int64()))  # the article's story (denormalized, as published)
)
SCHEMAS["stories"] = pa.schema(
    [("article_id", pa.int64()), ("story", pa.int64()), ("published", TS)]
)
SCHEMAS["names"] = pa.schema(
    [("article_id", pa.int64()), ("name", pa.string()), ("form", pa.string()), ("published", TS)]
)
SORT_KEY.update(stories="published", names="published")
DUCK_TYPES[pa.float32()] = "FLOAT"


def utc_naive(t: datetime) -> datetime:
    """The store's time representation: naive UTC."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def article_key(*parts: str) -> int:
    """A stable signed 64-bit id from the parts of a dedup key."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _feed_hash(feed: str) -> np.int64:
    return np.int64(article_key("feed", feed))


# --------------------------------------------------------------------------------------------
# Snapshots: what a reader sees


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the store root
    rows: int
    min_time: str | None = None  # ISO, of the table's sort key
    max_time: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One committed state of the store. Immutable; cheap to pass around and to cache on."""

    root: Path
    seq: int = 0
    store_id: str = ""  # made when the store is created: a store started afresh differs
    updated: datetime | None = None
    files: Mapping[str, tuple[FileInfo, ...]] = field(default_factory=dict)
    feeds: Mapping[str, FeedState] = field(default_factory=dict)
    watchlist: tuple[Entity, ...] = ()
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """Changes whenever the data changes: use it as a cache key."""
        return f"{self.root}:{self.store_id}:{self.seq}"

    def rows(self, table: str) -> int:
        return sum(f.rows for f in self.files.get(table, ()))

    def table(self, name: str) -> str:
        """A DuckDB FROM-clause expression reading this snapshot's files of a table."""
        infos = self.files.get(name, ())
        if not infos:
            cols = ", ".join(f"NULL::{DUCK_TYPES[f.type]} AS {f.name}" for f in SCHEMAS[name])
            return f"(SELECT {cols} WHERE false)"
        paths = ", ".join("'" + str(self.root / f.path).replace("'", "''") + "'" for f in infos)
        return f"read_parquet([{paths}], union_by_name=true)"

    def sql(self, template: str) -> str:
        """Fill `{articles}`, `{mentions}`, `{sources}`, `{fetches}` in a query template."""
        return template.format(**{name: self.table(name) for name in SCHEMAS})

    def query(self, template: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> pd.DataFrame:
        """Run a query template on this snapshot and return a DataFrame."""
        return run_query(self.sql(template), params)


def _connection() -> duckdb.DuckDBPyConnection:
    global _CON
    with _CON_LOCK:
        if _CON is None:
            con = duckdb.connect(config={"threads": 2, "memory_limit": "400MB"})
            con.execute("SET parquet_metadata_cache = true")
            con.execute("SET TimeZone = 'UTC'")
            _CON = con
        return _CON


_CON: duckdb.DuckDBPyConnection | None = None
_CON_LOCK = threading.Lock()


def run_query(sql: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> pd.DataFrame:
    """Run SQL on the process's DuckDB connection (a cursor per call: thread-safe)."""
    cur = _connection().cursor()
    try:
        return cur.execute(sql, params if isinstance(params, Mapping) else list(params)).df()
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {exc}") from exc
    finally:
        cur.close()


# --------------------------------------------------------------------------------------------
# Manifest (de)serialization


def _state_to_json(state: FeedState) -> dict[str, Any]:
    # by hand rather than dataclasses.asdict, whose deep copies cost a poll of hundreds of feeds
    out: dict[str, Any] = {}
    for f in _STATE_FIELDS:
        v = getattr(state, f.name)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, list):
            v = list(v)
        out[f.name] = v
    return out


_STATE_FIELDS = dataclasses.fields(FeedState)


def _state_from_json(data: Mapping[str, Any]) -> FeedState:
    known = {f.name: f for f in _STATE_FIELDS}
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k not in known:
            continue
        if isinstance(v, str) and k in ("last_poll", "last_success", "next_poll"):
            v = datetime.fromisoformat(v)
        kwargs[k] = v
    return FeedState(**kwargs)


def _entity_to_json(e: Entity) -> dict[str, Any]:
    return {
        "name": e.name,
        "kind": e.kind,
        "aliases": list(e.aliases),
        "exclude": list(e.exclude),
        "case_sensitive": e.case_sensitive,
    }


def _entity_from_json(d: Mapping[str, Any]) -> Entity:
    return Entity(
        name=d["name"],
        kind=d.get("kind", "topic"),
        aliases=tuple(d.get("aliases", ())),
        exclude=tuple(d.get("exclude", ())),
        case_sensitive=d.get("case_sensitive"),
    )


def _empty_manifest() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": uuid.uuid4().hex,
        "seq": 0,
        "updated": None,
        "tables": {name: [] for name in SCHEMAS},
        "garbage": [],
        "feeds": {},
        "watchlist": [],
        "fingerprint": "",
    }


def _snapshot_from(root: Path, data: Mapping[str, Any]) -> Snapshot:
    files = {
        name: tuple(FileInfo(**info) for info in data["tables"].get(name, [])) for name in SCHEMAS
    }
    updated = data.get("updated")
    return Snapshot(
        root=root,
        seq=data["seq"],
        store_id=data.get("id", ""),
        updated=datetime.fromisoformat(updated) if updated else None,
        files=files,
        feeds={url: _state_from_json(s) for url, s in data.get("feeds", {}).items()},
        watchlist=tuple(_entity_from_json(e) for e in data.get("watchlist", [])),
        fingerprint=data.get("fingerprint", ""),
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------------------------
# The store


class Store:
    """A store folder. Reading needs nothing; writing goes through `Store.writer()`."""

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()
        self._cache: tuple[tuple[int, int], Snapshot] | None = None

    def exists(self) -> bool:
        return (self.root / MANIFEST).is_file()

    def snapshot(self) -> Snapshot:
        """The latest committed state (an empty one when the store does not exist yet)."""
        path = self.root / MANIFEST
        try:
            st = path.stat()
        except FileNotFoundError:
            return Snapshot(root=self.root)
        except OSError as exc:
            raise StoreError(f"cannot read the store at {self.root}: {exc.strerror}") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache and self._cache[0] == stamp:
            return self._cache[1]
        snap = _snapshot_from(self.root, self._read_manifest())
        self._cache = (stamp, snap)
        return snap

    def _read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return _empty_manifest()
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"the store's manifest {path} is unreadable ({exc}); "
                "restore it from a backup or move the folder away to start afresh"
            ) from exc
        if data.get("format") != FORMAT:
            raise StoreError(
                f"{path} is in store format {data.get('format')}, this version reads {FORMAT}"
            )
        return data

    @contextlib.contextmanager
    def poller_lock(self) -> Iterator[None]:
        """Held by a running poller, so that only one polls a store at a time."""
        with _file_lock(self._lock_path("poller.lock"), blocking=False, what="a poller"):
            yield

    def _lock_path(self, name: str) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {self.root}: {exc.strerror}") from exc
        return self.root / name

    def writer(self) -> Writer:
        return Writer(self)

    @contextlib.contextmanager
    def transaction(self, timeout: float = 600.0) -> Iterator[_Txn]:
        """Hold the commit lock and stage a new manifest; committed when the block exits."""
        lock = self._lock_path("commit.lock")
        with _file_lock(lock, blocking=True, what="another writer", timeout=timeout):
            txn = _Txn(self, self._read_manifest())
            txn.cleanup()
            yield txn
            txn.commit()


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool, what: str, timeout: float = 0) -> Iterator[None]:
    with open(path, "a+") as fh:  # closing the file releases the lock
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking or time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"the store {path.parent} is in use by {what}; "
                        "stop it first or use another store folder"
                    ) from None
                time.sleep(0.05)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield


class _Txn:
    """A commit being prepared under the commit lock."""

    def __init__(self, store: Store, manifest: dict[str, Any]):
        self.store = store
        self.root = store.root
        self.m = manifest
        for name in SCHEMAS:  # a manifest written before a table existed
            self.m["tables"].setdefault(name, [])
        self.written: list[Path] = []

    # files -------------------------------------------------------------------------------
    def write_table(self, name: str, table: pa.Table, sort: bool = True) -> FileInfo | None:
        if table.num_rows == 0:
            return None
        key = SORT_KEY[name]
        if sort:
            table = table.sort_by(key)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{self.m['seq'] + 1:08d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{final.name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd", row_group_size=128 * 1024)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write to the store at {self.root}: {exc.strerror}") from exc
        self.written.append(final)
        col = table.column(key)
        lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
        return FileInfo(
            path=f"{name}/{final.name}",
            rows=table.num_rows,
            min_time=lo.isoformat() if lo else None,
            max_time=hi.isoformat() if hi else None,
        )

    def append(self, name: str, table: pa.Table) -> None:
        info = self.write_table(name, table)
        if info:
            self.m["tables"][name].append(dataclasses.asdict(info))

    def replace(self, name: str, old: list[str], new: list[FileInfo]) -> None:
        """Swap files of a table (compaction, rematch); the old ones become garbage."""
        gone = set(old)
        kept = [f for f in self.m["tables"][name] if f["path"] not in gone]
        self.m["tables"][name] = kept + [dataclasses.asdict(f) for f in new]
        now = time.time()
        self.m["garbage"].extend({"path": p, "since": now} for p in old)

    # cleanup -----------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Delete orphans of crashed writers and garbage past its grace period."""
        listed = {f["path"] for files in self.m["tables"].values() for f in files}
        now = time.time()
        keep = []
        for g in self.m["garbage"]:
            if now - g["since"] > GRACE_SECONDS:
                (self.root / g["path"]).unlink(missing_ok=True)
            else:
                keep.append(g)
        self.m["garbage"] = keep
        pending = {g["path"] for g in keep}
        for name in SCHEMAS:
            folder = self.root / name
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                rel = f"{name}/{p.name}"
                if rel not in listed and rel not in pending:
                    p.unlink(missing_ok=True)

    def commit(self) -> None:
        self.m["seq"] += 1
        self.m["updated"] = datetime.now(UTC).isoformat()
        data = json.dumps(self.m, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            for p in {p.parent for p in self.written}:
                _fsync_dir(p)
            _write_atomic(self.root / MANIFEST, data)
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.root}: {exc.strerror}") from exc

    # feeds and watchlist -----------------------------------------------------------------
    def set_feeds(self, states: Mapping[str, FeedState]) -> None:
        for url, st in states.items():
            self.m["feeds"][url] = _state_to_json(st)

    def set_watchlist(self, entities: Iterable[Entity], fingerprint: str) -> None:
        entities = list(entities)
        stored = [w.get("name") for w in self.m.get("watchlist", ())]
        if self.m.get("fingerprint") == fingerprint and stored == [e.name for e in entities]:
            return  # the same watchlist in the same order (the fingerprint ignores order)
        self.m["watchlist"] = [_entity_to_json(e) for e in entities]
        self.m["fingerprint"] = fingerprint

    # compaction --------------------------------------------------------------------------
    def compact(self, name: str) -> bool:
        """Merge TIER_BASE files of one size tier into one file, sorted. True if it did."""
        files = self.m["tables"][name]
        tiers: dict[int, list[dict[str, Any]]] = {}
        for f in files:
            tiers.setdefault(int(math.log(max(f["rows"], 1), TIER_BASE)), []).append(f)
        for tier in sorted(tiers):
            group = tiers[tier]
            if len(group) >= TIER_BASE:
                paths = [str(self.root / f["path"]) for f in group]
                table = pq.ParquetDataset(paths, schema=SCHEMAS[name]).read()
                info = self.write_table(name, table)
                self.replace(name, [f["path"] for f in group], [info] if info else [])
                return True
        return False


# --------------------------------------------------------------------------------------------
# Writing


class _IdSet:
    """Membership of 64-bit keys: a sorted numpy array plus a set of recent additions."""

    def __init__(self) -> None:
        self.sorted = np.empty(0, dtype=np.int64)
        self.recent: set[int] = set()

    def add_array(self, keys: np.ndarray) -> None:
        # Sort and drop repeats by hand: np.unique took 4.3 s on 4M keys here, this 0.13 s.
        merged = np.sort(np.concatenate([self.sorted, keys.astype(np.int64)]))
        keep = np.ones(len(merged), dtype=bool)
        keep[1:] = merged[1:] != merged[:-1]
        self.sorted = merged[keep]

    def __contains__(self, key: int) -> bool:
        if key in self.recent:
            return True
        i = np.searchsorted(self.sorted, key)
        return bool(i < len(self.sorted) and self.sorted[i] == key)

    def add(self, key: int) -> None:
        self.recent.add(key)
        if len(self.recent) > 200_000:
            self.add_array(np.fromiter(self.recent, dtype=np.int64))
            self.recent.clear()

    def __len__(self) -> int:
        return len(self.sorted) + len(self.recent)


def _source_key(article_id: int, feed: str) -> int:
    return int(np.int64(article_id) ^ _feed_hash(feed))


class Writer:
    """Buffers new rows, knows what is stored already, and commits atomically.

    Dedup: an article is known by its id; the pair (article, feed) by a hash of both, so an
    article carried by a second feed adds a `sources` row and nothing else.
    """

    def __init__(self, store: Store):
        self.store = store
        self.articles = _IdSet()
        self.sources = _IdSet()
        self._loaded: set[str] = set()  # files already in the dedup index
        self._reset_buffers()
        self.refresh()

    def _reset_buffers(self) -> None:
        self.new_articles: list[Article] = []
        self.new_sources: list[tuple[int, str, datetime]] = []
        self.new_mentions: list[tuple[int, str, int, datetime, float | None, int | None]] = []
        self.new_stories: list[tuple[int, int, datetime]] = []
        self.new_names: list[tuple[int, str, str, datetime]] = []
        self.new_fetches: list[dict[str, Any]] = []
        self.feed_states: dict[str, FeedState] = {}
        self.source_counts: dict[str, int] = {}

    def refresh(self) -> None:
        """Bring the dedup index up to date with files committed by anyone."""
        snap = self.store.snapshot()
        self._index(snap)

    def _index(self, snap: Snapshot) -> None:
        articles: list[np.ndarray] = []
        sources: list[np.ndarray] = []
        for f in snap.files.get("articles", ()):
            if f.path not in self._loaded:
                ids = pq.read_table(snap.root / f.path, columns=["id"]).column(0)
                articles.append(ids.to_numpy())
                self._loaded.add(f.path)
        for f in snap.files.get("sources", ()):
            if f.path not in self._loaded:
                t = pq.read_table(snap.root / f.path, columns=["article_id", "feed"])
                ids = t.column("article_id").to_numpy().astype(np.int64)
                feeds = t.column("feed").dictionary_encode().combine_chunks()
                hashes = np.array([_feed_hash(s) for s in feeds.dictionary.to_pylist()])
                idx = feeds.indices.to_numpy(zero_copy_only=False)
                sources.append(ids ^ hashes[idx] if len(hashes) else ids)
                self._loaded.add(f.path)
        # one merge per table: merging file by file would sort the whole index once per file
        if articles:
            self.articles.add_array(np.concatenate(articles))
        if sources:
            self.sources.add_array(np.concatenate(sources))

    # buffering ---------------------------------------------------------------------------
    def add_article(self, article: Article, feed: str, seen: datetime) -> bool:
        """Record that `feed` carried `article`. True when the article itself is new."""
        skey = _source_key(article.id, feed)
        if skey not in self.sources:
            self.sources.add(skey)
            self.new_sources.append((article.id, feed, utc_naive(seen)))
            self.source_counts[feed] = self.source_counts.get(feed, 0) + 1
        if article.id in self.articles:
            return False
        self.articles.add(article.id)
        self.new_articles.append(article)
        return True

    def add_mentions(
        self,
        article: Article,
        counts: Mapping[str, int],
        tones: Mapping[str, float] | None = None,
        story: int | None = None,
    ) -> int:
        published = utc_naive(article.published)
        tones = tones or {}
        for entity, n in counts.items():
            self.new_mentions.append((article.id, entity, n, published, tones.get(entity), story))
        return len(counts)

    def add_story_and_names(
        self, article: Article, story: int, names: Iterable[tuple[str, str]]
    ) -> None:
        """Record an article's story and the names found in it (see stories.py, names.py)."""
        published = utc_naive(article.published)
        self.new_stories.append((article.id, story, published))
        for key, form in names:
            self.new_names.append((article.id, key, form, published))

    def add_fetch(self, row: Mapping[str, Any]) -> None:
        self.new_fetches.append(dict(row))

    def set_feed(self, state: FeedState) -> None:
        self.feed_states[state.url] = state

    @property
    def pending(self) -> int:
        return len(self.new_articles) + len(self.new_sources) + len(self.new_fetches)

    # committing --------------------------------------------------------------------------
    def commit(
        self,
        *,
        watchlist: tuple[Iterable[Entity], str] | None = None,
        on_commit: Callable[[Snapshot], None] | None = None,
    ) -> Snapshot:
        """Write everything buffered as one atomic commit; then compact if it is due.

        If the commit fails, the buffers are kept (the caller may retry) and the dedup index
        is rebuilt from the store, so nothing is taken as stored that was not.
        """
        try:
            snap = self._commit(watchlist)
        except BaseException:
            self.articles, self.sources, self._loaded = _IdSet(), _IdSet(), set()
            self.refresh()
            for a in self.new_articles:
                self.articles.add(a.id)
            for aid, feed, _ in self.new_sources:
                self.sources.add(_source_key(aid, feed))
            raise
        self._reset_buffers()
        if on_commit:
            on_commit(snap)
        return snap

    def _commit(self, watchlist: tuple[Iterable[Entity], str] | None) -> Snapshot:
        with self.store.transaction() as txn:
            self._index(_snapshot_from(self.store.root, txn.m))
            txn.append("articles", self._articles_table())
            txn.append("sources", _table("sources", self.new_sources))
            txn.append("mentions", _table("mentions", self.new_mentions))
            txn.append("stories", _table("stories", self.new_stories))
            txn.append("names", _table("names", self.new_names))
            txn.append("fetches", pa.Table.from_pylist(self.new_fetches, SCHEMAS["fetches"]))
            for url, n in self.source_counts.items():
                state = self.feed_states.get(url) or self._stored_state(txn, url)
                state.articles += n
                self.feed_states[url] = state
            txn.set_feeds(self.feed_states)
            if watchlist is not None:
                txn.set_watchlist(*watchlist)
            for name in SCHEMAS:
                while txn.compact(name):
                    pass
            for files in txn.m["tables"].values():
                self._loaded.update(f["path"] for f in files)  # rows already indexed
        return self.store.snapshot()

    def _stored_state(self, txn: _Txn, url: str) -> FeedState:
        data = txn.m["feeds"].get(url)
        return _state_from_json(data) if data else FeedState(url=url)

    def _articles_table(self) -> pa.Table:
        cols: dict[str, list[Any]] = {f.name: [] for f in SCHEMAS["articles"]}
        for a in self.new_articles:
            cols["id"].append(a.id)
            cols["url"].append(a.url)
            cols["title"].append(a.title)
            cols["text"].append(a.text)
            cols["published"].append(utc_naive(a.published))
            cols["first_seen"].append(utc_naive(a.first_seen))
            cols["author"].append(a.author)
            cols["feed"].append(a.feed)
            cols["date_flag"].append(a.date_flag)
        return pa.Table.from_pydict(cols, SCHEMAS["articles"])


def _table(name: str, rows: list[tuple[Any, ...]]) -> pa.Table:
    schema = SCHEMAS[name]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[]] * len(schema)
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def replace_mentions(
    store: Store,
    count: Callable[[str, str], Mapping[str, int]],
    watchlist: Iterable[Entity],
    fingerprint: str,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recount every mention from the stored article text (after the watchlist changed).

    Holds the commit lock for the whole run, so a poller's commits wait until it is done.
    Returns the number of mention rows written.
    """
    with store.transaction() as txn:
        snap = _snapshot_from(store.root, txn.m)
        infos = snap.files.get("articles", ())
        total = snap.rows("articles")
        done = rows = 0
        new: list[FileInfo] = []
        for f in infos:
            t = pq.read_table(store.root / f.path, columns=["id", "title", "text", "published"])
            out: list[tuple[int, str, int, datetime, float | None, int | None]] = []
            for aid, title, text, published in zip(
                t.column("id").to_pylist(),
                t.column("title").to_pylist(),
                t.column("text").to_pylist(),
                t.column("published").to_pylist(),
                strict=True,
            ):
                for entity, n in count(title or "", text or "").items():
                    out.append((aid, entity, n, published, None, None))
            info = txn.write_table("mentions", _table("mentions", out))
            if info:
                new.append(info)
            rows += len(out)
            done += f.rows
            if progress:
                progress(done, total)
        txn.replace("mentions", [f.path for f in snap.files.get("mentions", ())], new)
        txn.set_watchlist(watchlist, fingerprint)
    return rows


# --------------------------------------------------------------------------------------------
# Reanalysis (issue 13): mentions with their tone, stories and names, from the stored text

# (id, published, title, text, feed, stored story) rows in -> (id, enrichment) out: see
# monitor.enrich
Analyse = Callable[
    [Iterable[tuple[int, datetime, str, str, str, int | None]]], Iterable[tuple[int, Any]]
]
REANALYSE_CHUNK = 50_000  # articles read at once


def replace_analyses(
    store: Store,
    analyse: Analyse,
    watchlist: Iterable[Entity],
    fingerprint: str,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = REANALYSE_CHUNK,
    *,
    mentions_only: bool = False,
) -> int:
    """Recompute mentions (with tone), stories and names from every stored article.

    `analyse` takes (id, published, title, text, feed, stored story or None) rows in
    publication order and yields `(id, enrichment)` for each, in the same order (enrichment:
    `counts`, `tones`, `story`, `names`, as monitor.enrich.Enrichment). With `mentions_only`
    (the watchlist changed, nothing else), the stories and names tables are kept and only
    the mentions are rewritten. Articles are read in slices of about `chunk` by publication
    time, each from the files whose time range overlaps it, so memory stays bounded at any
    size; stories need that order. Holds the commit lock for the whole run and swaps the
    tables in one commit. Returns the number of mention rows written.
    """
    with store.transaction() as txn:
        snap = _snapshot_from(store.root, txn.m)
        infos = snap.files.get("articles", ())
        total = snap.rows("articles")
        names = ("mentions",) if mentions_only else ("mentions", "stories", "names")
        new: dict[str, list[FileInfo]] = {name: [] for name in names}
        done = rows = 0
        for lo, hi in _time_slices(store.root, infos, chunk):
            t = _read_slice(store.root, infos, lo, hi)
            ids = t.column("id").to_pylist()
            published = t.column("published").to_pylist()
            stored = _stored_stories(store.root, snap, lo, hi) if mentions_only else {}
            source = zip(
                ids,
                published,
                t.column("title").to_pylist(),
                t.column("text").to_pylist(),
                t.column("feed").to_pylist(),
                [stored.get(i) for i in ids],
                strict=True,
            )
            out: dict[str, list[tuple[Any, ...]]] = {
                name: [] for name in ("mentions", "stories", "names")
            }
            for (aid, e), when in zip(analyse(source), published, strict=True):
                for entity, n in e.counts.items():
                    out["mentions"].append((aid, entity, n, when, e.tones.get(entity), e.story))
                out["stories"].append((aid, e.story, when))
                out["names"].extend((aid, key, form, when) for key, form in e.names)
            for name in names:
                info = txn.write_table(name, _table(name, out[name]))
                if info:
                    new[name].append(info)
            rows += len(out["mentions"])
            done += len(ids)
            if progress:
                progress(done, total)
        for name, infos_new in new.items():
            txn.replace(name, [f.path for f in snap.files.get(name, ())], infos_new)
        txn.set_watchlist(watchlist, fingerprint)
    return rows


def _stored_stories(
    root: Path, snap: Snapshot, lo: datetime | None, hi: datetime | None
) -> dict[int, int]:
    """article id -> story, for the stories rows published in [lo, hi)."""
    filters: list[tuple[str, str, Any]] = []
    if lo is not None:
        filters.append(("published", ">=", lo))
    if hi is not None:
        filters.append(("published", "<", hi))
    out: dict[int, int] = {}
    for f in snap.files.get("stories", ()):
        if lo is not None and f.max_time and datetime.fromisoformat(f.max_time) < lo:
            continue
        if hi is not None and f.min_time and datetime.fromisoformat(f.min_time) >= hi:
            continue
        t = pq.read_table(root / f.path, columns=["article_id", "story"], filters=filters or None)
        out.update(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))
    return out


def _time_slices(
    root: Path, infos: Sequence[FileInfo], chunk: int
) -> list[tuple[datetime | None, datetime | None]]:
    """[lo, hi) publication-time ranges holding about `chunk` articles each (None: open)."""
    if not infos:
        return []
    times = np.sort(
        np.concatenate(
            [
                pq.read_table(root / f.path, columns=["published"]).column(0).to_numpy()
                for f in infos
            ]
        )
    )
    cuts = np.unique(times[chunk::chunk])
    edges: list[datetime | None] = [None, *(pd.Timestamp(c).to_pydatetime() for c in cuts), None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _read_slice(
    root: Path, infos: Sequence[FileInfo], lo: datetime | None, hi: datetime | None
) -> pa.Table:
    """The articles published in [lo, hi), sorted by publication time then id."""
    filters: list[tuple[str, str, Any]] = []
    if lo is not None:
        filters.append(("published", ">=", lo))
    if hi is not None:
        filters.append(("published", "<", hi))
    columns = ["id", "published", "title", "text", "feed"]
    parts = []
    for f in infos:
        if lo is not None and f.max_time and datetime.fromisoformat(f.max_time) < lo:
            continue
        if hi is not None and f.min_time and datetime.fromisoformat(f.min_time) >= hi:
            continue
        parts.append(pq.read_table(root / f.path, columns=columns, filters=filters or None))
    if not parts:
        return SCHEMAS["articles"].select(columns).empty_table()
    table = pa.concat_tables(parts)
    return table.sort_by([("published", "ascending"), ("id", "ascending")])


_COLUMNS: dict[str, frozenset[str]] = {}  # file path -> its columns (files never change)


def table_columns(snap: Snapshot, name: str) -> frozenset[str]:
    """The columns that a table's files hold in this snapshot (all of its schema when it has
    no files). A store written before a column existed lacks it until a rematch rewrites the
    table; queries use this to read such a column as NULL."""
    want = set(SCHEMAS[name].names)
    infos = snap.files.get(name, ())
    if not infos:
        return frozenset(want)
    found: set[str] = set()
    for f in reversed(infos):  # newest first: a file written by this version has them all
        path = str(snap.root / f.path)
        if path not in _COLUMNS:
            try:
                _COLUMNS[path] = frozenset(pq.read_schema(path).names)
            except (OSError, pa.ArrowException) as exc:
                raise StoreError(f"cannot read {path}: {exc}") from exc
        found |= _COLUMNS[path]
        if found >= want:
            break
    return frozenset(found)
