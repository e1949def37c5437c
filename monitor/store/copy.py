"""`monitor store copy FROM TO`: copy a store into another, embedded <-> PostgreSQL.

Every table is read from a snapshot of the source in an order that holds while the source does
not change (`Snapshot.scan`), and written into the destination in batches; each batch and the
copy's progress (rows done per table, and which state of which source) are committed
together (`BulkTarget.append`), so an interrupted copy is resumed by running it again: it
skips what is in and never writes a row twice. Feed state, the watchlist and the alert state
are copied last (`BulkTarget.finish`), which marks the copy done. Then the counts of every
table are compared.

The source must hold still: a poller writing to it is refused (stop it first), and a copy
begun from another state of the source (a poller ran in between) is not resumed: start again
into an empty destination. The destination must be empty, or hold an unfinished copy of this
same state of the source.

What it leaves to others: each backend's reading and writing (`BulkTarget` in parquet.py and
postgres.py), the command line's progress bar (cli.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import StoreError
from .base import Store
from .schema import SCHEMAS

BATCH_ROWS = 50_000

# table, rows copied, rows in all
CopyProgress = Callable[[str, int, int], None]


@dataclass
class CopyReport:
    source: str
    destination: str
    resumed: bool = False  # an interrupted copy was carried on
    already: bool = False  # the destination held a finished copy of this source already
    copied: dict[str, int] = field(default_factory=dict)  # rows written now, per table
    source_rows: dict[str, int] = field(default_factory=dict)
    destination_rows: dict[str, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return all(self.destination_rows.get(t) == n for t, n in self.source_rows.items())


def copy_store(
    source: Store,
    destination: Store,
    progress: CopyProgress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy `source` into `destination` (see the module docstring). Raises StoreError when
    the source is being written to, or the destination holds something else."""
    if source.location == destination.location:
        raise StoreError("the source and the destination are the same store")
    if not source.exists():
        raise StoreError(f"there is no store at {source.location} to copy")
    if source.poller_running():
        raise StoreError(
            f"a poller is writing to {source.location}: stop it first "
            "(a copy needs a store that holds still)"
        )
    snap = source.snapshot()
    report = CopyReport(source=source.location, destination=destination.location)
    target = destination.bulk()
    state = target.progress()
    if state is None:
        if not target.is_empty():
            raise StoreError(
                f"{destination.location} already holds data that is not a copy of "
                f"{source.location} in progress: copy into an empty store"
            )
        target.begin(snap.key)
        done: dict[str, int] = {}
    elif state.get("source") != snap.key:
        raise StoreError(
            f"{destination.location} holds an unfinished copy of another store, or of "
            f"{source.location} before it changed (a poller ran since?): start again with an "
            "empty destination"
        )
    else:
        report.already = bool(state.get("done"))
        report.resumed = not report.already
        done = dict(state.get("tables") or {})
    for table in SCHEMAS:
        total = snap.rows(table)
        at = int(done.get(table, 0))
        report.copied[table] = 0
        if progress:
            progress(table, at, total)
        if report.already:
            continue
        for part in snap.scan(table, start=at, batch_rows=batch_rows):
            at += part.num_rows
            target.append(table, part, at)
            report.copied[table] += part.num_rows
            if progress:
                progress(table, at, max(total, at))
    if not report.already:
        target.finish(snap)
    after = destination.snapshot()
    report.source_rows = {t: snap.rows(t) for t in SCHEMAS}
    report.destination_rows = {t: after.rows(t) for t in SCHEMAS}
    return report
