"""Digests: the schedule, `monitor digest --out` (HTML with the chart embedded, feed text
escaped), and an edition sent by the dispatcher to a local SMTP server as HTML with a
plain-text part and the chart inline, once."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from monitor.cli import main
from monitor.config import DigestConfig, load_config
from monitor.delivery import Dispatcher
from monitor.digest import last_slot
from monitor.models import Article
from monitor.store import Store, article_key, open_store
from tests.receivers import Mailbox

FEED = "http://feeds.example/desk"


def make_store(tmp_path, extra: str, around: datetime) -> tuple[object, Store]:
    (tmp_path / "feeds.yaml").write_text(
        f"""store: data
feeds:
  - name: Desk <b>Wire</b> [bold]x[/bold]
    url: {FEED}
watch:
  - name: Alpha
    kind: person
  - name: Beta
    kind: topic
dashboard:
  url: https://monitor.example.org/
{extra}"""
    )
    config = load_config(tmp_path / "feeds.yaml")
    store = open_store(config.store)
    w = store.writer()
    stories = [
        ("Alpha wins the vote", "https://news.example/1", {"Alpha": 3}),
        (
            "<script>alert(1)</script> Alpha [red]story[/red]",
            "https://news.example/2",
            {"Alpha": 1},
        ),
        ("A link that is not a link", "javascript:alert(2)", {"Alpha": 1, "Beta": 1}),
        ("Beta in the news", "https://news.example/4", {"Beta": 2}),
        ("Alpha last week", "https://news.example/5", {"Alpha": 1}),
    ]
    for i, (title, url, counts) in enumerate(stories):
        t = (
            around
            - timedelta(hours=2 + i)
            - (timedelta(days=1) if "last week" in title else timedelta(0))
        )
        a = Article(article_key("url", url), url, title, "", t, t, "", FEED)
        w.add_article(a, FEED, t)
        w.add_mentions(a, counts)
    w.commit(watchlist=(config.watch, "test"))  # as the poller does
    return config, store


@pytest.mark.slow
def test_digest_out_writes_html_with_the_chart_embedded_and_feed_text_escaped(tmp_path, capsys):
    now = datetime.now(UTC)
    config, _ = make_store(
        tmp_path, "digests:\n  - name: Daily <i>brief</i>\n    every: day\n", now
    )
    out = tmp_path / "brief.html"
    assert (
        main(["-c", str(config.path), "digest", "daily <i>BRIEF</i>", "--now", "--out", str(out)])
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    html = out.read_text()
    (data,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    (alt,) = re.findall(r'<img [^>]*alt="([^"]*)"', html)
    assert "Totals: Alpha 5, Beta 3." in alt  # the chart's figures, for images off
    # with images off the numbers are still there, as text
    assert re.search(r">Alpha</td><td[^>]*>5</td>", html)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Wire</b>" not in html and "Desk &lt;b&gt;Wire&lt;/b&gt;" in html
    assert 'href="javascript:' not in html and "A link that is not a link" in html
    assert 'href="https://news.example/1"' in html
    assert "Alpha last week" not in html  # outside the period
    assert "https://monitor.example.org/?view=overview&amp;range=custom" in html


@pytest.mark.slow
def test_a_due_edition_goes_out_once_as_html_with_a_text_part_and_the_chart_inline(tmp_path):
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with Mailbox() as mailbox:
        extra = f"""notify:
  desk: ["{mailbox.url()}"]
digests:
  - name: Morning
    every: day
    at: "08:00"
    to: [desk]
"""
        config, store = make_store(tmp_path, extra, t0 + timedelta(hours=20))
        clock = [t0]
        dispatcher = Dispatcher(store, config, now=lambda: clock[0])
        assert dispatcher.run_once() == 0  # a new digest waits for its next slot
        clock[0] = t0 + timedelta(days=1)  # 11-03 09:00: the 08:00 edition is due
        assert dispatcher.run_once() == 1
        assert dispatcher.run_once() == 0
        assert Dispatcher(store, config, now=lambda: clock[0]).run_once() == 0  # restarted
        (mail,) = mailbox.received()

    assert mail["Subject"].startswith("Morning: Mon 02 Nov 2026 08:00 to Tue 03 Nov 2026 08:00")
    assert mail.get_content_type() == "multipart/related"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Alpha" in text and "https://news.example/1" in text  # links survive in the text
    assert 'src="cid:timeline.png"' in html and "Totals: Alpha 5, Beta 3." in html
    (image,) = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<timeline.png>"
    assert image["Content-Disposition"].startswith("inline")
    assert image.get_content().startswith(b"\x89PNG")
    state = store.snapshot().alerts
    assert state["digests"]["Morning"]["until"] == "2026-11-03T08:00:00+00:00"
    assert state["outbox"] == []


def test_last_slot_follows_the_local_clock_across_summer_time():
    weekly = DigestConfig("W", "week", "mon 08:00", 8, 0, 0, "Europe/Madrid")
    # Monday 26 Oct 2026 is the first Monday of winter time (UTC+1)
    assert last_slot(weekly, datetime(2026, 10, 26, 7, 30, tzinfo=UTC)) == datetime(
        2026, 10, 26, 7, 0, tzinfo=UTC
    )
    # half an hour before it: the Monday before, in summer time (UTC+2)
    assert last_slot(weekly, datetime(2026, 10, 26, 6, 30, tzinfo=UTC)) == datetime(
        2026, 10, 19, 6, 0, tzinfo=UTC
    )
    daily = DigestConfig("D", "day", "18:30", 18, 30, 0, "America/New_York")
    assert last_slot(daily, datetime(2026, 11, 2, 1, 0, tzinfo=UTC)) == datetime(
        2026, 11, 1, 23, 30, tzinfo=UTC
    )
