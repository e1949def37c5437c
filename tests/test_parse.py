"""Feed bytes -> entries: both parsers, hostile and broken input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed

URL = "http://news.example/feed.xml"

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
