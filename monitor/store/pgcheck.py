"""`monitor check` and `monitor repair` for the PostgreSQL store.

PostgreSQL keeps its own files consistent (a crash mid-commit rolls the commit back), so what
can be wrong is the project's side of things: a schema older than this version (migrations
not run), a key or index missing (dropped by hand), the row counts in `monitor_meta` drifting
from the tables (rows deleted by hand), mentions or sources pointing at articles that are not
there, mentions never counted with a watchlist, and leases of pollers that died (harmless:
they expire). `check` reports them without changing anything; `repair` migrates, corrects the
counts, deletes mentions of missing articles (they are recounted from the articles), and frees
expired leases. Damage below that (a disk failing) is PostgreSQL's to report: restore from a
`pg_dump` backup (docs/deploy.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from .base import Health, Log, RepairReport
from .postgres import (
    COPIED_STORIES,
    INDEXES,
    REBUILD_ROLLUPS,
    ROLLUP_SQL_PG,
    SCHEMA_VERSION,
    SPANS_ROWS,
    _missing_columns,
)
from .schema import KEYS, SCHEMAS, rollup_diff_sql

if TYPE_CHECKING:
    from .postgres import PgStore

# rows that name an article: mentions, stories and names are derived from its text (deleted by
# repair, recounted from the articles left); a source row is kept (it says a feed carried it)
_DERIVED = ("mentions", "stories", "names")
_ORPHANS = {
    table: f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "
    "(SELECT 1 FROM articles a WHERE a.id = t.article_id)"
    for table in (*_DERIVED, "sources")
}


def _version(cur: psycopg.Cursor[Any]) -> int | None:
    cur.execute("SELECT to_regclass('monitor_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:  # type: ignore[index]
        return None
    cur.execute("SELECT coalesce(max(version), 0) FROM monitor_migrations")
    return int(cur.fetchone()[0])  # type: ignore[index]


def check(store: PgStore) -> Health:
    """Look at the database and say what is wrong; changes nothing."""
    h = Health(
        root=store.location,
        hint="run `monitor repair` to fix them: it migrates, corrects the counts and deletes "
        "rows derived from articles that are gone (recounted from those left); it never "
        "deletes an article",
    )
    with store._connect() as con, con.cursor() as cur:
        version = _version(cur)
        if version is None:
            h.exists = False
            return h
        if version < SCHEMA_VERSION:
            h.schema = f"{version} (this version of monitor uses {SCHEMA_VERSION})"
            h.add("schema", "schema", f"version {version} is older than {SCHEMA_VERSION}: run "
                  "`monitor store migrate` (or start a poller of this version)")  # fmt: skip
        elif version > SCHEMA_VERSION:
            h.schema = f"{version} (newer than this version of monitor: {SCHEMA_VERSION})"
            h.add("schema", "schema", "migrated by a newer version of monitor: upgrade this one",
                  problem=False)  # fmt: skip
        else:
            h.schema = f"{version} (current)"
        missing = _missing_columns(cur)
        for table, fields in missing.items():
            names = ", ".join(f.name for f in fields)
            h.add("schema", table, f"lacks {names}: run `monitor store migrate`")
        cur.execute("SELECT seq, rows, fingerprint FROM monitor_meta WHERE id = 1")
        meta = cur.fetchone()
        if meta is None:
            h.add("schema", "monitor_meta", "its row is missing: run `monitor repair`")
            counts: dict[str, Any] = {}
        else:
            h.seq, counts, fingerprint = int(meta[0]), dict(meta[1] or {}), str(meta[2] or "")
        for table in SCHEMAS:
            if table in missing and len(missing[table]) == len(SCHEMAS[table]):
                continue
            cur.execute(f'SELECT count(*) FROM "{table}"')  # type: ignore[arg-type]
            n = int(cur.fetchone()[0])  # type: ignore[index]
            h.rows[table] = n
            said = int(counts.get(table, 0))
            if said != n:
                h.add("rows", table, f"holds {n:,} rows, monitor_meta says {said:,} "
                      "(`monitor repair` corrects the count)")  # fmt: skip
        _check_keys(cur, h)
        for table, query in _ORPHANS.items():
            if table in h.rows and "articles" in h.rows:
                cur.execute(query)  # type: ignore[arg-type]
                n = int(cur.fetchone()[0])  # type: ignore[index]
                if n:
                    derived = table in _DERIVED
                    fix = "`monitor repair` deletes them" if derived else "kept"
                    h.add("orphan", table, f"{n:,} rows name an article that is not stored "
                          f"({fix})", problem=derived)  # fmt: skip
        if "mentions" in h.rows and "articles" in h.rows:
            for name, n in _rollup_differences(cur).items():
                if n:
                    keys = f"{n:,} key{'s' * (n != 1)}"
                    h.add("rollup", name, f"differs from the rows it sums on {keys} "
                          "(`monitor repair` recomputes it)")  # fmt: skip
        if meta is not None and not fingerprint and h.rows.get("articles"):
            h.add("recount", "mentions", "not counted with any watchlist yet: `monitor repair` "
                  "recounts them")  # fmt: skip
        cur.execute(
            """SELECT url, lease_owner, lease_until FROM monitor_feeds
            WHERE lease_owner IS NOT NULL ORDER BY url"""
        )
        cur2 = con.cursor()
        cur2.execute("SELECT now() AT TIME ZONE 'UTC'")
        now = cur2.fetchone()[0]  # type: ignore[index]
        for url, owner, until in cur.fetchall():
            if until is not None and until < now:
                h.add("lease", url, f"lease of {owner} ended {until:%Y-%m-%d %H:%M:%S} UTC "
                      "(a poller that stopped; another takes the feed)", problem=False)  # fmt: skip
            else:
                h.add("lease", url, f"being polled by {owner}", problem=False)
    return h


def _rollup_differences(cur: psycopg.Cursor[Any]) -> dict[str, int]:
    """Per daily roll-up (of those the schema has), the keys (entity and day, ...) where it
    differs from what its rows sum to (schema.ROLLUP_SQL): compared key by key; and the
    distinct stories of `mention_days` (summed over its writers' slots) and the spans of
    `story_spans` likewise."""
    out = {}
    for name in ("mention_days", "article_days", "pair_days"):  # (the stories' below)
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        if not cur.fetchone()[0]:  # type: ignore[index]
            continue  # an older schema: `check` says to migrate
        tables = {"articles": "articles", "mentions": "mentions", name: name}
        cur.execute(rollup_diff_sql(name).format(**tables))  # type: ignore[arg-type]
        out[name] = int(cur.fetchone()[0])  # type: ignore[index]
    cur.execute("SELECT to_regclass('story_spans') IS NOT NULL")
    if cur.fetchone()[0]:  # type: ignore[index]
        stories = ROLLUP_SQL_PG["mention_days"].format(mentions="mentions")
        spans = SPANS_ROWS.format(stories=COPIED_STORIES)
        cur.execute(
            f"""SELECT COUNT(*) FROM (
                SELECT entity, day, SUM(stories) AS stories FROM mention_days GROUP BY 1, 2
                HAVING SUM(articles) <> 0) r
            FULL OUTER JOIN ({stories}) x ON r.entity = x.entity AND r.day = x.day
            WHERE r.stories IS DISTINCT FROM x.stories"""  # type: ignore[arg-type]
        )
        out["mention_days"] = out.get("mention_days", 0) + int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute(
            f"""SELECT COUNT(*) FROM (
                ((SELECT entity, story, day FROM story_spans) EXCEPT ({spans}))
                UNION ALL (({spans}) EXCEPT (SELECT entity, story, day FROM story_spans))) d"""  # type: ignore[arg-type]
        )
        out["story_spans"] = int(cur.fetchone()[0])  # type: ignore[index]
    return out


def _check_keys(cur: psycopg.Cursor[Any], h: Health) -> None:
    cur.execute(
        """SELECT t.relname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'p' AND n.nspname = current_schema()"""
    )
    with_keys = {r[0] for r in cur.fetchall()}
    for table, key in KEYS.items():
        if table not in with_keys:
            h.add("constraint", table, f"has no primary key ({', '.join(key)}): duplicates are "
                  "possible; recreate it (see docs/deploy.md)")  # fmt: skip
    cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    indexes = {r[0] for r in cur.fetchall()}
    for name in INDEXES:
        if name not in indexes:
            h.add("constraint", name, "index missing: queries are slow (`monitor store migrate` "
                  "recreates it)" if name != "sources_entry" else "unique index missing: an "
                  "entry may be stored twice (`monitor store migrate` recreates it)")  # fmt: skip


def repair(store: PgStore, log: Log | None = None) -> RepairReport:
    """Migrate, correct the row counts, delete mentions of missing articles, free expired
    leases. Never deletes an article or a source row."""
    report = RepairReport()
    with store._connect() as con, con.cursor() as cur:
        if _version(cur) is None:
            report.actions.append(f"no store at {store.location} yet: nothing to repair")
            return report
    report.actions += store.migrate()
    with store._connect(autocommit=False) as con, con.transaction(), con.cursor() as cur:
        cur.execute("SELECT rows, fingerprint FROM monitor_meta WHERE id = 1 FOR UPDATE")
        counts, fingerprint = cur.fetchone()  # type: ignore[misc]
        counts = dict(counts or {})
        for table in _DERIVED:
            cur.execute(_ORPHANS[table].replace("SELECT count(*) FROM", "DELETE FROM"))  # type: ignore[arg-type]
            if cur.rowcount:
                report.actions.append(
                    f"deleted {cur.rowcount:,} rows of {table} naming articles not stored"
                )
        fixed = dict(counts)
        for table in SCHEMAS:
            cur.execute(f'SELECT count(*) FROM "{table}"')  # type: ignore[arg-type]
            fixed[table] = int(cur.fetchone()[0])  # type: ignore[index]
            if fixed[table] != int(counts.get(table, 0)):
                report.actions.append(
                    f"{table}: row count corrected to {fixed[table]:,} "
                    f"(monitor_meta said {int(counts.get(table, 0)):,})"
                )
        differ = {name: n for name, n in _rollup_differences(cur).items() if n}
        if differ:
            for statement in REBUILD_ROLLUPS:
                cur.execute(statement)  # type: ignore[arg-type]
            report.actions.append(
                "recomputed the daily roll-ups of articles and mentions (they differed from "
                "the rows they sum: "
                + ", ".join(f"{name} on {n:,} key{'s' * (n != 1)}" for name, n in differ.items())
                + ")"
            )
        cur.execute(
            """UPDATE monitor_feeds SET lease_owner = NULL, lease_until = NULL
            WHERE lease_until < now() AT TIME ZONE 'UTC'"""
        )
        if cur.rowcount:
            report.actions.append(f"freed {cur.rowcount} expired leases of stopped pollers")
        cur.execute(
            "DELETE FROM monitor_feeds WHERE state IS NULL AND articles = 0 AND lease_owner IS NULL"
        )
        if report.actions:
            cur.execute(
                """UPDATE monitor_meta SET rows = %s, seq = seq + 1,
                updated = now() AT TIME ZONE 'UTC' WHERE id = 1""",
                (Jsonb(fixed),),
            )
        report.recount = not fingerprint and bool(fixed.get("articles"))
    report.changed = bool(report.actions)
    if log:
        for action in report.actions:
            log(f"store: {action}")
    return report
