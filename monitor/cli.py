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
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, queries
from .config import Config, import_opml, load_config, resolve_config_path
from .errors import ConfigError, MonitorError
from .poll import Poller, PollSummary, install_signal_handlers
from .store import Store

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
        poller = Poller(config, store, log=lambda msg: err.print(msg), tone=not args.no_tone)
        with progress_bar("recounting mentions") as bar:
            poller.open(progress=bar)
        if args.once:
            return asyncio.run(_poll_once(poller))
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
        row = known.get(feed.url) or {"status": "never polled", "articles": 0, "error": ""}
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "enabled": feed.enabled,
                "articles": int(row.get("articles") or 0),
                "status": row.get("status") or "never polled",
                "http_status": row.get("http_status"),
                "last_poll": _iso(row.get("last_poll")),
                "last_new": int(row.get("last_new") or 0),
                "failures": int(row.get("failures") or 0),
                "next_poll": _iso(row.get("next_poll")),
                "moved_to": row.get("moved_to") or "",
                "error": row.get("error") or "",
            }
        )
    if args.format == "json":
        out.print_json(data=rows)
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
    return 0


def _iso(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat(timespec="seconds")
    return str(value)


def _short(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else ""


def resolve_feeds(names: Sequence[str], tags: Sequence[str], config: Config) -> tuple[str, ...]:
    """Feed URLs for feed names (or URLs) and tags; unknown ones are an error."""
    by_name = {f.name.casefold(): f.url for f in config.feeds} | {
        f.url: f.url for f in config.feeds
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
        urls += [f.url for f in config.feeds if tag in f.tags]
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
        out.print(f"  + {url}")
    load_config(path)
    return 0


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
        proc = start_dashboard(config.path, args.port)
        out.print(
            f"dashboard: http://127.0.0.1:{args.port}/ · "
            f"polling {len(config.feeds)} feeds; Ctrl-C stops both"
        )
        try:
            poller = Poller(config, store, log=lambda msg: err.print(msg), tone=not args.no_tone)
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
    sp = add("import-opml", cmd_import_opml, "add the feeds of an OPML file to feeds.yaml")
    sp.add_argument("file", metavar="FILE")
    sp = add("dashboard", cmd_dashboard, "start the dashboard (Streamlit)")
    sp.add_argument("--port", type=int, default=8501)
    sp = add("run", cmd_run, "poll the feeds and serve the dashboard together")
    sp.add_argument("--port", type=int, default=8501)
    no_tone(sp)
    sp = add(
        "demo", cmd_demo, "run an offline demo: a synthetic news world, the poller, the dashboard"
    )
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--days", type=int, default=90)
    sp.add_argument("--outlets", type=int, default=40)
    sp.add_argument("--articles-per-day", type=int, default=500)
    sp.add_argument("--port", type=int, default=8501, help="dashboard port")
    sp.add_argument(
        "--dir", default=".monitor-demo", help="the demo's own folder (default .monitor-demo)"
    )
    sp.add_argument("--no-dashboard", action="store_true", help="poll the demo world once and exit")
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
