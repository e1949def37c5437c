"""Secrets in feed URLs: hidden in everything shown or stored, filled in only for the fetcher.

A feed URL may carry credentials: a user name and password (`https://user:pass@host/feed`),
a key in its query (`?token=...`, `?api_key=...`, `?sig=...`), or `${VAR}` references to
environment variables that hold them (`https://host/feed?token=${FEED_TOKEN}`), so that
feeds.yaml can be committed without them. Only the fetcher needs the real URL; the store's
feed keys, `status`, the dashboard, logs and error messages use `redact_url(url)`:

    https://user:pass@host/feed?token=abc&page=2  ->  https://***@host/feed?token=***&page=2

The whole user-info part is hidden, user name included: many services take the key itself as
the user name (`https://TOKEN@host/feed`). Query (and fragment) parameters whose name looks
like a key are hidden: `token`, `key`, `apikey`, `api_key`, `access_token`, `sig`,
`signature`, `secret`, `password`, ... and any name ending in `token`, `key`, `secret`,
`password` or `signature` (case, `-` and `_` ignored). A secret elsewhere (a path segment)
cannot be recognized: put it in an environment variable, and the URL keeps `${VAR}` as
written. A URL without secrets comes back unchanged, character for character, so a store
keyed by plain URLs keeps its keys.

`redact_text` does the same to every URL inside a message (a libcurl error, a redirect's
Location) and also hides given secret values wherever they appear (a server echoing a key in
its reason phrase).

Pure: the environment is passed in as a mapping. Left to others: where URLs are checked
(config.py), fetched (fetch.py) and stored (poll.py, monitor/store/).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, unquote_plus

REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter values are not hunted for in free text (they would mangle it)

# Parameter names (lower case, without "-", "_" and ".") that carry a secret, whole or as a suffix
_SECRET_NAMES = frozenset(
    {
        "auth",
        "credential",
        "credentials",
        "jwt",
        "key",
        "pass",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "secret",
        "session",
        "sessionid",
        "sig",
        "signature",
        "token",
    }
)
_SECRET_SUFFIXES = ("token", "key", "secret", "password", "passwd", "signature", "credential")

# Every secret name contains one of these (a quick test before parsing the query)
_MAYBE_SECRET = re.compile(r"auth|credential|jwt|key|pass|pwd|secret|session|sig|token")
_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>()\\]+")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter with this name carries a secret (see the module docstring)."""
    bare = unquote_plus(name).lower().replace("-", "").replace("_", "").replace(".", "")
    return bare in _SECRET_NAMES or bare.endswith(_SECRET_SUFFIXES)


def redact_url(url: str) -> str:
    """The URL with its user info and key-like parameters replaced by `***`; else unchanged."""
    if "@" not in url and not _MAYBE_SECRET.search(url.lower()):  # (re.I is 8x slower)
        return url  # the common case, checked fast (feeds.yaml may list 60,000 feeds)
    start, end, at = _authority(url)
    if at >= 0:
        url = url[:start] + REDACTED + url[at:]
        end -= at - start - len(REDACTED)
    head, rest = url[:end], url[end:]
    before_hash, hash_, fragment = rest.partition("#")
    path, mark, query = before_hash.partition("?")
    if "=" in fragment:
        fragment = _redact_params(fragment)
    return head + path + mark + _redact_params(query) + hash_ + fragment


def redact_broken_url(url: str) -> str:
    """For a URL that does not parse: also hide everything between `//` and the last `@`
    before the query (a password with an unencoded `/` in it fools `redact_url`)."""
    url = redact_url(url)
    match = _AUTHORITY.match(url)
    if match is None:
        return url
    end = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    at = url.rfind("@", match.end(), end)
    return url[: match.end()] + REDACTED + url[at:] if at > match.end() else url


def without_userinfo(url: str) -> str:
    """The URL with its user info (`user:pass@`) removed, e.g. to resolve links against."""
    start, _, at = _authority(url)
    return url[:start] + url[at + 1 :] if at >= 0 else url


def url_secrets(url: str) -> list[str]:
    """The secret values in a URL: user, password, key-like parameter values (raw and decoded),
    and the basic-auth token made of the user info (a server may echo its Authorization)."""
    found: list[str] = []
    start, _, at = _authority(url)
    if at >= 0:
        found += url[start:at].split(":", 1)
        user, _, password = url[start:at].partition(":")
        pair = f"{unquote(user)}:{unquote(password)}".encode("latin-1", "replace")
        found.append(base64.b64encode(pair).decode("ascii"))
    before_hash, _, fragment = url.partition("#")
    query = before_hash.partition("?")[2]
    for part in (query + "&" + fragment).split("&"):
        name, eq, value = part.partition("=")
        if eq and is_secret_name(name):
            found.append(value)
    decoded = [unquote(v) for v in found] + [unquote_plus(v) for v in found]
    return [v for v in dict.fromkeys(found + decoded) if v and v != REDACTED]


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """A message with every URL in it redacted and each given secret value replaced by `***`."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    for value in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


# -- environment references ------------------------------------------------------------------


def env_names(url: str) -> list[str]:
    """The names of the `${VAR}` references in a URL, in order, each once."""
    if "${" not in url:
        return []
    return list(dict.fromkeys(_ENV_REF.findall(url)))


def malformed_env_reference(url: str) -> str | None:
    """The first `${` that does not start a `${NAME}` reference (NAME: letters, digits, _)."""
    if "${" not in url:
        return None
    for match in re.finditer(r"\$\{", url):
        if not _ENV_REF.match(url, match.start()):
            tail = url[match.start() :]
            return tail[: tail.find("}") + 1] if "}" in tail else tail
    return None


def missing_env(url: str, environ: Mapping[str, str]) -> list[str]:
    """The names referenced by the URL that the environment does not set (or sets empty)."""
    return [name for name in env_names(url) if not environ.get(name)]


def expand_env(url: str, environ: Mapping[str, str]) -> str:
    """The URL with each `${VAR}` replaced by its value, as it is (percent-encode it yourself).

    Raises KeyError naming the first variable the environment does not set.
    """
    if "${" not in url:
        return url
    missing = missing_env(url, environ)
    if missing:
        raise KeyError(missing[0])
    return _ENV_REF.sub(lambda m: environ[m.group(1)], url)


def env_values(url: str, environ: Mapping[str, str]) -> list[str]:
    """The values the URL's `${VAR}` references take (to hide them in messages)."""
    return [environ[name] for name in env_names(url) if environ.get(name)]


# -- helpers ---------------------------------------------------------------------------------


def _authority(url: str) -> tuple[int, int, int]:
    """(start, end, position of the last "@" or -1) of the URL's authority (after `//`)."""
    match = _AUTHORITY.match(url)
    if match is None:
        return 0, 0, -1
    start = match.end()
    end = next((i for i in range(start, len(url)) if url[i] in "/?#"), len(url))
    return start, end, url.rfind("@", start, end)


def _redact_params(query: str) -> str:
    if not query:
        return query
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and value != REDACTED and is_secret_name(name):
            parts[i] = name + "=" + REDACTED
    return "&".join(parts)
