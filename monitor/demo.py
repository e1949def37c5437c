"""`monitor demo`: the offline demo, start to finish.

Generates the synthetic news world (demo_world.py), serves it on 127.0.0.1 (demo_server.py),
writes a feeds.yaml for it in the demo's own folder, and runs the real poller over real HTTP
into a store in that folder, then the dashboard on top. Nothing outside the folder is touched,
and each start begins afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from .config import load_config
from .console import err, out, print_summary, progress_bar
from .demo_server import serve_world
from .demo_world import World
from .errors import MonitorError
from .poll import Poller
from .runner import poll_forever as _poll_forever
from .runner import start_dashboard
from .runner import stop_child as _stop_child
from .store import Store

MARKER = ".monitor-demo"


def prepare_folder(folder: Path) -> None:
    """Empty the demo folder (only if it is one of ours) and mark it."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise MonitorError(f"{folder} exists and is not a demo folder; choose another with --dir")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("created by `monitor demo`; deleted at its next start\n")


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise MonitorError("no free TCP port on 127.0.0.1")


def run_demo(args: argparse.Namespace) -> int:
    folder = Path(args.dir).absolute()
    prepare_folder(folder)
    started = time.monotonic()
    world = World.generate(
        seed=args.seed,
        days=args.days,
        outlets=args.outlets,
        articles_per_day=args.articles_per_day,
        now=datetime.now(UTC),
        live_minutes=24 * 60,
    )
    out.print(
        f"demo world: {len(world.outlets)} outlets, {len(world.entities)} watched entities, "
        f"{len(world.articles):,} articles over {args.days} days (seed {args.seed})"
    )
    with serve_world(world) as server:
        config_path = folder / "feeds.yaml"
        text = world.feeds_yaml(server.base_url, store="data", every="30s")
        # every demo feed lives on one loopback host: let the poller fetch several at a time
        config_path.write_text(text.replace("poll:\n", "poll:\n  per_host: 8\n", 1))
        config = load_config(config_path)
        store = Store(config.store)
        proc = None
        if not args.no_dashboard:
            port = free_port(args.port)
            proc = start_dashboard(config_path, port)
        try:
            with store.poller_lock():
                poller = Poller(config, store, log=lambda msg: err.print(msg))
                poller.open()
                with progress_bar("polling the demo feeds") as bar:
                    summary = asyncio.run(poller.poll_once(progress=bar))
                print_summary(summary)
                out.print(f"store: {store.root} · ready in {time.monotonic() - started:.1f} s")
                if proc is None:
                    out.print(f"config: {config_path}  (try: monitor -c {config_path} mentions)")
                    return 0
                out.print(
                    f"\ndashboard: http://127.0.0.1:{port}/\n"
                    "new articles keep arriving; Ctrl-C stops the demo"
                )
                asyncio.run(_poll_forever(poller))
        finally:
            if proc is not None:
                _stop_child(proc)
    return 0
