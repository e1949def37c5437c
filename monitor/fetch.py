"""Fetch feeds over HTTP: the only module that speaks HTTP (aiohttp).

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

aiohttp rather than httpx: on these machines it spends ~15x less CPU per request, which is
most of a poll where every feed answers 304 (docs/benchmarks.md).

Left to others: what the body means (parse.py), when to poll next and what to remember
about a feed between polls (poll.py), where results are kept (monitor/store/).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import re
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from yarl import URL

from . import __version__
from .errors import FetchError
from .models import FetchRequest, FetchResult
from .secrets import redact_text, redact_url, url_secrets

MAX_REDIRECTS = 5
MB = 1024 * 1024
CHUNK = 64 * 1024
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

_PERMANENT = (301, 308)
_REDIRECTS = (301, 302, 303, 307, 308)
_HTTP_SCHEMES = ("http", "https")

# What aiohttp and the socket layer raise for a feed's own trouble. Anything else is our bug.
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, ValueError)


def _accept_encoding() -> str:
    """The encodings aiohttp can decode here: br and zstd only when their decoders are installed."""
    codings = ["gzip", "deflate"]
    if HAS_BROTLI:
        codings.append("br")
    if HAS_ZSTD:
        codings.append("zstd")
    return ", ".join(codings)


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


class Fetcher:
    """Fetches feeds concurrently over one pooled HTTP/1.1 client session.

    Use as `async with Fetcher(...) as fetcher:` and call `await fetcher.fetch(request)` from
    as many tasks as you like; the fetcher itself limits how many requests are in flight.

    timeout: seconds for connecting and between reads. deadline: seconds for a whole fetch,
    redirects included (default 3 x timeout), so a server sending a byte at a time cannot
    hold a fetch forever. max_bytes: cap on the decoded body. per_host / concurrency:
    requests in flight to one host / in all. now: the clock for `FetchResult.started`.
    resolver: an aiohttp resolver (tests use one to fake DNS failures). accept: the Accept
    header (feed types by default; `HTML_ACCEPT` for article pages).

    No cookies are kept on the session: a cookie set by one hop of a redirect chain is sent
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
        resolver: AbstractResolver | None = None,
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
        self._resolver = resolver
        self._accept = accept
        self._now = now
        self._session: aiohttp.ClientSession | None = None
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
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.concurrency, limit_per_host=self.per_host, resolver=self._resolver
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeout, sock_read=self.timeout
            ),
            headers={
                "User-Agent": self.user_agent,
                "Accept": self._accept,
                "Accept-Encoding": _accept_encoding(),
            },
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            raise_for_status=False,
            # HTTP(S)_PROXY and NO_PROXY, as other feed readers honour them; looked up only
            # when a proxy is set, since aiohttp then reads the environment on every request
            trust_env=bool(urllib.request.getproxies()),
        )
        self._all = asyncio.Semaphore(self.concurrency)
        self._hosts = {}
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, request: FetchRequest, *, permit: Permit | None = None) -> FetchResult:
        """Fetch one URL. Never raises for the URL's own failure; cancellation propagates.

        `permit`, when given, is awaited before every request (the first and each redirect's):
        a reason it returns stops the fetch there, as `outcome="refused"`.
        """
        if self._session is None:
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
            result.final_url = str(url)
            refusal = await permit(str(url)) if permit is not None else None
            if refusal:
                result.outcome, result.error, result.status = "refused", refusal, None
                return
            async with self._slot(url.host or ""):
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
            if target.host != url.host:
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
        url: URL,
        headers: dict[str, str],
        cookies: dict[str, str],
        request: FetchRequest,
        result: FetchResult,
    ) -> URL | None:
        """One request and its response: the next URL for a redirect, else None.

        The one place where aiohttp is called: its errors become FetchError here.
        """
        assert self._session is not None
        sent = dict(headers)
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        try:
            async with self._session.get(
                url, headers=sent, allow_redirects=False, max_redirects=0
            ) as response:
                result.status = response.status
                if response.status in _REDIRECTS and "Location" in response.headers:
                    cookies.update((k, m.value) for k, m in response.cookies.items())
                    return _redirect_target(url, response)
                await self._read_response(url, response, request, result)
                return None
        except FetchError:
            raise
        except _NETWORK_ERRORS as exc:
            raise FetchError(str(url), _one_line(_describe(exc, url, self.timeout))) from exc

    async def _read_response(
        self,
        url: URL,
        response: aiohttp.ClientResponse,
        request: FetchRequest,
        result: FetchResult,
    ) -> None:
        status, headers = response.status, response.headers
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
            raise FetchError(str(url), f"HTTP {status} {_reason(response)}".strip())

    async def _read_body(self, url: URL, response: aiohttp.ClientResponse) -> bytes:
        """The decoded body, cut off as soon as it passes max_bytes."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(str(url), self._too_big_text())
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(CHUNK):
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

    `headers` must look names up case-insensitively (a multidict.CIMultiDict, as aiohttp gives).
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
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _http_url(url: str) -> URL:
    """The request URL, if it is an absolute http(s) URL with a host."""
    try:
        parsed = URL(url.strip())
    except (TypeError, ValueError) as exc:
        raise FetchError(url, f"not a valid URL: {exc}") from exc
    if parsed.scheme not in _HTTP_SCHEMES or not parsed.host:
        raise FetchError(url, "not an http(s) URL; only http:// and https:// feeds are fetched")
    return parsed


def _redirect_target(url: URL, response: aiohttp.ClientResponse) -> URL:
    """Where a redirect points, resolved against the current URL; http(s) only."""
    location = response.headers["location"]
    shown = location if len(location) <= 100 else location[:100] + "..."
    status = f"HTTP {response.status}"
    try:
        target = url.join(URL(location.strip()))
        host = target.host
    except (TypeError, ValueError) as exc:
        raise FetchError(str(url), f"{status} redirect to an invalid URL: {shown}") from exc
    if target.scheme not in _HTTP_SCHEMES or not host:
        raise FetchError(str(url), f"refused {status} redirect to a non-http(s) URL: {shown}")
    return target


def _reason(response: aiohttp.ClientResponse) -> str:
    if response.reason:
        return response.reason
    try:
        return HTTPStatus(response.status).phrase
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
    return text.removesuffix(f" ({exc.url})") if exc.url == requested else text


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """The exception, what it wraps (aiohttp's os_error / certificate_error) and its chain."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in ("os_error", "certificate_error", "__cause__", "__context__"):
            inner = getattr(current, name, None)
            if isinstance(inner, BaseException):
                todo.append(inner)


def _describe(exc: BaseException, url: URL, timeout: float) -> str:
    """A short human message for a network or protocol error (no traceback, no class soup)."""
    causes = list(_causes(exc))
    detail = next((str(c) for c in causes if str(c)), type(exc).__name__)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"timed out connecting to {url.host} (no answer in {timeout:g} s)"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"timed out: the server sent nothing for {timeout:g} s"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return f"timed out after {timeout:g} s ({type(exc).__name__})"
    dns = next((c for c in causes if isinstance(c, socket.gaierror)), None)
    if dns is not None or isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"could not resolve host {url.host} ({dns or detail})"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return f"connection refused by {url.host}:{url.port}"
    cert = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if cert is not None:
        return f"TLS certificate not accepted: {cert.verify_message or cert}"
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is not None:
        return f"TLS error: {tls.reason or tls}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        if "encoding" in detail.lower() or "decompress" in detail.lower():
            return f"could not decompress the response: {detail}"
        return f"server closed the connection before the response was complete ({detail})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection without sending a response"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by the server"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP response: {exc.message or detail}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {url.host}: {detail}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a valid URL: {detail}"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"network error: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _one_line(text: str) -> str:
    """A library's message on one line: aiohttp's parser errors span three, the offending
    header line and a caret under the fault ("Content-Length overflow:\\n\\n  b'...'\\n  ^")."""
    return " ".join(re.sub(r"\n\s*\^\s*$", "", text).split())


def _human_size(n: int) -> str:
    for unit, factor in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
