"""The Feeds page, headless: the health of every feed, the whole error and new address of
each feed that needs attention (wrapped, escaped), and a polling chart with sane bars on a
store polled for one day only."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest

from monitor.config import load_config
from monitor.store import open_store
from tests.dashboard.helpers import NOW, array, figure, notices, run_app
from tests.dashboard_store import FEEDS, build_store


def problems_html(at) -> str:
    bodies = [h.proto.body for h in at.get("html") if "mm-problems" in h.proto.body]
    assert bodies, "no Needs attention table"
    return bodies[0]


def test_feeds_view_lists_feed_health(app) -> None:
    at = app(view="feeds")
    df = at.dataframe[0].value
    assert set(df["name"]) == {name for name, _, _ in FEEDS}
    assert "moved permanently" in notices(at)


def test_errors_and_new_addresses_are_shown_whole(app) -> None:
    """The grid holds only narrow columns; the error and the new address of every feed that
    needs attention are in a wrapped table above it, in full."""
    at = app(view="feeds")
    assert not {"error", "moved_to"} & set(at.dataframe[0].value.columns)
    table = problems_html(at)
    assert "http://127.0.0.1:9/ledger-new.xml" in table  # moved: the whole new URL
    assert "Smallville Ledger" in table
    assert "overflow-wrap: anywhere" in table


def test_the_polling_chart_waits_for_its_expander(app) -> None:
    """A first open of Feeds draws the grid and no chart (no plotly.js for the browser to
    load); the expander below the grid draws it, and a link keeps it open."""
    at = app(view="feeds")
    assert len(at.get("plotly_chart")) == 0
    assert "Polling over the range" in at.expander[-1].proto.label
    at = app(view="feeds", polling="true")
    assert len(at.get("plotly_chart")) == 1
    assert {t["name"] for t in figure(at)["data"]} == {"polled fine", "failed"}


def test_feed_errors_are_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = build_store(tmp_path / "w", NOW, days=1, per_day=2)
    store = open_store(load_config(config).store)
    writer = store.writer()
    state = store.snapshot().feeds[FEEDS[0][1]]
    state.last_outcome, state.last_error = "failed", '<img src=x onerror="alert(1)"> [/x] 500'
    writer.set_feed(state)
    writer.commit()
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    table = problems_html(run_app(view="feeds"))
    assert html.escape('<img src=x onerror="alert(1)"> [/x] 500') in table
    assert "<img" not in table


def test_polling_chart_of_a_single_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One day of polls: a bar a day wide on a 30-day axis labelled with dates, not one bar
    filling the plot under "00:00:00 Dec 1"."""
    monkeypatch.setenv("MONITOR_CONFIG", str(build_store(tmp_path / "w", NOW, days=0, per_day=3)))
    at = run_app(view="feeds", polling="true")
    assert not at.exception
    spec = figure(at)
    bars = spec["data"]
    assert {b["type"] for b in bars} == {"bar"}
    day_ms = 86_400_000
    assert all(0 < w <= day_ms for b in bars for w in array(b["width"]))
    x0, x1 = (pd.Timestamp(x) for x in spec["layout"]["xaxis"]["range"])
    assert x1 - x0 >= pd.Timedelta(days=14)
    assert "%H" not in spec["layout"]["xaxis"]["tickformat"]


def test_quarantined_files_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged data file the poller took out of the store is named on the Feeds page, with
    the rows it held, until `monitor repair` marks it as seen."""
    config = build_store(tmp_path / "w", NOW, days=2, per_day=3)
    store = open_store(load_config(config).store)
    bad = store.snapshot().files["articles"][0]
    (store.root / bad.path).write_bytes(b"PAR1 not parquet at all")
    writer = store.writer(log=lambda msg: None)  # its dedup index meets it: quarantined
    writer.set_feed(store.snapshot().feeds[FEEDS[0][1]])
    writer.commit()
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = run_app(view="feeds")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "damaged data file" in errors and "monitor repair" in errors
    assert bad.path.split("/")[-1].split("-")[0] in errors
    assert f"{bad.rows:,} rows lost" in errors


def test_a_damaged_file_not_yet_quarantined_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = build_store(tmp_path / "w", NOW, days=2, per_day=3)
    store = open_store(load_config(config).store)
    bad = store.snapshot().files["mentions"][0]
    (store.root / bad.path).write_bytes(b"PAR1 not parquet at all")
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = run_app(view="overview")
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert "damaged" in error and "monitor repair" in error and "\n" not in error
