"""Fetch feeds over HTTP: the only module that speaks HTTP (httpx).

A `Fetcher` turns a `FetchRequest` (a URL plus the validators from the last poll) into a
`FetchResult`, behaving as a well-mannered feed reader: conditional GET, compressed
responses, at most `per_host` requests in flight to one host and `concurrency` in all,
connect/read timeouts plus an overall deadline, a cap on the decoded body size, redirects
followed by hand (http and https only, at most five hops, `moved_to` after permanent ones),
Retry-After and Cache-Control max-age read for the scheduler.

`fetch` never raises for a feed's own failure: network errors, HTTP errors and refused
redirects become a result with `outcome="failed"` and a one-line `error` (410 becomes
`"gone"`). Only cancellation propagates, so the poller can stop fetches on shutdown.

Left to others: what the body means (parse.py), when to poll next and what to remember
about a feed between polls (poll.py), where results are kept (store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http.cookiejar
import importlib.util
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from . import __version__
from .errors import FetchError
from .models import FetchRequest, FetchResult

MAX_REDIRECTS = 5
MB = 1024 * 1024
DEFAULT_USER_AGENT = (
    f"media-monitor/{__version__} (+https://github.com/media-monitor/media-monitor)"
)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
GONE_ERROR = "feed is gone (HTTP 410); remove it from feeds.yaml or change its url"

_PERMANENT = (301, 308)
_REDIRECTS = (301, 302, 303, 307, 308)
_HTTP_SCHEMES = ("http", "https")

# What httpx and the socket layer raise for a feed's own trouble. Anything else is our bug.
_NETWORK_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError)


def _accept_encoding() -> str:
    """The encodings httpx can decode here: br and zstd only when their decoders are installed."""
    codings = ["gzip", "deflate"]
    if importlib.util.find_spec("brotli") or importlib.util.find_spec("brotlicffi"):
        codings.append("br")
    if importlib.util.find_spec("zstandard"):
        codings.append("zstd")
    return ", ".join(codings)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Redirect(Exception):
    """Raised by a response hook to hand a redirect to us before httpx reads its Location.

    Even with follow_redirects=False, httpx builds the next request from Location, and fails
    on ones like `javascript:...` before we could refuse them with a clear message.
    """

    def __init__(self, response: httpx.Response):
        super().__init__(response.status_code)
        self.response = response


async def _stop_at_redirect(response: httpx.Response) -> None:
    if response.has_redirect_location:
        raise _Redirect(response)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep no cookies on the client: cookies live for one fetch (across its redirects) only."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


@dataclass
class _Clock:
    """When the first request of a fetch went out, and the deadline for the whole fetch."""

    started: datetime | None = None
    t0: float | None = None
    deadline: float = 0.0  # event-loop time

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0


class Fetcher:
    """Fetches feeds concurrently over one pooled HTTP/1.1 client.

    Use as `async with Fetcher(...) as fetcher:` and call `await fetcher.fetch(request)` from
    as many tasks as you like; the fetcher itself limits how many requests are in flight.

    timeout: seconds for connecting and between reads. deadline: seconds for a whole fetch,
    redirects included (default 3 x timeout), so a server sending a byte at a time cannot
    hold a fetch forever. max_bytes: cap on the decoded body. per_host / concurrency:
    requests in flight to one host / in all. transport: an httpx transport for tests
    (httpx.MockTransport). now: the clock for `FetchResult.started`.
    """

    def __init__(
        self,
        timeout: float = 20.0,
        max_bytes: int = 10 * MB,
        per_host: int = 2,
        concurrency: int = 16,
        user_agent: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        deadline: float | None = None,
        now: Callable[[], datetime] = _utcnow,
    ):
        if timeout <= 0 or max_bytes <= 0 or per_host < 1 or concurrency < 1:
            raise ValueError("timeout, max_bytes, per_host and concurrency must be positive")
        self.timeout = float(timeout)
        self.deadline = float(deadline) if deadline is not None else 3 * self.timeout
        self.max_bytes = int(max_bytes)
        self.per_host = int(per_host)
        self.concurrency = int(concurrency)
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self._transport = transport
        self._now = now
        self._client: httpx.AsyncClient | None = None
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
        self._client = httpx.AsyncClient(
            http1=True,
            http2=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            headers={
                "User-Agent": self.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": _accept_encoding(),
            },
            transport=self._transport,
            event_hooks={"response": [_stop_at_redirect]},
        )
        self._client.cookies.jar.set_policy(_NoCookies())
        self._all = asyncio.Semaphore(self.concurrency)
        self._hosts = {}
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Fetch one feed. Never raises for the feed's own failure; cancellation propagates."""
        if self._client is None:
            raise RuntimeError("use the Fetcher as `async with Fetcher(...) as fetcher:`")
        result = FetchResult(url=request.url, outcome="failed", final_url=request.url)
        clock = _Clock()
        try:
            await self._follow(request, result, clock)
        except FetchError as exc:
            result.outcome = "failed"
            result.body = None
            result.error = _error_text(exc, request.url)
        result.started = clock.started or self._now()
        result.duration = clock.elapsed()
        return result

    async def _follow(self, request: FetchRequest, result: FetchResult, clock: _Clock) -> None:
        """Send the request and follow redirects by hand, filling `result` in place."""
        url = _http_url(request.url)
        headers: dict[str, str] = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        cookies = httpx.Cookies()  # set by one hop, sent on the next
        permanent = True
        for hops in range(MAX_REDIRECTS + 1):
            result.final_url = str(url)
            async with self._slot(url.host):
                if clock.t0 is None:
                    clock.started, clock.t0 = self._now(), time.monotonic()
                    clock.deadline = asyncio.get_running_loop().time() + self.deadline
                try:
                    async with asyncio.timeout_at(clock.deadline):
                        target = await self._exchange(url, headers, cookies, request, result)
                except TimeoutError as exc:
                    raise FetchError(str(url), self._deadline_text()) from exc
            if target is None:
                if hops and permanent and result.outcome in ("ok", "unchanged"):
                    result.moved_to = str(url)
                return
            permanent = permanent and result.status in _PERMANENT
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
        url: httpx.URL,
        headers: dict[str, str],
        cookies: httpx.Cookies,
        request: FetchRequest,
        result: FetchResult,
    ) -> httpx.URL | None:
        """One request and its response: the next URL for a redirect, else None.

        The one place where httpx is called: its errors become FetchError here.
        """
        assert self._client is not None
        try:
            outgoing = self._client.build_request("GET", url, headers=headers)
            cookies.set_cookie_header(outgoing)
            response = await self._client.send(outgoing, stream=True)
            try:
                result.status = response.status_code
                await self._read_response(url, response, request, result)
                return None
            finally:
                await response.aclose()
        except _Redirect as redirect:
            result.status = redirect.response.status_code
            cookies.extract_cookies(redirect.response)
            return _redirect_target(url, redirect.response)
        except FetchError:
            raise
        except _NETWORK_ERRORS as exc:
            raise FetchError(str(url), _describe(exc, url, self.timeout)) from exc

    async def _read_response(
        self, url: httpx.URL, response: httpx.Response, request: FetchRequest, result: FetchResult
    ) -> None:
        status, headers = response.status_code, response.headers
        if status == 304:
            result.outcome = "unchanged"
            # A 304 need not repeat the validators; hand back the ones that still hold.
            result.etag = headers.get("etag") or request.etag
            result.last_modified = headers.get("last-modified") or request.last_modified
            result.max_age = parse_max_age(headers, self._now())
        elif 200 <= status < 300:
            body = await self._read_body(url, response)
            result.outcome = "ok"
            result.body, result.bytes = body, len(body)
            result.content_type = headers.get("content-type", "")
            result.etag = headers.get("etag")
            result.last_modified = headers.get("last-modified")
            result.max_age = parse_max_age(headers, self._now())
        elif status == 410:
            result.outcome = "gone"
            result.error = GONE_ERROR
        else:
            if status in (429, 503):
                result.retry_after = parse_retry_after(
                    headers.get("retry-after"), headers, self._now()
                )
            raise FetchError(str(url), f"HTTP {status} {response.reason_phrase}".strip())

    async def _read_body(self, url: httpx.URL, response: httpx.Response) -> bytes:
        """The decoded body, cut off as soon as it passes max_bytes."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(str(url), self._too_big_text())
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(str(url), self._too_big_text())
            chunks.append(chunk)
        return b"".join(chunks)

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
    value: str | None, headers: httpx.Headers | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date.

    A date is measured from the response's Date header when there is one (so the server's
    clock is compared with itself), else from `now`. None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    base = _http_date(headers.get("date", "")) if headers is not None else None
    base = base or now or _utcnow()
    return max(0.0, (when - base).total_seconds())


def parse_max_age(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds the response stays fresh: Cache-Control max-age, else Expires minus Date."""
    for directive in headers.get("cache-control", "").split(","):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return float(arg) if arg.isdigit() else None
    expires = headers.get("expires")
    if expires is None:
        return None
    when = _http_date(expires)
    if when is None:
        return None
    base = _http_date(headers.get("date", "")) or now or _utcnow()
    return max(0.0, (when - base).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _http_url(url: str) -> httpx.URL:
    """The request URL, if it is an absolute http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(url, f"not a valid URL: {exc}") from exc
    if parsed.scheme not in _HTTP_SCHEMES or not parsed.host:
        raise FetchError(url, "not an http(s) URL; only http:// and https:// feeds are fetched")
    return parsed


def _redirect_target(url: httpx.URL, response: httpx.Response) -> httpx.URL:
    """Where a redirect points, resolved against the current URL; http(s) only."""
    location = response.headers["location"]
    shown = location if len(location) <= 100 else location[:100] + "..."
    status = f"HTTP {response.status_code}"
    try:
        target = url.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(str(url), f"{status} redirect to an invalid URL: {shown}") from exc
    if target.scheme not in _HTTP_SCHEMES or not target.host:
        raise FetchError(str(url), f"refused {status} redirect to a non-http(s) URL: {shown}")
    return target


def _error_text(exc: FetchError, requested: str) -> str:
    """The message for the result: the URL is named only when it is not the requested one."""
    text = str(exc)
    return text.removesuffix(f" ({exc.url})") if exc.url == requested else text


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _describe(exc: BaseException, url: httpx.URL, timeout: float) -> str:
    """A short human message for a network or protocol error (no traceback, no class soup)."""
    causes = list(_causes(exc))
    root = causes[-1]
    detail = next((str(c) for c in reversed(causes) if str(c)), type(exc).__name__)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out connecting to {url.host} (no answer in {timeout:g} s)"
    if isinstance(exc, httpx.ReadTimeout):
        return f"timed out: the server sent nothing for {timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s ({type(exc).__name__})"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return f"could not resolve host {url.host} ({root})"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return f"connection refused by {url.host}:{url.port or _default_port(url)}"
    cert = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if cert is not None:
        return f"TLS certificate not accepted: {cert.verify_message or cert}"
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is not None:
        return f"TLS error: {tls.reason or tls}"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by the server"
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc)
        if "peer closed connection" in text or "incomplete" in text:
            return f"server closed the connection before the response was complete ({text})"
        if "disconnected without sending a response" in text:
            return "server closed the connection without sending a response"
        return f"invalid HTTP response: {detail}"
    if isinstance(exc, httpx.DecodingError):
        return f"could not decompress the response: {detail}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {url.host}: {detail}"
    if isinstance(exc, httpx.NetworkError):
        return f"network error: {detail}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"not a valid URL: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _human_size(n: int) -> str:
    for unit, factor in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
