"""Who may see the dashboard: feeds.yaml's `dashboard.allow`, the sign-in settings (`[auth]` in
Streamlit's secrets.toml), and which addresses reach this machine only. Pure: no Streamlit.

- `allow_rule_problem(rule)`: what is wrong with one entry of `allow` (config.py reports it
  with its line); `is_allowed(email, allow)`: an address against the list (exact addresses or
  whole domains written `@example.org`, case-insensitive).
- `check_sign_in(auth)`: an `[auth]` section -> the providers to offer, or what it lacks.
- `read_sign_in(paths)`: the same, read from the secrets.toml files Streamlit would read (the
  command line asks before it starts the dashboard on an address other than this machine's).
- `is_loopback(host)`: whether an address to listen on reaches this machine only.

Signing in itself is Streamlit's (`st.login`, OpenID Connect, in monitor_app/access.py): this
module never sees a password or a token.
"""

from __future__ import annotations

import ipaddress
import re
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


# --------------------------------------------------------------------------------------------
# The allow list


def allow_rule_problem(rule: str) -> str | None:
    """Why `rule` is neither an email address nor a whole domain written `@example.org`
    (None when it is one)."""
    text = rule.strip()
    if not text:
        return "expected an email address or a domain like @example.org, got an empty text"
    local, at, domain = text.rpartition("@")
    if not at:
        if _DOMAIN.fullmatch(text):
            return f'a whole domain starts with @: write "@{text}"'
        return f'expected an email address or a domain like @example.org, got "{text}"'
    if local and not _LOCAL.fullmatch(local):
        return f'"{text}" is not an email address (one @, no spaces)'
    if not _DOMAIN.fullmatch(domain):
        return f'"{domain}" in "{text}" is not a domain like example.org'
    return None


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


def check_sign_in(auth: Mapping[str, Any] | None) -> SignIn | None:
    """The `[auth]` section of secrets.toml, checked as Streamlit's st.login needs it; None
    when there is none (sign-in not set up)."""
    if auth is None:
        return None
    if not isinstance(auth, Mapping):
        return SignIn(problem="[auth] in secrets.toml is not a section of settings")
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
        return SignIn(problem=f"[auth] in secrets.toml lacks {', '.join(missing)}")
    redirect = str(auth["redirect_uri"])
    if not re.match(r"https?://[^/]+/(.*/)?oauth2callback$", redirect):
        return SignIn(
            problem=f"[auth] redirect_uri must be the dashboard's address followed by "
            f'/oauth2callback (like "https://monitor.example.org/oauth2callback"), '
            f'got "{redirect}"'
        )
    return SignIn(providers=tuple(name for name, _ in providers))


def secrets_files(project: Path, home: Path | None = None) -> list[Path]:
    """The secrets.toml files Streamlit reads for a dashboard started in `project`, first to
    last (a later file's [auth] replaces an earlier one's)."""
    home = Path.home() if home is None else home
    return [home / SECRETS_FILE, project / SECRETS_FILE]


def read_sign_in(paths: Iterable[Path]) -> SignIn | None:
    """`check_sign_in` on the [auth] section of the last of these files that has one. A file
    that cannot be read or parsed is a problem (Streamlit would not start sign-in from it)."""
    auth: Any = None
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as exc:
            return SignIn(problem=f"{path}: cannot be read as TOML ({exc})")
        if "auth" in data:
            auth = data["auth"]
    return check_sign_in(auth)


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
