"""Delivery through apprise: the only module that talks to mail servers, chat services and
webhooks (one apprise URL each: mailtos://, slack://, msteams://, json://, ~100 more).

- `${VAR}` in a URL is read from the environment when a message is sent (`expand_url`),
  never earlier, and the expanded URL lives only for that call: it is never stored or shown.
- `redact_url` is the only form of a URL that may be printed, stored or shown: apprise's own
  masking of passwords and tokens, without path or query.
- `send(url, message)` sends one message to one URL and returns what the service answered
  (`Answer`), with every secret scrubbed from the text.

Messages are plain text (`Message.text`); when `html` is set, email targets get the HTML
(with a plain-text alternative) and the attachments inline, so that `<img src="cid:NAME">`
shows them; other services get the text and, where they can, the attachments as files.

What it leaves to others: what to send and when (alerts.py, digest.py, delivery.py), and
which names stand for which URLs (config.py's `notify:`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import MonitorError

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SEND_TIMEOUT = 30.0  # seconds for one message to one URL


class NotifyError(MonitorError):
    """A message could not be prepared for a target (e.g. a ${VAR} that is not set)."""


@dataclass(frozen=True)
class Attachment:
    name: str  # file name; HTML refers to it as cid:NAME
    data: bytes
    mimetype: str = "image/png"


@dataclass(frozen=True)
class Message:
    title: str
    text: str  # plain text: the message for text-only services, and email's text part
    html: str = ""  # when set, email targets get this HTML (and `text` elsewhere)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Answer:
    target: str  # redacted URL
    ok: bool
    detail: str  # what the service answered, secrets scrubbed ("" when all went well)


# --------------------------------------------------------------------------------------------
# URLs: secrets in, redacted out


def variables(url: str) -> list[str]:
    """Names of the environment variables a URL uses."""
    return VAR.findall(url)


def expand_url(url: str) -> tuple[str, list[str]]:
    """The URL with each `${VAR}` replaced from the environment, and the secret values used.

    A value inside the user:password part is percent-encoded, so a password with `@` or `/`
    keeps the URL whole. Raises NotifyError naming a variable that is not set.
    """
    secrets: list[str] = []
    missing = [name for name in variables(url) if name not in os.environ]
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise NotifyError(f"environment variable {names} is not set (used in a notify URL)")
    userinfo_end = _userinfo_end(url)

    def fill(match: re.Match[str]) -> str:
        value = os.environ[match.group(1)]
        secrets.append(value)
        return quote(value, safe="") if match.start() < userinfo_end else value

    return VAR.sub(fill, url), secrets


def _userinfo_end(url: str) -> int:
    """Index of the `@` that ends the user:password part of a URL (-1 when there is none)."""
    start = url.find("://")
    if start < 0:
        return -1
    authority_end = len(url)
    for sep in "/?#":
        i = url.find(sep, start + 3)
        if i >= 0:
            authority_end = min(authority_end, i)
    return url.rfind("@", start + 3, authority_end)


def redact_url(url: str) -> str:
    """A URL as it may be shown: scheme and host with apprise's masking, no path or query.

    `${VAR}`s are shown by name; never expanded.
    """
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    plugin = _instantiate(VAR.sub(lambda m: m.group(1), text))
    if plugin is not None:
        try:
            shown = str(plugin.url(privacy=True))
        except Exception:  # a plugin that cannot print itself: fall back to the scheme
            shown = ""
        if shown:
            parts = urlsplit(shown)
            return f"{parts.scheme}://{parts.netloc}" + ("/…" if parts.path.strip("/") else "")
    return f"{scheme}://…" if scheme else "…"


@functools.lru_cache(maxsize=1)
def _schemes() -> frozenset[str]:
    import apprise

    return frozenset(s.lower() for s in apprise.NotificationManager().schemas())


def known_scheme(scheme: str) -> bool:
    """Whether apprise has a service for `scheme` (mailtos, slack, json, ...)."""
    return scheme.lower() in _schemes()


def url_is_known(url: str) -> bool:
    """Whether apprise can use the URL; `${VAR}`s stand for any value."""
    with_names = VAR.sub(lambda m: m.group(1), url.strip())
    with_digits = VAR.sub("1", url.strip())  # a variable may hold a port
    return _instantiate(with_names) is not None or _instantiate(with_digits) is not None


@functools.lru_cache(maxsize=512)
def _instantiate(url: str) -> Any:
    import apprise

    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:
        return None


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret (long enough to be one) replaced by ***."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def _url_secrets(url: str, label: str) -> list[str]:
    """Parts of an expanded URL that may be secret: user and password, long path segments,
    and the host when apprise masks it (services such as slack:// keep tokens there)."""
    try:
        parts = urlsplit(url)
        found = [parts.password or "", parts.username or ""]
        host = parts.hostname or ""
    except ValueError:
        return []
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    if host and host not in label.lower():
        found.append(host)
    return [s for s in found if s]


# --------------------------------------------------------------------------------------------
# Sending


def send(url: str, message: Message, timeout: float = SEND_TIMEOUT) -> Answer:
    """Send `message` to one apprise URL; never raises for the service's own failure."""
    import apprise

    label = redact_url(url)
    try:
        expanded, secrets = expand_url(url)
    except NotifyError as exc:
        return Answer(label, False, str(exc))
    secrets += _url_secrets(expanded, label)
    plugin = _fresh(expanded)
    if plugin is None:
        return Answer(label, False, "apprise cannot use this URL")
    html = bool(message.html) and _is_email(plugin)
    if html:
        plugin.inline = True  # images referenced as cid:NAME show in place
    attach = _attachments(message) if message.attachments else None
    body = message.html if html else message.text
    body_format = apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT
    notifier = apprise.Apprise()
    notifier.add(plugin)
    try:
        result = notifier.notify(
            body=body,
            title=message.title,
            body_format=body_format,
            attach=attach,
            timeout=timeout,
            log_level=logging.WARNING,
        )
    except Exception as exc:  # apprise reports per service; anything else is ours to say
        return Answer(label, False, scrub(f"could not send: {exc}", secrets))
    if result:
        return Answer(label, True, "")
    return Answer(label, False, scrub(_explain(result), secrets))


def _fresh(url: str) -> Any:
    """A new plugin object for an expanded URL (never cached: it holds the secret)."""
    import apprise

    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:
        return None


def _is_email(plugin: Any) -> bool:
    from apprise.plugins.email.base import NotifyEmail

    return isinstance(plugin, NotifyEmail)


def _attachments(message: Message) -> Any:
    import apprise
    from apprise.attachment.memory import AttachMemory

    attach = apprise.AppriseAttachment()
    for a in message.attachments:
        attach.add(AttachMemory(content=a.data, name=a.name, mimetype=a.mimetype))
    return attach


def _explain(result: Any) -> str:
    """The service's own words from an apprise result, newest last, on one line."""
    lines: list[str] = []
    for entry in result.logs():
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            text = " ".join(str(entry.message).split())
            if text and text not in lines:
                lines.append(text)
    status = getattr(getattr(result, "status", None), "name", "")
    if not lines:
        return "timed out" if status == "TIMEOUT" else "the service refused the message"
    return "; ".join(lines[-3:])
