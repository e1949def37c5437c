"""Shared fixtures.

- `demo_config`: a small demo world ingested by the real poller over HTTP.
- `pg_cluster`: a throwaway PostgreSQL cluster for the session (tests/pgcluster.py: initdb in
  a temporary folder, 127.0.0.1 on a free port, stopped at the end); `pg_url`: a fresh empty
  database in it for one test; `pg_reader_url`: the same database through a role that can
  only read it (as a dashboard connects).
- `store_location`: parametrized over both stores, the embedded one (a folder) and
  PostgreSQL (a URL), so a test using it runs on both.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import STORE_ENV, load_config
from monitor.demo.server import serve_world
from monitor.demo.world import World
from monitor.poll import Poller
from monitor.store.postgres import close_all_stores
from tests.pgcluster import Cluster

# a store of the developer's own must never be what a test polls into
os.environ.pop(STORE_ENV, None)


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory):
    """Path of a feeds.yaml whose store holds a 30-day demo world of 14 outlets."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    world = World.generate(seed=5, days=30, outlets=14, articles_per_day=120, now=now)
    folder = tmp_path_factory.mktemp("demo")
    with serve_world(world, clock=lambda: now, slow_delay=0.1) as server:
        path = folder / "feeds.yaml"
        path.write_text(world.feeds_yaml(server.base_url, store="data", every="30s"))
        config = load_config(path)
        for _ in range(3):  # the flaky feed may owe a second poll
            if asyncio.run(Poller(config).poll_once()).failed <= 1:
                break
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = Cluster.start()
    try:
        yield cluster
    finally:
        close_all_stores()
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database for this test (dropped afterwards); its URL."""
    name = "t_" + hashlib.blake2b(request.node.nodeid.encode(), digest_size=8).hexdigest()
    url = pg_cluster.create_database(name)
    try:
        yield url
    finally:
        close_all_stores()
        pg_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_reader_url(pg_cluster: Cluster, pg_url: str) -> str:
    """The test's database through the read-only role of docs/deploy.md (create the tables
    first, e.g. with `open_store(pg_url).migrate()`, so that the grants reach them)."""
    return pg_cluster.create_reader(pg_url.rsplit("/", 1)[1])


@pytest.fixture(params=["embedded", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store lives: a folder (the embedded store) or a PostgreSQL URL."""
    if request.param == "embedded":
        return tmp_path / "store"
    return str(request.getfixturevalue("pg_url"))
