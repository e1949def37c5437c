"""Long-running work for the command line and the demo: the poll loop, the dashboard's process.

`poll_forever` runs a Poller until SIGINT/SIGTERM and reports each poll that brought something
(new articles, failures, moves) on standard error, literally (see console.py). The dashboard is
`streamlit run dashboard.py` in a child process: `serving_address` (may it listen there? see
monitor/access.py), `start_dashboard`, `wait_child` (Ctrl-C stops it) and `stop_child`. What is
polled and how is poll.py's business; what is shown, the dashboard's.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .console import err, failure_lines, pages_line, summary_line
from .errors import ConfigError, ConfigIssue, MonitorError

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
        "--runner.postScriptGC",  # the app collects when idle: see .streamlit/config.toml
        "false",
    ]


def serving_address(
    command: str, host: str, port: int, no_auth: bool, allow: Sequence[str] | None
) -> str:
    """The address to open the dashboard at, once it may listen on `host`: beyond this machine
    only with sign-in set up (in the secrets.toml files the dashboard will read) or with
    `no_auth`. Raises ConfigError (exit 1) when it may not, or when sign-in is set up but
    lacks something; prints a note for what would surprise (everyone refused, no data)."""
    from .access import plan_serving, read_sign_in, secrets_files, serving_url

    sign_in = None if no_auth else read_sign_in(secrets_files(DASHBOARD.parent))
    plan = plan_serving(host, no_auth, sign_in, allow)
    if plan.error:
        raise ConfigError([ConfigIssue(f"monitor {command}", None, "", plan.error, plan.hint)])
    for note in plan.notes:
        err.print(f"note: {note}")
    return serving_url(host, port, sign_in)


def dashboard_env(config_path: Path, no_auth: bool) -> dict[str, str]:
    """The dashboard's environment: its feeds.yaml, and whether sign-in is off (--no-auth)."""
    from .access import NO_AUTH_ENV

    env = {**os.environ, "MONITOR_CONFIG": str(config_path)}
    env.pop(NO_AUTH_ENV, None)  # only the option says so, never a variable left in a shell
    if no_auth:
        env[NO_AUTH_ENV] = "1"
    return env


def check_address(host: str, port: int) -> None:
    """Raise MonitorError, in one line, when the dashboard could not listen at host:port.

    Streamlit, asked to, prints a traceback (a name that does not resolve, an address of
    another machine) or a line of its own (a port in use) and exits 1, the status of a wrong
    feeds.yaml. Binding a socket there first (and closing it) finds all of these.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
            sock.bind(address)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MonitorError(f"--host {host}: not an address of this machine ({reason})") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            what = f"port {port} is in use (another dashboard?); choose another with --port"
        elif exc.errno == errno.EADDRNOTAVAIL:
            what = f"--host {host}: not an address of this machine"
        elif exc.errno == errno.EACCES:
            what = f"port {port} needs privileges here; choose one above 1023 with --port"
        else:
            what = f"cannot listen at {host or 'every address'}, port {port}: {exc.strerror or exc}"
        raise MonitorError(what) from None


def start_dashboard(
    config_path: Path, port: int, host: str = "127.0.0.1", no_auth: bool = False
) -> subprocess.Popen[bytes]:
    check_address(host, port)
    # run from the project folder, where .streamlit/config.toml (and secrets.toml) live
    return subprocess.Popen(
        dashboard_command(config_path, port, host),
        env=dashboard_env(config_path, no_auth),
        cwd=DASHBOARD.parent,
    )


def wait_child(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the child; Ctrl-C (SIGINT) or SIGTERM asks it to stop and waits up to 10 s,
    so stopping `monitor dashboard` never leaves the Streamlit server running."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
