"""The frame every page shares, headless: each view from a link, the header, garbage links and
their notices, the empty-store and broken-config pages, and new data on the next run.
"""

from __future__ import annotations

import ast
import itertools
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from monitor import queries
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.store import article_key, open_store
from monitor_app.widgets import PALETTE, assign_colors
from tests.dashboard.helpers import (
    APP,
    NOW,
    VIEWS,
    captions,
    card_html,
    cli_json,
    days_ago,
    markdown,
    notices,
    overview_numbers,
    run_app,
    run_pasted,
    shown_command,
    traces,
    widget,
)
from tests.dashboard_store import FEEDS, add_extreme_dates, build_store, feeds_yaml


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_renders_from_a_link(app, view: str) -> None:
    at = app(view=view, range="all", e=["Nayib Bukele", "Lex Luthor"])
    assert not at.error
    headings = [h.value for h in at.subheader]
    assert any(view.replace("-", "").lower() in h.replace("-", "").lower() for h in headings)
    assert at.multiselect(key="e").value == ["Nayib Bukele", "Lex Luthor"]
    # feeds shows the moved feed, alerts the message the store's webhook keeps refusing
    assert not notices(at).strip() or view in ("feeds", "alerts")


def test_views_render_on_the_demo_store(demo_config: Path, monkeypatch) -> None:
    """The store the real poller filled (conftest's `demo_config`), every view."""
    config = demo_config
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    for view in VIEWS:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["view"] = view
        at.query_params["range"] = "all"
        at.run()
        assert not at.exception, (view, [e.value for e in at.exception])
        assert not at.error, view


def test_header_line(app, store_config: Path) -> None:
    at = app()
    snap = open_store(load_config(store_config).store).snapshot()
    header = at.markdown[0].value
    as_of = queries.data_as_of(snap)
    assert header.startswith(f"Data as of **{as_of:%-d %b %Y %H:%M} UTC**")
    assert f"**{snap.rows('articles'):,}** articles from **{len(FEEDS)}** feeds" in header
    assert "counts since" in header


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"e": ["Nobody", "LexCorp"]}, "not watched: “Nobody”"),
        ({"e": ["lexcorp"]}, "(did you mean “LexCorp”?)"),
        ({"range": "custom", "from": "2026-13-45"}, "start date “2026-13-45” is not a date"),
        ({"range": "custom", "to": "yesterday"}, "end date “yesterday” is not a date"),
        ({"view": "nope"}, "view “nope” that does not exist"),
        ({"view": "articles", "page": "-3"}, "page “-3” does not exist"),
        ({"view": "articles", "page": "many"}, "page “many” does not exist"),
        ({"view": "timeline", "by": "year"}, "granularity “year”"),
        ({"view": "timeline", "roll": "-1"}, "rolling window “-1”"),
        ({"view": "timeline", "norm": "maybe"}, "“norm=maybe”"),
        ({"view": "timeline", "measure": "vibes"}, "measure “vibes”"),
        ({"view": "discover", "name": "Nobody Here"}, "not among the rising names"),
        ({"range": "forever"}, "range “forever”"),
        ({"kind": "alien"}, "kinds no watched entity has: “alien”"),
        ({"kind": "topic"}, "kinds no watched entity has: “topic”"),
        ({"feed": "No Such Feed"}, "feeds that are not in this store"),
        ({"tag": "sports"}, "tags no feed carries"),
        ({"utm_source": "mail"}, "does not use: “utm_source”"),
        ({"e": "<script>alert(1)</script>"}, "not watched"),
        ({"view": ["timeline", "articles"]}, "gives “view” more than once; using the last"),
    ],
)
def test_garbage_link_shows_a_notice(app, params: dict[str, Any], expected: str) -> None:
    at = app(**params)
    assert expected in notices(at)
    assert not at.error


def test_a_view_given_twice_opens_the_last_and_says_so(app) -> None:
    at = app(view=["timeline", "articles"])
    assert "“view” more than once; using the last, “articles”" in notices(at)
    assert "mm-title" in card_html(at)  # the articles' cards: the view drawn is the last
    assert "using the last, “timeline”" in notices(app(view=["articles", "timeline"]))
    assert not notices(app(e=["LexCorp", "Metropolis"]))  # entities may repeat


def test_swapped_dates_are_said_and_swapped(app) -> None:
    at = app(range="custom", **{"from": days_ago(2), "to": days_ago(9)})
    assert "start date is after the end date" in notices(at)
    caption = " ".join(c.value for c in at.sidebar.caption)
    start = (NOW - timedelta(days=9)).strftime("%-d %b %Y")
    assert start in caption


def test_dates_alone_mean_a_custom_range(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(9), days_ago(4)
    at = app(**{"from": d0, "to": d1})
    assert widget(at, "button_group", "range").value == "custom"
    assert not notices(at)
    rows = cli_json(store_config, capsys, "mentions", "--since", d0, "--until", d1)
    assert overview_numbers(at) == {r["entity"]: (r["mentions"], r["articles"]) for r in rows}


def test_dates_with_a_relative_range_are_said_to_be_ignored(app) -> None:
    at = app(range="7d", **{"from": days_ago(9)})
    assert "apply to a custom range only" in notices(at)
    assert widget(at, "button_group", "range").value == "7d"


def test_hostile_entity_in_a_link_is_not_markup(app) -> None:
    at = app(e="<img src=x onerror=alert(1)>")
    assert "not watched" in notices(at)
    assert not [h for h in at.get("html") if "onerror" in h.proto.body]


def test_empty_store_page(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml().replace("store: data", "store: nothing-yet"))
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("No articles yet" in i.value for i in at.info)
    text = " ".join(m.value for m in at.markdown)
    assert "monitor poll" in text and "monitor demo" in text


def test_broken_config_page(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        feeds_yaml()
        .replace("kind: person", "kind: persn", 1)
        .replace("tags: [national]", "tags: [national]\n    every: often", 1)
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(info.value.issues) >= 2
    for issue in info.value.issues:
        assert str(issue) in errors
    assert not at.tabs  # stopped before the views


def test_missing_config_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "nowhere.yaml"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("file not found" in e.value for e in at.error)


def test_new_data_shows_on_the_next_run(tmp_path: Path, monkeypatch) -> None:
    config = build_store(tmp_path / "live", NOW, days=3, per_day=4)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["range"] = "all"
    at.run()
    before = overview_numbers(at)["LexCorp"]
    store = open_store(load_config(config).store)
    writer = store.writer()
    t = NOW.replace(tzinfo=None) - timedelta(minutes=5)
    article = Article(
        id=article_key("test", "late"),
        url="https://news.example/late",
        title="LexCorp again",
        text="LexCorp and LexCorp.",
        published=t,
        first_seen=t,
        author="",
        feed=FEEDS[0][1],
    )
    writer.add_article(article, FEEDS[0][1], t)
    writer.add_mentions(article, {"LexCorp": 3})
    writer.commit()
    at.run()
    assert overview_numbers(at)["LexCorp"] == (before[0] + 3, before[1] + 1)


# --------------------------------------------------------------------------------------------
# No link and no store content ever shows an exception


HOSTILE_LINKS: list[dict[str, str | list[str]]] = [
    {},
    {"range": "all"},
    {"range": "all", "by": "hour"},
    {"range": "custom", "from": "0001-01-01", "to": "9999-12-31", "by": "hour"},
    {"range": "custom", "from": "9999-12-31", "to": "0001-01-01"},
    {"range": "custom", "from": "+10000-01-01", "to": "-0001-13-32"},
    {"from": "0001-01-01"},
    {"range": "custom", "to": "9999-12-31"},
    {"page": "inf", "roll": "inf"},
    {"page": "1e400", "roll": "1e400"},
    {"page": "nan", "roll": "-inf"},
    {"page": "99999999999999999999999", "roll": "-1e308"},
    {"page": ["1", "inf"], "range": ["7d", "all"], "roll": "2.5"},
    {"range": "24h", "by": "month", "measure": "articles", "norm": "true", "roll": "90"},
    {"scope": "all articles", "page": "2", "q": "%_\\'\";--"},
    {"measure": "tone", "norm": "true", "roll": "90", "by": "hour"},
    {"measure": "stories", "norm": "true", "range": "custom", "from": "0001-01-01"},
    {"measure": "tone", "range": "custom", "from": "9999-12-30", "to": "9999-12-31"},
    {"name": ["<script>alert(1)</script>", "", "Perry White" * 40]},
    {"name": "\u202e", "range": "custom", "from": "0001-01-01", "to": "0001-01-02"},
    {
        "e": ["", "Nayib Bukele" * 50, "<script>alert(1)</script>", "\u202e"],
        "kind": ["", "person"],
        "feed": "%00",
        "tag": "[/x]",
        "q": "x" * 5000,
        "measure": "",
        "name": "",
        "norm": "",
        "by": "",
        "scope": "<b>",
    },
]


@pytest.fixture(scope="module")
def extreme_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose first article is dated 1 Jan 0001 and last 31 Dec 9999."""
    config = build_store(tmp_path_factory.mktemp("extreme") / "w", NOW, days=4, per_day=6)
    add_extreme_dates(config, NOW.replace(tzinfo=None))
    return config


@pytest.mark.parametrize("view", VIEWS)
def test_no_link_and_no_date_raises(view: str, extreme_config: Path, monkeypatch) -> None:
    """Every page, from every garbled link, on a store holding the extreme dates: a page and
    at most notices, never an exception element."""
    monkeypatch.setenv("MONITOR_CONFIG", str(extreme_config))
    for params in HOSTILE_LINKS:
        at = run_app(view=view, **params)
        assert not at.exception, (view, params, [e.value for e in at.exception])
        assert not at.error, (view, params)
        assert at.subheader, (view, params)  # the page drew


def test_extreme_dates_are_said_and_drawn(extreme_config: Path, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(extreme_config))
    at = run_app(view="timeline", range="all")
    assert "counts since **1 Jan 1**" in at.markdown[0].value
    assert "shown by month" in captions(at) and "drawn from" in captions(at)
    drawn = [t for t in traces(at) if t["name"] != "Ingestion degraded"]
    assert drawn and all(len(t["x"]) <= 2_400 for t in drawn)
    at = run_app(range="all")  # the overview: no previous range to compare with
    assert overview_numbers(at)["Nayib Bukele"][0] > 0
    assert "Change" not in at.dataframe[0].value.columns


# --------------------------------------------------------------------------------------------
# Custom dates from a garbled link, old data, a first poll in progress


def test_a_garbled_custom_range_gets_real_dates(app) -> None:
    """No "custom" with empty boxes: a missing or garbled date is filled and said."""
    at = app(range="custom", **{"from": "2026-13-45"})
    assert widget(at, "button_group", "range").value == "custom"
    d0, d1 = widget(at, "date_input", "from").value, widget(at, "date_input", "to").value
    assert d0 and d1 and d0 <= d1
    assert "start date “2026-13-45” is not a date" in notices(at)
    at = app(range="custom")
    d0, d1 = widget(at, "date_input", "from").value, widget(at, "date_input", "to").value
    assert (d1 - d0).days == 29 and d1 == NOW.date()  # the default range: the last 30 days
    assert "without dates; showing the last 30 days" in notices(at)
    at = app(range="custom", to=days_ago(3))
    assert widget(at, "date_input", "from").value <= widget(at, "date_input", "to").value


def test_old_data_says_when_and_offers_a_range(tmp_path: Path, monkeypatch) -> None:
    """A store whose newest article is 100 days old: the overview says so and one click
    opens a range of the same length that has data."""
    config = build_store(tmp_path / "old", NOW - timedelta(days=100), days=10, per_day=6)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = run_app()
    assert "The newest article is from" in notices(at) and "before this range" in notices(at)
    at.button(key="_to_data").click().run()
    assert not at.exception
    assert widget(at, "button_group", "range").value == "custom"
    # the newest article's day (the day before NOW - 100 days when the test runs just after
    # midnight, before any of that day's articles)
    _, last = open_store(load_config(config).store).snapshot().time_bounds()
    assert last is not None and (NOW - timedelta(days=101)).date() <= last.date()
    newest = last.date()
    assert widget(at, "date_input", "to").value == newest
    assert widget(at, "date_input", "from").value == newest - timedelta(days=29)
    assert sum(m for m, _ in overview_numbers(at).values()) > 0
    assert "newest article" not in notices(at)


def test_first_poll_in_progress_is_said(tmp_path: Path, monkeypatch) -> None:
    """The poller holds the store and has not yet polled every feed: partial numbers, said."""
    config = build_store(tmp_path / "live", NOW, days=2, per_day=4)
    new_feed = "  - name: Not Polled Yet\n    url: http://127.0.0.1:9/later.xml\n"
    config.write_text(config.read_text().replace("watch:\n", new_feed + "watch:\n", 1))
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    store = open_store(load_config(config).store)
    assert not any(i.value.startswith("**Ingestion in progress**") for i in run_app().info)
    with store.poller_lock():
        assert store.poller_running()
        at = run_app()
        (note,) = [i.value for i in at.info if "Ingestion in progress" in i.value]
        assert f"reached {len(FEEDS)} of {len(FEEDS) + 1} feeds" in note
    assert not store.poller_running()


def test_empty_store_while_the_first_poll_runs(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml())
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    store = open_store(load_config(config).store)
    with store.poller_lock():
        at = run_app()
    assert not at.exception
    assert any("poller is running its first poll" in i.value for i in at.info)
    assert f"0 of {len(FEEDS)} feeds" in " ".join(i.value for i in at.info)


# --------------------------------------------------------------------------------------------
# The same numbers from a terminal


def test_the_counting_command_works_as_pasted(app, store_config: Path, tmp_path: Path) -> None:
    """ "How counting works" shows a command that, pasted in another folder, prints the
    overview's numbers."""
    at = app(range="7d", e=["LexCorp", "Metropolis"], feed="Gotham Gazette")
    argv = shown_command(markdown(at))
    assert argv[1] == "-c" and Path(argv[2]).is_absolute()
    assert "Gotham Gazette" in argv  # the feed by its name, not its URL
    rows = run_pasted(argv, tmp_path)
    assert overview_numbers(at) == {r["entity"]: (r["mentions"], r["articles"]) for r in rows}


# --------------------------------------------------------------------------------------------
# Colours


def delta_e(c1: str, c2: str) -> float:
    """CIEDE2000 colour difference of two #RRGGBB colours (about 2: barely told apart)."""

    def lab(hex_color: str) -> tuple[float, float, float]:
        rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
        xyz = (
            (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
            0.2126 * r + 0.7152 * g + 0.0722 * b,
            (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
        )
        fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
        return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)

    (l1, a1, b1), (l2, a2, b2) = lab(c1), lab(c2)
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar**7 / (cbar**7 + 25**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = math.degrees(math.atan2(b1, a1)) % 360, math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2 - h1 + 180) % 360 - 180
    dhp = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    hbar = h1 + h2 if c1p * c2p == 0 else ((h1 + h2) / 2 + (180 if abs(h1 - h2) > 180 else 0))
    t = (
        1
        - 0.17 * math.cos(math.radians(hbar - 30))
        + 0.24 * math.cos(math.radians(2 * hbar))
        + 0.32 * math.cos(math.radians(3 * hbar + 6))
        - 0.20 * math.cos(math.radians(4 * hbar - 63))
    )
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rt = (
        -math.sin(math.radians(60 * math.exp(-(((hbar - 275) / 25) ** 2))))
        * 2
        * math.sqrt(cbarp**7 / (cbarp**7 + 25**7))
    )
    dl, dc = (l2 - l1) / sl, (c2p - c1p) / sc
    return math.sqrt(dl**2 + dc**2 + (dhp / sh) ** 2 + rt * dc * (dhp / sh))


def test_the_palette_is_clearly_distinct() -> None:
    assert len(PALETTE) == len(set(PALETTE)) == 20
    for a, b in itertools.combinations(PALETTE, 2):
        assert delta_e(a, b) > 15, (a, b)
    assert delta_e("#54A24B", "#2CA02C") < 5  # the two greens of the old palette


def test_colours_go_to_what_is_drawn_in_watchlist_order() -> None:
    everyone = [f"E{i}" for i in range(15)]
    colors = assign_colors(["E12", "E2", "E7"], everyone)
    assert [colors[e] for e in ("E2", "E7", "E12")] == list(PALETTE[:3])
    assert assign_colors(["E7", "E12", "E2"], everyone) == colors  # same set, same colours
    assert len(set(colors.values())) == 15


def test_drawn_series_have_distinct_colours(demo_config: Path, monkeypatch) -> None:
    """On the demo world (15 entities), the default timeline and the compare areas."""
    monkeypatch.setenv("MONITOR_CONFIG", str(demo_config))
    at = run_app(view="timeline", range="all")
    lines = [t["line"]["color"] for t in traces(at) if t["name"] != "Ingestion degraded"]
    assert len(lines) == 6
    at = run_app(view="compare", range="all", e=list(load_config(demo_config).watch[i].name
                                                      for i in (2, 12, 3, 13)))  # fmt: skip
    areas = [t["line"]["color"] for t in traces(at)]
    assert len(areas) == 4
    for series in (lines, areas):
        for a, b in itertools.combinations(series, 2):
            assert delta_e(a, b) > 15, (a, b)


# --------------------------------------------------------------------------------------------
# The package's layout


def test_pages_import_no_page_and_nothing_imports_the_frame() -> None:
    """A page uses state, data, cards and widgets, never another page; only dashboard.py
    imports the frame (monitor_app.app)."""
    package = Path(APP).parent / "monitor_app"
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            (node.module or "") if node.level == 0 else f"{'.' * node.level}{node.module or ''}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        if path.parent.name == "pages":
            sibling = [m for m in imported if m.startswith(".") and not m.startswith("..")]
            assert not sibling and not [m for m in imported if "pages" in m], path
        if path.name != "app.py":
            assert not [m for m in imported if m.endswith(".app") or m == "monitor_app.app"], path
    assert "monitor_app.app" in Path(APP).read_text()


def test_long_lived_objects_are_set_aside_once_imported(app, monkeypatch) -> None:
    """After a run that imported modules, what is alive is frozen out of the collector's
    walks (see collect_when_idle); a run that imports nothing freezes nothing
    more, and the next module imported is frozen with what it made."""
    import gc
    import sys
    import types

    from monitor_app import app as frame

    app(view="overview")
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert frame._frozen_modules == len(sys.modules)
    made = [[i] for i in range(1000)]  # young objects the collector tracks, alive
    frame.freeze_long_lived()
    assert gc.get_freeze_count() == frozen  # nothing imported since
    monkeypatch.setitem(sys.modules, "_mm_late_module", types.ModuleType("_mm_late_module"))
    frame.freeze_long_lived()
    assert gc.get_freeze_count() >= frozen + len(made)


def test_garbage_is_collected_once_no_run_is_under_way(monkeypatch) -> None:
    """Streamlit's collection after every run is off (it held the GIL at the end of each of
    20 concurrent runs): a reference cycle left by a run is freed when the last run under way
    ends, not while another one still runs, and not in the run's own thread."""
    import gc
    import threading
    import weakref

    from monitor_app import app as frame

    def collectors() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "collect-when-idle"]

    class Node:
        pass

    for t in collectors():  # of earlier tests' runs
        t.join(timeout=30)
    monkeypatch.setattr(frame, "_running", 0)
    monkeypatch.setattr(frame, "IDLE_COLLECT_S", 0.05)
    was_enabled = gc.isenabled()
    gc.disable()  # only the app's collection may free the cycle
    try:
        with frame.collect_when_idle():
            node = Node()
            node.self = node  # type: ignore[attr-defined]
            left = weakref.ref(node)
            del node
            with frame.collect_when_idle():  # another session's run ends meanwhile
                pass
            assert not collectors()
            assert left() is not None
        for t in collectors():
            t.join(timeout=30)
        assert left() is None
        assert frame._running == 0
    finally:
        if was_enabled:
            gc.enable()


def test_the_dashboard_leaves_collection_to_the_app() -> None:
    """Both ways of starting the dashboard switch Streamlit's collection after every run off:
    `streamlit run dashboard.py` from the project (its config.toml) and `monitor dashboard`."""
    import tomllib

    from monitor.runner import dashboard_command

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    cmd = dashboard_command(Path("feeds.yaml"), 8501)
    assert cmd[cmd.index("--runner.postScriptGC") + 1] == "false"
