"""The Alerts page, headless: the rules and their state as the store and `monitor alerts` say,
the backtest's markers equal to `monitor alerts backtest`, what fired with links to the view at
that time, the deliveries that failed, and rule names from feeds.yaml shown as text."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from monitor import alerts
from monitor.config import load_config
from monitor.delivery import delivery_status
from tests.dashboard.helpers import (
    APP,
    NOW,
    captions,
    cli_json,
    days_ago,
    figure,
    notices,
    snapshot,
)
from tests.dashboard_store import HOSTILE_RULE, feeds_yaml


def custom(app, **params):
    d0, d1 = days_ago(20), days_ago(0)
    return app(view="alerts", range="custom", **{"from": d0, "to": d1}, **params), d0, d1


def test_rules_and_their_state(app, store_config: Path, capsys) -> None:
    at, _, _ = custom(app)
    rules = at.dataframe[0].value
    listed = cli_json(store_config, capsys, "alerts")
    assert rules["Rule"].tolist() == [r["name"] for r in listed]
    assert rules["Firing now"].tolist() == [", ".join(r["firing"]) for r in listed]
    fired = [r["last_fired"] for r in listed]
    shown = [None if v != v or v is None else v.isoformat() for v in rules["Last fired"]]
    assert [f[:16] if f else None for f in fired] == [s[:16] if s else None for s in shown]
    assert rules.set_index("Rule").loc["LexCorp spike", "To"] == "desk (json://127.0.0.1:9/…)"
    assert (
        "reach 2x their mean per 24 hours over the 7 days before, and at least 6"
        in (rules.set_index("Rule").loc["LexCorp spike", "Fires when"])
    )


def test_backtest_markers_equal_the_cli(app, store_config: Path, capsys) -> None:
    at, d0, d1 = custom(app)
    rows = cli_json(store_config, capsys, "alerts", "backtest", "--since", d0, "--until", d1)
    assert rows, "the store's rules fire in the range"
    drawn: dict[tuple[str, str], list[str]] = {}
    charts = [figure(at, i) for i in range(len(at.get("plotly_chart")))]
    for spec in charts:
        entity = spec["layout"]["title"]["text"]
        for trace in spec["data"][1:]:  # the first trace is the entity's mentions
            for x in trace["x"]:
                drawn.setdefault((trace["name"], entity), []).append(x[:16])
    want: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r["alert"] == "Feeds down":
            continue
        name = r["alert"].replace("<", "&lt;").replace(">", "&gt;")
        want.setdefault((name, r["entity"]), []).append(r["fired"][:16])
    assert {k: sorted(v) for k, v in drawn.items()} == {k: sorted(v) for k, v in want.items()}
    assert ("LexCorp spike", "LexCorp") in drawn  # the burst three days ago
    # the burst's articles are 3 days and up to 8 hours old: one or two dates near midnight
    spike = {(NOW - timedelta(days=3, hours=h)).date().isoformat() for h in range(9)}
    assert any(x[:10] in spike for x in drawn[("LexCorp spike", "LexCorp")])
    assert "Feed-down rules would have fired 3 times" in captions(at)
    assert f"alerts backtest --since {d0} --until {d1}" in captions(at)


def test_fired_history_links_to_the_view_at_that_time(app, store_config: Path) -> None:
    at, d0, _ = custom(app)
    table = at.dataframe[1].value
    snap = snapshot(store_config)
    start = datetime.fromisoformat(d0)
    history = alerts.fired_history(snap, start)
    assert table["Rule"].tolist() == [f.alert for f in reversed(history)]
    assert table["For"].tolist() == [f.entity for f in reversed(history)]
    row = table[table["Rule"] == "LexCorp spike"].iloc[0]
    link = urlsplit(row["View"])
    assert row["View"].startswith("./?")  # this dashboard, wherever it is served
    params = parse_qs(link.query)
    fired = row["Fired (UTC)"].to_pydatetime()
    assert params["view"] == ["timeline"] and params["e"] == ["LexCorp"]
    assert params["to"] == [(fired - timedelta(microseconds=1)).date().isoformat()]
    assert params["from"] == [(fired - timedelta(days=8)).date().isoformat()]  # window+baseline
    down = table[table["Rule"] == "Feeds down"].iloc[0]
    assert parse_qs(urlsplit(down["View"]).query) == {"view": ["feeds"]}


def test_delivery_failures_are_shown(app, store_config: Path) -> None:
    at, _, _ = custom(app)
    snap = snapshot(store_config)
    assert delivery_status(snap, NOW) in notices(at)
    failures = at.dataframe[2].value
    assert failures["Last error"].tolist() == ["HTTP 503 from the webhook"]
    assert failures["Status"].tolist() == ["retrying"]
    waiting = at.dataframe[3].value
    assert waiting["Name"].tolist() == ["LexCorp spike"] and waiting["Attempts"].tolist() == [1]
    log = at.dataframe[4].value
    assert log["Outcome"].tolist() == ["failed"]


def test_rule_names_are_text(app) -> None:
    at, _, _ = custom(app)
    assert HOSTILE_RULE in at.dataframe[0].value["Rule"].tolist()
    traces = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    hostile = [t for t in traces if "javascript:alert(7)" in t.get("name", "")]
    assert hostile  # its markers are drawn, its name escaped for plotly's pseudo-HTML
    for t in hostile:
        assert t["name"].endswith("&lt;b&gt;") and "(7)) &lt;b&gt;</b> fired" in t["hovertemplate"]
    assert not [h for h in at.get("html") if "javascript:alert(7)" in h.proto.body]


def test_no_rules_says_how_to_add_them(tmp_path: Path, monkeypatch) -> None:
    from tests.dashboard_store import build_store

    config = build_store(tmp_path / "w", NOW, days=3, per_day=4)
    config.write_text(feeds_yaml())  # the same store, feeds.yaml without alerts
    assert not load_config(config).alerts
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["view"] = "alerts"
    at.run()
    assert not at.exception
    assert any("No alert rules" in i.value for i in at.info)
