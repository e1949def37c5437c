"""The dashboard in a real browser: what only a browser shows.

- a shared link opened in a fresh browser restores the view (chart traces, chosen entities,
  range, granularity), drawn as SVG;
- changing a filter updates the URL, and choosing an entity in the overview opens its timeline;
- a feed item whose title, text, author and link carry script payloads executes nothing;
- watching a rising name from the Discover page edits feeds.yaml and draws its whole history;
- the Alerts page draws each rule's backtest as markers on the entities' timelines.

Starts `streamlit run dashboard.py` on a free port against the store written by
`tests/dashboard_store.py` and drives Debian's Chromium (/usr/bin/chromium) with Playwright's
sync API. Never runs `playwright install`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from monitor import alerts, queries
from monitor.config import load_config
from monitor.models import Article
from monitor.store import article_key, open_store
from tests.browser import CHROMIUM, CHROMIUM_ARGS, READY, streamlit_server
from tests.dashboard_store import FEEDS, build_store

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent.parent
TRACES_JS = """() => {
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return gd.data.map(t => ({name: t.name, n: t.x ? t.x.length : 0, type: t.type}));
}"""
NOW = datetime.now(UTC)

# A missing browser is an install step (scripts/test does it), never a reason to skip.
assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium"
from playwright import sync_api  # noqa: E402


@pytest.fixture(scope="module")
def store_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("browser") / "world", NOW)


@pytest.fixture(scope="module")
def dashboard_url(store_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("log") / "streamlit.log"
    with open(log, "wb") as out:
        try:
            with streamlit_server(store_config, out, timeout=60) as (_, url):
                yield url
                return
        except RuntimeError as exc:
            failure = f"{exc}:\n{log.read_text()[-2000:]}"
    pytest.fail(failure)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh browser context: no cookies, storage or history from other tests."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def settle(page: Any) -> None:
    """Wait until the app has finished a run (twice, as a run can trigger another)."""
    page.wait_for_selector(READY)
    page.wait_for_timeout(300)
    page.wait_for_selector(READY)


def pick_row(page: Any, row: int, done_js: str, tries: int = 3) -> None:
    """Click the selection checkbox of data row `row` (0 first) of the page's first data grid
    until `done_js` holds. The grid is a canvas: the click goes to a position, taken once the
    grid has stopped moving (the page above it may still be laying out); a click the grid
    did not take (not ready yet) is made again, at most `tries` times."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.locator("canvas").first.wait_for()
    for attempt in range(tries):
        grid.scroll_into_view_if_needed()
        box, before = grid.bounding_box(), None
        while box != before:  # the same place twice, 0.2 s apart
            before = box
            page.wait_for_timeout(200)
            box = grid.bounding_box()
        assert box is not None
        # header row and data rows are ~35 px high; the checkbox is at the left
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
        try:
            page.wait_for_function(done_js, timeout=10_000)
            return
        except sync_api.TimeoutError:
            if attempt == tries - 1:
                raise


def open_link(page: Any, base: str, /, **params: Any) -> None:
    page.goto(f"{base}/?{urlencode(params, doseq=True)}")
    settle(page)


def chart_traces(page: Any) -> list[dict[str, Any]]:
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg')
    page.wait_for_function(f"({TRACES_JS})() !== null")
    return [t for t in page.evaluate(TRACES_JS) if t["name"] != "Ingestion degraded"]


def url_params(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def chips(page: Any, key: str) -> list[str]:
    tags = page.locator(f".st-key-{key} .react-aria-ComboBox [data-tag]")
    return [tags.nth(i).get_attribute("aria-label") for i in range(tags.count())]


def date_value(page: Any, key: str) -> str:
    text = page.locator(f".st-key-{key} [data-testid=stDateInputField]").inner_text()
    digits = re.sub(r"\D", "", text)
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"


def days_ago(n: int) -> str:
    return (NOW - timedelta(days=n)).date().isoformat()


# --------------------------------------------------------------------------------------------


def test_shared_link_restores_the_view(page: Any, dashboard_url: str) -> None:
    d0, d1 = days_ago(12), days_ago(2)
    open_link(
        page,
        dashboard_url,
        view="timeline",
        e=["Nayib Bukele", "LexCorp"],
        range="custom",
        by="day",
        **{"from": d0, "to": d1},
    )
    traces = chart_traces(page)
    assert [t["name"] for t in traces] == ["Nayib Bukele", "LexCorp"]
    assert all(t["n"] == 11 for t in traces)  # one point per day, 11 days
    assert all(t["type"] == "scatter" for t in traces)  # SVG, not WebGL
    assert page.locator("canvas.gl-canvas, .gl-container canvas").count() == 0
    assert chips(page, "e") == ["Nayib Bukele", "LexCorp"]
    checked = page.locator(".st-key-range [role=radio][aria-checked=true]")
    assert checked.inner_text().strip() == "custom"
    assert (date_value(page, "from"), date_value(page, "to")) == (d0, d1)
    selected = page.locator(".st-key-view [role=tab][aria-selected=true]")
    assert selected.inner_text().strip().lower() == "timeline"
    assert page.locator(".st-key-by [role=radio][aria-checked=true]").inner_text().strip() == "day"


def test_weekly_link_draws_weeks(page: Any, dashboard_url: str) -> None:
    open_link(page, dashboard_url, view="timeline", e="Metropolis", range="all", by="week")
    (trace,) = chart_traces(page)
    assert trace["name"] == "Metropolis"
    assert 3 <= trace["n"] <= 5  # ~20 days of articles
    assert page.locator(".st-key-by [role=radio][aria-checked=true]").inner_text().strip() == "week"


def test_changing_a_filter_updates_the_url(page: Any, dashboard_url: str) -> None:
    open_link(page, dashboard_url, view="timeline", e="LexCorp", range="30d")
    assert chart_traces(page)[0]["n"] == 30
    page.locator(".st-key-range [role=radio]", has_text="7d").click()
    page.wait_for_function("() => location.search.includes('range=7d')")
    page.wait_for_function(f"(({TRACES_JS})() || [{{}}])[0].n === 7")
    settle(page)
    assert url_params(page)["range"] == ["7d"]
    assert url_params(page)["e"] == ["LexCorp"]
    page.locator(".st-key-by [role=radio]", has_text="week").click()
    page.wait_for_function("() => location.search.includes('by=week')")
    settle(page)
    assert url_params(page)["view"] == ["timeline"]


def test_choosing_an_entity_in_the_overview_opens_its_timeline(
    page: Any, dashboard_url: str
) -> None:
    """A row opens the entity's timeline as one step: Back returns to the very overview the
    user came from (not an overview filtered to the entity), Forward to the timeline."""
    open_link(page, dashboard_url, range="all")
    came_from = page.url
    pick_row(page, 0, "() => location.search.includes('view=timeline')")
    settle(page)
    entity = url_params(page)["e"]
    assert len(entity) == 1
    assert [t["name"] for t in chart_traces(page)] == entity
    assert chips(page, "e") == entity
    timeline_url = page.url
    page.go_back()
    page.wait_for_function("() => !location.search.includes('view=timeline')")
    settle(page)
    assert page.url == came_from
    assert chips(page, "e") == []
    assert selected_tab(page) == "overview"
    page.go_forward()
    page.wait_for_function("() => location.search.includes('view=timeline')")
    settle(page)
    assert page.url == timeline_url
    assert selected_tab(page) == "timeline"
    assert [t["name"] for t in chart_traces(page)] == entity


def test_back_from_the_articles_opened_on_a_chart(page: Any, dashboard_url: str) -> None:
    open_link(page, dashboard_url, view="timeline", range="30d")
    came_from = page.url
    drawn = [t["name"] for t in chart_traces(page)]
    page.get_by_role("button", name="Open the articles").click()
    page.wait_for_function("() => location.search.includes('view=articles')")
    settle(page)
    assert url_params(page)["e"] == drawn  # the entities drawn on the chart
    page.go_back()
    page.wait_for_function("() => location.search.includes('view=timeline')")
    settle(page)
    assert page.url == came_from
    assert chips(page, "e") == []


CELL_JS = """([a, b]) => {
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(b), y: box.top + ya._offset + ya.d2p(a)};
}"""


def test_a_co_mention_cell_or_row_opens_its_articles(
    page: Any, dashboard_url: str, store_config: Path
) -> None:
    """A click on a heatmap cell lists that pair's articles; the Top pairs table is sent only
    once its expander is opened (the URL keeps it open), and a row picked there lists its
    pair's articles in their place."""
    snap = open_store(load_config(store_config).store).snapshot()
    entities = tuple(queries.mention_counts(snap, queries.Filters())["entity"])
    pairs = queries.co_mentions(snap, queries.Filters(entities=entities))
    (a1, b1, n1), (a2, b2, n2) = pairs.head(2).itertuples(index=False)
    open_link(page, dashboard_url, view="co-mentions", range="all")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    point = page.evaluate(CELL_JS, [b1, a1])  # row b1, column a1: the pair either way
    page.mouse.click(point["x"], point["y"])
    heading = page.locator("h4", has_text=f"{b1} & {a1}: {n1:,} article")
    heading.wait_for()
    settle(page)
    assert page.locator(".mm-card").count() == min(50, n1)
    page.get_by_text("Top pairs").click()
    page.wait_for_function("() => location.search.includes('rows=true')")
    settle(page)
    second = json.dumps(f"{a2} & {b2}: {n2:,} article")
    shown = (
        f"() => [...document.querySelectorAll('h4')].some(h => h.textContent.includes({second}))"
    )
    pick_row(page, 1, shown)
    assert heading.count() == 0


def test_a_source_row_opens_its_articles(page: Any, dashboard_url: str, store_config: Path) -> None:
    """A row of the Sources table (sent to the browser with categories once its expander is
    opened, which the URL keeps) opens the articles of that feed that mention that entity."""
    snap = open_store(load_config(store_config).store).snapshot()
    first = queries.top_feeds(snap, queries.Filters()).iloc[0]
    open_link(page, dashboard_url, view="sources", range="all")
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    page.get_by_text("Every feed and entity").click()
    page.wait_for_function("() => location.search.includes('rows=true')")
    settle(page)
    pick_row(page, 0, "() => location.search.includes('view=articles')")  # (below the bars)
    settle(page)
    params = url_params(page)
    assert params["e"] == [first["entity"]]
    assert params["feed"] == [first["name"]]


def test_a_csv_button_downloads_what_the_page_shows(
    page: Any, dashboard_url: str, store_config: Path
) -> None:
    """The CSV is written when the button is clicked (not at every run): the file is the
    table's."""
    snap = open_store(load_config(store_config).store).snapshot()
    want = queries.top_feeds(snap, queries.Filters()).to_csv(index=False)
    open_link(page, dashboard_url, view="sources", range="all")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "sources.csv"
    assert Path(download.value.path()).read_text() == want


def test_compare_draws_the_shares_with_the_totals_in_the_legend(
    page: Any, dashboard_url: str, store_config: Path
) -> None:
    """One figure of stacked shares, as wide as the page, its legend giving each entity's total
    (and no donut)."""
    snap = open_store(load_config(store_config).store).snapshot()
    chosen = ("Nayib Bukele", "LexCorp")
    counts = queries.mention_counts(snap, queries.Filters(entities=chosen)).set_index("entity")
    open_link(page, dashboard_url, view="compare", range="all", e=list(chosen))
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.first.locator(".scatterlayer .trace").first.wait_for()
    assert charts.count() == 1
    assert charts.first.locator(".pielayer .trace").count() == 0
    legend = " ".join(charts.first.locator(".legend .legendtext").all_text_contents())
    for entity in chosen:
        assert f"{entity}: {int(counts.loc[entity, 'mentions']):,} (" in legend
    area = charts.first.locator("rect.nsewdrag").first.bounding_box()
    assert area is not None and area["width"] >= 800


def test_feeds_polling_opens_below_the_table(page: Any, dashboard_url: str) -> None:
    """The polling chart is drawn when its expander is opened, and the link keeps it open."""
    open_link(page, dashboard_url, view="feeds", range="all")
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
    page.get_by_text("Polling over the range").click()
    page.wait_for_function("() => location.search.includes('polling=true')")
    settle(page)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    names = page.evaluate(
        "() => document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot')"
        ".data.map(t => t.name)"
    )
    assert names == ["polled fine", "failed"]


def selected_tab(page: Any) -> str:
    selected = page.locator(".st-key-view [role=tab][aria-selected=true]")
    return str(selected.inner_text()).strip().lower()


def test_readable_at_1400_px(page: Any, dashboard_url: str) -> None:
    """What an analyst could not read at 1400x900: whole dates in the date boxes, a heatmap as
    wide as the page, the feeds' errors and new addresses, one page number."""
    d0, d1 = days_ago(12), days_ago(2)
    open_link(page, dashboard_url, range="custom", **{"from": d0, "to": d1})
    for key, value in (("from", d0), ("to", d1)):
        assert date_value(page, key) == value
        field = page.locator(f".st-key-{key} [data-testid=stDateInputField]")
        assert field.evaluate("e => e.scrollWidth <= e.clientWidth")
        assert field.evaluate("e => e.getBoundingClientRect().width") >= 200
    open_link(page, dashboard_url, view="co-mentions", range="all")
    heat = page.locator('[data-testid="stPlotlyChart"] .main-svg').first
    heat.wait_for()
    assert heat.bounding_box()["width"] >= 800
    open_link(page, dashboard_url, view="feeds", range="all")
    cell = page.locator(".mm-problems td", has_text="ledger-new.xml")
    assert cell.inner_text() == "http://127.0.0.1:9/ledger-new.xml"
    box = cell.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1400
    open_link(page, dashboard_url, view="articles", range="all", page="2")
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert len(re.findall(r"\bpage\b", text, re.IGNORECASE)) == 1, text[:400]


def test_hostile_feed_item_executes_nothing(page: Any, dashboard_url: str) -> None:
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "alert" in msg.text else None
        ),
    )
    open_link(page, dashboard_url, view="articles", range="all", feed="Hostile Wire")
    title = page.locator(".mm-title").first
    title.wait_for()
    assert title.inner_text().startswith("<script>alert(1)</script> Bukele <img src=x onerror=")
    assert page.get_by_text("<b onmouseover=alert(5)>Mallory</b>", exact=False).count() == 1
    page.get_by_text("Mallory", exact=False).first.hover()
    page.locator(".mm-snippet").first.click()
    for frame in page.frames:
        assert frame.locator('a[href^="javascript:"], a[href^="JAVASCRIPT:"]').count() == 0
        assert frame.locator("[onerror], [onmouseover], [onclick], iframe[src=x]").count() == 0
        assert frame.locator("img[src=x]").count() == 0
    page.wait_for_timeout(1000)
    assert dialogs == []
    assert errors == []


def test_new_articles_appear_without_a_reload(
    page: Any, dashboard_url: str, store_config: Path
) -> None:
    """The refresh fragment notices the poller's commit and reruns, keeping the view."""
    open_link(page, dashboard_url, view="timeline", e="LexCorp", range="30d")
    header = page.locator('[data-testid="stMarkdownContainer"]', has_text="Data as of").first
    before = int(re.search(r"([\d,]+) articles", header.inner_text()).group(1).replace(",", ""))
    store = open_store(load_config(store_config).store)
    writer = store.writer()
    t = NOW.replace(tzinfo=None) - timedelta(minutes=1)
    article = Article(
        id=article_key("test", f"live-{time.time()}"),
        url="https://news.example/live",
        title="LexCorp, live",
        text="LexCorp.",
        published=t,
        first_seen=t,
        author="",
        feed=FEEDS[0][1],
    )
    writer.add_article(article, article.feed, t)
    writer.add_mentions(article, {"LexCorp": 2})
    writer.commit()
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
        ".some(e => e.innerText.includes(`${n.toLocaleString('en-US')} articles`))",
        arg=before + 1,
        timeout=40_000,
    )
    settle(page)
    assert url_params(page)["view"] == ["timeline"]
    assert chips(page, "e") == ["LexCorp"]


# --------------------------------------------------------------------------------------------
# Discover: watch a rising name; Alerts: the backtest's markers (issues 13 and 12)

ALL_CHARTS_JS = """() => [
  ...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')
].map(gd => ({title: (gd.layout.title || {}).text || '',
               traces: (gd.data || []).map(t => ({name: t.name, mode: t.mode,
                                                  x: [...(t.x || [])].map(String)}))}))"""


@pytest.fixture(scope="module")
def watch_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A store and dashboard of their own: watching a name edits feeds.yaml."""
    config = build_store(tmp_path_factory.mktemp("watch") / "world", NOW, days=8, per_day=8)
    log = tmp_path_factory.mktemp("watchlog") / "streamlit.log"
    with open(log, "wb") as out:
        try:
            with streamlit_server(config, out, timeout=60) as (_, url):
                yield config, url
                return
        except RuntimeError as exc:
            failure = f"{exc}:\n{log.read_text()[-2000:]}"
    pytest.fail(failure)


def test_watch_a_rising_name_then_see_its_whole_history(
    page: Any, watch_world: tuple[Path, str]
) -> None:
    """Discover -> "Add to the watchlist" (no poller: the dashboard counts the history) ->
    "Open its timeline": the new entity's line over all the stored articles naming it."""
    config, url = watch_world
    open_link(page, url, view="discover", range="7d")
    assert page.locator(".st-key-name input").input_value() == "Perry White"
    assert page.locator(".mm-title").count() == 5  # its sample articles
    page.get_by_role("button", name="Add to the watchlist").click()
    page.get_by_text("Its mentions were counted in all").wait_for(timeout=60_000)
    settle(page)
    assert "- name: Perry White\n    kind: person\n" in config.read_text()
    page.get_by_role("button", name="Open its timeline").click()
    page.wait_for_function("() => location.search.includes('view=timeline')")
    settle(page)
    assert url_params(page)["e"] == ["Perry White"] and url_params(page)["range"] == ["all"]
    (trace,) = chart_traces(page)
    assert trace["name"] == "Perry White"
    snap = open_store(load_config(config).store).snapshot()
    drawn = page.evaluate(  # as drawn: the counts are sent as a typed array
        "() => Array.from(document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot')"
        "._fullData.filter(t => t.name === 'Perry White')[0].y).reduce((a, b) => a + b, 0)"
    )
    mentions = snap.query("SELECT SUM(count) AS n FROM {mentions} WHERE entity = 'Perry White'")
    assert drawn == int(mentions["n"].iloc[0]) > 0


def test_alert_markers_are_drawn_on_the_entities_timelines(
    page: Any, dashboard_url: str, store_config: Path
) -> None:
    open_link(page, dashboard_url, view="alerts", range="30d")
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg')
    page.wait_for_function(f"({ALL_CHARTS_JS})().length >= 3")
    charts = {re.sub("<[^>]+>", "", c["title"]): c["traces"] for c in page.evaluate(ALL_CHARTS_JS)}
    assert set(charts) == {"Nayib Bukele", "Lex Luthor", "LexCorp"}
    config = load_config(store_config)
    snap = open_store(config.store).snapshot()
    fired = alerts.backtest(snap, config, NOW - timedelta(days=31), NOW)
    want = {(f.alert, f.entity, f.fired.strftime("%Y-%m-%d %H:%M")) for f in fired}
    drawn = {
        (t["name"], title, x[:16].replace("T", " "))
        for title, traces in charts.items()
        for t in traces
        if t["mode"] == "markers"
        for x in t["x"]
    }
    escaped = {(a.replace("<", "&lt;").replace(">", "&gt;"), e, t) for a, e, t in want}
    assert drawn and drawn <= escaped
    # the burst's articles are 3 days and up to 8 hours old: one or two dates near midnight
    spike_days = {(NOW - timedelta(days=3, hours=h)).strftime("%Y-%m-%d") for h in range(9)}
    assert any(a == "LexCorp spike" and t[:10] in spike_days for a, _, t in drawn)
    # a rule's name from feeds.yaml is shown as text in the legend, never as markup
    legend = page.locator(".legendtext", has_text="javascript:alert(7)").first
    assert legend.text_content() == "Luthor [watch](javascript:alert(7)) <b>"


def test_a_storys_copies_expand(page: Any, dashboard_url: str) -> None:
    """st.html keeps the card's <details>: "also carried by" opens onto the other copies."""
    open_link(page, dashboard_url, view="articles", range="all", e="LexCorp")
    card = page.locator(".mm-card", has_text="LexCorp to buy Metropolis newspaper").first
    summary = card.locator("details.mm-copies summary")
    assert summary.inner_text().startswith("Also carried by 2 other articles")
    copies = card.locator("details.mm-copies li")
    assert not copies.first.is_visible()
    summary.click()
    copies.first.wait_for(state="visible")
    assert copies.count() == 2
    assert copies.nth(0).locator("a").get_attribute("href") == "https://wire-1.news.example/story"
