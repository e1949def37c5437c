"""The project's exception types. Imports nothing of ours.

Errors raised by the libraries we call (pycurl, feedparser, duckdb, ruamel.yaml, ...) are
caught at the one place where each is called and re-raised as one of these, with a message
that names the thing at fault (a file and line, a feed URL) and, where it helps, a hint.
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in feeds.yaml, located by file and line."""

    file: str
    line: int | None
    where: str
    what: str
    hint: str = ""

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{loc}: {self.where}: {self.what}" if self.where else f"{loc}: {self.what}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(MonitorError):
    """feeds.yaml could not be used; carries every issue found, not only the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class OpmlError(ConfigError):
    """An OPML file to import could not be used (missing, unreadable, no feeds in it).

    A ConfigError for its file-and-line issues, but the fault is the OPML file's, not
    feeds.yaml's: the command line says so and exits with status 2, not 1.
    """


class OutputError(MonitorError):
    """Standard output cannot be written (closed at start, a full disk, an I/O error)."""


class FetchError(MonitorError):
    """A feed could not be fetched (network, HTTP status, size cap, bad redirect)."""

    def __init__(self, url: str, message: str):
        self.url = url
        self.message = message
        super().__init__(f"{message} ({url})")


class ParseError(MonitorError):
    """A fetched body is not a feed we can read."""

    def __init__(self, url: str, message: str):
        self.url = url
        self.message = message
        super().__init__(f"{message} ({url})")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:
        return type(self), (self.url, self.message)  # to cross from a worker process


class StoreError(MonitorError):
    """The store folder cannot be opened, read or written."""


class StoreBusyError(StoreError):
    """Another process holds the store's writer lock."""


class DamagedFileError(StoreError):
    """One data file of the store is missing, unreadable or of the wrong schema."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(
            f"the store file {path} is damaged ({reason}); "
            "run `monitor check`, then `monitor repair`"
        )
