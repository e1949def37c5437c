"""The `monitor` command line. Thin: it parses arguments, calls the package, prints results.

Every command reads feeds.yaml first (`-c PATH`, else $MONITOR_CONFIG, else ./feeds.yaml) and
stops with the file's errors, one per line, and exit status 1 when it is not valid. Errors of
the store or the network are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import __version__, alerts, digest, notify, queries
from .config import Config, import_opml, load_config, resolve_config_path
from .delivery import Dispatcher, delivery_status, send_now, targets
from .errors import ConfigError, MonitorError
from .poll import Poller, PollSummary, install_signal_handlers
from .secrets import redact_text, redact_url, url_secrets
from .store import Store, update_alerts

if TYPE_CHECKING:
    from .store import Finding, Health, Snapshot

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard.py"


# --------------------------------------------------------------------------------------------
# helpers


def load(args: argparse.Namespace) -> Config:
    return load_config(resolve_config_path(args.config))


def parse_when(value: str, *, end: bool = False) -> datetime:
    """`2026-11-01`, `2026-11-01T12:00`, or relative `7d` / `24h` (ago). UTC.

    With `end`, a bare date means the end of that day (the range includes it).
    """
    value = value.strip()
    now = datetime.now(UTC)
    units = {"h": "hours", "d": "days", "w": "weeks"}
    if value[:-1].isdigit() and value[-1:] in units:
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    if value in ("now", "today"):
        return now
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {value!r} (use YYYY-MM-DD, an ISO time, or 7d / 24h for a time ago)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    if end and len(value) == 10:
        t += timedelta(days=1)
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


def print_frame(df: pd.DataFrame, fmt: str, title: str = "") -> None:
    if fmt == "json":
        out.print_json(data=json.loads(df.to_json(orient="records", date_format="iso")))
    elif fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        table = Table(title=title or None, show_lines=False)
        for col in df.columns:
            table.add_column(str(col), justify="right" if df[col].dtype.kind in "iuf" else "left")
        for row in df.itertuples(index=False):
            table.add_row(*("" if pd.isna(v) else str(v) for v in row))
        out.print(table)


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback that draws a bar on a terminal and stays silent elsewhere."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def summary_line(s: PollSummary) -> str:
    return (
        f"{s.feeds} feeds: {s.ok} ok, {s.unchanged} unchanged, {s.failed} failed"
        + (f", {s.gone} gone" if s.gone else "")
        + f"; {s.new_articles} new articles, {s.new_mentions} new mentions ({s.seconds:.1f} s)"
    )


def print_summary(s: PollSummary) -> None:
    out.print(summary_line(s))
    for name, error in s.errors:
        out.print(f"  failed: {name}: {error}")
    for name, url in s.moved:
        out.print(f"  moved: {name} now lives at {url} (update its url in feeds.yaml)")


# --------------------------------------------------------------------------------------------
# commands


def cmd_validate(args: argparse.Namespace) -> int:
    config = load(args)
    enabled = sum(f.enabled for f in config.feeds)
    out.print(
        f"{config.path.name}: ok ({len(config.feeds)} feeds, {enabled} enabled; "
        f"{len(config.watch)} watched entities; store at {config.store})"
    )
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    config = load(args)
    store = Store(config.store)
    with store.poller_lock():
        store.snapshot()  # a damaged store: one line, before any thread starts
        with alerting(config, store) as dispatcher:
            poller = Poller(
                config,
                store,
                log=lambda msg: err.print(msg),
                on_commit=dispatcher.on_commit,
                tone=not args.no_tone,
            )
            with progress_bar("recounting mentions") as bar:
                poller.open(progress=bar)
            if args.once:
                code = asyncio.run(_poll_once(poller))
                dispatcher.wait_idle(timeout=120)  # the messages due now go out before exiting
                return code
            err.print(f"polling {len(config.feeds)} feeds into {store.root}; Ctrl-C to stop")
            asyncio.run(_poll_forever(poller))
    return 0


async def _poll_once(poller: Poller) -> int:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    with progress_bar("polling feeds") as bar:
        summary = await poller.poll_once(stop=stop, progress=bar)
    print_summary(summary)
    return 0


async def _poll_forever(poller: Poller) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)

    def report(s: PollSummary) -> None:
        if not (s.new_articles or s.errors or s.moved or s.gone):
            return  # a round where every feed was unchanged: nothing to tell
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        err.print(f"[{stamp}] {summary_line(s)}")
        for name, error in s.errors:
            err.print(f"  failed: {name}: {error}")

    await poller.run(stop, on_poll=report)
    err.print("stopped")


def cmd_status(args: argparse.Namespace) -> int:
    config = load(args)
    snap = Store(config.store).snapshot()
    health = queries.feed_health(snap, datetime.now(UTC))
    known = {row["url"]: row for row in health.to_dict("records")} if len(health) else {}
    rows: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = known.get(feed.key) or {"status": "never polled", "articles": 0, "error": ""}
        hidden = [*url_secrets(feed.url), *feed.env_values()]  # also in stores of old versions
        rows.append(
            {
                "name": feed.name,
                "url": feed.key,
                "enabled": feed.enabled,
                "articles": int(row.get("articles") or 0),
                "status": row.get("status") or "never polled",
                "http_status": row.get("http_status"),
                "last_poll": _iso(row.get("last_poll")),
                "last_new": int(row.get("last_new") or 0),
                "failures": int(row.get("failures") or 0),
                "next_poll": _iso(row.get("next_poll")),
                "moved_to": redact_text(row.get("moved_to") or "", hidden),
                "error": redact_text(row.get("error") or "", hidden),
            }
        )
    delivery = delivery_status(snap)  # alerts and digests not delivered: one line
    if args.format == "json":
        out.print_json(data=rows)
        if delivery:
            err.print(delivery, markup=False)
        print_quarantine_notice(snap, err)  # stdout stays the documented list of feeds
        return 0
    table = Table(
        title=f"{len(rows)} feeds · data as of {_iso(queries.data_as_of(snap)) or 'never'}"
    )
    for col in (
        "name",
        "status",
        "http",
        "last poll",
        "new",
        "articles",
        "fails",
        "next poll",
        "note",
    ):
        table.add_column(
            col, justify="right" if col in ("http", "new", "articles", "fails") else "left"
        )
    for r in rows:
        note = r["error"] or (f"moved to {r['moved_to']}" if r["moved_to"] else "")
        if not r["enabled"]:
            note = "disabled"
        table.add_row(
            r["name"],
            r["status"],
            str(r["http_status"] or ""),
            _short(r["last_poll"]),
            str(r["last_new"]),
            str(r["articles"]),
            str(r["failures"]),
            _short(r["next_poll"]),
            note,
        )
    out.print(table)
    if delivery:
        out.print(delivery, markup=False)
    print_quarantine_notice(snap, out)
    return 0


def print_quarantine_notice(snap: Snapshot, console: Console) -> None:
    """One line per damaged store file taken out of the tables and not yet seen by repair."""
    for q in snap.quarantined:
        if not q.acknowledged:
            lost = "an unknown number of" if q.rows_lost is None else f"{q.rows_lost:,}"
            console.print(
                f"store: {escape(q.path)} was damaged ({escape(q.reason)}) and was quarantined "
                f"on {q.time:%Y-%m-%d %H:%M} UTC; {lost} rows lost. "
                "See `monitor check`; `monitor repair` marks it as seen."
            )


def _iso(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat(timespec="seconds")
    return str(value)


def _short(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else ""


def resolve_feeds(names: Sequence[str], tags: Sequence[str], config: Config) -> tuple[str, ...]:
    """Feed keys (URLs, secrets hidden) for feed names (or URLs) and tags; unknown ones are an
    error."""
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


def _filters(args: argparse.Namespace, config: Config) -> queries.Filters:
    return queries.Filters(
        start=args.since,
        end=args.until,
        entities=resolve_entities(args.entity or [], config),
        feeds=resolve_feeds(args.feed or [], args.tag or [], config),
        search=args.search or "",
    )


def cmd_mentions(args: argparse.Namespace) -> int:
    config = load(args)
    snap = Store(config.store).snapshot()
    with_tone = args.with_tone
    df = queries.mention_counts(snap, _filters(args, config), args.by, with_tone=with_tone)
    if args.by != "none":
        df["period"] = pd.to_datetime(df["period"]).dt.strftime("%Y-%m-%d")
        df = df.sort_values(["mentions", "period", "entity"], ascending=[False, True, True])
    df = df[mention_columns(args.by != "none", with_tone)]
    if with_tone:
        df = df.assign(tone=df["tone"].round(3))
    print_frame(df.reset_index(drop=True), args.format, "mentions")
    return 0


def mention_columns(by_period: bool, with_tone: bool) -> list[str]:
    period = ["period"] if by_period else []
    tone = ["tone"] if with_tone else []
    return ["entity", "kind", *period, "mentions", "articles", "stories", *tone]


def cmd_names(args: argparse.Namespace) -> int:
    """`monitor names`: rising names the watchlist does not cover (see queries.rising_names)."""
    config = load(args)
    snap = Store(config.store).snapshot()
    f = queries.Filters(start=args.since, end=args.until)
    df = queries.rising_names(snap, f, limit=args.limit)
    if args.format == "json":
        df = df.assign(growth=df["growth"].round(3))
    elif args.format == "csv":
        df = df.assign(**{"with": ["; ".join(w) for w in df["with"]]})
    else:
        df = df.assign(
            growth=["new" if pd.isna(g) else f"{g:+.0%}" for g in df["growth"]],
            **{"with": [escape(", ".join(w)) for w in df["with"]]},
        )
    print_frame(df, args.format, "names not on the watchlist")
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    config = load(args)
    snap = Store(config.store).snapshot()
    page = queries.articles(snap, _filters(args, config), limit=args.limit)
    df = pd.DataFrame(
        {
            "time": pd.to_datetime(page["published"]).dt.strftime("%Y-%m-%d %H:%M"),
            "feed": page["feed_name"],
            "title": page["title"],
            "url": page["url"],
            "mentions": page["mentions"],
        }
    )
    if args.format == "json":
        df["id"] = [f"{int(i) & (2**64 - 1):016x}" for i in page["id"]]
        df["entities"] = page["entities"]
        df["date_flag"] = page["date_flag"]
    print_frame(df, args.format, "articles")
    return 0


def cmd_rematch(args: argparse.Namespace) -> int:
    config = load(args)
    store = Store(config.store)
    poller = Poller(config, store, tone=not args.no_tone)
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
    path = resolve_config_path(args.config)
    if path.exists():
        load_config(path)
    report = import_opml(Path(args.file), path)
    out.print(f"added {len(report.added)} feeds to {path.name}; skipped {len(report.skipped)}")
    for url in report.added:
        out.print(f"  + {redact_url(url)}")
    load_config(path)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .store import check_store

    config = load(args)
    health = check_store(Store(config.store))
    if args.format == "json":
        out.print_json(data=health_json(health))
        return 0 if health.healthy else 2
    root = escape(str(health.root))
    if not health.exists:
        out.print(f"no store at {root} yet (nothing polled): nothing to check")
        return 0
    if health.healthy:
        rows = ", ".join(f"{n:,} {t}" for t, n in health.rows.items())
        out.print(f"store {root}: healthy · seq {health.seq} · {health.files} files · {rows}")
    else:
        n = len(health.problems)
        out.print(f"store {root}: {n} problem{'s' * (n != 1)}")
    for f in health.problems:
        out.print(f"problem: {escape(f.path)}: {escape(f.message)}")
    for f in health.notes:
        out.print(f"note: {escape(f.path)}: {escape(f.message)}")
    if not health.healthy:
        out.print(
            "run `monitor repair` to fix them: it quarantines damaged files (never deletes them) "
            "and says which rows were lost"
        )
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
    store = Store(config.store)
    if not store.root.is_dir():
        out.print(f"no store at {escape(str(store.root))} yet: nothing to repair")
        return 0
    with store.poller_lock():
        report = repair_store(store)
        for line in report.actions:
            out.print(escape(line))
        for q in report.quarantined:
            lost = "an unknown number of" if q.rows_lost is None else f"{q.rows_lost:,}"
            where = f"kept as {q.moved_to}" if q.moved_to else "there was no file to keep"
            out.print(
                f"quarantined {escape(q.path)}: {escape(q.reason)}; {lost} rows lost "
                f"({escape(where)})"
            )
        if report.recount:
            with progress_bar("recounting mentions") as bar:
                rows = Poller(config, store).rematch(bar)
            out.print(f"recounted mentions: {rows:,} article-entity rows")
    if not report.changed:
        out.print(f"store {escape(str(store.root))}: nothing to repair")
    health = check_store(store)
    for f in health.problems:
        out.print(f"problem: {escape(f.path)}: {escape(f.message)}")
    if health.healthy:
        out.print(f"store {escape(str(store.root))}: healthy")
    return 0 if health.healthy else 2


def dashboard_command(config_path: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    if not DASHBOARD.is_file():
        raise MonitorError(
            f"dashboard.py not found at {DASHBOARD} (run from a clone of the project)"
        )
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
    ]


def start_dashboard(config_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MONITOR_CONFIG": str(config_path)}
    # run from the project folder, where .streamlit/config.toml lives
    return subprocess.Popen(dashboard_command(config_path, port), env=env, cwd=DASHBOARD.parent)


def cmd_dashboard(args: argparse.Namespace) -> int:
    config = load(args)
    out.print(f"dashboard: http://127.0.0.1:{args.port}/  (Ctrl-C to stop)")
    proc = start_dashboard(config.path, args.port)
    return _wait_child(proc)


def _wait_child(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = load(args)
    store = Store(config.store)
    with store.poller_lock():
        store.snapshot()  # a damaged store: one line, before anything starts
        proc = start_dashboard(config.path, args.port)
        out.print(
            f"dashboard: http://127.0.0.1:{args.port}/ · "
            f"polling {len(config.feeds)} feeds; Ctrl-C stops both"
        )
        try:
            with alerting(config, store) as dispatcher:
                poller = Poller(
                    config,
                    store,
                    log=lambda msg: err.print(msg),
                    on_commit=dispatcher.on_commit,
                    tone=not args.no_tone,
                )
                poller.open()
                asyncio.run(_poll_forever(poller))
        finally:
            _stop_child(proc)
    return 0


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


# --------------------------------------------------------------------------------------------
# alerts and digests: `monitor alerts [backtest | send-test]`, `monitor digest`


@contextlib.contextmanager
def alerting(config: Config, store: Store) -> Iterator[Dispatcher]:
    """The alert dispatcher beside a poller: rules read after each commit, messages sent in
    a background thread (see monitor/delivery.py)."""
    dispatcher = Dispatcher(store, config, log=lambda msg: err.print(msg, markup=False))
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
    config = load(args)
    snap = Store(config.store).snapshot()
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
        out.print_json(data=rows)
        return 0
    table = Table(title=f"{len(rows)} alert rules")
    for col in ("name", "when", "watches", "to", "last fired", "firing now"):
        table.add_column(col, no_wrap=col in ("name", "last fired"))
    for rule, row in zip(config.alerts, rows, strict=True):
        watches = rule.selector or ("every feed" if not rule.feeds else f"{len(rule.feeds)} feeds")
        table.add_row(
            *(
                Text(v)
                for v in (
                    rule.name,
                    f"{rule.when}, {row['window']}",
                    watches,
                    "\n".join(row["targets"]) or "(nobody: recorded only)",
                    _short(row["last_fired"] or "") or "never",
                    ", ".join(row["firing"]),
                )
            )
        )
    out.print(table)
    if not config.alerts:
        out.print("No alert rules: add some under alerts: in feeds.yaml.")
    return 0


def cmd_alerts_backtest(args: argparse.Namespace) -> int:
    config = load(args)
    for name in args.name or []:
        _find_named(config.alerts, name, "alert rule")
    if not config.alerts:
        raise MonitorError("feeds.yaml has no alert rules (alerts:) to backtest")
    snap = Store(config.store).snapshot()
    firings = alerts.backtest(snap, config, args.since, args.until, args.name or [])
    rows = [f.public() for f in firings]
    if args.format == "json":
        out.print_json(data=rows)
        return 0
    df = pd.DataFrame(rows, columns=["alert", "entity", "fired", "value", "baseline"])
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return 0
    table = Table(title=f"{len(rows)} firings (backtest)")
    for col in df.columns:
        table.add_column(col, justify="right" if col in ("value", "baseline") else "left")
    for f in firings:
        table.add_row(
            Text(f.alert),
            Text(f.entity),
            f.fired.strftime("%Y-%m-%d %H:%M"),
            alerts.fmt(f.value),
            alerts.fmt(f.baseline),
        )
    out.print(table)
    return 0


def cmd_alerts_send_test(args: argparse.Namespace) -> int:
    config = load(args)
    rule = _find_named(config.alerts, args.rule, "alert rule")
    if not rule.to:
        raise MonitorError(f'the alert rule "{rule.name}" has no targets (add to: [...])')
    snap = Store(config.store).snapshot()
    firing = alerts.sample_firing(snap, config, rule, datetime.now(UTC))
    message = alerts.alert_message(rule, firing, snap, config, test=True)
    answers = send_now(config, rule.to, message)
    return _print_answers(answers)


def _print_answers(answers: Sequence[notify.Answer]) -> int:
    for a in answers:
        line = Text(f"{a.target}: ")
        line.append("sent", style="green") if a.ok else line.append(f"failed: {a.detail}", "red")
        out.print(line)
    return 0 if all(a.ok for a in answers) else 2


def cmd_digest(args: argparse.Namespace) -> int:
    config = load(args)
    d = _find_named(config.digests, args.name, "digest")
    store = Store(config.store)
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
        out.print(Text(f"wrote {path} ({edition.message.title})"))
        return 0
    answers = send_now(config, d.to, edition.message)
    if any(a.ok for a in answers):
        record_edition(store, d.name, end)
    return _print_answers(answers)


def record_edition(store: Store, name: str, end: datetime) -> None:
    """Remember that an edition up to `end` went out, so the next covers the time after it."""

    def change(state: dict[str, Any]) -> None:
        digests = state.setdefault("digests", {})
        last = digests.get(name)
        if last is None or datetime.fromisoformat(last["until"]) < end:
            digests[name] = {"until": end.isoformat()}

    update_alerts(store, change)


def add_alert_commands(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    sp = add("alerts", cmd_alerts, "list the alert rules, their targets, when each last fired")
    sp.add_argument("--format", dest="list_format", choices=("table", "json"), default="table")
    sp.set_defaults(alerts_command=None)
    sub = sp.add_subparsers(dest="alerts_command", metavar="{backtest,send-test}")
    bt = sub.add_parser(
        "backtest",
        help="when each rule would have fired on the stored history",
        description="Evaluate the rules at every hour boundary of a range, as the poller "
        "would have, and list each firing.",
    )
    bt.add_argument("--since", type=parse_when, metavar="DATE", help="from (default: the start)")
    bt.add_argument(
        "--until",
        type=lambda v: parse_when(v, end=True),
        metavar="DATE",
        help="up to (default: now)",
    )
    bt.add_argument("--name", action="append", metavar="NAME", help="only this rule (repeatable)")
    bt.add_argument("--format", choices=("table", "csv", "json"), default="table")
    st = sub.add_parser(
        "send-test",
        help="send a sample message through a rule's targets",
        description="Send a sample message through a rule's targets and say what each answered.",
    )
    st.add_argument("rule", metavar="NAME")
    sp = add("digest", cmd_digest, "render a digest now and send it, or write it with --out")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument(
        "--now",
        action="store_true",
        help="cover the time since the last edition up to now (default: the last scheduled one)",
    )
    sp.add_argument(
        "--out", metavar="FILE.html", help="write the HTML to a file instead of sending"
    )


# --------------------------------------------------------------------------------------------
# argument parsing


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitor",
        description="Poll news feeds, count mentions of a watchlist, and explore them.",
    )
    p.add_argument("--version", action="version", version=f"monitor {__version__}")
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help="feeds.yaml to use (default: $MONITOR_CONFIG, else ./feeds.yaml)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    add("validate", cmd_validate, "check feeds.yaml and report every error in it")
    sp = add("poll", cmd_poll, "poll the feeds into the store (until stopped, or --once)")
    sp.add_argument(
        "--once", action="store_true", help="poll every enabled feed once, now, and exit"
    )
    no_tone(sp)
    sp = add("status", cmd_status, "show the health of every feed")
    sp.add_argument("--format", choices=("table", "json"), default="table")

    def counting(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--entity",
            action="append",
            metavar="NAME",
            help="a watched entity (repeat for several)",
        )
        sp.add_argument(
            "--since",
            type=parse_when,
            metavar="DATE",
            help="from this date (UTC), or 7d for a week ago",
        )
        sp.add_argument(
            "--until",
            type=lambda v: parse_when(v, end=True),
            metavar="DATE",
            help="up to and including this date (UTC)",
        )
        sp.add_argument(
            "--feed",
            action="append",
            metavar="NAME",
            help="only articles from this feed (name or URL; repeat for several)",
        )
        sp.add_argument(
            "--tag", action="append", metavar="TAG", help="only articles from feeds with this tag"
        )
        sp.add_argument(
            "--search",
            metavar="WORDS",
            help="only articles whose title or text contains these words",
        )
        sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sp = add("mentions", cmd_mentions, "mentions, articles and stories per entity (and period)")
    counting(sp)
    sp.add_argument("--by", choices=("none", "hour", "day", "week", "month"), default="none")
    sp.add_argument(
        "--with-tone", action="store_true", help="add the mean tone of the mentions (-1..1)"
    )
    sp = add("names", cmd_names, "rising names in the articles that the watchlist does not cover")
    sp.add_argument("--since", type=parse_when, metavar="DATE", help="from this date (UTC)")
    sp.add_argument(
        "--until",
        type=lambda v: parse_when(v, end=True),
        metavar="DATE",
        help="up to and including this date (default: the newest article; 7 days before it "
        "without --since)",
    )
    sp.add_argument("--limit", type=int, default=50, metavar="N")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sp = add("articles", cmd_articles, "the articles behind a count, newest first")
    counting(sp)
    sp.add_argument("--limit", type=int, default=50, metavar="N")
    sp = add("rematch", cmd_rematch, "recount every mention after the watchlist changed")
    no_tone(sp)
    sp = add("check", cmd_check, "check the store's health (exit 2 when it has problems)")
    sp.add_argument("--format", choices=("table", "json"), default="table")
    add(
        "repair",
        cmd_repair,
        "repair a damaged store: rebuild its manifest, quarantine damaged files",
    )
    sp = add("import-opml", cmd_import_opml, "add the feeds of an OPML file to feeds.yaml")
    sp.add_argument("file", metavar="FILE")
    sp = add("dashboard", cmd_dashboard, "start the dashboard (Streamlit)")
    sp.add_argument("--port", type=int, default=8501)
    sp = add("run", cmd_run, "poll the feeds and serve the dashboard together")
    sp.add_argument("--port", type=int, default=8501)
    no_tone(sp)
    add_alert_commands(add)
    sp = add(
        "demo", cmd_demo, "run an offline demo: a synthetic news world, the poller, the dashboard"
    )
    from .demo import add_arguments as add_demo_arguments  # stdlib only: cheap

    add_demo_arguments(sp)
    return p


def no_tone(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--no-tone",
        action="store_true",
        help="skip scoring the tone of mentions (the slowest analysis; for bulk imports)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False)
        n = len(exc.issues)
        err.print(f"{n} error{'s' if n != 1 else ''} in the configuration", markup=False)
        return 1
    except MonitorError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
