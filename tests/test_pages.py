"""monitor.pages: reading article pages against local servers (robots.txt, hostile pages,
redirects, paywalls, character sets, retries), and the poller reading pages in the background
(mentions replaced, never doubled; queued pages survive a restart)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor import queries
from monitor.config import PollSettings, load_config
from monitor.pages import (
    MAX_ATTEMPTS,
    RETRY_AFTER,
    PageJob,
    PageOutcome,
    PageReader,
    next_try,
    page_url,
    wants_full_text,
)
from monitor.poll import Poller
from monitor.store import Store
from tests.feedserver import Exchange, FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)
TITLE = "Bukele opens a second prison"
ARTICLE = [
    "President Nayib Bukele said on Monday that a second prison would open next year.",
    "The new building will hold as many inmates as CECOT, officials said at a briefing.",
    "Critics warned that the costs had not been published and that oversight was weak.",
    "Bukele did not answer questions about the contracts or the companies behind them.",
    "Human rights groups asked for independent visits, which the ministry has refused.",
    "The finance ministry estimated the cost at several hundred million dollars in all.",
    "Construction companies from three countries have bid for the contract, people said.",
    "A decision on the winning bid is expected before the end of the year, they added.",
]
BOILERPLATE = (
    '<nav><a href="/t/1">Nayib Bukele</a> <a href="/t/2">CECOT</a></nav>'
    '<aside class="most-read"><h2>Most read</h2><ol><li><a href="/a">Bukele at CECOT</a></li>'
    '<li><a href="/b">CECOT, inside</a></li></ol></aside>'
)


def html_page(lines: list[str] = ARTICLE, title: str = TITLE, head: str = "") -> str:
    body = "".join(f"<p>{line}</p>" for line in lines)
    return (
        f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body>{BOILERPLATE}"
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        f'<section class="comments"><p>Bukele! CECOT!</p></section></body></html>'
    )


def serve_page(server: FeedServer, path: str, html: str | bytes, **kwargs) -> None:
    data = html.encode() if isinstance(html, str) else html
    kwargs.setdefault("content_type", "text/html; charset=utf-8")
    server.feed(path, data, **kwargs)


def robots(server: FeedServer, text: str) -> None:
    server.feed("/robots.txt", text.encode(), content_type="text/plain")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def job(url: str, article_id: int = 1, feed_chars: int = 40, title: str = TITLE) -> PageJob:
    return PageJob(
        due=NOW,
        article_id=article_id,
        url=url,
        title=title,
        feed_chars=feed_chars,
        published=NOW,
    )


def read(jobs: list[PageJob], clock: Clock | None = None, **settings) -> list[PageOutcome]:
    """Read the pages of `jobs` with a fresh reader; the outcomes of their first attempts."""
    clock = clock or Clock(NOW)

    async def go() -> list[PageOutcome]:
        reader = PageReader(
            PollSettings(**{"timeout": timedelta(seconds=1), **settings}), now=clock
        )
        reader.load(jobs)
        outcomes: list[PageOutcome] = []
        reader.start(outcomes.append)
        await reader.drain()
        await reader.stop()
        return outcomes

    return asyncio.run(go())


def one(url: str, **settings) -> PageOutcome:
    (outcome,) = read([job(url)], **settings)
    return outcome


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


@pytest.fixture
def other():
    """A second site (another port: another origin, with a robots.txt of its own)."""
    with FeedServer() as s:
        yield s


# --- pure rules ------------------------------------------------------------------------------


def test_the_default_rule_reads_pages_of_feeds_that_carry_summaries() -> None:
    assert wants_full_text(None, 240) and not wants_full_text(None, 600)
    assert not wants_full_text(None, None)  # no entries: nothing to decide on
    assert wants_full_text(True, 5000) and not wants_full_text(False, 10)


def test_page_url_drops_the_fragment_and_refuses_other_schemes() -> None:
    assert page_url("https://a.example/story#comment-3") == "https://a.example/story"
    assert page_url("http://a.example/s?id=1") == "http://a.example/s?id=1"
    assert page_url("ftp://a.example/s") is None and page_url("") is None


def test_retries_are_bounded() -> None:
    assert next_try(1, NOW) == NOW + RETRY_AFTER[0]
    assert next_try(2, NOW) == NOW + RETRY_AFTER[1]
    assert next_try(MAX_ATTEMPTS, NOW) is None
    assert next_try(1, NOW, retry_after=7200) == NOW + timedelta(hours=2)  # Retry-After, if later
    assert next_try(1, NOW, retry_after=1e30) == NOW + timedelta(days=7)


# --- robots.txt ------------------------------------------------------------------------------


def test_pages_robots_txt_disallows_are_not_fetched(server: FeedServer) -> None:
    robots(
        server,
        "User-agent: media-monitor\nDisallow: /private/\nDisallow: /*?print=1\n\n"
        "User-agent: *\nDisallow: /\n",
    )
    for path in ("/private/story", "/news/story", "/news/other"):
        serve_page(server, path, html_page())
    urls = ["/private/story", "/news/story?print=1", "/news/story", "/news/other"]
    outcomes = read([job(server.url(u), article_id=i) for i, u in enumerate(urls)])
    got = {o.job.url.removeprefix(server.url("")): o for o in outcomes}
    assert got["/private/story"].status == "robots"
    assert got["/private/story"].error == f"refused by {server.url('')}/robots.txt"
    assert got["/news/story?print=1"].status == "robots"  # wildcards, as crawlers read them
    assert got["/news/story"].status == got["/news/other"].status == "ok"  # our group, not *'s
    assert not server.requests_to("/private/story")
    assert len(server.requests_to("/news/story")) == 1  # the ?print=1 one was never asked
    assert len(server.requests_to("/robots.txt")) == 1  # once per site
    assert got["/private/story"].next_try == NOW + RETRY_AFTER[0]  # asked again later


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (500, False)])
def test_a_robots_txt_that_is_missing_allows_one_that_fails_refuses(
    server: FeedServer, status: int, allowed: bool
) -> None:
    server.feed("/robots.txt", b"User-agent: *\nDisallow: /\n", status=status)
    serve_page(server, "/story", html_page())
    outcome = one(server.url("/story"))
    if allowed:
        assert outcome.status == "ok"
    else:  # RFC 9309: unreachable means everything is disallowed, for now
        assert outcome.status == "failed" and "robots.txt could not be read" in outcome.error
        assert not server.requests_to("/story") and outcome.next_try is not None


def test_a_redirect_to_another_site_asks_that_sites_robots_txt(
    server: FeedServer, other: FeedServer
) -> None:
    robots(server, "User-agent: *\nAllow: /\n")
    robots(other, "User-agent: media-monitor\nDisallow: /closed/\n")
    serve_page(other, "/open/story", html_page())
    serve_page(other, "/closed/story", html_page())
    server.redirect("/go/open", other.url("/open/story"), status=302)
    server.redirect("/go/closed", other.url("/closed/story"), status=301)
    server.redirect("/go/ftp", "ftp://files.example/story", status=302)
    opened, closed, ftp = read(
        [
            job(server.url(p), article_id=i)
            for i, p in enumerate(("/go/open", "/go/closed", "/go/ftp"))
        ]
    )
    by_url = {o.job.url: o for o in (opened, closed, ftp)}
    assert by_url[server.url("/go/open")].status == "ok"
    refused = by_url[server.url("/go/closed")]
    assert refused.status == "robots" and other.url("") in refused.error
    assert not other.requests_to("/closed/story")  # refused before it was asked
    assert by_url[server.url("/go/ftp")].status == "failed"
    assert "non-http(s)" in by_url[server.url("/go/ftp")].error


# --- hostile and odd pages -------------------------------------------------------------------


def test_a_page_that_never_ends_is_cut_off(server: FeedServer) -> None:
    def endless(ex: Exchange) -> None:
        ex.send_head(200, {"Content-Type": "text/html", "Connection": "close"})
        ex.close_connection = True
        ex.write(b"<html><body>")
        while not ex.feedserver.release.is_set() and ex.write(b"<p>more</p>" * 6000):
            pass

    server.handle("/endless", endless)
    outcome = one(server.url("/endless"))
    assert outcome.status == "failed" and "larger than 4 MB" in outcome.error


def test_a_page_that_stalls_or_dribbles_times_out(server: FeedServer) -> None:
    server.stall("/stall")
    server.dribble("/dribble", interval=0.2)
    stalled, dribbled = read(
        [job(server.url("/stall"), 1), job(server.url("/dribble"), 2)],
        timeout=timedelta(seconds=0.5),
    )
    assert stalled.status == dribbled.status == "failed"
    errors = {stalled.error, dribbled.error}
    assert any("sent nothing" in e for e in errors) and any("gave up after" in e for e in errors)


def test_a_5_mb_page_is_refused(server: FeedServer) -> None:
    big = html_page() + "<!--" + "x" * (5 * 1024 * 1024) + "-->"
    serve_page(server, "/big", big)  # a Content-Length of 5 MB: refused before reading
    outcome = one(server.url("/big"))
    assert outcome.status == "failed" and "larger than 4 MB" in outcome.error
    assert outcome.bytes == 0


def test_a_page_that_is_not_html_is_not_read(server: FeedServer) -> None:
    server.feed("/report.pdf", b"%PDF-1.7 binary", content_type="application/pdf")
    outcome = one(server.url("/report.pdf"))
    assert outcome.status == "failed" and outcome.error == "not an HTML page (application/pdf)"


def test_http_errors_are_failures_tried_again(server: FeedServer) -> None:
    server.feed("/gone", b"", status=410)
    server.feed("/missing", b"", status=404)
    gone, missing = read([job(server.url("/gone"), 1), job(server.url("/missing"), 2)])
    assert gone.status == missing.status == "failed"
    assert {gone.error, missing.error} == {"HTTP 410 Gone", "HTTP 404 Not Found"}
    assert gone.http_status == 410 and missing.next_try == NOW + RETRY_AFTER[0]


def test_a_paywall_stub_keeps_the_feed_text(server: FeedServer) -> None:
    stub = html_page([*ARTICLE[:1], "Subscribe to keep reading. Already a subscriber? Sign in."])
    serve_page(server, "/paywalled", stub)
    outcome = one(server.url("/paywalled"))
    assert outcome.status == "short" and "paywall" in outcome.error and not outcome.text
    assert outcome.row()["text"] is None and outcome.next_try is not None


@pytest.mark.parametrize(
    ("content_type", "head", "encoding"),
    [
        ("text/html; charset=iso-8859-1", "", "iso-8859-1"),
        ("text/html", '<meta charset="windows-1252">', "cp1252"),
        (
            "text/html",
            '<meta http-equiv="content-type" content="text/html; charset=koi8-r">',
            "koi8-r",
        ),
    ],
)
def test_pages_not_in_utf8(server: FeedServer, content_type: str, head: str, encoding: str) -> None:
    lines = [*ARTICLE[:7], "Ramón Olaizábal dijo que la cárcel abrirá en otoño."]
    if encoding == "koi8-r":
        lines[-1] = "Букеле сказал, что тюрьма откроется осенью."
    serve_page(
        server, "/story", html_page(lines, head=head).encode(encoding), content_type=content_type
    )
    outcome = one(server.url("/story"))
    assert outcome.status == "ok", outcome.error
    assert lines[-1] in outcome.text


def test_the_fragment_is_not_sent_and_html_is_asked_for(server: FeedServer) -> None:
    serve_page(server, "/story", html_page())
    outcome = one(page_url(server.url("/story#comments")) or "")
    assert outcome.status == "ok"
    (seen,) = server.requests_to("/story")
    assert seen.path == "/story" and seen.headers["accept"].startswith("text/html")
    assert seen.headers["user-agent"].startswith("media-monitor/")


def test_a_failed_page_is_tried_again_when_due(server: FeedServer) -> None:
    answers = iter([503, 200])

    def flaky(ex: Exchange) -> None:
        status = next(answers, 200)
        if status == 503:
            ex.respond(503, b"busy", {"Retry-After": "7200", "Content-Type": "text/plain"})
        else:
            body = html_page().encode()
            ex.respond(200, body, {"Content-Type": "text/html"})

    server.handle("/story", flaky)
    clock = Clock(NOW)
    outcomes: list[PageOutcome] = []

    async def go() -> None:
        reader = PageReader(PollSettings(timeout=timedelta(seconds=1)), now=clock)
        reader.add(job(server.url("/story")))
        reader.start(outcomes.append)
        await reader.drain()
        assert [o.status for o in outcomes] == ["failed"]
        assert outcomes[0].next_try == NOW + timedelta(hours=2)  # Retry-After beyond 30 min
        assert reader.queued == 1 and reader.due() == 0
        clock.now = NOW + timedelta(hours=2)
        reader.wake()  # the clock jumped: look again
        await reader.drain()
        await reader.stop()

    asyncio.run(go())
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert [o.attempt for o in outcomes] == [1, 2]


# --- the poller ------------------------------------------------------------------------------


def summary_rss(server: FeedServer, items: list[tuple[str, str, str]]) -> bytes:
    """(title, page path, summary) items linking to pages on `server`."""
    parts = [
        f"<item><title>{title}</title><link>{server.url(path)}#comments</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(hours=i + 1))}</pubDate>"
        f"<description>{summary}</description></item>"
        for i, (title, path, summary) in enumerate(items)
    ]
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>'
        + server.url("/")
        + "</link>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def write_config(tmp_path, server: FeedServer, extra: str = ""):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "store: data\npoll:\n  every: 15m\n  timeout: 2s\n"
        f"feeds:\n  - name: Summaries\n    url: {server.url('/feed')}\n{extra}"
        "watch:\n  - name: Nayib Bukele\n    kind: person\n    aliases: [Bukele]\n"
        "  - name: CECOT\n    kind: topic\n"
    )
    return load_config(path)


def mentions(config) -> dict[str, int]:
    snap = Store(config.store).snapshot()
    df = queries.mention_counts(snap, queries.Filters())
    return dict(zip(df["entity"], df["mentions"], strict=True))


def mention_rows(config) -> int:
    snap = Store(config.store).snapshot()
    df = snap.query("SELECT article_id, entity, COUNT(*) AS n FROM {mentions} GROUP BY ALL")
    assert (df["n"] == 1).all()  # one row per article and entity: nothing counted twice
    return len(df)


@pytest.fixture
def site(server: FeedServer):
    """A feed of summaries and the pages it links to: one read, one paywalled, one refused."""
    robots(server, "User-agent: *\nDisallow: /private/\n")
    serve_page(server, "/read", html_page())
    serve_page(server, "/paywalled", html_page([*ARTICLE[:1], "Subscribe to keep reading."]))
    serve_page(server, "/private/story", html_page())
    items = [
        ("Bukele opens a second prison", "/read", "A second prison, says Bukele."),
        ("Prison plans", "/paywalled", "Nayib Bukele announced plans."),
        ("Costs unknown", "/private/story", "CECOT's costs are unknown."),
    ]
    server.feed("/feed", summary_rss(server, items))
    return server


def test_the_poller_counts_mentions_in_the_pages_it_reads(tmp_path, site: FeedServer) -> None:
    config = write_config(tmp_path, site)
    summary = asyncio.run(Poller(config).poll_once())
    assert summary.new_articles == 3
    assert summary.pages == {"ok": 1, "short": 1, "robots": 1}
    # the page read: title + page (1 + 2, and CECOT once); the others: title + summary
    # (0 + 1 Bukele; 0 + 1 CECOT), the page never counted twice, the boilerplate never
    assert mentions(config) == {"Nayib Bukele": 3 + 1, "CECOT": 1 + 1}
    assert mention_rows(config) == 4
    assert not site.requests_to("/private/story")
    snap = Store(config.store).snapshot()
    page = queries.articles(snap, queries.Filters())
    by_title = {row["title"]: row for row in page.to_dict("records")}
    read_row = by_title["Bukele opens a second prison"]
    assert read_row["text_source"] == "page" and read_row["page_status"] == "ok"
    assert (
        read_row["text"].startswith(ARTICLE[0])
        and read_row["summary"] == "A second prison, says Bukele."
    )
    assert by_title["Prison plans"]["text_source"] == "feed"
    assert by_title["Prison plans"]["page_status"] == "waiting"  # short: tried again later
    assert by_title["Costs unknown"]["text"] == "CECOT's costs are unknown."
    # search finds words only the page has
    found = queries.articles(snap, queries.Filters(search="oversight"))
    assert list(found["title"]) == ["Bukele opens a second prison"]
    # the feed's share read in full
    (row,) = queries.full_text_by_feed(snap).to_dict("records")
    assert (row["articles"], row["ok"], row["waiting"]) == (3, 1, 2)
    assert row["read_in_full"] == pytest.approx(1 / 3)
    state = snap.feeds[config.feeds[0].key]
    assert state.full_text is True and 0 < (state.entry_chars or 0) < 600


def test_polling_again_counts_nothing_twice_and_rematch_keeps_page_counts(
    tmp_path, site: FeedServer
) -> None:
    config = write_config(tmp_path, site)
    asyncio.run(Poller(config).poll_once())
    before = mentions(config)
    site.feed("/feed", summary_rss(site, [("Bukele opens a second prison", "/read", "Same.")]))
    asyncio.run(Poller(config).poll_once())
    assert mentions(config) == before and len(site.requests_to("/read")) == 1
    poller = Poller(config)
    poller.open()
    poller.rematch()  # recounts from the stored text: the page's where it was read
    assert mentions(config) == before
    assert mention_rows(config) == 4


def test_a_feed_with_whole_articles_reads_no_pages(tmp_path, server: FeedServer) -> None:
    serve_page(server, "/read", html_page())
    long_text = " ".join(ARTICLE)
    server.feed("/feed", summary_rss(server, [("Bukele speaks", "/read", long_text)]))
    config = write_config(tmp_path, server)
    summary = asyncio.run(Poller(config).poll_once())
    assert summary.new_articles == 1 and summary.pages == {}
    assert not server.requests_to("/read") and not server.requests_to("/robots.txt")
    snap = Store(config.store).snapshot()
    assert snap.rows("pages") == 0 and snap.feeds[config.feeds[0].key].full_text is False


def test_queued_pages_survive_a_poller_that_stopped(tmp_path, site: FeedServer) -> None:
    config = write_config(tmp_path, site)
    first = Poller(config)
    first.pages.start = lambda on_outcome: None  # type: ignore[method-assign]  # never reads
    summary = asyncio.run(first.poll_once())
    assert summary.new_articles == 3 and summary.pages == {}
    assert mentions(config) == {"Nayib Bukele": 3, "CECOT": 1}  # the feed's text, for now
    snap = Store(config.store).snapshot()
    assert len(queries.pages_to_read(snap)) == snap.rows("pages") == 3  # queued, in the store
    # alerts wait for the hours after the oldest article whose page is still to be read
    key = config.feeds[0].key
    assert snap.feeds[key].pages_pending == NOW - timedelta(hours=3)
    second = Poller(config)
    second.open()
    assert second.pages.queued == 3
    pages = asyncio.run(second.read_pages())
    assert pages == {"ok": 1, "short": 1, "robots": 1}
    assert mentions(config) == {"Nayib Bukele": 4, "CECOT": 2}
    assert mention_rows(config) == 4
    assert Store(config.store).snapshot().feeds[key].pages_pending is None


def test_the_feeds_oldest_unread_page_follows_every_page_tried(
    tmp_path, server: FeedServer
) -> None:
    """FeedState.pages_pending (what alerts wait for) is, after each page tried, the time of
    the oldest article whose page is still untried, whatever order pages are read in."""
    for i in range(6):
        serve_page(server, f"/p{i}", html_page())
    items = [(f"Story {i}", f"/p{i}", "Bukele spoke.") for i in range(6)]  # newest first
    server.feed("/feed", summary_rss(server, items))
    config = write_config(tmp_path, server)
    key = config.feeds[0].key
    first = Poller(config)
    first.pages.start = lambda on_outcome: None  # type: ignore[method-assign]  # never reads
    asyncio.run(first.poll_once())
    assert Store(config.store).snapshot().feeds[key].pages_pending == NOW - timedelta(hours=6)

    second = Poller(config)
    second.open()
    rows = queries.pages_to_read(Store(config.store).snapshot())
    untried = {int(r.article_id): r.published.replace(tzinfo=UTC) for r in rows.itertuples()}
    assert len(untried) == 6
    seen: list[datetime | None] = []
    read = second._page_read

    def checked(outcome: PageOutcome) -> None:
        read(outcome)
        untried.pop(outcome.job.article_id)
        oldest = min(untried.values()) if untried else None
        assert second.states[key].pages_pending == oldest
        seen.append(oldest)

    second._page_read = checked  # type: ignore[method-assign]
    assert asyncio.run(second.read_pages()) == {"ok": 6}
    assert len(seen) == 6 and seen[-1] is None
    assert Store(config.store).snapshot().feeds[key].pages_pending is None


def test_a_page_read_after_its_article_was_committed_and_compacted(
    tmp_path, server: FeedServer
) -> None:
    """The article's mention rows are in a compacted file when its page is read: that file
    is rewritten without them, and nothing else is lost or counted twice."""
    serve_page(server, "/read", html_page())
    server.feed(
        "/feed", summary_rss(server, [("Bukele opens a second prison", "/read", "Bukele.")])
    )
    config = write_config(tmp_path, server)
    items = [(f"Bukele day {i}", f"/other{i}", "Bukele said so.") for i in range(3)]

    async def go() -> dict[str, int]:
        poller = Poller(config)
        start = poller.pages.start
        poller.pages.start = lambda on_outcome: None  # type: ignore[method-assign]
        for round_ in range(12):  # enough commits for compaction to merge the first files
            await poller.poll(poller.due_feeds(all_enabled=True))
            more = [(f"{t} {round_}", f"{p}-{round_}", s) for t, p, s in items]
            server.feed("/feed", summary_rss(server, more))
        poller.pages.start = start  # type: ignore[method-assign]
        return await poller.read_pages()

    pages = asyncio.run(go())
    assert pages == {"ok": 1, "failed": 33}  # 11 rounds of 3 others, whose pages are missing
    snap = Store(config.store).snapshot()
    assert len(snap.files["mentions"]) < 12  # merged: the first rows are in a compacted file
    # 33 others: title + summary (1 + 1) each; the page read: title + page (1 + 2)
    assert mentions(config) == {"Nayib Bukele": 33 * 2 + 3, "CECOT": 1}
    assert mention_rows(config) == 33 + 2


def test_a_page_whose_reader_process_died_is_a_failure_tried_again(server: FeedServer) -> None:
    """The extraction process dying (a page that crashes the parser, the OOM killer) fails
    that page, not the poller."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    class Dead(concurrent.futures.Executor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise BrokenProcessPool("a worker died")

    serve_page(server, "/story", html_page())

    async def go() -> list[PageOutcome]:
        reader = PageReader(PollSettings(timeout=timedelta(seconds=1)), now=Clock(NOW),
                            executor=Dead())  # fmt: skip
        reader.add(job(server.url("/story")))
        outcomes: list[PageOutcome] = []
        reader.start(outcomes.append)
        await reader.drain()
        await reader.stop()
        return outcomes

    (outcome,) = asyncio.run(go())
    assert outcome.status == "failed" and "could not be read" in outcome.error
    assert outcome.next_try == NOW + RETRY_AFTER[0]
