"""Alerts end to end: real poll rounds against a local feed server fire rules whose messages
reach a local SMTP server (aiosmtpd) and a local webhook (apprise's json://), retried when
they fail, reported in `monitor status` and in the next message, never sent twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor import alerts
from monitor.cli import main
from monitor.config import load_config
from monitor.delivery import Dispatcher, delivery_status
from monitor.poll import Poller
from monitor.store import Store
from tests.feedserver import FeedServer
from tests.receivers import Mailbox, Webhook, wait_for

T0 = datetime(2026, 11, 2, 12, 10, tzinfo=UTC)
SMTP_PASSWORD = "s3cret-pw-417"
HOOK_TOKEN = "tok-98765-secret"
QUICK = (timedelta(seconds=30),)  # one retry, 30 s (of the fake clock) later, then give up


class Clock:
    """The poller's and dispatcher's time: a fake start that moves on with the real clock."""

    def __init__(self, start: datetime):
        self.base, self.started = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.started)

    def jump(self, delta: timedelta) -> None:
        self.base += delta


def rss(*items: tuple[str, str, datetime]) -> bytes:
    parts = [
        f"<item><title>{title}</title><link>{link}</link>"
        f"<pubDate>{format_datetime(published)}</pubDate><description>Story.</description></item>"
        for title, link, published in items
    ]
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)


@pytest.fixture
def receivers():
    with FeedServer() as feeds, Mailbox() as mailbox, Webhook() as hook:
        yield feeds, mailbox, hook


def write_config(tmp_path, feeds, mailbox, hook, to="[mail, hook]", extra=""):
    text = f"""store: data
poll:
  every: 15m
  timeout: 2s
  full_text: false  # the entries link to invented hosts: no page is read
feeds:
  - name: Desk Wire
    url: {feeds.url("/a")}
watch:
  - name: Nayib Bukele
    kind: person
    aliases: [Bukele]
  - name: CECOT
    kind: topic
notify:
  mail: ["{mailbox.url("monitor", "${SMTP_PASSWORD}")}"]
  hook: ["{hook.url("/hook/${HOOK_TOKEN}")}"]
  dead: ["json://127.0.0.1:1/nobody-listens"]
alerts:
  - name: Bukele surge
    when: above
    entity: Bukele
    window: 6h
    min: 3
    to: {to}
dashboard:
  url: https://monitor.example.org/
{extra}"""
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return load_config(path)


def stories(start: datetime, n: int, word: str = "Bukele") -> list[tuple[str, str, datetime]]:
    return [
        (f"{word} story {start:%H%M}-{i}", f"https://news.example/{start:%d%H%M}/{i}", start)
        for i in range(n)
    ]


def poll(poller: Poller) -> None:
    summary = asyncio.run(poller.poll_once())
    assert summary.failed == 0, summary.errors


def test_real_poll_rounds_deliver_each_episode_once_to_mail_and_webhook(tmp_path, env, receivers):
    feeds, mailbox, hook = receivers
    items = stories(T0 - timedelta(minutes=50), 3)
    feeds.feed("/a", rss(*items))
    config = write_config(tmp_path, feeds, mailbox, hook)
    store = Store(config.store)
    clock = Clock(T0)

    def start() -> tuple[Poller, Dispatcher]:
        dispatcher = Dispatcher(store, config, now=clock, retry_delays=QUICK)
        dispatcher.start()
        return Poller(config, store, now=clock, on_commit=dispatcher.on_commit), dispatcher

    poller, dispatcher = start()
    poll(poller)  # 12:10: the hour 12:00 has 3 mentions in its 6 h window: fires
    wait_for(lambda: mailbox.received() and hook.messages(), what="the first alert")

    mail = mailbox.received()[0]
    assert "Bukele surge" in mail["Subject"] and "Nayib Bukele" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "3 mentions in the 6 hours to 2026-11-02 12:00 UTC" in body
    for title, link, _ in items:
        assert title in body and link in body
    assert "Desk Wire" in body  # the outlet of each article
    assert "https://monitor.example.org/?view=timeline&e=Nayib+Bukele&range=custom" in body
    assert mailbox.logins == [("monitor", SMTP_PASSWORD)]  # ${SMTP_PASSWORD}, read when sent
    (posted,) = hook.posts
    assert posted.path == f"/hook/{HOOK_TOKEN}"
    assert posted.body["title"] == mail["Subject"]

    # an hour later, still above the threshold: the same episode, no new message
    clock.jump(timedelta(hours=1))
    feeds.feed("/a", rss(*items, *stories(T0 + timedelta(minutes=20), 1)))
    poll(poller)
    assert dispatcher.wait_idle()
    # a restarted poller neither resends nor forgets the open episode
    dispatcher.stop()
    poller, dispatcher = start()
    clock.jump(timedelta(hours=1))
    poll(poller)
    assert dispatcher.wait_idle()
    assert len(mailbox.received()) == 1 and len(hook.posts) == 1
    assert alerts.rule_states(store.snapshot())["Bukele surge"].open == {"Nayib Bukele"}

    # six hours on, the window is empty: the rule re-arms without a message ...
    clock.jump(timedelta(hours=6))
    poll(poller)
    assert dispatcher.wait_idle()
    assert alerts.rule_states(store.snapshot())["Bukele surge"].open == frozenset()
    assert len(mailbox.received()) == 1
    # ... and a new surge is a new episode: a second message
    later = stories(clock().replace(minute=15), 3)
    feeds.feed("/a", rss(*items, *later))
    clock.jump(timedelta(hours=1))
    poll(poller)
    wait_for(lambda: len(mailbox.received()) == 2 and len(hook.posts) == 2, what="2nd alert")
    dispatcher.stop()

    fired = alerts.fired_history(store.snapshot())
    assert [(f.entity, f.fired.hour, f.value) for f in fired] == [
        ("Nayib Bukele", 12, 3),
        ("Nayib Bukele", 21, 3),
    ]
    # what the poller fired is what the backtest finds over the same hours
    backtest = alerts.backtest(store.snapshot(), config, T0.replace(minute=0), clock())
    assert [f.public() for f in backtest] == [f.public() for f in fired]
    # secrets are read at send time only: never stored
    for path in config.store.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SMTP_PASSWORD.encode() not in data and HOOK_TOKEN.encode() not in data, path


def test_failed_delivery_is_retried_shown_in_status_and_reported_in_the_next_message(
    tmp_path, env, receivers, capsys
):
    feeds, mailbox, hook = receivers
    feeds.feed("/a", rss(*stories(T0 - timedelta(minutes=50), 3)))
    extra = """  - name: CECOT news
    when: first
    entity: CECOT
    to: [mail]
"""
    config = write_config(tmp_path, feeds, mailbox, hook, to="[mail, hook, dead]", extra="")
    config.path.write_text(config.path.read_text().replace("dashboard:", extra + "dashboard:"))
    config = load_config(config.path)
    store = Store(config.store)
    clock = Clock(T0)
    dispatcher = Dispatcher(store, config, now=clock, retry_delays=QUICK)  # no thread: by hand
    poller = Poller(config, store, now=clock, on_commit=dispatcher.on_commit)
    hook.fail(500)
    poll(poller)
    assert dispatcher.run_once() == 3  # mail sent; the webhook answered 500; nobody at "dead"
    assert len(mailbox.received()) == 1 and hook.attempts == 1 and not hook.posts

    status = delivery_status(store.snapshot())
    assert status.startswith("alert delivery: 2 message(s) not delivered yet, retrying")
    assert main(["-c", str(config.path), "status"]) == 0
    shown = capsys.readouterr().out
    assert "alert delivery: 2 message(s) not delivered yet" in shown
    assert "nobody-listens" not in shown  # URLs are shown without their path
    assert HOOK_TOKEN not in shown and SMTP_PASSWORD not in shown

    assert dispatcher.run_once() == 0  # the retries are not due yet
    clock.jump(timedelta(seconds=31))
    assert dispatcher.run_once() == 2  # the webhook takes it now; "dead" is given up
    (posted,) = hook.messages()
    assert "this message: 1 earlier attempt(s) failed" in posted["message"]
    assert "error=500" in posted["message"]
    status = delivery_status(store.snapshot())
    assert "1 given up" in status and "not delivered yet" not in status
    log = store.snapshot().query(
        "SELECT target, outcome, attempt FROM {deliveries} ORDER BY time, target"
    )
    assert sorted(zip(log["outcome"], log["attempt"], strict=True)) == [
        ("failed", 1),
        ("failed", 1),
        ("gave up", 2),
        ("sent", 1),
        ("sent", 2),
    ]

    # the next message that goes through says what was given up, then status is clear
    feeds.feed(
        "/a",
        rss(
            *stories(T0 - timedelta(minutes=50), 3), *stories(T0 + timedelta(minutes=5), 1, "CECOT")
        ),
    )
    clock.jump(timedelta(hours=1))
    poll(poller)
    assert dispatcher.run_once() == 1
    mail = mailbox.received()[-1]
    assert "CECOT news" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "Delivery problems since the last message" in body
    assert 'alert "Bukele surge" (Nayib Bukele, 2026-11-02 12:00 UTC) to dead' in body
    assert "gave up after 2 attempts" in body
    assert delivery_status(store.snapshot()) == ""


def test_send_test_reports_what_each_target_answered(tmp_path, env, receivers, capsys):
    feeds, mailbox, hook = receivers
    feeds.feed("/a", rss(*stories(datetime.now(UTC) - timedelta(hours=2), 2)))
    config = write_config(tmp_path, feeds, mailbox, hook, to="[mail, dead]")
    asyncio.run(Poller(config).poll_once())
    code = main(["-c", str(config.path), "alerts", "send-test", "bukele SURGE"])
    shown = capsys.readouterr().out
    assert code == 2  # one target failed
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines[0] == f"mail (mailto://monitor:****@127.0.0.1:{mailbox.port}/…): sent"
    assert lines[1].startswith("dead (json://127.0.0.1:1/…): failed: ")
    assert "Connection" in lines[1]
    (mail,) = mailbox.received()
    assert mail["Subject"].startswith("[test] Bukele surge")
    assert SMTP_PASSWORD not in shown

    assert main(["-c", str(config.path), "alerts", "send-test", "Bukele surg"]) == 2
    assert 'did you mean "Bukele surge"' in capsys.readouterr().err


def test_alerts_command_lists_rules_targets_and_last_firing(tmp_path, env, receivers, capsys):
    feeds, mailbox, hook = receivers
    feeds.feed("/a", rss(*stories(T0 - timedelta(minutes=50), 3)))
    config = write_config(tmp_path, feeds, mailbox, hook, to="[mail, hook]")
    store = Store(config.store)
    clock = Clock(T0)
    dispatcher = Dispatcher(store, config, now=clock, send=lambda url, m: pytest.fail("sent"))
    poll(Poller(config, store, now=clock, on_commit=dispatcher.on_commit))
    assert main(["-c", str(config.path), "alerts", "--format", "json"]) == 0
    (rule,) = json.loads(capsys.readouterr().out)
    assert rule["name"] == "Bukele surge" and rule["when"] == "above"
    assert rule["entities"] == ["Nayib Bukele"]
    assert rule["last_fired"] == "2026-11-02T12:00:00+00:00"
    assert rule["firing"] == ["Nayib Bukele"]
    assert rule["targets"] == [
        f"mail (mailto://monitor:****@127.0.0.1:{mailbox.port}/…)",
        f"hook ({hook.url('')}/…)",
    ]
    assert main(["-c", str(config.path), "alerts"]) == 0
    table = capsys.readouterr().out
    assert "Bukele surge" in table and "2026-11-02 12:00" in table
    assert HOOK_TOKEN not in table and "HOOK_TOKEN" not in table
