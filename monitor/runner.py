"""Long-running work for the command line and the demo: the poll loop, the dashboard's process.

`poll_forever` runs a Poller until SIGINT/SIGTERM and reports each poll that brought something
(new articles, failures, moves) on standard error, literally (see console.py). The dashboard is
`streamlit run dashboard.py` in a child process: `start_dashboard`, `wait_child` (Ctrl-C stops
it) and `stop_child`. What is polled and how is poll.py's business; what is shown, the
dashboard's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .console import err, failure_lines, pages_line, summary_line
from .errors import MonitorError

if TYPE_CHECKING:
    from .poll import Poller, PollSummary

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard.py"


async def poll_forever(poller: Poller) -> None:
    """Poll each feed at its interval until SIGINT or SIGTERM; report what each poll brought."""
    from .poll import install_signal_handlers

    stop = asyncio.Event()
    install_signal_handlers(stop)

    def report(s: PollSummary) -> None:
        if not (s.new_articles or s.errors or s.moved or s.gone or s.pages):
            return  # a round where every feed was unchanged: nothing to tell
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        err.print(f"[{stamp}] {summary_line(s)}")
        pages = pages_line(s)
        if pages:
            err.print(pages)
        for line in failure_lines(s):
            err.print(line)

    await poller.run(stop, on_poll=report)
    err.print("stopped")


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


def wait_child(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the child; Ctrl-C asks it to stop (SIGINT) and waits up to 10 s."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
