"""`monitor demo`: the offline demo, start to finish.

Generates the synthetic news world (world.py), serves it on 127.0.0.1 (server.py), writes a
feeds.yaml for it in the demo's own folder, runs the real poller over real HTTP into a store
in that folder, and serves the dashboard on top. Nothing outside the folder is touched, and
each start begins afresh.

How the history gets in: every demo feed carries only its newest `FEED_ITEMS` items, as real
feeds carry a recent window, so no response comes near the poller's size cap
(`poll.max_bytes`, 10 MB by default) whatever the size of the world. At start the demo catches
up on the history the way a poller that had been running all along would have seen it
(`catch_up`): the server shows the feeds as they were at successive moments of the past
(`World.catch_up_times`) and the real poller polls them at each. Then the server's clock joins
the wall clock and the poller keeps polling every 30 s while new articles arrive.

The console shows the demo's own lines only: progress while the history comes in, a summary,
and the dashboard's URL once the history is in and the dashboard answers (Streamlit's own
output goes to `dashboard.log` in the folder).

What it leaves to others: the world (world.py), serving it (server.py), polling and storing
(the product: `monitor.poll`, `monitor.store`), and writing to the terminal and running the
dashboard's process (`monitor.console`, `monitor.runner`, shared with the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor.access import plan_serving, serving_url
from monitor.config import STORE_ENV, Config, FeedConfig, load_config
from monitor.console import Output, err, out, print_summary
from monitor.delivery import Dispatcher
from monitor.demo import check_size
from monitor.demo.server import DemoServer, serve_world
from monitor.demo.world import World
from monitor.errors import ConfigError, ConfigIssue, MonitorError
from monitor.poll import Poller, PollSummary, install_signal_handlers
from monitor.runner import DASHBOARD, dashboard_command, dashboard_env, poll_forever, stop_child
from monitor.secrets import redact_url
from monitor.store import Store, open_store

MARKER = ".monitor-demo"
FEED_ITEMS = 1500  # items a demo feed carries: at most ~4 MB (the largest item is ~2.7 KB)
ATTEMPTS = 3  # tries per feed and moment while catching up (the flaky feed fails now and then)
DASHBOARD_WAIT = 90.0  # seconds to wait for the dashboard to answer once the history is in

# (feeds polled, feeds to poll, articles stored, the moment being caught up to, article pages
# read, article pages waiting)
CatchUpProgress = Callable[[int, int, int, datetime, int, int], None]


def prepare_folder(folder: Path) -> None:
    """Empty the demo folder (only if it is one of ours) and mark it."""
    if folder.exists() and not folder.is_dir():
        raise MonitorError(f"{folder} is a file, not a folder; choose another with --dir")
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise MonitorError(f"{folder} exists and is not a demo folder; choose another with --dir")
    try:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / MARKER).write_text("created by `monitor demo`; deleted at its next start\n")
    except OSError as exc:
        raise MonitorError(f"cannot prepare the demo folder {folder}: {exc.strerror}") from None


def free_port(preferred: int) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise MonitorError("no free TCP port on 127.0.0.1")


def write_config(world: World, folder: Path, base_url: str) -> Path:
    """The demo's feeds.yaml, in its folder, with its alert rule (`alert_rules`)."""
    text = world.feeds_yaml(base_url, store="data", every="30s") + alert_rules(world)
    # every demo feed lives on one loopback host: let the poller fetch several at a time
    text = text.replace("poll:\n", "poll:\n  per_host: 8\n", 1)
    path = folder / "feeds.yaml"
    path.write_text(text)
    return path


def alert_rules(world: World) -> str:
    """The `alerts:` part of the demo's feeds.yaml: a spike rule on the entity of the world's
    known spike (`World.spike`). It fires within the spike's first day and, at 4x and at least
    20 mentions, on nothing else in the history (the world's everyday ups and downs reach 3x).
    With no `to:` its firings are recorded in the store, for the dashboard's Alerts page and
    `monitor alerts`: the demo sends nothing anywhere."""
    if world.spike is None:
        return ""
    entity = world.spike[0]
    name = json.dumps(f"{entity} spike")  # a JSON string is a YAML string
    return (
        "alerts:  # no `to:`: what fires is recorded (Alerts page, `monitor alerts`), not sent\n"
        f"  - name: {name}\n"
        "    when: spike\n"
        f"    entity: {json.dumps(entity)}\n"
        "    window: 24h\n"
        "    baseline: 14d\n"
        "    factor: 4\n"
        "    min: 20\n"
    )


@contextlib.contextmanager
def demo_poller(config: Config, store: Store, log: Callable[[str], None]) -> Iterator[Poller]:
    """The demo's poller, with the alert dispatcher beside it as `monitor poll` runs it: the
    rules read after each commit, firings recorded, messages (none here) sent in a thread."""
    dispatcher = Dispatcher(store, config, log=log)
    dispatcher.start()
    try:
        yield Poller(config, store, log=log, on_commit=dispatcher.on_commit)
    finally:
        dispatcher.stop()


# --------------------------------------------------------------------------------------------
# Catching up on the history


@dataclass
class CatchUp:
    """What catching up did: `summary` has one count per feed (its last outcome)."""

    summary: PollSummary
    moments: int
    stopped: bool = False


async def catch_up(
    poller: Poller,
    server: DemoServer,
    *,
    until: datetime | None = None,
    stop: asyncio.Event | None = None,
    progress: CatchUpProgress | None = None,
) -> CatchUp:
    """Ingest the world's history up to `until` (default: the server's clock now).

    With `server.limit` set, the server's clock steps through `World.catch_up_times` and the
    poller polls every feed at the first moment, then at each moment the feeds that have new
    items since. A feed that fails is tried again (up to `ATTEMPTS` times) before the clock
    moves on, so the flaky feed loses nothing; feeds that never deliver (gone, an HTML page)
    are polled at the first moment only. Once the history and its pages are in, its stories
    are grouped again in order of publication (`Poller.rematch`). The server's clock is
    restored at the end.
    """
    world = server.world
    clock = server.clock
    until = until or clock()
    moments = world.catch_up_times(until, server.limit) if server.limit else [until]
    paths = _world_paths(poller.config, server)
    feeds = [f for f in poller.config.feeds if f.enabled and f.url in paths]
    delivering = [f for f in feeds if world.outlet_of(paths[f.url]).delivers]
    seen: dict[str, int] = {}  # feed url -> its items visible when it was last polled well

    def due(at: datetime, before: dict[str, int]) -> list[FeedConfig]:
        visible = world.visible_count
        return [f for f in delivering if visible(paths[f.url], at) > before.get(f.url, 0)]

    # the fetches planned if every one succeeds (a feed tried again adds one)
    planned = {f.url: world.visible_count(paths[f.url], moments[0]) for f in feeds}
    total = len(feeds)
    for at in moments[1:]:
        todo = due(at, planned)
        total += len(todo)
        planned.update({f.url: world.visible_count(paths[f.url], at) for f in todo})

    result = CatchUp(PollSummary(), len(moments))
    done = 0
    started = time.monotonic()
    try:
        for i, at in enumerate(moments):
            server.clock = _fixed(at)
            todo = feeds if i == 0 else due(at, seen)
            for attempt in range(ATTEMPTS):
                base = done

                def report(n: int, _: int, base: int = base, total: int = total) -> None:
                    if progress is not None:
                        read, waiting = poller.pages.attempts, poller.pages.due()
                        progress(base + n, total, _articles(poller), server.clock(), read, waiting)

                step = await poller.poll(todo, stop=stop, progress=report)
                done += len(todo)
                result.summary.new_articles += step.new_articles
                result.summary.new_mentions += step.new_mentions
                result.summary.add(PollSummary(pages=step.pages))
                failed = []
                for feed in todo:
                    state = poller.states.get(feed.url)
                    if state is not None and state.last_outcome in ("ok", "unchanged"):
                        seen[feed.url] = world.visible_count(paths[feed.url], at)
                    elif feed in delivering:
                        failed.append(feed)
                if stop is not None and stop.is_set():
                    result.stopped = True
                    return result
                if not failed or attempt == ATTEMPTS - 1:
                    break
                todo = failed
                total += len(todo)

        # the pages of the history's articles, read in the background while it came in
        def report_pages(read: int, waiting: int) -> None:
            if progress is not None:
                progress(done, total, _articles(poller), until, read, waiting)

        result.summary.add(PollSummary(pages=await poller.read_pages(stop, report_pages)))
        if stop is not None and stop.is_set():
            result.stopped = True
            return result
        if result.summary.new_articles:
            # The poller groups each article as it arrives, on its feed's text (summary feeds
            # carry one sentence) and in the order feeds answer; the history's pages are in
            # now: group it again on the text read, in order of publication, as `monitor
            # rematch` does, so that the demo's stories are the world's.
            poller.log("grouping the history's syndicated copies into stories")
            poller.rematch()
        if progress is not None:  # the last poll's rows are committed now: the final count
            progress(done, total, _articles(poller), until, poller.pages.attempts, 0)
    finally:
        server.clock = clock
        _final_outcomes(result.summary, poller, feeds)
        result.summary.seconds = time.monotonic() - started
    return result


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def _world_paths(config: Config, server: DemoServer) -> dict[str, str]:
    """Feed URL in the config -> the path the world serves it at (after a move)."""
    out = {}
    for path in server.world.feed_paths():
        outlet = server.world.outlet_of(path)
        out[server.url(path)] = outlet.moved_to or path
    return {f.url: out[f.url] for f in config.feeds if f.url in out}


def _articles(poller: Poller) -> int:
    return poller.store.snapshot().rows("articles")


def _final_outcomes(summary: PollSummary, poller: Poller, feeds: list[FeedConfig]) -> None:
    """One count per feed, from its last outcome (not one per poll)."""
    for feed in feeds:
        state = poller.states.get(feed.url)
        outcome = state.last_outcome if state is not None else ""
        if outcome in ("ok", "unchanged"):
            summary.ok += 1
        elif outcome == "gone":
            summary.gone += 1
        elif outcome == "failed" and state is not None:
            summary.failed += 1
            summary.errors.append((feed.name, state.last_error))
        if state is not None and state.moved_to:
            summary.moved.append((feed.name, state.moved_to))


# --------------------------------------------------------------------------------------------
# The dashboard, quietly


@dataclass
class Dashboard:
    """The dashboard's Streamlit process, its output in a log file rather than the console."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return serving_url(self.host, self.port, None)

    def answers(self) -> bool:
        """Whether Streamlit's health check says ok."""
        here = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        try:
            health = f"{serving_url(here, self.port, None)}_stcore/health"
            with urllib.request.urlopen(health, timeout=2) as r:
                return bool(r.read().strip() == b"ok")
        except OSError:  # refused, reset, timed out (URLError is an OSError)
            return False

    def wait_ready(self, timeout: float = DASHBOARD_WAIT) -> bool:
        """True once the dashboard answers; False if it was asked to stop before it did (Ctrl-C
        or SIGTERM reach it too: Streamlit then says "Stopping..."); a one-line error if it
        died otherwise or never answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self._last_line().startswith("Stopping..."):
                    return False
                raise MonitorError(f"the dashboard stopped at start: {self._last_line()}")
            if self.answers():
                return True
            time.sleep(0.25)
        raise MonitorError(f"the dashboard did not answer within {timeout:.0f} s (see {self.log})")

    def _last_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return f"{lines[-1].strip()} (see {self.log})" if lines else f"see {self.log}"


# --------------------------------------------------------------------------------------------
# The command


def run_demo(args: argparse.Namespace) -> int:
    problem = check_size(args)
    if problem:
        raise MonitorError(problem)
    if not args.no_dashboard:  # the demo never signs in: beyond this machine only with --no-auth
        plan = plan_serving(args.host, args.no_auth, None, None)
        if plan.error:
            hint = "the demo never signs in: add --no-auth to make it public on purpose"
            raise ConfigError([ConfigIssue("monitor demo", None, "", plan.error, hint)])
        for note in plan.notes:
            err.print(f"note: {note}")
    folder = Path(args.dir).absolute()
    database = _prepare_database(args.store) if getattr(args, "store", None) else None
    prepare_folder(folder)
    # feeds.yaml says `store: data` (in the demo's folder); $MONITOR_STORE, which the dashboard
    # inherits, says otherwise: the database of --store, else nothing (never a store of the
    # user's that happens to be set in the environment)
    if database:
        os.environ[STORE_ENV] = database
    else:
        os.environ.pop(STORE_ENV, None)
    started = time.monotonic()
    world = World.generate(
        seed=args.seed,
        days=args.days,
        outlets=args.outlets,
        articles_per_day=args.articles_per_day,
        now=datetime.now(UTC),
        live_minutes=24 * 60,
    )
    history = world.expected_articles(world.now)
    out.print(
        f"demo world: {len(world.outlets)} outlets, {len(world.entities)} watched entities, "
        f"{history:,} articles over {args.days} days, more arriving (seed {args.seed})"
    )
    with serve_world(world, limit=FEED_ITEMS) as server:
        config_path = write_config(world, folder, server.base_url)
        config = load_config(config_path)
        store = open_store(config.store)
        dashboard = None
        if not args.no_dashboard:
            port = free_port(args.port)
            if port != args.port:
                err.print(f"port {args.port} is busy; the dashboard will use {port}")
            log = folder / "dashboard.log"
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    dashboard_command(config_path, port, args.host),
                    env=dashboard_env(config_path, no_auth=True),  # synthetic data, no sign-in
                    cwd=DASHBOARD.parent,  # where .streamlit/config.toml lives
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            dashboard = Dashboard(proc, port, log, args.host)
        try:
            with store.poller_lock(), demo_poller(config, store, err.print) as poller:
                poller.open()
                with _progress_display(err, world) as show:
                    result = asyncio.run(_catch_up_until_stopped(poller, server, show))
                print_summary(result.summary)
                if result.stopped:
                    err.print("stopped before the whole history was in")
                    return 0
                out.print(f"store: {store.location} · ready in {time.monotonic() - started:.1f} s")
                if dashboard is None:
                    out.print(f"config: {config_path}  (try: monitor -c {config_path} mentions)")
                    return 0
                try:  # Ctrl-C from here on is the way to stop, even before the dashboard answers
                    if not dashboard.answers():
                        err.print("waiting for the dashboard to start...")
                    if not dashboard.wait_ready():
                        err.print("stopped")
                        return 0
                    out.print(
                        f"\ndashboard: {dashboard.url}\n"
                        "new articles keep arriving; Ctrl-C stops the demo"
                    )
                    asyncio.run(poll_forever(poller))
                except KeyboardInterrupt:
                    err.print("stopped")
        finally:
            if dashboard is not None:
                stop_child(dashboard.proc)
    return 0


def _prepare_database(url: str) -> str:
    """The database for `--store`: empty, or filled by an earlier demo (then emptied)."""
    from monitor.store.postgres import PgStore

    if not url.lower().startswith(("postgresql://", "postgres://")):
        raise MonitorError(f"--store takes a postgresql:// URL, not {redact_url(url)}")
    store = open_store(url)
    assert isinstance(store, PgStore)
    if store.exists():
        snap = store.snapshot()
        filled = snap.feeds or any(snap.rows(t) for t in ("articles", "fetches"))
        if filled and not store.labels().get("demo"):
            raise MonitorError(
                f"the database {store.location} holds a store the demo did not make: give the "
                "demo an empty database (it never deletes data it did not write)"
            )
    store.erase({"demo": True})
    store.close()
    return url


async def _catch_up_until_stopped(
    poller: Poller, server: DemoServer, progress: CatchUpProgress
) -> CatchUp:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    return await catch_up(poller, server, stop=stop, progress=progress)


@contextlib.contextmanager
def _progress_display(console: Output, world: World) -> Iterator[CatchUpProgress]:
    """Progress while the history comes in: a live bar on a terminal, else a line every 5 s."""
    label = f"ingesting {world.days} days of history"
    if not console.is_terminal:
        printed: list[tuple[float, str]] = [(0.0, "")]  # when, what

        def line(done: int, total: int, articles: int, at: datetime, read: int, left: int) -> None:
            text = (
                f"{label}: {done}/{total} feeds polled, {articles:,} articles stored "
                f"(up to {at:%Y-%m-%d %H:%M} UTC), {read:,} article pages read"
                + (f", {left:,} to read" if left else "")
            )
            now = time.monotonic()
            when, last = printed[-1]
            if text != last and ((done == total and not left) or now - when >= 5):
                console.print(text)
                printed.append((now, text))

        yield line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn(f"ingesting {world.days} days"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("feeds · {task.fields[articles]:,} articles"),
        TextColumn("· {task.fields[pages]}"),
        TimeElapsedColumn(),
        console=console.rich(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, articles=0, pages="")

        def update(
            done: int, total: int, articles: int, at: datetime, read: int, left: int
        ) -> None:
            pages = f"{read:,} pages read" + (f", {left:,} to read" if left else "")
            bar.update(task, completed=done, total=total, articles=articles, pages=pages)

        yield update
