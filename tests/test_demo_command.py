"""`monitor demo` end to end: progress while the history comes in, then the dashboard's URL
once the history is stored and the dashboard answers, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from monitor.demo.command import Dashboard, free_port
from monitor.errors import MonitorError
from monitor.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def test_a_busy_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = free_port(taken)
        assert port != taken and port > 0
    assert free_port(port) == port  # a free one is kept


def lines_of(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


@pytest.mark.slow
def test_demo_prints_the_url_when_the_dashboard_is_ready(tmp_path: Path) -> None:
    port = free_port(0)
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    size = ["--days", "3", "--outlets", "5", "--articles-per-day", "300", "--seed", "9"]
    where = ["--port", str(port), "--dir", str(folder)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "demo", *size, *where],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str | None] = queue.Queue()
    err: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lines_of, args=(proc.stdout, out), daemon=True).start()
    threading.Thread(target=lines_of, args=(proc.stderr, err), daemon=True).start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 150
        while not any(line.startswith("dashboard: ") for line in seen):
            line = out.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the demo ended early: {seen}"
            seen.append(line)
        # the URL came when the dashboard answered and the whole history was stored
        url = f"http://127.0.0.1:{port}/"
        assert seen[-1] == f"dashboard: {url}"
        with urllib.request.urlopen(url + "_stcore/health", timeout=5) as r:
            assert r.read() == b"ok"
        history = int(re.search(r"([\d,]+) articles over 3 days", seen[0])[1].replace(",", ""))
        assert open_store(folder / "data").snapshot().rows("articles") >= history > 500
        assert any(line.startswith("5 feeds: 5 ok") for line in seen)
        assert any(line.startswith("store: ") for line in seen[:-1])
        assert not any("Streamlit" in line or "You can now view" in line for line in seen)
        assert (folder / "dashboard.log").is_file()  # where Streamlit's own lines went
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = []
    while (line := err.get(timeout=5)) is not None:
        errors.append(line)
    assert any(
        line.startswith("ingesting 3 days of history: 5/5 feeds polled") for line in errors
    ), errors
    assert not any("Traceback" in line for line in errors), errors
    with socket.socket() as s:  # the dashboard stopped with the demo
        assert s.connect_ex(("127.0.0.1", port)) != 0


def _fake_dashboard(tmp_path: Path, script: str) -> Dashboard:
    """A `Dashboard` whose process is a short Python script writing to the log, on a port where
    nothing answers."""
    log = tmp_path / "dashboard.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=sink, stderr=sink)
    return Dashboard(proc, free_port(0), log)


def test_a_dashboard_stopped_by_ctrl_c_before_it_answered_is_a_stop_not_an_error(
    tmp_path: Path,
) -> None:
    # Ctrl-C reaches the whole process group: Streamlit says "Stopping..." and exits while the
    # demo still waits for it; the demo then stops quietly instead of reporting a failed start
    dashboard = _fake_dashboard(tmp_path, "print('  Stopping...')")
    assert dashboard.wait_ready(timeout=20) is False


def test_a_dashboard_that_dies_at_start_is_one_error_line(tmp_path: Path) -> None:
    script = "import sys; print('Error: no module named plotly'); sys.exit(1)"
    dashboard = _fake_dashboard(tmp_path, script)
    with pytest.raises(MonitorError, match="stopped at start: Error: no module named plotly"):
        dashboard.wait_ready(timeout=20)
