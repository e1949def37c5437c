"""Serve a demo world's feeds over HTTP on 127.0.0.1, misbehaving feeds included.

`serve_world(world)` starts a threaded HTTP/1.1 server in a daemon thread and returns a
`DemoServer` (a context manager) whose `base_url` the demo's feeds.yaml points at. Each feed
shows the items available at the time its `clock` gives (the wall clock by default; the demo
sets it to moments of the past while it catches up on the history, and tests fix it), so new
articles keep arriving while the demo runs. With `limit`, a feed carries only its newest
`limit` items, as real feeds carry a recent window. Responses carry the feed's Content-Type,
an ETag (a hash of the body) and Last-Modified (when its newest item appeared); matching
If-None-Match / If-Modified-Since get a 304; bodies are gzipped when the client accepts it.
The newest rendered body of each feed is kept (gzipped) with its validators, so polling an
unchanged feed costs a dictionary lookup.

The misbehaving feeds (see `monitor.demo.world.HEALTHS`): "flaky" answers 500 to every third
request (the 2nd, 5th, ...), "slow" answers after `slow_delay` seconds, "moved" answers 301 at
its listed path and serves the feed at the new one, "gone" answers 410, "html" serves an HTML
page. Feeds link to the articles' pages on this server: every article has an HTML page (its
title and text amid a news site's boilerplate; `World.render_page`) once it is available, and
`/robots.txt` refuses the pages of one outlet to media-monitor (`World.robots_txt`); an
outlet's pages may also stop at a paywall (see `monitor.demo.world.PAGES`).
`/` is an HTML index of the feeds, for humans. Requests are not logged, and a client
that hangs up mid-response (the poller cutting a response short, a timeout) is normal: it is
not logged either. Any other error in the server is one line on stderr, never a traceback.

What it leaves to others: the world itself (`monitor.demo.world`, pure) and everything on the
client side.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from monitor.demo.world import CONTENT_TYPES, Outlet, World

__all__ = ["DemoServer", "serve_world"]

Clock = Callable[[], datetime]


def serve_world(
    world: World,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    *,
    limit: int | None = None,
    slow_delay: float = 2.0,
) -> DemoServer:
    """Start serving `world` on `host:port` (0: any free port); stop with `.close()`.

    `clock` gives the time that decides which items are visible (default: now, UTC);
    `limit` keeps only the newest `limit` items in each feed (None: the whole history).
    """
    return DemoServer(world, host, port, clock, limit=limit, slow_delay=slow_delay)


class _Cached:
    """One rendered feed body with its validators, kept gzipped (a quarter of the size)."""

    __slots__ = ("etag", "gz", "last_modified", "limit", "modified_ts", "size", "visible")

    def __init__(
        self, visible: int, limit: int | None, body: bytes, modified: datetime | None
    ) -> None:
        self.visible = visible
        self.limit = limit
        self.size = len(body)
        self.gz = gzip.compress(body, compresslevel=5, mtime=0)
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.modified_ts = modified.timestamp() if modified is not None else None
        self.last_modified = (
            formatdate(self.modified_ts, usegmt=True) if self.modified_ts is not None else None
        )

    def body(self) -> bytes:
        return gzip.decompress(self.gz)


class DemoServer:
    """A running demo server; see `serve_world`. `clock` and `limit` may change while it runs."""

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        *,
        limit: int | None = None,
        slow_delay: float = 2.0,
        flaky_every: int = 3,
    ) -> None:
        self.world = world
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.limit = limit
        self.slow_delay = slow_delay
        self.flaky_every = flaky_every
        self.requests: Counter[str] = Counter()  # path -> requests received
        self.largest_body = 0  # bytes of the largest feed body served so far (uncompressed)
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        # path -> (what to do, outlet, target path)
        self.routes: dict[str, tuple[str, Outlet, str]] = {}
        for outlet in world.outlets:
            for path in outlet.feeds:
                if outlet.health == "moved" and outlet.moved_to:
                    self.routes[path] = ("redirect", outlet, outlet.moved_to)
                    self.routes[outlet.moved_to] = ("feed", outlet, outlet.moved_to)
                elif outlet.health in ("gone", "html"):
                    self.routes[path] = (outlet.health, outlet, path)
                else:
                    self.routes[path] = ("feed", outlet, path)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.demo = self
        self.base_url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="demo-server",
            daemon=True,
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- used by the handler ------------------------------------------------------------------

    def _count(self, path: str) -> int:
        with self._lock:
            self.requests[path] += 1
            return self.requests[path]

    def _feed(self, path: str) -> _Cached:
        at = self.clock()
        visible = self.world.visible_count(path, at)
        limit = self.limit
        cached = self._cache.get(path)
        if cached is not None and (cached.visible, cached.limit) == (visible, limit):
            return cached
        body = self.world.render_feed(path, at, limit, site=self.base_url)
        cached = _Cached(visible, limit, body, self.world.last_modified(path, at))
        self._cache[path] = cached  # one body per path: the newest asked for
        with self._lock:
            self.largest_body = max(self.largest_body, len(body))
        return cached

    def _index(self) -> bytes:
        at = self.clock()
        rows = []
        for outlet in self.world.outlets:
            for path in outlet.feeds:
                target = outlet.moved_to or path
                items = self.world.visible_count(target, at) if outlet.delivers else 0
                rows.append(
                    f'<tr><td><a href="{html.escape(path)}">{html.escape(outlet.feed_name(path))}'
                    f"</a></td><td>{outlet.fmt}</td><td>{outlet.health}</td>"
                    f"<td>{', '.join(outlet.tags)}</td><td>{items:,}</td></tr>"
                )
        watch = "".join(
            f"<li>{html.escape(e.name)} <small>({e.kind})</small></li>" for e in self.world.entities
        )
        page = (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>media-monitor demo world</title></head><body>"
            "<h1>media-monitor demo world</h1>"
            "<p>Invented outlets and stories, generated by <code>monitor/demo/world.py</code>. "
            f"Feeds show what is published up to {at:%Y-%m-%d %H:%M:%S} UTC; "
            "some misbehave on purpose (see the health column).</p>"
            "<table><tr><th>feed</th><th>format</th><th>health</th><th>tags</th>"
            f"<th>items</th></tr>{''.join(rows)}</table>"
            f"<h2>Watched</h2><ul>{watch}</ul></body></html>\n"
        )
        return page.encode("utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent pollers must not overflow the accept backlog
    demo: DemoServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up is normal (nothing logged); anything else is one line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        print(f"demo server: {type(exc).__name__}: {exc}", file=sys.stderr)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: no line per request

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        demo = self.server.demo
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, [("Content-Type", "text/html; charset=utf-8")], demo._index(), head)
            return
        route = demo.routes.get(path)
        n = demo._count(path)
        if route is None:
            self._serve_page(path, head)
            return
        action, outlet, target = route
        if outlet.health == "slow" and demo.slow_delay > 0:
            time.sleep(demo.slow_delay)
        if outlet.health == "flaky" and n % demo.flaky_every == 2 % demo.flaky_every:
            self._send(500, [("Content-Type", "text/plain")], b"internal server error\n", head)
        elif action == "redirect":
            location = demo.base_url + target
            self._send(
                301, [("Location", location)], b"moved to " + location.encode() + b"\n", head
            )
        elif action == "gone":
            self._send(410, [("Content-Type", "text/plain")], b"this feed is gone\n", head)
        elif action == "html":
            self._send(200, [("Content-Type", "text/html; charset=utf-8")], _homepage(outlet), head)
        else:
            self._send_feed(demo._feed(target), outlet, head)

    def _serve_page(self, path: str, head: bool) -> None:
        """robots.txt, or an article's page once the article is available; else 404."""
        demo = self.server.demo
        if path == "/robots.txt":
            body = demo.world.robots_txt().encode()
            self._send(200, [("Content-Type", "text/plain; charset=utf-8")], body, head)
            return
        article = demo.world.page(path)
        if article is None or article.available > demo.clock():
            self._send(404, [("Content-Type", "text/plain")], b"no such page\n", head)
            return
        page = demo.world.render_page(article, demo.base_url)
        self._send(200, [("Content-Type", "text/html; charset=utf-8")], page, head)

    def _send_feed(self, cached: _Cached, outlet: Outlet, head: bool) -> None:
        headers = [("ETag", cached.etag)]
        if cached.last_modified:
            headers.append(("Last-Modified", cached.last_modified))
        if _not_modified(
            cached, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        ):
            self._send(304, headers, b"", head)
            return
        headers.append(("Content-Type", f"{CONTENT_TYPES[outlet.fmt]}; charset=utf-8"))
        headers.append(("Vary", "Accept-Encoding"))
        if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
            body = cached.gz
            headers.append(("Content-Encoding", "gzip"))
        else:
            body = cached.body()
        self._send(200, headers, body, head)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool) -> None:
        """Write the whole response in one call (no small writes for Nagle to delay)."""
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: media-monitor-demo",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head and status != 304:
            data += body
        self.wfile.write(data)


def _not_modified(
    cached: _Cached, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110)
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or cached.etag in tags
    if if_modified_since and cached.modified_ts is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return int(cached.modified_ts) <= since.timestamp()
    return False


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def _homepage(outlet: Outlet) -> bytes:
    name = html.escape(outlet.name)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{name}</title></head><body><h1>{name}</h1>"
        "<p>Welcome to our new website! Our news is now on the home page.</p>"
        "</body></html>\n"
    ).encode()
