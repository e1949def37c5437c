"""The store: the only package that knows where and how articles, mentions, the fetch log, feed
state and alert state are kept. Two backends behind one interface (`base.py`):

- `parquet.py`, the embedded store (the default): Parquet files and a manifest in a folder,
  read with DuckDB; nothing to install; one poller per store.
- `postgres.py`, the team store: a PostgreSQL database (`store: postgresql://...` or
  `$MONITOR_STORE`), shared by several pollers and dashboards.

`open_store(location)` picks the backend; everything else (poll.py, queries.py, alerts.py,
delivery.py, the CLI and the dashboard) uses only the interface. The tables are defined once,
in `schema.py`, for both. `copy.py` copies a store into another (`monitor store copy`).

What it leaves to others: what the rows mean (poll.py builds them), the questions asked of them
(queries.py), printing reports (cli.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..models import Entity
from .base import (
    Analyse,
    Claim,
    Finding,
    Health,
    RepairReport,
    Snapshot,
    Store,
    Writer,
    is_database_url,
    open_store,
)
from .schema import SCHEMAS, Quarantined, article_key, utc_naive

__all__ = [
    "SCHEMAS",
    "Claim",
    "Finding",
    "Health",
    "Quarantined",
    "RepairReport",
    "Snapshot",
    "Store",
    "Writer",
    "article_key",
    "check_store",
    "is_database_url",
    "open_store",
    "repair_store",
    "replace_analyses",
    "update_alerts",
    "utc_naive",
]


# Functions of the interface's methods, as earlier versions had them.


def replace_analyses(
    store: Store,
    analyse: Analyse,
    watchlist: Iterable[Entity],
    fingerprint: str,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 50_000,
    *,
    mentions_only: bool = False,
    log: Callable[[str], None] | None = None,
) -> int:
    return store.replace_analyses(
        analyse,
        watchlist,
        fingerprint,
        progress,
        mentions_only=mentions_only,
        log=log,
        chunk=chunk,
    )


def update_alerts(
    store: Store,
    change: Callable[[dict[str, Any]], None],
    *,
    firings: Sequence[Mapping[str, Any]] = (),
    deliveries: Sequence[Mapping[str, Any]] = (),
) -> Snapshot:
    return store.update_alerts(change, firings=firings, deliveries=deliveries)


def check_store(store: Store) -> Health:
    return store.check()


def repair_store(store: Store, log: Callable[[str], None] | None = None) -> RepairReport:
    return store.repair(log)
