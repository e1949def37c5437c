"""The embedded store: Parquet files, one manifest, DuckDB to read them.

This is the only module that knows the store's layout and engine. Layout of the folder:

    manifest.json        the commit point: the files of each table, feed state, watchlist,
                         garbage (replaced files awaiting deletion), quarantined files
    articles/*.parquet   id, url, title, text, published, first_seen, author, feed, date_flag
    sources/*.parquet    article_id, feed, seen, entry     (every feed that carried an article,
                         and the entry of that feed it was: see `Writer.add_article`)
    mentions/*.parquet   article_id, entity, count, published, tone, story   (published and
                         the article's story denormalized; tone: see tone.py)
    stories/*.parquet    article_id, story, published   (story: the id of its first article)
    names/*.parquet      article_id, name, form, published   (capitalised names: names.py)
    fetches/*.parquet    feed, time, status, outcome, bytes, new_articles, duration, error
    firings/*.parquet, deliveries/*.parquet   alerts that fired, delivery attempts (alerts.py)
    article_days/, mention_days/, pair_days/  daily roll-ups of articles and mentions
                         (schema.ROLLUP_SCHEMAS): additive deltas, summed by key when read
    quarantine/          damaged files moved out of the tables, old manifests (never deleted)
    commit.lock          held while a commit (or a rematch, a repair) is written
    poller.lock          held by the one poller allowed per store

A commit writes new Parquet files under temporary names, renames them into place, then
replaces manifest.json atomically. Readers read the manifest once and query exactly the files
it lists, so they see whole commits or nothing, and a writer killed at any instant leaves the
previous manifest in force (its orphan files are removed by the next writer). The first commit
of a new store writes an empty manifest before any data file. Times are stored as naive UTC.

Files the store owns, and when it deletes one. It writes data files named
`NNNNNNNN-xxxxxxxx.parquet` (NNNNNNNN: the seq of the commit that wrote it; xxxxxxxx: random
hex) in its four table folders, temporary files `.NNNNNNNN-xxxxxxxx.parquet.tmp` beside them
and `.manifest.json.xxxxxxxx.tmp` beside the manifest. It deletes no other name, nothing outside
those folders, and only regular files (never through a symlink), so files that others put in
the folder (`articles/notes.txt`, `articles/foo.parquet`) stay. Under the commit lock, a writer
deletes:
- a file listed as garbage once its grace period is over (a manifest listed it in a table);
- an unlisted data file whose seq is the manifest's seq + 1. Every commit writes its files
  with seq + 1 and then makes seq + 1 the manifest's seq, so such a file comes from a writer
  that died before committing: no manifest listed it, none ever will;
- a temporary file of either kind older than TMP_GRACE_SECONDS. Writers write them only under
  the commit lock, so one seen by the lock holder belongs to a dead writer; the age is a
  second guard (e.g. on file systems that do not honour locks).
An unlisted data file with a lower seq is left where it is (`monitor check` reports it,
`monitor repair` moves it to quarantine). One with a seq above the manifest's seq + 1 means
the manifest is older than the data (restored from an old copy?): the store is damaged.

Damage. A store folder with data files but no manifest, an unreadable manifest, or one of the
wrong shape (wrong types, or any path that is absolute, has `..`, or resolves outside its
table folder, symlinks included) is damaged, not empty: readers and writers stop with a
one-line StoreError that says to run `monitor repair`, and nothing is written or deleted. A
damaged data file (listed but missing, truncated, failing its page checksums, wrong schema)
met by a writer (dedup index, compaction, rematch) is moved to quarantine/, dropped from the
manifest and recorded there with the rows lost; the writer carries on. A reader's query that
fails on one names the file. `check_store` reports the store's health without changing it;
`repair_store` makes a damaged store usable again, losing at most the rows of damaged files
(see its docstring).

The fetch log. A commit that writes no data file otherwise (a poll where every feed answered
304, or failed) keeps its `fetches` rows in the manifest ("fetch_log": one JSON list per row,
in the table's column order, times as naive-UTC ISO text) instead of writing a Parquet file of
a few hundred rows. The manifest is replaced by every commit anyway, so the rows are committed
atomically with the feed state they go with, and such a commit writes one file, not two, and
leaves nothing to compact. The next commit that writes data files, or the one that takes the
log past FETCH_LOG_ROWS, writes the log and its own rows as one fetches file and empties the
log, in the same commit. Readers see the log as rows of `fetches` (`ParquetSnapshot.table`,
`scan`, `rows`; queries get it as an Arrow table registered on their cursor).

Daily roll-ups. Each commit appends the deltas of `article_days`, `mention_days` and
`pair_days` for the articles and mentions it wrote or took out (`_Txn.grow_rollups`); readers
sum them by key, compaction sums them into one row per key. The manifest's "rollups" holds the
seq of the last commit that kept them: `Snapshot.rollups` is true only when it is the
manifest's seq. Otherwise (a store of an older version, damage taken out, a copy in progress)
queries read the rows, and the next writer's commit, a reanalysis or `repair_store` computes
them afresh from the rows (`_Txn.rebuild_rollups`). `check_store` compares them with the rows.

What it leaves to others: what the rows mean (poll.py builds them), the questions asked of them
(queries.py), printing reports (cli.py).
"""

from __future__ import annotations

import array
import bisect
import contextlib
import dataclasses
import errno
import fcntl
import functools
import itertools
import json
import math
import operator
import os
import re
import stat
import threading
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DamagedFileError, StoreBusyError, StoreError
from ..lazy import lazy_module
from ..models import Article, Entity, FeedState
from .base import (
    Analyse,
    BulkTarget,
    Count,
    Health,
    Log,
    Progress,
    RepairReport,
    Snapshot,
    Store,
)
from .buffer import BufferedWriter, feed_hash
from .schema import (
    ADDITIVE_ROLLUPS,
    ROLLUP_KEYS,
    ROLLUP_SCHEMAS,
    ROLLUP_SQL,
    SCHEMAS,
    SORT_KEY,
    STATE_TIMES,
    Quarantined,
    SchemaMap,
    entity_from_json,
    entity_to_json,
    is_iso,
    rollup_diff_sql,
    state_from_json,
    state_to_json,
    utc_naive,
)

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
else:
    # Imported on first use (monitor/lazy.py): a poll where every feed is unchanged commits
    # only its fetch log and feed state (in the manifest), and needs neither DuckDB (queries,
    # roll-ups) nor pyarrow and numpy (~0.2-0.3 s of a whole `monitor poll --once` together).
    # pandas is imported by the first query; pyarrow builds it in as soon as an array is made
    # from Python objects (`pa.array`, `Table.from_pylist`), so a commit of the fetch log as a
    # file builds its table from buffers (`_rows_table`).
    np = lazy_module("numpy", globals(), "np")
    pa = lazy_module("pyarrow", globals(), "pa")
    pc = lazy_module("pyarrow.compute", globals(), "pc")
    pq = lazy_module("pyarrow.parquet", globals(), "pq")

FORMAT = 1
MANIFEST = "manifest.json"
QUARANTINE = "quarantine"
GRACE_SECONDS = 600  # replaced files stay on disk this long for readers of older manifests
TMP_GRACE_SECONDS = 600  # a temporary file this old, seen under the commit lock, is a dead writer's
FETCH_LOG = "fetch_log"  # the manifest's key for the fetch log (see the module docstring)
FETCH_LOG_ROWS = 1_000  # a fetch log longer than this is written as a fetches file
FETCH_LOG_VIEW = "monitor_fetch_log"  # the name queries read the fetch log by
TIER_BASE = 8  # compaction merges this many files of the same size tier into one
# Compaction leaves a tier alone when its files take more than this on disk together: merging
# them would hold several GB in memory at once (articles' text, about 4x their compressed
# size, and a sorted copy), so files stop growing there and a big store has a few more files.
MERGE_BYTES = 256 << 20
# A table bigger than this in memory is sorted through 64-bit offsets (`_sorted`).
SORT_BYTES = 1 << 30
SORT_SLICE = 128 * 1024  # rows taken at once by `_sorted`; also the Parquet row group
REANALYSE_CHUNK = 50_000  # articles read at once by `replace_analyses`
ROLLUP_SLICE = 1_000_000  # mention rows joined at once when the pair roll-up is rebuilt
# The tables of the folder: the rows (SCHEMAS) and their daily roll-ups (ROLLUP_SCHEMAS)
TABLES: Mapping[str, pa.Schema] = SchemaMap((*SCHEMAS, *ROLLUP_SCHEMAS))

# The names the store generates (see the module docstring): the only names it ever deletes.
DATA_FILE = re.compile(r"(\d{8,})-[0-9a-f]{8}\.parquet")
DATA_TMP = re.compile(r"\.(\d{8,})-[0-9a-f]{8}\.parquet\.tmp")
MANIFEST_TMP = re.compile(r"\.manifest\.json\.[0-9a-f]{8}\.tmp")

# The columns a data file must have to be usable. A table may gain columns in a later version
# (its older files then lack them and read as NULL), so this is not simply SCHEMAS.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": (
        "id",
        "url",
        "title",
        "text",
        "published",
        "first_seen",
        "author",
        "feed",
        "date_flag",
    ),
    "sources": ("article_id", "feed", "seen"),
    "mentions": ("article_id", "entity", "count", "published"),
    "fetches": ("feed", "time", "status", "outcome", "bytes", "new_articles", "duration", "error"),
}


@functools.cache
def duck_types() -> dict[pa.DataType, str]:
    """The DuckDB type of each Arrow type the tables use."""
    return {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.string(): "VARCHAR",
        pa.timestamp("us"): "TIMESTAMP",
        pa.float64(): "DOUBLE",
        pa.float32(): "FLOAT",
        pa.bool_(): "BOOLEAN",
    }


# Alerts (monitor.alerts, monitor.delivery): `firings` and `deliveries` are append-only like
# the tables above. The state that lets a restarted poller carry on (each rule's last
# evaluated hour and open episodes, each digest's last period, the outbox, failures not yet
# reported) is plain JSON in the manifest's "alerts" entry: see `update_alerts`.


def required_columns(table: str) -> tuple[str, ...]:
    """The columns a data file of `table` must have: those of REQUIRED_COLUMNS; a table added
    after the first layout requires every column it was created with (a column added to an
    older table later is optional: a file written before it reads it as NULL)."""
    return REQUIRED_COLUMNS.get(table) or tuple(TABLES[table].names)


# --------------------------------------------------------------------------------------------
# Snapshots: what a reader sees


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the store root
    rows: int
    min_time: str | None = None  # ISO, of the table's sort key
    max_time: str | None = None


@dataclass(frozen=True)
class ParquetSnapshot(Snapshot):
    """One committed state of the store (a manifest). Immutable; cheap to pass around."""

    root: Path
    seq: int = 0
    store_id: str = ""  # made when the store is created: a store started afresh differs
    updated: datetime | None = None
    files: Mapping[str, tuple[FileInfo, ...]] = field(default_factory=dict)
    feeds: Mapping[str, FeedState] = field(default_factory=dict)
    watchlist: tuple[Entity, ...] = ()
    fingerprint: str = ""
    alerts: Mapping[str, Any] = field(default_factory=dict)  # the manifest's alert state
    # damaged files taken out of the tables, oldest first (for the Feeds page and `status`)
    quarantined: tuple[Quarantined, ...] = ()
    rollups: bool = False  # the daily roll-ups are the sums of this state's rows (see _Txn)
    # fetches rows kept in the manifest, as it holds them (see "The fetch log" above)
    fetch_log: tuple[tuple[Any, ...], ...] = ()

    @property
    def story_rollups(self) -> bool:  # type: ignore[override]
        return self.rollups  # (kept with the others: story_days, story_spans)

    @property
    def key(self) -> str:
        """Changes whenever the data changes: use it as a cache key."""
        return f"{self.root}:{self.store_id}:{self.seq}"

    def rows(self, table: str) -> int:
        files = sum(f.rows for f in self.files.get(table, ()))
        return files + len(self.fetch_log) if table == "fetches" else files

    @functools.cached_property
    def fetch_log_table(self) -> pa.Table:
        """The fetch log as rows of `fetches`, in time order."""
        return _rows_table("fetches", _fetch_log_dicts(self.fetch_log))

    def time_bounds(self) -> tuple[datetime | None, datetime | None]:
        lo = [f.min_time for f in self.files.get("articles", ()) if f.min_time]
        hi = [f.max_time for f in self.files.get("articles", ()) if f.max_time]
        if not lo or not hi:
            return None, None
        return datetime.fromisoformat(min(lo)), datetime.fromisoformat(max(hi))

    def scan(self, table: str, start: int = 0, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """The rows of a table file by file, in the manifest's order (see `Snapshot.scan`)."""
        skip = start
        for f in self.files.get(table, ()):
            if skip >= f.rows:
                skip -= f.rows
                continue
            with pq.ParquetFile(self.root / f.path, page_checksum_verification=True) as pf:
                try:
                    for batch in pf.iter_batches(batch_size=batch_rows):
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        part = _conform(pa.Table.from_batches([batch]), table)
                        yield part.slice(skip)
                        skip = 0
                except (OSError, pa.ArrowException) as exc:
                    raise _file_error(f.path, exc) from exc
        if table == "fetches" and self.fetch_log:
            log = self.fetch_log_table
            for offset in range(skip, log.num_rows, batch_rows):
                yield log.slice(offset, batch_rows)

    def details(self) -> dict[str, Any]:
        return {"files": {t: len(f) for t, f in self.files.items()}}

    def columns(self, table: str) -> frozenset[str]:
        return table_columns(self, table)

    def table(self, name: str) -> str:
        """A DuckDB FROM-clause expression reading this snapshot's files of a table (and, for
        `fetches`, the fetch log: `query` and `records` register it on their cursor)."""
        infos = self.files.get(name, ())
        log = name == "fetches" and bool(self.fetch_log)
        if not infos and not log:
            cols = ", ".join(f"NULL::{duck_types()[f.type]} AS {f.name}" for f in TABLES[name])
            return f"(SELECT {cols} WHERE false)"
        if not infos:
            return FETCH_LOG_VIEW
        paths = ", ".join("'" + str(self.root / f.path).replace("'", "''") + "'" for f in infos)
        files = f"read_parquet([{paths}], union_by_name=true)"
        if not log:
            return files
        return f"(SELECT * FROM {files} UNION ALL BY NAME SELECT * FROM {FETCH_LOG_VIEW})"

    def sql(self, template: str) -> str:
        """Fill `{articles}`, `{mentions}`, `{sources}`, `{fetches}` in a query template."""
        return template.format(**{name: self.table(name) for name in TABLES})

    def query(self, template: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> pd.DataFrame:
        """Run a query template on this snapshot and return a DataFrame.

        A query that fails on a damaged file raises a StoreError naming that file.
        """
        return self._run(run_query, template, params)

    def records(
        self, template: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """`query`'s rows as dicts, straight from DuckDB (no pandas); SQL NULL is None."""
        return self._run(run_records, template, params)

    def _run(self, run: Callable[[str, Any, Any], Any], template: str, params: Any) -> Any:
        """`run` on the template's SQL; a StoreError names the damaged file if there is one."""
        log = self.fetch_log and "{fetches}" in template
        tables = {FETCH_LOG_VIEW: self.fetch_log_table} if log else {}
        try:
            return run(self.sql(template), params, tables)
        except StoreError as exc:
            damaged = self.find_damaged()
            if damaged:
                raise damaged[0] from exc
            raise

    def find_damaged(self, tables: Iterable[str] | None = None) -> list[DamagedFileError]:
        """Listed files (of these tables, default all) that are missing or whose footer is
        unreadable or of the wrong schema (a quick look only: the rows are not read)."""
        found = []
        for name, infos in self.files.items():
            if tables is not None and name not in tables:
                continue
            for f in infos:
                try:
                    with pq.ParquetFile(self.root / f.path) as pf:
                        problem = _schema_problem(name, pf.schema_arrow)
                    if problem:
                        found.append(DamagedFileError(f.path, problem))
                except (OSError, pa.ArrowException) as exc:
                    error = _file_error(f.path, exc)
                    if isinstance(error, DamagedFileError):
                        found.append(error)
        return found

    def any_unframed(self, tables: Iterable[str]) -> bool:
        """Whether a listed file of these tables is missing, or is cut short or overwritten
        so that it is no longer framed as a Parquet file (`parquet_frame_problem`). Quicker
        than `find_damaged`, and without pyarrow: a file with a sound frame may still be
        damaged inside (found when its rows are read)."""
        return any(
            parquet_frame_problem(self.root / f.path) is not None
            for name in tables
            for f in self.files.get(name, ())
        )


def _connection() -> duckdb.DuckDBPyConnection:
    global _CON
    with _CON_LOCK:
        if _CON is None:
            import duckdb

            con = duckdb.connect(config={"threads": 2, "memory_limit": "400MB"})
            con.execute("SET parquet_metadata_cache = true")
            con.execute("SET TimeZone = 'UTC'")
            _CON = con
        return _CON


_CON: duckdb.DuckDBPyConnection | None = None
_CON_LOCK = threading.Lock()


def run_query(
    sql: str,
    params: Iterable[Any] | Mapping[str, Any] = (),
    tables: Mapping[str, pa.Table] | None = None,
) -> pd.DataFrame:
    """Run SQL on the process's DuckDB connection (a cursor per call: thread-safe); `tables`
    are Arrow tables the SQL may name (registered on this call's cursor only)."""
    import duckdb

    cur = _connection().cursor()
    try:
        for name, table in (tables or {}).items():
            cur.register(name, table)
        return cur.execute(sql, params if isinstance(params, Mapping) else list(params)).df()
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {_one_line(exc)}") from exc
    finally:
        cur.close()


def run_records(
    sql: str,
    params: Iterable[Any] | Mapping[str, Any] = (),
    tables: Mapping[str, pa.Table] | None = None,
) -> list[dict[str, Any]]:
    """`run_query` without pandas: the rows as dicts."""
    import duckdb

    cur = _connection().cursor()
    try:
        for name, table in (tables or {}).items():
            cur.register(name, table)
        cur.execute(sql, params if isinstance(params, Mapping) else list(params))
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {_one_line(exc)}") from exc
    finally:
        cur.close()


def _arrow_query(
    sql: str, params: Sequence[Any] = (), tables: Mapping[str, pa.Table] | None = None
) -> pa.Table:
    """Run SQL on the process's DuckDB connection, returning Arrow; `tables` are Arrow tables
    the SQL may name (registered on this call's cursor only)."""
    import duckdb

    cur = _connection().cursor()
    try:
        for name, table in (tables or {}).items():
            cur.register(name, table)
        return cur.sql(sql, params=list(params) or None).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {_one_line(exc)}") from exc
    finally:
        cur.close()


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, without pyarrow's boilerplate, at most `limit` chars."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)
    text = text.replace(" Either the file is corrupted or this is not a parquet file.", "")
    text = text.rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Data files: reading one, and telling damage from trouble with access


_ACCESS_ERRNOS = {errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EINTR}


def _file_error(rel: str, exc: BaseException) -> StoreError:
    """What a failure to read the data file `rel` means: damage, or a problem of access.

    Missing files, pyarrow's decoding errors (bad footer, checksum, decompression) and I/O
    errors of the disk are damage; permissions and exhausted resources are not (the file may be
    fine), so they never send a file to quarantine.
    """
    if isinstance(exc, FileNotFoundError):
        return DamagedFileError(rel, "missing: listed in the manifest but not on disk")
    if isinstance(exc, OSError) and exc.errno in _ACCESS_ERRNOS:
        return StoreError(f"cannot read the store file {rel}: {exc.strerror or _one_line(exc)}")
    return DamagedFileError(rel, f"unreadable: {_one_line(exc)}")


PARQUET_MAGIC = b"PAR1"


def parquet_frame_problem(path: Path) -> str | None:
    """Why the file at `path` cannot be a Parquet file by its frame alone (None: it can): a
    Parquet file starts with PAR1 and ends with its footer's length (4 bytes, little-endian)
    and PAR1 again, the footer lying just before them. Reads 12 bytes; access errors (the
    file may be fine) are no answer either way (None)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(4)
            fh.seek(max(size - 8, 0))
            tail = fh.read(8)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "unreadable" if exc.errno not in _ACCESS_ERRNOS else None
    if size < 12 or head != PARQUET_MAGIC or tail[4:] != PARQUET_MAGIC:
        return "not framed as Parquet (cut short or overwritten?)"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "its footer length exceeds the file"
    return None


def _schema_problem(table: str, schema: pa.Schema) -> str | None:
    """Why a file with this schema cannot be a file of `table` (None: it can)."""
    names = set(schema.names)
    missing = [c for c in required_columns(table) if c not in names]
    if missing:
        return f"wrong schema: no column {', '.join(missing)}"
    for f in TABLES[table]:
        if f.name in names:
            found = schema.field(f.name).type
            if not found.equals(f.type):
                return f"wrong schema: column {f.name} is {found}, expected {f.type}"
    return None


def read_data_file(
    root: Path, rel: str, table: str, columns: Sequence[str] | None = None
) -> pa.Table:
    """Read a data file of `table` (some columns, or all), verifying its page checksums.

    Raises DamagedFileError when the file is missing, unreadable or of the wrong schema, and a
    plain StoreError when it cannot be read for other reasons (permissions).
    """
    try:
        with pq.ParquetFile(root / rel, page_checksum_verification=True) as pf:
            problem = _schema_problem(table, pf.schema_arrow)
            if problem:
                raise DamagedFileError(rel, problem)
            return pf.read(columns=list(columns) if columns is not None else None)
    except (OSError, pa.ArrowException) as exc:
        raise _file_error(rel, exc) from exc


def _verify_data_file(root: Path, rel: str, table: str) -> tuple[int, str | None, str | None]:
    """Read a whole data file a batch at a time: (rows, min, max of its sort key, ISO).

    Every page is decoded and its checksum verified; raises as `read_data_file`.
    """
    key = SORT_KEY[table]
    rows, lo, hi = 0, None, None
    try:
        with pq.ParquetFile(root / rel, page_checksum_verification=True) as pf:
            problem = _schema_problem(table, pf.schema_arrow)
            if problem:
                raise DamagedFileError(rel, problem)
            for batch in pf.iter_batches(batch_size=65_536):
                rows += batch.num_rows
                mm = pc.min_max(batch.column(key))
                b_lo, b_hi = mm["min"].as_py(), mm["max"].as_py()
                lo = b_lo if lo is None or (b_lo is not None and b_lo < lo) else lo
                hi = b_hi if hi is None or (b_hi is not None and b_hi > hi) else hi
    except (OSError, pa.ArrowException) as exc:
        raise _file_error(rel, exc) from exc
    return rows, lo.isoformat() if lo else None, hi.isoformat() if hi else None


def _conform(table: pa.Table, name: str) -> pa.Table:
    """A table read from a file, with exactly the columns of TABLES[name] (NULL if absent)."""
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in TABLES[name]
    ]
    return pa.Table.from_arrays(columns, schema=TABLES[name])


# --------------------------------------------------------------------------------------------
# Manifest (de)serialization


_state_to_json = state_to_json
_state_from_json = state_from_json
_entity_to_json = entity_to_json
_entity_from_json = entity_from_json


def _quarantined_to_json(q: Quarantined) -> dict[str, Any]:
    return {
        "path": q.path,
        "table": q.table,
        "reason": q.reason,
        "rows_lost": q.rows_lost,
        "time": q.time.isoformat(),
        "moved_to": q.moved_to,
        "acknowledged": q.acknowledged,
    }


def _quarantined_from_json(d: Mapping[str, Any]) -> Quarantined:
    return Quarantined(
        path=d["path"],
        table=d["table"],
        reason=d["reason"],
        rows_lost=d.get("rows_lost"),
        time=datetime.fromisoformat(d["time"]),
        moved_to=d.get("moved_to", ""),
        acknowledged=d.get("acknowledged", False),
    )


def _empty_manifest() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": uuid.uuid4().hex,
        "seq": 0,
        "updated": None,
        "tables": {name: [] for name in TABLES},
        "garbage": [],
        "feeds": {},
        "watchlist": [],
        "fingerprint": "",
        "quarantined": [],
    }


def _sorted(table: pa.Table, key: str) -> pa.Table:
    """`table` sorted by the column `key`.

    Sorting takes rows, and taking rows joins each column's chunks into one array, whose
    32-bit offsets overflow past 2 GiB of text (ArrowInvalid: a compaction of about 3M feed
    articles). A table that big is sorted through 64-bit copies of its text columns, and taken
    in slices cast back to its own types, so that no single array passes 2 GiB.
    """
    if table.nbytes < SORT_BYTES:
        return table.sort_by(key)
    wide = {pa.string(): pa.large_string(), pa.binary(): pa.large_binary()}
    big = table.cast(pa.schema([f.with_type(wide.get(f.type, f.type)) for f in table.schema]))
    order = pc.sort_indices(big, sort_keys=[(key, "ascending")])
    slices = [
        big.take(order.slice(start, SORT_SLICE)).cast(table.schema)
        for start in range(0, table.num_rows, SORT_SLICE)
    ]
    return pa.concat_tables(slices)


def _file_info(d: Mapping[str, Any]) -> FileInfo:
    return FileInfo(d["path"], d["rows"], d.get("min_time"), d.get("max_time"))


def _snapshot_from(root: Path, data: Mapping[str, Any]) -> ParquetSnapshot:
    """The snapshot of a manifest that passed `manifest_problems`."""
    files = {
        name: tuple(_file_info(info) for info in data["tables"].get(name, [])) for name in TABLES
    }
    updated = data.get("updated")
    return ParquetSnapshot(
        root=root,
        seq=data["seq"],
        store_id=data.get("id", ""),
        updated=datetime.fromisoformat(updated) if updated else None,
        files=files,
        feeds={url: _state_from_json(s) for url, s in data.get("feeds", {}).items()},
        watchlist=tuple(_entity_from_json(e) for e in data.get("watchlist", [])),
        fingerprint=data.get("fingerprint", ""),
        alerts=data.get("alerts", {}),
        quarantined=tuple(_quarantined_from_json(q) for q in data.get("quarantined", [])),
        rollups=_rollups_kept(data),
        fetch_log=tuple(tuple(row) for row in data.get(FETCH_LOG, [])),
    )


def _rollups_kept(data: Mapping[str, Any]) -> bool:
    """Whether the manifest says its roll-ups sum its rows: "rollups" holds the seq of the last
    commit that kept them, so a commit by a version that does not know them voids them, and
    "rollup_tables" which ones (a version that kept fewer leaves them to be computed)."""
    tables = data.get("rollup_tables")
    return (
        _is_int(data.get("rollups"))
        and data.get("rollups") == data.get("seq")
        and isinstance(tables, list)
        and set(ROLLUP_SCHEMAS) <= set(tables)
    )


def _holds_nothing(data: Mapping[str, Any]) -> bool:
    """A store without rows or roll-ups (a new one): its roll-ups sum its rows already, and
    need no rebuilding (which would cost its first commit ~0.2 s of imports and queries)."""
    tables = data["tables"]
    return not any(tables.get(name) for name in ("articles", "mentions", *ROLLUP_SCHEMAS))


# --------------------------------------------------------------------------------------------
# Manifest shape: a small typed check, so that a damaged manifest is one clear error


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: object) -> str:
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES: dict[object, frozenset[type]] = {
    type(None): frozenset({type(None)}),
    bool: frozenset({bool}),
    int: frozenset({int}),
    float: frozenset({int, float}),
    str: frozenset({str}),
}


def _checker(hint: object) -> Callable[[object], bool]:
    """A test of whether a JSON value fits a dataclass field's type (str, int, bool, float,
    datetime as ISO text, lists of those, unions); built once per field."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if origin in (types.UnionType, typing.Union):
        if all(a in _JSON_TYPES for a in args):
            allowed = frozenset().union(*(_JSON_TYPES[a] for a in args))
            return lambda v: type(v) in allowed
        if len(args) == 2 and type(None) in args:
            inner = _checker(next(a for a in args if a is not type(None)))
            return lambda v: v is None or inner(v)
        parts = [_checker(arg) for arg in args]
        return lambda v: any(part(v) for part in parts)
    if origin in (list, tuple):
        item = _checker(args[0]) if args else (lambda v: True)
        return lambda v: type(v) is list and all(item(x) for x in v)
    if hint is datetime:
        return is_iso
    if hint in _JSON_TYPES:
        allowed = _JSON_TYPES[hint]
        return lambda v: type(v) in allowed
    return lambda v: True  # a type this check does not know: let it through


def _type_name(hint: object) -> str:
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    return (
        text.replace("datetime.datetime", "ISO time")
        .replace("datetime", "ISO time")
        .replace("NoneType", "null")
    )


def _field_checks(cls: type) -> dict[str, tuple[object, Callable[[object], bool]]]:
    return {name: (hint, _checker(hint)) for name, hint in typing.get_type_hints(cls).items()}


_STATE_TIMES = STATE_TIMES
# a feed's times are read leniently (see _state_from_json): a bad one is not damage
_STATE_CHECKS = {k: v for k, v in _field_checks(FeedState).items() if k not in _STATE_TIMES}
_ENTITY_CHECKS = _field_checks(Entity)
_QUARANTINED_CHECKS = _field_checks(Quarantined)


def _fields_problem(
    d: object,
    checks: Mapping[str, tuple[object, Callable[[object], bool]]],
    required: Sequence[str],
) -> str | None:
    if not isinstance(d, dict):
        return f"expected an object, got {_show(d)}"
    for key in required:
        if key not in d:
            return f"no {key}"
    for key, value in d.items():
        check = checks.get(key)
        if check is not None and not check[1](value):
            return f"{key}: {_show(value)} is not {_type_name(check[0])}"
    return None


def _path_problem(rel: object, real_root: Path, folder: str) -> str | None:
    """Why `rel` is not a file of the store's `folder` (None: it is). No symlinks allowed."""
    if not isinstance(rel, str) or not rel:
        return f"path {_show(rel)} is not a file name"
    if os.path.isabs(rel) or rel.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", rel):
        return f"path {_show(rel)} is absolute"
    parts = rel.split("/")
    if ".." in parts or "\\" in rel or "\0" in rel:
        return f"path {_show(rel)} leaves the store"
    if len(parts) != 2 or parts[0] != folder or parts[1] in ("", "."):
        return f"path {_show(rel)} is not a file of the {folder}/ folder"
    lexical = real_root / folder / parts[1]
    if os.path.realpath(lexical) != str(lexical):
        return f"path {_show(rel)} resolves outside the store's {folder}/ folder (a symlink)"
    return None


def _file_entry_problem(f: object, table: str, real_root: Path) -> str | None:
    if not isinstance(f, dict):
        return f"expected an object, got {_show(f)}"
    problem = _path_problem(f.get("path"), real_root, table)
    if problem:
        return problem
    rows = f.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        return f"rows: {_show(rows)} is not a whole number"
    for key in ("min_time", "max_time"):
        if f.get(key) is not None and not is_iso(f[key]):
            return f"{key}: {_show(f[key])} is not an ISO time"
    return None


def _garbage_problem(g: object, real_root: Path) -> str | None:
    if not isinstance(g, dict):
        return f"expected an object, got {_show(g)}"
    path = g.get("path")
    folder = path.split("/")[0] if isinstance(path, str) else ""
    problem = _path_problem(path, real_root, folder if folder in TABLES else "<table>")
    if problem:
        return problem
    since = g.get("since")
    if not isinstance(since, int | float) or isinstance(since, bool):
        return f"since: {_show(since)} is not a time in seconds"
    return None


def _quarantined_problem(q: object) -> str | None:
    problem = _fields_problem(q, _QUARANTINED_CHECKS, ("path", "table", "reason", "time"))
    if problem is None and isinstance(q, dict) and q["table"] not in TABLES:
        return f"table: {_show(q['table'])} is not a table of the store"
    return problem


def manifest_problems(data: object, real_root: Path) -> list[str]:
    """Everything wrong with the shape of a parsed manifest (empty: it is well-shaped).

    `real_root` is the store folder with symlinks resolved: every file path must stay in it.
    The format version is checked apart (`_format_error`).
    """
    if not isinstance(data, dict):
        return [f"not a JSON object but {_show(data)}"]
    problems: list[str] = []
    if not _is_int(data.get("format")):
        problems.append(f"format: {_show(data.get('format'))} is not a store format version")
    if not _is_int(data.get("seq")) or data["seq"] < 0:
        problems.append(f"seq: {_show(data.get('seq'))} is not a whole number")
    for key, ok in (
        ("id", isinstance(data.get("id", ""), str)),
        ("updated", data.get("updated") is None or is_iso(data["updated"])),
        ("fingerprint", isinstance(data.get("fingerprint", ""), str)),
    ):
        if not ok:
            problems.append(f"{key}: {_show(data[key])} is not of the right type")
    tables = data.get("tables")
    if not isinstance(tables, dict):
        problems.append(f"tables: {_show(tables)} is not an object")
    else:
        seen: set[str] = set()
        for name, files in tables.items():
            if name not in TABLES:
                problems.append(f"tables: unknown table {_show(name)}")
            elif not isinstance(files, list):
                problems.append(f"tables.{name}: {_show(files)} is not a list")
            else:
                for i, f in enumerate(files):
                    problem = _file_entry_problem(f, name, real_root)
                    if problem is None and f["path"] in seen:
                        problem = f"path {_show(f['path'])} is listed twice"
                    if problem:
                        problems.append(f"tables.{name}[{i}]: {problem}")
                    else:
                        seen.add(f["path"])
    for key, check in (
        ("garbage", lambda g: _garbage_problem(g, real_root)),
        ("watchlist", lambda e: _fields_problem(e, _ENTITY_CHECKS, ("name",))),
        ("quarantined", _quarantined_problem),
    ):
        items = data.get(key, [])
        if not isinstance(items, list):
            problems.append(f"{key}: {_show(items)} is not a list")
            continue
        for i, item in enumerate(items):
            problem = check(item)
            if problem:
                problems.append(f"{key}[{i}]: {problem}")
    log = data.get(FETCH_LOG, [])
    if not isinstance(log, list):
        problems.append(f"{FETCH_LOG}: {_show(log)} is not a list")
    else:
        for i, row in enumerate(log):
            problem = _fetch_log_problem(row)
            if problem:
                problems.append(f"{FETCH_LOG}[{i}]: {problem}")
    if not isinstance(data.get("alerts", {}), dict):
        problems.append(f"alerts: {_show(data['alerts'])} is not an object")
    feeds = data.get("feeds", {})
    if not isinstance(feeds, dict):
        problems.append(f"feeds: {_show(feeds)} is not an object")
    else:
        for url, st in feeds.items():
            problem = _fields_problem(st, _STATE_CHECKS, ("url",))
            if problem:
                problems.append(f"feeds[{_show(url)}]: {problem}")
    return problems


def _is_str(v: object) -> bool:
    return type(v) is str


def _is_number(v: object) -> bool:
    return type(v) in (int, float)


# Each column of `fetches`, in order, with a test of whether a JSON value can be its value.
# Spelled out rather than read from SCHEMAS["fetches"], so that the fetch log is read and
# written without pyarrow (tests/test_poll_unchanged.py checks that the two agree).
_FETCH_LOG_CHECKS: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("feed", _is_str),
    ("time", is_iso),
    ("status", _is_int),
    ("outcome", _is_str),
    ("bytes", _is_int),
    ("new_articles", _is_int),
    ("duration", _is_number),
    ("error", _is_str),
)
_FETCH_LOG_TIMES = frozenset(name for name, ok in _FETCH_LOG_CHECKS if ok is is_iso)


def _fetch_log_problem(row: object) -> str | None:
    """Why a row of the fetch log is not a row of `fetches` (None: it is)."""
    if type(row) is not list or len(row) != len(_FETCH_LOG_CHECKS):
        return f"{_show(row)} is not a list of {len(_FETCH_LOG_CHECKS)} values"
    for (name, ok), v in zip(_FETCH_LOG_CHECKS, row, strict=True):
        if v is not None and not ok(v):
            return f"{name}: {_show(v)} is not of the right type"
    return None


def _fetch_log_row(row: Mapping[str, Any]) -> list[Any]:
    """A row of `fetches` as the fetch log keeps it: its values in column order, times ISO."""
    return [
        utc_naive(row[name]).isoformat()
        if name in _FETCH_LOG_TIMES and row.get(name)
        else row.get(name)
        for name, _ in _FETCH_LOG_CHECKS
    ]


def _fetch_log_dicts(log: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """The fetch log's rows as rows of `fetches` (dicts, times as naive-UTC datetimes)."""
    names = [name for name, _ in _FETCH_LOG_CHECKS]
    out = []
    for row in log:
        d = dict(zip(names, row, strict=True))
        for name in _FETCH_LOG_TIMES:
            if d[name] is not None:
                d[name] = utc_naive(datetime.fromisoformat(d[name]))
        out.append(d)
    return out


def _format_error(data: object, path: Path) -> StoreError | None:
    """A manifest of another store format version (one this code must not read or repair)."""
    fmt = data.get("format") if isinstance(data, dict) else None
    if _is_int(fmt) and fmt != FORMAT:
        return StoreError(f"{path} is in store format {fmt}, this version reads {FORMAT}")
    return None


def _damaged(root: Path, what: str) -> StoreError:
    return StoreError(
        f"the store at {root} is damaged: {what}; nothing was changed: "
        "run `monitor repair` (it keeps every readable file), `monitor check` for details"
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()  # when even this fails, the next writer removes it (TMP_GRACE_SECONDS)
        raise
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------------------------
# The store


class ParquetStore(Store):
    """A store folder. Reading needs nothing; writing goes through `writer()`."""

    kind = "embedded"
    shared = False

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()
        self._cache: tuple[tuple[int, int], ParquetSnapshot] | None = None
        self._reading = threading.Lock()  # one thread reads a new manifest; the others wait
        # the manifest this process last read and checked, or wrote, byte for byte: the same
        # bytes read again (a poller's first commit reads what it opened the store on) are
        # parsed without being checked again
        self._checked = b""

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def real_root(self) -> Path:
        """The folder with symlinks resolved: every file of the store must lie inside it."""
        return Path(os.path.realpath(self.root))

    def exists(self) -> bool:
        """Whether the store was created here: a manifest, or data files (a damaged store)."""
        return (self.root / MANIFEST).is_file() or bool(self.root.is_dir() and self.data_files())

    def snapshot(self) -> ParquetSnapshot:
        """The latest committed state (an empty one when the store does not exist yet)."""
        path = self.root / MANIFEST
        try:
            st = path.stat()
        except FileNotFoundError:
            self._refuse_data_without_manifest()
            return ParquetSnapshot(root=self.root)
        except OSError as exc:
            raise StoreError(f"cannot read the store at {self.root}: {exc.strerror}") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        cache = self._cache
        if cache and cache[0] == stamp:
            return cache[1]
        # after a commit, every dashboard session asks at once: read the manifest (~10 ms of
        # the GIL at 2M articles) once, not once per session
        with self._reading:
            cache = self._cache
            if cache and cache[0] == stamp:
                return cache[1]
            snap = _snapshot_from(self.root, self._read_manifest())
            self._cache = (stamp, snap)
        return snap

    def _read_manifest(self) -> dict[str, Any]:
        """The manifest, checked; an empty one for a new store; StoreError when damaged."""
        path = self.root / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self._refuse_data_without_manifest()
            return _empty_manifest()
        except IsADirectoryError as exc:
            raise _damaged(self.root, "manifest.json is a folder, not a file") from exc
        except OSError as exc:
            raise StoreError(f"cannot read the store at {self.root}: {exc.strerror}") from exc
        if raw == self._checked:
            return typing.cast(dict[str, Any], json.loads(raw))
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _damaged(
                self.root, f"its manifest is unreadable ({_one_line(exc, 120)})"
            ) from exc
        error = _format_error(data, path)
        if error:
            raise error
        problems = manifest_problems(data, self.real_root)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise _damaged(self.root, f"manifest.json: {problems[0]}{more}")
        self._checked = raw
        return typing.cast(dict[str, Any], data)

    def data_files(self) -> dict[str, int]:
        """The data files in the table folders, by the names the store gives them: path -> seq."""
        found: dict[str, int] = {}
        for name in TABLES:
            for entry in _scan(self.root / name):
                m = DATA_FILE.fullmatch(entry.name)
                if m:
                    found[f"{name}/{entry.name}"] = int(m[1])
        return found

    def _refuse_data_without_manifest(self) -> None:
        files = self.data_files()
        if files:
            raise _damaged(
                self.root,
                f"its table folders hold {len(files)} data files but there is no manifest.json "
                "(deleted or lost?)",
            )

    @contextlib.contextmanager
    def poller_lock(self, poller: str = "") -> Iterator[None]:
        """Held by a running poller, so that only one polls a store at a time."""
        with _file_lock(self._lock_path("poller.lock"), blocking=False, what="a poller"):
            yield

    def poller_running(self) -> bool:
        """Whether a poller holds this store's poller.lock now. Read-only, for the dashboard:
        on Linux it looks the pid written in the lock file up in /proc/locks and takes no lock
        (so it can never make a starting poller fail); elsewhere it tries a shared lock for an
        instant."""
        path = self.root / "poller.lock"
        try:
            pid = path.read_text().strip()
        except OSError:
            return False
        try:
            held = Path("/proc/locks").read_text().splitlines()
        except OSError:
            return _lock_held(path)
        return any(f.split()[1:2] == ["FLOCK"] and pid in f.split()[4:5] for f in held)

    def _lock_path(self, name: str) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {self.root}: {exc.strerror}") from exc
        return self.root / name

    def writer(self, log: Log | None = None, poller: str = "") -> ParquetWriter:
        return ParquetWriter(self, log=log)

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
        chunk: int = REANALYSE_CHUNK,
    ) -> int:
        return replace_analyses(
            self,
            analyse,
            watchlist,
            fingerprint,
            progress,
            chunk,
            mentions_only=mentions_only,
            log=log,
            force=force,
        )

    def update_alerts(
        self,
        change: Callable[[dict[str, Any]], None],
        *,
        firings: Sequence[Mapping[str, Any]] = (),
        deliveries: Sequence[Mapping[str, Any]] = (),
    ) -> ParquetSnapshot:
        return update_alerts(self, change, firings=firings, deliveries=deliveries)

    def check(self) -> Health:
        return check_store(self)

    def bulk(self) -> ParquetBulk:
        return ParquetBulk(self)

    def repair(self, log: Log | None = None) -> RepairReport:
        return repair_store(self, log)

    @contextlib.contextmanager
    def transaction(
        self, timeout: float = 600.0, log: Callable[[str], None] | None = None
    ) -> Iterator[_Txn]:
        """Hold the commit lock and stage a new manifest; committed when the block exits."""
        lock = self._lock_path("commit.lock")
        with _file_lock(lock, blocking=True, what="another writer", timeout=timeout):
            txn = _Txn(self, self._manifest_for_writing(), log)
            txn.cleanup()
            yield txn
            txn.commit()

    def _manifest_for_writing(self) -> dict[str, Any]:
        """The manifest to build on. A new store gets an empty one on disk before any data
        file, so that data files without a manifest can only mean damage."""
        path = self.root / MANIFEST
        if os.path.lexists(path):
            return self._read_manifest()
        self._refuse_data_without_manifest()
        m = _empty_manifest()
        try:
            _write_atomic(path, _manifest_bytes(m))
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.root}: {exc.strerror}") from exc
        return m


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of a folder; none when it does not exist (or is not a folder)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StoreError(f"cannot read the store folder {folder}: {exc.strerror}") from exc


def _manifest_bytes(m: Mapping[str, Any]) -> bytes:
    return json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool, what: str, timeout: float = 0) -> Iterator[None]:
    try:
        # (not O_APPEND: Linux's pwrite appends on such a descriptor; see _write_pid)
        fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+")
    except OSError as exc:
        raise StoreError(
            f"cannot write to the store at {path.parent}: {exc.strerror} ({path.name}); "
            "reading a read-only store works, polling or recounting needs write access"
        ) from exc
    with fh:
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
            except OSError as exc:
                raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        _write_pid(fh.fileno())
        yield


def _write_pid(fd: int) -> None:
    """Write this process's pid over a lock file's content. Not by truncating it to nothing
    first: ext4 (`auto_da_alloc`) flushes a file truncated to zero and written again when it is
    closed, and the next truncation waits for that write, ~80 ms a lock on a busy disk (twice
    in every poll). The file is cut to the pid's length after it is written instead."""
    pid = str(os.getpid()).encode()
    try:
        os.pwrite(fd, pid, 0)
        os.ftruncate(fd, len(pid))
    except OSError:
        pass  # the pid is a courtesy for whoever looks; the lock is what matters


def _remove_owned(root: Path, rel: str) -> bool:
    """Delete a file the store wrote; True when it is gone.

    Only names the store generates (DATA_FILE, DATA_TMP in a table folder; MANIFEST_TMP at the
    top), only in the store's own folders, only regular files: never through a symlink.
    """
    folder, _, name = rel.rpartition("/")
    if folder in TABLES:
        if not (DATA_FILE.fullmatch(name) or DATA_TMP.fullmatch(name)):
            return False
    elif folder != "" or not MANIFEST_TMP.fullmatch(name):
        return False
    real_root = Path(os.path.realpath(root))
    path = real_root / rel
    if os.path.realpath(path.parent) != str(path.parent):
        return False
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _older_than(path: Path, seconds: float, now: float) -> bool:
    try:
        return now - os.lstat(path).st_mtime > seconds
    except OSError:
        return False


def _quarantine_file(root: Path, rel: str) -> str:
    """Move a data file into quarantine/<table>/ (never over another file); its new path.

    "" when there is no file to move. Raises OSError when it cannot be moved.
    """
    src = root / rel
    if not os.path.lexists(src):
        return ""
    table, _, name = rel.partition("/")
    folder = root / QUARANTINE / table
    folder.mkdir(parents=True, exist_ok=True)
    dest, n = folder / name, 0
    while os.path.lexists(dest):
        n += 1
        dest = folder / f"{name}.{n}"
    os.rename(src, dest)
    return f"{QUARANTINE}/{table}/{dest.name}"


def _lock_held(path: Path) -> bool:
    """Whether another open file holds a lock on `path` (tried with a shared lock, released)."""
    try:
        with open(path) as fh:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


class _Txn:
    """A commit being prepared under the commit lock."""

    def __init__(self, store: ParquetStore, manifest: dict[str, Any], log: Log | None = None):
        self.store = store
        self.root = store.root
        self.m = manifest
        for name in TABLES:  # a store made before a table existed
            self.m["tables"].setdefault(name, [])
        self.m.setdefault("quarantined", [])
        self.written: list[Path] = []
        self.log = log or (lambda msg: None)
        # mentions must be recounted from the articles: a damaged articles or mentions file
        # was taken out (counts of lost articles, or lost counts); the manifest says so with
        # an empty fingerprint until a recount sets it
        self.recount = False
        # the roll-ups sum the rows of this commit: kept by `grow_rollups` (each change of
        # articles or mentions), made so by `rebuild_rollups`; anything else that changes
        # those rows sets it False, and the manifest then says they are not to be read
        self.rollups = _rollups_kept(manifest)

    # files -------------------------------------------------------------------------------
    def write_table(self, name: str, table: pa.Table, sort: bool = True) -> FileInfo | None:
        """Write a table's rows as a new data file, sorted by the table's key (`sort` False:
        they are already, nulls last)."""
        if table.num_rows == 0:
            return None
        key = SORT_KEY[name]
        if sort:
            table = _sorted(table, key)
        folder = self.root / name
        final = folder / f"{self.m['seq'] + 1:08d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{final.name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table, tmp, compression="zstd", row_group_size=SORT_SLICE, write_page_checksum=True
            )
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write to the store at {self.root}: {exc.strerror}") from exc
        except pa.ArrowException as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {name} to the store: {_one_line(exc)}") from exc
        self.written.append(final)
        col = table.column(key)  # sorted, nulls last
        known = table.num_rows - col.null_count
        lo, hi = (col[0].as_py(), col[known - 1].as_py()) if known else (None, None)
        return FileInfo(
            path=f"{name}/{final.name}",
            rows=table.num_rows,
            min_time=lo.isoformat() if lo else None,
            max_time=hi.isoformat() if hi else None,
        )

    def append(self, name: str, table: pa.Table, sort: bool = True) -> None:
        info = self.write_table(name, table, sort)
        if info:
            self.m["tables"][name].append(dataclasses.asdict(info))

    def replace(self, name: str, old: list[str], new: list[FileInfo]) -> None:
        """Swap files of a table (compaction, rematch); the old ones become garbage."""
        gone = set(old)
        kept = [f for f in self.m["tables"][name] if f["path"] not in gone]
        self.m["tables"][name] = kept + [dataclasses.asdict(f) for f in new]
        now = time.time()
        self.m["garbage"].extend({"path": p, "since": now} for p in old)

    def drop_article_rows(self, name: str, published: Mapping[int, datetime]) -> pa.Table:
        """Take every row of these articles (id -> publication time) out of a table keyed by
        `article_id` and sorted by publication time (mentions): each file holding any of them
        is rewritten without them and the old one becomes garbage. Files whose time range
        holds none of the times are not even opened. Returns the rows taken out."""
        dropped = [pa.Table.from_batches([], TABLES[name])]  # (empty_table imports pandas)
        if not published:
            return dropped[0]
        times = sorted(utc_naive(t) for t in published.values())
        ids = pa.array(list(published), pa.int64())
        for f in list(self.m["tables"][name]):
            lo, hi = f.get("min_time"), f.get("max_time")
            if lo and hi:
                i = bisect.bisect_left(times, datetime.fromisoformat(lo))
                if i == len(times) or times[i] > datetime.fromisoformat(hi):
                    continue
            try:
                hit = pc.is_in(
                    read_data_file(self.root, f["path"], name, ["article_id"]).column(0),
                    value_set=ids,
                )
                if not pc.any(hit).as_py():
                    continue
                table = _conform(read_data_file(self.root, f["path"], name), name)
            except DamagedFileError as exc:
                self.quarantine(name, exc.path, exc.reason)
                continue
            hit = pc.is_in(table.column("article_id"), value_set=ids)
            dropped.append(table.filter(hit))
            info = self.write_table(name, table.filter(pc.invert(hit)))
            self.replace(name, [f["path"]], [info] if info else [])
        return pa.concat_tables(dropped)

    def quarantine(self, name: str, rel: str, reason: str, rows_lost: int | None = None) -> None:
        """Take a damaged file out of the table: move it to quarantine/, record what was lost."""
        files = self.m["tables"].setdefault(name, [])
        entry = next((f for f in files if f["path"] == rel), None)
        if rows_lost is None and entry is not None:
            rows_lost = entry["rows"]
        self.m["tables"][name] = [f for f in files if f["path"] != rel]
        try:
            moved_to = _quarantine_file(self.root, rel)
        except OSError as exc:
            moved_to = ""
            reason = f"{reason}; it could not be moved to {QUARANTINE}/ ({exc.strerror})"
        record = Quarantined(
            path=rel,
            table=name,
            reason=reason,
            rows_lost=rows_lost,
            time=datetime.now(UTC),
            moved_to=moved_to,
        )
        self.m["quarantined"].append(_quarantined_to_json(record))
        if name in ("articles", "mentions", "pages"):
            self.recount = True
            self.m["fingerprint"] = ""
        if name in ("articles", "mentions", *ROLLUP_SCHEMAS):
            self.rollups = False
        lost = "an unknown number of" if rows_lost is None else f"{rows_lost:,}"
        where = f"moved to {moved_to}" if moved_to else "no file to move"
        self.log(
            f"store: {rel} is damaged ({reason}): taken out of the {name} table ({where}); "
            f"{lost} rows lost; see `monitor check`"
        )

    # cleanup -----------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Delete what provably belongs to no commit (see the module docstring); nothing else.

        Raises StoreError, deleting nothing, when data files are newer than the manifest.
        """
        listed = {f["path"] for files in self.m["tables"].values() for f in files}
        pending = {g["path"] for g in self.m["garbage"]}
        seq = self.m["seq"]
        orphans, newer, tmp = [], [], []
        for rel, n in self.store.data_files().items():
            if rel in listed or rel in pending:
                continue
            if n == seq + 1:
                orphans.append(rel)
            elif n > seq + 1:
                newer.append(rel)
        if newer:
            raise _damaged(
                self.root,
                f"{len(newer)} data files ({newer[0]}, ...) are newer than its manifest "
                f"(seq {seq}; restored from an older copy?)",
            )
        now = time.time()
        for name in TABLES:
            tmp += [
                f"{name}/{e.name}" for e in _scan(self.root / name) if DATA_TMP.fullmatch(e.name)
            ]
        tmp += [e.name for e in _scan(self.root) if MANIFEST_TMP.fullmatch(e.name)]
        for rel in orphans:
            _remove_owned(self.root, rel)
        for rel in tmp:
            if _older_than(self.root / rel, TMP_GRACE_SECONDS, now):
                _remove_owned(self.root, rel)
        keep = []
        for g in self.m["garbage"]:
            if g["path"] in listed or not DATA_FILE.fullmatch(g["path"].rpartition("/")[2]):
                # listed again, or not a name the store writes: drop the entry, keep the file
                self.log(f"store: {g['path']} is not garbage of the store: left in place")
                continue
            if now - g["since"] <= GRACE_SECONDS or not _remove_owned(self.root, g["path"]):
                keep.append(g)  # not due yet, or could not be deleted: try again next time
        self.m["garbage"] = keep

    def commit(self) -> None:
        self.m["seq"] += 1
        if self.rollups:
            self.m["rollups"] = self.m["seq"]
            self.m["rollup_tables"] = sorted(ROLLUP_SCHEMAS)
        else:
            self.m.pop("rollups", None)
            self.m.pop("rollup_tables", None)
        self.m["updated"] = datetime.now(UTC).isoformat()
        data = _manifest_bytes(self.m)
        try:
            for p in {p.parent for p in self.written}:
                _fsync_dir(p)
            _write_atomic(self.root / MANIFEST, data)
            st = (self.root / MANIFEST).stat()
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.root}: {exc.strerror}") from exc
        # the snapshot of what was just written, without reading the file back and checking
        # it again (from the JSON itself: what a reader of the file would get)
        written = _snapshot_from(self.root, json.loads(data))
        self.store._cache = ((st.st_mtime_ns, st.st_size), written)
        self.store._checked = data

    # feeds and watchlist -----------------------------------------------------------------
    def set_feeds(self, states: Mapping[str, FeedState]) -> None:
        for url, st in states.items():
            self.m["feeds"][url] = _state_to_json(st)

    def set_watchlist(self, entities: Iterable[Entity], fingerprint: str) -> None:
        if self.recount:
            fingerprint = ""  # not counted with this watchlist yet (see `recount`)
        entities = list(entities)
        stored = [w.get("name") for w in self.m.get("watchlist", ())]
        if self.m.get("fingerprint") == fingerprint and stored == [e.name for e in entities]:
            return  # the same watchlist in the same order (the fingerprint ignores order)
        self.m["watchlist"] = [_entity_to_json(e) for e in entities]
        self.m["fingerprint"] = fingerprint

    # compaction --------------------------------------------------------------------------
    def compact(self, name: str) -> bool:
        """Merge TIER_BASE files of one size tier into one file, sorted. True if it did.

        A damaged file met on the way is quarantined instead (also True: look again).
        """
        files = self.m["tables"][name]
        tiers: dict[int, list[dict[str, Any]]] = {}
        for f in files:
            tiers.setdefault(int(math.log(max(f["rows"], 1), TIER_BASE)), []).append(f)
        for tier in sorted(tiers):
            group = tiers[tier]
            if len(group) >= TIER_BASE and self._disk_bytes(group) <= MERGE_BYTES:
                tables = []
                for f in group:
                    try:
                        tables.append(_conform(read_data_file(self.root, f["path"], name), name))
                    except DamagedFileError as exc:
                        self.quarantine(name, exc.path, exc.reason)
                        return True
                merged = pa.concat_tables(tables)
                if name in ROLLUP_SCHEMAS:  # deltas: one row per key, zero sums left out
                    merged = _sum_rollup(name, merged)
                info = self.write_table(name, merged)
                self.replace(name, [f["path"] for f in group], [info] if info else [])
                return True
        return False

    def _disk_bytes(self, files: list[dict[str, Any]]) -> int:
        total = 0
        for f in files:
            with contextlib.suppress(OSError):  # a missing file is found when it is read
                total += (self.root / f["path"]).stat().st_size
        return total

    # daily roll-ups ----------------------------------------------------------------------
    def grow_rollups(
        self, *, articles: pa.Table | None = None, mentions: pa.Table | None = None, sign: int = 1
    ) -> None:
        """Append the roll-ups' deltas for rows added to articles and mentions (`sign` -1: for
        rows taken out). Every row of an article's mentions must be in one call (pairs)."""
        if not self.rollups:
            return  # rebuilt whole before they are read again
        rows = {"articles": articles, "mentions": mentions}
        for name in ADDITIVE_ROLLUPS:
            source = "articles" if name == "article_days" else "mentions"
            table = rows[source]
            if table is None or table.num_rows == 0:
                continue
            delta = _arrow_query(
                ROLLUP_SQL[name].format(**{source: "rows"}), tables={"rows": table}
            )
            self.append(name, _rollup_table(name, delta, sign))

    def grow_story_rollups(self, changed: pa.Table) -> None:
        """Bring `story_days` and `story_spans` up to date for the mention rows this commit
        added or took out (`changed`, after they were appended and dropped): the (entity,
        day) pairs of those rows get their distinct stories counted again from the stored
        rows, and their stories their spans, each written as the difference from what the
        roll-ups held (distinct stories are not additive, so they cannot come from the
        changed rows alone)."""
        if not self.rollups or changed.num_rows == 0:
            return
        try:
            self._grow_story_rollups(changed)
        except StoreError:  # a damaged file met: the rows answer until they are rebuilt
            self.rollups = False

    def _grow_story_rollups(self, changed: pa.Table) -> None:
        snap = _snapshot_from(self.root, self.m)
        keys = _arrow_query(
            """SELECT DISTINCT entity, date_trunc('day', published) AS day,
                   coalesce(story, article_id) AS sid
            FROM changed""",
            tables={"changed": changed},
        )
        lo = pc.min(keys.column("day")).as_py()
        last = pc.max(keys.column("day")).as_py()
        hi = last + timedelta(days=1) if last < datetime.max - timedelta(days=1) else datetime.max
        days = snap.sql(
            """WITH k AS (SELECT DISTINCT entity, day FROM touched),
            exact AS (
                SELECT m.entity, date_trunc('day', m.published) AS day,
                       COUNT(DISTINCT coalesce(m.story, m.article_id))::BIGINT AS stories
                FROM {mentions} m JOIN k ON k.entity = m.entity
                    AND k.day = date_trunc('day', m.published)
                WHERE m.published >= ? AND m.published < ?
                GROUP BY 1, 2),
            held AS (
                SELECT s.entity, s.day, SUM(s.stories)::BIGINT AS stories
                FROM {story_days} s JOIN k ON k.entity = s.entity AND k.day = s.day
                WHERE s.day >= ? AND s.day < ?
                GROUP BY 1, 2)
            SELECT coalesce(exact.entity, held.entity) AS entity,
                   coalesce(exact.day, held.day) AS day,
                   (coalesce(exact.stories, 0) - coalesce(held.stories, 0))::BIGINT AS stories
            FROM exact FULL OUTER JOIN held ON held.entity = exact.entity AND held.day = exact.day
            WHERE coalesce(exact.stories, 0) <> coalesce(held.stories, 0)"""
        )
        delta = _arrow_query(_stories_sql(snap, days), [lo, hi, lo, hi], tables={"touched": keys})
        if delta.num_rows:
            self.append("story_days", _rollup_table("story_days", delta))
        spans = snap.sql(
            """WITH s AS (SELECT DISTINCT sid AS story FROM touched),
            d AS (
                SELECT DISTINCT m.entity, coalesce(m.story, m.article_id) AS story,
                       date_trunc('day', m.published) AS day
                FROM {mentions} m
                WHERE coalesce(m.story, m.article_id) IN (SELECT story FROM s)),
            multi AS (SELECT entity, story FROM d GROUP BY 1, 2 HAVING COUNT(*) > 1),
            exact AS (
                SELECT d.entity, d.story, d.day, 1::BIGINT AS n
                FROM d JOIN multi ON multi.entity = d.entity AND multi.story = d.story),
            held AS (
                SELECT entity, story, day, SUM(n)::BIGINT AS n FROM {story_spans}
                WHERE story IN (SELECT story FROM s) GROUP BY 1, 2, 3 HAVING SUM(n) <> 0)
            SELECT coalesce(exact.entity, held.entity) AS entity,
                   coalesce(exact.story, held.story) AS story,
                   coalesce(exact.day, held.day) AS day,
                   (coalesce(exact.n, 0) - coalesce(held.n, 0))::BIGINT AS n
            FROM exact FULL OUTER JOIN held ON held.entity = exact.entity
                AND held.story = exact.story AND held.day = exact.day
            WHERE coalesce(exact.n, 0) <> coalesce(held.n, 0)"""
        )
        delta = _arrow_query(_stories_sql(snap, spans), tables={"touched": keys})
        if delta.num_rows:
            self.append("story_spans", _rollup_table("story_spans", delta))

    def rebuild_rollups(self) -> None:
        """Compute the roll-ups afresh from this commit's articles and mentions files (an
        older store, a reanalysis, a repair, a copy): one file each, the old ones garbage."""
        if _holds_nothing(self.m):  # a new store: no rows, nothing to sum
            self.rollups = True
            return
        snap = _snapshot_from(self.root, self.m)
        new = {
            name: _arrow_query(snap.sql(_stories_sql(snap, ROLLUP_SQL[name])))
            for name in ("article_days", "mention_days", "story_days", "story_spans")
        }
        new["pair_days"] = pa.concat_tables(
            [
                _rollup_table(
                    "pair_days",
                    _arrow_query(ROLLUP_SQL["pair_days"].format(mentions=rows), params * 2),
                )
                for rows, params in _day_slices(snap, "mentions", "published", new["mention_days"])
            ]
        )
        for name, table in new.items():
            info = self.write_table(name, _rollup_table(name, table))
            old = [f["path"] for f in self.m["tables"][name]]
            self.replace(name, old, [info] if info else [])
        self.rollups = True


# --------------------------------------------------------------------------------------------
# `store copy` into this store


class ParquetBulk(BulkTarget):
    """Each batch is a commit of its own (compaction included), with the copy's progress in
    the manifest's "copy" entry."""

    def __init__(self, store: ParquetStore):
        self.store = store

    def progress(self) -> dict[str, Any] | None:
        if not self.store.exists():
            return None
        copy = self.store._read_manifest().get("copy")
        return dict(copy) if isinstance(copy, dict) else None

    def is_empty(self) -> bool:
        snap = self.store.snapshot()
        return not snap.feeds and not any(snap.rows(t) for t in SCHEMAS)

    def begin(self, source: str) -> None:
        with self.store.transaction() as txn:
            txn.m["copy"] = {"source": source, "tables": {}, "done": False}

    def append(self, table: str, rows: pa.Table, done: int) -> None:
        with self.store.transaction() as txn:
            txn.append(table, rows)
            if table in ("articles", "mentions"):
                txn.rollups = False  # until `finish` computes them
            txn.m["copy"]["tables"][table] = done
            while txn.compact(table):
                pass

    def finish(self, snap: Snapshot) -> None:
        with self.store.transaction() as txn:
            txn.set_feeds(snap.feeds)
            txn.m["watchlist"] = [_entity_to_json(e) for e in snap.watchlist]
            txn.m["fingerprint"] = snap.fingerprint
            txn.m["alerts"] = json.loads(json.dumps(dict(snap.alerts), default=str))
            txn.m["copy"]["done"] = True
            txn.rebuild_rollups()


# --------------------------------------------------------------------------------------------
# Writing


INDEXED = ("articles", "sources")  # the tables whose keys make the dedup index


class ParquetWriter(BufferedWriter):
    """Buffers new rows, knows what is stored already (its dedup index holds every key of the
    store's files), and commits atomically (see `BufferedWriter`)."""

    def __init__(self, store: ParquetStore, log: Log | None = None):
        super().__init__(log)
        self.store = store
        self._loaded: set[str] = set()  # files already in the dedup index
        # The dedup index (every id of the store's articles and sources files) is read when
        # the first article is added, not before: a poll where every feed is unchanged
        # never reads it. Their files' frames are looked at now (12 bytes each, no pyarrow:
        # `any_unframed`), so that a file missing, truncated or overwritten is quarantined
        # by the next commit all the same (that commit reads the index); damage deeper in a
        # file (a wrong schema, a bad page) is met when the index is read.
        self._indexed = False
        # needs_recount is set when a commit took out a damaged articles or mentions file:
        # the caller should recount mentions, as the manifest's empty fingerprint says
        # (a damaged manifest raises StoreError here, as the poller opens the store)
        self.damaged = store.snapshot().any_unframed(INDEXED)

    def refresh(self) -> None:
        """Bring the dedup index up to date with files committed by anyone.

        Damaged files are skipped here (`damaged` says so); the next commit quarantines them.
        """
        self._indexed = True
        self.damaged = bool(self._index(self.store.snapshot()))

    def add_article(
        self, article: Article, feed: str, seen: datetime, entry: int | None = None
    ) -> Article | None:
        if not self._indexed:
            self.refresh()
        return super().add_article(article, feed, seen, entry)

    def _index(self, snap: ParquetSnapshot) -> list[tuple[str, DamagedFileError]]:
        """Add the ids of files not indexed yet; returns the damaged files met (table, error)."""
        damaged: list[tuple[str, DamagedFileError]] = []
        articles: list[np.ndarray] = []
        sources: list[np.ndarray] = []
        entries: list[np.ndarray] = []
        for f in snap.files.get("articles", ()):
            if f.path not in self._loaded:
                try:
                    ids = read_data_file(snap.root, f.path, "articles", ["id"]).column(0)
                except DamagedFileError as exc:
                    damaged.append(("articles", exc))
                    continue
                articles.append(ids.to_numpy())
                self._loaded.add(f.path)
        for f in snap.files.get("sources", ()):
            if f.path not in self._loaded:
                try:
                    t = read_data_file(snap.root, f.path, "sources", None)
                except DamagedFileError as exc:
                    damaged.append(("sources", exc))
                    continue
                ids = t.column("article_id").to_numpy().astype(np.int64)
                feeds = t.column("feed").dictionary_encode().combine_chunks()
                hashes = np.array([feed_hash(s) for s in feeds.dictionary.to_pylist()])
                idx = feeds.indices.to_numpy(zero_copy_only=False)
                pairs = ids ^ hashes[idx] if len(hashes) else ids
                sources.append(pairs)
                if "entry" in t.column_names:
                    entry = t.column("entry").combine_chunks()
                    known = entry.is_valid().to_numpy(zero_copy_only=False)
                    entries.append(entry.fill_null(0).to_numpy()[known])
                else:
                    known = np.zeros(len(ids), dtype=bool)
                seen = t.column("seen").cast(pa.int64()).to_numpy()
                self.legacy.add(pairs[~known], seen[~known], pairs[known])
                self._loaded.add(f.path)
        # one merge per table: merging file by file would sort the whole index once per file
        if articles:
            self.articles.add_array(np.concatenate(articles))
        if sources:
            self.sources.add_array(np.concatenate(sources))
        if entries:
            self.entries.add_array(np.concatenate(entries))
        return damaged

    def current_states(self, feeds: Sequence[str] | None) -> dict[str, FeedState]:
        stored = self.store.snapshot().feeds
        keys = list(feeds) if feeds is not None else list({**stored, **self.feed_states})
        out = {k: self.feed_states.get(k) or stored.get(k) for k in keys}
        return {k: v for k, v in out.items() if v is not None}

    # committing --------------------------------------------------------------------------
    def commit(
        self,
        *,
        watchlist: tuple[Iterable[Entity], str] | None = None,
        on_commit: Callable[[Snapshot], None] | None = None,
    ) -> ParquetSnapshot:
        """Write everything buffered as one atomic commit; then compact if it is due.

        If the commit fails, the buffers are kept (the caller may retry) and the dedup index
        is rebuilt from the store, so nothing is taken as stored that was not.
        """
        try:
            snap = self._commit(watchlist)
        except BaseException:
            self._forget()
            self._loaded = set()
            self._indexed = False  # read again when next needed
            self._remember_buffered()
            raise
        self._reset_buffers()
        if on_commit:
            on_commit(snap)
        return snap

    def _commit(self, watchlist: tuple[Iterable[Entity], str] | None) -> ParquetSnapshot:
        with self.store.transaction(log=self.log) as txn:
            if self._indexed or self.damaged:  # (else read when first needed)
                self._indexed = True
                for name, exc in self._index(_snapshot_from(self.store.root, txn.m)):
                    txn.quarantine(name, exc.path, exc.reason)
            if not txn.rollups:  # a store written before them, or damage taken out
                tables = txn.m["tables"]
                if tables["articles"] and not any(tables[n] for n in ROLLUP_SCHEMAS):
                    self.log("store: computing the daily roll-ups of the stored rows (once)")
                txn.rebuild_rollups()
            if any((self.new_articles, self.new_sources, self.new_mentions, self.recounted,
                    self.new_stories, self.new_names)):  # fmt: skip
                self._append_analysed(txn)
            if self.new_pages:
                txn.append("pages", pa.Table.from_pylist(self.new_pages, SCHEMAS["pages"]))
            self._log_fetches(txn)
            for url, n in self.source_counts.items():
                state = self.feed_states.get(url) or self._stored_state(txn, url)
                state.articles += n
                self.feed_states[url] = state
            txn.set_feeds(self.feed_states)
            if watchlist is not None:
                txn.set_watchlist(*watchlist)
            for name in TABLES:
                while txn.compact(name):
                    pass
            if self._indexed:
                for files in txn.m["tables"].values():
                    self._loaded.update(f["path"] for f in files)  # rows already indexed
        self.needs_recount = self.needs_recount or txn.recount
        return self.store.snapshot()

    def _log_fetches(self, txn: _Txn) -> None:
        """Commit the buffered fetches rows: into the manifest's fetch log while this commit
        writes no data file and the log stays short, else as a fetches file with the log."""
        log = txn.m.get(FETCH_LOG, [])
        if not txn.written and len(log) + len(self.new_fetches) <= FETCH_LOG_ROWS:
            if self.new_fetches:
                txn.m[FETCH_LOG] = log + [_fetch_log_row(r) for r in self.new_fetches]
            return
        # (built from buffers: a commit of fetches and feed state alone imports no pandas)
        rows = [*_fetch_log_dicts(log), *self.new_fetches]
        txn.append("fetches", _rows_table("fetches", rows), sort=False)
        txn.m.pop(FETCH_LOG, None)

    def _append_analysed(self, txn: _Txn) -> None:
        """Append the buffered articles, sources, mentions, stories and names (recounted
        articles' rows replaced), with the roll-ups they change."""
        articles = self._articles_table()
        txn.append("articles", articles)
        txn.append("sources", _table("sources", self.new_sources))
        stored = self._stored_recounts()
        dropped = txn.drop_article_rows("mentions", stored)
        txn.drop_article_rows("names", stored)
        mentions = _table("mentions", self._recounted_rows("mentions", self.new_mentions))
        txn.append("mentions", mentions)
        txn.grow_rollups(articles=articles, mentions=mentions)
        txn.grow_rollups(mentions=dropped, sign=-1)
        txn.grow_story_rollups(pa.concat_tables([mentions, dropped.cast(mentions.schema)]))
        txn.append("stories", _table("stories", self.new_stories))
        txn.append("names", _table("names", self._recounted_rows("names", self.new_names)))

    def _stored_state(self, txn: _Txn, url: str) -> FeedState:
        data = txn.m["feeds"].get(url)
        return _state_from_json(data) if data else FeedState(url=url)

    def _articles_table(self) -> pa.Table:
        row = operator.attrgetter(*(f.name for f in SCHEMAS["articles"]))  # (Article's fields)
        return _table("articles", [row(a) for a in self.new_articles])


def _table(name: str, rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows (tuples in the schema's order) as an Arrow table of `TABLES[name]`."""
    schema = TABLES[name]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[]] * len(schema)
    return pa.Table.from_arrays(
        [_array(col, f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )


@functools.cache
def _array_codes() -> dict[pa.DataType, str]:
    """The `array` type code of each fixed-width Arrow type `_array` builds from buffers."""
    ts = pa.timestamp("us")
    return {pa.int32(): "i", pa.int64(): "q", pa.float32(): "f", pa.float64(): "d", ts: "q"}


def _array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """`pa.array(values, type_)` (times: naive as UTC, aware converted), built from buffers
    for strings, numbers and times: `pa.array` imports pandas on its first call (~0.3 s of a
    cold ingest's commit); other types are left to it. A test compares the two."""
    codes = _array_codes()
    if type_ != pa.string() and type_ not in codes:
        return pa.array(values, type=type_)
    n = len(values)
    bits = None
    if None in values:
        bits = pa.py_buffer(_bitmap([v is not None for v in values]))
    if type_ == pa.string():
        data = [b"" if v is None else v.encode() for v in values]
        offsets = array.array("q", itertools.accumulate(map(len, data), initial=0))
        if offsets[-1] < 2**31:  # (a string column whose offsets fit 32 bits)
            offsets = array.array("i", offsets)
            return pa.Array.from_buffers(
                type_, n, [bits, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
            )
        return pa.array(values, type=type_)
    if type_ == pa.timestamp("us"):
        values = [None if v is None else _micros(v) for v in values]
    filled = array.array(codes[type_], [0 if v is None else v for v in values])
    return pa.Array.from_buffers(type_, n, [bits, pa.py_buffer(filled)])


_EPOCH = datetime(1970, 1, 1)


def _rows_table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A table's rows (dicts) as an Arrow table sorted by the table's key, nulls last.

    Built from buffers, column by column (strings, 32/64-bit integers, floats, naive-UTC
    timestamps): `pa.array` and `Table.from_pylist` import pandas on their first call (~0.3
    s), which a commit of a poll's fetch log and feed state alone does not otherwise need.
    The same values as `Table.from_pylist(rows, schema)` (a test compares them); a table
    with other column types is made by that.
    """
    schema = TABLES[name]
    ts = pa.timestamp("us")
    codes = {pa.int32(): "i", pa.int64(): "q", pa.float64(): "d", ts: "q"}
    if any(f.type not in codes and f.type != pa.string() for f in schema):
        return pa.Table.from_pylist(list(rows), schema).sort_by(SORT_KEY[name])
    key = SORT_KEY[name]
    timed = schema.field(key).type == ts

    def order(row: Mapping[str, Any]) -> tuple[bool, Any]:
        v = row.get(key)
        return (v is None, 0 if v is None else _micros(v) if timed else v)

    rows = sorted(rows, key=order)
    n = len(rows)
    columns = []
    for f in schema:
        values = [r.get(f.name) for r in rows]
        valid = [v is not None for v in values]
        bits = None if all(valid) else pa.py_buffer(_bitmap(valid))
        if f.type == pa.string():
            data = [v.encode() if v is not None else b"" for v in values]
            offsets = array.array("i", [0])
            for chunk in data:
                offsets.append(offsets[-1] + len(chunk))
            buffers = [bits, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
        else:
            if f.type == ts:
                values = [None if v is None else _micros(v) for v in values]
            filled = array.array(codes[f.type], [0 if v is None else v for v in values])
            buffers = [bits, pa.py_buffer(filled)]
        columns.append(pa.Array.from_buffers(f.type, n, buffers))
    return pa.Table.from_arrays(columns, schema=schema)


def _bitmap(valid: Sequence[bool]) -> bytes:
    """An Arrow validity bitmap (least significant bit first)."""
    out = bytearray((len(valid) + 7) // 8)
    for i, ok in enumerate(valid):
        if ok:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def _micros(t: datetime) -> int:
    """A time as microseconds since the epoch, naive UTC (as `utc_naive` stores it)."""
    delta = utc_naive(t) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _stories_sql(snap: ParquetSnapshot, sql: str) -> str:
    """`sql` for a store whose mention files may all predate stories (no `story` column): each
    article is then a story of its own."""
    if "story" in snap.columns("mentions"):
        return sql
    return sql.replace("coalesce(m.story, m.article_id)", "m.article_id").replace(
        "coalesce(story, article_id)", "article_id"
    )


def _rollup_table(name: str, table: pa.Table, sign: int = 1) -> pa.Table:
    """A query's result as rows of the roll-up `name` (values negated when `sign` is -1)."""
    table = table.rename_columns(ROLLUP_SCHEMAS[name].names).cast(ROLLUP_SCHEMAS[name])
    if sign == 1:
        return table
    keys = ROLLUP_KEYS[name]
    return pa.Table.from_arrays(
        [
            c if f.name in keys else pc.negate(c)
            for c, f in zip(table.columns, table.schema, strict=True)
        ],
        schema=table.schema,
    )


def _sum_rollup(name: str, table: pa.Table) -> pa.Table:
    """Deltas of a roll-up summed into one row per key; keys whose sums are all 0 left out.

    In DuckDB, which the commit has loaded already: Arrow's `Table.group_by` imports
    pyarrow.dataset (~0.3 s, in a poll that compacts roll-ups for the first time)."""
    keys = list(ROLLUP_KEYS[name])
    schema = ROLLUP_SCHEMAS[name]
    values = [f.name for f in schema if f.name not in keys]
    group = ", ".join(f'"{k}"' for k in keys)
    sql = (
        f"SELECT {group}, "
        + ", ".join(f'SUM("{v}")::BIGINT AS "{v}"' for v in values)
        + f" FROM deltas GROUP BY {group} HAVING "
        + " OR ".join(f'SUM("{v}") <> 0' for v in values)
    )
    summed = _arrow_query(sql, tables={"deltas": table})
    return pa.Table.from_arrays([summed.column(f.name) for f in schema], schema=schema)


def _day_slices(
    snap: ParquetSnapshot, table: str, col: str, mention_days: pa.Table
) -> list[tuple[str, list[Any]]]:
    """The rows of `table` in ranges of whole days of about ROLLUP_SLICE mention rows each
    (counted in `mention_days`), as (relation SQL, its parameters); together they hold every
    row. An article's mentions share its day, so pairs are found within a slice."""
    per_day = mention_days.group_by("day").aggregate([("articles", "sum")]).sort_by("day")
    cuts: list[datetime] = []
    rows = 0
    for day, n in zip(
        per_day.column("day").to_pylist(), per_day.column("articles_sum").to_pylist(), strict=True
    ):
        if rows >= ROLLUP_SLICE and day is not None:
            cuts.append(day)
            rows = 0
        rows += n or 0
    bounds: list[datetime | None] = [None, *cuts, None]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        cond = " AND ".join([f"{col} >= ?"] * (lo is not None) + [f"{col} < ?"] * (hi is not None))
        params = [t for t in (lo, hi) if t is not None]
        out.append((f"(SELECT * FROM {snap.table(table)} WHERE {cond or 'true'})", params))
    return out


def _rollup_differences(snap: ParquetSnapshot) -> dict[str, int]:
    """Per roll-up, the keys (entity and day, ...) where it differs from the rows it sums."""
    out = {
        name: int(snap.query(rollup_diff_sql(name))["differ"].iloc[0])
        for name in ("article_days", "mention_days", "story_days", "story_spans")
    }
    mention_days = _arrow_query(snap.sql(ROLLUP_SQL["mention_days"]))
    pairs = zip(
        _day_slices(snap, "pair_days", "day", mention_days),
        _day_slices(snap, "mentions", "published", mention_days),
        strict=True,
    )
    out["pair_days"] = sum(
        int(
            run_query(
                rollup_diff_sql("pair_days").format(pair_days=sums, mentions=rows),
                [*sum_params, *row_params, *row_params],
            )["differ"].iloc[0]
        )
        for (sums, sum_params), (rows, row_params) in pairs
    )
    return out


def replace_mentions(
    store: ParquetStore,
    count: Count,
    watchlist: Iterable[Entity],
    fingerprint: str,
    progress: Progress | None = None,
    log: Log | None = None,
    *,
    force: bool = True,
) -> int:
    """Recount every mention from the stored article text (after the watchlist changed): an
    article's page text when its page was read, else its feed's.

    Holds the commit lock for the whole run, so a poller's commits wait until it is done. A
    damaged articles or pages file is quarantined and the others recounted. Without `force`,
    nothing is done when the manifest says the mentions were counted with `fingerprint` already.
    Returns the number of mention rows written.
    """
    with store.transaction(log=log) as txn:
        if not force and fingerprint and txn.m.get("fingerprint") == fingerprint:
            return 0
        snap = _snapshot_from(store.root, txn.m)
        infos = snap.files.get("articles", ())
        pages = _readable_files(txn, snap, "pages")
        total = snap.rows("articles")
        done = rows = 0
        new: list[FileInfo] = []
        for f in infos:
            try:
                t = read_data_file(
                    store.root, f.path, "articles", ["id", "title", "text", "published"]
                )
            except DamagedFileError as exc:
                txn.quarantine("articles", exc.path, exc.reason)
                total -= f.rows
                continue
            if pages and f.min_time and f.max_time:
                lo = datetime.fromisoformat(f.min_time)
                hi = datetime.fromisoformat(f.max_time) + timedelta(microseconds=1)
                t = _with_page_text(store.root, pages, t, lo, hi)
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
        txn.rebuild_rollups()
        txn.recount = False  # every article left has just been counted
        txn.set_watchlist(watchlist, fingerprint)
    return rows


def update_alerts(
    store: ParquetStore,
    change: Callable[[dict[str, Any]], None],
    *,
    firings: Sequence[Mapping[str, Any]] = (),
    deliveries: Sequence[Mapping[str, Any]] = (),
) -> ParquetSnapshot:
    """Append rows to `firings` and `deliveries` and change the manifest's alert state, in
    one commit. `change` gets the state (a JSON-able dict) to modify in place, under the
    commit lock, so writers in two threads or processes never lose each other's changes."""
    with store.transaction() as txn:
        state = txn.m.setdefault("alerts", {})
        change(state)
        txn.append("firings", pa.Table.from_pylist(list(firings), SCHEMAS["firings"]))
        txn.append("deliveries", pa.Table.from_pylist(list(deliveries), SCHEMAS["deliveries"]))
    return store.snapshot()


# --------------------------------------------------------------------------------------------
# Health and repair


def _manifest_stamp(root: Path) -> tuple[int, int] | None:
    try:
        st = (root / MANIFEST).stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def check_store(store: ParquetStore) -> Health:
    """Look at every file of the store and say what is wrong; changes nothing.

    Reads every page of every listed data file (checksums verified where the file has them).
    Safe beside a running poller: when a commit lands meanwhile, it looks again.
    """
    health = Health(root=store.root)
    for _ in range(3):
        before = _manifest_stamp(store.root)
        health = _check_once(store)
        if _manifest_stamp(store.root) == before:
            break
    health.hint = (
        "run `monitor repair` to fix them: it quarantines damaged files (never deletes them) "
        "and says which rows were lost"
    )
    return health


def _read_raw_manifest(store: ParquetStore) -> bytes | None:
    try:
        return (store.root / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise _damaged(store.root, "manifest.json is a folder, not a file") from exc
    except OSError as exc:
        raise StoreError(f"cannot read the store at {store.root}: {exc.strerror}") from exc


def _check_once(store: ParquetStore) -> Health:
    root = store.root
    h = Health(root=root)
    if not root.is_dir():
        h.exists = False
        return h
    if (root / MANIFEST).is_dir() and not (root / MANIFEST).is_symlink():
        h.add("manifest", MANIFEST, "a folder, not a file (`monitor repair` moves it aside)")
        return h
    raw = _read_raw_manifest(store)
    found = store.data_files()
    _note_loose_files(store, h)
    if raw is None:
        if found:
            h.add(
                "manifest",
                MANIFEST,
                f"missing, but the table folders hold {len(found)} data files "
                "(`monitor repair` rebuilds it from them)",
            )
        else:
            h.exists = False  # nothing the store wrote: a store not created yet
        return h
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        h.add("manifest", MANIFEST, f"unreadable ({_one_line(exc, 120)})")
        return h
    error = _format_error(data, root / MANIFEST)
    if error:
        h.add("manifest", MANIFEST, str(error))
        return h
    problems = manifest_problems(data, store.real_root)
    for problem in problems:
        h.add("manifest", MANIFEST, problem)
    if problems:
        return h
    snap = _snapshot_from(root, data)
    h.seq = snap.seq
    for name in TABLES:
        h.rows[name] = 0
        for f in snap.files.get(name, ()):
            h.files += 1
            h.rows[name] += f.rows
            try:
                rows, _, _ = _verify_data_file(root, f.path, name)
            except DamagedFileError as exc:
                kind = "missing" if exc.reason.startswith("missing") else "damaged"
                h.add(kind, f.path, f"{exc.reason} ({f.rows:,} rows)")
                continue
            if rows != f.rows:
                h.add("rows", f.path, f"holds {rows:,} rows, the manifest says {f.rows:,}")
    h.rows["fetches"] += len(snap.fetch_log)
    listed = {f.path for files in snap.files.values() for f in files}
    garbage = {g["path"] for g in data.get("garbage", [])}
    for rel, n in sorted(found.items()):
        if rel in listed or rel in garbage:
            continue
        if n == snap.seq + 1:
            h.add("orphan", rel, "left by a writer that died; the next writer removes it", False)
        elif n > snap.seq + 1:
            h.add("newer", rel, f"newer than the manifest (seq {snap.seq}): restored from a copy?")
        else:
            h.add("unlisted", rel, "not listed in the manifest (`monitor repair` quarantines it)")
    _check_rollups(snap, h)
    h.quarantined = list(snap.quarantined)
    for q in snap.quarantined:
        lost = "an unknown number of" if q.rows_lost is None else f"{q.rows_lost:,}"
        where = f"kept as {q.moved_to}" if q.moved_to else "no file was left"
        text = f"quarantined {q.time:%Y-%m-%d %H:%M} UTC: {q.reason}; {lost} rows lost; {where}"
        if q.acknowledged:
            h.add("quarantined", q.path, text, problem=False)
        else:
            h.add("quarantined", q.path, text + " (`monitor repair` marks it as seen)")
    return h


def _check_rollups(snap: ParquetSnapshot, h: Health) -> None:
    """Compare every roll-up with the rows it sums (when the rows themselves are sound)."""
    if any(f.kind in ("missing", "damaged", "rows", "manifest") for f in h.problems):
        return  # the rows are in doubt: repair first
    if not snap.rollups:
        if snap.rows("articles"):
            h.add("rollup", "rollups", "the daily roll-ups are not kept for these rows yet "
                  "(a store of an older version): the next commit or `monitor repair` computes "
                  "them; queries read the rows meanwhile", problem=False)  # fmt: skip
        return
    for name, n in _rollup_differences(snap).items():
        if n:
            keys = f"{n:,} key{'s' * (n != 1)}"
            h.add("rollup", name, f"differs from the rows it sums on {keys} "
                  "(`monitor repair` recomputes it)")  # fmt: skip


def _note_loose_files(store: ParquetStore, h: Health) -> None:
    """Notes on files that are not data: temporary files, and files the store did not write."""
    for name in TABLES:
        for e in _scan(store.root / name):
            rel = f"{name}/{e.name}"
            if DATA_TMP.fullmatch(e.name):
                h.add("tmp", rel, "temporary file of an interrupted write (removed later)", False)
            elif not DATA_FILE.fullmatch(e.name):
                h.add("foreign", rel, "not written by the store: left alone", False)
    for e in _scan(store.root):
        if MANIFEST_TMP.fullmatch(e.name):
            h.add("tmp", e.name, "temporary file of an interrupted write (removed later)", False)


@dataclass
class _Salvage:
    """The usable parts of a manifest that may be damaged."""

    id: str = ""
    seq: int | None = None
    tables: dict[str, list[dict[str, Any]]] | None = None  # None: no usable list of files
    garbage: list[dict[str, Any]] = field(default_factory=list)
    feeds: dict[str, Any] = field(default_factory=dict)
    watchlist: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    fetch_log: list[list[Any]] = field(default_factory=list)


def _salvage(data: object, real_root: Path) -> _Salvage:
    s = _Salvage()
    if not isinstance(data, dict):
        return s
    if isinstance(data.get("id"), str):
        s.id = data["id"]
    if _is_int(data.get("seq")) and data["seq"] >= 0:
        s.seq = data["seq"]
    tables = data.get("tables")
    if isinstance(tables, dict):
        s.tables = {name: [] for name in TABLES}
        seen: set[str] = set()
        for name, files in tables.items():
            if name not in TABLES or not isinstance(files, list):
                continue
            for f in files:
                path = f.get("path") if isinstance(f, dict) else None
                problem = _path_problem(path, real_root, name)
                if problem is None and path in seen:
                    problem = f"path {_show(path)} is listed twice"
                if problem:
                    continue  # never read, never deleted
                assert isinstance(f, dict) and isinstance(path, str)
                seen.add(path)
                s.tables[name].append(f)
    for g in data.get("garbage", []) if isinstance(data.get("garbage"), list) else []:
        if _garbage_problem(g, real_root) is None:
            s.garbage.append(g)  # the others are never deleted
    feeds = data.get("feeds")
    for url, st in feeds.items() if isinstance(feeds, dict) else []:
        if _fields_problem(st, _STATE_CHECKS, ("url",)) is None:
            s.feeds[url] = st
    watchlist = data.get("watchlist")
    for e in watchlist if isinstance(watchlist, list) else []:
        if _fields_problem(e, _ENTITY_CHECKS, ("name",)) is None:
            s.watchlist.append(e)
    whole = isinstance(watchlist, list) and len(s.watchlist) == len(watchlist)
    if isinstance(data.get("fingerprint"), str) and whole:
        s.fingerprint = data["fingerprint"]
    quarantined = data.get("quarantined")
    for q in quarantined if isinstance(quarantined, list) else []:
        if _quarantined_problem(q) is None:
            s.quarantined.append(q)
    log = data.get(FETCH_LOG)
    for row in log if isinstance(log, list) else []:
        if _fetch_log_problem(row) is None:
            s.fetch_log.append(row)
    return s


def repair_store(store: ParquetStore, log: Log | None = None) -> RepairReport:
    """Make a damaged store usable again, losing at most the rows of damaged files.

    Never deletes a data file that holds rows found nowhere else: damaged files go to
    quarantine/ (named in the report, with the rows lost) and the old manifest is kept there.

    - When the manifest is usable (its list of files is readable and no data file is newer):
      every listed file is read in full; damaged or missing ones are taken out; unlisted
      files are moved to quarantine (or, from a writer that died, deleted as a writer would);
      bad entries (paths outside the store, wrong types) are dropped, never followed.
    - Otherwise the tables are rebuilt from the data files found. Files are taken newest
      first, and a file whose every row (by its table's key) is already in a newer one is
      garbage, as it would have been (compaction inputs, older mention counts); rows found
      nowhere else are kept. Mentions are then to be recounted (`recount`).
    Feed state, the watchlist, the fetch log and quarantine records are kept wherever the old
    manifest is readable. Every quarantined file is marked as seen.
    """
    report = RepairReport()
    if not store.root.is_dir():
        report.actions.append(f"no store at {store.root} yet: nothing to repair")
        return report
    lock = store._lock_path("commit.lock")
    with _file_lock(lock, blocking=True, what="another writer", timeout=600):
        manifest = store.root / MANIFEST
        if manifest.is_dir() and not manifest.is_symlink():  # nothing of ours: set aside
            moved = _quarantine_name(store.root, "manifest-folder")
            manifest.rename(store.root / moved)
            report.actions.append(f"manifest.json was a folder: moved it to {moved}")
        raw = _read_raw_manifest(store)
        data: object = None
        if raw is not None:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                report.actions.append(f"manifest.json is unreadable ({_one_line(exc, 120)})")
            error = _format_error(data, store.root / MANIFEST)
            if error:
                raise error
        real_root = store.real_root
        s = _salvage(data, real_root)
        found = store.data_files()
        top = max(found.values(), default=0)
        usable = raw is not None and s.tables is not None and s.seq is not None
        listed_mode = usable and s.seq is not None and top <= s.seq + 1
        if raw is None and not found:
            report.actions.append("no manifest and no data files: nothing to repair")
            return report
        m = _empty_manifest()
        m.update(
            id=s.id or m["id"],
            seq=max(s.seq or 0, top),
            garbage=list(s.garbage),
            feeds=dict(s.feeds),
            watchlist=list(s.watchlist),
            fingerprint=s.fingerprint,
            quarantined=list(s.quarantined),
        )
        if s.fetch_log:
            m[FETCH_LOG] = list(s.fetch_log)
        if s.seq == m["seq"] and isinstance(data, dict):
            m["rollups"] = data.get("rollups")  # still this seq's: kept if they check out
            m["rollup_tables"] = data.get("rollup_tables")
        txn = _Txn(store, m, log)
        problems = manifest_problems(data, real_root) if data is not None else []
        for problem in problems[:20]:
            report.actions.append(f"manifest.json: {problem}")
        if len(problems) > 20:
            report.actions.append(f"manifest.json: {len(problems) - 20} more problems")
        if problems and s.feeds:
            report.actions.append(f"kept the state of {len(s.feeds)} feeds")
        if listed_mode:
            assert s.tables is not None and s.seq is not None
            _repair_listed(txn, s.tables, s.seq, found, report)
        else:
            if raw is None:
                report.actions.append("manifest.json is missing")
            elif usable:
                report.actions.append(
                    f"manifest.json (seq {s.seq}) is older than the data files (seq up to {top})"
                )
            _rebuild_tables(txn, found, report)
        _repair_rollups(txn, report)
        new_records = len(txn.m["quarantined"]) - len(s.quarantined)
        for q in txn.m["quarantined"][len(s.quarantined) :]:
            report.quarantined.append(_quarantined_from_json(q))
        unseen = [q for q in txn.m["quarantined"] if not q.get("acknowledged")]
        for q in unseen:
            q["acknowledged"] = True
        if len(unseen) > new_records:
            n = len(unseen) - new_records
            report.actions.append(f"marked {n} earlier quarantined file{'s' * (n != 1)} as seen")
        report.changed = bool(report.actions or report.quarantined) or not listed_mode
        if not report.changed:
            return report
        if raw is not None:
            kept = _keep_old_manifest(store.root, raw)
            report.actions.append(f"kept the old manifest as {kept}")
        if report.rebuilt:
            txn.m["fingerprint"] = ""  # which watchlist counted the mentions is not known
        report.recount = not txn.m["fingerprint"] and any(txn.m["tables"]["articles"])
        txn.commit()
    return report


def _repair_rollups(txn: _Txn, report: RepairReport) -> None:
    """Compute the roll-ups afresh when they are not kept or differ from the rows."""
    snap = _snapshot_from(txn.root, txn.m)
    if txn.rollups:
        differ = {name: n for name, n in _rollup_differences(snap).items() if n}
        if not differ:
            return
        why = "they differed from the rows they sum: " + ", ".join(
            f"{name} on {n:,} key{'s' * (n != 1)}" for name, n in differ.items()
        )
    elif any(snap.files.get(name) for name in ("articles", "mentions", *ROLLUP_SCHEMAS)):
        why = "they were not kept for the rows stored"
    else:
        txn.rollups = True  # nothing to sum
        return
    txn.rebuild_rollups()
    report.actions.append(f"recomputed the daily roll-ups of articles and mentions ({why})")


def _keep_old_manifest(root: Path, raw: bytes) -> str:
    name = _quarantine_name(root, "manifest", ".json")
    _write_atomic(root / name, raw)
    return name


def _quarantine_name(root: Path, stem: str, suffix: str = "") -> str:
    """A new name in quarantine/ (created if needed) for `stem`, stamped with the time."""
    folder = root / QUARANTINE
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = f"{stem}-{stamp}{suffix}", 0
    while (folder / name).exists():
        n += 1
        name = f"{stem}-{stamp}-{n}{suffix}"
    return f"{QUARANTINE}/{name}"


def _repair_listed(
    txn: _Txn,
    tables: Mapping[str, list[dict[str, Any]]],
    seq: int,
    found: Mapping[str, int],
    report: RepairReport,
) -> None:
    """Keep what the manifest lists and can be read; quarantine the rest."""
    root = txn.root
    for name in TABLES:
        for f in tables.get(name, []):
            rel = f["path"]
            listed_rows = f.get("rows") if _is_int(f.get("rows")) else None
            try:
                rows, lo, hi = _verify_data_file(root, rel, name)
            except DamagedFileError as exc:
                txn.quarantine(name, rel, exc.reason, listed_rows)
                continue
            entry = {"path": rel, "rows": rows, "min_time": lo, "max_time": hi}
            if listed_rows != rows:
                report.actions.append(
                    f"{rel}: row count corrected to {rows:,} (the manifest said "
                    f"{_show(f.get('rows'))})"
                )
            txn.m["tables"][name].append(entry)
    listed = {f["path"] for files in txn.m["tables"].values() for f in files}
    garbage = {g["path"] for g in txn.m["garbage"]}
    quarantined = {q["path"] for q in txn.m["quarantined"]}
    for rel, n in sorted(found.items()):
        if rel in listed or rel in garbage or rel in quarantined:
            continue
        if n == seq + 1:
            if _remove_owned(root, rel):
                report.actions.append(f"removed {rel}, left by a writer that died")
        else:
            txn.quarantine(rel.split("/")[0], rel, "not listed in the manifest", 0)


def _row_keys(table: pa.Table, name: str) -> np.ndarray:
    """One 64-bit key per row, the same for the same row in any file of the table."""
    if name == "articles":
        return table.column("id").to_numpy(zero_copy_only=False).astype(np.int64)
    if name == "pages":  # one row per article and attempt
        ids = pc.fill_null(table.column("article_id"), 0).to_numpy(zero_copy_only=False)
        attempts = pc.fill_null(table.column("attempt"), 0).to_numpy(zero_copy_only=False)
        attempts = np.clip(attempts.astype(np.int64), 0, None)
        salts = np.array(
            [feed_hash(f"attempt {n}") for n in range(int(attempts.max(initial=0)) + 1)]
        )
        return np.asarray(ids.astype(np.int64) ^ salts[attempts])
    num, texts = _ROW_KEY[name]
    col = table.column(num)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    keys = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    for salt, text in enumerate(texts):
        enc = pc.fill_null(table.column(text), "").dictionary_encode().combine_chunks()
        values = enc.dictionary.to_pylist()
        hashes = np.array([feed_hash(f"{salt}\x1f{v}") for v in values], dtype=np.int64)
        if len(hashes):
            keys = keys ^ hashes[enc.indices.to_numpy(zero_copy_only=False)]
    return keys


# what makes a row of a table (besides articles, keyed by id): a number and some text columns
_ROW_KEY: dict[str, tuple[str, tuple[str, ...]]] = {
    "sources": ("article_id", ("feed",)),
    "mentions": ("article_id", ("entity",)),
    "fetches": ("time", ("feed",)),
    "stories": ("article_id", ()),
    "names": ("article_id", ("name",)),
    "firings": ("fired", ("alert", "entity")),
    "deliveries": ("time", ("kind", "name", "entity", "target")),
}


def _rebuild_tables(txn: _Txn, found: Mapping[str, int], report: RepairReport) -> None:
    """Rebuild the lists of files from the data files found (see `repair_store`)."""
    root = txn.root
    report.rebuilt = True
    kept_sources: list[str] = []
    # the files found are judged by their content below, whatever the old manifest said
    txn.m["garbage"] = [g for g in txn.m["garbage"] if g["path"] not in found]
    since = time.time()
    for rel in found:  # roll-ups are derived: computed afresh (`_repair_rollups`)
        if rel.partition("/")[0] in ROLLUP_SCHEMAS:
            txn.m["garbage"].append({"path": rel, "since": since})
    for name in SCHEMAS:
        candidates = []
        for rel, seq in found.items():
            if not rel.startswith(f"{name}/"):
                continue
            try:
                rows, lo, hi = _verify_data_file(root, rel, name)
                keys = _row_keys(read_data_file(root, rel, name), name)
            except DamagedFileError as exc:
                txn.quarantine(name, rel, exc.reason, _footer_rows(root / rel))
                continue
            candidates.append((seq, rows, rel, lo, hi, keys))
        candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
        covered = np.empty(0, dtype=np.int64)
        now = time.time()
        kept = superseded = 0
        for _seq, rows, rel, lo, hi, keys in candidates:
            new = ~_members(keys, covered)
            if new.all():
                txn.m["tables"][name].append(
                    {"path": rel, "rows": rows, "min_time": lo, "max_time": hi}
                )
                kept += 1
            else:
                if new.any():  # some rows are nowhere else: keep them in a file of their own
                    part = _conform(read_data_file(root, rel, name), name).filter(pa.array(new))
                    info = txn.write_table(name, part)
                    if info:
                        txn.m["tables"][name].append(dataclasses.asdict(info))
                        kept += 1
                txn.m["garbage"].append({"path": rel, "since": now})
                superseded += 1
            covered = np.union1d(covered, keys)
        if name == "sources":
            kept_sources = [f["path"] for f in txn.m["tables"]["sources"]]
        rows_kept = sum(f["rows"] for f in txn.m["tables"][name])
        report.actions.append(
            f"{name}: {kept} files, {rows_kept:,} rows"
            + (f"; {superseded} older copies left as garbage" if superseded else "")
        )
    _recount_feed_articles(txn, kept_sources)


def _members(keys: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    if not len(sorted_unique):
        return np.zeros(len(keys), dtype=bool)
    i = np.minimum(np.searchsorted(sorted_unique, keys), len(sorted_unique) - 1)
    return np.asarray(sorted_unique[i] == keys)


def _footer_rows(path: Path) -> int | None:
    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException):
        return None


def _recount_feed_articles(txn: _Txn, sources: list[str]) -> None:
    """Each feed's all-time article count, from the sources table (after a rebuild)."""
    counts: dict[str, int] = {}
    for rel in sources:
        t = read_data_file(txn.root, rel, "sources", ["feed"])
        vc = pc.value_counts(t.column("feed").combine_chunks())
        for v, n in zip(
            vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
        ):
            if v is not None:
                counts[v] = counts.get(v, 0) + n
    for url, n in counts.items():
        state = txn.m["feeds"].setdefault(url, {"url": url})
        state["articles"] = n


# --------------------------------------------------------------------------------------------
# Reanalysis (issue 13): mentions with their tone, stories and names, from the stored text


def replace_analyses(
    store: ParquetStore,
    analyse: Analyse,
    watchlist: Iterable[Entity],
    fingerprint: str,
    progress: Progress | None = None,
    chunk: int = REANALYSE_CHUNK,
    *,
    mentions_only: bool = False,
    log: Log | None = None,
    force: bool = True,
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
    with store.transaction(log=log) as txn:
        if not force and fingerprint and txn.m.get("fingerprint") == fingerprint:
            return 0  # done already (by an earlier run that was not told to force it)
        snap = _snapshot_from(store.root, txn.m)
        infos = _readable_files(txn, snap, "articles")  # a damaged file is quarantined, not fatal
        pages = _readable_files(txn, snap, "pages")
        total = sum(f.rows for f in infos)
        names = ("mentions",) if mentions_only else ("mentions", "stories", "names")
        new: dict[str, list[FileInfo]] = {name: [] for name in names}
        done = rows = 0
        for lo, hi in _time_slices(store.root, infos, chunk):
            t = _with_page_text(store.root, pages, _read_slice(store.root, infos, lo, hi), lo, hi)
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
        txn.rebuild_rollups()
        txn.recount = False  # every article left has just been counted
        txn.set_watchlist(watchlist, fingerprint)
    return rows


def _readable_files(txn: _Txn, snap: ParquetSnapshot, table: str) -> list[FileInfo]:
    """The snapshot's files of `table` that read in full; the others are quarantined."""
    readable = []
    for f in snap.files.get(table, ()):
        try:
            _verify_data_file(txn.root, f.path, table)
        except DamagedFileError as exc:
            txn.quarantine(table, exc.path, exc.reason)
            continue
        readable.append(f)
    return readable


def _stored_stories(
    root: Path, snap: ParquetSnapshot, lo: datetime | None, hi: datetime | None
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
        try:
            t = pq.read_table(
                root / f.path, columns=["article_id", "story"], filters=filters or None
            )
        except (OSError, pa.ArrowException):  # unreadable: its articles get a story afresh
            continue
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
    import pandas as pd

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


# --- Article pages: reanalysis reads an article's page text when its page was read (the
# pages block above; monitor.pages).


def _with_page_text(
    root: Path, pages: Sequence[FileInfo], table: pa.Table, lo: datetime | None, hi: datetime | None
) -> pa.Table:
    """A slice of articles (`_read_slice`) whose `text` is the page's for the articles whose
    page was read (its `ok` row in `pages`, which are sorted by the same publication time)."""
    filters: list[Any] = [("status", "=", "ok")]
    if lo is not None:
        filters.append(("published", ">=", lo))
    if hi is not None:
        filters.append(("published", "<", hi))
    texts: dict[int, str] = {}
    for f in pages:
        if lo is not None and f.max_time and datetime.fromisoformat(f.max_time) < lo:
            continue
        if hi is not None and f.min_time and datetime.fromisoformat(f.min_time) >= hi:
            continue
        t = pq.read_table(root / f.path, columns=["article_id", "text"], filters=filters)
        texts.update(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))
    if not texts:
        return table
    ids = table.column("id").to_pylist()
    merged = [
        texts.get(i, text) for i, text in zip(ids, table.column("text").to_pylist(), strict=True)
    ]
    return table.set_column(
        table.schema.get_field_index("text"), "text", pa.array(merged, pa.string())
    )


_COLUMNS: dict[tuple[str, int, int], frozenset[str]] = {}  # (path, mtime, size) -> columns


def table_columns(snap: ParquetSnapshot, name: str) -> frozenset[str]:
    """The columns that a table's files hold in this snapshot (all of its schema when it has
    no files). A store written before a column existed lacks it until a rematch rewrites the
    table; queries use this to read such a column as NULL."""
    want = set(TABLES[name].names)
    infos = snap.files.get(name, ())
    if not infos:
        return frozenset(want)
    found: set[str] = set()
    for f in reversed(infos):  # newest first: a file written by this version has them all
        path = str(snap.root / f.path)
        try:  # (keyed by the file's identity too: a file rewritten in place is read again)
            st = os.stat(path)
            key = (path, st.st_mtime_ns, st.st_size)
            if key not in _COLUMNS:
                _COLUMNS[key] = frozenset(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise _file_error(f.path, exc) from exc
        found |= _COLUMNS[key]
        if found >= want:
            break
    return frozenset(found)
