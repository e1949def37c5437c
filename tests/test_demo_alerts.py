"""The demo shows an alert: the world's known spike (`World.spike`), the spike rule the demo
writes into its feeds.yaml for it, the demo's poller running the alert dispatcher as `monitor
poll` does, `monitor alerts backtest` firing on the spike's first day for that entity, and the
dashboard's Alerts page drawing that firing on the entity's timeline.

The store is filled as `monitor demo` fills it: the demo's own feeds.yaml (`write_config`),
its poller with the dispatcher (`demo_poller`) and its catch-up over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from monitor import alerts, cli
from monitor.config import load_config
from monitor.demo.command import FEED_ITEMS, catch_up, demo_poller, write_config
from monitor.demo.server import serve_world
from monitor.demo.world import SPIKE_DAYS_AGO, World
from monitor.store import open_store
from tests.browser import NO_SECRETS

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[World, Path, datetime, datetime]:
    """A three-week demo world, ingested by the demo's poller from the demo's feeds.yaml;
    and when the poller started and stopped (its clock is the real one: the rule is read at
    the hours before it)."""
    world = World.generate(seed=5, days=21, outlets=14, articles_per_day=150, now=NOW)
    folder = tmp_path_factory.mktemp("demo-alerts")
    with serve_world(world, clock=lambda: NOW, slow_delay=0.1, limit=FEED_ITEMS) as server:
        path = write_config(world, folder, server.base_url)
        config = load_config(path)
        store = open_store(config.store)
        started = datetime.now(UTC)
        with store.poller_lock(), demo_poller(config, store, log=lambda _: None) as poller:
            poller.open()
            result = asyncio.run(catch_up(poller, server))
        stopped = datetime.now(UTC)
    assert result.summary.new_articles == world.expected_articles(NOW)
    return world, path, started, stopped


def test_the_world_has_a_known_spike_and_the_demo_a_rule_on_it(demo) -> None:
    world, path, *_ = demo
    assert world.spike is not None
    entity, start = world.spike
    assert start == NOW - timedelta(days=SPIKE_DAYS_AGO)
    (rule,) = load_config(path).alerts
    assert (rule.name, rule.when, rule.entities) == (f"{entity} spike", "spike", (entity,))
    assert rule.to == ()  # recorded, shown on the dashboard; the demo sends nothing anywhere


def test_the_demo_poller_runs_the_alert_dispatcher(demo) -> None:
    """The demo's poller read the rule after its commits and fired it: a new rule starts at
    the hour it is first read (once the history and its pages are in), when the spike, in its
    second day, is still far above the days before. (Its first day is the backtest's to show.)
    """
    world, path, started, stopped = demo
    config = load_config(path)
    snap = open_store(config.store).snapshot()
    (rule,) = config.alerts
    until = alerts.rule_states(snap)[rule.name].until
    assert until is not None
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    assert alerts.floor_hour(started) <= until <= stopped  # read up to the last full hour
    (fired,) = alerts.fired_history(snap)
    assert (fired.alert, fired.entity) == (rule.name, world.spike[0])
    assert alerts.floor_hour(started) <= fired.fired.astimezone(UTC) <= until
    assert fired.value >= 4 * fired.baseline


def backtest_rows(path: Path, capsys) -> list[dict[str, object]]:
    capsys.readouterr()
    assert cli.main(["-c", str(path), "alerts", "backtest", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_backtest_fires_on_the_spikes_first_day(demo, capsys) -> None:
    world, path, *_ = demo
    assert world.spike is not None
    entity, start = world.spike
    rows = backtest_rows(path, capsys)
    assert rows and {r["entity"] for r in rows} == {entity}
    fired = sorted(datetime.fromisoformat(str(r["fired"])) for r in rows)
    print(
        f"spike of {entity} from {start:%Y-%m-%d %H:%M}; fired at",
        [f"{f:%m-%d %H:%M}" for f in fired],
    )
    assert start < fired[0] < start + timedelta(days=1)  # never in the two weeks before
    first = next(r for r in rows if datetime.fromisoformat(str(r["fired"])) == fired[0])
    assert float(str(first["value"])) >= 3 * float(str(first["baseline"])) > 0
    # the function behind the command says the same
    config = load_config(path)
    snap = open_store(config.store).snapshot()
    replayed = alerts.backtest(snap, config)
    assert [f.fired.astimezone(UTC) for f in replayed] == fired


def test_the_alerts_page_shows_the_spike(demo, monkeypatch) -> None:
    from streamlit import config as st_config

    st_config.set_option("secrets.files", [str(NO_SECRETS)])
    world, path, *_ = demo
    assert world.spike is not None
    entity, start = world.spike
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(
        {
            "view": "alerts",
            "range": "custom",
            "from": (NOW - timedelta(days=14)).date().isoformat(),
            "to": NOW.date().isoformat(),
        }
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    rules = at.dataframe[0].value
    assert rules["Rule"].tolist() == [f"{entity} spike"]
    fired = at.dataframe[1].value  # what the demo's poller fired, at its start
    assert len(fired) == 1 and entity in fired.to_csv()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (chart,) = [c for c in charts if c["layout"]["title"]["text"] == entity]
    markers = [x for trace in chart["data"][1:] for x in trace["x"]]
    assert markers, "no marker where the rule fires"
    first = datetime.fromisoformat(min(markers)[:19]).replace(tzinfo=UTC)
    assert start < first < start + timedelta(days=1)
