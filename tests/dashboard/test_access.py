"""Who sees the dashboard (AppTest, with `st.user` and `st.secrets` set by the test): the sign-in
page, the allow list, refusals, sign-in not set up, addresses beyond this machine, --no-auth.

Every page that is not the data is checked for what it must not carry: nothing of the store or
of feeds.yaml (entity, feed and tag names, article titles, counts) anywhere in the page sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from monitor_app.access import PendingLinks, browser_key
from tests.dashboard.helpers import APP
from tests.dashboard_store import FEEDS, WATCH

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-thirty-two-chars",
    "client_id": "media-monitor",
    "client_secret": "test-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ANA = {"is_logged_in": True, "email": "ana@example.org", "email_verified": True}
# What the store or feeds.yaml would give away: watched names, feeds, tags, article titles
SECRETS_OF_THE_STORE = [
    *(e.name for e in WATCH),
    *(name for name, _, _ in FEEDS),
    "national",
    "in the news",
    "Weather and sports",
    "articles from",
]


@pytest.fixture
def with_allow(store_config: Path, tmp_path: Path) -> Callable[[str | None], Path]:
    """feeds.yaml of the shared test store with a `dashboard:` section appended (None: none)."""

    def write(dashboard: str | None) -> Path:
        text = store_config.read_text()
        text = text.replace("store: data", f"store: {store_config.parent / 'data'}")
        if dashboard is not None:
            text += f"dashboard:\n{dashboard}\n"
        path = tmp_path / "feeds.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def no_auth_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MONITOR_NO_AUTH", raising=False)
    yield


def open_page(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    user: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    address: str = "127.0.0.1",
    no_auth: bool = False,
    **params: str,
) -> AppTest:
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    if no_auth:
        monkeypatch.setenv("MONITOR_NO_AUTH", "1")
    else:
        monkeypatch.delenv("MONITOR_NO_AUTH", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = {"auth": auth} if auth is not None else {"unrelated": "x"}
    at.user = user if user is not None else {}
    for key, value in params.items():
        at.query_params[key] = value
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", address)
    try:
        at.run()
    finally:
        st_config.set_option("server.address", before)
    assert not at.exception, [e.value for e in at.exception]
    return at


def sent(at: AppTest) -> str:
    """Everything the run sent to the page, as text (every element's message)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def assert_no_data(at: AppTest) -> None:
    text = sent(at)
    leaked = [s for s in SECRETS_OF_THE_STORE if s.lower() in text.lower()]
    assert not leaked, f"the page carries {leaked}"
    assert not at.dataframe and not at.get("plotly_chart") and not at.tabs


def errors(at: AppTest) -> str:
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in at.error))


def has_data(at: AppTest) -> bool:
    return bool(at.tabs) and bool(at.dataframe)


def buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


# --------------------------------------------------------------------------------------------
# Sign-in on: signed out, allowed, refused


def test_signed_out_sees_only_the_sign_in_page(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = with_allow("  allow: [ana@example.org]")
    at = open_page(config, monkeypatch, auth=AUTH, user={"is_logged_in": False}, view="feeds")
    assert buttons(at) == ["Sign in"]
    assert "Sign in to see this dashboard" in at.markdown[0].value
    assert "the view of the link you opened" in at.caption[0].value
    assert_no_data(at)


def test_signed_out_never_reads_feeds_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken feeds.yaml quotes names from the file: a signed-out visitor sees none of it."""
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - name: Secret Wire\n    url: nope\n")
    at = open_page(config, monkeypatch, auth=AUTH, user={"is_logged_in": False})
    assert buttons(at) == ["Sign in"]
    assert "Secret Wire" not in sent(at) and not at.error


def test_named_providers_get_one_button_each(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    auth = {**shared, "google": provider, "okta": provider}
    at = open_page(with_allow(None), monkeypatch, auth=auth, user={"is_logged_in": False})
    assert buttons(at) == ["Sign in with google", "Sign in with okta"]


@pytest.mark.parametrize(
    ("allow", "email"),
    [
        ("[ana@example.org]", "ana@example.org"),
        ("[ana@example.org]", "Ana@Example.ORG"),  # case does not matter
        ('["@Example.org"]', "someone@example.org"),  # a whole domain
        ('[bob@elsewhere.net, "@example.org"]', "ANA@EXAMPLE.ORG"),
    ],
)
def test_an_allowed_user_sees_the_data(
    with_allow: Callable[[str | None], Path],
    monkeypatch: pytest.MonkeyPatch,
    allow: str,
    email: str,
) -> None:
    user = {**ANA, "email": email}
    at = open_page(with_allow(f"  allow: {allow}"), monkeypatch, auth=AUTH, user=user)
    assert has_data(at) and not at.error
    captions = re.sub(r"\\(.)", r"\1", "\n".join(c.value for c in at.sidebar.caption))
    assert f"Signed in as **{email}**" in captions
    assert "Sign out" in buttons(at)


@pytest.mark.parametrize(
    ("allow", "email"),
    [
        ("[ana@example.org]", "bob@example.org"),
        ('["@example.org"]', "ana@sub.example.org"),  # a domain is that domain, not below it
        ('["@example.org"]', "ana@example.org.evil.net"),
        ("[ana@example.org]", "ana@example.orgx"),
    ],
)
def test_a_user_not_allowed_is_refused_and_sees_nothing(
    with_allow: Callable[[str | None], Path],
    monkeypatch: pytest.MonkeyPatch,
    allow: str,
    email: str,
) -> None:
    user = {**ANA, "email": email}
    at = open_page(
        with_allow(f"  allow: {allow}"), monkeypatch, auth=AUTH, user=user, view="timeline"
    )
    assert "This account may not see this dashboard" in errors(at)
    assert email in errors(at)
    assert buttons(at) == ["Sign out"]
    assert_no_data(at)


@pytest.mark.parametrize("dashboard", [None, "  allow: []", "  url: https://monitor.example"])
def test_no_allow_list_refuses_everyone_and_tells_the_admin(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch, dashboard: str
) -> None:
    at = open_page(with_allow(dashboard), monkeypatch, auth=AUTH, user=ANA)
    assert "Nobody may see this dashboard yet" in errors(at)
    assert "dashboard.allow" in errors(at)
    assert buttons(at) == ["Sign out"]
    assert_no_data(at)


def test_an_unverified_email_is_refused(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = {**ANA, "email_verified": False}
    at = open_page(with_allow("  allow: [ana@example.org]"), monkeypatch, auth=AUTH, user=user)
    assert "not verified" in errors(at)
    assert_no_data(at)


def test_a_sign_in_without_email_is_refused(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = {"is_logged_in": True, "sub": "ana", "name": "Ana"}
    at = open_page(with_allow('  allow: ["@example.org"]'), monkeypatch, auth=AUTH, user=user)
    assert "gave no email address" in errors(at)
    assert_no_data(at)


def test_a_broken_feeds_yaml_is_not_quoted_to_a_signed_in_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until feeds.yaml is read, nobody knows who may see it: the problems are counted, not
    quoted (they name feeds and entities)."""
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - name: Secret Wire\n    url: nope\n")
    at = open_page(config, monkeypatch, auth=AUTH, user=ANA)
    assert "has 1 problem" in errors(at) and "monitor validate" in errors(at)
    assert "Secret Wire" not in sent(at)


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("cookie_secret", "cookie_secret"),
        ("client_secret", "client_secret"),
        ("server_metadata_url", "server_metadata_url"),
    ],
)
def test_an_incomplete_sign_in_setup_says_what_it_lacks(
    with_allow: Callable[[str | None], Path],
    monkeypatch: pytest.MonkeyPatch,
    drop: str,
    named: str,
) -> None:
    auth = {k: v for k, v in AUTH.items() if k != drop}
    at = open_page(with_allow("  allow: [ana@example.org]"), monkeypatch, auth=auth, user=ANA)
    assert f"lacks {named}" in errors(at)
    assert not at.button
    assert_no_data(at)


# --------------------------------------------------------------------------------------------
# Sign-in not set up


def test_without_sign_in_this_machine_sees_the_data(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(with_allow(None), monkeypatch)
    assert has_data(at) and not at.error and not at.warning
    assert "Sign out" not in buttons(at)


def test_allow_without_sign_in_shows_how_to_set_it_up(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(with_allow("  allow: [ana@example.org]"), monkeypatch)
    assert len(at.error) == 1
    text = errors(at)
    assert "Sign-in is not set up" in text
    assert "[auth]" in text and ".streamlit/secrets.toml" in text and "--no-auth" in text
    assert_no_data(at)


def test_allow_with_no_auth_shows_the_data_and_says_allow_is_not_enforced(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(with_allow("  allow: [ana@example.org]"), monkeypatch, no_auth=True)
    assert has_data(at) and not at.error
    assert "not enforced" in "\n".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("address", ["0.0.0.0", "", "192.0.2.7", "::"])
def test_beyond_this_machine_without_sign_in_shows_nothing(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    at = open_page(with_allow(None), monkeypatch, address=address)
    assert "without sign-in" in errors(at) and "--no-auth" in errors(at)
    assert_no_data(at)


def test_beyond_this_machine_with_no_auth_says_it_is_public(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(with_allow(None), monkeypatch, address="0.0.0.0", no_auth=True)
    assert has_data(at)
    (note,) = [w.value for w in at.warning if "Public dashboard" in w.value]
    assert "0.0.0.0" in note and "--no-auth" in note


def test_beyond_this_machine_with_sign_in_is_fine(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = with_allow("  allow: [ana@example.org]")
    at = open_page(config, monkeypatch, auth=AUTH, user=ANA, address="0.0.0.0")
    assert has_data(at) and not at.error
    assert not [w for w in at.warning if "Public" in w.value]


def test_no_auth_switches_sign_in_off(
    with_allow: Callable[[str | None], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = with_allow("  allow: [ana@example.org]")
    at = open_page(config, monkeypatch, auth=AUTH, user={"is_logged_in": False}, no_auth=True)
    assert has_data(at) and "Sign in" not in buttons(at)


# --------------------------------------------------------------------------------------------
# Remembering a link across the sign-in round trip


def test_pending_links_are_per_browser_taken_once_and_expire() -> None:
    links = PendingLinks(seconds=60, limit=3)
    links.put("a", "view=timeline&e=X", now=0)
    links.put("b", "view=feeds", now=10)
    assert links.pop("a", now=30) == "view=timeline&e=X"
    assert links.pop("a", now=31) is None  # taken once
    assert links.pop("b", now=71) is None  # expired
    for i in range(5):
        links.put(str(i), f"page={i}", now=100)
    assert links.pop("0", now=101) is None  # the oldest went beyond the limit
    assert links.pop("4", now=101) == "page=4"


def test_browser_key_is_the_xsrf_token_whatever_its_mask() -> None:
    token = bytes(range(16))

    def cookie(mask: bytes, token: bytes = token) -> str:
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
        return f"2|{mask.hex()}|{masked.hex()}|1700000000"

    first, second = cookie(b"\x01\x02\x03\x04"), cookie(b"\xaa\xbb\xcc\xdd")
    assert first != second
    assert browser_key(first) == browser_key(second) == browser_key(token.hex()) is not None
    assert browser_key(cookie(b"\x01\x02\x03\x04", bytes(16))) != browser_key(first)
    for garbled in ("", None, "2|zz|yy|1", "2|only|three", "not hex"):
        assert browser_key(garbled) is None
