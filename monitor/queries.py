"""The questions the dashboard and the command line ask of the store, as DataFrames.

Every function takes a `Snapshot` (one committed state of the store) and `Filters`, so the
dashboard and `monitor mentions` / `monitor articles` give the same numbers for the same
filters. The counting rules:

- `mentions`: occurrences of an entity's names in title + text (see match.py);
- `articles`: articles with at least one mention of the entity;
- `stories`: distinct stories among those articles (syndicated copies count once; an article
  stored without a story, by a version before stories, is a story of its own);
- `tone`: the mean of the entity's tone per article (tone.py), where one was scored;
- an article belongs to the period of its publication time (UTC); a missing or future date
  was replaced by the time it was first seen, and flagged (`date_flag`);
- an article carried by several feeds counts once; a feed filter keeps the articles carried
  by any of the chosen feeds;
- `share`: articles mentioning the entity / all articles stored for the period (same feed
  filter), the normalized view;
- an article's text is its page's when the page was read (`pages` row with status ok,
  `text_source` "page"), else its feed's ("feed"); mentions were counted on that text.

The SQL is written in the dialect that DuckDB (the embedded store) and PostgreSQL both run:
explicit GROUP BY (by position for expressions), `array_agg`, `percentile_cont(...) WITHIN
GROUP`, lists as typed array parameters (`IN (SELECT unnest(?::VARCHAR[]))`), LIKE with an
explicit `ESCAPE`, subqueries with aliases, casts that both know (BIGINT, DOUBLE PRECISION).
A store only fills in its tables and its placeholder style, so these functions, and their
tests, give the same numbers on both.

What it leaves to others: drawing (dashboard.py), formatting (cli.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from .names import name_key
from .store import Snapshot, utc_naive

if TYPE_CHECKING:  # (for annotations only: stories.py is needed by the poller, not by readers)
    from .stories import StoryAssigner

GRANULARITIES = ("hour", "day", "week", "month")
FREQ = {"hour": "h", "day": "D", "week": "W-MON", "month": "MS"}
# the longest period of each granularity (a month is at most 31 days)
STEP = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=31),
}
DEGRADED_SHARE = 0.3  # a period is degraded when more than this share of polled feeds failed


@dataclass(frozen=True)
class Filters:
    """What to count. Times are UTC; `end` is exclusive. Empty tuples mean "all"."""

    start: datetime | None = None
    end: datetime | None = None
    entities: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()  # feed URLs
    search: str = ""  # words in the title or text (case-insensitive substring)
    date_flags: tuple[str, ...] = ()  # "missing" | "future" | "" (dated); empty: any
    together: bool = False  # only articles that mention every one of `entities`

    def normalized(self) -> Filters:
        return replace(
            self,
            start=utc_naive(self.start) if self.start else None,
            end=utc_naive(self.end) if self.end else None,
        )


class _Where:
    """Builds a WHERE clause and its parameters for the mentions table (alias m)."""

    def __init__(self, snap: Snapshot, f: Filters, time_col: str = "m.published"):
        self.snap, self.f = snap, f.normalized()
        self.parts: list[str] = []
        self.params: list[Any] = []
        if self.f.start:
            self.add(f"{time_col} >= ?", self.f.start)
        if self.f.end:
            self.add(f"{time_col} < ?", self.f.end)

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def entities(self, col: str = "m.entity") -> _Where:
        if len(set(self.f.entities)) == 1:  # (PostgreSQL then reads its index in order)
            self.add(f"{col} = ?", self.f.entities[0])
        elif self.f.entities:
            self.add(f"{col} IN (SELECT unnest(?::VARCHAR[]))", list(self.f.entities))
        if self.f.together and len(self.f.entities) > 1:
            self.add(
                "m.article_id IN (SELECT article_id FROM {mentions} "
                "WHERE entity IN (SELECT unnest(?::VARCHAR[])) GROUP BY article_id "
                "HAVING COUNT(*) = ?)",
                list(self.f.entities),
                len(set(self.f.entities)),
            )
        return self

    def articles(self, id_col: str = "m.article_id") -> _Where:
        """Feed, search and date-flag filters, which need the article or its sources."""
        if self.f.feeds:
            self.add(
                f"{id_col} IN (SELECT article_id FROM {{sources}} "
                "WHERE feed IN (SELECT unnest(?::VARCHAR[])))",
                list(self.f.feeds),
            )
        if self.f.search or self.f.date_flags:
            cond, params = _article_conditions(self.f, "a")
            self.add(f"{id_col} IN (SELECT a.id FROM {{articles}} a WHERE {cond})", *params)
        return self

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) or "true"


def _article_conditions(f: Filters, alias: str) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    if f.start:
        parts.append(f"{alias}.published >= ?")
        params.append(f.start)
    if f.end:
        parts.append(f"{alias}.published < ?")
        params.append(f.end)
    if f.search.strip():
        for word in f.search.split():
            parts.append(
                f"({alias}.title ILIKE ? ESCAPE '\\' OR {alias}.text ILIKE ? ESCAPE '\\' OR "
                f"{alias}.id IN (SELECT article_id FROM {{pages}} WHERE status = 'ok' "
                "AND text ILIKE ? ESCAPE '\\'))"
            )
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern, pattern]
    if f.date_flags:
        parts.append(f"{alias}.date_flag IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(f.date_flags))
    return " AND ".join(parts) or "true", params


def _rollup_ok(snap: Snapshot, f: Filters, by: str) -> bool:
    """Whether the daily roll-ups can answer: the store keeps them for its rows
    (`Snapshot.rollups`), periods are whole days, and no filter needs the articles themselves
    (feeds, words, date flags, together)."""
    return (
        snap.rollups
        and by in ("day", "week", "month")
        and not f.feeds
        and not f.search.strip()
        and not f.date_flags
        and not (f.together and len(set(f.entities)) > 1)
        and all(t is None or t == _midnight(t) for t in (f.start, f.end))
    )


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _period(by: str, col: str = "m.published") -> str:
    if by not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, not {by!r}")
    return f"date_trunc('{by}', {col})"


def shift(t: datetime, delta: timedelta) -> datetime:
    """`t + delta`, clamped to the datetimes Python can hold (a feed may date an item in year 1
    or 9999, and arithmetic on such a bound must not raise OverflowError)."""
    try:
        return t + delta
    except OverflowError:
        return datetime.max if delta > timedelta(0) else datetime.min


def kinds(snap: Snapshot) -> dict[str, str]:
    return {e.name: e.kind for e in snap.watchlist}


def _kinds_of(snap: Snapshot, entities: pd.Series) -> list[str]:
    """Each entity's kind, "" for one the snapshot's watchlist lacks (rows counted before the
    watchlist changed, or by a poller with another watchlist, until they are recounted)."""
    known = kinds(snap)
    return [known.get(e, "") for e in entities]


def feed_names(snap: Snapshot) -> dict[str, str]:
    return {url: (st.name or url) for url, st in snap.feeds.items()}


def _names_of(snap: Snapshot, feeds: pd.Series) -> pd.Series:
    """Each feed's name, else its URL (a feed no longer in the store's feed state), aligned
    with `feeds`. Looked up once per distinct feed: a list of 80,000 rows took 0.12 s."""
    names = feed_names(snap)
    codes, urls = pd.factorize(feeds, use_na_sentinel=False)
    found = pd.Index([names.get(url, url) for url in urls])
    return pd.Series(found.take(codes), index=feeds.index)


def feeds_for_tags(snap: Snapshot, tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The feeds (URLs) carrying any of the tags."""
    wanted = set(tags)
    return tuple(sorted(url for url, st in snap.feeds.items() if wanted & set(st.tags)))


# --------------------------------------------------------------------------------------------
# Counts


def mention_counts(
    snap: Snapshot, f: Filters, by: str = "none", *, with_tone: bool = False
) -> pd.DataFrame:
    """Mentions, articles and stories per entity (and period):
    `entity, kind, [period], mentions, articles, stories` (and `tone`, `toned` with
    `with_tone`: the mean tone of the entity's articles, -1..1, and how many articles it
    averages; NaN where none was scored).

    `stories` counts distinct stories among the entity's articles (syndicated copies count
    once; an article stored without a story is a story of its own). Sorted by mentions, most
    first. Entities with nothing in the range are absent.
    """
    keys = {"entity": "{e}"} if by == "none" else {"entity": "{e}", "period": _period(by, "{p}")}
    df = snap.query(*_counts(snap, f, "day" if by == "none" else by, keys))
    if with_tone:  # the mean tone of the entity's articles, from the rows
        w = _Where(snap, f).entities().articles()
        _, tone_col = _story_and_tone(snap)
        cols = _key_cols(keys, "m.published", "m.entity")
        groups = ", ".join(str(i + 1) for i in range(len(keys)))
        tones = snap.query(
            f"""SELECT {cols}, avg({tone_col})::DOUBLE PRECISION AS tone,
                COUNT({tone_col})::BIGINT AS toned
            FROM {{mentions}} m WHERE {w.sql} GROUP BY {groups}""",
            w.params,
        )
        df = df.merge(tones, on=list(keys), how="left")
    df.insert(1, "kind", _kinds_of(snap, df["entity"]))
    order = ["mentions", "entity"] if by == "none" else ["period", "mentions", "entity"]
    asc = [False, True] if by == "none" else [True, False, True]
    return df.sort_values(order, ascending=asc, ignore_index=True)


def article_totals(snap: Snapshot, f: Filters, by: str) -> pd.DataFrame:
    """All articles stored per period (any mention or none): `period, total`."""
    f = f.normalized()
    table, w = _totals(snap, f, by)
    return snap.query(
        f"""SELECT {table.format(w=w.sql)} GROUP BY 1 ORDER BY period""",
        w.params,
    )


def _totals(snap: Snapshot, f: Filters, by: str) -> tuple[str, _Where]:
    """SQL of (period, total) rows before their GROUP BY (`{w}` for the WHERE), and its
    conditions: all articles per period, from the daily sums when they can answer."""
    if _rollup_ok(snap, replace(f, entities=()), by):
        w = _Where(snap, Filters(start=f.start, end=f.end), "d.day")
        return (
            f"{_period(by, 'd.day')} AS period, SUM(d.articles)::BIGINT AS total "
            "FROM {{article_days}} d WHERE {w}"
        ), w
    w = _Where(snap, Filters(start=f.start, end=f.end, feeds=f.feeds), "a.published")
    w.articles("a.id")
    return (
        f"{_period(by, 'a.published')} AS period, COUNT(*)::BIGINT AS total "
        "FROM {{articles}} a WHERE {w}"
    ), w


def periods(start: datetime, end: datetime, by: str) -> pd.DatetimeIndex:
    """Every period start in [start, end), aligned as date_trunc aligns them."""
    first = pd.Timestamp(utc_naive(start)).floor("D" if by != "hour" else "h")
    if by == "week":
        first -= pd.Timedelta(days=first.weekday())
    elif by == "month":
        first = first.replace(day=1)
    last = shift(utc_naive(end), -timedelta(microseconds=1))
    return pd.date_range(first, last, freq=FREQ[by], unit="us")


def period_count(start: datetime, end: datetime, by: str) -> int:
    """How many periods `periods(start, end, by)` holds, at most one or two more, computed
    without building them (a range from year 1 would be 17 million hours)."""
    if end <= start:
        return 0
    shortest = STEP[by] if by != "month" else timedelta(days=28)
    return int((end - start) / shortest) + 2


def timeline(
    snap: Snapshot, f: Filters, by: str = "day", *, story_share: bool = False
) -> pd.DataFrame:
    """Per entity and period, zero-filled: `entity, kind, period, mentions, articles, stories,
    total, share, total_stories, story_share`.

    `stories` counts the distinct stories among the entity's articles (syndicated copies
    once). `total` is every article stored for the period (same feed filter); `share` is
    articles / total (0 where total is 0). With `story_share`, `total_stories` is every
    story among those articles and `story_share` stories / total_stories: the normalized view
    in stories, where a wire story carried by twenty outlets weighs as much as one outlet's
    own (else both are 0: counting every story stored costs as much as the rest). Entities
    in the order given, else by name.
    """
    f = f.normalized()
    cols = [
        "entity", "kind", "period", "mentions", "articles", "stories",
        "total", "share", "total_stories", "story_share",
    ]  # fmt: skip
    start, end = f.start, f.end
    if start is None or end is None:
        lo, hi = time_bounds(snap)
        start, end = start or lo, end or hi
    if start is None or end is None:
        return pd.DataFrame(columns=cols)
    # One query: the counts, the totals and the zero-filled grid joined in the database
    # (joining them in pandas cost as much as the counting); both read the daily sums when
    # they can (see `_counts`).
    names = list(dict.fromkeys(f.entities))
    if names:
        entities = "SELECT unnest(?::VARCHAR[]) AS entity"
        order = "array_position(?::VARCHAR[], g.entity)"
    else:
        entities, order = "SELECT DISTINCT entity FROM c", "g.entity"
    grid = [p.to_pydatetime() for p in periods(start, end, by)]
    counts, count_params = _counts(snap, f, by, {"entity": "{e}", "period": _period(by, "{p}")})
    totals, total_params = _story_totals(snap, f, by, story_share)
    df = snap.query(
        f"""WITH c AS ({counts}),
        t AS ({totals}),
        g AS (
            SELECT e.entity, p.period
            FROM ({entities}) e CROSS JOIN (SELECT unnest(?::TIMESTAMP[]) AS period) p)
        SELECT g.entity, g.period, coalesce(c.mentions, 0)::BIGINT AS mentions,
               coalesce(c.articles, 0)::BIGINT AS articles,
               coalesce(c.stories, 0)::BIGINT AS stories,
               coalesce(t.total, 0)::BIGINT AS total,
               coalesce(t.total_stories, 0)::BIGINT AS total_stories
        FROM g LEFT JOIN c ON c.entity = g.entity AND c.period = g.period
        LEFT JOIN t ON t.period = g.period
        ORDER BY {order}, g.period""",
        [
            *count_params,
            *total_params,
            *([names] if names else []),
            grid,
            *([names] if names else []),
        ],
    )
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["period"] = df["period"].astype("datetime64[us]")
    df["share"] = (df["articles"] / df["total"].where(df["total"] > 0)).fillna(0.0)
    stories = df["total_stories"].where(df["total_stories"] > 0)
    df["story_share"] = (df["stories"] / stories).fillna(0.0)
    df.insert(1, "kind", _kinds_of(snap, df["entity"]))
    return df[cols]


def _story_totals(snap: Snapshot, f: Filters, by: str, stories: bool) -> tuple[str, list[Any]]:
    """SQL of (period, total, total_stories) for all articles stored (the range and the feed
    filter of `f`): every article (from the daily sums when they can answer), and with
    `stories` every distinct story among them (an article without a stored story is a story
    of its own), else 0. Stories are counted as `_counts` does: the articles less, for each
    story with a copy in the period, its articles there but one (read from the copies' rows
    of the stories table and their stories' first articles)."""
    table, w = _totals(snap, f, by)
    totals = f"SELECT {table.format(w=w.sql)} GROUP BY 1"
    if not stories or not snap.rows("stories"):  # no stories known: each its own
        n = "total" if stories else "0"
        return f"SELECT period, total, {n}::BIGINT AS total_stories FROM ({totals}) AS t", w.params
    wc = _Where(snap, Filters(start=f.start, end=f.end, feeds=f.feeds), "s.published")
    wc.articles("s.article_id")
    wh = _Where(snap, Filters(start=f.start, end=f.end, feeds=f.feeds), "a.published")
    wh.articles("a.id")
    return (
        f"""WITH t AS ({totals}),
        cs AS (
            SELECT {_period(by, "s.published")} AS period, s.story, COUNT(*) AS n
            FROM {{stories}} s WHERE {wc.sql} AND s.story <> s.article_id GROUP BY 1, 2),
        h AS (
            SELECT {_period(by, "a.published")} AS period, a.id AS story FROM {{articles}} a
            WHERE {wh.sql} AND a.id IN (SELECT story FROM cs) AND a.id NOT IN (
                SELECT article_id FROM {{stories}} WHERE story <> article_id
                AND article_id IN (SELECT story FROM cs))),
        d AS (
            SELECT cs.period,
                   SUM(cs.n - 1 + CASE WHEN h.story IS NULL THEN 0 ELSE 1 END) AS extra
            FROM cs LEFT JOIN h ON h.story = cs.story AND h.period = cs.period GROUP BY 1)
        SELECT t.period, t.total, (t.total - coalesce(d.extra, 0))::BIGINT AS total_stories
        FROM t LEFT JOIN d ON d.period = t.period""",
        [*w.params, *wc.params, *wh.params],
    )


def time_bounds(snap: Snapshot) -> tuple[datetime | None, datetime | None]:
    """First and last publication time in the store (end exclusive: last + 1 µs)."""
    first, last = snap.time_bounds()
    if first is None or last is None:
        return None, None
    return first, shift(last, timedelta(microseconds=1))


def overview(
    snap: Snapshot, f: Filters, trend_by: str = "day", *, trend_periods: int = 400
) -> pd.DataFrame:
    """Every watched entity with its counts in the range and in the previous range of the
    same length: `entity, kind, mentions, articles, stories, prev_mentions, prev_articles,
    prev_stories, change, stories_change` (`change` = relative change of mentions,
    `stories_change` of stories; NaN when the previous range had none, or began before the
    store's first article, so that a store's start is not read as growth), and `trend`, a
    list of article counts per period of the range (its last `trend_periods`).
    """
    f = f.normalized()
    start, end = f.start, f.end
    if start is None or end is None:
        lo, hi = time_bounds(snap)
        start, end = start or lo, end or hi
    names = list(f.entities) or [e.name for e in snap.watchlist]
    out = pd.DataFrame({"entity": names})
    out["kind"] = _kinds_of(snap, out["entity"])
    cols = ["mentions", "articles", "stories", "prev_mentions", "prev_articles", "prev_stories"]
    if start is None or end is None:
        for col in cols:
            out[col] = 0
        out["change"] = out["stories_change"] = float("nan")
        out["trend"] = [[] for _ in names]
        return out
    span = end - start
    prev_start = shift(start, -span)  # datetime.min when the previous range cannot be held
    wide = replace(f, start=prev_start, end=end, entities=tuple(names))
    # the counts of each range, with its distinct stories
    day = "day" if start == _midnight(start) else "hour"  # "hour": the rows, not daily sums
    exact = snap.query(
        *_counts(snap, wide, day, {"entity": "{e}", "current": "({p} >= ?)"}, [start])
    )
    for current, prefix in ((True, ""), (False, "prev_")):
        part = exact[exact["current"] == current].set_index("entity")
        for col in ("mentions", "articles", "stories"):
            out[prefix + col] = out["entity"].map(part[col]).fillna(0).astype("int64")
    first, _ = time_bounds(snap)
    covered = first is not None and datetime.min < prev_start and first <= prev_start
    # a previous range that begins before the store's first article is not comparable
    for col, change in (("mentions", "change"), ("stories", "stories_change")):
        prev = out["prev_" + col].where(out["prev_" + col] > 0)
        out[change] = (out[col] - prev) / prev if covered else float("nan")
    out["trend"] = _trends(
        snap, replace(f, entities=tuple(names)), start, end, trend_by, trend_periods
    )
    return out.sort_values(["mentions", "entity"], ascending=[False, True], ignore_index=True)


def _trends(
    snap: Snapshot, f: Filters, start: datetime, end: datetime, by: str, count: int
) -> list[list[int]]:
    """Articles per period of the last `count` periods of [start, end), for each of
    `f.entities` in order: from the daily sums when they can answer, and only for the
    periods shown."""
    _period(by)  # a known granularity
    grid = periods(max(start, shift(end, -(count + 1) * STEP[by])), end, by)[-count:]
    if len(grid) == 0:
        return [[] for _ in f.entities]
    recent = replace(f, start=max(start, grid[0].to_pydatetime()), end=end)
    if _rollup_ok(snap, recent, by):
        w = _Where(snap, recent, "r.day").entities("r.entity")
        period = "r.day" if by == "day" else _period(by, "r.day")
        rows = f"""SELECT r.entity, {period} AS period, SUM(r.articles)::BIGINT AS n
        FROM {{mention_days}} r WHERE {w.sql} GROUP BY 1, 2"""
    else:
        w = _Where(snap, recent).entities().articles()
        rows = f"""SELECT m.entity, {_period(by)} AS period, COUNT(*)::BIGINT AS n
        FROM {{mentions}} m WHERE {w.sql} GROUP BY 1, 2"""
    # one row per entity, its periods as seconds since 1970 (a row per entity and period
    # cost more to move into pandas than to count)
    df = snap.query(
        f"""SELECT entity, array_agg(CAST(EXTRACT(EPOCH FROM period) AS BIGINT)) AS periods,
               array_agg(n) AS counts
        FROM ({rows}) AS x GROUP BY 1""",
        w.params,
    )
    slot = {int(t): i for i, t in enumerate(grid.as_unit("s").asi8)}  # (years 1 to 9999)
    by_entity = dict(zip(df["entity"], zip(df["periods"], df["counts"], strict=True), strict=True))
    out = []
    for entity in f.entities:
        counts = [0] * len(grid)
        for t, n in zip(*by_entity.get(entity, ((), ())), strict=True):
            i = slot.get(int(t))
            if i is not None:
                counts[i] += int(n)
        out.append(counts)
    return out


def co_mentions(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Pairs of entities mentioned in the same articles: `entity_a, entity_b, articles`
    (entity_a < entity_b), most articles first. From the daily pair roll-up when it can
    answer (whole days, no filter on the articles), else from the mentions."""
    if _rollup_ok(snap, f, "day"):
        return _co_mentions_from_days(snap, f)
    w = _Where(snap, f).entities().articles()
    return snap.query(
        f"""WITH m AS (SELECT m.article_id, m.entity FROM {{mentions}} m WHERE {w.sql})
        SELECT a.entity AS entity_a, b.entity AS entity_b, COUNT(*)::BIGINT AS articles
        FROM m a JOIN m b ON a.article_id = b.article_id AND a.entity < b.entity
        GROUP BY 1, 2 ORDER BY articles DESC, entity_a, entity_b""",
        w.params,
    )


def _co_mentions_from_days(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """`co_mentions` from `{pair_days}` (deltas in the embedded store: summed by pair)."""
    w = _Where(snap, f, "p.day")
    if f.entities:
        w.add("p.entity_a IN (SELECT unnest(?::VARCHAR[]))", list(f.entities))
        w.add("p.entity_b IN (SELECT unnest(?::VARCHAR[]))", list(f.entities))
    return snap.query(
        f"""SELECT c.entity_a, c.entity_b, c.articles FROM (
            SELECT p.entity_a, p.entity_b, SUM(p.articles)::BIGINT AS articles
            FROM {{pair_days}} p WHERE {w.sql} GROUP BY 1, 2) AS c
        WHERE c.articles > 0 ORDER BY c.articles DESC, c.entity_a, c.entity_b""",
        w.params,
    )


def top_feeds(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Which feeds carry each entity: `entity, feed, name, articles, mentions`.

    An article carried by two feeds counts for both here (each feed did carry it).
    """
    w = _Where(snap, f).entities().articles()
    feed_cond = "s.feed IN (SELECT unnest(?::VARCHAR[]))" if f.feeds else "true"
    params = [*w.params, list(f.feeds)] if f.feeds else w.params
    df = snap.query(
        f"""SELECT m.entity, s.feed, COUNT(*)::BIGINT AS articles, SUM(m.count)::BIGINT AS mentions
        FROM {{mentions}} m JOIN {{sources}} s ON s.article_id = m.article_id
        WHERE {w.sql} AND {feed_cond}
        GROUP BY 1, 2 ORDER BY articles DESC, m.entity, s.feed""",
        params,
    )
    df.insert(2, "name", _names_of(snap, df["feed"]))
    return df


def feed_totals(snap: Snapshot, f: Filters, entities: Sequence[str]) -> pd.DataFrame:
    """`top_feeds` summed per feed for a few entities: `feed, name, entity, articles,
    mentions`, a row per feed and each of `entities` it carries, and one with entity "" for
    every other entity together (their `top_feeds` rows summed: an article counts once per
    entity it mentions). Ordered by feed, then entity.

    What the Sources page draws first: some 1,400 rows where `top_feeds` has ~80,000 at 2M
    articles, and half the time (the same join, without grouping by every entity)."""
    w = _Where(snap, f).entities().articles()
    feed_cond = "s.feed IN (SELECT unnest(?::VARCHAR[]))" if f.feeds else "true"
    params = [list(dict.fromkeys(entities)), *w.params, *([list(f.feeds)] if f.feeds else [])]
    df = snap.query(
        f"""SELECT s.feed, coalesce(d.entity, '') AS entity, COUNT(*)::BIGINT AS articles,
               SUM(m.count)::BIGINT AS mentions
        FROM {{mentions}} m JOIN {{sources}} s ON s.article_id = m.article_id
        LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS entity) d ON d.entity = m.entity
        WHERE {w.sql} AND {feed_cond}
        GROUP BY s.feed, d.entity ORDER BY 1, 2""",
        params,
    )
    df.insert(1, "name", _names_of(snap, df["feed"]))
    return df


# --------------------------------------------------------------------------------------------
# The articles behind a count


def _hits_sql(snap: Snapshot, f: Filters, *, story: bool = False) -> tuple[str, list[Any]]:
    """SQL of (id, published, mentions) for the articles matching the filters, and `story`
    with `story` (an article without a stored story is a story of its own)."""
    story_sql, _ = _story_and_tone(snap)
    if len(set(f.entities)) == 1:  # one mention row per article: no grouping, so the
        # newest page can be read off the (entity, published) order without counting them all
        w = _Where(snap, f).entities().articles()
        col = f", {story_sql} AS story" if story else ""
        return (
            f"SELECT m.article_id AS id, m.published, m.count::BIGINT AS mentions{col} "
            f"FROM {{mentions}} m WHERE {w.sql}",
            w.params,
        )
    if f.entities:
        w = _Where(snap, f).entities().articles()
        col = f", MAX({story_sql}) AS story" if story else ""
        return (
            f"SELECT m.article_id AS id, MAX(m.published) AS published, "
            f"SUM(m.count)::BIGINT AS mentions{col} "
            f"FROM {{mentions}} m WHERE {w.sql} GROUP BY m.article_id",
            w.params,
        )
    fn = f.normalized()
    cond, params = _article_conditions(fn, "a")
    w = _Where(snap, Filters(feeds=fn.feeds)).articles("a.id")
    if not story:
        return (
            f"SELECT a.id, a.published, 0::BIGINT AS mentions FROM {{articles}} a "
            f"WHERE {cond} AND {w.sql}",
            params + w.params,
        )
    ws = _Where(snap, Filters(start=fn.start, end=fn.end), "s.published")
    return (
        f"SELECT a.id, a.published, 0::BIGINT AS mentions, coalesce(s.story, a.id) AS story "
        f"FROM {{articles}} a LEFT JOIN (SELECT s.article_id, s.story FROM {{stories}} s "
        f"WHERE {ws.sql}) s ON s.article_id = a.id WHERE {cond} AND {w.sql}",
        ws.params + params + w.params,
    )


def count_articles(snap: Snapshot, f: Filters) -> int:
    sql, params = _hits_sql(snap, f)
    df = snap.query(f"SELECT COUNT(*) AS n FROM ({sql}) h", params)
    return int(df["n"].iloc[0])


def count_stories(snap: Snapshot, f: Filters) -> int:
    """The distinct stories among the articles behind a count (syndicated copies once)."""
    sql, params = _hits_sql(snap, f, story=True)
    df = snap.query(f"SELECT COUNT(DISTINCT story) AS n FROM ({sql}) h", params)
    return int(df["n"].iloc[0])


def count_hits(snap: Snapshot, f: Filters) -> tuple[int, int]:
    """(articles, stories) behind a count: `count_articles` and `count_stories` in one pass
    over the rows (the Articles page shows both)."""
    sql, params = _hits_sql(snap, f, story=True)
    df = snap.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT story) AS stories FROM ({sql}) h", params
    )
    return int(df["n"].iloc[0]), int(df["stories"].iloc[0])


def articles(
    snap: Snapshot,
    f: Filters,
    *,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
    one_per_story: bool = False,
) -> pd.DataFrame:
    """One page of the articles behind a count, newest first:
    `id, published, feed, feed_name, title, url, author, date_flag, text, mentions, entities,
    tones, story, copies, text_source, page_status, summary, matching`.

    `mentions` counts the chosen entities' mentions in the article (every watched entity's
    when none is chosen); `entities` lists every watched entity it mentions and `tones` their
    tone in it (entity -> -1..1, None where none was scored). `story` is the article's story,
    `copies` the articles of that story in the store (1: not syndicated). With
    `one_per_story`, a story is listed once, as its first article among those matching the
    filters, and `matching` says how many of its articles match them (else `matching` is 1).
    `text` is the text the mentions were counted on: the page's when it was read
    (`text_source` "page"), else the feed's ("feed"), which is also in `summary`;
    `page_status` is where reading its page stands (see `PAGE_STATES`; None: not tried).
    """
    f = f.normalized()
    hits, params = _hits_sql(snap, f, story=one_per_story)
    order = "DESC" if newest_first else "ASC"
    # Two steps: choose the page from the narrow columns, then read the wide ones (text) for
    # those rows only, within the page's time span so that most files are skipped.
    if one_per_story:
        sql, params = _story_page_sql(hits, params, order, int(limit), int(offset))
        page = snap.query(sql, params)
    else:
        page = snap.query(
            f"SELECT id, published, mentions, 1 AS matching FROM ({hits}) h "
            f"ORDER BY published {order}, id LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
    ids = page["id"].tolist()
    span = [ids, page["published"].min(), page["published"].max()] if ids else [[], None, None]
    wide = snap.query(
        """SELECT id, feed, title, url, author, date_flag, text FROM {articles}
        WHERE id IN (SELECT unnest(?::BIGINT[])) AND published BETWEEN ? AND ?""",
        span,
    )
    page = page.merge(wide, on="id", how="left")[
        [
            "id", "published", "feed", "title", "url", "author", "date_flag", "text",
            "mentions", "matching",
        ]
    ]  # fmt: skip
    page.insert(3, "feed_name", _names_of(snap, page["feed"]))
    _, tone = _story_and_tone(snap)
    ents = snap.query(
        f"""SELECT m.article_id AS id, m.entity, {tone} AS tone, m.count FROM {{mentions}} m
        WHERE m.article_id IN (SELECT unnest(?::BIGINT[])) AND m.published BETWEEN ? AND ?
        ORDER BY m.entity""",
        span,
    )
    tones: dict[int, dict[str, float | None]] = {}
    for aid, entity, value in zip(ents["id"], ents["entity"], ents["tone"], strict=True):
        tones.setdefault(int(aid), {})[str(entity)] = None if pd.isna(value) else float(value)
    page["entities"] = [list(tones.get(i, {})) for i in page["id"]]
    page["tones"] = [tones.get(i, {}) for i in page["id"]]
    if not f.entities:  # no entity chosen: the article's mentions of any watched entity
        totals = ents.groupby("id")["count"].sum()
        page["mentions"] = [int(totals.get(i, 0)) for i in page["id"]]
    stories = article_stories(snap, ids, span[1], span[2])
    page["story"] = [stories.get(i, (i, 1))[0] for i in page["id"]]
    page["copies"] = [stories.get(i, (i, 1))[1] for i in page["id"]]
    page["matching"] = page["matching"].astype("int64")
    page = _with_pages(snap, page, span)
    return page[[c for c in page.columns if c != "matching"] + ["matching"]]


def _story_page_sql(
    hits: str, params: list[Any], order: str, limit: int, offset: int
) -> tuple[str, list[Any]]:
    """One page of stories: each story's first article among the hits (the earliest, then the
    lowest id) with `matching`, its hits, ordered by that article's time (`order`), then id.

    Grouped, not windowed (ROW_NUMBER and COUNT over every story: 0.14 s of CPU at 2M
    articles against 0.11-0.13 s): each story's first time and its hits, then only the
    stories whose first time can reach the page (at or beyond the page's last first time,
    ties included) look for their first article."""
    cmp, edge = (">=", "MIN") if order == "DESC" else ("<=", "MAX")
    sql = f"""WITH h AS MATERIALIZED ({hits}),
        g AS MATERIALIZED (
            SELECT story, MIN(published) AS first, COUNT(*) AS matching FROM h GROUP BY story),
        c AS (SELECT story, first, matching FROM g WHERE first {cmp} (
            SELECT {edge}(x.first) FROM (SELECT first FROM g ORDER BY first {order} LIMIT ?) x)),
        f AS (SELECT c.story, MIN(h.id) AS id FROM c JOIN h
            ON h.story = c.story AND h.published = c.first GROUP BY c.story)
        SELECT h.id, h.published, h.mentions, c.matching
        FROM f JOIN h ON h.story = f.story AND h.id = f.id JOIN c ON c.story = f.story
        ORDER BY h.published {order}, h.id LIMIT ? OFFSET ?"""
    return sql, [*params, max(limit + offset, 1), limit, offset]


def article_stories(
    snap: Snapshot, ids: list[int], lo: datetime | None = None, hi: datetime | None = None
) -> dict[int, tuple[int, int]]:
    """article id -> (its story, the articles of that story in the store). An article with no
    stored story (written before stories existed) is absent: a story of its own. `lo` and
    `hi`, when known, bound the articles' publication times (so most files are skipped)."""
    if not ids or not snap.rows("stories"):
        return {}
    span = "AND published BETWEEN ? AND ?" if lo is not None and hi is not None else ""
    df = snap.query(
        f"""WITH mine AS (
            SELECT article_id, story FROM {{stories}}
            WHERE article_id IN (SELECT unnest(?::BIGINT[])) {span}),
        sizes AS (
            SELECT story, COUNT(*)::BIGINT AS copies FROM {{stories}}
            WHERE story IN (SELECT story FROM mine) GROUP BY story)
        SELECT mine.article_id, mine.story, sizes.copies
        FROM mine JOIN sizes ON sizes.story = mine.story""",
        [list(ids), *([lo, hi] if span else [])],
    )
    return {
        int(a): (int(s), int(n))
        for a, s, n in zip(df["article_id"], df["story"], df["copies"], strict=True)
    }


def story_members(snap: Snapshot, ids: list[int]) -> pd.DataFrame:
    """For each article, the other articles of its story, oldest first:
    `of, id, published, feed, feed_name, title, url, feeds` (`of`: the article asked about;
    `feeds`: the names of every feed that carried the member)."""
    cols = ["of", "id", "published", "feed", "feed_name", "title", "url", "feeds"]
    if not ids or not snap.rows("stories"):
        return pd.DataFrame(columns=cols)
    members = snap.query(
        """WITH mine AS (
            SELECT article_id, story FROM {stories}
            WHERE article_id IN (SELECT unnest(?::BIGINT[])))
        SELECT mine.article_id AS of, s.article_id AS id, s.published
        FROM mine JOIN {stories} s ON s.story = mine.story
        WHERE s.article_id <> mine.article_id""",
        [list(ids)],
    )
    if members.empty:
        return pd.DataFrame(columns=cols)
    others = sorted({int(i) for i in members["id"]})
    span = [others, members["published"].min(), members["published"].max()]
    wide = snap.query(
        """SELECT id, feed, title, url FROM {articles}
        WHERE id IN (SELECT unnest(?::BIGINT[])) AND published BETWEEN ? AND ?""",
        span,
    )
    out = members.merge(wide, on="id", how="inner")
    out["feed_name"] = _names_of(snap, out["feed"])
    carried = article_feeds(snap, others).groupby("id")["name"].agg(lambda n: sorted(set(n)))
    out["feeds"] = [list(carried.get(i, [])) for i in out["id"]]
    out = out.sort_values(["of", "published", "id"], ignore_index=True)
    return out[cols]


# --------------------------------------------------------------------------------------------
# Full text (monitor.pages): where an article's text came from, and how reading pages goes

# What the latest `pages` row of an article says: read (ok); refused by robots.txt; too little
# text (short: paywall, consent page); failed; waiting (queued, or to be tried again).
PAGE_STATES = ("ok", "robots", "short", "failed", "waiting")
_LATEST_PAGE = """SELECT article_id, status, next_try, row_number() OVER
    (PARTITION BY article_id ORDER BY attempt DESC) AS rn FROM {pages}"""
_PAGE_STATE = """CASE WHEN l.status = 'pending' OR (l.status <> 'ok' AND l.next_try IS NOT NULL)
    THEN 'waiting' ELSE l.status END"""


def _with_pages(snap: Snapshot, page: pd.DataFrame, span: list[Any]) -> pd.DataFrame:
    """The page of articles with their text source, page state and page text."""
    pages = snap.query(
        f"""WITH last AS ({_LATEST_PAGE} WHERE article_id IN (SELECT unnest(?::BIGINT[]))
              AND published BETWEEN ? AND ?)
        SELECT l.article_id AS id, {_PAGE_STATE} AS page_status, p.text AS page_text
        FROM last l LEFT JOIN {{pages}} p
          ON p.article_id = l.article_id AND p.status = 'ok'
          AND p.published BETWEEN ? AND ?
        WHERE l.rn = 1""",
        [*span, *span[1:]],
    )
    page = page.merge(pages, on="id", how="left")
    read = page["page_text"].notna()
    page["text_source"] = read.map({True: "page", False: "feed"})
    page["summary"] = page["text"]
    page["text"] = page["page_text"].where(read, page["text"])
    page["page_status"] = (
        page["page_status"].astype(object).where(page["page_status"].notna(), None)
    )
    return page.drop(columns="page_text")


def pages_to_read(snap: Snapshot) -> pd.DataFrame:
    """The articles whose pages are queued or to be tried again (their latest `pages` row has a
    next try): `article_id, url, title, feed_chars, published, story, feed, attempt, next_try`
    (`feed`: the one that first carried the article, whose poll queued its page); see
    `pages.pages_to_read`, which the poller asks."""
    from . import pages  # (the page reader: HTTP and all, which the dashboard never needs)

    return pd.DataFrame(pages.pages_to_read(snap), columns=list(pages.QUEUE_COLUMNS))


def full_text_by_feed(snap: Snapshot) -> pd.DataFrame:
    """Per feed, its articles and where reading their pages stands: `feed, articles, tried`
    and one count per state of `PAGE_STATES`; `read_in_full` = ok / articles. An article
    carried by two feeds counts for both."""
    counts = ", ".join(
        f"SUM(CASE WHEN p.state = '{state}' THEN 1 ELSE 0 END)::BIGINT AS {state}"
        for state in PAGE_STATES
    )
    df = snap.query(
        f"""WITH last AS ({_LATEST_PAGE}),
        p AS (SELECT l.article_id, {_PAGE_STATE} AS state FROM last l WHERE l.rn = 1)
        SELECT s.feed, COUNT(*)::BIGINT AS articles, COUNT(p.article_id)::BIGINT AS tried,
               {counts}
        FROM {{sources}} s LEFT JOIN p ON p.article_id = s.article_id
        GROUP BY s.feed ORDER BY s.feed"""
    )
    for state in PAGE_STATES:
        df[state] = df[state].fillna(0).astype("int64")
    df["read_in_full"] = (df["ok"] / df["articles"].where(df["articles"] > 0)).fillna(0.0)
    return df


def article_feeds(snap: Snapshot, ids: list[int]) -> pd.DataFrame:
    """Every feed that carried each article: `id, feed, name`."""
    df = snap.query(
        "SELECT article_id AS id, feed FROM {sources} "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
        [list(ids)],
    )
    df["name"] = _names_of(snap, df["feed"])
    return df


# --------------------------------------------------------------------------------------------
# Ingestion health


def feed_health(snap: Snapshot, now: datetime, days: int = 7) -> pd.DataFrame:
    """One row per feed known to the store, with its state and recent volume."""
    now = utc_naive(now)
    recent = snap.query(
        """SELECT feed, COUNT(*)::BIGINT AS recent FROM {sources} WHERE seen >= ? GROUP BY feed""",
        [now - timedelta(days=days)],
    ).set_index("feed")["recent"]
    rows = []
    for url, st in snap.feeds.items():
        status = st.last_outcome or "never polled"
        if st.gone:
            status = "gone"
        elif st.moved_to:
            status = f"{status} (moved)"
        rows.append(
            {
                "name": st.name or url,
                "url": url,
                "tags": list(st.tags),
                "status": status,
                "http_status": st.last_status,
                "last_poll": st.last_poll,
                "last_success": st.last_success,
                "last_new": st.last_new,
                "articles": st.articles,
                "per_day": round(float(recent.get(url, 0)) / days, 1),
                "failures": st.failures,
                "error": st.last_error,
                "next_poll": st.next_poll,
                "moved_to": st.moved_to or "",
                "poller": st.poller,
            }
        )
    return pd.DataFrame(rows)


def ingestion(snap: Snapshot, f: Filters, by: str = "day") -> pd.DataFrame:
    """Polling health per period: `period, polled, failed, degraded`.

    `polled` is the number of feeds fetched in the period, `failed` those whose every fetch
    in it failed. A period is degraded when more than 30% of the polled feeds failed, or
    when the poller was silent through it for longer than twice its usual cadence (the
    median time between two polls of a feed). Periods before the first poll hold articles
    back-filled from feed history and are not degraded.
    """
    fn = f.normalized()
    w = _Where(snap, Filters(start=fn.start, end=fn.end), "x.time")
    if fn.feeds:
        w.add("x.feed IN (SELECT unnest(?::VARCHAR[]))", list(fn.feeds))
    df = snap.query(
        f"""WITH per_feed AS (
            SELECT {_period(by, "x.time")} AS period, x.feed,
                   bool_and(x.outcome IN ('failed', 'gone')) AS failed,
                   min(x.time) AS first, max(x.time) AS last
            FROM {{fetches}} x WHERE {w.sql} GROUP BY 1, 2)
        SELECT period, COUNT(*)::BIGINT AS polled, SUM(failed::INT)::BIGINT AS failed,
               min(first) AS first, max(last) AS last
        FROM per_feed GROUP BY period ORDER BY period""",
        w.params,
    )
    columns = ["period", "polled", "failed", "degraded"]
    if df.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="bool" if c == "degraded" else "int64") for c in columns}
        )
    df["period"] = pd.to_datetime(df["period"]).astype("datetime64[us]")
    grid = periods(df["period"].min(), df["period"].max() + pd.Timedelta(seconds=1), by)
    df = pd.DataFrame({"period": grid.astype("datetime64[us]")}).merge(df, on="period", how="left")
    df[["polled", "failed"]] = df[["polled", "failed"]].fillna(0).astype("int64")
    gap = df["first"].bfill() - df["last"].ffill()
    quiet = (df["polled"] == 0) & gap.notna()  # no poll, between two polls
    # the cadence (a pass over the whole fetch log) only when a period is quiet
    silent = quiet & (gap > 2 * _cadence(snap)) if quiet.any() else quiet
    df["degraded"] = silent | (df["failed"] > DEGRADED_SHARE * df["polled"])
    return df[columns]


def _cadence(snap: Snapshot) -> pd.Timedelta:
    """The usual time between two polls of one feed (1 hour when there is no history)."""
    df = snap.query(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS cadence FROM (
            SELECT extract(epoch FROM time - lag(time) OVER (PARTITION BY feed ORDER BY time))
                   ::DOUBLE PRECISION AS gap
            FROM {fetches}) AS gaps WHERE gap IS NOT NULL"""
    )
    value = df["cadence"].iloc[0] if len(df) else None
    if value is None or pd.isna(value):
        return pd.Timedelta(hours=1)
    return pd.Timedelta(seconds=float(value))


def deliveries(snap: Snapshot, f: Filters, limit: int = 200) -> pd.DataFrame:
    """The delivery log of alerts and digests (every attempt, the store's `deliveries`) in
    the range, newest first: `time, kind, name, entity, fired, target, outcome, attempt,
    error` (`target` as stored: redacted)."""
    w = _Where(snap, Filters(start=f.start, end=f.end), "d.time")
    return snap.query(
        f"""SELECT d.time, d.kind, d.name, d.entity, d.fired, d.target, d.outcome, d.attempt,
               d.error
        FROM {{deliveries}} d WHERE {w.sql} ORDER BY d.time DESC, d.name LIMIT ?""",
        [*w.params, int(limit)],
    )


def data_as_of(snap: Snapshot) -> datetime | None:
    """Time of the last successful poll of any feed (UTC: new articles, or the feed checked and
    unchanged), or None before the first. A poll where every fetch failed brings no data, so
    it does not move this time."""
    times = [st.last_success for st in snap.feeds.values() if st.last_success]
    return max(times) if times else None


# --------------------------------------------------------------------------------------------
# Stories, tone and names (issue 13)


def story_seeds(
    snap: Snapshot, assigner: StoryAssigner, seen_since: datetime | None = None
) -> list[tuple[int, datetime, str, str, int | None, str]]:
    """The store's articles within the story window of its newest one, oldest first (at most
    the index's size): `(id, published, title, text, story, feed)` to seed `assigner`; with
    `seen_since`, only those first seen since then (what other pollers stored meanwhile)."""
    _, hi = time_bounds(snap)
    if hi is None:
        return []
    since = hi - timedelta(seconds=assigner.window)
    seen = "AND a.first_seen >= ?" if seen_since is not None else ""
    df = snap.query(
        f"""SELECT a.id, a.published, a.title, a.text, s.story, a.feed
        FROM {{articles}} a LEFT JOIN
            (SELECT article_id, story FROM {{stories}} WHERE published >= ?) s
            ON s.article_id = a.id
        WHERE a.published >= ? {seen} ORDER BY a.published DESC, a.id LIMIT ?""",
        [
            since,
            since,
            *([utc_naive(seen_since)] if seen_since is not None else []),
            assigner.max_articles,
        ],
    )
    stories = [None if pd.isna(v) else int(v) for v in df["story"]]
    rows = zip(
        df["id"].tolist(),
        [t.to_pydatetime() for t in df["published"]],
        df["title"].tolist(),
        df["text"].tolist(),
        stories,
        df["feed"].tolist(),
        strict=True,
    )
    return list(rows)[::-1]


def tone_timeline(snap: Snapshot, f: Filters, by: str = "day") -> pd.DataFrame:
    """Mean tone per entity and period: `entity, period, tone, toned, mentions` (`toned`: the
    scored articles behind the mean; `mentions`: the mentions in them, each scored in its
    sentence). Periods without a scored article are absent."""
    w = _Where(snap, f).entities().articles()
    _, tone = _story_and_tone(snap)
    w.add(f"{tone} IS NOT NULL")
    df = snap.query(
        f"""SELECT m.entity, {_period(by)} AS period, avg({tone})::DOUBLE PRECISION AS tone,
               COUNT(*)::BIGINT AS toned, SUM(m.count)::BIGINT AS mentions
        FROM {{mentions}} m WHERE {w.sql} GROUP BY 1, 2 ORDER BY m.entity, period""",
        w.params,
    )
    df["period"] = pd.to_datetime(df["period"]).astype("datetime64[us]")
    return df


def _story_and_tone(snap: Snapshot) -> tuple[str, str]:
    """SQL for a mention row's story and tone (stores written before them lack the columns:
    an article is then a story of its own, and has no tone)."""
    cols = snap.columns("mentions")
    story = "coalesce(m.story, m.article_id)" if "story" in cols else "m.article_id"
    return story, ("m.tone" if "tone" in cols else "NULL::DOUBLE PRECISION")


def _key_cols(keys: dict[str, str], p: str, e: str) -> str:
    """`keys` (name -> SQL over `{p}` and `{e}`) as SELECT columns over time column `p` and
    entity column `e`."""
    return ", ".join(f"{sql.format(p=p, e=e)} AS {name}" for name, sql in keys.items())


def _counts(
    snap: Snapshot, f: Filters, by: str, keys: dict[str, str], key_params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """SQL and parameters of `<keys>, mentions, articles, stories` per group of the mention
    rows matching `f` (its range, entities and article filters).

    `keys`: name -> SQL over `{p}` (the time column) and `{e}` (the entity column), with
    `key_params` the parameters they hold (in order); every key depends on the entity, so a
    group holds at most one row per article. `by` is the coarsest granularity the keys cut
    time at ("day" when they do not).

    Where the store's daily sums can answer (`_rollup_ok`, and the store keeps stories in
    them), everything is summed from them, so the cost follows the days shown: a group's
    distinct stories are the sum of its days' distinct stories less, for each story whose
    articles fall on several of its days, those days but one (`{story_spans}`). Else from
    one read of the rows: a group's stories are its articles less, for each story with a
    copy in the group (a row whose story is another article), its articles in the group but
    one; counting distinct stories over every row directly made the timeline half as slow
    again. (A row whose story is its own article, or none, is a story of its own.)
    """
    names = list(keys)
    key_params = list(key_params)
    listed = ", ".join(names)
    groups = ", ".join(str(i + 1) for i in range(len(names)))

    def on(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in names)

    if _rollup_ok(snap, f, by) and snap.story_rollups:
        wr = _Where(snap, f, "r.day").entities("r.entity")
        wd = _Where(snap, f, "d.day").entities("d.entity")
        ws = _Where(snap, f, "s.day").entities("s.entity")
        sql = f"""WITH t AS (
            SELECT {_key_cols(keys, "r.day", "r.entity")}, SUM(r.mentions)::BIGINT AS mentions,
                   SUM(r.articles)::BIGINT AS articles
            FROM {{mention_days}} r WHERE {wr.sql} GROUP BY {groups}),
        sd AS (
            SELECT {_key_cols(keys, "d.day", "d.entity")}, SUM(d.stories)::BIGINT AS stories
            FROM {{story_days}} d WHERE {wd.sql} GROUP BY {groups}),
        x AS (
            SELECT {_key_cols(keys, "s.day", "s.entity")},
                   COUNT(*) - COUNT(DISTINCT s.story) AS extra
            FROM (SELECT s.entity, s.story, s.day FROM {{story_spans}} s WHERE {ws.sql}
                  GROUP BY 1, 2, 3 HAVING SUM(s.n) > 0) s
            GROUP BY {groups})
        SELECT {", ".join(f"t.{k}" for k in names)}, t.mentions, t.articles,
               (coalesce(sd.stories, 0) - coalesce(x.extra, 0))::BIGINT AS stories
        FROM t LEFT JOIN sd ON {on("sd", "t")} LEFT JOIN x ON {on("x", "t")}"""
        return sql, [*key_params, *wr.params, *key_params, *wd.params, *key_params, *ws.params]
    w = _Where(snap, f).entities().articles()
    params = [*key_params, *w.params]
    stories = "story" in snap.columns("mentions")  # (stored before stories: each its own)
    r = f"""r AS MATERIALIZED (
            SELECT {_key_cols(keys, "m.published", "m.entity")}, m.count, m.article_id
                   {", m.story" if stories else ""}
            FROM {{mentions}} m WHERE {w.sql}),
        t AS (
            SELECT {listed}, SUM(count)::BIGINT AS mentions, COUNT(*)::BIGINT AS articles
            FROM r GROUP BY {groups})"""
    if not stories:
        return f"WITH {r} SELECT *, articles AS stories FROM t", params
    sql = f"""WITH {r},
        cs AS (
            SELECT {listed}, story, COUNT(*) AS n FROM r WHERE story <> article_id
            GROUP BY {groups}, story),
        h AS (
            SELECT {listed}, article_id AS story FROM r
            WHERE article_id IN (SELECT story FROM cs)
              AND coalesce(story, article_id) = article_id),
        d AS (
            SELECT {", ".join(f"cs.{k}" for k in names)},
                   SUM(cs.n - 1 + CASE WHEN h.story IS NULL THEN 0 ELSE 1 END) AS extra
            FROM cs LEFT JOIN h ON h.story = cs.story AND {on("h", "cs")}
            GROUP BY {groups})
        SELECT {", ".join(f"t.{k}" for k in names)}, t.mentions, t.articles,
               (t.articles - coalesce(d.extra, 0))::BIGINT AS stories
        FROM t LEFT JOIN d ON {on("d", "t")}"""
    return sql, params


RISING_WITH = 3  # watched entities listed in `with`


def rising_names(snap: Snapshot, f: Filters, limit: int = 50) -> pd.DataFrame:
    """Names in the articles that the watchlist does not cover, most frequent first:
    `name, articles, previous, growth, with`.

    `articles`: articles naming it in the range; `previous`: in the range of the same length
    just before; `growth`: (articles - previous) / previous, NaN for a name new in the range;
    `with`: the watched entities most often mentioned in the same articles (up to three).
    Ranked by articles, new names first on ties, then by name. A name is covered when it is
    a watched name or alias, or contains one (the matcher finds a mention in it). The range
    defaults to the last 7 days of the store; feed, search and entity filters apply to the
    articles (an entity filter: names in articles mentioning it).
    """
    from .match import Matcher  # here: only this question needs a matcher

    f = f.normalized()
    cols = ["name", "articles", "previous", "growth", "with"]
    _, last = time_bounds(snap)
    end = f.end or last
    if end is None:
        return pd.DataFrame(columns=cols)
    start = f.start or shift(end, -timedelta(days=7))
    span = end - start
    w = _Where(snap, replace(f, start=shift(start, -span), end=end, entities=()), "n.published")
    w.articles("n.article_id")
    if f.entities:
        w.add(
            "n.article_id IN (SELECT article_id FROM {mentions} WHERE entity IN "
            "(SELECT unnest(?::VARCHAR[])) AND published >= ? AND published < ?)",
            list(f.entities),
            shift(start, -span),
            end,
        )
    matcher = Matcher(snap.watchlist)
    watched = sorted({name_key(n) for e in snap.watchlist for n in e.names})
    w.add("n.name NOT IN (SELECT unnest(?::VARCHAR[]))", watched)
    rows: list[dict[str, Any]] = []
    offset, page = 0, max(limit * 2, 100)
    while len(rows) < limit:
        df = snap.query(
            f"""SELECT * FROM (
                SELECT n.name, (array_agg(n.form ORDER BY n.published DESC))[1] AS form,
                   COUNT(DISTINCT n.article_id) FILTER (WHERE n.published >= ?)::BIGINT
                       AS articles,
                   COUNT(DISTINCT n.article_id) FILTER (WHERE n.published < ?)::BIGINT
                       AS previous
                FROM {{names}} n WHERE {w.sql} GROUP BY n.name) AS counted
            WHERE articles > 0
            ORDER BY articles DESC, previous = 0 DESC, name LIMIT ? OFFSET ?""",
            [start, start, *w.params, page, offset],
        )
        for r in df.itertuples(index=False):
            if not matcher.find(r.form) and len(rows) < limit:
                rows.append({"key": r.name, "name": r.form, "articles": r.articles,
                             "previous": r.previous})  # fmt: skip
        if len(df) < page:
            break
        offset += page
    out = pd.DataFrame(rows, columns=["key", "name", "articles", "previous"])
    prev = out["previous"].where(out["previous"] > 0)
    out["growth"] = (out["articles"] - prev) / prev
    out["with"] = _co_mentioned(snap, list(out["key"]), start, end)
    return out[cols].astype({"articles": "int64", "previous": "int64"})


def _co_mentioned(
    snap: Snapshot, keys: list[str], start: datetime, end: datetime
) -> list[list[str]]:
    if not keys:
        return []
    df = snap.query(
        """SELECT n.name, m.entity, COUNT(DISTINCT n.article_id)::BIGINT AS together
        FROM {names} n JOIN {mentions} m ON m.article_id = n.article_id
        WHERE n.name IN (SELECT unnest(?::VARCHAR[])) AND n.published >= ? AND n.published < ?
          AND m.published >= ? AND m.published < ?
        GROUP BY 1, 2 ORDER BY together DESC, m.entity""",
        [keys, start, end, start, end],
    )
    top: dict[str, list[str]] = {}
    for name, entity in zip(df["name"], df["entity"], strict=True):
        picked = top.setdefault(name, [])
        if len(picked) < RISING_WITH:
            picked.append(entity)
    return [top.get(k, []) for k in keys]


def name_articles(snap: Snapshot, f: Filters, names: list[str], per_name: int = 3) -> pd.DataFrame:
    """Sample articles for names (as `rising_names` returns them), the newest first, at most
    `per_name` each: `name, id, published, feed, feed_name, title, url, text`. The range and
    the feed and search filters apply as in `rising_names` (default: the store's last 7
    days)."""
    cols = ["name", "id", "published", "feed", "feed_name", "title", "url", "text"]
    keys = {name_key(n): n for n in names}
    f = f.normalized()
    _, last = time_bounds(snap)
    end = f.end or last
    if not keys or end is None:
        return pd.DataFrame(columns=cols)
    start = f.start or shift(end, -timedelta(days=7))
    w = _Where(snap, replace(f, start=start, end=end, entities=()), "n.published")
    w.articles("n.article_id")
    w.add("n.name IN (SELECT unnest(?::VARCHAR[]))", list(keys))
    hits = snap.query(
        f"""SELECT name, article_id AS id, published FROM (
            SELECT n.name, n.article_id, n.published,
                   ROW_NUMBER() OVER (PARTITION BY n.name
                                      ORDER BY n.published DESC, n.article_id) AS rank
            FROM {{names}} n WHERE {w.sql}) r
        WHERE rank <= ? ORDER BY name, published DESC, id""",
        [*w.params, int(per_name)],
    )
    if hits.empty:
        return pd.DataFrame(columns=cols)
    ids = sorted({int(i) for i in hits["id"]})
    wide = snap.query(
        """SELECT id, feed, title, url, text FROM {articles}
        WHERE id IN (SELECT unnest(?::BIGINT[])) AND published BETWEEN ? AND ?""",
        [ids, hits["published"].min(), hits["published"].max()],
    )
    out = hits.merge(wide, on="id", how="inner")
    out["name"] = out["name"].map(keys)
    out["feed_name"] = _names_of(snap, out["feed"])
    return out[cols]
