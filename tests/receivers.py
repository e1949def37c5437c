"""Local receivers for the messages the monitor sends, on 127.0.0.1 only.

- `Webhook`: an HTTP server that records the JSON body of every POST (apprise's
  `json://127.0.0.1:PORT/path` target) and can be told to answer errors for a while.
- `Mailbox`: an SMTP server (aiosmtpd) that records every message it receives, parsed, and
  the credentials a client logged in with (without TLS: tests only).

Both are context managers; test files define fixtures around them.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Post:
    path: str
    body: dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        hook = self.server.hook
        with hook.lock:
            status = hook.failures.pop(0) if hook.failures else 200
            if status == 200:
                hook.posts.append(Post(self.path, json.loads(raw or b"{}")))
            hook.attempts += 1
        body = b"ok" if status == 200 else b"failing on purpose"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hook: Webhook


class Webhook:
    """Records POSTed JSON; `fail(500, 500)` makes the next two requests fail."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.failures: list[int] = []
        self.attempts = 0
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hook = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p.body for p in self.posts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping every message; logins are recorded, any accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def url(self, user: str = "", password: str = "", to: str = "desk@example.org") -> str:
        login = f"{user}:{password}@" if user else ""
        return (
            f"mailto://{login}127.0.0.1:{self.port}?from=monitor@example.org&to={to}&mode=insecure"
        )

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)
