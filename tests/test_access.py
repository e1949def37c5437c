"""Who may see the dashboard, without Streamlit: allow rules, the [auth] section, addresses,
and what the command line decides before it starts the dashboard (monitor/access.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.access import (
    SignIn,
    allow_rule_hint,
    check_sign_in,
    is_allow_rule,
    is_allowed,
    is_loopback,
    plan_serving,
    read_sign_in,
    secrets_files,
    serving_url,
)
from monitor.config import load_config
from monitor.errors import ConfigError

AUTH = {
    "redirect_uri": "https://monitor.example.org/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
}
ON = SignIn(providers=("default",), home="https://monitor.example.org/")


@pytest.mark.parametrize(
    ("email", "allow", "expected"),
    [
        ("ana@example.org", ["ana@example.org"], True),
        ("ANA@Example.Org", ["ana@example.org"], True),
        ("ana@example.org", ["Ana@EXAMPLE.org"], True),
        ("ana@example.org", ["@example.org"], True),
        ("ana@example.org", ["@EXAMPLE.ORG"], True),
        (" ana@example.org ", ["ana@example.org"], True),
        ("bob@example.org", ["ana@example.org"], False),
        ("ana@sub.example.org", ["@example.org"], False),
        ("ana@example.org.evil.net", ["@example.org"], False),
        ("ana@evil-example.org", ["@example.org"], False),
        ("ana@example.orgx", ["ana@example.org"], False),
        ("ana@example.org", ["example.org"], False),  # not a rule: never matches
        ("ana@example.org", [], False),
        ("ana@example.org", [""], False),
        ("", ["@example.org"], False),
        (None, ["@example.org"], False),
        ("not-an-address", ["not-an-address"], False),
    ],
)
def test_is_allowed(email: str | None, allow: list[str], expected: bool) -> None:
    assert is_allowed(email, allow) is expected


@pytest.mark.parametrize(
    ("rule", "ok", "hint"),
    [
        ("ana@example.org", True, ""),
        ("@example.org", True, ""),
        ("@münchen.de", True, ""),
        ("first.last+tag@mail.example.co.uk", True, ""),
        ("example.org", False, '"@example.org"'),
        ("ana", False, "ana@example.org"),
        ("ana @example.org", False, "spaces"),
        ("ana@", False, "domain"),
        ("ana@localhost", False, "domain"),
        ("a@b@example.org", False, "one @"),
        ("@", False, "domain"),
    ],
)
def test_allow_rules(rule: str, ok: bool, hint: str) -> None:
    assert is_allow_rule(rule) is ok
    if not ok:
        assert hint in allow_rule_hint(rule)


def test_check_sign_in() -> None:
    assert check_sign_in(None) is None
    assert check_sign_in(AUTH) == SignIn(("default",), None, "https://monitor.example.org/")
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    named = check_sign_in({**shared, "google": provider, "okta": provider})
    assert named is not None and named.providers == ("google", "okta") and not named.problem


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ({}, "lacks redirect_uri, cookie_secret, client_id, client_secret"),
        ({k: v for k, v in AUTH.items() if k != "cookie_secret"}, "lacks cookie_secret"),
        ({**AUTH, "client_secret": ""}, "lacks client_secret"),
        (
            {
                "redirect_uri": AUTH["redirect_uri"],
                "cookie_secret": "x",
                "okta": {"client_id": "i"},
            },
            "lacks auth.okta.client_secret, auth.okta.server_metadata_url",
        ),
        ({**AUTH, "redirect_uri": "https://monitor.example.org/"}, "/oauth2callback"),
        ({**AUTH, "redirect_uri": "monitor.example.org/oauth2callback"}, "/oauth2callback"),
        (
            {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "x", "my_idp": AUTH},
            "cannot contain _",
        ),
        ("not a table", "not a section"),
    ],
)
def test_check_sign_in_says_what_is_missing(auth: object, problem: str) -> None:
    found = check_sign_in(auth)  # type: ignore[arg-type]
    assert found is not None and not found.providers
    assert found.problem is not None and problem in found.problem


def test_read_sign_in_takes_the_last_file_with_auth(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    first, second = secrets_files(project, home)
    assert read_sign_in([first, second]) is None  # no files at all
    first.parent.mkdir(parents=True)
    first.write_text('[auth]\nredirect_uri = "https://a.example/oauth2callback"\n')
    found = read_sign_in([first, second])
    assert found is not None and found.problem and str(first) in found.problem
    second.parent.mkdir(parents=True)
    second.write_text("[other]\nx = 1\n")  # no [auth] here: the first one's counts
    assert read_sign_in([first, second]) == found
    body = "".join(f'{k} = "{v}"\n' for k, v in AUTH.items())
    second.write_text(f"[auth]\n{body}")
    assert read_sign_in([first, second]) == ON
    second.write_text("[auth\n")
    broken = read_sign_in([first, second])
    assert broken is not None and "cannot be read as TOML" in str(broken.problem)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        (None, False),
        ("192.168.1.5", False),
        ("monitor.example.org", False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_plan_serving() -> None:
    # this machine, no sign-in: as before
    assert plan_serving("127.0.0.1", False, None, None).error is None
    # beyond it without sign-in: refused, unless --no-auth (then said to be public)
    refused = plan_serving("0.0.0.0", False, None, None)
    assert refused.error and "0.0.0.0" in refused.error and "--no-auth" in refused.hint
    public = plan_serving("0.0.0.0", True, None, None)
    assert public.error is None and "public" in public.notes[0]
    assert plan_serving("0.0.0.0", True, ON, ["@example.org"]).notes  # --no-auth wins
    # with sign-in, any address
    assert plan_serving("0.0.0.0", False, ON, ["@example.org"]) == plan_serving(
        "127.0.0.1", False, ON, ["@example.org"]
    )
    assert plan_serving("0.0.0.0", False, ON, ["@example.org"]).error is None
    # a sign-in setup that lacks something stops it, wherever it listens
    broken = SignIn(problem="[auth] lacks client_secret")
    assert "client_secret" in str(plan_serving("127.0.0.1", False, broken, ["a@b.org"]).error)
    # what would surprise: everyone refused, or nobody sees data
    assert "refused" in plan_serving("0.0.0.0", False, ON, []).notes[0]
    assert "refused" in plan_serving("0.0.0.0", False, ON, None).notes[0]
    assert "not set up" in plan_serving("127.0.0.1", False, None, ["a@b.org"]).notes[0]


def test_serving_url() -> None:
    assert serving_url("127.0.0.1", 8501, None) == "http://127.0.0.1:8501/"
    assert serving_url("::1", 8501, None) == "http://[::1]:8501/"
    assert serving_url("0.0.0.0", 80, ON) == "https://monitor.example.org/"
    assert serving_url("0.0.0.0", 80, None).startswith("http://")
    assert "0.0.0.0" not in serving_url("0.0.0.0", 80, None)


def feeds_yaml(tmp_path: Path, dashboard: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - name: A\n    url: https://a.example/rss\nwatch:\n  - name: X\n"
        f"    kind: person\n{dashboard}"
    )
    return path


@pytest.mark.parametrize(
    ("dashboard", "allow"),
    [
        ("", None),
        ("dashboard:\n  url: https://monitor.example.org/\n", None),
        ("dashboard:\n  allow:\n", None),  # written empty: not said
        ("dashboard:\n  allow: []\n", ()),
        (
            'dashboard:\n  allow: [" Ana@Example.org ", "@example.org"]\n',
            ("Ana@Example.org", "@example.org"),
        ),
        ("dashboard:\n  allow:\n    - ana@example.org\n", ("ana@example.org",)),
    ],
)
def test_feeds_yaml_dashboard_allow(tmp_path: Path, dashboard: str, allow: tuple | None) -> None:
    assert load_config(feeds_yaml(tmp_path, dashboard)).dashboard.allow == allow


def test_feeds_yaml_dashboard_allow_errors_have_lines(tmp_path: Path) -> None:
    path = feeds_yaml(
        tmp_path,
        "dashboard:\n  allow:\n    - ana@example.org\n    - example.org\n    - ana\n"
        '    - ""\n    - 5\n  alow: []\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = [str(issue) for issue in caught.value.issues]
    assert lines == [
        f"{path}:10: dashboard.allow[1]: expected an email address or a domain like "
        '@example.org, got "example.org" (a whole domain starts with @: "@example.org")',
        f"{path}:11: dashboard.allow[2]: expected an email address or a domain like "
        '@example.org, got "ana" (write an address like "ana@example.org" or a domain like '
        '"@example.org")',
        f"{path}:12: dashboard.allow[3]: empty text (write an address or a domain like "
        "@example.org)",
        f"{path}:13: dashboard.allow[4]: expected an email address or a domain like "
        "@example.org, got 5",
        f'{path}:14: dashboard: unknown key "alow" (did you mean "allow"?)',
    ]
    one = feeds_yaml(tmp_path, "dashboard:\n  allow: ana@example.org\n")
    with pytest.raises(ConfigError, match=r"write \[ana@example.org\] for one"):
        load_config(one)
