"""Fetch feeds over HTTP: the only module that speaks HTTP (libcurl, through pycurl).

A `Fetcher` turns a `FetchRequest` (a URL plus the validators from the last poll) into a
`FetchResult`, behaving as a well-mannered feed reader: conditional GET, compressed
responses, at most `per_host` requests in flight to one host and `concurrency` in all,
connect/read timeouts plus an overall deadline, a cap on the decoded body size, redirects
followed by hand (http and https only, at most five hops, `moved_to` after permanent ones),
Retry-After and Cache-Control max-age / Expires read for the scheduler (held to at most
`MAX_DELAY`, so no header can ask for a wait the scheduler cannot represent).

The request carries the real URL (credentials, `${VAR}` values filled in); the result never
does: its URLs are redacted and its error has every secret of the request hidden
(monitor/secrets.py), since it is shown and stored.

`fetch` never raises for a feed's own failure: network errors, HTTP errors and refused
redirects become a result with `outcome="failed"` and a one-line `error` (410 becomes
`"gone"`). Only cancellation propagates, so the poller can stop fetches on shutdown.

Article pages (pages.py) go through a Fetcher of their own (its own limits, an `accept` for
HTML) and pass `permit`, asked before every hop, redirects included: a URL it refuses (robots.txt)
is not requested and the result is `outcome="refused"` with its reason as `error`.

Why libcurl: a poll where every feed answers 304 is mostly the client's start-up and its
per-request cost. Measured as whole processes up to a ready client (instructions / best
wall): aiohttp 1,093 M / 0.20 s (it builds two SSL contexts at import, loading the CA store
whatever the feeds' scheme), httpx 1,023 M / 0.24 s, urllib3 360 M / 0.09 s, pycurl's multi
interface 191 M / 0.06 s; libcurl reads the CA certificates only when an https connection is
made. Its multi interface is driven from the asyncio event loop (`_CurlLoop`: libcurl says
which sockets to watch and when to wake it; the loop calls it back), so fetches stay
coroutines. libcurl reads http_proxy / https_proxy / no_proxy from the environment itself.

Left to others: what the body means (parse.py), when to poll next and what to remember
about a feed between polls (poll.py), where results are kept (monitor/store/).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import math
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import pycurl

from . import __version__
from .errors import FetchError
from .models import FetchRequest, FetchResult
from .secrets import redact_text, redact_url, url_secrets
from .text import default_port

MAX_REDIRECTS = 5
MB = 1024 * 1024
DEFAULT_USER_AGENT = (
    f"media-monitor/{__version__} (+https://github.com/media-monitor/media-monitor)"
)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
# Asked before each request of a fetch: None to go ahead, else why the URL may not be fetched.
Permit = Callable[[str], Awaitable[str | None]]
GONE_ERROR = "feed is gone (HTTP 410); remove it from feeds.yaml or change its url"
# The longest wait a server's Retry-After, Cache-Control max-age or Expires is taken to ask
# for (seconds). Larger values (99999999999999999999, a date in year 9999) are read as this;
# the scheduler applies its own, shorter limits (poll.py).
MAX_DELAY = 7 * 24 * 3600.0
_DIGITS = re.compile(r"[0-9]+")
_STATUS = re.compile(r"[0-9]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_PERMANENT = (301, 308)
_REDIRECTS = (301, 302, 303, 307, 308)
_HTTP_SCHEMES = ("http", "https")
# The body of a redirect or an error is read (so the connection can serve the next request)
# up to this size, then the transfer is stopped: nothing in it is used.
_DISCARD_LIMIT = 64 * 1024
# Where the system keeps its CA certificates (Debian and Ubuntu, Fedora and RHEL, openSUSE,
# Alpine and macOS), tried in turn unless SSL_CERT_FILE names one; certifi's as a last resort.
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
# How a transfer ended that libcurl did not end: the watchdog saw no byte for `timeout` s.
_IDLE = -1


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Clock:
    """When the first request of a fetch went out, and the deadline for the whole fetch."""

    started: datetime | None = None
    t0: float | None = None
    deadline: float = 0.0  # event-loop time

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0


class Headers(Mapping[str, str]):
    """A response's headers, looked up case-insensitively; `get` gives a repeated header's
    first value, `get_all` every one (Set-Cookie)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()):
        self._items: dict[str, list[str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.setdefault(name.lower(), []).append(value)

    def extend_last(self, more: str) -> None:
        """A folded line (obsolete line folding) continues the last header's value."""
        if self._items:
            values = self._items[next(reversed(self._items))]
            values[-1] = f"{values[-1]} {more}"

    def get_all(self, name: str) -> list[str]:
        return list(self._items.get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _Transfer:
    """One request on one easy handle: the response's status and headers (those of the last
    response, after any 1xx), its body, and why the transfer was stopped early, if it was."""

    def __init__(self, curl: pycurl.Curl, max_bytes: int, clock: Callable[[], float]):
        self.curl = curl
        self.max_bytes = max_bytes
        self.clock = clock
        self.status: int | None = None
        self.reason = ""
        self.headers = Headers()
        self.final = False  # the headers of a final (non-1xx) response are all in
        self.discard = False  # a body nothing uses (redirect, error): read only a little of it
        self.chunks: list[bytes] = []
        self.size = 0
        self.stopped = ""  # "too big", "bad length", or "enough" (the rest of a discarded body)
        self.connected = False
        self.last = clock()  # when the transfer last made progress (loop time)
        self.future: asyncio.Future[tuple[int, str]] | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    def on_connect(self, *_ignored: object) -> int:
        """libcurl's PREREQFUNCTION: connected (or a connection reused), the request goes out."""
        self.connected = True
        self.last = self.clock()
        return pycurl.PREREQFUNC_OK

    def on_header(self, raw: bytes) -> int | None:
        """libcurl's HEADERFUNCTION, one line at a time. Returning 0 stops the transfer."""
        self.last = self.clock()
        line = _text(raw).rstrip("\r\n")
        if line.startswith("HTTP/"):  # a new response: a 1xx, a proxy's CONNECT, the final one
            parts = line.split(None, 2)
            code = parts[1] if len(parts) > 1 else ""
            self.status = int(code) if _STATUS.fullmatch(code) else None
            self.reason = parts[2].strip() if len(parts) > 2 else ""
            self.headers, self.final = Headers(), False
        elif not line:
            return self._headers_done()
        elif line[0] in " \t":
            self.headers.extend_last(line.strip())
        else:
            name, _, value = line.partition(":")
            self.headers.add(name.strip(), value.strip())
        return None

    def _headers_done(self) -> int | None:
        status = self.status
        if status is None or status < 200:
            return None  # 100 Continue and the like: the real response follows
        self.final = True
        if not 200 <= status < 300:
            self.discard = True
            return None
        declared = self.headers.get("content-length", "").strip()
        if not _DIGITS.fullmatch(declared):
            return None  # none (read to the end), or libcurl's to judge
        if len(declared) > 19 or int(declared) >= 2**63:
            self.stopped = "bad length"  # libcurl would wait for a body of unknown size
            return 0
        if int(declared) > self.max_bytes:
            self.stopped = "too big"
            return 0
        return None

    def on_body(self, chunk: bytes) -> int | None:
        """libcurl's WRITEFUNCTION: the decoded body, chunk by chunk. 0 stops the transfer."""
        self.last = self.clock()
        self.size += len(chunk)
        if self.discard:
            if self.size > _DISCARD_LIMIT:
                self.stopped = "enough"
                return 0
            return None
        if self.size > self.max_bytes:
            self.stopped = "too big"
            return 0
        self.chunks.append(chunk)
        return None

    def body(self) -> bytes:
        return b"".join(self.chunks)


class _CurlLoop:
    """libcurl's multi interface driven by the running asyncio loop.

    libcurl tells us which sockets to watch (`_on_socket`) and when to wake it for its own
    timeouts (`_on_timer`); the loop calls `socket_action` back when a socket is ready or the
    time has come, and each finished transfer's future gets libcurl's result code. The multi
    handle keeps the connections (and the DNS cache) between transfers.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle_timeout: float):
        self.loop = loop
        self.idle_timeout = idle_timeout
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self.timer: asyncio.TimerHandle | None = None
        self.fds: set[int] = set()
        self.running: dict[pycurl.Curl, _Transfer] = {}
        self.closed = False

    async def perform(self, transfer: _Transfer) -> tuple[int, str]:
        """Run one transfer to its end: (libcurl's result code, its message).

        On cancellation (the fetch's deadline, shutdown) the easy handle is taken out of the
        multi handle before the cancellation goes on; closing it is the caller's.
        """
        transfer.future = self.loop.create_future()
        self.multi.add_handle(transfer.curl)
        self.running[transfer.curl] = transfer
        self._watch(transfer, transfer.last + self.idle_timeout)
        try:
            return await transfer.future
        finally:
            self._forget(transfer)

    def _forget(self, transfer: _Transfer) -> None:
        if transfer.watchdog is not None:
            transfer.watchdog.cancel()
            transfer.watchdog = None
        if self.running.pop(transfer.curl, None) is not None:
            self.multi.remove_handle(transfer.curl)

    def _end(self, transfer: _Transfer, code: int, message: str) -> None:
        self._forget(transfer)
        if transfer.future is not None and not transfer.future.done():
            transfer.future.set_result((code, message))

    def _watch(self, transfer: _Transfer, when: float) -> None:
        transfer.watchdog = self.loop.call_at(when, self._check_idle, transfer)

    def _check_idle(self, transfer: _Transfer) -> None:
        """Nothing received for idle_timeout seconds ends the transfer; the connecting phase
        is left to libcurl's own connect timeout."""
        transfer.watchdog = None
        quiet_until = transfer.last + self.idle_timeout
        if not transfer.connected:
            self._watch(transfer, self.loop.time() + self.idle_timeout)
        elif self.loop.time() < quiet_until:
            self._watch(transfer, quiet_until)
        else:
            self._end(transfer, _IDLE, "")

    def _on_socket(self, what: int, fd: int, multi: object, data: object) -> None:
        # Always unregister first: libcurl may close a socket and open another with the same
        # number without saying so in between, which the selector must not keep watching.
        if fd in self.fds:
            self._unwatch(fd)
        if what == pycurl.POLL_REMOVE or self.closed:
            return
        self.fds.add(fd)
        if what & pycurl.POLL_IN:
            self.loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        if what & pycurl.POLL_OUT:
            self.loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)

    def _unwatch(self, fd: int) -> None:
        self.fds.discard(fd)
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_reader(fd)
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_writer(fd)

    def _on_timer(self, msecs: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if msecs >= 0 and not self.closed:
            self.timer = self.loop.call_later(msecs / 1000, self._on_timeout)

    def _on_timeout(self) -> None:
        self.timer = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, events: int) -> None:
        if self.closed:
            return
        with contextlib.suppress(pycurl.error):
            self.multi.socket_action(fd, events)
        while True:
            queued, ok, failed = self.multi.info_read()
            for curl in ok:
                self._finished(curl, 0, "")
            for curl, code, message in failed:
                self._finished(curl, code, message)
            if not queued:
                break

    def _finished(self, curl: pycurl.Curl, code: int, message: str) -> None:
        transfer = self.running.get(curl)
        if transfer is not None:
            self._end(transfer, code, message)

    def close(self) -> None:
        for transfer in list(self.running.values()):
            self._end(transfer, pycurl.E_ABORTED_BY_CALLBACK, "the fetcher was closed")
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.multi.close()  # closes the cached connections
        for fd in list(self.fds):
            self._unwatch(fd)


class Fetcher:
    """Fetches feeds concurrently over one pool of HTTP/1.1 connections.

    Use as `async with Fetcher(...) as fetcher:` and call `await fetcher.fetch(request)` from
    as many tasks as you like; the fetcher itself limits how many requests are in flight.

    timeout: seconds for connecting and between reads. deadline: seconds for a whole fetch,
    redirects included (default 3 x timeout), so a server sending a byte at a time cannot
    hold a fetch forever. max_bytes: cap on the decoded body. per_host / concurrency:
    requests in flight to one host / in all. now: the clock for `FetchResult.started`.
    resolve: host name -> IP address, used instead of DNS for those names (as curl's
    --resolve; tests point names at 127.0.0.1 with it). accept: the Accept header (feed types
    by default; `HTML_ACCEPT` for article pages).

    No cookies are kept between fetches: a cookie set by one hop of a redirect chain is sent
    on the next hop to the same host, and forgotten when the fetch ends.
    """

    def __init__(
        self,
        timeout: float = 20.0,
        max_bytes: int = 10 * MB,
        per_host: int = 2,
        concurrency: int = 16,
        user_agent: str | None = None,
        *,
        deadline: float | None = None,
        now: Callable[[], datetime] = _utcnow,
        resolve: Mapping[str, str] | None = None,
        accept: str = ACCEPT,
    ):
        if timeout <= 0 or max_bytes <= 0 or per_host < 1 or concurrency < 1:
            raise ValueError("timeout, max_bytes, per_host and concurrency must be positive")
        self.timeout = float(timeout)
        self.deadline = float(deadline) if deadline is not None else 3 * self.timeout
        self.max_bytes = int(max_bytes)
        self.per_host = int(per_host)
        self.concurrency = int(concurrency)
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self._resolve = dict(resolve or {})
        self._accept = accept
        self._now = now
        self._curl: _CurlLoop | None = None
        self._all: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Fetcher:
        """A fetcher from config's PollSettings (timeout, max_bytes, per_host, concurrency)."""
        timeout = settings.timeout
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        return cls(
            timeout=seconds,
            max_bytes=settings.max_bytes,
            per_host=settings.per_host,
            concurrency=settings.concurrency,
            **kwargs,
        )

    async def __aenter__(self) -> Fetcher:
        self._curl = _CurlLoop(asyncio.get_running_loop(), self.timeout)
        self._all = asyncio.Semaphore(self.concurrency)
        self._hosts = {}
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._curl is not None:
            self._curl.close()
            self._curl = None

    async def fetch(self, request: FetchRequest, *, permit: Permit | None = None) -> FetchResult:
        """Fetch one URL. Never raises for the URL's own failure; cancellation propagates.

        `permit`, when given, is awaited before every request (the first and each redirect's):
        a reason it returns stops the fetch there, as `outcome="refused"`.
        """
        if self._curl is None:
            raise RuntimeError("use the Fetcher as `async with Fetcher(...) as fetcher:`")
        result = FetchResult(url=request.url, outcome="failed", final_url=request.url)
        clock = _Clock()
        try:
            await self._follow(request, result, clock, permit)
        except FetchError as exc:
            result.outcome = "failed"
            result.body = None
            result.error = _error_text(exc, request.url)
        result.started = clock.started or self._now()
        result.duration = clock.elapsed()
        return _hide_secrets(result, request)

    async def _follow(
        self, request: FetchRequest, result: FetchResult, clock: _Clock, permit: Permit | None
    ) -> None:
        """Send the request and follow redirects by hand, filling `result` in place."""
        url = _http_url(request.url)
        headers: dict[str, str] = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        cookies: dict[str, str] = {}  # set by one hop, sent on the next to the same host
        permanent = True
        for hops in range(MAX_REDIRECTS + 1):
            result.final_url = url
            refusal = await permit(url) if permit is not None else None
            if refusal:
                result.outcome, result.error, result.status = "refused", refusal, None
                return
            host = _host(url)
            async with self._slot(host):
                if clock.t0 is None:
                    clock.started, clock.t0 = self._now(), time.monotonic()
                    clock.deadline = asyncio.get_running_loop().time() + self.deadline
                try:
                    async with asyncio.timeout_at(clock.deadline):
                        target = await self._exchange(url, headers, cookies, request, result)
                except TimeoutError as exc:
                    raise FetchError(url, self._deadline_text()) from exc
            if target is None:
                if hops and permanent and result.outcome in ("ok", "unchanged"):
                    result.moved_to = url
                return
            permanent = permanent and result.status in _PERMANENT
            if _host(target) != host:
                cookies.clear()
            url = target
        raise FetchError(request.url, f"too many redirects (more than {MAX_REDIRECTS})")

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """Hold a place among the requests in flight to `host`, then among all of them."""
        assert self._all is not None
        per_host = self._hosts.get(host)
        if per_host is None:
            per_host = self._hosts[host] = asyncio.Semaphore(self.per_host)
        async with per_host, self._all:
            yield

    async def _exchange(
        self,
        url: str,
        headers: dict[str, str],
        cookies: dict[str, str],
        request: FetchRequest,
        result: FetchResult,
    ) -> str | None:
        """One request and its response: the next URL for a redirect, else None."""
        sent = dict(headers)
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        transfer = await self._perform(url, sent, result)
        status, response = transfer.status, transfer.headers
        if status in _REDIRECTS and "location" in response:
            cookies.update(_set_cookies(response.get_all("set-cookie")))
            return _redirect_target(url, status, response["location"])
        if status == 304:
            result.outcome = "unchanged"
            # A 304 need not repeat the validators; hand back the ones that still hold.
            result.etag = response.get("etag") or request.etag
            result.last_modified = response.get("last-modified") or request.last_modified
            result.max_age = parse_max_age(response, self._now())
        elif status is not None and 200 <= status < 300:
            body = transfer.body()
            result.outcome = "ok"
            result.body, result.bytes = body, len(body)
            result.content_type = response.get("content-type", "")
            result.etag = response.get("etag")
            result.last_modified = response.get("last-modified")
            result.max_age = parse_max_age(response, self._now())
        elif status == 410:
            result.outcome = "gone"
            result.error = GONE_ERROR
        else:
            if status in (429, 503):
                result.retry_after = parse_retry_after(
                    response.get("retry-after"), response, self._now()
                )
            raise FetchError(url, f"HTTP {status} {_reason(status, transfer.reason)}".strip())
        return None

    async def _perform(self, url: str, headers: dict[str, str], result: FetchResult) -> _Transfer:
        """The one place where libcurl is called: its errors become FetchError here."""
        assert self._curl is not None
        curl = pycurl.Curl()
        transfer = _Transfer(curl, self.max_bytes, self._curl.loop.time)
        try:
            self._setup(curl, url, headers, transfer)
            code, message = await self._curl.perform(transfer)
        except pycurl.error as exc:  # an option libcurl refused (a URL it cannot take)
            args = (*exc.args, 0, "")
            code, message = int(args[0]) or pycurl.E_URL_MALFORMAT, str(args[1])
        except ValueError as exc:  # a NUL byte pycurl cannot hand over
            code, message = pycurl.E_URL_MALFORMAT, str(exc)
        finally:
            if transfer.final:
                result.status = transfer.status
            errno_ = _os_errno(curl)
            curl.close()
        if code and not (code == pycurl.E_WRITE_ERROR and transfer.stopped == "enough"):
            if transfer.stopped == "too big":
                raise FetchError(url, self._too_big_text())
            if transfer.stopped == "bad length":
                shown = transfer.headers.get("content-length", "")[:40]
                raise FetchError(url, f"invalid HTTP response: Content-Length overflow ({shown})")
            text = _describe(code, message, url, self.timeout, errno_, transfer)
            raise FetchError(url, _one_line(text))
        return transfer

    def _setup(self, curl: pycurl.Curl, url: str, headers: dict[str, str], t: _Transfer) -> None:
        setopt = curl.setopt
        setopt(pycurl.URL, url)
        setopt(pycurl.NOSIGNAL, 1)
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.FOLLOWLOCATION, 0)
        setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        setopt(pycurl.CONNECTTIMEOUT_MS, max(1, round(self.timeout * 1000)))
        setopt(pycurl.ACCEPT_ENCODING, "")  # every coding this libcurl decodes, and no other
        setopt(pycurl.USERAGENT, self.user_agent)
        sent = {"Accept": self._accept, **headers}
        # values from a server (validators, cookies) go back on one line, without controls
        setopt(pycurl.HTTPHEADER, [f"{k}: {_header_value(v)}" for k, v in sent.items()])
        setopt(pycurl.HEADERFUNCTION, t.on_header)
        setopt(pycurl.WRITEFUNCTION, t.on_body)
        setopt(pycurl.PREREQFUNCTION, t.on_connect)
        if url.startswith("https:"):
            ca_file = _ca_bundle()
            if ca_file:
                setopt(pycurl.CAINFO, ca_file)
        if self._resolve:
            setopt(pycurl.RESOLVE, _resolve_entries(url, self._resolve))

    def _too_big_text(self) -> str:
        return (
            f"response larger than {_human_size(self.max_bytes)}; "
            "raise poll.max_bytes in feeds.yaml if this feed is really that big"
        )

    def _deadline_text(self) -> str:
        return (
            f"gave up after {self.deadline:g} s: the server is answering too slowly "
            "(raise poll.timeout in feeds.yaml if this feed is always slow)"
        )


async def fetch_all(fetcher: Fetcher, requests: Iterable[FetchRequest]) -> list[FetchResult]:
    """Fetch every request concurrently; results in the order of the requests."""
    return list(await asyncio.gather(*(fetcher.fetch(r) for r in requests)))


async def fetch_each(
    fetcher: Fetcher, requests: Iterable[FetchRequest]
) -> AsyncIterator[FetchResult]:
    """Fetch every request concurrently, yielding each result as soon as it is in.

    To stop early, close the iterator (`contextlib.aclosing`): fetches still running are
    cancelled.
    """
    tasks = [asyncio.ensure_future(fetcher.fetch(r)) for r in requests]
    try:
        for done in asyncio.as_completed(tasks):
            yield await done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def parse_retry_after(
    value: str | None, headers: Mapping[str, str] | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date.

    A date is measured from the response's Date header when there is one (so the server's
    clock is compared with itself), else from `now`. None when absent or unreadable; a date
    in the past gives 0, anything beyond MAX_DELAY gives MAX_DELAY.
    """
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return _delay(float(value))
    when = _http_date(value)
    if when is None:
        return None
    base = _http_date(headers.get("date", "")) if headers is not None else None
    base = base or now or _utcnow()
    return _delay((when - base).total_seconds())


def parse_max_age(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the response stays fresh: Cache-Control max-age, else Expires minus Date.

    `headers` must look names up case-insensitively (`Headers`, as `fetch` collects them).
    Held within 0 and MAX_DELAY, like parse_retry_after.
    """
    for directive in headers.get("cache-control", "").split(","):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return _delay(float(arg)) if _DIGITS.fullmatch(arg) else None
    expires = headers.get("expires")
    if expires is None:
        return None
    when = _http_date(expires)
    if when is None:
        return None
    base = _http_date(headers.get("date", "")) or now or _utcnow()
    return _delay((when - base).total_seconds())


def _delay(seconds: float) -> float | None:
    """A server-given wait held within 0 and MAX_DELAY (None for NaN)."""
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_DELAY)


def _http_date(value: str) -> datetime | None:
    """An HTTP-date as an aware datetime; None when unreadable or out of range (year 99999...)."""
    import email.utils  # (here: most polls read no date, and it takes a few ms to import)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _text(raw: bytes) -> str:
    """A header line as text: UTF-8 when it is that, else Latin-1 (which takes any byte)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _http_url(url: str) -> str:
    """The request URL as sent, if it is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 (raises for a port out of range)
    except ValueError as exc:
        raise FetchError(url, f"not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in _HTTP_SCHEMES or not host:
        raise FetchError(url, "not an http(s) URL; only http:// and https:// feeds are fetched")
    if _CONTROL.search(host):
        raise FetchError(url, "not a valid URL: a control character in the host name")
    try:
        return _wire(parts)
    except UnicodeError as exc:
        raise FetchError(url, f"not a valid URL: {exc}") from exc


_SAFE = "%/:@!$&'()*+,;=-._~"


def _wire(parts: Any) -> str:
    """A split http(s) URL as it goes on the wire: an international host name in IDNA, the
    path and query percent-encoded where they are not ASCII, no fragment."""
    netloc = parts.netloc
    host = parts.hostname or ""
    if not host.isascii() or not netloc.isascii():
        userinfo, at, _ = netloc.rpartition("@")
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = quote(userinfo, safe=_SAFE) + at + host.encode("idna").decode("ascii") + port
    path = quote(parts.path, safe=_SAFE) or "/"
    query = quote(parts.query, safe=_SAFE + "?")
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))


def _redirect_target(url: str, status: int, location: str) -> str:
    """Where a redirect points, resolved against the current URL; http(s) only."""
    shown = location if len(location) <= 100 else location[:100] + "..."
    try:
        parts = urlsplit(urljoin(url, location.strip()))
        host = parts.hostname
        parts.port  # noqa: B018 (raises for a port out of range)
        if _CONTROL.search(host or ""):
            raise ValueError("a control character in the host name")
        http = parts.scheme.lower() in _HTTP_SCHEMES and bool(host)
        target = _wire(parts) if http else ""
    except (ValueError, UnicodeError) as exc:
        raise FetchError(url, f"HTTP {status} redirect to an invalid URL: {shown}") from exc
    if not http:
        raise FetchError(url, f"refused HTTP {status} redirect to a non-http(s) URL: {shown}")
    return target


def _set_cookies(values: list[str]) -> dict[str, str]:
    """The cookies a response sets (name -> value); unreadable Set-Cookie lines are skipped."""
    if not values:
        return {}
    from http.cookies import CookieError, SimpleCookie

    cookies: dict[str, str] = {}
    for value in values:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value)
        except CookieError:
            continue
        cookies.update((name, morsel.value) for name, morsel in jar.items())
    return cookies


@functools.cache
def _ca_bundle() -> str | None:
    """The CA certificates to verify https servers with (read by libcurl at the first https
    connection, not here): SSL_CERT_FILE, else the system's bundle, else certifi's."""
    for path in (os.environ.get("SSL_CERT_FILE"), *_CA_BUNDLES):
        if path and os.path.isfile(path):
            return path
    try:
        import certifi
    except ImportError:
        return None  # libcurl's built-in default
    return str(certifi.where())


def _resolve_entries(url: str, resolve: Mapping[str, str]) -> list[str]:
    """CURLOPT_RESOLVE's "host:port:address" for the URL's host, when `resolve` names it."""
    parts = urlsplit(url)
    address = resolve.get(parts.hostname or "")
    if address is None:
        return []
    port = parts.port or default_port(parts.scheme)
    return [f"{parts.hostname}:{port}:{address}"]


def _os_errno(curl: pycurl.Curl) -> int:
    try:
        return int(curl.getinfo(pycurl.OS_ERRNO))
    except pycurl.error:
        return 0


def _reason(status: int | None, reason: str) -> str:
    if reason:
        return reason
    from http import HTTPStatus

    try:
        return HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


def _hide_secrets(result: FetchResult, request: FetchRequest) -> FetchResult:
    """The result as it may be shown and stored: no credential of the request left in it."""
    secrets = [*url_secrets(request.url), *request.secrets]
    result.url = redact_url(request.url)
    result.final_url = redact_url(result.final_url)
    if result.moved_to:
        result.moved_to = redact_text(result.moved_to, secrets)
    if result.error:
        result.error = redact_text(result.error, secrets)
    return result


def _error_text(exc: FetchError, requested: str) -> str:
    """The message for the result: the URL is named only when it is not the requested one."""
    text = str(exc)
    try:
        sent = _http_url(requested)  # (as it went on the wire: IDNA, percent-encoded)
    except FetchError:
        sent = requested
    return text.removesuffix(f" ({exc.url})") if exc.url in (requested, sent) else text


_TLS_ERRORS = {
    pycurl.E_SSL_CONNECT_ERROR,
    pycurl.E_SSL_CERTPROBLEM,
    pycurl.E_SSL_CIPHER,
    pycurl.E_SSL_CACERT_BADFILE,
    pycurl.E_SSL_CRL_BADFILE,
    pycurl.E_SSL_ISSUER_ERROR,
    pycurl.E_SSL_INVALIDCERTSTATUS,
    pycurl.E_SSL_PINNEDPUBKEYNOTMATCH,
    pycurl.E_SSL_SHUTDOWN_FAILED,
    pycurl.E_USE_SSL_FAILED,
}
_BAD_REPLY = {
    8,  # CURLE_WEIRD_SERVER_REPLY (pycurl names it after FTP)
    pycurl.E_UNSUPPORTED_PROTOCOL,  # an HTTP/0.9 or unknown reply
    pycurl.E_HTTP2,
    pycurl.E_RANGE_ERROR,
    pycurl.E_FILESIZE_EXCEEDED,
}


def _describe(
    code: int, message: str, url: str, timeout: float, os_errno: int, transfer: _Transfer
) -> str:
    """A short human message for libcurl's result code (its own message as the detail)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    detail = message or f"curl error {code}"
    if code == _IDLE or (code == pycurl.E_OPERATION_TIMEDOUT and transfer.connected):
        return f"timed out: the server sent nothing for {timeout:g} s"
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return f"timed out connecting to {host} (no answer in {timeout:g} s)"
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return f"could not resolve host {host}"
    if code == pycurl.E_COULDNT_RESOLVE_PROXY:
        return f"could not resolve the proxy ({detail})"
    if code == pycurl.E_COULDNT_CONNECT:
        if os_errno == errno.ECONNREFUSED:
            port = parts.port or default_port(parts.scheme)
            return f"connection refused by {host}:{port}"
        return f"could not connect to {host}: {detail}"
    if code == pycurl.E_PEER_FAILED_VERIFICATION:
        return f"TLS certificate not accepted: {detail.removeprefix('SSL certificate problem: ')}"
    if code in _TLS_ERRORS:
        return f"TLS error: {detail}"
    if code == pycurl.E_BAD_CONTENT_ENCODING:
        return f"could not decompress the response: {detail}"
    if code == pycurl.E_PARTIAL_FILE:
        return f"server closed the connection before the response was complete ({detail})"
    if code == pycurl.E_GOT_NOTHING:
        return "server closed the connection without sending a response"
    if code in (pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR) and (
        os_errno == errno.ECONNRESET or "reset" in detail.lower()
    ):
        return "connection reset by the server"
    if code in _BAD_REPLY:
        return f"invalid HTTP response: {detail}"
    if code == pycurl.E_URL_MALFORMAT:
        return f"not a valid URL: {detail}"
    return f"network error: {detail}"


def _header_value(text: str) -> str:
    return _one_line(_CONTROL.sub(" ", text))


def _one_line(text: str) -> str:
    """A message or header value on one line, its runs of white space (CR, LF) made one space."""
    return " ".join(text.split())


def _human_size(n: int) -> str:
    for unit, factor in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
