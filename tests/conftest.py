"""Shared fixtures. `demo_config`: a small demo world ingested by the real poller over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import load_config
from monitor.demo.server import serve_world
from monitor.demo.world import World
from monitor.poll import Poller


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
