"""The Discover page, headless: the rising names equal `monitor names`, their sample articles
the queries', and "watch this" edits feeds.yaml (comments kept) and counts the name over the
whole stored history (here when no poller runs, by the poller when one does), or says why it
cannot (a file it cannot write, a name already watched)."""

from __future__ import annotations

import html
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from monitor_app import actions
from tests.dashboard.helpers import (
    NOW,
    captions,
    cli_json,
    days_ago,
    notices,
    run_app,
    snapshot,
)
from tests.dashboard_store import build_store

NAME = "Perry White"  # the store's rising name (tests/dashboard_store.py)


def finish_recount(config: Path) -> None:
    """Wait for the recount the dashboard started in its own thread."""
    job = actions.recount_job(load_config(config))
    assert job is not None and job.thread is not None
    job.thread.join(120)
    assert not job.running and not job.error


def form_button(at):
    return next(b for b in at.get("button") if "Add to the watchlist" in b.proto.label)


@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of this test's own, since watching a name edits its feeds.yaml."""
    config = build_store(tmp_path / "w", NOW, days=8, per_day=8)
    config.write_text("# hand-written: keep me\n" + config.read_text())
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    return config


def custom(d0: str, d1: str) -> queries.Filters:
    start = datetime.fromisoformat(d0)
    return queries.Filters(start=start, end=datetime.fromisoformat(d1) + timedelta(days=1))


def test_rising_names_equal_the_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(6), days_ago(0)
    at = app(view="discover", range="custom", **{"from": d0, "to": d1})
    table = at.dataframe[0].value
    rows = cli_json(store_config, capsys, "names", "--since", d0, "--until", d1, "--limit", "50")
    assert table["Name"].tolist() == [r["name"] for r in rows] and NAME in table["Name"].tolist()
    assert table["Articles"].tolist() == [r["articles"] for r in rows]
    assert table["Previous"].tolist() == [r["previous"] for r in rows]
    assert f"names --since {d0} --until {d1} --limit 50" in captions(at)


def test_sample_articles_of_the_chosen_name(app, store_config: Path) -> None:
    d0, d1 = days_ago(6), days_ago(0)
    at = app(view="discover", range="custom", name=NAME, **{"from": d0, "to": d1})
    assert at.selectbox(key="name").value == NAME
    body = next(h.proto.body for h in at.get("html") if "mm-list" in h.proto.body)
    titles = re.findall(r'<div class="mm-title">(.*?)</div>', body)
    titles = [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in titles]
    want = queries.name_articles(snapshot(store_config), custom(d0, d1), [NAME], per_name=5)
    assert titles == want["title"].tolist() and len(titles) == 5
    assert f'<mark class="mm-hit">{NAME}</mark>' in body


def test_watch_this_adds_the_name_and_counts_its_whole_history(own_store: Path, capsys) -> None:
    at = run_app(view="discover", range="7d")
    assert not at.exception
    assert at.selectbox(key="name").value == NAME
    assert "No poller is running: the dashboard recounts, in the background" in captions(at)
    kind = next(s for s in at.selectbox if s.label == "Kind")
    assert kind.value == "person"
    form_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    finish_recount(own_store)
    at.run()
    text = own_store.read_text()
    assert text.startswith("# hand-written: keep me\n")  # comments kept
    assert f"  - name: {NAME}\n    kind: person\n" in text
    assert NAME in [e.name for e in load_config(own_store).watch]
    done = " ".join(s.value for s in at.success)
    assert f"Added **{NAME}** (person)" in done and "were counted in all" in done
    # counted over the whole stored history: every stored article naming him, from the first
    snap = open_store(load_config(own_store).store).snapshot()
    naming = snap.query(
        "SELECT COUNT(*) AS n, min(published) AS first FROM {articles} WHERE text LIKE ?",
        [f"%{NAME}%"],
    )
    rows = cli_json(own_store, capsys, "mentions", "--entity", NAME)
    assert rows[0]["articles"] == int(naming["n"].iloc[0]) > 0
    counted = queries.mention_counts(snap, queries.Filters(entities=(NAME,)), by="day")
    assert counted["period"].min() == naming["first"].iloc[0].floor("D")
    # one click to its timeline, over all time
    at.button(key="_watched_open").click().run()
    assert at.tabs and at.query_params.get("view") in (["timeline"], "timeline")
    assert at.multiselect(key="e").value == [NAME]
    assert not at.exception
    assert "not counted yet" not in notices(at)


def test_watch_this_leaves_the_recount_to_a_running_poller(own_store: Path) -> None:
    store = open_store(load_config(own_store).store)
    before = store.snapshot()
    with store.poller_lock():
        at = run_app(view="discover", range="7d")
        assert "A poller is running" in captions(at)
        form_button(at).click().run()
        assert not at.exception
        assert any("rereads the file between polls" in i.value for i in at.info)
        assert NAME in own_store.read_text()
        assert store.snapshot().key == before.key  # nothing written to the store here
        at = run_app(view="overview")  # every page says it is not counted yet, and by whom
        assert f"watches “{NAME}”, which the store has not counted yet" in notices(at)
        assert "The running poller rereads feeds.yaml" in notices(at)


def test_a_name_not_counted_can_be_counted_from_any_page(own_store: Path) -> None:
    """feeds.yaml edited by hand, no poller: every page says so and offers to count it."""
    own_store.write_text(own_store.read_text().replace(
        "watch:\n", f"watch:\n  - name: {NAME}\n    kind: person\n", 1))  # fmt: skip
    at = run_app(view="timeline", range="all")
    assert f"watches “{NAME}”, which the store has not counted yet" in notices(at)
    at.button(key="_recount").click().run()
    assert not at.exception
    finish_recount(own_store)
    at.run()
    assert "not counted yet" not in notices(at)
    snap = snapshot(own_store)
    assert NAME in [e.name for e in snap.watchlist]
    assert queries.mention_counts(snap, queries.Filters(entities=(NAME,)))["articles"].iloc[0] > 0


def test_watch_this_refuses_a_name_already_watched(own_store: Path) -> None:
    at = run_app(view="discover", range="7d")
    before = own_store.read_text()
    next(t for t in at.text_input if t.label == "Name").input("bukele")
    form_button(at).click().run()
    assert not at.exception
    assert any("already watched (an alias of Nayib Bukele)" in e.value for e in at.error)
    assert own_store.read_text() == before


def test_watch_this_is_refused_when_feeds_yaml_cannot_be_written(
    own_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if Path(p) == own_store else real(p, mode, **kw)
    )
    at = run_app(view="discover", range="7d")
    assert form_button(at).proto.disabled
    assert "cannot edit" in notices(at) and "read-only for this process" in notices(at)


def test_a_link_to_a_name_not_rising_says_so(app) -> None:
    at = app(view="discover", range="7d", name="<b>Nobody</b>")
    assert "name “<b>Nobody</b>” is not among the rising names" in notices(at)
    assert at.selectbox(key="name").value == NAME


def test_a_public_dashboard_edits_nothing(own_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reachable beyond this machine without sign-in (--no-auth): no edit, no recount."""
    from streamlit import config as st_config

    monkeypatch.setenv("MONITOR_NO_AUTH", "1")
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = run_app(view="discover", range="7d")
        assert form_button(at).proto.disabled
        assert "it is public (reachable beyond this machine without sign-in)" in notices(at)
        own_store.write_text(own_store.read_text().replace(
            "watch:\n", f"watch:\n  - name: {NAME}\n    kind: person\n", 1))  # fmt: skip
        at = run_app(view="overview")
        assert "which the store has not counted yet" in notices(at)
        assert not [b for b in at.button if b.key == "_recount"]
    finally:
        st_config.set_option("server.address", before)
