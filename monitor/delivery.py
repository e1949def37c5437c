"""The poller's companion for alerts and digests: it reads the rules after each commit,
records what fired, and delivers messages in a background thread, so polling never waits for
a mail server or a webhook.

- `Dispatcher.on_commit(snap, config, now)` is the poller's hook (poll.Poller's `on_commit`):
  it reads the alert rules at the hours that became ready (monitor.alerts), and records the
  firings, the rules' new state and one outbox item per message and target in one commit of
  the store. Then it wakes the thread.
- The thread (`run_once`) queues the digests that are due, and sends each outbox item that
  is due. A failed attempt is retried with backoff (`RETRY_DELAYS`), then given up; every
  attempt is logged in the store's `deliveries` table. Failures show in `monitor status`
  (`delivery_status`) and are mentioned in the next message that goes through.
- Everything that must survive a restart (rule state, outbox, failures not yet reported, the
  last edition of each digest) is in the store (`Store.update_alerts`), so a restarted
  poller neither sends twice nor forgets what it owes. Several pollers sharing a store
  (PostgreSQL) leave alerts to one of them at a time (`Store.lead("alerts")`); another takes
  over when it stops. (A message sent by a poller
  killed before it could record the success is sent again: at least once, never lost.)

Outbox items name their target by a key (a name of `notify:` and an index, or a hash of a
URL written in `to:`), never by URL: URLs may hold secrets and are looked up in feeds.yaml
when sending.

What it leaves to others: what the rules mean (alerts.py), what a digest says (digest.py),
talking to services (notify.py).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import alerts, notify
from .config import Config
from .errors import MonitorError
from .store import Snapshot, Store, utc_naive

if TYPE_CHECKING:
    from . import digest


def _digest() -> ModuleType:
    """monitor.digest, imported when a digest is due: it imports the queries and pandas, which
    a poller with no digest (and nothing to read back) never needs."""
    from . import digest

    return digest


RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 7200, 14400)
)  # then given up: about 8 hours after the first attempt
IDLE_WAKE = 30.0  # seconds between passes of the thread when nothing is due
MAX_FAILURES_KEPT = 50
STALE = timedelta(minutes=10)  # a message not even tried for this long: no poller running?

Send = Callable[[str, notify.Message], notify.Answer]


@dataclass(frozen=True)
class Target:
    key: str  # how the outbox names it: "team#0", or "url:" + a hash of the URL
    label: str  # redacted, for people: "team (mailtos://mail.example.org)"
    url: str  # as written in feeds.yaml: ${VAR}s not expanded


def targets(config: Config, to: Iterable[str], owner: str = "") -> list[Target]:
    """The delivery targets that `to:` names, one per URL. `owner` ("alert:NAME",
    "digest:NAME") keys the URLs written in `to:` itself by their place in the list: a key
    derived from the URL could give away a password written in it."""
    out = []
    for i, item in enumerate(to):
        if item in config.notify:
            for j, url in enumerate(config.notify[item]):
                out.append(Target(f"{item}#{j}", f"{item} ({notify.redact_url(url)})", url))
        else:
            out.append(Target(f"{owner}/to#{i}", notify.redact_url(item), item))
    return out


def find_target(config: Config, key: str) -> Target | None:
    """The target an outbox item names, as feeds.yaml says now (None: no longer there)."""
    found = targets(config, config.notify)
    for rule in config.alerts:
        found += targets(config, rule.to, f"alert:{rule.name}")
    for d in config.digests:
        found += targets(config, d.to, f"digest:{d.name}")
    return next((t for t in found if t.key == key), None)


# --------------------------------------------------------------------------------------------
# The alert state in the store (a JSON dict; see Store.update_alerts)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def outbox(snap: Snapshot) -> list[dict[str, Any]]:
    return list(snap.alerts.get("outbox") or [])


def _items_for(
    kind: str, name: str, to: Sequence[str], config: Config, now: datetime, **extra: Any
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "name": name,
            "target": t.key,
            "label": t.label,
            "attempts": 0,
            "created": _iso(now),
            "next_try": _iso(now),
            "error": "",
            **extra,
        }
        for t in targets(config, to, f"{kind}:{name}")
    ]


def _what(item: Mapping[str, Any]) -> str:
    if item["kind"] == "digest":
        return f'digest "{item["name"]}"'
    firing = item.get("firing") or {}
    at = _when(firing["fired"]).strftime("%Y-%m-%d %H:%M UTC") if firing.get("fired") else ""
    return f'alert "{item["name"]}" ({firing.get("entity", "")}, {at})'


def failures_note(state: Mapping[str, Any], current: str = "") -> tuple[str, list[str]]:
    """The paragraph on delivery problems not yet reported, and the ids it covers. `current`
    is the id of the item about to be sent, which may be one of them."""
    failures = list(state.get("failures") or [])
    if not failures:
        return "", []
    lines = ["Delivery problems since the last message:"]
    for f in failures:
        if f["id"] == current:
            lines.append(f"- this message: {f['attempts']} earlier attempt(s) failed: {f['error']}")
            continue
        how = {
            "retrying": f"failed {f['attempts']} time(s), retrying",
            "gave up": f"gave up after {f['attempts']} attempts",
            "delivered": f"delivered late, after {f['attempts']} failed attempt(s)",
        }.get(f.get("status", ""), f.get("status", ""))
        when = _when(f["time"]).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"- {f['what']} to {f['target']}: {how}; last error at {when}: {f['error']}")
    return "\n".join(lines), [f["id"] for f in failures]


def delivery_status(snap: Snapshot, now: datetime | None = None) -> str:
    """One line for `monitor status`: deliveries pending or failed, or "" when all is well."""
    now = now or datetime.now(UTC)
    pending = [i for i in outbox(snap) if i.get("attempts")]
    stale = [i for i in outbox(snap) if not i.get("attempts") and now - _when(i["created"]) > STALE]
    given_up = [f for f in snap.alerts.get("failures") or [] if f.get("status") == "gave up"]
    if not pending and not given_up and not stale:
        return ""
    parts = []
    if stale:
        parts.append(f"{len(stale)} message(s) waiting to be sent (is the poller running?)")
    if pending:
        last = max(pending, key=lambda i: i.get("last_try", ""))
        parts.append(
            f"{len(pending)} message(s) not delivered yet, retrying "
            f"(last: {_what(last)} to {last['label']}: {last['error']})"
        )
    if given_up:
        last_f = given_up[-1]
        parts.append(
            f"{len(given_up)} given up (last: {last_f['what']} to {last_f['target']}: "
            f"{last_f['error']})"
        )
    return "alert delivery: " + "; ".join(parts)


# --------------------------------------------------------------------------------------------
# The dispatcher


class Dispatcher:
    """Reads alert rules after each commit and delivers messages in a background thread.

    Use `start()` before polling and `stop()` after; `run_once()` does one pass of the
    thread's work in the caller's thread (tests, `monitor digest`).
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        send: Send = notify.send,
        retry_delays: Sequence[timedelta] = RETRY_DELAYS,
        log: Callable[[str], None] | None = None,
        charts: bool = True,
    ):
        self.store = store
        self.config = config
        self.now = now
        self.send = send
        self.retry_delays = tuple(retry_delays)
        self.log = log or (lambda msg: None)
        self.charts = charts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._passes = threading.Condition()
        self._started = self._finished = 0
        self._busy = False
        self._lock = threading.Lock()  # one pass at a time
        self._thread: threading.Thread | None = None

    # the poller's hook ---------------------------------------------------------------------
    def on_commit(self, snap: Snapshot, config: Config, now: datetime) -> None:
        """Read the rules at the hours that became ready; record what fired; wake the thread.

        Called by the poller after each commit, in its own thread; errors are logged, never
        raised, so alerts can never stop polling. With several pollers sharing the store, the
        one leading "alerts" evaluates (`Store.lead`), so a rule fires once."""
        self.config = config
        try:
            if not self.store.lead("alerts"):
                return
            self.evaluate(snap, config, now)
        except Exception as exc:  # alerts must never stop polling; the next commit retries
            self.log(f"alerts could not be evaluated: {exc}")

    def evaluate(self, snap: Snapshot, config: Config, now: datetime) -> list[alerts.Firing]:
        new, firings = alerts.evaluate_live(snap, config, now, alerts.rule_states(snap))
        if not new:
            return []
        rules = {r.name: r for r in config.alerts}

        def change(state: dict[str, Any]) -> None:
            stored = state.setdefault("rules", {})
            for name, rule_state in new.items():
                stored[name] = rule_state.to_json()
            box = state.setdefault("outbox", [])
            for f in firings:
                box += _items_for(
                    "alert", f.alert, rules[f.alert].to, config, now, firing=f.to_json()
                )

        self.store.update_alerts(change, firings=[f.row(now) for f in firings])
        for f in firings:
            at = f.fired.strftime("%Y-%m-%d %H:%M UTC")
            self.log(f"alert: {f.alert}: {f.entity} ({alerts.fmt(f.value)}) at {at}")
        if firings:
            self.wake()
        return firings

    # the thread --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="monitor-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until a pass of the thread that began after this call has ended with
        nothing due right now (retries due later may remain)."""
        with self._passes:
            want = self._started + 1
        self._wake.set()
        with self._passes:
            return self._passes.wait_for(lambda: self._finished >= want and not self._busy, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._passes:
                self._started += 1
                number = self._started
            try:
                self.run_once()
            except Exception as exc:  # a bug or a broken store must not kill the thread
                self.log(f"alert delivery: {type(exc).__name__}: {exc}")
            try:
                wait = self._seconds_to_next()
            except Exception:  # the store unreadable for now: try again later, quietly
                wait = IDLE_WAKE
            with self._passes:
                self._finished, self._busy = number, wait <= 0
                self._passes.notify_all()
            self._wake.wait(max(wait, 0.05))

    def _seconds_to_next(self) -> float:
        now = self.now()
        times = [_when(i["next_try"]) for i in outbox(self.store.snapshot())]
        if not times:
            return IDLE_WAKE
        return min(max((min(times) - now).total_seconds(), 0.0), IDLE_WAKE)

    # one pass ----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Queue the digests that are due and send every outbox item that is due; returns
        the number of attempts made. With several pollers sharing the store, only the one
        leading "alerts" sends (see `Store.lead`)."""
        if not self.store.lead("alerts"):
            return 0
        with self._lock:
            self.schedule_digests(self.now())
            attempts = 0
            editions: dict[tuple[str, str, str], digest.Digest] = {}
            for item in outbox(self.store.snapshot()):
                if self._stop.is_set() and self._thread is not None:
                    break
                if _when(item["next_try"]) <= self.now():
                    self._attempt(item, editions)
                    attempts += 1
            return attempts

    def schedule_digests(self, now: datetime) -> None:
        """Put the editions that came due into the outbox; remember a new digest's first slot
        without sending (its first edition goes out at its next slot)."""
        config = self.config
        due = {d.name: _digest().last_slot(d, now) for d in config.digests}
        known = self.store.snapshot().alerts.get("digests") or {}
        if all(name in known and _when(known[name]["until"]) >= slot for name, slot in due.items()):
            return

        def change(state: dict[str, Any]) -> None:
            stored = state.setdefault("digests", {})
            for d in config.digests:
                slot = due[d.name]
                last = stored.get(d.name)
                if last is not None and _when(last["until"]) >= slot:
                    continue
                stored[d.name] = {"until": _iso(slot)}
                if last is None:
                    continue
                start, end = _digest().edition_period(d, slot, _when(last["until"]))
                state.setdefault("outbox", []).extend(
                    _items_for(
                        "digest", d.name, d.to, config, now, start=_iso(start), end=_iso(end)
                    )
                )

        self.store.update_alerts(change)

    def _attempt(
        self, item: dict[str, Any], editions: dict[tuple[str, str, str], digest.Digest]
    ) -> None:
        config = self.config
        now = self.now()
        target = find_target(config, item["target"])
        snap = self.store.snapshot()
        note, reported = failures_note(snap.alerts, item["id"])
        try:
            if target is None:
                raise MonitorError("the target is no longer in feeds.yaml")
            message = self._message(item, snap, config, note, editions)
        except MonitorError as exc:
            self._record(item, now, notify.Answer(item["label"], False, str(exc)), final=True)
            return
        answer = self.send(target.url, message)
        self._record(item, now, answer, reported=reported if answer.ok else [])

    def _message(
        self,
        item: Mapping[str, Any],
        snap: Snapshot,
        config: Config,
        note: str,
        editions: dict[tuple[str, str, str], digest.Digest],
    ) -> notify.Message:
        if item["kind"] == "alert":
            rule = next((r for r in config.alerts if r.name == item["name"]), None)
            if rule is None:
                raise MonitorError("the rule is no longer in feeds.yaml")
            message = alerts.alert_message(
                rule, alerts.Firing.from_json(item["firing"]), snap, config
            )
            if note:
                message = notify.Message(message.title, message.text + "\n" + note + "\n")
            return message
        d = next((x for x in config.digests if x.name == item["name"]), None)
        if d is None:
            raise MonitorError("the digest is no longer in feeds.yaml")
        key = (item["name"], item["start"], item["end"])
        if key not in editions:
            editions[key] = _digest().build_digest(
                snap,
                config,
                d,
                _when(item["start"]),
                _when(item["end"]),
                chart=self.charts,
                note=note,
            )
        return editions[key].message

    def _record(
        self,
        item: Mapping[str, Any],
        now: datetime,
        answer: notify.Answer,
        *,
        reported: Sequence[str] = (),
        final: bool = False,
    ) -> None:
        attempt = int(item.get("attempts", 0)) + 1
        gave_up = not answer.ok and (final or attempt > len(self.retry_delays))
        outcome = "sent" if answer.ok else ("gave up" if gave_up else "failed")
        firing = item.get("firing") or {}
        row = {
            "time": utc_naive(now),
            "kind": item["kind"],
            "name": item["name"],
            "entity": firing.get("entity", ""),
            "fired": utc_naive(_when(firing["fired"] if firing else item["end"])),
            "target": item["label"],
            "outcome": outcome,
            "attempt": attempt,
            "error": answer.detail,
        }

        def change(state: dict[str, Any]) -> None:
            box = state.setdefault("outbox", [])
            failures = [f for f in state.get("failures") or [] if f["id"] not in reported]
            current = next((i for i in box if i["id"] == item["id"]), None)
            if current is None:
                return  # done by someone else meanwhile (another pass, `monitor digest`)
            previous = next((f for f in failures if f["id"] == item["id"]), None)
            if answer.ok or gave_up:
                box.remove(current)
            else:
                current.update(
                    attempts=attempt,
                    error=answer.detail,
                    last_try=_iso(now),
                    next_try=_iso(now + self.retry_delays[attempt - 1]),
                )
            if not answer.ok:
                entry = {
                    "id": item["id"],
                    "what": _what(item),
                    "target": item["label"],
                    "error": answer.detail,
                    "time": _iso(now),
                    "attempts": attempt,
                    "status": "gave up" if gave_up else "retrying",
                }
                failures = [f for f in failures if f["id"] != item["id"]] + [entry]
            elif previous is not None:
                previous.update(status="delivered")
            state["failures"] = failures[-MAX_FAILURES_KEPT:]
            if answer.ok:
                state["last_sent"] = _iso(now)

        self.store.update_alerts(change, deliveries=[row])
        if answer.ok:
            self.log(f"sent: {_what(item)} to {item['label']}")
        else:
            self.log(f"not sent ({outcome}): {_what(item)} to {item['label']}: {answer.detail}")


def send_now(
    config: Config, to: Sequence[str], message: notify.Message, send: Send = notify.send
) -> list[notify.Answer]:
    """Send a message to each target now, in this thread (`send-test`, `monitor digest`)."""
    answers = []
    for t in targets(config, to):
        answer = send(t.url, message)
        answers.append(notify.Answer(t.label, answer.ok, answer.detail))
    return answers
