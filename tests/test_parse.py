"""Feed bytes -> entries: both parsers, hostile and broken input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse import _dateutil_as_written, parse_feed, xml_encoding

URL = "http://news.example/feed.xml"
FEEDS = Path(__file__).parent / "data" / "feeds"
CASES = sorted(p.stem for p in FEEDS.glob("*.xml"))

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example &amp; News</title><link>http://news.example/</link>
<item><title>Ortega&#8217;s visit</title>
  <link>/world/1?utm_source=rss&amp;id=7#top</link><guid isPermaLink="false">a-1</guid>
  <pubDate>Mon, 02 Nov 2026 10:00:00 -0600</pubDate>
  <description>&lt;p&gt;Short &lt;b&gt;summary&lt;/b&gt;&lt;/p&gt;</description>
  <content:encoded><![CDATA[<p>Full <i>text</i> here.</p><p>Second&nbsp;paragraph.</p>
  <script>alert(1)</script>]]></content:encoded>
  <author>desk@news.example (Desk)</author></item>
<item><title>No date, bad link</title><link>javascript:alert(1)</link><guid>b-2</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom site</title>
<link href="https://atom.example/"/>
<entry><title type="html">&lt;em&gt;Jos&#233;&lt;/em&gt; Ra&#250;l</title>
  <link href="https://atom.example/a/1"/><id>urn:1</id>
  <updated>2026-11-02T10:00:00+01:00</updated>
  <summary>Plain summary</summary></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://rdf.example/"><title>RDF</title><link>http://rdf.example/</link></channel>
<item rdf:about="http://rdf.example/1"><title>RDF item</title><link>http://rdf.example/1</link>
<dc:date>2026-11-02T10:00:00Z</dc:date><description>Hello</description></item>
</rdf:RDF>"""


def test_rss_entry_becomes_plain_text_with_canonical_link():
    feed = parse_feed(RSS, URL)
    first, second = feed.entries
    assert feed.title == "Example & News"
    assert first.title == "Ortega’s visit"
    assert first.link == "http://news.example/world/1?id=7#top"  # the fragment is kept
    assert first.text == "Full text here. Second paragraph."  # content wins; script dropped
    assert first.published == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    assert first.guid == "a-1"
    assert second.link == "" and second.published is None  # javascript: never kept


def test_atom_and_rdf():
    atom = parse_feed(ATOM, "https://atom.example/feed").entries[0]
    assert atom.title == "José Raúl"
    assert atom.published == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert atom.link == "https://atom.example/a/1"
    rdf = parse_feed(RDF, "http://rdf.example/rss").entries[0]
    assert rdf.title == "RDF item"
    assert rdf.published == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_well_formed_uses_the_fast_parser_and_broken_xml_the_robust_one():
    assert parse_feed(RSS, URL).parser == "fastfeedparser"
    broken = RSS.replace(b"Ortega&#8217;s", b"Ortega&rsquo;s &eacute;")  # HTML entities in XML
    feed = parse_feed(broken, URL)
    assert feed.parser == "feedparser"
    assert feed.entries[0].title == "Ortega’s é visit"  # nothing cut at the entity
    assert len(feed.entries) == 2


def test_latin1_body_with_utf8_declaration_still_parses():
    body = RSS.replace(b"Ortega&#8217;s visit", "Peña visit".encode("latin-1"))
    feed = parse_feed(body, URL)
    assert len(feed.entries) == 2
    assert feed.entries[0].title.startswith("Pe")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Not a feed</body></html>", "HTML page"),
        (b"\n  <html lang='en'><head></head></html>", "HTML page"),
        (b"this is not xml at all {}", "not a readable"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<rss><channel><title>&b;</title></channel></rss>",
            "entities",
        ),
    ],
)
def test_bodies_that_are_not_feeds_are_clear_errors(body, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_feed(body, URL)
    assert URL in str(info.value)


def test_rss1_full_content_is_kept_on_the_fast_path():
    body = RDF.replace(
        b'xmlns:dc="http://purl.org/dc/elements/1.1/">',
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    ).replace(
        b"<description>Hello</description>",
        b"<description>Hello</description>"
        b"<content:encoded><![CDATA[<p>Hello</p><p>and the <b>full</b> story</p>]]>"
        b"</content:encoded>",
    )
    feed = parse_feed(body, "http://rdf.example/rss")
    assert feed.parser == "fastfeedparser"  # fastfeedparser alone drops content:encoded here
    assert feed.entries[0].text == "Hello and the full story"


# The corpus: tests/data/feeds/CASE.xml beside CASE.expected.json ------------------------------


def test_every_corpus_feed_has_its_expectation_and_the_reverse():
    expectations = {p.name.removesuffix(".expected.json") for p in FEEDS.glob("*.expected.json")}
    assert expectations == set(CASES)
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", ["auto", "feedparser"])
@pytest.mark.parametrize("case", CASES)
def test_corpus_feed_reads_as_expected_on_both_parsing_paths(case, path):
    """Each case's entries (URL, title, date, and guid where given) on the normal path and on
    the feedparser fallback, forced: the two paths cannot drift apart. On the normal path the
    expectation also says which parser read it, so the fast path stays the common one."""
    expected = json.loads((FEEDS / f"{case}.expected.json").read_text("utf-8"))
    body = (FEEDS / f"{case}.xml").read_bytes()
    feed = parse_feed(
        body, f"https://{case}.test/feed.xml", expected.get("content_type"), parser=path
    )
    assert feed.parser == (expected["parser"] if path == "auto" else "feedparser")
    got = [
        {
            "guid": e.guid,
            "url": e.link,
            "title": e.title,
            "published": e.published.isoformat() if e.published else None,
        }
        for e in feed.entries
    ]
    want = expected["entries"]
    assert [{k: g[k] for k in w} for g, w in zip(got, want, strict=False)] == want
    assert len(got) == len(want)


def test_dates_in_words_are_read_whole_or_not_at_all():
    """The fast path's last resort (dateutil) reads a whole date, never a part from today."""
    assert _dateutil_as_written("March 16, 2024 9:00 AM") == datetime(2024, 3, 16, 9, 0)
    assert _dateutil_as_written("16 March 2024") == datetime(2024, 3, 16)
    for partial in ("Dec 2024", "12", "Monday", "March 16", "9:00 AM", "29 Feb"):
        assert _dateutil_as_written(partial) is None, partial
    body = (
        b"<rss version='2.0'><channel><title>t</title><item><title>a</title>"
        b"<link>https://words.example/1</link><pubDate>March 16, 2024 9:00 AM</pubDate>"
        b"</item></channel></rss>"
    )
    feed = parse_feed(body, URL)
    assert feed.parser == "fastfeedparser"
    assert feed.entries[0].published == datetime(2024, 3, 16, 9, 0, tzinfo=UTC)


# Character sets (RFC 7303) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [
        (b"\xef\xbb\xbf<?xml version='1.0' encoding='iso-8859-1'?><r/>", None, "utf-8"),
        (b"\xff\xfe<\x00?\x00", "text/xml; charset=iso-8859-1", "utf-16-le"),
        (b"\xfe\xff\x00<\x00?", None, "utf-16-be"),
        (b"<?xml version='1.0' encoding='utf-8'?><r/>", "text/xml;charset=ISO-8859-7", "iso8859-7"),
        (b"<?xml version='1.0'?><r/>", 'application/atom+xml; charset="windows-1252"', "cp1252"),
        (b"<?xml version='1.0' encoding='utf-8'?><r/>", "text/html; charset=iso-8859-1", "utf-8"),
        (b"<?xml version='1.0' encoding='KOI8-R'?><r/>", "application/xml", "koi8-r"),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><r/>", None, "cp1252"),
        (b"<?xml version='1.0' encoding='US-ASCII'?><r/>", None, "utf-8"),
        (b"<?xml version='1.0' encoding='no-such-charset'?><r/>", None, "utf-8"),
        (b"<?xml version='1.0'?><r/>", "text/xml; charset=bogus", "utf-8"),
        (b"<r/>", None, "utf-8"),
        # not text encodings, or refused: ignored
        (b"<?xml version='1.0' encoding='base64'?><r/>", None, "utf-8"),
        (b"<?xml version='1.0'?><r/>", "text/xml; charset=zlib", "utf-8"),
        (b"<?xml version='1.0' encoding='UTF-7'?><r/>", None, "utf-8"),
    ],
)
def test_encoding_precedence(body, content_type, encoding):
    """A byte order mark, then an XML media type's charset, then the declaration, then UTF-8."""
    assert xml_encoding(body, content_type)[0] == encoding


def test_the_content_type_header_decides_the_charset():
    body = (FEEDS / "charset-header-latin1.xml").read_bytes()
    # without the header, the Latin-1 bytes are still read (as windows-1252) ...
    assert parse_feed(body, URL).entries[0].title == "Peña visits Düsseldorf"
    # ... and with it, the header decides: the same bytes read as Greek (0xF1 is ρ, 0xFC ό)
    greek = parse_feed(body, URL, "text/xml; charset=iso-8859-7").entries[0].title
    assert greek == "Peρa visits Dόsseldorf"


@pytest.mark.parametrize("label", ["base64", "rot13", "zlib", "hex", "utf-7", "x-bogus"])
def test_a_hostile_charset_label_is_ignored_not_a_crash(label):
    body = RSS.replace(b'encoding="utf-8"', f'encoding="{label}"'.encode())
    for content_type in (None, f"application/rss+xml; charset={label}"):
        feed = parse_feed(body, URL, content_type)
        assert feed.entries[0].title == "Ortega’s visit"


def test_white_space_before_a_declaration_does_not_change_the_charset():
    body = b"\n  " + RSS.replace(b"utf-8", b"iso-8859-1").replace(
        b"Ortega&#8217;s visit", "Peña visit".encode("latin-1")
    )
    for path in ("auto", "feedparser"):
        assert parse_feed(body, URL, parser=path).entries[0].title == "Peña visit"
