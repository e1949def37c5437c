"""Measure the dashboard on a large store: server memory, real-browser timings, concurrent sessions.

    python -m bench.bench_dashboard --config STORE/feeds.yaml --entities A,B,C,D,E
                                    [--runs 5] [--sessions 20]

Starts `streamlit run dashboard.py` (the recipe in ../shared/NOTES.md) with MONITOR_CONFIG set
and bench/sitehooks/sitecustomize.py on its PYTHONPATH (it times each script run inside the
server: wall time and the CPU of its thread; the app is not changed), and measures:

0. the process's first script run (a websocket session, see 4): the imports of the app and
   its libraries, the store opened; a restart pays it once;
1. every view opened by a shared link in a fresh browser context, each right after a commit
   to the store (an empty commit of the alert state: a new snapshot, as a poll makes, so
   every cached query misses): the first (uncached) open users see after each poll, in the
   browser and as the server's script run, with the kB of JavaScript and of websocket
   messages the browser received for it; `--first-opens` rounds over the views (each open
   followed by the floor's, see 6), the medians reported; then the server's RSS (the memory
   figure). The store is written: give it a copy;
2. a shared link to the timeline view (5 entities, 90 days), opened `--runs` times in fresh
   browser contexts with the server warm: time to a fully drawn page (the app idle and every
   chart and table on it drawn);
3. on that page, changing the date range `--runs` times: time from the click to the chart
   redrawn with the new data (the first change to each range is a server cache miss);
4. the server apart from the browsers: `--sessions` websocket clients (no browser) each
   sending the rerun message a browser sends for a link to one of the views (in turn), all
   at once, twice: with the views' queries cached (after 1), and right after a commit (every
   query a miss). Each script run is timed in the server; with the server's CPU per
   session and its RSS with the sessions open;
5. `--sessions` browser contexts opening links to all the views at once (one Chromium, so the
   browser competes with the server for the 2 cores): whether each one rendered, its time;
6. the floor: a minimal Streamlit app (the same range control, one plotly chart of 5 lines),
   served beside the dashboard, opened in a fresh browser context right after each of 1's
   first opens and alternately with 2's shared links (so that both sides of each difference
   see the same load on the shared machine), and its filter-change timings: what Streamlit,
   plotly and the browser cost on this machine, whatever the dashboard does.

`--sessions-only` runs 0, 4 (the views warmed by one websocket session each) and no browser
(`python -m bench --only sessions`); `--first-only` runs 0, 1 and 6 (the first opens against
the floor) and nothing else, for `--views` (comma-separated; all by default). `--profile DIR`
writes each script run's cProfile stats there (slower: for finding where the time goes, not
for figures). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import OUT, PYTHON, ROOT, emit, log
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.browser import streamlit_server as _streamlit_server

VIEWS = ("overview", "timeline", "compare", "co-mentions", "sources", "articles", "feeds")

# True when the app has finished its run and everything on the page is drawn: every plotly
# chart has its SVG and its traces (an empty figure holding a chart's place is not drawn yet),
# every dataframe its canvas, and the view's own content is there.
DRAWN_JS = """
(want) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning'
      || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  if (main.querySelector('[data-testid="stException"]')) return 'exception';
  if (want && !main.querySelector(want)) return false;
  for (const c of main.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    const gd = c.querySelector('.js-plotly-plot');
    if (!gd || !gd.querySelector('.main-svg') || !(gd.data || []).length) return false;
  }
  for (const f of main.querySelectorAll('[data-testid="stDataFrame"]'))
    if (!f.querySelector('canvas')) return false;
  return true;
}
"""
# what each view must show once drawn
EXPECT = {
    "overview": '[data-testid="stDataFrame"]',
    "timeline": '[data-testid="stPlotlyChart"]',
    "compare": '[data-testid="stPlotlyChart"]',
    "co-mentions": '[data-testid="stPlotlyChart"], [data-testid="stAlert"]',
    "sources": '[data-testid="stPlotlyChart"], [data-testid="stDataFrame"]',
    "articles": ".mm-card",
    "feeds": '[data-testid="stDataFrame"]',
}
CHART_SIG_JS = """
() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!gd || !gd.data || !gd.data.length) return null;
  const x = gd.data[0].x || [];
  return x.length + '|' + x[0] + '|' + x[x.length - 1];
}
"""


HOOKS = Path(__file__).resolve().parent / "sitehooks"  # sitecustomize.py: times script runs


@contextlib.contextmanager
def streamlit_server(
    config: Path | None,
    log_path: Path,
    app: Path = ROOT / "dashboard.py",
    runs_path: Path | None = None,
    profile: Path | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """tests/browser.py's server, with the seconds it took to answer and its log in a file;
    with `runs_path`, each script run of the server is timed into that file
    (bench/sitehooks/sitecustomize.py)."""
    started = time.perf_counter()
    up = False
    env = {}
    if runs_path is not None:
        runs_path.unlink(missing_ok=True)
        path = os.environ.get("PYTHONPATH")
        env = {
            "PYTHONPATH": str(HOOKS) + (os.pathsep + path if path else ""),
            "BENCH_SCRIPT_RUNS": str(runs_path),
        }
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            env["BENCH_PROFILE"] = str(profile)
    with open(log_path, "wb") as log:
        try:
            with _streamlit_server(config, log, app=app, python=PYTHON, env=env) as (proc, url):
                up = True
                yield proc, url, time.perf_counter() - started
        except RuntimeError as exc:
            if up:
                raise
            raise RuntimeError(f"{exc}; see {log_path}") from exc


def link(base: str, view: str, entities: list[str], range_: str = "90d") -> str:
    params: list[tuple[str, str]] = [("view", view), ("range", range_)]
    if view in ("timeline", "compare", "co-mentions"):
        params += [("e", e) for e in entities]
    return base + "/?" + urllib.parse.urlencode(params)


async def open_drawn(page: Any, url: str, view: str, timeout: float = 120) -> float:
    """Go to `url` and wait until the page is fully drawn; seconds taken."""
    started = time.perf_counter()
    await page.goto(url, wait_until="commit", timeout=timeout * 1000)
    await wait_drawn(page, view, timeout)
    return time.perf_counter() - started


JS_KB_JS = """
() => Math.round(performance.getEntriesByType('resource')
  .filter(e => e.name.split('?')[0].endsWith('.js'))
  .reduce((n, e) => n + e.decodedBodySize, 0) / 1024)
"""


async def open_weighed(page: Any, url: str, view: str) -> tuple[float, dict[str, int]]:
    """`open_drawn`, and what the browser received for it: kB of JavaScript (Streamlit loads
    an element's code, e.g. plotly.js or the data grid, with the first such element) and kB
    of websocket messages (the page's elements and data)."""
    received = [0]

    def on_websocket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload)))

    page.on("websocket", on_websocket)
    seconds = await open_drawn(page, url, view)
    js_kb = int(await page.evaluate(JS_KB_JS))
    return seconds, {"js_kb": js_kb, "ws_kb": round(received[0] / 1024)}


async def wait_drawn(page: Any, view: str, timeout: float) -> None:
    handle = await page.wait_for_function(
        DRAWN_JS, arg=EXPECT[view], timeout=timeout * 1000, polling=50
    )
    if await handle.json_value() == "exception":
        raise RuntimeError(f"the {view} view raised an exception")


VIEWPORT = {"width": 1400, "height": 1000}
RANGE_SEQUENCE = ["30d", "7d", "all", "90d", "30d", "7d", "90d", "all"]


async def shared_link(browser: Any, url: str, view: str, runs: int) -> list[float]:
    """Open `url` `runs` times, each in a fresh browser context; seconds to fully drawn."""
    times = []
    for _ in range(runs):
        ctx = await browser.new_context(viewport=VIEWPORT)
        page = await ctx.new_page()
        times.append(await open_drawn(page, url, view))
        await ctx.close()
    return times


async def filter_changes(browser: Any, url: str, view: str, runs: int) -> list[tuple[str, float]]:
    """On the page at `url`, click date ranges in the sidebar; seconds from each click until
    the chart shows the new data and the page is drawn."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    page = await ctx.new_page()
    await open_drawn(page, url, view)
    changes = []
    for i in range(max(runs, 4)):
        choice = RANGE_SEQUENCE[i % len(RANGE_SEQUENCE)]
        before = await page.evaluate(CHART_SIG_JS)
        button = page.locator('[data-testid="stSidebar"] button', has_text=choice).first
        started = time.perf_counter()
        await button.click()
        await page.wait_for_function(
            f"(old) => ({CHART_SIG_JS})() !== old", arg=before, timeout=120_000, polling=50
        )
        await wait_drawn(page, view, 120)
        changes.append((choice, time.perf_counter() - started))
    await ctx.close()
    return changes


# --------------------------------------------------------------------------------------------
# Sessions without a browser: the messages a browser sends, over Streamlit's websocket


async def ws_open(base: str, query: str, timeout: float = 300) -> float:
    """Open a session on the server as a browser tab does (Streamlit's websocket, then the
    rerun message carrying the link's query string) and wait for the script run to finish;
    seconds from the message to the server's "finished". Nothing is drawn: the server's
    side alone."""
    import aiohttp
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    url = base.replace("http://", "ws://", 1) + "/_stcore/stream"
    async with (
        aiohttp.ClientSession() as client,
        client.ws_connect(url, protocols=["streamlit"], max_msg_size=0) as ws,
    ):
        msg = BackMsg()
        msg.rerun_script.query_string = query
        started = time.perf_counter()
        await ws.send_bytes(msg.SerializeToString())
        async with asyncio.timeout(timeout):
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.BINARY:
                    break
                fwd = ForwardMsg()
                fwd.ParseFromString(frame.data)
                if fwd.WhichOneof("type") == "script_finished":
                    if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # the app asked for a rerun: wait for that one
                    if fwd.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                        raise RuntimeError(f"the run of ?{query} ended: {fwd.script_finished}")
                    return time.perf_counter() - started
    raise RuntimeError(f"the session of ?{query} closed before its run finished")


def query_of(url: str) -> str:
    return urllib.parse.urlsplit(url).query


def commit_nothing(config: Path) -> None:
    """An empty commit (the alert state, unchanged): a new snapshot, so every cached query of
    the dashboard misses, as after a poll."""
    from monitor.config import load_config
    from monitor.store import open_store

    store = open_store(load_config(config).store)
    try:
        store.update_alerts(lambda state: None)
    finally:
        store.close()


async def ws_sessions(
    base: str, entities: list[str], n: int, server: Any, runs_path: Path
) -> dict[str, Any]:
    """`n` websocket sessions at once, links to the views in turn: each one's time, the
    server's script runs meanwhile, its CPU."""
    views = [VIEWS[i % len(VIEWS)] for i in range(n)]

    async def session(view: str) -> tuple[str, float | str]:
        try:
            return view, await ws_open(base, query_of(link(base, view, entities)))
        except Exception as exc:  # a session that did not finish is a result
            return view, f"failed: {type(exc).__name__}: {str(exc)[:120]}"

    cpu0, epoch, started = cpu_s(server), time.time(), time.perf_counter()
    results = await asyncio.gather(*(session(v) for v in views))
    wall, cpu1 = time.perf_counter() - started, cpu_s(server)
    runs = await runs_done(runs_path, epoch, n)
    return {
        "n": n,
        "wall_s": wall,
        "results": results,
        "rendered": sum(1 for _, r in results if isinstance(r, float)),
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_per_session_s": (cpu1 - cpu0) / max(n, 1),
        "script_runs": runs,
        "rss_mb": rss_mb(server),
    }


# A minimal app with the same widgets and one chart of the same size: the floor that
# Streamlit, plotly and the browser set on this machine, whatever the dashboard does.
BASELINE_APP = """
import plotly.graph_objects as go
import streamlit as st

with st.sidebar:
    choice = st.segmented_control(
        "Date range", ["24h", "7d", "30d", "90d", "all"], default="90d", required=True,
        key="range", bind="query-params",
    )
n = {"24h": 24, "7d": 7, "30d": 30, "90d": 90, "all": 730}[choice or "90d"]
st.title("Baseline")
fig = go.Figure()
for k in range(5):
    fig.add_trace(go.Scatter(x=list(range(n)), y=[(i * (k + 3)) % 17 for i in range(n)],
                             mode="lines", name=f"series {k}"))
st.plotly_chart(fig)
"""


EXPECT["baseline"] = '[data-testid="stPlotlyChart"]'


@contextlib.contextmanager
def baseline_server() -> Iterator[str]:
    """The minimal app served on its own port; the link to its drawn page."""
    app = OUT / "scratch" / "baseline_app.py"
    app.parent.mkdir(parents=True, exist_ok=True)
    app.write_text(BASELINE_APP)
    with streamlit_server(None, OUT / "logs" / "streamlit-baseline.log", app) as (_, base, _b):
        yield base + "/?range=90d"


def script_runs(path: Path, since: float) -> list[dict[str, Any]]:
    """The server's script runs (bench/sitehooks/sitecustomize.py) started at `since` or later."""
    if not path.exists():
        return []
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in runs if r["start"] >= since]


async def runs_done(path: Path, since: float, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The server's (non-fragment) script runs started at `since` or later, once there are
    `n` of them (each is written just after its session hears that it finished), or all there
    are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in script_runs(path, since) if not r["fragment"]]
        if len(runs) >= n or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.05)


def rss_mb(proc: Any) -> float:
    return proc.memory_info().rss / 2**20


def cpu_s(proc: Any) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def measure(
    config: Path,
    entities: list[str],
    runs: int,
    sessions: int,
    app: Path,
    sessions_only: bool = False,
    profile: Path | None = None,
    baseline: bool = True,
    views: tuple[str, ...] = VIEWS,
    first_opens: int = 3,
    first_only: bool = False,
) -> dict[str, Any]:
    import psutil

    out: dict[str, Any] = {}
    log_path = OUT / "logs" / "streamlit.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    runs_path = OUT / "logs" / "script-runs.jsonl"
    with streamlit_server(config, log_path, app, runs_path, profile) as (proc, base, boot):
        server = psutil.Process(proc.pid)
        out["server_boot_s"] = boot
        out["rss_idle_mb"] = rss_mb(server)

        # 0. the process's first run: the imports
        epoch = time.time()
        out["first_run_s"] = await ws_open(base, query_of(link(base, "overview", entities)))
        out["first_run_server_s"] = max(r["wall"] for r in await runs_done(runs_path, epoch, 1))
        log(f"dashboard: the process's first run: {out['first_run_s']:.2f} s")

        if sessions_only:
            for view in VIEWS:  # every view once, so that 4's first round finds them cached
                await ws_open(base, query_of(link(base, view, entities)))
        else:
            with baseline_server() if baseline else contextlib.nullcontext() as floor_url:
                await browser_part(
                    out, config, base, entities, runs, runs_path, floor_url,
                    views, first_opens, first_only,
                )  # fmt: skip
        out["rss_after_views_mb"] = rss_mb(server)
        if first_only:
            return out

        # 4. the server apart from the browsers: websocket sessions, cached, then uncached
        out["ws_sessions"] = await ws_sessions(base, entities, sessions, server, runs_path)
        cached_s = out["ws_sessions"]["wall_s"]
        log(f"dashboard: {sessions} websocket sessions, cached: {cached_s:.2f} s")
        commit_nothing(config)
        out["ws_sessions_commit"] = await ws_sessions(base, entities, sessions, server, runs_path)
        log(
            f"dashboard: {sessions} websocket sessions after a commit: "
            f"{out['ws_sessions_commit']['wall_s']:.2f} s"
        )
        out["rss_after_sessions_mb"] = max(
            out["ws_sessions"]["rss_mb"], out["ws_sessions_commit"]["rss_mb"]
        )

        if not sessions_only:
            # 5. concurrent browser sessions, one browser context each
            out["sessions"] = await browser_sessions(base, entities, sessions, server)
            out["rss_after_sessions_mb"] = max(out["rss_after_sessions_mb"], rss_mb(server))
        out["rss_final_mb"] = rss_mb(server)
    return out


async def browser_part(
    out: dict[str, Any],
    config: Path,
    base: str,
    entities: list[str],
    runs: int,
    runs_path: Path,
    floor_url: str | None,
    views: tuple[str, ...] = VIEWS,
    first_opens: int = 3,
    first_only: bool = False,
) -> None:
    """1-3 (and 6 with `floor_url`, the minimal app's link): each view's first open after a
    commit, a shared link, filter changes; the minimal app's opens interleaved with them."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        floor: dict[str, Any] = {"first_open_s": {}, "shared_link_s": []}
        if floor_url:
            await shared_link(browser, floor_url, "baseline", 1)  # its server's first run

        # 1. every view, each right after a commit: the first (uncached) open, `first_opens`
        # rounds over the views, each open followed by the floor's (the same load on both)
        opens: dict[str, list[float]] = {v: [] for v in views}
        servers: dict[str, list[float]] = {v: [] for v in views}
        floors: dict[str, list[float]] = {v: [] for v in views}
        weight: dict[str, dict[str, int]] = {}
        for _ in range(first_opens):
            for view in views:
                commit_nothing(config)
                ctx = await browser.new_context(viewport=VIEWPORT)
                page = await ctx.new_page()
                epoch = time.time()
                seconds, weight[view] = await open_weighed(page, link(base, view, entities), view)
                done = await runs_done(runs_path, epoch, 1)
                server = max((r["wall"] for r in done), default=float("nan"))
                await ctx.close()
                opens[view].append(seconds)
                servers[view].append(server)
                note = ")"
                if floor_url:
                    floors[view] += await shared_link(browser, floor_url, "baseline", 1)
                    note = f"; the minimal app next: {floors[view][-1]:.2f} s)"
                log(
                    f"dashboard: first open of {view}: {seconds:.2f} s "
                    f"(its script run in the server {server:.2f} s{note}"
                )
        # medians of the rounds; above the floor: the median of each round's difference
        out["first_open_s"] = {v: statistics.median(t) for v, t in opens.items()}
        out["first_open_server_s"] = {v: statistics.median(t) for v, t in servers.items()}
        out["first_open_runs_s"] = opens
        out["first_open_received"] = weight
        if floor_url:
            floor["first_open_s"] = {v: statistics.median(t) for v, t in floors.items()}
            floor["first_open_runs_s"] = floors
            out["first_open_above_s"] = above_floor(opens, floors)
            for v in views:
                log(f"dashboard: {v} above the floor, median of {first_opens}: "
                    f"{out['first_open_above_s'][v]:+.2f} s")  # fmt: skip
            ctx = await browser.new_context(viewport=VIEWPORT)
            _, floor["received"] = await open_weighed(await ctx.new_page(), floor_url, "baseline")
            await ctx.close()
        if first_only:
            out["baseline"] = floor
            await browser.close()
            return

        # 2. a shared link, server warm, fresh browser context each time (and the minimal app's)
        url = link(base, "timeline", entities)
        out["shared_link_s"] = []
        for _ in range(runs):
            out["shared_link_s"] += await shared_link(browser, url, "timeline", 1)
            if floor_url:
                floor["shared_link_s"] += await shared_link(browser, floor_url, "baseline", 1)
        out["shared_link_url"] = url.replace(base, "")

        # 3. change the date range, wait for the chart to show the new data
        out["filter_change_s"] = await filter_changes(browser, url, "timeline", runs)
        if floor_url:
            floor["filter_change_s"] = await filter_changes(browser, floor_url, "baseline", runs)
            out["baseline"] = floor
        await browser.close()


def above_floor(opens: dict[str, list[float]], floors: dict[str, list[float]]) -> dict[str, float]:
    """Each view's seconds above the floor: the median of the differences between each of its
    first opens and the floor's open right after it (pairs under the same load), rather than
    a difference of medians taken at different moments."""
    return {
        view: statistics.median(a - b for a, b in zip(times, floors[view], strict=True))
        for view, times in opens.items()
    }


async def browser_sessions(base: str, entities: list[str], n: int, server: Any) -> dict[str, Any]:
    """5. `n` browser contexts of one Chromium opening links to the views at once."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cpu0 = cpu_s(server)
        ctxs = [await browser.new_context(viewport=VIEWPORT) for _ in range(n)]
        pages = [await c.new_page() for c in ctxs]
        views = [VIEWS[i % len(VIEWS)] for i in range(n)]

        async def session(page: Any, view: str) -> tuple[str, float | str]:
            try:
                return view, await open_drawn(page, link(base, view, entities), view, 300)
            except Exception as exc:  # a session that did not render is a result
                return view, f"failed: {type(exc).__name__}: {str(exc)[:120]}"

        started = time.perf_counter()
        results = await asyncio.gather(
            *(session(pg, v) for pg, v in zip(pages, views, strict=True))
        )
        wall = time.perf_counter() - started
        cpu1 = cpu_s(server)
        out = {
            "n": n,
            "wall_s": wall,
            "results": results,
            "rendered": sum(1 for _, r in results if isinstance(r, float)),
            "server_cpu_s": cpu1 - cpu0,
            "server_cpu_per_session_s": (cpu1 - cpu0) / max(n, 1),
        }
        for c in ctxs:
            await c.close()
        await browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--entities", required=True, help="comma-separated, for the links")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--app", type=Path, default=ROOT / "dashboard.py", help="the app to serve")
    parser.add_argument("--no-baseline", action="store_true", help="skip the minimal-app floor")
    parser.add_argument(
        "--sessions-only", action="store_true",
        help="every view once (the server warm), then the websocket sessions; no browser",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="a folder for each script run's cProfile")
    parser.add_argument(
        "--views", default=",".join(VIEWS), help="comma-separated views for the first opens"
    )
    parser.add_argument(
        "--first-opens", type=int, default=3, help="first opens of each view (medians reported)"
    )
    parser.add_argument(
        "--first-only", action="store_true",
        help="only the first opens against the floor (1 and 6): no link, filter or session runs",
    )  # fmt: skip
    args = parser.parse_args()
    views = tuple(v for v in args.views.split(",") if v)
    if unknown := [v for v in views if v not in VIEWS]:
        parser.error(f"unknown view(s): {', '.join(unknown)}; the views: {', '.join(VIEWS)}")
    if not Path(CHROMIUM).exists() and not args.sessions_only:
        raise SystemExit(f"no Chromium at {CHROMIUM}")
    result = asyncio.run(
        measure(
            args.config, args.entities.split(","), args.runs, args.sessions, args.app,
            sessions_only=args.sessions_only, profile=args.profile,
            baseline=not args.no_baseline, views=views,
            first_opens=max(args.first_opens, 1), first_only=args.first_only,
        )
    )  # fmt: skip
    if not args.sessions_only and not args.first_only:
        result["median_shared_link_s"] = statistics.median(result["shared_link_s"])
    emit(result)


if __name__ == "__main__":
    main()
