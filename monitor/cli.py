"""The `monitor` command line. Thin: it parses arguments, calls the package, prints results.

Every command reads feeds.yaml first (`-c PATH`, before or after the command, else
$MONITOR_CONFIG, else ./feeds.yaml) and stops with the file's errors, one per line, and exit
status 1 when it is not valid. Any other failure is one line on standard error and exit
status 2, never a traceback (`MONITOR_DEBUG=1` shows the traceback as well); a reader that
closes the pipe early (`monitor articles | head`) ends the command quietly with status 141, as
other Unix tools do.

Output goes through console.py, which shows text from feeds and feeds.yaml literally. The
heavy libraries (pandas, DuckDB, pycurl, rich's tables) are imported inside the commands that
need them, so `--help`, `--version` and `validate` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .console import (
    Output,
    err,
    out,
    print_json,
    print_summary,
    print_table,
    progress_bar,
    write_data,
)
from .errors import ConfigError, MonitorError, OpmlError, OutputError

if TYPE_CHECKING:
    import pandas as pd

    from .config import Config
    from .delivery import Dispatcher
    from .notify import Answer
    from .poll import Poller
    from .queries import Filters
    from .store import Finding, Health, Snapshot, Store

DEBUG_ENV = "MONITOR_DEBUG"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool cut off by `head`


# --------------------------------------------------------------------------------------------
# helpers


def load(args: argparse.Namespace) -> Config:
    from .config import load_config, resolve_config_path

    return load_config(resolve_config_path(args.config))


# Relative dates: the same whole periods as the dashboard's "last 24 hours" / "last 30 days"
# (monitor_app/state.py, preset_range): `30d` starts at 00:00 UTC 29 days ago, so the 30 days
# include today; `24h` starts at the top of the hour 23 hours ago, so the 24 hours include this
# one.
_RELATIVE = re.compile(r"(\d+)\s*([hdw])")
_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)
_DATE_HELP = "use YYYY-MM-DD, an ISO time such as 2026-11-01T12:00, or 7d / 24h / 2w for a time ago"


def parse_when(value: str, *, end: bool = False, now: datetime | None = None) -> datetime | None:
    """A `--since` / `--until` value as a UTC time; None means "no bound".

    `2026-11-01` (with `end`, the end of that day, so the range includes it), an ISO time
    (UTC unless it says otherwise), `now`, `today`, or `7d` / `24h` / `2w`: the start of the
    calendar day (hour) that many days (hours) back counting the current one, as the
    dashboard's ranges count. Times before year 1 or after 9999 are clamped to those ends:
    an open bound (`--since 999999999d`, `--until 9999-12-31`) simply means no bound.
    """
    text = value.strip().lower()
    now = now or datetime.now(UTC)
    if relative := _RELATIVE.fullmatch(text):
        t = _ago(int(relative.group(1)), relative.group(2), now)
    elif text == "now":
        t = now
    elif text == "today":
        t = _midnight(now) + (timedelta(days=1) if end else timedelta(0))
    else:
        t = _absolute(value.strip(), end)
    if (t == _MIN and not end) or (t == _MAX and end):
        return None
    return t


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ago(n: int, unit: str, now: datetime) -> datetime:
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}{unit}: count at least 1 (1d is today)")
    try:
        if unit == "h":
            return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=n - 1)
        days = n * 7 if unit == "w" else n
        return _midnight(now) - timedelta(days=days - 1)
    except OverflowError:  # before year 1, or more days than timedelta holds
        return _MIN


def _absolute(value: str, end: bool) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} ({_DATE_HELP})") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    else:
        try:
            t = t.astimezone(UTC)
        except OverflowError:  # the same instant in UTC falls before year 1 or after 9999
            return _MIN if (t.utcoffset() or timedelta(0)) > timedelta(0) else _MAX
    if end and re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", value):
        try:
            t += timedelta(days=1)
        except OverflowError:
            return _MAX
    return t


def resolve_entities(names: Sequence[str], config: Config) -> tuple[str, ...]:
    """Match names case-insensitively to the watchlist; unknown names are an error."""
    known = {e.name.casefold(): e.name for e in config.watch}
    found = []
    for name in names:
        if name.casefold() in known:
            found.append(known[name.casefold()])
            continue
        close = difflib.get_close_matches(name, [e.name for e in config.watch], n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else " (see the watch: list in feeds.yaml)"
        raise MonitorError(f'no watched entity is called "{name}"{hint}')
    return tuple(found)


def resolve_feeds(names: Sequence[str], tags: Sequence[str], config: Config) -> tuple[str, ...]:
    """Feed keys (URLs, secrets hidden) for feed names (or URLs, or keys) and tags; unknown
    ones are an error."""
    by_name = {f.name.casefold(): f.key for f in config.feeds} | {
        u: f.key for f in config.feeds for u in (f.url, f.key)
    }
    urls: list[str] = []
    for name in names:
        url = by_name.get(name.casefold()) or by_name.get(name)
        if url is None:
            close = difflib.get_close_matches(name, [f.name for f in config.feeds], n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else " (see feeds: in feeds.yaml)"
            raise MonitorError(f'no feed is called "{name}"{hint}')
        urls.append(url)
    known_tags = {t for f in config.feeds for t in f.tags}
    for tag in tags:
        if tag not in known_tags:
            raise MonitorError(
                f'no feed has the tag "{tag}" (tags: {", ".join(sorted(known_tags))})'
            )
        urls += [f.key for f in config.feeds if tag in f.tags]
    return tuple(dict.fromkeys(urls))


def _filters(args: argparse.Namespace, config: Config) -> Filters:
    from .queries import Filters

    return Filters(
        start=args.since,
        end=args.until,
        entities=resolve_entities(args.entity or [], config),
        feeds=resolve_feeds(args.feed or [], args.tag or [], config),
        search=args.search or "",
    )


def print_frame(df: pd.DataFrame, fmt: str, title: str = "") -> None:
    import pandas as pd

    if fmt == "json":  # through pandas' JSON: NaN becomes null, times ISO 8601
        print_json(json.loads(df.to_json(orient="records", date_format="iso")))
    elif fmt == "csv":
        write_data(df.to_csv(index=False))
    else:
        right = [str(c) for c in df.columns if df[c].dtype.kind in "iuf"]
        rows = [["" if pd.isna(v) else str(v) for v in row] for row in df.itertuples(index=False)]
        print_table([str(c) for c in df.columns], rows, title=title, right=right)


def _store(config: Config) -> Store:
    from .store import open_store

    return open_store(config.store)


def _poller(
    config: Config,
    store: Store,
    log: bool = True,
    on_commit: Callable[..., Any] | None = None,
    tone: bool = True,
    name: str = "",
) -> Poller:
    from .poll import Poller

    log_to = err.print if log else None
    return Poller(config, store, log=log_to, on_commit=on_commit, tone=tone, name=name)


# --------------------------------------------------------------------------------------------
# commands


def cmd_validate(args: argparse.Namespace) -> int:
    config = load(args)
    enabled = sum(f.enabled for f in config.feeds)
    out.print(
        f"{config.path.name}: ok ({len(config.feeds)} feeds, {enabled} enabled; "
        f"{len(config.watch)} watched entities; store at {config.store_label})"
    )
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    import asyncio

    from .poll import poller_name

    config = load(args)
    store = _store(config)
    name = poller_name(args.name or "")
    with store.poller_lock(name):
        snap = store.snapshot()  # a damaged store: one line, before any thread starts
        idle = args.once and nothing_to_deliver(config, store, snap)
        with contextlib.nullcontext() if idle else alerting(config, store) as dispatcher:
            on_commit = dispatcher.on_commit if dispatcher else None
            poller = _poller(config, store, on_commit=on_commit, tone=not args.no_tone, name=name)
            with progress_bar("recounting mentions") as bar:
                poller.open(progress=bar)
            if args.once:
                code = asyncio.run(_poll_once(poller))
                if dispatcher:  # the messages due now go out before exiting
                    dispatcher.wait_idle(timeout=120)
                return code
            from .runner import poll_forever

            shared = f" as {name}, sharing it with other pollers" if store.shared else ""
            err.print(
                f"polling {len(config.feeds)} feeds into {store.location}{shared}; Ctrl-C to stop"
            )
            asyncio.run(poll_forever(poller))
    return 0


async def _poll_once(poller: Poller) -> int:
    import asyncio

    from .poll import install_signal_handlers

    stop = asyncio.Event()
    install_signal_handlers(stop)
    with progress_bar("polling feeds") as bar:
        summary = await poller.poll_once(stop=stop, progress=bar)
    print_summary(summary)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import queries
    from .delivery import delivery_status
    from .secrets import redact_text, url_secrets

    config = load(args)
    store = _store(config)
    snap = store.snapshot()
    health = queries.feed_health(snap, datetime.now(UTC))
    known = {row["url"]: row for row in health.to_dict("records")} if len(health) else {}
    rows: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = known.get(feed.key) or {}
        hidden = [*url_secrets(feed.url), *feed.env_values()]  # also in stores of old versions
        rows.append(
            {
                "name": feed.name,
                "url": feed.key,
                "enabled": feed.enabled,
                "articles": _int(row.get("articles")) or 0,
                "status": _text(row.get("status")) or "never polled",
                "http_status": _int(row.get("http_status")),
                "last_poll": _iso(row.get("last_poll")),
                "last_new": _int(row.get("last_new")) or 0,
                "failures": _int(row.get("failures")) or 0,
                "next_poll": _iso(row.get("next_poll")),
                "poller": _text(row.get("poller")),
                "moved_to": redact_text(_text(row.get("moved_to")), hidden),
                "error": redact_text(_text(row.get("error")), hidden),
            }
        )
    delivery = delivery_status(snap)  # alerts and digests not delivered: one line
    if args.format == "json":
        print_json(rows)
        if delivery:
            err.print(delivery)
        print_quarantine_notice(snap, err)  # stdout stays the documented list of feeds
        return 0
    as_of = _iso(queries.data_as_of(snap))
    title = f"{len(rows)} feeds · data as of {_short(as_of) + ' UTC' if as_of else 'never'}"
    table = []
    for r in rows:
        note = r["error"] or (f"moved to {r['moved_to']}" if r["moved_to"] else "")
        if not r["enabled"]:
            note = "disabled"
        table.append(
            [
                r["name"],
                r["status"],
                "" if r["http_status"] is None else str(r["http_status"]),
                _short(r["last_poll"]),
                *([r["poller"]] if store.shared else []),
                str(r["last_new"]),
                str(r["articles"]),
                str(r["failures"]),
                _short(r["next_poll"]),
                note,
            ]
        )
    columns = ["name", "status", "http", "last poll", "new", "articles", "fails", "next poll"]
    if store.shared:  # several pollers may share it: which one polled each feed last
        columns.insert(4, "by")
    print_table([*columns, "note"], table, title=title, right=["http", "new", "articles", "fails"])
    if delivery:
        out.print(delivery)
    print_quarantine_notice(snap, out)
    return 0


def print_quarantine_notice(snap: Snapshot, stream: Output) -> None:
    """One line per damaged store file taken out of the tables and not yet seen by repair."""
    for q in snap.quarantined:
        if not q.acknowledged:
            lost = "an unknown number of" if q.rows_lost is None else f"{q.rows_lost:,}"
            stream.print(
                f"store: {q.path} was damaged ({q.reason}) and was quarantined "
                f"on {q.time:%Y-%m-%d %H:%M} UTC; {lost} rows lost. "
                "See `monitor check`; `monitor repair` marks it as seen."
            )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) == "NaT"


def _int(value: object) -> int | None:
    """A count or status code from a DataFrame row (NaN, None -> None; 200.0 -> 200)."""
    return None if _missing(value) else int(value)  # type: ignore[call-overload]


def _text(value: object) -> str:
    return "" if _missing(value) else str(value)


def _iso(value: object) -> str:
    if _missing(value):
        return ""
    if isinstance(value, datetime):  # pandas' Timestamp is one too
        return value.isoformat(timespec="seconds")
    return str(value)


def _short(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else ""


def cmd_mentions(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import queries

    config = load(args)
    snap = _store(config).snapshot()
    with_tone = args.with_tone
    df = queries.mention_counts(snap, _filters(args, config), args.by, with_tone=with_tone)
    if args.by != "none":
        # a time series: in time order, entities alphabetical within a period
        df = df.sort_values(["period", "entity"], ignore_index=True)
        df["period"] = pd.to_datetime(df["period"]).dt.strftime(
            "%Y-%m-%d %H:00" if args.by == "hour" else "%Y-%m-%d"
        )
    df = df[mention_columns(args.by != "none", with_tone)]
    if with_tone:
        df = df.assign(tone=df["tone"].round(3))
    print_frame(df.reset_index(drop=True), args.format)
    return 0


def mention_columns(by_period: bool, with_tone: bool) -> list[str]:
    period = ["period"] if by_period else []
    tone = ["tone"] if with_tone else []
    return ["entity", "kind", *period, "mentions", "articles", "stories", *tone]


def cmd_names(args: argparse.Namespace) -> int:
    """`monitor names`: rising names the watchlist does not cover (see queries.rising_names)."""
    import pandas as pd

    from . import queries

    config = load(args)
    snap = _store(config).snapshot()
    f = queries.Filters(start=args.since, end=args.until)
    df = queries.rising_names(snap, f, limit=args.limit)
    if args.format == "json":
        df = df.assign(growth=df["growth"].round(3))
    elif args.format == "csv":
        df = df.assign(**{"with": ["; ".join(w) for w in df["with"]]})
    else:
        df = df.assign(
            growth=["new" if pd.isna(g) else f"{g:+.0%}" for g in df["growth"]],
            **{"with": [", ".join(w) for w in df["with"]]},
        )
    print_frame(df, args.format)
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import queries

    config = load(args)
    snap = _store(config).snapshot()
    page = queries.articles(
        snap, _filters(args, config), limit=args.limit, one_per_story=args.one_per_story
    )
    df = pd.DataFrame(
        {
            "time": pd.to_datetime(page["published"]).dt.strftime("%Y-%m-%d %H:%M"),
            "feed": page["feed_name"],
            "title": page["title"],
            "url": page["url"],
            "mentions": page["mentions"],
        }
    )
    if args.one_per_story:  # the story's articles in the store (1: not syndicated)
        df["copies"] = page["copies"]
    if args.format == "json":
        df["id"] = [f"{int(i) & (2**64 - 1):016x}" for i in page["id"]]
        df["entities"] = page["entities"]
        df["date_flag"] = page["date_flag"]
        df["text_source"] = page["text_source"]  # page | feed: the text mentions were counted on
    print_frame(df, args.format)
    return 0


def cmd_rematch(args: argparse.Namespace) -> int:
    config = load(args)
    store = _store(config)
    poller = _poller(config, store, log=False, tone=not args.no_tone)
    with progress_bar("recounting mentions") as bar:
        started = time.monotonic()
        rows = poller.rematch(bar)
    n = store.snapshot().rows("articles")
    out.print(
        f"recounted {n:,} articles against {len(config.watch)} entities: "
        f"{rows:,} article-entity rows ({time.monotonic() - started:.1f} s)"
    )
    return 0


def cmd_import_opml(args: argparse.Namespace) -> int:
    from .config import import_opml, load_config, resolve_config_path
    from .secrets import redact_url

    path = resolve_config_path(args.config)
    if path.exists():
        load_config(path)
    report = import_opml(Path(args.file), path)
    out.print(
        f"added {len(report.added)} feed{'s' if len(report.added) != 1 else ''} to {path}; "
        f"skipped {len(report.skipped)}"
    )
    for name, url in zip(report.added_names, report.added, strict=True):
        out.print(f"  + {name} <{redact_url(url)}>")
    for url, why in zip(report.skipped, report.reasons, strict=True):
        out.print(f"  skipped {redact_url(url)}: {why}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .store import check_store

    config = load(args)
    health = check_store(_store(config))
    if args.format == "json":
        print_json(health_json(health))
        return 0 if health.healthy else 2
    root = str(health.root)
    if not health.exists:
        out.print(f"no store at {root} yet (nothing polled): nothing to check")
        return 0
    if health.healthy:
        rows = ", ".join(f"{n:,} {t}" for t, n in health.rows.items())
        layout = f"schema {health.schema}" if health.schema else f"{health.files} files"
        out.print(f"store {root}: healthy · seq {health.seq} · {layout} · {rows}")
    else:
        n = len(health.problems)
        out.print(f"store {root}: {n} problem{'s' * (n != 1)}")
    for f in health.problems:
        out.print(f"problem: {f.path}: {f.message}")
    for f in health.notes:
        out.print(f"note: {f.path}: {f.message}")
    if not health.healthy:
        out.print(health.hint or "run `monitor repair` to fix them")
    return 0 if health.healthy else 2


def health_json(health: Health) -> dict[str, Any]:
    def finding(f: Finding) -> dict[str, str]:
        return {"kind": f.kind, "path": f.path, "message": f.message}

    return {
        "store": str(health.root),
        "exists": health.exists,
        "healthy": health.healthy,
        "seq": health.seq,
        "files": health.files,
        "schema": health.schema or None,
        "rows": health.rows,
        "problems": [finding(f) for f in health.problems],
        "notes": [finding(f) for f in health.notes],
        "quarantined": [
            {
                "path": q.path,
                "table": q.table,
                "reason": q.reason,
                "rows_lost": q.rows_lost,
                "time": q.time.isoformat(timespec="seconds"),
                "moved_to": q.moved_to,
                "acknowledged": q.acknowledged,
            }
            for q in health.quarantined
        ],
    }


def cmd_repair(args: argparse.Namespace) -> int:
    from .store import check_store, repair_store

    config = load(args)
    store = _store(config)
    if not store.exists():
        out.print(f"no store at {store.location} yet: nothing to repair")
        return 0
    with store.poller_lock():
        report = repair_store(store)
        for line in report.actions:
            out.print(line)
        for q in report.quarantined:
            lost = "an unknown number of" if q.rows_lost is None else f"{q.rows_lost:,}"
            where = f"kept as {q.moved_to}" if q.moved_to else "there was no file to keep"
            out.print(f"quarantined {q.path}: {q.reason}; {lost} rows lost ({where})")
        if report.recount:
            with progress_bar("recounting mentions") as bar:
                rows = _poller(config, store, log=False).rematch(bar)
            out.print(f"recounted mentions: {rows:,} article-entity rows")
    if not report.changed:
        out.print(f"store {store.location}: nothing to repair")
    health = check_store(store)
    for f in health.problems:
        out.print(f"problem: {f.path}: {f.message}")
    if health.healthy:
        out.print(f"store {store.location}: healthy")
    return 0 if health.healthy else 2


def cmd_dashboard(args: argparse.Namespace) -> int:
    from .runner import serving_address, start_dashboard, wait_child

    config = load(args)
    url = serving_address("dashboard", args.host, args.port, args.no_auth, config.dashboard.allow)
    proc = start_dashboard(config.path, args.port, args.host, args.no_auth)
    out.print(f"dashboard: {url}  (Ctrl-C to stop)")
    return wait_child(proc)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from .poll import poller_name
    from .runner import poll_forever, serving_address, start_dashboard, stop_child

    config = load(args)
    url = serving_address("run", args.host, args.port, args.no_auth, config.dashboard.allow)
    store = _store(config)
    name = poller_name(args.name or "")
    with store.poller_lock(name):
        store.snapshot()  # a damaged store: one line, before anything starts
        proc = start_dashboard(config.path, args.port, args.host, args.no_auth)
        out.print(f"dashboard: {url} · polling {len(config.feeds)} feeds; Ctrl-C stops both")
        try:
            with alerting(config, store) as dispatcher:
                poller = _poller(
                    config, store, on_commit=dispatcher.on_commit, tone=not args.no_tone, name=name
                )
                poller.open()
                asyncio.run(poll_forever(poller))
        finally:
            stop_child(proc)
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    if args.store_command == "copy":
        return cmd_store_copy(args)
    config = load(args)
    store = _store(config)
    done = store.migrate()
    for line in done:
        out.print(line)
    health = store.check()
    if not done:
        what = f"schema {health.schema}" if health.schema else "nothing to migrate"
        out.print(f"store {store.location}: {what}")
    return 0


def _store_at(where: str, args: argparse.Namespace) -> Store:
    """A store named on the command line: `config` (feeds.yaml's, or $MONITOR_STORE's), a
    postgresql:// URL, or a folder."""
    from .store import open_store

    if where == "config":
        return _store(load(args))
    if "://" in where and not where.lower().startswith(("postgresql://", "postgres://")):
        raise MonitorError(f"{where.split('://')[0]}:// is not a store: give a folder or a "
                           "postgresql:// URL")  # fmt: skip
    return open_store(Path(where) if "://" not in where else where)


def cmd_store_copy(args: argparse.Namespace) -> int:
    from .store.copy import copy_store

    source, target = _store_at(args.source, args), _store_at(args.target, args)
    started = time.monotonic()
    current: dict[str, Callable[[int, int], None]] = {}
    with contextlib.ExitStack() as stack:

        def progress(table: str, done: int, total: int) -> None:
            if table not in current:
                stack.close()
                current.clear()
                current[table] = stack.enter_context(progress_bar(f"copying {table}"))
            current[table](done, total)

        report = copy_store(source, target, progress=progress)
    if report.already:
        out.print(f"{target.location} already holds a finished copy of {source.location}")
    elif report.resumed:
        out.print(f"resumed the copy of {source.location} into {target.location}")
    rows = []
    for table, n in report.source_rows.items():
        got = report.destination_rows.get(table, 0)
        rows.append([table, f"{n:,}", f"{got:,}", f"{report.copied.get(table, 0):,}",
                     "equal" if got == n else "DIFFERENT"])  # fmt: skip
    print_table(["table", "source rows", "copied rows", "written now", ""], rows,
                title=f"{source.location} -> {target.location}",
                right=["source rows", "copied rows", "written now"])  # fmt: skip
    seconds = time.monotonic() - started
    if not report.equal:
        raise MonitorError(
            "the counts differ after the copy (was a poller writing to the source?): "
            "run the copy again"
        )
    out.print(f"copied in {seconds:.1f} s; every count is equal")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


# --------------------------------------------------------------------------------------------
# alerts and digests: `monitor alerts [backtest | send-test]`, `monitor digest`


def nothing_to_deliver(config: Config, store: Store, snap: Snapshot) -> bool:
    """Whether a poll would give the alert dispatcher nothing to do: no alert rule, no digest,
    no message waiting in the store's outbox, and no other poller sharing the store (which
    may have rules of its own to lead). `poll --once` then runs without it (and without
    importing alerts.py, delivery.py and notify.py); `poll` that keeps running always has
    one, since feeds.yaml may gain rules while it runs."""
    return not (config.alerts or config.digests or store.shared or snap.alerts.get("outbox"))


@contextlib.contextmanager
def alerting(config: Config, store: Store) -> Iterator[Dispatcher]:
    """The alert dispatcher beside a poller: rules read after each commit, messages sent in
    a background thread (see monitor/delivery.py)."""
    from .delivery import Dispatcher

    dispatcher = Dispatcher(store, config, log=err.print)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


def _find_named(items: Sequence[Any], name: str, what: str) -> Any:
    found = next((x for x in items if x.name.casefold() == name.strip().casefold()), None)
    if found is None:
        names = [x.name for x in items]
        close = difflib.get_close_matches(name, names, n=1)
        if close:
            hint = f' (did you mean "{close[0]}"?)'
        elif names:
            hint = f" ({what}s in feeds.yaml: {', '.join(names)})"
        else:
            hint = f" (feeds.yaml has no {what}s)"
        raise MonitorError(f'no {what} is called "{name}"{hint}')
    return found


def _duration(d: timedelta) -> str:
    hours = int(d.total_seconds() // 3600)
    if d.total_seconds() % 3600:
        return f"{int(d.total_seconds() // 60)}m"
    return f"{hours // 24}d" if hours % 24 == 0 and hours > 24 else f"{hours}h"


def cmd_alerts(args: argparse.Namespace) -> int:
    if args.alerts_command == "backtest":
        return cmd_alerts_backtest(args)
    if args.alerts_command == "send-test":
        return cmd_alerts_send_test(args)
    from . import alerts
    from .delivery import targets

    config = load(args)
    snap = _store(config).snapshot()
    fired = alerts.last_fired(snap)
    states = alerts.rule_states(snap)
    rows: list[dict[str, Any]] = [
        {
            "name": rule.name,
            "when": rule.when,
            "entities": list(rule.entities),
            "feeds": list(rule.feeds),
            "window": _duration(rule.window),
            "targets": [t.label for t in targets(config, rule.to, f"alert:{rule.name}")],
            "last_fired": fired[rule.name].isoformat() if rule.name in fired else None,
            "firing": sorted(states[rule.name].open) if rule.name in states else [],
        }
        for rule in config.alerts
    ]
    if args.list_format == "json":
        print_json(rows)
        return 0
    table = []
    for rule, row in zip(config.alerts, rows, strict=True):
        watches = rule.selector or ("every feed" if not rule.feeds else f"{len(rule.feeds)} feeds")
        table.append(
            [
                rule.name,
                f"{rule.when}, {row['window']}",
                watches,
                ", ".join(row["targets"]) or "(nobody: recorded only)",
                _short(row["last_fired"] or "") or "never",
                ", ".join(row["firing"]),
            ]
        )
    columns = ["name", "when", "watches", "to", "last fired", "firing now"]
    print_table(columns, table, title=f"{len(rows)} alert rules")
    if not config.alerts:
        out.print("No alert rules: add some under alerts: in feeds.yaml.")
    return 0


def cmd_alerts_backtest(args: argparse.Namespace) -> int:
    from . import alerts

    config = load(args)
    for name in args.name or []:
        _find_named(config.alerts, name, "alert rule")
    if not config.alerts:
        raise MonitorError("feeds.yaml has no alert rules (alerts:) to backtest")
    snap = _store(config).snapshot()
    firings = alerts.backtest(snap, config, args.since, args.until, args.name or [])
    rows = [f.public() for f in firings]
    columns = ["alert", "entity", "fired", "value", "baseline"]
    if args.format == "json":
        print_json(rows)
        return 0
    if args.format == "csv":
        import pandas as pd

        write_data(pd.DataFrame(rows, columns=columns).to_csv(index=False))
        return 0
    table = [
        [
            f.alert,
            f.entity,
            f.fired.strftime("%Y-%m-%d %H:%M"),
            alerts.fmt(f.value),
            alerts.fmt(f.baseline),
        ]
        for f in firings
    ]
    print_table(columns, table, title=f"{len(rows)} firings (backtest)", right=columns[3:])
    return 0


def cmd_alerts_send_test(args: argparse.Namespace) -> int:
    from . import alerts
    from .delivery import send_now

    config = load(args)
    rule = _find_named(config.alerts, args.rule, "alert rule")
    if not rule.to:
        raise MonitorError(f'the alert rule "{rule.name}" has no targets (add to: [...])')
    snap = _store(config).snapshot()
    firing = alerts.sample_firing(snap, config, rule, datetime.now(UTC))
    message = alerts.alert_message(rule, firing, snap, config, test=True)
    return _print_answers(send_now(config, rule.to, message))


def _print_answers(answers: Sequence[Answer]) -> int:
    for a in answers:
        out.print(f"{a.target}: sent" if a.ok else f"{a.target}: failed: {a.detail}")
    return 0 if all(a.ok for a in answers) else 2


def cmd_digest(args: argparse.Namespace) -> int:
    from . import digest
    from .delivery import send_now

    config = load(args)
    d = _find_named(config.digests, args.name, "digest")
    store = _store(config)
    snap = store.snapshot()
    now = datetime.now(UTC)
    if args.now:
        last = (snap.alerts.get("digests") or {}).get(d.name)
        since = datetime.fromisoformat(last["until"]) if last else None
        start, end = digest.edition_period(d, now, since)
    else:
        end = digest.last_slot(d, now)
        start, end = digest.edition_period(d, end, None)
    if not args.out and not d.to:
        raise MonitorError(f'the digest "{d.name}" has no targets (to:); use --out FILE.html')
    with progress_bar("rendering the digest") as bar:
        bar(0, 1)
        edition = digest.build_digest(snap, config, d, start, end)
    if args.out:
        path = Path(args.out)
        try:
            path.write_text(edition.standalone_html(), encoding="utf-8")
        except OSError as exc:
            raise MonitorError(f"cannot write {path}: {exc.strerror or exc}") from exc
        out.print(f"wrote {path} ({edition.message.title})")
        return 0
    answers = send_now(config, d.to, edition.message)
    if any(a.ok for a in answers):
        record_edition(store, d.name, end)
    return _print_answers(answers)


def record_edition(store: Store, name: str, end: datetime) -> None:
    """Remember that an edition up to `end` went out, so the next covers the time after it."""
    from .store import update_alerts

    def change(state: dict[str, Any]) -> None:
        digests = state.setdefault("digests", {})
        last = digests.get(name)
        if last is None or datetime.fromisoformat(last["until"]) < end:
            digests[name] = {"until": end.isoformat()}

    update_alerts(store, change)


# --------------------------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        err.print(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


_MAX_LIMIT = 2**63 - 1  # the largest LIMIT both stores take (a BIGINT)


def _limit(value: str) -> int:
    """--limit N; beyond what the stores take it means "no limit" (the query failed, quoting
    its SQL), as a date beyond year 9999 means "no bound"."""
    return min(_positive(value), _MAX_LIMIT)


def _port(value: str) -> int:
    n = _positive(value)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {n} (use 1-65535)")
    return n


def _add_config(p: argparse.ArgumentParser, *, top: bool) -> None:
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        # under a command, an absent -c must not undo one given before the command
        default=None if top else argparse.SUPPRESS,
        help="feeds.yaml to use (default: $MONITOR_CONFIG, else ./feeds.yaml)",
    )


class _Unused:
    """Stands in for the parser of a command not given on this command line
    (`build_parser(only=...)`): whatever would be added to it is not."""

    def __getattr__(self, name: str) -> Callable[..., _Unused]:
        return lambda *args, **kwargs: self


def command_of(argv: Sequence[str]) -> str | None:
    """The command named on a command line, when it can be told without parsing it: the first
    word that is neither an option nor -c's value. None (build every command's options) when an
    option other than -c comes first (`--help`, `--version`, a mistake), or no word does."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ("-c", "--config"):
            i += 2
        elif word.startswith(("--config=", "-c")):
            i += 1
        elif word.startswith("-"):
            return None
        else:
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. With `only` (the command given: `command_of`), the other
    commands are named (for their list and for "invalid choice") but get none of their
    options: ~30 commands' options cost `monitor poll` ~5-10 ms, and the imports a few of them
    need (access.py for the dashboard's) more."""
    p = _Parser(
        prog="monitor",
        description="Poll news feeds, count mentions of a watchlist, and explore them.",
        epilog="Exit status: 0 ok, 1 bad configuration, 2 any other error. "
        "`monitor COMMAND --help` describes each command.",
    )
    p.add_argument("--version", action="version", version=f"monitor {__version__}")
    _add_config(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, config: bool = True
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        if only is not None and name != only:
            return _Unused()  # type: ignore[return-value]
        if config:  # the demo writes a feeds.yaml of its own
            _add_config(sp, top=False)
        return sp

    add("validate", cmd_validate, "check feeds.yaml and report every error in it")
    sp = add("poll", cmd_poll, "poll the feeds into the store (until stopped, or --once)")
    sp.add_argument(
        "--once", action="store_true", help="poll every enabled feed once, now, and exit"
    )
    no_tone(sp)
    poller_option(sp)
    sp = add("status", cmd_status, "show the health of every feed")
    sp.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people, json for programs (default: %(default)s)",
    )

    def counting(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--entity",
            action="append",
            metavar="NAME",
            help="a watched entity (repeat for several; default: all)",
        )
        sp.add_argument(
            "--since",
            type=parse_when,
            metavar="DATE",
            help="from this date (UTC): YYYY-MM-DD, an ISO time, or 30d for the last 30 "
            "calendar days including today (from 00:00 UTC 29 days ago, as the dashboard's "
            "'30 days'), 24h for the last 24 whole hours, 2w for 14 days (default: no limit)",
        )
        sp.add_argument(
            "--until",
            type=lambda v: parse_when(v, end=True),
            metavar="DATE",
            help="up to and including this date (UTC); a count back such as 7d ends where "
            "--since 7d would start (default: no limit)",
        )
        sp.add_argument(
            "--feed",
            action="append",
            metavar="NAME",
            help="only articles from this feed (name or URL; repeat for several)",
        )
        sp.add_argument(
            "--tag",
            action="append",
            metavar="TAG",
            help="only articles from feeds with this tag (repeat for several)",
        )
        sp.add_argument(
            "--search",
            metavar="WORDS",
            help="only articles whose title or text contains these words",
        )
        sp.add_argument(
            "--format",
            choices=("table", "csv", "json"),
            default="table",
            help="table for people (full values off a terminal), csv or json for programs "
            "(default: %(default)s)",
        )

    sp = add("mentions", cmd_mentions, "mentions, articles and stories per entity (and period)")
    counting(sp)
    sp.add_argument(
        "--by",
        choices=("none", "hour", "day", "week", "month"),
        default="none",
        help="one row per entity and period (UTC; weeks start on Monday), sorted by period, "
        "then entity; none: one row per entity, most mentioned first (default: %(default)s)",
    )
    sp.add_argument(
        "--with-tone",
        action="store_true",
        help="add the mean tone of the mentions, -1..1 (default: off)",
    )
    sp = add("names", cmd_names, "rising names in the articles that the watchlist does not cover")
    sp.add_argument(
        "--since",
        type=parse_when,
        metavar="DATE",
        help=f"from this date (UTC); {_DATE_HELP} (default: 7 days before --until)",
    )
    sp.add_argument(
        "--until",
        type=lambda v: parse_when(v, end=True),
        metavar="DATE",
        help="up to and including this date (UTC) (default: the newest article)",
    )
    sp.add_argument(
        "--limit",
        type=_limit,
        default=50,
        metavar="N",
        help="show at most N names (default: %(default)s)",
    )
    sp.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table for people, csv or json for programs (default: %(default)s)",
    )
    sp = add("articles", cmd_articles, "the articles behind a count, newest first")
    counting(sp)
    sp.add_argument(
        "--limit",
        type=_limit,
        default=50,
        metavar="N",
        help="show at most N articles, newest first (default: %(default)s)",
    )
    sp.add_argument(
        "--one-per-story",
        action="store_true",
        help="list a story carried by several feeds once (its first article), with its copies",
    )
    sp = add("rematch", cmd_rematch, "recount every mention after the watchlist changed")
    no_tone(sp)
    sp = add("check", cmd_check, "check the store's health (exit 2 when it has problems)")
    sp.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people, json for programs (default: %(default)s)",
    )
    add(
        "repair",
        cmd_repair,
        "repair a damaged store: rebuild its manifest, quarantine damaged files",
    )
    sp = add("import-opml", cmd_import_opml, "add the feeds of an OPML file to feeds.yaml")
    sp.add_argument(
        "file",
        metavar="FILE",
        help="an OPML file (a feed reader's export); feeds already in feeds.yaml, repeated "
        "or not http(s) are skipped and listed",
    )

    def add_serving_arguments(sp: argparse.ArgumentParser) -> None:
        if not isinstance(sp, _Unused):  # (access.py: only for the commands that serve)
            from .access import add_serving_arguments

            add_serving_arguments(sp)

    port_help = "serve the dashboard at this port (default: %(default)s)"
    sp = add("dashboard", cmd_dashboard, "start the dashboard (Streamlit)")
    sp.add_argument("--port", type=_port, default=8501, metavar="N", help=port_help)
    add_serving_arguments(sp)
    sp = add("run", cmd_run, "poll the feeds and serve the dashboard together")
    sp.add_argument("--port", type=_port, default=8501, metavar="N", help=port_help)
    add_serving_arguments(sp)
    no_tone(sp)
    poller_option(sp)
    _add_store_commands(add)
    _add_alert_commands(add)
    sp = add(
        "demo",
        cmd_demo,
        "run an offline demo: a synthetic news world, the poller, the dashboard",
        config=False,
    )
    if not isinstance(sp, _Unused):
        from .demo import add_arguments as add_demo_arguments  # (access.py, as above)

        add_demo_arguments(sp)
    return p


def poller_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--name",
        metavar="NAME",
        help="how this poller is known in the store, e.g. in `monitor status` when several "
        "pollers share a PostgreSQL store (default: host:pid)",
    )


def _add_store_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    sp = add("store", cmd_store, "manage the store: migrate its schema, copy it elsewhere")
    sub = sp.add_subparsers(
        dest="store_command",
        metavar="{migrate,copy}",
        required=True,
        help="what to do with the store",
    )
    mg = sub.add_parser(
        "migrate",
        help="bring a PostgreSQL store's schema up to this version (pollers do it when they start)",
        description="Apply the schema migrations this version of monitor has and the database "
        "lacks; say what was done. The embedded store needs none.",
    )
    _add_config(mg, top=False)
    cp = sub.add_parser(
        "copy",
        help="copy a store into another: embedded <-> PostgreSQL (resumable)",
        description="Copy every table, the feed state, the watchlist and the alert state of "
        "the store FROM into the store TO, which must be empty or hold an unfinished copy of "
        "FROM (run the same command again to resume it: nothing is copied twice). Each is a "
        "folder (the embedded store) or a postgresql:// URL; `config` means the store of "
        "feeds.yaml (or $MONITOR_STORE), so a password need not be typed. Stop the poller of "
        "FROM first.",
    )
    _add_config(cp, top=False)
    cp.add_argument("source", metavar="FROM", help="a folder, a postgresql:// URL, or config")
    cp.add_argument("target", metavar="TO", help="a folder, a postgresql:// URL, or config")


def no_tone(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--no-tone",
        action="store_true",
        help="skip scoring the tone of mentions, the slowest analysis; for bulk imports "
        "(default: off)",
    )


def _add_alert_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    sp = add("alerts", cmd_alerts, "list the alert rules, their targets, when each last fired")
    sp.add_argument(
        "--format",
        dest="list_format",
        choices=("table", "json"),
        default="table",
        help="table for people, json for programs (default: %(default)s)",
    )
    sp.set_defaults(alerts_command=None)
    sub = sp.add_subparsers(
        dest="alerts_command",
        metavar="{backtest,send-test}",
        help="what to do with the rules (default: list them)",
    )
    bt = sub.add_parser(
        "backtest",
        help="when each rule would have fired on the stored history",
        description="Evaluate the rules at every hour boundary of a range, as the poller "
        "would have, and list each firing.",
    )
    _add_config(bt, top=False)
    bt.add_argument(
        "--since",
        type=parse_when,
        metavar="DATE",
        help=f"from this date (UTC); {_DATE_HELP} (default: the first stored article)",
    )
    bt.add_argument(
        "--until",
        type=lambda v: parse_when(v, end=True),
        metavar="DATE",
        help="up to and including this date (UTC) (default: now)",
    )
    bt.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="only this rule (repeat for several; default: every rule)",
    )
    bt.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table for people, csv or json for programs (default: %(default)s)",
    )
    st = sub.add_parser(
        "send-test",
        help="send a sample message through a rule's targets",
        description="Send a sample message through a rule's targets and say what each answered.",
    )
    _add_config(st, top=False)
    st.add_argument("rule", metavar="NAME", help="the alert rule's name (as in feeds.yaml)")
    sp = add("digest", cmd_digest, "render a digest now and send it, or write it with --out")
    sp.add_argument("name", metavar="NAME", help="the digest's name (as in feeds.yaml)")
    sp.add_argument(
        "--now",
        action="store_true",
        help="cover the time since the last edition up to now (default: the last scheduled one)",
    )
    sp.add_argument(
        "--out",
        metavar="FILE.html",
        help="write the HTML to this file instead of sending it (default: send to its to:)",
    )


# --------------------------------------------------------------------------------------------
# the top: exit statuses, errors, output that cannot be written


def run() -> int:
    """The `monitor` program (its console script): `main` on this process's command line,
    with two settings of the garbage collector that only a whole process may choose (tests
    call `main` inside theirs):

    - the young generation is collected every `YOUNG_COLLECTIONS` allocations instead of 700:
      starting up allocates tens of thousands of objects that live as long as the process
      (modules, classes, functions, feeds.yaml), which each collection goes through again
      (as `Poller.poll` does during a round, see poll.GC_YOUNG); reference counting frees
      nearly everything else at once whatever the setting;
    - when the command is done, `gc.freeze()`: the interpreter's exit then leaves those
      objects to the operating system instead of going through every module's objects in
      a last collection (0.05-0.1 s of `monitor poll --once` here). Files and streams are
      flushed and closed by the commands themselves (standard output by `main`), and the
      interpreter still runs `atexit` functions and flushes standard output and error.
    """
    import gc

    gc.set_threshold(YOUNG_COLLECTIONS, *gc.get_threshold()[1:])
    code = main()
    gc.freeze()
    return code


YOUNG_COLLECTIONS = 10_000


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            words = sys.argv[1:] if argv is None else argv
            args = build_parser(only=command_of(words)).parse_args(words)
            code = int(args.func(args))
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
        _flush()
        return code
    except ConfigError as exc:
        _print_issues(exc)
        return 2 if isinstance(exc, OpmlError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OutputError as exc:
        _silence_stdout()
        _error_line(f"error: {exc}")
        return 2
    except MonitorError as exc:
        _error_line(f"error: {exc}")
        return 2
    except Exception as exc:  # a bug, or a library error no module turned into ours
        if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
            import traceback

            traceback.print_exc()
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        _error_line(f"error: unexpected {what} (set {DEBUG_ENV}=1 to see the traceback)")
        return 2


def _print_issues(exc: ConfigError) -> None:
    for issue in exc.issues:
        _error_line(str(issue))
    n = len(exc.issues)
    if isinstance(exc, OpmlError):
        _error_line("the OPML file could not be imported; feeds.yaml is unchanged")
    else:
        _error_line(f"{n} error{'s' if n != 1 else ''} in the configuration")


def _flush() -> None:
    """Write what is still buffered now, so that a full disk or a closed pipe shows here."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so Python's own flush at exit has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass


def _error_line(text: str) -> None:
    """One line on standard error; if even that cannot be written, stay silent."""
    try:
        err.print(text)
        sys.stderr.flush()
    except (OSError, AttributeError, ValueError, MonitorError):
        pass


if __name__ == "__main__":
    sys.exit(run())
