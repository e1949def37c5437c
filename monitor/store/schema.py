"""What both backends store, defined once: the tables (as Arrow schemas), their keys, the feed
state and watchlist as JSON, and the time representation (naive UTC).

A column added to `SCHEMAS` reaches both backends: Parquet files gain it (older files read it
as NULL) and PostgreSQL gets it at the next migration (`monitor store migrate`, or any poller
starting), as a nullable column. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..models import Entity, FeedState

if TYPE_CHECKING:
    import pyarrow as pa

# The tables, in the order of SCHEMAS and ROLLUP_SCHEMAS. Their names are known without
# pyarrow: a commit of feed state and a fetch log alone (a poll where every feed answered 304)
# never builds a schema, so it never imports pyarrow (see monitor/lazy.py).
TABLE_NAMES = (
    "articles",
    "sources",
    "mentions",
    "fetches",
    "firings",
    "deliveries",
    "stories",
    "names",
    "pages",
)
ROLLUP_NAMES = ("article_days", "mention_days", "pair_days", "story_days", "story_spans")


class SchemaMap(Mapping[str, "pa.Schema"]):
    """Table name -> Arrow schema, for the tables `names`. The names (iterating, `in`, `len`)
    cost nothing; the first schema asked for builds them all (and imports pyarrow)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names

    def __getitem__(self, name: str) -> pa.Schema:
        if name not in self._names:
            raise KeyError(name)
        return _schemas()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"SchemaMap({self._names!r})"


SCHEMAS: Mapping[str, pa.Schema] = SchemaMap(TABLE_NAMES)
ROLLUP_SCHEMAS: Mapping[str, pa.Schema] = SchemaMap(ROLLUP_NAMES)


def __getattr__(name: str) -> Any:
    if name == "TS":  # the store's time type (naive UTC, microseconds)
        import pyarrow as pa

        return pa.timestamp("us")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _schemas() -> dict[str, pa.Schema]:
    """Every table's schema (rows, then roll-ups), built once."""
    import pyarrow as pa

    ts = pa.timestamp("us")
    schemas: dict[str, pa.Schema] = {
        "articles": pa.schema(
            [
                ("id", pa.int64()),
                ("url", pa.string()),
                ("title", pa.string()),
                ("text", pa.string()),
                ("published", ts),
                ("first_seen", ts),
                ("author", pa.string()),
                ("feed", pa.string()),
                ("date_flag", pa.string()),
            ]
        ),
        # `entry`: a 64-bit key of the feed's entry (feed + guid, else link, else title + text);
        # null in rows written before it existed (files without the column read it as null)
        "sources": pa.schema(
            [("article_id", pa.int64()), ("feed", pa.string()), ("seen", ts), ("entry", pa.int64())]
        ),
        "mentions": pa.schema(
            [
                ("article_id", pa.int64()),
                ("entity", pa.string()),
                ("count", pa.int32()),
                ("published", ts),
            ]
        ),
        "fetches": pa.schema(
            [
                ("feed", pa.string()),
                ("time", ts),
                ("status", pa.int32()),
                ("outcome", pa.string()),
                ("bytes", pa.int64()),
                ("new_articles", pa.int32()),
                ("duration", pa.float64()),
                ("error", pa.string()),
            ]
        ),
        # Alerts (monitor.alerts, monitor.delivery): what fired and each delivery attempt.
        "firings": pa.schema(
            [
                ("alert", pa.string()),  # the rule's name
                ("entity", pa.string()),  # what it fired for: an entity, "A + B", a feed's name
                ("fired", ts),  # the hour boundary at which the rule held
                ("value", pa.float64()),
                ("baseline", pa.float64()),
                ("threshold", pa.float64()),
                ("kind", pa.string()),  # spike | above | first | together | feed-down
                ("noticed", ts),  # when the poller evaluated it
            ]
        ),
        "deliveries": pa.schema(
            [
                ("time", ts),
                ("kind", pa.string()),  # alert | digest
                ("name", pa.string()),  # the rule's or digest's name
                ("entity", pa.string()),  # alert: what it fired for; digest: ""
                ("fired", ts),  # alert: when it fired; digest: the end of its period
                ("target", pa.string()),  # redacted: never a secret
                ("outcome", pa.string()),  # sent | failed | gave up
                ("attempt", pa.int32()),
                ("error", pa.string()),
            ]
        ),
    }
    # Stories, tone and names (issue 13), added to the first layout. Rows written before them lack
    # these columns (they read as NULL) and tables (an article without a story row is a story of
    # its own).
    schemas["mentions"] = (
        schemas["mentions"]
        .append(pa.field("tone", pa.float32()))  # mean VADER compound of the mention sentences
        .append(pa.field("story", pa.int64()))  # the article's story (denormalized, as published)
    )
    schemas["stories"] = pa.schema(
        [("article_id", pa.int64()), ("story", pa.int64()), ("published", ts)]
    )
    schemas["names"] = pa.schema(
        [
            ("article_id", pa.int64()),
            ("name", pa.string()),
            ("form", pa.string()),
            ("published", ts),
        ]
    )
    # Article pages (monitor.pages): what reading each article's page gave. Append-only like the
    # tables above: an article gets a row when its page is queued (status "pending", attempt 0) and
    # one per attempt; its row with the highest attempt says where it stands. At most one row per
    # article has status "ok": its `text` is what the article's mentions are counted on (with the
    # title), instead of the feed's text in `articles.text`. (Writer.add_page, recount_article.)
    schemas["pages"] = pa.schema(
        [
            ("article_id", pa.int64()),
            ("url", pa.string()),  # the page fetched: the article's link without its fragment
            ("published", ts),  # the article's, denormalized (files sorted by it, as mentions)
            ("attempt", pa.int32()),  # 0: queued; then 1, 2, ... one per fetch
            ("status", pa.string()),  # pending | ok | robots | short | failed
            ("time", ts),  # when it was queued or tried
            ("next_try", ts),  # when to try again; null: never (ok, or out of attempts)
            ("http_status", pa.int32()),
            ("bytes", pa.int64()),
            ("error", pa.string()),  # why not ok, one line ("" when ok or pending)
            ("text", pa.string()),  # ok: the article's text as extracted from the page; else null
        ]
    )
    # Daily roll-ups (issue 14): sums of `articles` and `mentions` per UTC day, kept by every
    # commit, so that the timeline, the overview and the co-mentions cost what the days shown
    # cost, not what the store holds. They are derived: rebuilt from the rows whenever in doubt,
    # never copied, and checked against the rows by `monitor check`. Each is what `ROLLUP_SQL`
    # computes from the rows; the embedded store keeps them as files of additive deltas (a key
    # may appear in several rows: always SUM by key), PostgreSQL as tables with one row per key.
    rollups: dict[str, pa.Schema] = {
        "article_days": pa.schema([("day", ts), ("articles", pa.int64())]),
        "mention_days": pa.schema(
            [
                ("entity", pa.string()),
                ("day", ts),
                ("mentions", pa.int64()),
                ("articles", pa.int64()),
            ]
        ),
        # entity_a < entity_b; articles: those mentioning both that day
        "pair_days": pa.schema(
            [
                ("entity_a", pa.string()),
                ("entity_b", pa.string()),
                ("day", ts),
                ("articles", pa.int64()),
            ]
        ),
        # distinct stories among the entity's articles that day (not additive over days: a range's
        # are its days' less each story's extra days, from story_spans)
        "story_days": pa.schema([("entity", pa.string()), ("day", ts), ("stories", pa.int64())]),
        # the days of each (entity, story) whose articles fall on more than one day; n = 1
        "story_spans": pa.schema(
            [("entity", pa.string()), ("story", pa.int64()), ("day", ts), ("n", pa.int64())]
        ),
    }

    built = {**schemas, **rollups}
    if tuple(schemas) != TABLE_NAMES or tuple(rollups) != ROLLUP_NAMES:
        raise AssertionError("schema.py: TABLE_NAMES or ROLLUP_NAMES differ from the schemas")
    return built


ROLLUP_KEYS: dict[str, tuple[str, ...]] = {
    "article_days": ("day",),
    "mention_days": ("entity", "day"),
    "pair_days": ("entity_a", "entity_b", "day"),
    "story_days": ("entity", "day"),
    "story_spans": ("entity", "story", "day"),
}
# Each roll-up from the rows it sums (`{articles}`, `{mentions}`: a table or a relation of
# the same columns), in the SQL both engines run; columns in the order of ROLLUP_SCHEMAS.
ROLLUP_SQL: dict[str, str] = {
    "article_days": """SELECT date_trunc('day', published) AS day, COUNT(*)::BIGINT AS articles
        FROM {articles} GROUP BY 1""",
    "mention_days": """SELECT entity, date_trunc('day', published) AS day,
        SUM("count")::BIGINT AS mentions, COUNT(*)::BIGINT AS articles
        FROM {mentions} GROUP BY 1, 2""",
    "pair_days": """SELECT a.entity AS entity_a, b.entity AS entity_b,
        date_trunc('day', a.published) AS day, COUNT(*)::BIGINT AS articles
        FROM {mentions} a JOIN {mentions} b
        ON a.article_id = b.article_id AND a.entity < b.entity
        GROUP BY 1, 2, 3""",
    "story_days": """SELECT entity, date_trunc('day', published) AS day,
        COUNT(DISTINCT coalesce(story, article_id))::BIGINT AS stories
        FROM {mentions} GROUP BY 1, 2""",
    "story_spans": """WITH d AS (
            SELECT DISTINCT entity, coalesce(story, article_id) AS story,
                   date_trunc('day', published) AS day FROM {mentions}),
        multi AS (SELECT entity, story FROM d GROUP BY 1, 2 HAVING COUNT(*) > 1)
        SELECT d.entity, d.story, d.day, 1::BIGINT AS n
        FROM d JOIN multi ON multi.entity = d.entity AND multi.story = d.story""",
}
# the roll-ups a commit keeps from the rows it writes alone (the stories' need the stored rows)
ADDITIVE_ROLLUPS = ("article_days", "mention_days", "pair_days")


def rollup_diff_sql(name: str) -> str:
    """SQL counting the keys where the roll-up `{name}` (summed by key, zero sums left out)
    differs from what `ROLLUP_SQL[name]` computes from the rows (`{articles}`, `{mentions}`);
    0 when they agree."""
    keys = ROLLUP_KEYS[name]
    values = [f for f in ROLLUP_SCHEMAS[name].names if f not in keys]
    sums = ", ".join(f"SUM({v})::BIGINT AS {v}" for v in values)
    nonzero = " OR ".join(f"SUM({v}) <> 0" for v in values)
    on = " AND ".join(f"r.{k} = x.{k}" for k in keys)
    differs = " OR ".join(f"r.{v} IS DISTINCT FROM x.{v}" for v in values)
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return f"""SELECT COUNT(*)::BIGINT AS differ FROM
        (SELECT {", ".join(keys)}, {sums} FROM {{{name}}} GROUP BY {group} HAVING {nonzero}) r
        FULL OUTER JOIN ({ROLLUP_SQL[name]}) x ON {on}
        WHERE {differs}"""


# The time column each table is sorted and ranged by.
SORT_KEY = {
    "articles": "published",
    "mentions": "published",
    "sources": "seen",
    "fetches": "time",
    "firings": "fired",
    "deliveries": "time",
    "stories": "published",
    "names": "published",
    "pages": "published",
    "article_days": "day",
    "mention_days": "day",
    "pair_days": "day",
    "story_days": "day",
    "story_spans": "day",
}
# What makes a row unique. `KEYS` are enforced (PostgreSQL: primary keys; both: the writer's
# dedup); `NATURAL_KEYS` identify a row of an append-only log well enough for `store copy` to
# never copy it twice.
KEYS: dict[str, tuple[str, ...]] = {
    "articles": ("id",),
    "sources": ("article_id", "feed"),
    "mentions": ("article_id", "entity"),
    "stories": ("article_id",),
    "names": ("article_id", "name"),
    "pages": ("article_id", "attempt"),  # one row per article and attempt
}
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    **KEYS,
    "fetches": ("feed", "time"),
    "firings": ("alert", "entity", "fired"),
    "deliveries": ("time", "kind", "name", "entity", "target", "attempt"),
}


def utc_naive(t: datetime) -> datetime:
    """The store's time representation: naive UTC."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def article_key(*parts: str) -> int:
    """A stable signed 64-bit id from the parts of a dedup key."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def schema_fingerprint() -> str:
    """Changes whenever a table or column is added to SCHEMAS (PostgreSQL migrates then)."""
    text = ";".join(f"{name}:{schema}" for name, schema in sorted(SCHEMAS.items()))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# --------------------------------------------------------------------------------------------
# Feed state, watchlist: as JSON (the manifest; PostgreSQL's jsonb columns)

_STATE_FIELDS = dataclasses.fields(FeedState)
STATE_TIMES = ("last_poll", "last_success", "next_poll", "pages_pending")


def state_to_json(state: FeedState) -> dict[str, Any]:
    # by hand rather than dataclasses.asdict, whose deep copies cost a poll of hundreds of feeds
    out: dict[str, Any] = {}
    for f in _STATE_FIELDS:
        v = getattr(state, f.name)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, list):
            v = list(v)
        out[f.name] = v
    return out


def state_from_json(data: Mapping[str, Any]) -> FeedState:
    known = {f.name: f for f in _STATE_FIELDS}
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k not in known:
            continue
        if k in STATE_TIMES:  # an unreadable time is no time: the feed is polled now
            v = datetime.fromisoformat(v) if is_iso(v) else None
        kwargs[k] = v
    return FeedState(**kwargs)


def is_iso(v: object) -> bool:
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def entity_to_json(e: Entity) -> dict[str, Any]:
    return {
        "name": e.name,
        "kind": e.kind,
        "aliases": list(e.aliases),
        "exclude": list(e.exclude),
        "case_sensitive": e.case_sensitive,
    }


def entity_from_json(d: Mapping[str, Any]) -> Entity:
    return Entity(
        name=d["name"],
        kind=d.get("kind", "topic"),
        aliases=tuple(d.get("aliases", ())),
        exclude=tuple(d.get("exclude", ())),
        case_sensitive=d.get("case_sensitive"),
    )


# --------------------------------------------------------------------------------------------
# What a snapshot reports besides rows


@dataclass(frozen=True)
class Quarantined:
    """A damaged data file taken out of the store's tables (kept in quarantine/, never deleted).
    Only the embedded store has files to lose; PostgreSQL's snapshots have none."""

    path: str  # where it was, relative to the store root: articles/00000012-0a1b2c3d.parquet
    table: str
    reason: str  # "missing: ...", "unreadable: ...", "wrong schema: ..."
    rows_lost: int | None  # rows the manifest listed for it (None: unknown)
    time: datetime  # when it was taken out (UTC)
    moved_to: str = ""  # its place under quarantine/, "" when there was no file to move
    acknowledged: bool = False  # `monitor repair` marks the ones it has reported as seen
