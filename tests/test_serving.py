"""Where the command line lets the dashboard listen (`--host`, `--no-auth`), what it checks of
the sign-in setup before starting it, and what it hands the dashboard's process.

The dashboard's process is not started: `subprocess.Popen` in monitor/runner.py is replaced by
a recorder (no test may listen beyond 127.0.0.1). The secrets.toml files read are the test's.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from monitor import access, cli, runner

AUTH = """[auth]
redirect_uri = "https://monitor.example.org/oauth2callback"
cookie_secret = "a-test-cookie-secret-of-thirty-two-chars"
client_id = "media-monitor"
client_secret = "test-secret"
server_metadata_url = "https://idp.example.org/.well-known/openid-configuration"
"""


class Started:
    """What `subprocess.Popen` was asked to start; the 'process' ends at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, cmd: list[str], env: dict[str, str], **kwargs: Any) -> Started:
        self.calls.append((cmd, env))
        return self

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0

    @property
    def address(self) -> str:
        (cmd, _), *_ = self.calls
        return cmd[cmd.index("--server.address") + 1]

    @property
    def env(self) -> dict[str, str]:
        return self.calls[0][1]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Started:
    recorder = Started()
    monkeypatch.setattr(runner.subprocess, "Popen", recorder)
    monkeypatch.setattr(runner, "check_address", lambda host, port: None)  # binds nothing
    return recorder


@pytest.mark.parametrize(
    ("host", "what"),
    [
        ("no-such-host.invalid", "--host no-such-host.invalid: not an address of this machine"),
        ("192.0.2.7", "--host 192.0.2.7: not an address of this machine"),
        ("127.0.0.1", "is in use (another dashboard?); choose another with --port"),
    ],
)
def test_an_address_the_dashboard_cannot_listen_at_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    secrets: Path, host: str, what: str,
) -> None:  # fmt: skip
    # Streamlit printed a traceback (socket.gaierror, "Cannot assign requested address") or
    # "Port N is not available", after the dashboard's address, and exited 1 (bad config)
    calls: list[Any] = []
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: calls.append(a))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in ("dashboard", "run"):
            assert (
                monitor(feeds_yaml(tmp_path), command, "--host", host, "--no-auth", "--port", port)
                == 2
            )
            out, err = capsys.readouterr()
            assert what in err and "Traceback" not in err and "dashboard:" not in out, err
            assert err.count("error:") == 1
    assert not calls


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The one secrets.toml the command line reads (absent until a test writes it)."""
    path = tmp_path / "secrets.toml"
    monkeypatch.setattr(access, "secrets_files", lambda project, home=None: [path])
    return path


def feeds_yaml(tmp_path: Path, dashboard: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "store: data\nfeeds:\n  - name: A\n    url: https://a.example/rss\n"
        "watch:\n  - name: X\n    kind: person\n" + dashboard
    )
    return path


def monitor(config: Path, *args: str) -> int:
    return cli.main(["-c", str(config), *args])


@pytest.mark.parametrize("command", ["dashboard", "run"])
@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_beyond_this_machine_without_sign_in_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path,
    command: str, host: str,
) -> None:  # fmt: skip
    assert monitor(feeds_yaml(tmp_path), command, "--host", host) == 1
    err = capsys.readouterr().err
    assert f"monitor {command}: --host {host} would serve the dashboard beyond this machine" in err
    assert "--no-auth" in err and "[auth] in .streamlit/secrets.toml" in err
    assert "Traceback" not in err
    assert not started.calls and not (tmp_path / "data").exists()


def test_the_demo_beyond_this_machine_needs_no_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path
) -> None:
    secrets.write_text(AUTH)  # the demo never signs in, even when sign-in is set up
    folder = tmp_path / "demo"
    assert cli.main(["demo", "--dir", str(folder), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert "monitor demo: --host 0.0.0.0" in err and "--no-auth" in err
    assert not started.calls and not folder.exists()


def test_this_machine_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MONITOR_NO_AUTH", "1")  # left in a shell: not an option
    assert monitor(feeds_yaml(tmp_path), "dashboard", "--port", "8765") == 0
    assert started.address == "127.0.0.1"
    assert "MONITOR_NO_AUTH" not in started.env
    assert started.env["MONITOR_CONFIG"] == str(tmp_path / "feeds.yaml")
    assert "dashboard: http://127.0.0.1:8765/" in capsys.readouterr().out


def test_no_auth_serves_beyond_this_machine_and_says_it_is_public(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path
) -> None:
    assert monitor(feeds_yaml(tmp_path), "dashboard", "--host", "0.0.0.0", "--no-auth") == 0
    assert started.address == "0.0.0.0"
    assert started.env["MONITOR_NO_AUTH"] == "1"
    assert "public" in capsys.readouterr().err


def test_with_sign_in_any_address_and_the_sign_in_address_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path
) -> None:
    secrets.write_text(AUTH)
    config = feeds_yaml(tmp_path, 'dashboard:\n  allow: ["@example.org"]\n')
    assert monitor(config, "dashboard", "--host", "0.0.0.0") == 0
    assert started.address == "0.0.0.0" and "MONITOR_NO_AUTH" not in started.env
    out, err = capsys.readouterr()
    assert "dashboard: https://monitor.example.org/" in out
    assert not err


def test_an_incomplete_sign_in_setup_stops_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path
) -> None:
    secrets.write_text(AUTH.replace('client_secret = "test-secret"\n', ""))
    config = feeds_yaml(tmp_path, 'dashboard:\n  allow: ["@example.org"]\n')
    assert monitor(config, "dashboard") == 1
    err = capsys.readouterr().err
    assert f"sign-in: {secrets}: [auth] lacks client_secret" in err
    assert not started.calls
    secrets.write_text("[auth\n")
    assert monitor(config, "run") == 1
    assert "cannot be read as TOML" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("auth", "dashboard", "note"),
    [
        (True, "", "everyone will be refused"),
        (True, "dashboard:\n  allow: []\n", "everyone will be refused"),
        (False, "dashboard:\n  allow: [ana@example.org]\n", "sign-in is not set up"),
    ],
)
def test_what_would_surprise_is_said_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: Started, secrets: Path,
    auth: bool, dashboard: str, note: str,
) -> None:  # fmt: skip
    if auth:
        secrets.write_text(AUTH)
    assert monitor(feeds_yaml(tmp_path, dashboard), "dashboard") == 0
    assert note in capsys.readouterr().err
    assert started.calls


@pytest.mark.slow
def test_sigterm_stops_the_dashboard_server_too(tmp_path: Path) -> None:
    """`kill PID` of `monitor dashboard` (what a service manager sends first) stops the
    Streamlit server it started: nothing keeps listening."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.browser import free_port

    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\nwatch: []\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "-c", str(config), "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        deadline = time.monotonic() + 15
        while True:  # the server is gone: its port refuses connections
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    break
            assert time.monotonic() < deadline, "the Streamlit server is still listening"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
