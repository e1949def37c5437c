"""The dashboard in Debian's Chromium: one recipe for the browser tests, the dashboard benchmark
and scripts/screenshots.py (never `playwright install`: it downloads a browser and fails here)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A Streamlit page whose script has finished and whose websocket is connected.
# Read instead of the project's .streamlit/secrets.toml, where a team keeps its real sign-in
# setup: the tests' dashboards sign in only where a test gives them a secrets.toml.
NO_SECRETS = ROOT / "tests" / "data" / "no-such-secrets.toml"
READY = (
    '[data-testid="stApp"][data-test-script-state="notRunning"]'
    '[data-test-connection-state="CONNECTED"]'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def streamlit_server(
    config: Path | None,
    log: IO[bytes] | None = None,
    *,
    app: Path = ROOT / "dashboard.py",
    python: str = sys.executable,
    timeout: float = 90,
    port: int | None = None,
    secrets: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`streamlit run app` on a free port of 127.0.0.1 (or `port`) (with MONITOR_CONFIG=config
    when given, the secrets.toml `secrets` (by default none, whatever the project has), and
    `env` added) until the block exits; yields the process and its URL once it answers its
    health check.
    Raises RuntimeError when it does not start within `timeout` seconds."""
    port = port or free_port()
    cmd = [
        python, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--secrets.files", str(secrets or NO_SECRETS),
    ]  # fmt: skip
    env = {**os.environ, **({"MONITOR_CONFIG": str(config)} if config else {}), **(env or {})}
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer in {timeout:g} s")
            time.sleep(0.2)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return bool(r.read() == b"ok")
    except OSError:
        return False
