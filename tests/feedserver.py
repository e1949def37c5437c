"""A small threaded HTTP/1.1 server on 127.0.0.1 for tests that need a real socket.

Register routes, point the code under test at `server.url(path)`, then check what crossed
the wire in `server.requests` and how many connections / requests overlapped
(`peak_connections`, `peak_in_flight`). No network beyond loopback.

    with FeedServer() as server:
        server.feed("/rss", b"<rss/>", etag='"v1"', gzip=True)
        server.redirect("/old", "/rss", status=301)
        server.stall("/slow")
        ...

Routes: `feed` (static body; 304 on matching validators; gzip when asked; optional delay),
`redirect`, `stall` (headers, then silence), `dribble` (one byte at a time), `endless`
(a body that never ends), `truncate` (closes the connection mid-body), and `handle` for a
callable that gets the `Exchange` and writes whatever it likes. `stop()` releases every
handler that is waiting, so a stalled route never hangs the test run.

This module holds no pytest fixture: test files define one around `FeedServer` (the
project's conftest.py is the lead's).
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip as gzip_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Handler = Callable[["Exchange"], None]


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it. Header names are lower-cased."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    time: float  # time.monotonic()


class Exchange(BaseHTTPRequestHandler):
    """Handles one connection; route handlers get this object to answer a request."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    timeout = 30  # idle keep-alive connections end eventually
    server: _Server

    # -- what a route handler uses -------------------------------------------------------

    @property
    def feedserver(self) -> FeedServer:
        return self.server.feedserver

    @property
    def request_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def respond(self, status: int = 200, body: bytes = b"", headers: dict | None = None) -> None:
        """A complete response with a Content-Length."""
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        self.send_head(status, headers)
        if body and self.command != "HEAD":
            self.write(body)

    def send_head(self, status: int, headers: dict | None = None) -> None:
        """Status line and headers, flushed; the body is up to the caller."""
        self._answered()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def write(self, data: bytes) -> bool:
        """Send body bytes; False once the client has gone away."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep, unless the server is stopping; True when it is (the handler should return)."""
        return self.feedserver.release.wait(seconds)

    # -- plumbing -------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.feedserver._count("connections", +1)

    def finish(self) -> None:
        self.feedserver._count("connections", -1)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        fs = self.feedserver
        fs._record(SeenRequest(self.command, self.path, self.request_headers, time.monotonic()))
        self._in_flight = True
        fs._count("in_flight", +1)
        try:
            route = fs.routes.get(urlsplit(self.path).path)
            if route is None:
                self.respond(404, b"no such route", {"Content-Type": "text/plain"})
            else:
                route(self)
        except OSError:  # the client went away
            self.close_connection = True
        finally:
            self._answered()

    do_HEAD = do_GET

    def _answered(self) -> None:
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.feedserver._count("in_flight", -1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    feedserver: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-response is expected in these tests


class FeedServer:
    """The server, its routes and what it saw. Use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[SeenRequest] = []
        self.release = threading.Event()
        self.connections = 0
        self.peak_connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), Exchange)
        self._httpd.feedserver = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()  # frees stalled, dribbling and endless handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- what was seen ------------------------------------------------------------------------

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.peak_connections = self.connections
            self.peak_in_flight = self.in_flight

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self.requests.append(seen)

    def _count(self, name: str, delta: int) -> None:
        with self._lock:
            value = getattr(self, name) + delta
            setattr(self, name, value)
            peak = f"peak_{name}"
            setattr(self, peak, max(getattr(self, peak), value))

    # -- routes -------------------------------------------------------------------------------

    def handle(self, path: str, handler: Handler) -> None:
        """Route `path` to a callable that answers through the Exchange."""
        self.routes[path] = handler

    def feed(
        self,
        path: str,
        body: bytes = b"<rss version='2.0'><channel><title>t</title></channel></rss>",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
    ) -> None:
        """A static response. With etag / last_modified, matching validators get a 304;
        with gzip, the body is compressed when the request accepts gzip."""

        def answer(ex: Exchange) -> None:
            if delay and ex.wait(delay):
                return
            validators = {}
            if etag is not None:
                validators["ETag"] = etag
            if last_modified is not None:
                validators["Last-Modified"] = last_modified
            if status == 200 and _not_modified(ex.request_headers, etag, last_modified):
                ex.respond(304, b"", validators)
                return
            out = {"Content-Type": content_type, **validators, **(headers or {})}
            data = body
            if gzip and "gzip" in ex.request_headers.get("accept-encoding", ""):
                data = gzip_module.compress(body)
                out["Content-Encoding"] = "gzip"
                out["Vary"] = "Accept-Encoding"
            ex.respond(status, data, out)

        self.handle(path, answer)

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        """A redirect to `location` (absolute or relative, sent as given)."""
        self.feed(
            path, b"", status=status, headers={"Location": location}, content_type="text/plain"
        )

    def stall(self, path: str, declared: int = 1000) -> None:
        """Status and headers promising `declared` bytes, then silence until the server stops."""

        def answer(ex: Exchange) -> None:
            ex.send_head(
                200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)}
            )
            ex.wait(60)
            ex.close_connection = True

        self.handle(path, answer)

    def dribble(self, path: str, interval: float = 0.2, declared: int = 100_000) -> None:
        """One byte every `interval` seconds: each read is quick, the whole body never ends."""

        def answer(ex: Exchange) -> None:
            ex.send_head(
                200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)}
            )
            for _ in range(declared):
                if not ex.write(b"<") or ex.wait(interval):
                    break
            ex.close_connection = True

        self.handle(path, answer)

    def endless(self, path: str, chunk: bytes = b"<item/>" * 9362) -> None:
        """A body with no length that never ends (until the client hangs up)."""

        def answer(ex: Exchange) -> None:
            ex.send_head(200, {"Content-Type": "application/rss+xml", "Connection": "close"})
            ex.close_connection = True
            while not ex.feedserver.release.is_set() and ex.write(chunk):
                pass

        self.handle(path, answer)

    def truncate(self, path: str, sent: int = 100, declared: int = 1000) -> None:
        """Promise `declared` bytes, send `sent`, then close the connection."""

        def answer(ex: Exchange) -> None:
            ex.send_head(
                200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)}
            )
            ex.write(b"x" * sent)
            ex.close_connection = True

        self.handle(path, answer)


def http_date(seconds_from_now: float = 0.0) -> str:
    """An HTTP-date (IMF-fixdate) this many seconds from now."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def _not_modified(headers: dict[str, str], etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins; else If-Modified-Since by date."""
    if "if-none-match" in headers:
        if etag is None:
            return False
        wanted = [t.strip().removeprefix("W/") for t in headers["if-none-match"].split(",")]
        return "*" in wanted or etag.removeprefix("W/") in wanted
    since = headers.get("if-modified-since")
    if since and last_modified:
        try:
            return email.utils.parsedate_to_datetime(
                last_modified
            ) <= email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
