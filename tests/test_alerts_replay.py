"""Backtest equals live: a demo world replayed day by day through the real poller over HTTP
(misbehaving feeds included) fires exactly what `backtest` finds over the same hours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor import alerts
from monitor.config import load_config
from monitor.delivery import Dispatcher
from monitor.demo.server import serve_world
from monitor.demo.world import World  # the one import of the demo world in these tests
from monitor.poll import Poller
from monitor.store import open_store

END = datetime(2026, 10, 30, 6, 0, tzinfo=UTC)
DAYS = 8  # replayed day by day, after a first poll that back-fills the history before

RULES = """
alerts:
  - name: People spike
    when: spike
    kind: person
    factor: 2
    min: 5
  - name: Busy organizations
    when: above
    kind: organization
    min: 40
  - name: Pairs
    when: together
    entities: [Talia Brenwick, Ramon Olaizabal, NRTB]
    window: 12h
    min: 3
  - name: Feeds down
    when: feed-down
    window: 6h
"""


@pytest.mark.slow
def test_live_firings_equal_the_backtest_of_the_same_hours(tmp_path):
    world = World.generate(seed=5, days=30, outlets=14, articles_per_day=150, now=END)
    clock = [END - timedelta(days=DAYS)]
    with serve_world(world, clock=lambda: clock[0], slow_delay=0.05) as server:
        path = tmp_path / "feeds.yaml"
        path.write_text(world.feeds_yaml(server.base_url, store="data", every="30s") + RULES)
        config = load_config(path)
        store = open_store(config.store)
        dispatcher = Dispatcher(store, config, now=lambda: clock[0])
        poller = Poller(config, store, now=lambda: clock[0], on_commit=dispatcher.on_commit)
        while clock[0] <= END:
            for _ in range(3):  # the flaky feed answers 500 now and then: poll it again
                if asyncio.run(poller.poll_once()).failed <= 1:  # the HTML page always fails
                    break
            clock[0] += timedelta(days=1)

    snap = store.snapshot()
    live = alerts.fired_history(snap)
    states = alerts.rule_states(snap)
    assert {s.until for s in states.values()} == {END}  # every hour up to the last poll read
    start = END - timedelta(days=DAYS)
    replayed = alerts.backtest(snap, config, start, END)
    assert {f.alert for f in live} == {r.name for r in config.alerts}  # every rule fired
    assert len(live) >= 10
    assert [f.public() for f in replayed] == [f.public() for f in live]
    assert [f.threshold for f in replayed] == [f.threshold for f in live]
