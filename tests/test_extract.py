"""monitor.extract: an article page's bytes -> the text mentions are counted on."""

from __future__ import annotations

import pytest

from monitor.extract import MIN_PAGE_CHARS, decode_html, html_encoding, is_html, read_page
from monitor.match import Matcher
from monitor.models import Entity

WATCH = [
    Entity("Nayib Bukele", "person", ("Bukele",)),
    Entity("CECOT", "topic"),
    Entity("Ramón Olaizábal", "person", ("Olaizábal",)),
]
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


def page(body: str, *, head: str = '<meta charset="utf-8">', lang: str = "en") -> str:
    """A news page: the article amid boilerplate that names the watched entities."""
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head>{head}<title>{TITLE} | The Daily</title></head>
<body>
<div id="cookie-consent" class="cookie-banner"><p>We and our partners, among them the
Bukele Foundation, use cookies.</p><button>Accept all</button></div>
<header><nav><ul><li><a href="/t/bukele">Nayib Bukele</a></li><li><a href="/t/cecot">CECOT</a>
</li><li><a href="/t/o">Ramón Olaizábal</a></li></ul></nav></header>
<main><article><h1>{TITLE}</h1><p class="byline">By A. Writer</p>
<div class="article-body">{body}</div></article>
<aside class="most-read"><h2>Most read</h2><ol><li><a href="/a/1">Bukele visits CECOT</a></li>
<li><a href="/a/2">Olaizábal answers Bukele</a></li><li><a href="/a/3">CECOT in figures</a></li>
</ol></aside>
<section class="related"><h2>Related stories</h2><ul><li><a href="/a/4">Who is Nayib Bukele?
</a></li><li><a href="/a/5">Inside CECOT</a></li></ul></section>
<section class="comments" id="comments"><h2>2 comments</h2><div class="comment"><p>Bukele
again! CECOT again!</p></div><div class="comment"><p>Olaizábal was right.</p></div></section>
</main><footer><p>© The Daily. Our coverage of Bukele and CECOT.</p></footer></body></html>"""


def paragraphs(lines: list[str]) -> str:
    return "\n".join(f"<p>{line}</p>" for line in lines)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(WATCH)


def test_the_article_is_counted_not_the_boilerplate(matcher: Matcher) -> None:
    html = page(paragraphs(ARTICLE))
    got = read_page(html.encode(), "text/html; charset=utf-8", TITLE, 80)
    assert got.status == "ok", got.reason
    assert matcher.count(TITLE, got.text) == {"Nayib Bukele": 3, "CECOT": 1}
    # the navigation, boxes, comments and banner name them many more times
    assert matcher.count("", html)["Nayib Bukele"] > 10
    assert "Most read" not in got.text and "cookies" not in got.text
    assert got.text.splitlines()[0] == ARTICLE[0]  # the headline is counted once, as the title


def test_the_title_line_is_kept_when_it_is_not_the_title() -> None:
    html = page(paragraphs(ARTICLE)).replace(f"<h1>{TITLE}</h1>", "<h1>Another headline</h1>")
    got = read_page(html.encode(), "text/html", TITLE, 0)
    assert got.status == "ok" and TITLE not in got.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>Subscribe to keep reading. Already a subscriber? Sign in.</p>", "short"),
        (paragraphs(ARTICLE[:1]) + '<div class="paywall"><p>Subscribe now</p></div>', "short"),
        ("", "short"),
    ],
)
def test_a_paywall_or_empty_page_yields_too_little_text(body: str, expected: str) -> None:
    got = read_page(page(body).encode(), "text/html", TITLE, 0)
    assert got.status == expected and "needed" in got.reason and not got.text


def test_a_page_no_longer_than_the_feed_text_is_too_short() -> None:
    html = page(paragraphs(ARTICLE)).encode()
    length = len(read_page(html, "text/html", TITLE, 0).text.replace("\n", " "))
    assert length >= MIN_PAGE_CHARS
    assert read_page(html, "text/html", TITLE, length).status == "ok"
    longer = read_page(html, "text/html", TITLE, length + 1)
    assert longer.status == "short" and f"{length + 1:,} needed" in longer.reason


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/pdf", b"%PDF-1.7 ..."),
        ("image/jpeg", b"\xff\xd8\xff\xe0"),
        ("application/rss+xml", b"<?xml version='1.0'?><rss/>"),
        ("", b"\x00\x01binary"),
    ],
)
def test_a_page_that_is_not_html_is_not_read(content_type: str, body: bytes) -> None:
    got = read_page(body, content_type, TITLE, 0)
    assert got.status == "failed" and got.reason.startswith("not an HTML page")


def test_html_without_a_content_type_is_sniffed() -> None:
    assert is_html(b"  <!DOCTYPE html><html>", "")
    assert is_html(b"<!-- hi --><html lang=en>", "")
    assert not is_html(b"%PDF", "")
    assert is_html(b"", "text/html; charset=utf-8")
    assert is_html(b"", "application/xhtml+xml")
    assert not is_html(b"<html>", "text/plain")


SPANISH = [
    "Ramón Olaizábal anunció el lunes que la cárcel abrirá sus puertas el año próximo.",
    "La obra costará más de lo previsto, según el ministerio, que no precisó cuánto.",
    "Olaizábal añadió que la oposición podrá visitarla cuando esté terminada la obra.",
    "Las organizaciones de derechos humanos pidieron visitas independientes al penal.",
    "El ministerio de Hacienda calculó el costo en varios cientos de millones de dólares.",
    "Empresas constructoras de tres países se presentaron a la licitación del contrato.",
    "Se espera una decisión sobre la oferta ganadora antes de que termine el año.",
]


@pytest.mark.parametrize(
    ("encoding", "content_type", "head"),
    [
        ("iso-8859-1", "text/html; charset=ISO-8859-1", ""),  # from the header
        ("windows-1252", "text/html", '<meta charset="windows-1252">'),  # from <meta charset>
        (
            "iso-8859-15",
            "text/html",
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">',
        ),
        ("utf-8", "text/html", ""),  # nothing said: valid UTF-8
        ("windows-1252", "text/html", ""),  # nothing said, not UTF-8: windows-1252
        ("utf-16", "text/html", ""),  # a byte order mark
    ],
)
def test_pages_in_other_character_sets(
    matcher: Matcher, encoding: str, content_type: str, head: str
) -> None:
    html = page(paragraphs(SPANISH), head=head, lang="es")
    got = read_page(html.encode(encoding), content_type, TITLE, 0)
    assert got.status == "ok", got.reason
    assert "Ramón Olaizábal anunció" in got.text and "dólares" in got.text
    assert matcher.count("", got.text) == {"Ramón Olaizábal": 2}


def test_the_header_charset_wins_over_the_meta() -> None:
    body = '<meta charset="utf-8"><p>Olaizábal</p>'.encode("cp1252")
    assert html_encoding(body, "text/html; charset=windows-1252") == ("cp1252", 0)
    assert html_encoding(body, "text/html") == ("utf-8", 0)  # as the page says, however wrong
    text, _ = decode_html(body, "text/html")  # the stray byte reads as windows-1252
    assert "Olaizábal" in text
    assert html_encoding(b"<meta charset=x-unknown><p>a</p>", "text/html") == ("utf-8", 0)
    assert html_encoding(b"<meta charset=latin1>", "")[0] == "cp1252"  # as browsers read it
    assert html_encoding(b"<meta charset=utf-16>", "")[0] == "utf-8"  # a prescan finds ASCII


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>" + b"<div>" * 5000 + b"deep" + b"</div>" * 5000 + b"</body></html>",
        b"<html><body><p>unclosed <b><i>tags " + b"x" * 1000,
        b"\xff\xfe\x00garbage\x00" * 100,
        b"<!DOCTYPE html>" + b"\x00" * 1000,
    ],
)
def test_broken_pages_never_raise(body: bytes) -> None:
    got = read_page(body, "text/html", TITLE, 0)
    assert got.status in ("ok", "short", "failed")
    assert bool(got.text) == (got.status == "ok")
