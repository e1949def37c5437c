"""Who may see the dashboard: feeds.yaml's `dashboard.allow`, the sign-in settings (`[auth]` in
Streamlit's secrets.toml), and which addresses reach this machine only. Pure: no Streamlit.

- `is_allow_rule(rule)` / `allow_rule_hint(rule)`: one entry of `allow` checked (config.py
  reports a bad one with its line); `is_allowed(email, allow)`: an address against the list
  (exact addresses or whole domains written `@example.org`, case-insensitive).
- `check_sign_in(auth)`: an `[auth]` section -> the providers to offer, or what it lacks.
- `read_sign_in(paths)`: the same, read from the secrets.toml files Streamlit would read (the
  command line asks before it starts the dashboard on an address other than this machine's).
- `is_loopback(host)`: whether an address to listen on reaches this machine only.

Signing in itself is Streamlit's (`st.login`, OpenID Connect, in monitor_app/access.py): this
module never sees a password or a token.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import socket
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARED_KEYS = ("redirect_uri", "cookie_secret")  # in [auth], whatever the provider
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")  # per provider
SECRETS_FILE = Path(".streamlit") / "secrets.toml"
NO_AUTH_ENV = "MONITOR_NO_AUTH"  # set to 1 by `monitor dashboard --no-auth` for the dashboard

_DOMAIN = re.compile(r"[^\s@.]+(\.[^\s@.]+)+")
_LOCAL = re.compile(r"[^\s@]+")
_HAS_SPACE = re.compile(r"\s").search


# --------------------------------------------------------------------------------------------
# The allow list


def is_allow_rule(rule: str) -> bool:
    """Whether `rule` is an email address or a whole domain written `@example.org`."""
    local, at, domain = rule.strip().rpartition("@")
    return (
        bool(at)
        and bool(_DOMAIN.fullmatch(domain))
        and (not local or bool(_LOCAL.fullmatch(local)))
    )


def allow_rule_hint(rule: str) -> str:
    """How to fix an entry of `allow` that `is_allow_rule` refuses ("" when unsure)."""
    text = rule.strip()
    if _HAS_SPACE(text):
        return "remove the spaces; one address or domain per entry"
    if "@" not in text and _DOMAIN.fullmatch(text):
        return f'a whole domain starts with @: "@{text}"'
    if "@" not in text:
        return 'write an address like "ana@example.org" or a domain like "@example.org"'
    if text.count("@") > 1:
        return "one @ only"
    return 'the part after @ must be a domain like "example.org"'


def is_allowed(email: str | None, allow: Sequence[str]) -> bool:
    """Whether `email` is in `allow`: as an address, or by its domain (`@example.org`, that
    domain exactly, not its subdomains). Case does not matter; no email, no entry."""
    if not email or "@" not in email:
        return False
    address = email.strip().casefold()
    domain = "@" + address.rpartition("@")[2]
    for rule in allow:
        wanted = rule.strip().casefold()
        if wanted and wanted in (address, domain):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Sign-in settings


@dataclass(frozen=True)
class SignIn:
    """Sign-in as set up in `[auth]`: the providers to offer ("default" for the one written
    directly in [auth]), or what is missing (`problem`; then no provider is offered)."""

    providers: tuple[str, ...] = ()
    problem: str | None = None
    home: str = ""  # the dashboard's address: redirect_uri without its oauth2callback


def check_sign_in(auth: Mapping[str, Any] | None) -> SignIn | None:
    """The `[auth]` section of secrets.toml, checked as Streamlit's st.login needs it; None
    when there is none (sign-in not set up)."""
    if auth is None:
        return None
    if not isinstance(auth, Mapping):
        return SignIn(problem="[auth] is not a section of settings")
    missing = [key for key in SHARED_KEYS if not auth.get(key)]
    providers = []
    if any(key in auth for key in PROVIDER_KEYS):
        providers.append(("default", auth))
    for name, section in auth.items():
        if isinstance(section, Mapping) and any(key in section for key in PROVIDER_KEYS):
            providers.append((str(name), section))
    if not providers:
        missing += list(PROVIDER_KEYS)
    for name, section in providers:
        where = "" if name == "default" else f"auth.{name}."
        missing += [where + key for key in PROVIDER_KEYS if not section.get(key)]
        if "_" in name:
            return SignIn(problem=f"[auth.{name}]: a provider's name cannot contain _")
    if missing:
        return SignIn(problem=f"[auth] lacks {', '.join(missing)}")
    redirect = str(auth["redirect_uri"])
    if not re.match(r"https?://[^/]+/(.*/)?oauth2callback$", redirect):
        return SignIn(
            problem=f"[auth] redirect_uri must be the dashboard's address followed by "
            f'/oauth2callback (like "https://monitor.example.org/oauth2callback"), '
            f'got "{redirect}"'
        )
    home = redirect.removesuffix("oauth2callback")
    return SignIn(providers=tuple(name for name, _ in providers), home=home)


def secrets_files(project: Path, home: Path | None = None) -> list[Path]:
    """The secrets.toml files Streamlit reads for a dashboard started in `project`, first to
    last (a later file's [auth] replaces an earlier one's)."""
    home = Path.home() if home is None else home
    return [home / SECRETS_FILE, project / SECRETS_FILE]


def read_sign_in(paths: Iterable[Path]) -> SignIn | None:
    """`check_sign_in` on the [auth] section of the last of these files that has one. A file
    that cannot be read or parsed is a problem (Streamlit would not start sign-in from it)."""
    auth: Any = None
    source: Path | None = None
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as exc:
            return SignIn(problem=f"{path}: cannot be read as TOML ({exc})")
        if "auth" in data:
            auth, source = data["auth"], path
    found = check_sign_in(auth)
    if found is not None and found.problem:
        return SignIn(problem=f"{source}: {found.problem}")
    return found


# --------------------------------------------------------------------------------------------
# Addresses


def is_loopback(host: str | None) -> bool:
    """Whether listening on `host` reaches this machine only (127.0.0.0/8, ::1, localhost).
    No host means every interface."""
    if not host:
        return False
    name = host.strip().strip("[]").casefold()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Before the command line starts the dashboard

SIGN_IN_HINT = 'set up sign-in: [auth] in .streamlit/secrets.toml, see "Sign-in" in the README'


@dataclass(frozen=True)
class Serving:
    """What the command line says before it starts the dashboard: an `error` (it does not
    start; `hint` says what to do), or `notes` to print before it starts."""

    error: str | None = None
    hint: str = ""
    notes: tuple[str, ...] = ()


def plan_serving(
    host: str,
    no_auth: bool,
    sign_in: SignIn | None,
    allow: Sequence[str] | None,
) -> Serving:
    """Whether the dashboard may listen on `host`: beyond this machine only with sign-in or
    with `no_auth`; a sign-in setup that lacks something stops it (the page would show only
    that). Notes for what would surprise: everyone refused, or no data for anyone."""
    if no_auth:
        if is_loopback(host):
            return Serving()
        return Serving(
            notes=(
                f"no sign-in (--no-auth): anyone who can reach {host} sees the dashboard, "
                "and every page says it is public",
            )
        )
    if sign_in is not None and sign_in.problem:
        return Serving(error=f"sign-in: {sign_in.problem}", hint=SIGN_IN_HINT)
    if sign_in is None:
        if not is_loopback(host):
            return Serving(
                error=f"--host {host} would serve the dashboard beyond this machine without "
                "sign-in",
                hint=f"{SIGN_IN_HINT}; or add --no-auth to make it public on purpose",
            )
        if allow is not None:
            return Serving(
                notes=(
                    "feeds.yaml's dashboard.allow names who may see the dashboard, but sign-in "
                    "is not set up: the page will say how to set it up and show no data "
                    "(--no-auth serves it without sign-in)",
                )
            )
        return Serving()
    if not allow:
        return Serving(
            notes=(
                "sign-in is on, but feeds.yaml's dashboard.allow is empty: everyone will be "
                "refused until it names who may see the dashboard",
            )
        )
    return Serving()


def serving_url(host: str, port: int, sign_in: SignIn | None) -> str:
    """The address to open: the one sign-in returns to (its origin must match), else the
    host and port (this machine's name when listening on every interface)."""
    if sign_in is not None and sign_in.home:
        return sign_in.home
    name = host
    if not host or host in ("0.0.0.0", "::"):
        name = socket.gethostname()
    elif ":" in host:
        name = f"[{host}]"
    return f"http://{name}:{port}/"


def add_serving_arguments(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    """--host and --no-auth, for `monitor dashboard`, `run` and `demo`."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="listen on this address: 127.0.0.1 is this machine only; another, such as "
        "0.0.0.0 for every interface, needs "
        + ("--no-auth (the demo never signs in)" if demo else "sign-in set up or --no-auth")
        + " (default: %(default)s)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve the dashboard without sign-in on purpose"
        + ("" if demo else ", even when sign-in is set up")
        + "; beyond this machine, every page then says it is public",
    )
