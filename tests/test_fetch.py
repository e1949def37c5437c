"""monitor.fetch against a real loopback server (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import time
from contextlib import aclosing
from datetime import UTC, datetime

import pytest
import trustme

from monitor import __version__
from monitor import fetch as fetch_module
from monitor.fetch import (
    GONE_ERROR,
    MAX_DELAY,
    Fetcher,
    Headers,
    fetch_all,
    fetch_each,
    parse_max_age,
    parse_retry_after,
)
from monitor.models import FetchRequest, FetchResult
from tests.feedserver import FeedServer, http_date

FAST = {"timeout": 0.5}
FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>News</title></channel></rss>"
LAST_MODIFIED = "Mon, 02 Jun 2025 10:00:00 GMT"


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def fetch(url: str, etag: str | None = None, last_modified: str | None = None, **options):
    """Fetch one URL with a fresh Fetcher (short timeouts unless told otherwise)."""

    async def go() -> FetchResult:
        async with Fetcher(**{**FAST, **options}) as fetcher:
            return await fetcher.fetch(FetchRequest(url, etag, last_modified))

    return asyncio.run(go())


def timed_fetch(url: str, **options) -> tuple[FetchResult, float]:
    t0 = time.monotonic()
    result = fetch(url, **options)
    return result, time.monotonic() - t0


# -- a plain fetch ---------------------------------------------------------------------------


def test_ok_returns_body_validators_and_timing(server):
    server.feed("/rss", FEED, etag='"v1"', last_modified=LAST_MODIFIED)
    before = datetime.now(UTC)
    result = fetch(server.url("/rss"))
    assert result.outcome == "ok"
    assert result.status == 200
    assert result.body == FEED
    assert result.bytes == len(FEED)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    assert result.error == ""
    assert result.moved_to is None
    assert result.final_url == result.url == server.url("/rss")
    assert result.started is not None and result.started >= before
    assert 0 < result.duration < 2


def test_request_headers_cross_the_wire(server):
    server.feed("/rss", FEED)
    fetch(server.url("/rss"))
    (seen,) = server.requests
    assert seen.headers["user-agent"] == (
        f"media-monitor/{__version__} (+https://github.com/media-monitor/media-monitor)"
    )
    assert seen.headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert "gzip" in seen.headers["accept-encoding"]
    assert "if-none-match" not in seen.headers
    assert "if-modified-since" not in seen.headers


def test_custom_user_agent(server):
    server.feed("/rss", FEED)
    fetch(server.url("/rss"), user_agent="custom/1.0")
    assert server.requests[0].headers["user-agent"] == "custom/1.0"


# -- conditional GET -------------------------------------------------------------------------


def test_validators_sent_back_and_304_is_unchanged(server):
    server.feed("/rss", FEED, etag='"v1"', last_modified=LAST_MODIFIED)
    first = fetch(server.url("/rss"))
    second = fetch(server.url("/rss"), etag=first.etag, last_modified=first.last_modified)
    seen = server.requests[1].headers
    assert seen["if-none-match"] == '"v1"'
    assert seen["if-modified-since"] == LAST_MODIFIED
    assert second.outcome == "unchanged"
    assert second.status == 304
    assert second.body is None and second.bytes == 0
    assert (second.etag, second.last_modified) == ('"v1"', LAST_MODIFIED)


def test_if_modified_since_alone_gives_304(server):
    server.feed("/rss", FEED, last_modified=LAST_MODIFIED)
    result = fetch(server.url("/rss"), last_modified=LAST_MODIFIED)
    assert result.outcome == "unchanged"
    assert server.requests[0].headers["if-modified-since"] == LAST_MODIFIED


def test_stale_etag_gets_the_new_body(server):
    server.feed("/rss", FEED, etag='"v2"')
    result = fetch(server.url("/rss"), etag='"v1"')
    assert result.outcome == "ok"
    assert result.body == FEED
    assert result.etag == '"v2"'


# -- HTTP errors -----------------------------------------------------------------------------


def test_500_is_failed_with_status_and_reason(server):
    server.feed("/rss", b"oops", status=500)
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.status == 500
    assert result.error == "HTTP 500 Internal Server Error"
    assert result.body is None


def test_404_is_failed(server):
    result = fetch(server.url("/missing"))
    assert (result.outcome, result.status, result.error) == ("failed", 404, "HTTP 404 Not Found")


def test_410_is_gone(server):
    server.feed("/rss", b"", status=410)
    result = fetch(server.url("/rss"))
    assert result.outcome == "gone"
    assert result.status == 410
    assert (
        result.error
        == GONE_ERROR
        == ("feed is gone (HTTP 410); remove it from feeds.yaml or change its url")
    )


def test_retry_after_seconds_on_429(server):
    server.feed("/rss", b"slow down", status=429, headers={"Retry-After": "120"})
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.error == "HTTP 429 Too Many Requests"
    assert result.retry_after == 120.0


def test_retry_after_http_date_on_503(server):
    server.feed("/rss", b"busy", status=503, headers={"Retry-After": http_date(90)})
    result = fetch(server.url("/rss"))
    assert result.error == "HTTP 503 Service Unavailable"
    assert result.retry_after is not None and 88 <= result.retry_after <= 92


HUGE = "99999999999999999999"


def test_absurd_server_delays_are_clamped_not_fatal(server):
    """Delays no timedelta can hold came back as is and crashed the scheduler."""
    server.feed("/limited", b"", status=429, headers={"Retry-After": HUGE})
    server.feed("/cached", FEED, headers={"Cache-Control": f"max-age={HUGE}"})
    server.feed("/expires", FEED, headers={"Expires": f"Fri, 31 Dec {HUGE} 23:59:59 GMT"})
    server.feed("/far", FEED, headers={"Expires": "Fri, 31 Dec 9999 23:59:59 -0800"})

    async def go():
        async with Fetcher(**FAST) as fetcher:
            return await fetch_all(
                fetcher,
                [FetchRequest(server.url(p)) for p in ("/limited", "/cached", "/expires", "/far")],
            )

    limited, cached, expires, far = asyncio.run(go())
    assert (limited.outcome, limited.retry_after) == ("failed", MAX_DELAY)
    assert (cached.outcome, cached.max_age) == ("ok", MAX_DELAY)
    assert (expires.outcome, expires.max_age) == ("ok", None)  # unreadable date: no hint
    assert (far.outcome, far.max_age) == ("ok", MAX_DELAY)


def test_retry_after_ignored_on_other_statuses(server):
    server.feed("/rss", b"", status=500, headers={"Retry-After": "120"})
    assert fetch(server.url("/rss")).retry_after is None


# -- redirects -------------------------------------------------------------------------------


def test_permanent_chain_sets_moved_to(server):
    server.redirect("/a", server.url("/b"), status=301)
    server.redirect("/b", "/rss", status=308)  # relative Location
    server.feed("/rss", FEED)
    result = fetch(server.url("/a"))
    assert result.outcome == "ok"
    assert result.body == FEED
    assert result.url == server.url("/a")
    assert result.moved_to == server.url("/rss")
    assert result.final_url == server.url("/rss")
    assert [r.path for r in server.requests] == ["/a", "/b", "/rss"]


def test_permanent_redirect_to_304_sets_moved_to(server):
    server.redirect("/old", "/rss", status=301)
    server.feed("/rss", FEED, etag='"v1"')
    result = fetch(server.url("/old"), etag='"v1"')
    assert result.outcome == "unchanged"
    assert result.moved_to == server.url("/rss")
    assert server.requests_to("/rss")[0].headers["if-none-match"] == '"v1"'


def test_temporary_redirect_gives_no_moved_to(server):
    server.redirect("/a", "/rss", status=302)
    server.feed("/rss", FEED)
    result = fetch(server.url("/a"))
    assert result.outcome == "ok"
    assert result.moved_to is None
    assert result.final_url == server.url("/rss")


def test_one_temporary_hop_in_a_chain_gives_no_moved_to(server):
    server.redirect("/a", "/b", status=301)
    server.redirect("/b", "/rss", status=307)
    server.feed("/rss", FEED)
    assert fetch(server.url("/a")).moved_to is None


def test_permanent_redirect_to_an_error_gives_no_moved_to(server):
    server.redirect("/a", "/broken", status=301)
    server.feed("/broken", b"", status=500)
    result = fetch(server.url("/a"))
    assert (result.outcome, result.status, result.moved_to) == ("failed", 500, None)
    assert result.error == f"HTTP 500 Internal Server Error ({server.url('/broken')})"


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "javascript:alert(1)", "data:,hello"],
)
def test_redirect_to_a_non_http_url_is_refused(server, location):
    server.redirect("/rss", location, status=301)
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.status == 301
    assert result.error == f"refused HTTP 301 redirect to a non-http(s) URL: {location}"
    assert result.moved_to is None
    assert len(server.requests) == 1


def test_too_many_redirects(server):
    server.redirect("/loop", "/loop", status=301)
    result = fetch(server.url("/loop"))
    assert result.outcome == "failed"
    assert result.error == "too many redirects (more than 5)"
    assert len(server.requests) == 6  # the request and five redirects followed


def test_five_redirects_are_followed(server):
    for i in range(5):
        server.redirect(f"/r{i}", f"/r{i + 1}", status=302)
    server.handle("/r5", lambda ex: ex.respond(200, FEED))
    assert fetch(server.url("/r0")).outcome == "ok"


# -- size cap, compression -------------------------------------------------------------------


def test_gzip_is_asked_for_and_decoded(server):
    body = FEED * 200
    server.feed("/rss", body, gzip=True)
    result = fetch(server.url("/rss"))
    assert result.outcome == "ok"
    assert result.body == body
    assert result.bytes == len(body)


def test_endless_body_is_cut_off(server):
    server.endless("/rss")
    result, elapsed = timed_fetch(server.url("/rss"), max_bytes=1024 * 1024)
    assert result.outcome == "failed"
    assert result.status == 200
    assert result.body is None
    assert result.error == (
        "response larger than 1 MB; raise poll.max_bytes in feeds.yaml if this feed is really "
        "that big"
    )
    assert elapsed < 2


def test_gzip_bomb_is_cut_off_on_the_decoded_size(server):
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))
    assert len(bomb) < 100_000
    server.feed("/rss", bomb, headers={"Content-Encoding": "gzip"})
    result, elapsed = timed_fetch(server.url("/rss"), max_bytes=1024 * 1024)
    assert result.outcome == "failed"
    assert result.error.startswith("response larger than 1 MB;")
    assert elapsed < 2


def test_body_at_the_cap_is_kept(server):
    server.feed("/rss", b"x" * 1000)
    assert fetch(server.url("/rss"), max_bytes=1000).outcome == "ok"
    assert fetch(server.url("/rss"), max_bytes=999).outcome == "failed"


# -- slow, broken and absent servers ---------------------------------------------------------


def test_stalled_server_times_out(server):
    server.stall("/rss")
    result, elapsed = timed_fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.status == 200
    assert result.error == "timed out: the server sent nothing for 0.5 s"
    assert 0.4 < elapsed < 1.5


def test_dribbling_server_hits_the_deadline(server):
    server.dribble("/rss", interval=0.1)
    result, elapsed = timed_fetch(server.url("/rss"), deadline=1.0)
    assert result.outcome == "failed"
    assert result.error.startswith("gave up after 1 s: the server is answering too slowly")
    assert 0.9 < elapsed < 2


def test_connection_closed_mid_body(server):
    server.truncate("/rss", sent=100, declared=1000)
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.error.startswith("server closed the connection before the response was complete")


def test_connection_closed_without_response(server):
    def hang_up(ex):
        ex.close_connection = True

    server.handle("/rss", hang_up)
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.status is None
    assert result.error == "server closed the connection without sending a response"


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, elapsed = timed_fetch(f"http://127.0.0.1:{port}/rss")
    assert result.outcome == "failed"
    assert result.status is None
    assert result.error == f"connection refused by 127.0.0.1:{port}"
    assert elapsed < 1.5


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/rss", "file:///etc/passwd", "javascript:alert(1)", "feeds/rss.xml", ""],
)
def test_non_http_url_is_refused_without_a_request(server, url):
    result = fetch(url)
    assert result.outcome == "failed"
    assert result.status is None
    assert "http" in result.error
    assert result.started is not None
    assert server.requests == []


def test_cancellation_propagates(server):
    server.stall("/rss")

    async def go():
        async with Fetcher(timeout=5) as fetcher:
            task = asyncio.create_task(fetcher.fetch(FetchRequest(server.url("/rss"))))
            await asyncio.sleep(0.2)
            task.cancel()
            await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())


def test_a_cancelled_or_timed_out_transfer_leaves_nothing_running(server):
    server.stall("/stalled")
    server.dribble("/dribble", interval=0.1)

    async def go():
        async with Fetcher(timeout=5, deadline=0.5) as fetcher:
            task = asyncio.create_task(fetcher.fetch(FetchRequest(server.url("/stalled"))))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            timed_out = await fetcher.fetch(FetchRequest(server.url("/dribble")))
            curl = fetcher._curl
            assert curl is not None
            return timed_out, dict(curl.running)

    timed_out, running = asyncio.run(go())
    assert timed_out.error.startswith("gave up after 0.5 s")
    assert running == {}  # both easy handles taken out of the multi handle


# -- limits on concurrency -------------------------------------------------------------------


def run_many(server, n: int, **options) -> list[FetchResult]:
    async def go():
        async with Fetcher(**{**FAST, **options}) as fetcher:
            requests = [FetchRequest(server.url(f"/rss?{i}")) for i in range(n)]
            return await fetch_all(fetcher, requests)

    return asyncio.run(go())


def test_per_host_limit(server):
    server.feed("/rss", FEED, delay=0.1)
    results = run_many(server, 10, per_host=2)
    assert [r.outcome for r in results] == ["ok"] * 10
    assert server.peak_in_flight == 2
    assert server.peak_connections == 2


def test_global_limit(server):
    server.feed("/rss", FEED, delay=0.1)
    results = run_many(server, 10, per_host=10, concurrency=3)
    assert [r.outcome for r in results] == ["ok"] * 10
    assert server.peak_in_flight == 3


def test_duration_does_not_count_the_wait_for_a_slot(server):
    server.feed("/rss", FEED, delay=0.2)
    results = run_many(server, 3, per_host=1)
    assert max(r.duration for r in results) < 0.35


def test_fetch_each_yields_as_results_come_in(server):
    server.feed("/slow", FEED, delay=0.25)
    server.feed("/fast", FEED)
    server.feed("/middle", FEED, delay=0.12)

    async def go():
        async with Fetcher(**FAST) as fetcher:
            paths = ["/slow", "/fast", "/middle"]
            requests = [FetchRequest(server.url(p)) for p in paths]
            each = [r.url async for r in fetch_each(fetcher, requests)]
            every = [r.url for r in await fetch_all(fetcher, requests)]
            return each, every

    each, every = asyncio.run(go())
    assert each == [server.url(p) for p in ["/fast", "/middle", "/slow"]]
    assert every == [server.url(p) for p in ["/slow", "/fast", "/middle"]]


def test_fetch_each_closed_early_cancels_the_rest(server):
    server.feed("/fast", FEED)
    server.stall("/stalled")

    async def go():
        async with Fetcher(timeout=10) as fetcher:
            requests = [FetchRequest(server.url("/stalled")), FetchRequest(server.url("/fast"))]
            async with aclosing(fetch_each(fetcher, requests)) as results:
                async for result in results:
                    return result

    t0 = time.monotonic()
    assert asyncio.run(go()).url == server.url("/fast")
    assert time.monotonic() - t0 < 2


# -- single exchanges ---------------------------------------------------------------------


def test_304_keeps_the_validators_that_still_hold(server):
    server.handle("/feed", lambda ex: ex.respond(304, b"", {"Cache-Control": "max-age=600"}))
    result = fetch(server.url("/feed"), etag='"abc"', last_modified="x")
    seen = server.requests_to("/feed")[0].headers
    assert seen["if-none-match"] == '"abc"'
    assert seen["if-modified-since"] == "x"
    assert seen["user-agent"].startswith("media-monitor/")
    assert result.outcome == "unchanged"
    assert (result.etag, result.last_modified) == ('"abc"', "x")  # the ones that still hold
    assert result.max_age == 600.0


def test_relative_redirect_carries_cookies_for_one_fetch_only(server):
    server.feed("/a/feed", b"", status=302, headers={"Location": "../x/rss", "Set-Cookie": "s=1"})
    server.feed("/x/rss", FEED)

    async def go():
        async with Fetcher(**FAST) as fetcher:
            first = await fetcher.fetch(FetchRequest(server.url("/a/feed")))
            await fetcher.fetch(FetchRequest(server.url("/x/rss")))
            return first

    result = asyncio.run(go())
    assert result.final_url == server.url("/x/rss")
    assert result.body == FEED
    cookies = [r.headers.get("cookie") for r in server.requests]
    assert cookies == [None, "s=1", None]


def test_declared_length_over_the_cap_fails_before_reading(server):
    server.stall("/rss", declared=5_000_000)
    result, elapsed = timed_fetch(server.url("/rss"), max_bytes=1_000_000, timeout=5)
    assert result.outcome == "failed"
    assert result.error.startswith("response larger than 976.6 KB;")
    assert elapsed < 2  # did not wait for the body that never comes


def test_dns_failure_is_a_short_message():
    # .invalid is reserved (RFC 6761): no resolver gives it an address
    result = fetch("https://no-such-host.invalid/feed")
    assert result.outcome == "failed"
    assert result.status is None
    assert result.error == "could not resolve host no-such-host.invalid"


def test_resolve_pins_a_name_to_an_address_and_a_new_host_drops_the_cookies(server):
    # feeds.example is not in any DNS: only `resolve` can take the fetch to the server
    port = server.port
    server.feed(
        "/a",
        b"",
        status=302,
        headers={"Location": f"http://mirror.example:{port}/b", "Set-Cookie": "s=1"},
    )
    server.feed("/b", b"", status=301, headers={"Location": "/rss", "Set-Cookie": "t=2"})
    server.feed("/rss", FEED)
    pinned = {"feeds.example": "127.0.0.1", "mirror.example": "127.0.0.1"}
    result = fetch(f"http://feeds.example:{port}/a", resolve=pinned)
    assert (result.outcome, result.body) == ("ok", FEED)
    assert result.final_url == f"http://mirror.example:{port}/rss"
    assert [r.headers.get("host") for r in server.requests] == [
        f"feeds.example:{port}",
        f"mirror.example:{port}",
        f"mirror.example:{port}",
    ]
    # s=1 was set by feeds.example: not sent to mirror.example; t=2 goes on to its /rss
    assert [r.headers.get("cookie") for r in server.requests] == [None, None, "t=2"]


@pytest.fixture
def tls_server(tmp_path):
    """The feed server behind TLS, with a certificate for feeds.example from a CA of its own
    (trustme), and the CA's certificate in a file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feeds.example").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    running = FeedServer()
    running._httpd.socket = context.wrap_socket(running._httpd.socket, server_side=True)
    with running:
        running.feed("/rss", FEED)
        yield running, ca_file
    fetch_module._ca_bundle.cache_clear()  # the bundle found with SSL_CERT_FILE as the test set it


PINNED = {"feeds.example": "127.0.0.1", "other.example": "127.0.0.1"}


def test_https_certificate_from_an_unknown_ca_is_not_accepted(tls_server):
    server, _ = tls_server
    result = fetch(f"https://feeds.example:{server.port}/rss", resolve=PINNED)
    assert result.outcome == "failed"
    assert result.status is None and result.body is None
    assert result.error.startswith("TLS certificate not accepted: "), result.error
    assert "\n" not in result.error
    assert server.requests == []  # no request went out over the untrusted connection


def test_https_is_verified_against_the_ca_bundle_and_the_host_name(tls_server, monkeypatch):
    server, ca_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # read as OpenSSL reads it
    fetch_module._ca_bundle.cache_clear()
    result = fetch(f"https://feeds.example:{server.port}/rss", resolve=PINNED)
    assert (result.outcome, result.body) == ("ok", FEED)
    # a certificate the CA signed, for another name
    result = fetch(f"https://other.example:{server.port}/rss", resolve=PINNED)
    assert result.outcome == "failed"
    assert result.error.startswith("TLS certificate not accepted: "), result.error
    assert "other.example" in result.error
    assert len(server.requests) == 1


def test_started_comes_from_the_clock(server):
    fixed = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    server.feed("/rss", FEED)
    assert fetch(server.url("/rss"), now=lambda: fixed).started == fixed


def test_bad_gzip_is_a_failure(server):
    server.feed("/rss", b"not gzip", headers={"Content-Encoding": "gzip"})
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.error.startswith("could not decompress the response")


def test_a_malformed_response_is_a_one_line_error(server):
    # a length no 64-bit count holds: an HTTP client's parser rejects it (aiohttp's message
    # spanned lines and went as it was into `status`), and libcurl would wait for the body
    server.feed("/rss", FEED, headers={"Content-Length": "99999999999999999999"})
    result = fetch(server.url("/rss"))
    assert result.outcome == "failed"
    assert result.error.startswith("invalid HTTP response: Content-Length overflow")
    assert "\n" not in result.error and not result.error.endswith("^"), result.error


def test_hostile_header_lines_are_read_not_raised(server):
    """Bytes that are not UTF-8, a folded header, a 100 Continue before the response, an
    unknown header without a value: the response is read, from the last response's headers."""

    def raw(ex):
        ex.close_connection = True
        ex.write(
            b"HTTP/1.1 100 Continue\r\nCache-Control: max-age=5\r\n\r\n"
            b"HTTP/1.1 200 \xff\xfe\r\nContent-Type: text/xml; x=\xe9\xff\r\n"
            b"Cache-Control: public,\r\n max-age=60\r\nX-Empty:\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(FEED), FEED)
        )

    server.handle("/rss", raw)
    result = fetch(server.url("/rss"))
    assert (result.outcome, result.status, result.body) == ("ok", 200, FEED)
    assert result.content_type == "text/xml; x=\xe9\xff"  # (as Latin-1: any byte is a char)
    assert result.max_age == 60.0


@pytest.mark.parametrize(
    ("url", "etag"),
    [("http://feeds\x00.example/rss", None), ("{rss}", 'a\x00b"\r\nX-Injected: 1')],
)
def test_control_characters_never_raise_nor_reach_the_wire(server, url, etag):
    server.feed("/rss", FEED, etag='"v1"')
    result = fetch(url.format(rss=server.url("/rss")), etag=etag)
    if "\x00.example" in url:
        assert result.error == "not a valid URL: a control character in the host name"
        assert server.requests == []
    else:
        assert result.outcome == "ok"
        (seen,) = server.requests
        assert seen.headers["if-none-match"] == 'a b" X-Injected: 1'  # one line, as a value
        assert "x-injected" not in {k.lower() for k in seen.headers}


def test_fetch_outside_async_with_is_a_programming_error():
    async def go():
        await Fetcher().fetch(FetchRequest("https://example.com/feed"))

    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(go())


# -- header parsing --------------------------------------------------------------------------

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 02 Jun 2025 12:05:00 GMT", 300.0),
        ("Mon, 02 Jun 2025 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HUGE, MAX_DELAY),
        ("9" * 5000, MAX_DELAY),  # more digits than int() takes
        (str(int(MAX_DELAY) + 1), MAX_DELAY),
        (str(int(MAX_DELAY)), MAX_DELAY),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_DELAY),
        ("Fri, 31 Dec 9999 23:59:59 -1200", MAX_DELAY),  # past year 9999 in UTC
        (f"Fri, 31 Dec {HUGE} 23:59:59 GMT", None),  # raised OverflowError
        ("Sat, 01 Jan 10000 00:00:00 GMT", None),
        ("Mon, 01 Jan 0001 00:00:00 +1400", 0.0),  # read as 2001, in the past
        ("²", None),  # a digit to str.isdigit, not to float()
        ("nan", None),
        ("inf", None),
        ("1e9", None),
        ("-99999999999999999999", None),
    ],
)
def test_parse_retry_after_holds_absurd_values(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_measures_a_date_from_the_date_header():
    headers = Headers({"Date": "Mon, 02 Jun 2025 08:00:00 GMT"})
    assert parse_retry_after("Mon, 02 Jun 2025 08:01:00 GMT", headers, now=NOW) == 60.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "max-age=3600"}, 3600.0),
        ({"Cache-Control": "public, MAX-AGE=60, must-revalidate"}, 60.0),
        ({"Cache-Control": "no-cache"}, None),
        ({"Cache-Control": "max-age=abc"}, None),
        ({"Expires": "Mon, 02 Jun 2025 13:00:00 GMT"}, 3600.0),
        (
            {"Expires": "Mon, 02 Jun 2025 13:00:00 GMT", "Date": "Mon, 02 Jun 2025 12:30:00 GMT"},
            1800.0,
        ),
        ({"Cache-Control": "max-age=10", "Expires": "Mon, 02 Jun 2025 13:00:00 GMT"}, 10.0),
        ({"Expires": "0"}, None),
        ({}, None),
    ],
)
def test_parse_max_age(headers, expected):
    assert parse_max_age(Headers(headers), NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": f"max-age={HUGE}"}, MAX_DELAY),
        ({"Cache-Control": f'max-age="{HUGE}"'}, MAX_DELAY),
        ({"Cache-Control": "max-age=-5"}, None),
        ({"Cache-Control": "max-age=²"}, None),
        ({"Cache-Control": "max-age=nan"}, None),
        ({"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_DELAY),
        ({"Expires": f"Fri, 31 Dec {HUGE} 23:59:59 GMT"}, None),
        ({"Expires": "Mon, 02 Jun 2025 13:00:00 GMT", "Date": f"Mon, 02 Jun {HUGE} GMT"}, 3600.0),
        (
            {"Expires": "Mon, 02 Jun 2025 13:00:00 GMT", "Date": "Fri, 31 Dec 9999 23:59:59 GMT"},
            0.0,
        ),
    ],
)
def test_parse_max_age_holds_absurd_values(headers, expected):
    assert parse_max_age(Headers(headers), NOW) == expected
