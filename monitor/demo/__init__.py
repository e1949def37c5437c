"""The offline demo: a synthetic news world, its server, and the `monitor demo` command.

- `monitor.demo.world`: the world generator and its exact ground truth; pure.
- `monitor.demo.server`: serves a world's feeds over HTTP on 127.0.0.1.
- `monitor.demo.command`: `monitor demo` (world + server + the real poller + the dashboard).

The demo is a user of the product, not part of it: nothing outside this package imports it
except the command line (`add_arguments`, `run_demo`), the tests and the benchmarks. This
module stays light (standard library only): the command imports the rest when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

# The sizes the demo accepts. The world lives in memory: about 1.5 KB per article (see the
# README for measured figures), so the history is capped by its number of articles.
MAX_DAYS = 3650
MAX_OUTLETS = 1000
MAX_ARTICLES_PER_DAY = 10_000
MAX_HISTORY = 300_000  # days x articles per day


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:,} to {hi:,}, got {n:,}")
        return n

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `monitor demo` (and so of `scripts/demo`)."""
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        metavar="N",
        help="the world's random seed: the same seed gives the same world (default: %(default)s)",
    )
    parser.add_argument(
        "--days",
        type=_int_in(1, MAX_DAYS),
        default=90,
        metavar="N",
        help="days of history before now (default: %(default)s)",
    )
    parser.add_argument(
        "--outlets",
        type=_int_in(1, MAX_OUTLETS),
        default=40,
        metavar="N",
        help=f"invented news outlets, one feed each, at most {MAX_OUTLETS:,} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--articles-per-day",
        type=_int_in(1, MAX_ARTICLES_PER_DAY),
        default=500,
        metavar="N",
        help=f"articles a day over all outlets; days x articles-per-day is at most "
        f"{MAX_HISTORY:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=_int_in(1, 65535),
        default=8501,
        metavar="PORT",
        help="the dashboard's port; a busy port is replaced by a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--dir",
        default=".monitor-demo",
        metavar="PATH",
        help="the demo's own folder (feeds.yaml, the store, the dashboard's log), emptied at "
        "each start; it refuses a folder it did not make (default: %(default)s)",
    )
    from monitor.access import add_serving_arguments

    add_serving_arguments(parser, demo=True)
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep the demo's store in this PostgreSQL database (postgresql://user@host/db) "
        "instead of --dir; it must be empty or hold an earlier demo's store, which is "
        "replaced (default: a folder in --dir)",
    )
    parser.add_argument(
        "--no-dashboard",
        action="store_true",
        help="ingest the world's history once, print a summary and exit (default: also serve "
        "the dashboard and keep polling until Ctrl-C)",
    )


def check_size(args: argparse.Namespace) -> str | None:
    """Why the requested world is too large, or None."""
    history = args.days * args.articles_per_day
    if history <= MAX_HISTORY:
        return None
    return (
        f"the demo world is capped at {MAX_HISTORY:,} articles of history; --days {args.days} "
        f"x --articles-per-day {args.articles_per_day:,} = {history:,} (lower one of them)"
    )


def run_demo(args: argparse.Namespace) -> int:
    """Run `monitor demo` with parsed arguments; see `monitor.demo.command`."""
    from .command import run_demo

    return run_demo(args)
