"""Sign-in in a real browser, through a real OpenID Connect provider on 127.0.0.1.

The dashboard (`streamlit run dashboard.py`) signs in through `oidc-provider-mock` with the
[auth] of a secrets.toml written for the test; feeds.yaml allows ana@example.org and
@team.example. Checked in Debian's Chromium:

- a signed-out visitor of a shared link sees only the sign-in page, and nothing of the store
  reaches the browser (the page, and every websocket message it received);
- signing in as an allowed user lands on the exact view of the link (the provider sends
  everyone back to the home page: the dashboard carries the link through), with its chart;
  signing out goes back to the sign-in page;
- a refused user sees the refusal and a Sign out button, and nothing of the store reaches the
  browser either.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, READY, free_port, streamlit_server
from tests.dashboard_store import FEEDS, WATCH, build_store
from tests.oidc import oidc_provider, write_secrets

pytestmark = pytest.mark.browser

assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium"
from playwright import sync_api  # noqa: E402

TRACES_JS = """() => {
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return gd.data.map(t => t.name);
}"""
# What the store or feeds.yaml would give away (the link itself names LexCorp: left out)
STORE_TEXT = [
    *(e.name for e in WATCH if e.name != "LexCorp"),
    *(name for name, _, _ in FEEDS),
    "in the news",
    "articles from",
]
LINK = {"view": "timeline", "e": "LexCorp", "range": "all", "by": "week"}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with open(log, "wb") as out, oidc_provider(log=out) as url:
        yield url


@pytest.fixture(scope="module")
def dashboard(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("signin")
    config = build_store(folder / "world", datetime.now(UTC))
    with open(config, "a") as f:
        f.write('dashboard:\n  allow: [ana@example.org, "@team.example"]\n')
    port = free_port()
    secrets = write_secrets(folder / "secrets.toml", f"http://127.0.0.1:{port}", provider)
    log = folder / "streamlit.log"
    with open(log, "wb") as out:
        try:
            with streamlit_server(config, out, port=port, secrets=secrets, timeout=60) as (_, url):
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


class Tab:
    """A page in a fresh browser context, recording every websocket message it receives."""

    def __init__(self, page: Any):
        self.page = page
        self.received: list[bytes] = []
        page.on("websocket", self._watch)

    def _watch(self, ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda p: self.received.append(p if isinstance(p, bytes) else p.encode()),
        )

    def settle(self) -> None:
        self.page.wait_for_selector(READY)
        self.page.wait_for_timeout(500)
        self.page.wait_for_selector(READY)

    def leaks(self) -> list[str]:
        """Store text found in the page or in any websocket message received."""
        html = self.page.content()
        wire = b"".join(self.received)
        return [s for s in STORE_TEXT if s in html or s.encode() in wire]

    def sign_in(self, provider: str, dashboard: str, who: str) -> None:
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{provider}/**")
        self.page.fill("input[name=sub]", who)
        self.page.get_by_role("button", name="Authorize").click()
        self.page.wait_for_url(f"{dashboard}/**")
        self.settle()


@pytest.fixture
def tab(chromium: Any) -> Iterator[Tab]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    yield Tab(context.new_page())
    context.close()


def sign_in_page_only(tab: Tab) -> None:
    page = tab.page
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert page.locator('[data-testid="stPlotlyChart"], [data-testid="stDataFrame"]').count() == 0
    assert page.locator('[data-testid="stTab"], [role="tab"]').count() == 0
    assert tab.leaks() == []


# --------------------------------------------------------------------------------------------


def test_signed_out_visitor_gets_the_sign_in_page_and_nothing_else(
    tab: Tab, dashboard: str
) -> None:
    for query in ("", "?view=feeds", "?view=articles&scope=all+articles"):
        tab.page.goto(f"{dashboard}/{query}")
        tab.settle()
        sign_in_page_only(tab)
    assert tab.received, "no websocket message was recorded: the check above proves nothing"


def test_allowed_user_lands_on_the_shared_link(tab: Tab, dashboard: str, provider: str) -> None:
    page = tab.page
    page.goto(f"{dashboard}/?{urlencode(LINK)}")
    tab.settle()
    sign_in_page_only(tab)
    assert "the view of the link you opened" in page.inner_text('[data-testid="stMain"]')

    tab.sign_in(provider, dashboard, "Ana@Example.org")
    page.wait_for_function(f"({TRACES_JS})() !== null")
    assert {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()} == LINK
    assert page.evaluate(TRACES_JS)[0] == "LexCorp"
    selected = page.locator(".st-key-view [role=tab][aria-selected=true]")
    assert selected.inner_text().strip().lower() == "timeline"
    assert "Signed in as Ana@Example.org" in page.inner_text('[data-testid="stSidebar"]')
    assert set(tab.leaks()) >= {"Nayib Bukele", "Daily Planet"}  # the check sees data when sent

    # a signed-in user's new tab opens links directly
    page.goto(f"{dashboard}/?view=feeds")
    tab.settle()
    assert page.locator(".st-key-view [role=tab][aria-selected=true]").inner_text() == "feeds"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider}/**")  # the provider's own end of the session
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{dashboard}/**")
    tab.settle()
    tab.received.clear()
    page.goto(f"{dashboard}/?view=feeds")
    tab.settle()
    sign_in_page_only(tab)


def test_refused_user_sees_a_refusal_and_nothing_of_the_store(
    tab: Tab, dashboard: str, provider: str
) -> None:
    page = tab.page
    page.goto(f"{dashboard}/?view=articles&scope=all+articles")
    tab.settle()
    tab.sign_in(provider, dashboard, "bob@elsewhere.net")
    main = page.inner_text('[data-testid="stMain"]')
    assert "You are signed in as bob@elsewhere.net" in main
    assert "may not see this dashboard" in main
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.locator('[data-testid="stPlotlyChart"], [data-testid="stDataFrame"]').count() == 0
    assert tab.leaks() == []
    # the link itself (reopened signed in) still shows nothing
    page.goto(f"{dashboard}/?{urlencode(LINK)}")
    tab.settle()
    assert "may not see this dashboard" in page.inner_text('[data-testid="stMain"]')
    assert tab.leaks() == []
