"""Alert rules on small stores: what each rule reads at an hour, the episode rule, the live
evaluation's bookkeeping, and the state kept in the store."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from monitor import alerts
from monitor.alerts import RuleState
from monitor.config import load_config
from monitor.delivery import Dispatcher, delivery_status
from monitor.models import Article, FeedState
from monitor.store import Store, article_key, update_alerts

S = datetime(2026, 11, 1, tzinfo=UTC)  # the store's first hour
H = timedelta(hours=1)
FEED1, FEED2 = "http://feeds.example/1", "http://feeds.example/2"


def config_with(tmp_path, alerts_yaml: str):
    (tmp_path / "feeds.yaml").write_text(
        f"""store: data
feeds:
  - name: Feed One
    url: {FEED1}
  - name: Feed Two
    url: {FEED2}
watch:
  - name: Alpha
    kind: person
  - name: Beta
    kind: person
  - name: Gamma
    kind: topic
alerts:
{alerts_yaml}"""
    )
    return load_config(tmp_path / "feeds.yaml")


class World:
    """Articles written straight into a store: `add(hour, {"Alpha": 2}, feed)`."""

    def __init__(self, store: Store):
        self.store = store
        self.writer = store.writer()
        self.n = 0

    def add(self, hour: float, counts: dict[str, int], feed: str = FEED1, n: int = 1) -> None:
        for _ in range(n):
            self.n += 1
            t = S + hour * H
            a = Article(
                id=article_key("url", f"https://news.example/{self.n}"),
                url=f"https://news.example/{self.n}",
                title=f"Story {self.n} about {', '.join(counts)}",
                text="",
                published=t,
                first_seen=t,
                author="",
                feed=feed,
            )
            self.writer.add_article(a, feed, t)
            self.writer.add_mentions(a, counts)

    def fetch(self, hour: float, outcome: str, feed: str = FEED1) -> None:
        t = (S + hour * H).replace(tzinfo=None)
        self.writer.add_fetch(
            {"feed": feed, "time": t, "status": 200, "outcome": outcome, "bytes": 1,
             "new_articles": 0, "duration": 0.1, "error": "boom" if outcome == "failed" else ""}
        )  # fmt: skip

    def commit(self):
        return self.writer.commit()


def fired(firings) -> list[tuple[str, str, float, float, float]]:
    hours = [(f.fired - S) / H for f in firings]
    return [
        (f.alert, f.entity, h, f.value, round(f.baseline, 2))
        for f, h in zip(firings, hours, strict=True)
    ]


def test_a_spike_fires_once_per_episode_and_re_arms_below_the_threshold(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: Alpha spike
    when: spike
    entity: Alpha
    window: 6h
    baseline: 2d
    factor: 3
    min: 5
""",
    )
    w = World(Store(config.store))
    for hour in range(100):
        w.add(hour, {"Alpha": 1})  # one mention an hour: 6 per window
    w.add(80.5, {"Alpha": 1}, n=30)  # a burst in the hour 80-81
    w.add(90.5, {"Alpha": 2}, n=20)  # another one in the hour 90-91
    snap = w.commit()
    found = alerts.backtest(snap, config, S, S + 100 * H)
    # threshold max(3 x 6, 5) = 18: 36 mentions at 81; back below at 87 (6 in [81, 87)); at
    # 91, 6 + 40 = 46 against a baseline that now holds the first burst: (48 + 30) / 8
    assert fired(found) == [
        ("Alpha spike", "Alpha", 81.0, 36.0, 6.0),
        ("Alpha spike", "Alpha", 91.0, 46.0, 9.75),
    ]
    assert [f.threshold for f in found] == [18.0, 29.25]
    # the same readings hour by hour: over the threshold from 81 to 86, under at 87
    h = alerts.load_history(snap, config, config.alerts, S + 80 * H, S + 88 * H)
    holds = [alerts.readings(config.alerts[0], h, S + k * H)[0].holds for k in range(80, 89)]
    assert holds == [False, True, True, True, True, True, True, False, False]
    # a backtest starting inside the episode fires at its first hour, as a new poller would
    late = alerts.backtest(snap, config, S + 83 * H, S + 89 * H)
    assert fired(late) == [("Alpha spike", "Alpha", 83.0, 36.0, 6.0)]


def test_a_baseline_needs_one_window_of_history(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: Early
    when: spike
    entity: Alpha
    window: 6h
    baseline: 2d
""",
    )
    w = World(Store(config.store))
    w.add(0, {"Alpha": 1})
    w.add(3, {"Alpha": 1}, n=20)  # a burst before the store covers a window of baseline
    w.add(14, {"Alpha": 1}, n=50)  # one after it: baseline [0, 9) holds 21 -> 14 per window
    snap = w.commit()
    found = alerts.backtest(snap, config, S, S + 20 * H)
    assert fired(found) == [("Early", "Alpha", 15.0, 50.0, 14.0)]
    assert found[0].threshold == 42.0
    h = alerts.load_history(snap, config, config.alerts, S + 6 * H, S + 6 * H)
    (early,) = alerts.readings(config.alerts[0], h, S + 6 * H)
    assert math.isnan(early.baseline) and not early.holds


def test_above_together_and_first(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: Lots
    when: above
    kind: person
    window: 2h
    min: 3
  - name: Pair
    when: together
    entities: [Alpha, Beta, Gamma]
    window: 3h
    min: 2
  - name: New
    when: first
    entities: [Beta, Gamma]
    window: 24h
  - name: New here
    when: first
    entity: Beta
    scope: feed
""",
    )
    w = World(Store(config.store))
    w.add(0, {"Alpha": 1})
    w.add(10.2, {"Alpha": 2, "Beta": 1})
    w.add(10.6, {"Alpha": 1, "Beta": 1})
    w.add(12.5, {"Beta": 1, "Gamma": 1}, feed=FEED2)
    snap = w.commit()
    found = alerts.backtest(snap, config, S + 1 * H, S + 30 * H)
    assert fired(found) == [
        ("Lots", "Alpha", 11.0, 3.0, 0.22),  # baseline: 1 mention in [0, 9) -> 2/9 per 2 h
        ("New", "Beta", 11.0, 2.0, 0.0),
        ("New here", "Beta · Feed One", 11.0, 2.0, 0.0),
        ("Pair", "Alpha + Beta", 11.0, 2.0, 0.0),
        ("New", "Gamma", 13.0, 1.0, 0.0),
        ("New here", "Beta · Feed Two", 13.0, 3.0, 0.0),
    ]
    # first fires once, ever: a later backtest from after the first mentions finds nothing new
    assert [f for f in alerts.backtest(snap, config, S + 40 * H, S + 60 * H)] == []


def test_feed_down_fires_after_the_window_and_re_arms_when_the_feed_recovers(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: Down
    when: feed-down
    window: 2h
""",
    )
    w = World(Store(config.store))
    for q in range(40):  # every 15 minutes: ok, then failing from 1:00, ok again at 5:00
        hour = q / 4
        w.fetch(hour, "ok" if hour < 1 or 5 <= hour < 7 else "failed")
        w.fetch(hour, "ok", feed=FEED2)
    snap = w.commit()
    found = alerts.backtest(snap, config, S, S + 10 * H)
    # failing since 1:00: at 3:00 for exactly 2 h (not longer), at 4:00 for 3 h: fires;
    # ok at 5:00 re-arms; failing since 7:00 again: fires at 10:00
    assert fired(found) == [
        ("Down", "Feed One", 4.0, 3.0, 2.0),
        ("Down", "Feed One", 10.0, 3.0, 2.0),
    ]


def test_caught_up_waits_for_feeds_due_within_the_hour(tmp_path):
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n"
        "  - {name: A, url: 'http://a'}\n"
        "  - {name: B, url: 'http://b'}\n"
        "  - {name: C, url: 'http://c', enabled: false}\n"
    )
    cfg = load_config(tmp_path / "feeds.yaml")

    now = S + 10.5 * H
    fresh = FeedState(url="http://a", last_success=now - 0.1 * H, next_poll=now + 0.2 * H)
    behind = FeedState(url="http://b", last_success=now - 3 * H, next_poll=now + 0.1 * H)
    assert alerts.caught_up(cfg, {"http://a": fresh, "http://b": behind}, now) == S + 7 * H
    # a feed not due within the hour (slow cadence, or backing off) is not waited for
    later = FeedState(url="http://b", last_success=now - 3 * H, next_poll=now + 2 * H)
    assert alerts.caught_up(cfg, {"http://a": fresh, "http://b": later}, now) == S + 10 * H
    never = FeedState(url="http://b", last_success=None, next_poll=now + 0.1 * H, failures=3)
    assert alerts.caught_up(cfg, {"http://a": fresh, "http://b": never}, now) == S + 10 * H
    gone = FeedState(url="http://b", last_success=now - 9 * H, gone=True)
    assert alerts.caught_up(cfg, {"http://a": fresh, "http://b": gone}, now) == S + 10 * H
    assert alerts.caught_up(cfg, {"http://a": fresh}, now) is None  # b was never polled
    # full text: a feed whose articles' pages are still being read holds the hours after the
    # oldest of them (they may add mentions), even one not due within the hour
    reading = FeedState(
        url="http://b", last_success=now - 0.1 * H, next_poll=now + 2 * H,
        pages_pending=now - 2.2 * H,
    )  # fmt: skip
    assert alerts.caught_up(cfg, {"http://a": fresh, "http://b": reading}, now) == S + 8 * H
    assert (
        alerts.caught_up(cfg, {"http://a": fresh, "http://b": reading}, now, pages=False)
        == S + 10 * H
    )


def test_live_evaluation_moves_on_hour_by_hour_and_keeps_its_state_in_the_store(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: Lots
    when: above
    entity: Alpha
    window: 2h
    min: 3
""",
    )
    store = Store(config.store)
    w = World(store)
    w.add(5.5, {"Alpha": 3})
    for url in (FEED1, FEED2):
        w.writer.set_feed(FeedState(url=url, last_success=S + 5.9 * H, next_poll=S + 6.2 * H))
    w.commit()
    sent: list[str] = []
    dispatcher = Dispatcher(store, config, send=lambda url, m: sent.append(m.title))

    # a new rule starts at the latest hour every feed has caught up with (5:00: nothing yet)
    assert dispatcher.evaluate(store.snapshot(), config, S + 5.95 * H) == []
    assert alerts.rule_states(store.snapshot())["Lots"] == RuleState(until=S + 5 * H)
    # at 6:00 the window [4, 6) holds 3: fires, and the outbox holds the message (no target:
    # recorded only, so the outbox stays empty)
    for url in (FEED1, FEED2):
        w.writer.set_feed(FeedState(url=url, last_success=S + 6.05 * H, next_poll=S + 6.3 * H))
    w.commit()
    (f,) = dispatcher.evaluate(store.snapshot(), config, S + 6.1 * H)
    assert (f.entity, f.fired, f.value) == ("Alpha", S + 6 * H, 3.0)
    state = alerts.rule_states(store.snapshot())["Lots"]
    assert state == RuleState(until=S + 6 * H, open=frozenset({"Alpha"}))
    # nothing new to read: nothing happens, not even a commit
    seq = store.snapshot().seq
    assert dispatcher.evaluate(store.snapshot(), config, S + 6.2 * H) == []
    assert store.snapshot().seq == seq
    # hours missed while stopped are caught up, up to 7 days back
    for url in (FEED1, FEED2):
        w.writer.set_feed(FeedState(url=url, last_success=S + 30 * 24 * H, next_poll=None))
    w.commit()
    assert dispatcher.evaluate(store.snapshot(), config, S + 30 * 24 * H) == []
    state = alerts.rule_states(store.snapshot())["Lots"]
    assert state == RuleState(until=S + 30 * 24 * H, open=frozenset())
    history = alerts.fired_history(store.snapshot())
    assert [(x.alert, x.entity, x.fired) for x in history] == [("Lots", "Alpha", S + 6 * H)]


def test_alert_state_survives_the_writers_commits_and_old_stores_take_the_new_tables(tmp_path):
    store = Store(tmp_path / "s")
    w = World(store)
    w.add(1, {"Alpha": 1})
    w.commit()
    # a store written before alerts existed: its manifest lists no firings/deliveries tables
    manifest = tmp_path / "s" / "manifest.json"
    data = json.loads(manifest.read_text())
    for name in ("firings", "deliveries"):
        data["tables"].pop(name)
    manifest.write_text(json.dumps(data))
    assert store.snapshot().rows("firings") == 0

    def change(state):
        state["rules"] = {"r": RuleState(until=S, open=frozenset({"Alpha"})).to_json()}

    t = S.replace(tzinfo=None)
    row = {"alert": "r", "entity": "Alpha", "fired": t, "value": 2.0, "baseline": 1.0,
           "threshold": 2.0, "kind": "above", "noticed": t}  # fmt: skip
    update_alerts(store, change, firings=[row])
    w.add(2, {"Alpha": 1})
    snap = w.commit()
    assert alerts.rule_states(snap)["r"].open == {"Alpha"}
    assert snap.rows("firings") == 1 and snap.rows("articles") == 2


def test_alert_links_open_the_dashboard_around_the_firing(tmp_path):
    config = config_with(
        tmp_path,
        """  - name: A
    when: spike
    entity: Alpha
  - name: B
    when: together
    entities: [Alpha, Beta]
    window: 6h
dashboard:
  url: https://dash.example/m?embed=true
""",
    )
    spike, pair = config.alerts
    f = alerts.Firing("A", "Alpha", S + 10 * H, 9, 1, 3, "spike", ("Alpha",))
    # the window and its 14-day baseline, by day (the dashboard's "to" date is included)
    assert alerts.alert_link(config, spike, f) == (
        "https://dash.example/m?embed=true&view=timeline&e=Alpha&range=custom"
        "&from=2026-10-17&to=2026-11-01&by=day"
    )
    g = alerts.Firing("B", "Alpha + Beta", S + 24 * H, 3, 0, 5, "together", ("Alpha", "Beta"))
    assert alerts.alert_link(config, pair, g) == (
        "https://dash.example/m?embed=true&view=co-mentions&e=Alpha&e=Beta&range=custom"
        "&from=2026-11-01&to=2026-11-01"
    )


def test_status_says_when_messages_wait_with_no_poller_to_send_them(tmp_path):
    store = Store(tmp_path / "s")
    t = S.isoformat()
    item = {"id": "x", "kind": "alert", "name": "r", "target": "team#0", "label": "team",
            "attempts": 0, "created": t, "next_try": t, "error": ""}  # fmt: skip
    update_alerts(store, lambda state: state.setdefault("outbox", []).append(item))
    snap = store.snapshot()
    assert delivery_status(snap, now=S + timedelta(minutes=5)) == ""  # just queued
    assert delivery_status(snap, now=S + H) == (
        "alert delivery: 1 message(s) waiting to be sent (is the poller running?)"
    )
