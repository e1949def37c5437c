"""The `monitor` command line. Thin: it parses arguments, calls the package, prints results.

Every command reads feeds.yaml first (`-c PATH`, before or after the command, else
$MONITOR_CONFIG, else ./feeds.yaml) and stops with the file's errors, one per line, and exit
status 1 when it is not valid. Any other failure is one line on standard error and exit
status 2, never a traceback (`MONITOR_DEBUG=1` shows the traceback as well); a reader that
closes the pipe early (`monitor articles | head`) ends the command quietly with status 141, as
other Unix tools do.

Output goes through console.py, which shows text from feeds and feeds.yaml literally. The
heavy libraries (pandas, DuckDB, aiohttp, rich's tables) are imported inside the commands that
need them, so `--help`, `--version` and `validate` answer at once.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .console import err, out, print_json, print_summary, print_table, progress_bar, write_data
from .errors import ConfigError, MonitorError, OpmlError, OutputError

if TYPE_CHECKING:
    import pandas as pd

    from .config import Config
    from .poll import Poller
    from .queries import Filters

DEBUG_ENV = "MONITOR_DEBUG"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool cut off by `head`


# --------------------------------------------------------------------------------------------
# helpers


def load(args: argparse.Namespace) -> Config:
    from .config import load_config, resolve_config_path

    return load_config(resolve_config_path(args.config))


# Relative dates: the same whole periods as the dashboard's "last 24 hours" / "last 30 days"
# (dashboard.py preset_range): `30d` starts at 00:00 UTC 29 days ago, so the 30 days include
# today; `24h` starts at the top of the hour 23 hours ago, so the 24 hours include this one.
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


def _store(config: Config) -> Any:
    from .store import Store

    return Store(config.store)


def _poller(config: Config, store: Any, log: bool = True) -> Poller:
    from .poll import Poller

    return Poller(config, store, log=err.print if log else None)


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
    import asyncio

    config = load(args)
    store = _store(config)
    with store.poller_lock():
        poller = _poller(config, store)
        with progress_bar("recounting mentions") as bar:
            poller.open(progress=bar)
        if args.once:
            return asyncio.run(_poll_once(poller))
        from .runner import poll_forever

        err.print(f"polling {len(config.feeds)} feeds into {store.root}; Ctrl-C to stop")
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

    config = load(args)
    snap = _store(config).snapshot()
    health = queries.feed_health(snap, datetime.now(UTC))
    known = {row["url"]: row for row in health.to_dict("records")} if len(health) else {}
    rows: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = known.get(feed.url) or {}
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "enabled": feed.enabled,
                "articles": _int(row.get("articles")) or 0,
                "status": _text(row.get("status")) or "never polled",
                "http_status": _int(row.get("http_status")),
                "last_poll": _iso(row.get("last_poll")),
                "last_new": _int(row.get("last_new")) or 0,
                "failures": _int(row.get("failures")) or 0,
                "next_poll": _iso(row.get("next_poll")),
                "moved_to": _text(row.get("moved_to")),
                "error": _text(row.get("error")),
            }
        )
    if args.format == "json":
        print_json(rows)
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
                str(r["last_new"]),
                str(r["articles"]),
                str(r["failures"]),
                _short(r["next_poll"]),
                note,
            ]
        )
    columns = ["name", "status", "http", "last poll", "new", "articles", "fails", "next poll"]
    print_table([*columns, "note"], table, title=title, right=["http", "new", "articles", "fails"])
    return 0


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
    df = queries.mention_counts(snap, _filters(args, config), args.by)
    if args.by != "none":
        # a time series: in time order, entities alphabetical within a period
        df = df.sort_values(["period", "entity"], ignore_index=True)
        df["period"] = pd.to_datetime(df["period"]).dt.strftime(
            "%Y-%m-%d %H:00" if args.by == "hour" else "%Y-%m-%d"
        )
        df = df[["entity", "kind", "period", "mentions", "articles"]]
    print_frame(df.reset_index(drop=True), args.format)
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import queries

    config = load(args)
    snap = _store(config).snapshot()
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
    print_frame(df, args.format)
    return 0


def cmd_rematch(args: argparse.Namespace) -> int:
    config = load(args)
    store = _store(config)
    poller = _poller(config, store, log=False)
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

    path = resolve_config_path(args.config)
    if path.exists():
        load_config(path)
    report = import_opml(Path(args.file), path)
    out.print(
        f"added {len(report.added)} feed{'s' if len(report.added) != 1 else ''} to {path}; "
        f"skipped {len(report.skipped)}"
    )
    for name, url in zip(report.added_names, report.added, strict=True):
        out.print(f"  + {name} <{url}>")
    for url, why in zip(report.skipped, report.reasons, strict=True):
        out.print(f"  skipped {url}: {why}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from .runner import start_dashboard, wait_child

    config = load(args)
    out.print(f"dashboard: http://127.0.0.1:{args.port}/  (Ctrl-C to stop)")
    proc = start_dashboard(config.path, args.port)
    return wait_child(proc)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from .runner import poll_forever, start_dashboard, stop_child

    config = load(args)
    store = _store(config)
    with store.poller_lock():
        proc = start_dashboard(config.path, args.port)
        out.print(
            f"dashboard: http://127.0.0.1:{args.port}/ · "
            f"polling {len(config.feeds)} feeds; Ctrl-C stops both"
        )
        try:
            poller = _poller(config, store)
            poller.open()
            asyncio.run(poll_forever(poller))
        finally:
            stop_child(proc)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


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


def build_parser() -> argparse.ArgumentParser:
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
        if config:  # the demo writes a feeds.yaml of its own
            _add_config(sp, top=False)
        return sp

    add("validate", cmd_validate, "check feeds.yaml and report every error in it")
    sp = add("poll", cmd_poll, "poll the feeds into the store (until stopped, or --once)")
    sp.add_argument(
        "--once", action="store_true", help="poll every enabled feed once, now, and exit"
    )
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

    sp = add("mentions", cmd_mentions, "mentions and articles per entity (and period)")
    counting(sp)
    sp.add_argument(
        "--by",
        choices=("none", "hour", "day", "week", "month"),
        default="none",
        help="one row per entity and period (UTC; weeks start on Monday), sorted by period, "
        "then entity; none: one row per entity, most mentioned first (default: %(default)s)",
    )
    sp = add("articles", cmd_articles, "the articles behind a count, newest first")
    counting(sp)
    sp.add_argument(
        "--limit",
        type=_positive,
        default=50,
        metavar="N",
        help="show at most N articles, newest first (default: %(default)s)",
    )
    add("rematch", cmd_rematch, "recount every mention after the watchlist changed")
    sp = add("import-opml", cmd_import_opml, "add the feeds of an OPML file to feeds.yaml")
    sp.add_argument(
        "file",
        metavar="FILE",
        help="an OPML file (a feed reader's export); feeds already in feeds.yaml, repeated "
        "or not http(s) are skipped and listed",
    )
    port_help = "serve the dashboard on 127.0.0.1 at this port (default: %(default)s)"
    sp = add("dashboard", cmd_dashboard, "start the dashboard (Streamlit)")
    sp.add_argument("--port", type=_port, default=8501, metavar="N", help=port_help)
    sp = add("run", cmd_run, "poll the feeds and serve the dashboard together")
    sp.add_argument("--port", type=_port, default=8501, metavar="N", help=port_help)
    sp = add(
        "demo",
        cmd_demo,
        "run an offline demo: a synthetic news world, the poller, the dashboard",
        config=False,
    )
    sp.add_argument(
        "--seed",
        type=int,
        default=7,
        metavar="N",
        help="random seed of the news world; the same seed gives the same world "
        "(default: %(default)s)",
    )
    sp.add_argument(
        "--days",
        type=_positive,
        default=90,
        metavar="N",
        help="days of history (default: %(default)s)",
    )
    sp.add_argument(
        "--outlets",
        type=_positive,
        default=40,
        metavar="N",
        help="news outlets, one feed each (default: %(default)s)",
    )
    sp.add_argument(
        "--articles-per-day",
        type=_positive,
        default=500,
        metavar="N",
        help="articles published per day across all outlets (default: %(default)s)",
    )
    sp.add_argument(
        "--port",
        type=_port,
        default=8501,
        metavar="N",
        help="dashboard port; the next free one if taken (default: %(default)s)",
    )
    sp.add_argument(
        "--dir",
        default=".monitor-demo",
        help="the demo's own folder, emptied at each start (default: %(default)s)",
    )
    sp.add_argument("--no-dashboard", action="store_true", help="poll the demo world once and exit")
    return p


# --------------------------------------------------------------------------------------------
# the top: exit statuses, errors, output that cannot be written


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
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
    sys.exit(main())
