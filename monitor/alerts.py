"""Alert rules: what they measure at an hour, when they fire, live and in a backtest.

A rule (`config.AlertRule`) is read at hour boundaries `h` (UTC), over its window
`[h - window, h)`, on counts the store already has (mentions per entity and hour, articles
mentioning two entities, the fetch log):

- spike: an entity's mentions in the window reach `factor` times the baseline (the mean per
  window over the `baseline` period before the window) and at least `min`;
- above: an entity's mentions in the window reach `min`;
- first: an entity's first mention ever (`scope: feed`: its first in each feed) is in the
  window;
- together: articles mentioning both of two of the rule's entities in the window reach `min`;
- feed-down: every poll of a feed has failed for longer than the window.

The baseline counts only the part of its period that the store covers (from its first
article); a rule with less than one window of baseline says nothing yet.

**The episode rule**: a subject (an entity, a pair, a feed) fires when its condition starts
to hold, and re-arms only once the condition no longer holds: one message per episode.

`readings` (each subject's value at `h`) and `advance` (the episode rule) are the one
implementation used both live and in the backtest. The poller calls `evaluate_live` after
each commit; it reads every hour boundary that every feed has caught up with (polled since,
or not due again within the hour) and that it has not read yet, and carries the open episodes
in the store (`RuleState`). `backtest` reads every hour boundary of a range in the same way.
So a backtest over the hours the poller saw gives what the poller fired, unless articles
arrived late (a feed that was down, back-dated items): the backtest sees them, the poller
did not yet.

Messages (`alert_message`) say what fired, the number against its baseline, the top three
articles (title, outlet, link) and a link to the dashboard view that shows it.

What it leaves to others: sending and retrying (delivery.py, notify.py), storing (monitor/store/:
`update_alerts`), the feeds.yaml keys (config.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .config import COUNT_ALERTS, AlertRule, Config
from .lazy import lazy_module
from .models import FeedState
from .notify import Message
from .store import Snapshot, utc_naive

if TYPE_CHECKING:
    import numpy as np
else:  # imported by the first rule evaluated: a poller without alerts never needs it
    np = lazy_module("numpy", globals(), "np")

HOUR = timedelta(hours=1)
MAX_CATCH_UP = timedelta(days=7)  # a poller restarted after longer reads the last 7 days
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # the first hour a backtest reads
TOP_ARTICLES = 3
OK_OUTCOMES = ("ok", "unchanged")


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Reading:
    """What one subject of a rule measures at one hour boundary."""

    subject: str  # an entity, "A + B", a feed's name, "Entity · Feed"
    value: float
    baseline: float  # NaN when the store does not cover a window of baseline yet
    threshold: float
    holds: bool
    entities: tuple[str, ...] = ()
    feed: str = ""  # feed URL: feed-down, and first in a feed


@dataclass(frozen=True)
class Firing:
    """A rule that fired: the start of an episode."""

    alert: str
    entity: str  # the subject
    fired: datetime  # the hour boundary (UTC, aware)
    value: float
    baseline: float
    threshold: float
    kind: str
    entities: tuple[str, ...] = ()
    feed: str = ""

    def public(self) -> dict[str, Any]:
        """The backtest's JSON object: alert, entity, fired (ISO, UTC), value, baseline."""
        return {
            "alert": self.alert,
            "entity": self.entity,
            "fired": self.fired.astimezone(UTC).isoformat(),
            "value": _number(self.value),
            "baseline": _number(self.baseline),
        }

    def row(self, noticed: datetime) -> dict[str, Any]:
        """The row of the store's `firings` table."""
        return {
            "alert": self.alert,
            "entity": self.entity,
            "fired": utc_naive(self.fired),
            "value": self.value,
            "baseline": self.baseline,
            "threshold": self.threshold,
            "kind": self.kind,
            "noticed": utc_naive(noticed),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything needed to rebuild it (the outbox keeps firings as JSON)."""
        return {
            **self.public(),
            "threshold": _number(self.threshold),
            "kind": self.kind,
            "entities": list(self.entities),
            "feed": self.feed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Firing:
        def num(key: str) -> float:
            value = data.get(key)
            return float("nan") if value is None else float(value)

        return cls(
            alert=data["alert"],
            entity=data["entity"],
            fired=datetime.fromisoformat(data["fired"]),
            value=num("value"),
            baseline=num("baseline"),
            threshold=num("threshold"),
            kind=data.get("kind", ""),
            entities=tuple(data.get("entities", ())),
            feed=data.get("feed", ""),
        )


def _number(value: float) -> float | int | None:
    if value is None or math.isnan(value):
        return None
    return int(value) if float(value).is_integer() else round(float(value), 2)


@dataclass(frozen=True)
class RuleState:
    """What the poller remembers of a rule: the last hour read, the episodes still open."""

    until: datetime | None = None
    open: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "until": self.until.isoformat() if self.until else None,
            "open": sorted(self.open),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RuleState:
        if not data:
            return cls()
        until = data.get("until")
        return cls(
            until=datetime.fromisoformat(until) if until else None,
            open=frozenset(data.get("open", ())),
        )


# --------------------------------------------------------------------------------------------
# The counts a rule reads: hourly series loaded once for a range


@dataclass
class History:
    """Hourly counts from `start` (naive UTC, an hour boundary) for `hours` hours, as
    cumulative sums, so that any window's count costs two lookups."""

    start: datetime
    hours: int
    mentions: dict[str, np.ndarray] = field(default_factory=dict)
    pairs: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    first: dict[str, datetime] = field(default_factory=dict)
    first_in_feed: dict[tuple[str, str], datetime] = field(default_factory=dict)
    fetches: dict[str, tuple[list[datetime], list[bool]]] = field(default_factory=dict)
    data_start: datetime | None = None  # the store's first publication time, on the hour
    feed_names: dict[str, str] = field(default_factory=dict)

    def index(self, t: datetime) -> int:
        return min(max(int((t - self.start) / HOUR), 0), self.hours)

    def count(self, cum: np.ndarray | None, lo: datetime, hi: datetime) -> float:
        if cum is None:
            return 0.0
        return float(cum[self.index(hi)] - cum[self.index(lo)])


def _cumulative(frame: Any, start: datetime, hours: int) -> np.ndarray:
    index = ((frame["h"] - start) // HOUR).to_numpy(dtype="int64")
    counts = np.bincount(index, weights=frame["n"].to_numpy(dtype="float64"), minlength=hours)
    return np.concatenate([[0.0], np.cumsum(counts[:hours])])


def load_history(
    snap: Snapshot, config: Config, rules: Sequence[AlertRule], first: datetime, last: datetime
) -> History:
    """The counts `rules` need to be read at every hour boundary from `first` to `last`."""
    first, last = utc_naive(first), utc_naive(last)
    counting = [r for r in rules if r.when in COUNT_ALERTS]
    back = max((r.window + r.baseline for r in counting), default=timedelta(0))
    start = first - back
    hours = max(int((last - start) / HOUR), 0)
    h = History(start=start, hours=hours, feed_names={f.key: f.name for f in config.feeds})
    lo_pub, _ = snap.time_bounds()
    if lo_pub is not None:
        h.data_start = lo_pub.replace(minute=0, second=0, microsecond=0)
    entities = sorted({e for r in counting for e in r.entities})
    if entities:
        _load_counts(snap, h, entities, start, last)
    pairs = sorted({p for r in rules if r.when == "together" for p in _pairs(r)})
    if pairs:
        _load_pairs(snap, h, pairs, start, last)
    firsts = [r for r in rules if r.when == "first"]
    if firsts:
        _load_firsts(snap, h, firsts)
    downs = [r for r in rules if r.when == "feed-down"]
    if downs:
        window = max(r.window for r in downs)
        _load_fetches(snap, h, _down_feeds(downs, config), first - window - HOUR, last)
    return h


def _load_counts(
    snap: Snapshot, h: History, entities: list[str], start: datetime, end: datetime
) -> None:
    df = snap.query(
        """SELECT entity, date_trunc('hour', published) AS h, SUM(count)::DOUBLE PRECISION AS n
        FROM {mentions} WHERE published >= ? AND published < ?
          AND entity IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2""",
        [start, end, entities],
    )
    for entity, part in df.groupby("entity"):
        h.mentions[str(entity)] = _cumulative(part, start, h.hours)


def _load_pairs(
    snap: Snapshot, h: History, pairs: list[tuple[str, str]], start: datetime, end: datetime
) -> None:
    entities = sorted({e for pair in pairs for e in pair})
    df = snap.query(
        """WITH m AS (SELECT article_id, entity, published FROM {mentions}
            WHERE published >= ? AND published < ? AND entity IN (SELECT unnest(?::VARCHAR[])))
        SELECT a.entity AS a, b.entity AS b, date_trunc('hour', a.published) AS h,
               COUNT(*)::DOUBLE PRECISION AS n
        FROM m a JOIN m b ON a.article_id = b.article_id AND a.entity < b.entity
        GROUP BY 1, 2, 3""",
        [start, end, entities],
    )
    for (a, b), part in df.groupby(["a", "b"]):
        h.pairs[(str(a), str(b))] = _cumulative(part, start, h.hours)


def _load_firsts(snap: Snapshot, h: History, rules: list[AlertRule]) -> None:
    entities = sorted({e for r in rules for e in r.entities})
    df = snap.query(
        """SELECT entity, min(published) AS t FROM {mentions}
        WHERE entity IN (SELECT unnest(?::VARCHAR[])) GROUP BY entity""",
        [entities],
    )
    h.first = {str(e): t.to_pydatetime() for e, t in zip(df["entity"], df["t"], strict=True)}
    if any(r.scope == "feed" for r in rules):
        df = snap.query(
            """SELECT m.entity, s.feed, min(m.published) AS t
            FROM {mentions} m JOIN {sources} s ON s.article_id = m.article_id
            WHERE m.entity IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2""",
            [entities],
        )
        h.first_in_feed = {
            (str(e), str(f)): t.to_pydatetime()
            for e, f, t in zip(df["entity"], df["feed"], df["t"], strict=True)
        }


def _down_feeds(rules: Iterable[AlertRule], config: Config) -> list[str]:
    enabled = [f.key for f in config.feeds if f.enabled]
    return sorted({url for r in rules for url in (r.feeds or enabled)})


def _load_fetches(
    snap: Snapshot, h: History, feeds: list[str], lo: datetime, end: datetime
) -> None:
    """Each feed's fetches from its last success before `lo` up to `end`: enough to tell,
    at any hour after `lo`, since when it has been failing."""
    df = snap.query(
        """WITH last_ok AS (
            SELECT feed, max(time) AS t FROM {fetches}
            WHERE time < ? AND outcome IN ('ok', 'unchanged') GROUP BY feed)
        SELECT f.feed, f.time, f.outcome IN ('ok', 'unchanged') AS ok
        FROM {fetches} f LEFT JOIN last_ok USING (feed)
        WHERE f.time < ? AND f.feed IN (SELECT unnest(?::VARCHAR[]))
          AND (last_ok.t IS NULL OR f.time >= last_ok.t)
        ORDER BY f.feed, f.time, ok  -- a failure and a success at the same time: success last
        """,
        [lo, end, feeds],
    )
    for feed, part in df.groupby("feed"):
        times = [t.to_pydatetime() for t in part["time"]]
        h.fetches[str(feed)] = (times, [bool(v) for v in part["ok"]])


def _pairs(rule: AlertRule) -> list[tuple[str, str]]:
    return [tuple(sorted(p)) for p in combinations(rule.entities, 2)]  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Reading a rule at an hour, and the episode rule


def readings(rule: AlertRule, h: History, at: datetime) -> list[Reading]:
    """What each subject of `rule` measures at the hour boundary `at` (UTC)."""
    at = utc_naive(at)
    if rule.when == "spike" or rule.when == "above":
        return [_count_reading(rule, h, at, e, h.mentions.get(e), (e,)) for e in rule.entities]
    if rule.when == "together":
        return [
            _count_reading(rule, h, at, f"{a} + {b}", h.pairs.get((a, b)), (a, b))
            for a, b in _pairs(rule)
        ]
    if rule.when == "first":
        return _first_readings(rule, h, at)
    return _down_readings(rule, h, at)


def _count_reading(
    rule: AlertRule,
    h: History,
    at: datetime,
    subject: str,
    cum: np.ndarray | None,
    entities: tuple[str, ...],
) -> Reading:
    value = h.count(cum, at - rule.window, at)
    baseline = _baseline(rule, h, at, cum)
    if rule.when == "spike":
        threshold = max(rule.factor * baseline, rule.min) if not math.isnan(baseline) else math.nan
        holds = not math.isnan(baseline) and value >= threshold
    else:
        threshold = float(rule.min)
        holds = value >= threshold
    return Reading(subject, value, baseline, threshold, holds, entities)


def _baseline(rule: AlertRule, h: History, at: datetime, cum: np.ndarray | None) -> float:
    """Mean count per window over the baseline period before the window; NaN when the store
    covers less than one window of it."""
    hi = at - rule.window
    lo = hi - rule.baseline
    if h.data_start is not None:
        lo = max(lo, h.data_start)
    covered = hi - lo
    if h.data_start is None or covered < rule.window:
        return math.nan
    return h.count(cum, lo, hi) * (rule.window / covered)


def _first_readings(rule: AlertRule, h: History, at: datetime) -> list[Reading]:
    out = []
    since = at - rule.window
    if rule.scope == "feed":
        for (entity, feed), t in sorted(h.first_in_feed.items()):
            if entity in rule.entities:
                value = h.count(h.mentions.get(entity), since, at)
                name = h.feed_names.get(feed, feed)
                holds = since <= t < at
                out.append(Reading(f"{entity} · {name}", value, 0.0, 1.0, holds, (entity,), feed))
        return out
    for entity in rule.entities:
        first = h.first.get(entity)
        value = h.count(h.mentions.get(entity), since, at)
        holds = first is not None and since <= first < at
        out.append(Reading(entity, value, 0.0, 1.0, holds, (entity,)))
    return out


def _down_readings(rule: AlertRule, h: History, at: datetime) -> list[Reading]:
    out = []
    window_hours = rule.window / HOUR
    for feed in rule.feeds or sorted(h.fetches):
        if feed not in h.feed_names:
            continue  # no longer in feeds.yaml
        times, oks = h.fetches.get(feed, ([], []))
        k = bisect.bisect_left(times, at)  # fetches before `at`
        failing_since = None
        if k and not oks[k - 1]:
            j = k - 1
            while j > 0 and not oks[j - 1]:
                j -= 1
            failing_since = times[j]
        hours = (at - failing_since) / HOUR if failing_since else 0.0
        holds = failing_since is not None and at - failing_since > rule.window
        name = h.feed_names.get(feed, feed)
        out.append(Reading(name, round(hours, 1), window_hours, window_hours, holds, (), feed))
    return out


def advance(
    open_: frozenset[str], now_reading: Sequence[Reading]
) -> tuple[frozenset[str], list[Reading]]:
    """The episode rule: a subject fires when its condition starts to hold; it re-arms once
    the condition no longer holds. Returns the subjects still open and those that fired."""
    fired = [r for r in now_reading if r.holds and r.subject not in open_]
    return frozenset(r.subject for r in now_reading if r.holds), fired


def run_rule(
    rule: AlertRule, h: History, boundaries: Iterable[datetime], state: RuleState
) -> tuple[RuleState, list[Firing]]:
    """Read `rule` at each boundary in turn, from `state`; the firings in order."""
    open_ = state.open
    until = state.until
    firings: list[Firing] = []
    for at in boundaries:
        open_, fired = advance(open_, readings(rule, h, at))
        firings += [_firing(rule, r, at) for r in fired]
        until = at
    return RuleState(until=until, open=open_), firings


def _firing(rule: AlertRule, r: Reading, at: datetime) -> Firing:
    return Firing(
        alert=rule.name,
        entity=r.subject,
        fired=at if at.tzinfo else at.replace(tzinfo=UTC),
        value=r.value,
        baseline=r.baseline,
        threshold=r.threshold,
        kind=rule.when,
        entities=r.entities,
        feed=r.feed,
    )


def hour_boundaries(first: datetime, last: datetime) -> list[datetime]:
    """Every hour boundary from `first` (rounded up) to `last` (included), aware UTC."""
    first, last = _aware(first), _aware(last)
    start = first.replace(minute=0, second=0, microsecond=0)
    if start < first:
        start += HOUR
    out = []
    while start <= last:
        out.append(start)
        start += HOUR
    return out


def floor_hour(t: datetime) -> datetime:
    return _aware(t).replace(minute=0, second=0, microsecond=0)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Live (the poller) and the backtest


def caught_up(
    config: Config, feeds: Mapping[str, FeedState], now: datetime, *, pages: bool = True
) -> datetime | None:
    """The latest hour boundary the store is complete up to, as far as the poller can tell:
    every enabled feed due again within the hour has been polled successfully since (a feed
    polled every few hours, one backing off after failures, one that never delivered, or a
    gone one is not waited for), and the pages of its articles published before it have been
    tried once (full text: they may add mentions; `pages=False` leaves them out). None while a
    feed has never been polled."""
    now = _aware(now)
    limit = now
    for feed in config.feeds:
        if not feed.enabled:
            continue
        st = feeds.get(feed.key)
        if st is None:
            return None  # about to be polled for the first time
        if pages and st.pages_pending is not None:  # articles whose page is being read
            limit = min(limit, _aware(st.pages_pending))
        if st.gone or st.last_success is None or st.next_poll is None:
            continue
        if _aware(st.next_poll) <= now + HOUR:
            limit = min(limit, _aware(st.last_success))
    return floor_hour(limit)


def evaluate_live(
    snap: Snapshot, config: Config, now: datetime, states: Mapping[str, RuleState]
) -> tuple[dict[str, RuleState], list[Firing]]:
    """Read every rule at the hour boundaries it has not read yet and the feeds have caught
    up with. Returns the new state of the rules that moved on, and what fired."""
    ready = caught_up(config, snap.feeds, now)
    if ready is None or not config.alerts:
        return {}, []
    plan: dict[str, list[datetime]] = {}
    for rule in config.alerts:
        state = states.get(rule.name) or RuleState()
        if state.until is None:  # a new rule starts now, with no history of its own, once
            first = caught_up(config, snap.feeds, now, pages=False) or ready  # pages are read
        else:
            first = max(_aware(state.until) + HOUR, ready - MAX_CATCH_UP)
        if first <= ready:
            plan[rule.name] = hour_boundaries(first, ready)
    if not plan:
        return {}, []
    rules = [r for r in config.alerts if r.name in plan]
    lo = min(b[0] for b in plan.values())
    history = load_history(snap, config, rules, lo, ready)
    new: dict[str, RuleState] = {}
    firings: list[Firing] = []
    for rule in rules:
        state = states.get(rule.name) or RuleState()
        new[rule.name], fired = run_rule(rule, history, plan[rule.name], state)
        firings += fired
    return new, sorted(firings, key=lambda f: (f.fired, f.alert, f.entity))


def backtest(
    snap: Snapshot,
    config: Config,
    since: datetime | None = None,
    until: datetime | None = None,
    names: Sequence[str] = (),
    now: datetime | None = None,
) -> list[Firing]:
    """Every firing of the rules (all, or those named) at every hour boundary from `since`
    to `until` (default: from the store's first article to now), each rule starting with no
    open episode, as the poller would have fired them."""
    wanted = {n.casefold() for n in names}
    rules = [r for r in config.alerts if not wanted or r.name.casefold() in wanted]
    if not rules:
        return []
    if since is None:
        since, _ = snap.time_bounds()
        if since is None:
            return []
    until = until or now or datetime.now(UTC)
    # no article is dated before 1900 (such dates count as missing); reading a rule there
    # would reach back before year 1
    since = max(_aware(since), EARLIEST)
    boundaries = hour_boundaries(since, until)
    if not boundaries:
        return []
    history = load_history(snap, config, rules, boundaries[0], boundaries[-1])
    firings: list[Firing] = []
    for rule in rules:
        firings += run_rule(rule, history, boundaries, RuleState())[1]
    return sorted(firings, key=lambda f: (f.fired, f.alert, f.entity))


def rule_states(snap: Snapshot) -> dict[str, RuleState]:
    return {
        name: RuleState.from_json(data) for name, data in (snap.alerts.get("rules") or {}).items()
    }


def last_fired(snap: Snapshot) -> dict[str, datetime]:
    df = snap.query("SELECT alert, max(fired) AS fired FROM {firings} GROUP BY alert")
    return {
        str(a): _aware(t.to_pydatetime()) for a, t in zip(df["alert"], df["fired"], strict=True)
    }


def fired_history(snap: Snapshot, since: datetime | None = None) -> list[Firing]:
    """What fired (the store's `firings`), oldest first."""
    df = snap.query(
        """SELECT alert, entity, fired, value, baseline, threshold, kind FROM {firings}
        WHERE fired >= ? ORDER BY fired, alert, entity""",
        [utc_naive(since) if since else datetime(1970, 1, 1)],
    )
    return [
        Firing(
            alert=str(r.alert),
            entity=str(r.entity),
            fired=_aware(r.fired.to_pydatetime()),
            value=float(r.value),
            baseline=float(r.baseline),
            threshold=float(r.threshold),
            kind=str(r.kind),
        )
        for r in df.itertuples(index=False)
    ]


# --------------------------------------------------------------------------------------------
# Messages


def alert_message(
    rule: AlertRule, firing: Firing, snap: Snapshot, config: Config, *, test: bool = False
) -> Message:
    """The message for a firing: what fired, the number against its baseline, the top
    articles and a link to the dashboard view that shows it. Plain text."""
    title = f"{rule.name}: {_headline(rule, firing)}"
    at = _stamp(firing.fired)
    lines = []
    if test:
        title = f"[test] {title}"
        lines += [
            "This is a test message from `monitor alerts send-test`, with today's numbers;",
            "the rule has not necessarily fired.",
            "",
        ]
    lines += [f'"{rule.name}" fired at {at}.', "", _explanation(rule, firing), ""]
    if rule.when != "feed-down":
        top = top_articles(snap, config, rule, firing)
        if top:
            lines.append("Top articles:")
            for i, a in enumerate(top, 1):
                lines.append(f"{i}. {a['title']} ({a['outlet']})")
                if a["url"]:
                    lines.append(f"   {a['url']}")
            lines.append("")
    else:
        st = snap.feeds.get(firing.feed)
        if st and st.last_error:
            lines += [f"Last error: {st.last_error}", ""]
    link = alert_link(config, rule, firing)
    if link:
        lines.append(f"See it in the dashboard: {link}")
    else:
        lines.append("(Set dashboard: url: in feeds.yaml to get a link to the dashboard here.)")
    return Message(title=title, text="\n".join(lines).rstrip() + "\n")


def _headline(rule: AlertRule, f: Firing) -> str:
    span = _span(rule.window)
    if f.kind == "spike":
        known = f.baseline and not math.isnan(f.baseline)
        times = f" ({f.value / f.baseline:.1f}x the usual {fmt(f.baseline)})" if known else ""
        return f"{f.entity}, {fmt(f.value)} mentions in {span}{times}"
    if f.kind == "above":
        return f"{f.entity}, {fmt(f.value)} mentions in {span} (threshold {fmt(f.threshold)})"
    if f.kind == "first":
        return f"first mention of {f.entity}"
    if f.kind == "together":
        return f"{f.entity} together in {fmt(f.value)} articles in {span}"
    return f"feed {f.entity} failing for {fmt(f.value)} h"


def _explanation(rule: AlertRule, f: Firing) -> str:
    span, to = _span(rule.window), _stamp(f.fired)
    base = (
        f"against a baseline of {fmt(f.baseline)} per {span} over the {_span(rule.baseline)} before"
        if not math.isnan(f.baseline)
        else "with too little history for a baseline"
    )
    if f.kind == "spike":
        return (
            f"{f.entity}: {fmt(f.value)} mentions in the {span} to {to}, {base}. "
            f"The rule fires at {fmt(rule.factor)} times the baseline and at least "
            f"{rule.min} mentions."
        )
    if f.kind == "above":
        return (
            f"{f.entity}: {fmt(f.value)} mentions in the {span} to {to}, "
            f"reaching the rule's {rule.min} ({base})."
        )
    if f.kind == "first":
        where = f" in {f.entity.split(' · ', 1)[-1]}" if " · " in f.entity else ""
        return (
            f"{f.entity.split(' · ')[0]} is mentioned for the first time{where}: "
            f"{fmt(f.value)} mentions in the {span} to {to}."
        )
    if f.kind == "together":
        return (
            f"{f.entity}: mentioned together in {fmt(f.value)} articles in the {span} to {to}, "
            f"reaching the rule's {rule.min} ({base})."
        )
    return (
        f"The feed {f.entity} has failed every poll for {fmt(f.value)} hours, longer than "
        f"the rule's {span}."
    )


def fmt(x: float) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _span(d: timedelta) -> str:
    hours = d / HOUR
    if hours % 24 == 0 and hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours == 24:
        return "24 hours"
    return f"{hours:g} hours" if hours != 1 else "hour"


def _stamp(t: datetime) -> str:
    return _aware(t).strftime("%Y-%m-%d %H:%M UTC")


def top_articles(
    snap: Snapshot, config: Config, rule: AlertRule, f: Firing, limit: int = TOP_ARTICLES
) -> list[dict[str, str]]:
    """The articles behind a firing, most mentions first: title, outlet, url."""
    entities = list(f.entities or rule.entities)
    end = utc_naive(f.fired)
    feed = f.feed if rule.when == "first" else ""
    together = rule.when == "together"
    return articles_about(snap, config, entities, end - rule.window, end, limit, together, feed)


def articles_about(
    snap: Snapshot,
    config: Config,
    entities: Sequence[str],
    start: datetime,
    end: datetime,
    limit: int,
    together: bool = False,
    feed: str = "",
) -> list[dict[str, str]]:
    """The articles published in [start, end) mentioning the entities (`together`: all of
    them; `feed`: carried by that feed), most mentions first, then newest: `title`, `outlet`,
    `url` (http(s) only, else "")."""
    if not entities:
        return []
    start, end = utc_naive(start), utc_naive(end)
    feed_cond, params = "", [start, end, list(entities)]
    if feed:
        feed_cond = "AND m.article_id IN (SELECT article_id FROM {sources} WHERE feed = ?)"
        params.append(feed)
    params.append(len(set(entities)) if together else 1)
    df = snap.query(
        f"""WITH hits AS (
            SELECT m.article_id AS id, SUM(m.count)::BIGINT AS mentions,
                   MAX(m.published) AS published
            FROM {{mentions}} m
            WHERE m.published >= ? AND m.published < ?
              AND m.entity IN (SELECT unnest(?::VARCHAR[]))
              {feed_cond}
            GROUP BY m.article_id HAVING COUNT(DISTINCT m.entity) >= ?)
        SELECT h.id, h.mentions, a.title, a.url, a.feed
        FROM hits h JOIN {{articles}} a ON a.id = h.id
        WHERE a.published >= ? AND a.published < ?
        ORDER BY h.mentions DESC, h.published DESC, h.id LIMIT ?""",
        [*params, start, end, int(limit)],
    )
    names = {f.key: f.name for f in config.feeds}
    names.update({url: st.name for url, st in snap.feeds.items() if url not in names and st.name})
    out = []
    for r in df.itertuples(index=False):
        url = str(r.url or "")
        link = url if url.startswith(("http://", "https://")) else ""
        out.append(
            {
                "title": " ".join(str(r.title or "(no title)").split()),
                "outlet": names.get(str(r.feed)) or urlsplit(link).hostname or "",
                "url": link,
            }
        )
    return out


def dashboard_link(config: Config, params: Sequence[tuple[str, str]]) -> str | None:
    """A link to the dashboard (`dashboard.url` in feeds.yaml) with these view parameters."""
    base = config.dashboard.url
    if not base:
        return None
    parts = urlsplit(base)
    query = "&".join(q for q in (parts.query, urlencode(list(params))) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def view_params(
    view: str, entities: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """The dashboard's URL parameters for a view of `entities` over [start, end)."""
    start, end = _aware(start), _aware(end)
    last_day = (end - timedelta(microseconds=1)).date()
    params = [("view", view), *(("e", e) for e in entities)]
    params += [
        ("range", "custom"),
        ("from", start.date().isoformat()),
        ("to", last_day.isoformat()),
    ]
    if view == "timeline":
        params.append(("by", "hour" if end - start <= timedelta(days=4) else "day"))
    return params


def alert_link(config: Config, rule: AlertRule, f: Firing) -> str | None:
    """The dashboard view that shows a firing: the feeds page for a feed; the co-mentions of
    the window for a pair; else the timeline of the window and the baseline before it."""
    if f.kind == "feed-down":
        return dashboard_link(config, [("view", "feeds")])
    if f.kind == "together":
        params = view_params("co-mentions", f.entities, f.fired - rule.window, f.fired)
        return dashboard_link(config, params)
    back = rule.window + (rule.baseline if f.kind in ("spike", "above") else rule.window)
    return dashboard_link(config, view_params("timeline", f.entities, f.fired - back, f.fired))


def sample_firing(snap: Snapshot, config: Config, rule: AlertRule, now: datetime) -> Firing:
    """A firing to show what a rule's message looks like: its latest real firing, else its
    reading at the last full hour for the subject with the highest value."""
    history = [f for f in fired_history(snap) if f.alert == rule.name]
    at = floor_hour(now)
    h = load_history(snap, config, [rule], at, at)
    found = readings(rule, h, at)
    if history:
        last = history[-1]
        match = next((r for r in found if r.subject == last.entity), None)
        return Firing(
            rule.name, last.entity, last.fired, last.value, last.baseline, last.threshold,
            rule.when, match.entities if match else (), match.feed if match else "",
        )  # fmt: skip
    if found:
        best = max(found, key=lambda r: (r.holds, r.value))
        return _firing(rule, best, at)
    subject = rule.entities[0] if rule.entities else "(no feed)"
    return Firing(rule.name, subject, at, 0.0, math.nan, math.nan, rule.when, rule.entities[:1])
