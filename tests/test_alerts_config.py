"""notify:, alerts:, digests: and dashboard: in feeds.yaml: typed, and every mistake reported
at once with its line and a hint, never quoting a secret."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import AlertRule, DigestConfig, load_config
from monitor.errors import ConfigError

BASE = """
feeds:
  - name: Example World News
    url: https://example.org/world/rss.xml
  - name: Second
    url: https://second.example.net/feed
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele]
  - name: José Raúl Mulino
    kind: person
  - name: CECOT
    kind: topic
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(textwrap.dedent(BASE).lstrip() + textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return [str(issue) for issue in caught.value.issues]


def test_alerting_sections_become_typed_config(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            notify:
              team: ["mailtos://user:${SMTP_PASSWORD}@mail.example.org?to=desk@example.org"]
              chat: "slack://T0000000/B0000000/XXXXXXXX"
            alerts:
              - name: Bukele spike
                when: spike
                entity: bukele
                to: [team, "json://hooks.example.org/in"]
              - name: People
                when: above
                kind: person
                window: 6h
                min: 20
              - name: Pair
                when: together
                entities: [CECOT, Nayib Bukele]
              - name: New in a feed
                when: first
                entity: CECOT
                scope: feed
              - name: Down
                when: feed-down
                window: 90m
                feeds: [second]
            digests:
              - name: Monday brief
                every: week
                at: "Monday 8:30"
                timezone: Europe/Madrid
                entities: [CECOT]
                to: [chat]
              - name: Daily
                every: day
            dashboard:
              url: https://monitor.example.org/media/
            """,
        )
    )
    assert config.notify == {
        "team": ("mailtos://user:${SMTP_PASSWORD}@mail.example.org?to=desk@example.org",),
        "chat": ("slack://T0000000/B0000000/XXXXXXXX",),
    }
    spike, people, pair, first, down = config.alerts
    assert spike == AlertRule(
        name="Bukele spike",
        when="spike",
        entities=("Nayib Bukele",),  # an alias names its entity
        to=("team", "json://hooks.example.org/in"),
        selector="Nayib Bukele",
    )
    assert spike.window == timedelta(hours=24) and spike.baseline == timedelta(days=14)
    assert (spike.factor, spike.min) == (3.0, 5)
    assert people.entities == ("Nayib Bukele", "José Raúl Mulino")
    assert people.selector == "kind: person" and people.window == timedelta(hours=6)
    assert pair.entities == ("CECOT", "Nayib Bukele")
    assert first.scope == "feed"
    assert down.feeds == ("https://second.example.net/feed",)
    assert down.window == timedelta(minutes=90)  # feed-down may use any duration
    weekly, daily = config.digests
    assert weekly == DigestConfig(
        name="Monday brief",
        every="week",
        at="mon 08:30",
        hour=8,
        minute=30,
        weekday=0,
        timezone="Europe/Madrid",
        entities=("CECOT",),
        to=("chat",),
    )
    assert (daily.at, daily.timezone, daily.entities) == ("08:00", "UTC", ())
    assert config.dashboard.url == "https://monitor.example.org/media/"


def test_every_mistake_is_reported_at_once_with_line_and_hint(tmp_path):
    found = problems(
        tmp_path,
        """
        notify:
          team: ["mailtos://user:hunter2secret@mail.example.org"]
          bad: ["slak://hunter2secret@example.org"]
          broken: ["json://example.org/${not a var}"]
        alerts:
          - name: Bukele spike
            when: spkie
          - name: Two
            when: spike
            entity: CECOT
            windw: 24h
          - name: Two
            when: above
            entity: CECOT
            factor: 2
          - name: Short baseline
            when: spike
            kind: person
            window: 90m
          - name: Longer window
            when: spike
            entity: CECOT
            window: 2d
            baseline: 1d
          - name: Alone
            when: together
            entities: [CECOT]
          - name: Down
            when: feed-down
            entity: CECOT
            feeds: [Thrid]
          - name: Nothing chosen
            when: first
          - name: Places
            when: above
            kind: place
          - name: Typos
            when: spike
            entity: Nayib Bukel
            to: [teem]
        digests:
          - name: Daily
            every: daily
          - name: Weekly
            every: week
            at: "mon 25:00"
            timezone: Europe/Madird
          - name: Morning
            every: day
            at: "tue 08:00"
            entities: [Mulino Jose]
        dashboard:
          url: monitor.example.org
        """,
    )
    expected = [
        'feeds.yaml:17: notify.bad[0]: unknown delivery service "slak://"',
        "feeds.yaml:18: notify.broken[0]: a ${...} that does not name an environment variable",
        "feeds.yaml:21: alerts[0].when: expected one of spike, above, first, together, "
        'feed-down, got "spkie" (did you mean "spike"?)',
        'feeds.yaml:25: alerts[1]: unknown key "windw" (did you mean "window"?)',
        'feeds.yaml:26: alerts[2].name: duplicate name "Two", already alerts[1] (first used on '
        "line 22; names must differ)",
        'feeds.yaml:29: alerts[2].factor: "factor" is not used by when: above',
        "feeds.yaml:33: alerts[3].window: must be whole hours, like 6h or 2d (rules count by hour)",
        "feeds.yaml:38: alerts[4].baseline: must be at least as long as the window",
        "feeds.yaml:39: alerts[5]: together needs two or more entities",
        'feeds.yaml:44: alerts[6].entity: "entity" is not used by when: feed-down',
        'feeds.yaml:45: alerts[6].feeds[0]: no feed "Thrid" in feeds:',
        'feeds.yaml:46: alerts[7]: missing "entity", "entities" or "kind"',
        'feeds.yaml:50: alerts[8].kind: no watched entity is a "place" (add one to watch:)',
        'feeds.yaml:53: alerts[9].entity: "Nayib Bukel" is not in the watch list (did you mean '
        '"Nayib Bukele"?)',
        'feeds.yaml:54: alerts[9].to[0]: no target "teem" in notify: (did you mean "team"?)',
        'feeds.yaml:57: digests[0].every: expected one of day, week, got "daily" (did you mean '
        '"day"?)',
        'feeds.yaml:60: digests[1].at: no such time of day: "mon 25:00" (hours 0-23, minutes 0-59)',
        'feeds.yaml:61: digests[1].timezone: unknown time zone "Europe/Madird" (did you mean '
        '"Europe/Madrid"?)',
        'feeds.yaml:64: digests[2].at: a daily digest takes a time only (write "08:00")',
        'feeds.yaml:65: digests[2].entities[0]: "Mulino Jose" is not in the watch list',
        'feeds.yaml:67: dashboard.url: not an http(s) URL: "monitor.example.org" (add the scheme:',
    ]
    text = "\n".join(found)
    for line in expected:
        assert line in text, f"{line}\n--- not in ---\n{text}"
    assert len(found) == len(expected)
    assert "hunter2secret" not in text  # a URL's secret is never quoted back


def test_wrong_shapes_get_one_message_each(tmp_path):
    found = problems(
        tmp_path,
        """
        notify: [mailtos://a@b.c]
        alerts:
          name: x
        digests:
          - just a name
        dashboard: https://monitor.example.org/
        """,
    )
    text = "\n".join(found)
    assert "notify: expected a mapping of names to lists of apprise URLs, got a list" in text
    assert "alerts: expected a list of alert rules, got a mapping" in text
    assert "digests[0]: expected a digest (a mapping with name: and every:), got a string" in text
    assert "dashboard: expected a mapping with url:, got a string" in text
    assert len(found) == 4, found


def test_a_notify_url_with_an_unset_variable_loads(tmp_path, monkeypatch):
    """${VAR}s are read when sending, not when loading: the dashboard has no secrets."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = load_config(
        write(tmp_path, 'notify:\n  x: ["json://example.org/${NOT_SET_ANYWHERE}"]\n')
    )
    assert config.notify["x"] == ("json://example.org/${NOT_SET_ANYWHERE}",)


def test_apprise_is_imported_only_to_check_delivery_urls(tmp_path):
    """Checking an apprise URL loads apprise's ~100 services (~0.3 s): a feeds.yaml without
    notify: or URL targets must not pay for it (issue 14: validate in well under 0.3 s)."""
    import subprocess
    import sys

    without = write(tmp_path, "alerts:\n  - name: Down\n    when: feed-down\n")
    (tmp_path / "with").mkdir()
    with_urls = write(tmp_path / "with", 'notify:\n  team: ["json://hooks.example.org/in"]\n')
    code = (
        "import sys\nfrom monitor.config import load_config\n"
        "config = load_config(sys.argv[1])\n"
        "print(len(config.alerts), len(config.notify), 'apprise' in sys.modules)"
    )
    for path, expected in ((without, "1 0 False"), (with_urls, "0 1 True")):
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
        )
        assert result.stdout.strip() == expected, result.stderr
