"""What the command line writes to the terminal, and the one place where it is made safe.

Text from feeds and from feeds.yaml (names, titles, URLs, errors, reason phrases, Location
headers) is untrusted. Everything here writes it **literally**: lines go out as plain text,
never through rich's markup (`[bold]`, `[/x]`, `[link=...]` are shown as typed, can neither
crash the output nor make a terminal hyperlink), and `clean` turns control characters (ANSI
escape sequences, carriage returns, bidirectional overrides) into visible escapes such as
`\\x1b`, so no feed can move the cursor, recolour or rewrite what the terminal shows.

- `out` / `err`: standard output and error. `.print(text)` writes one cleaned line.
- `print_table(columns, rows)`: on a terminal a rich table that fits the terminal's width
  (cells wrap, nothing is cut); elsewhere (a pipe, a file) plain aligned columns with full
  values and no wrapping. Cells longer than `CELL_MAX_CHARS` are cut for display only.
- `print_json`, `write_text`: data for programs, written as it is (JSON escapes control
  characters; CSV goes out unchanged unless standard output is a terminal).
- `progress_bar`, `summary_line`, `print_summary`: progress and poll summaries.

rich is imported only when a terminal table or a progress bar is drawn, so commands that
print lines start fast. Reading feeds, counting and the store are other modules' business.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .errors import OutputError
from .models import TITLE_MAX_CHARS

if TYPE_CHECKING:
    from .poll import PollSummary

# Table cells longer than this are cut (with "…") for display; --format csv / json give the
# full value. Stored titles are capped at the same length, so they show whole.
CELL_MAX_CHARS = TITLE_MAX_CHARS

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional embeddings,
# overrides and isolates that can reorder what a terminal shows ("Trojan source"). Each becomes
# a visible escape. (The marks LRM/RLM that right-to-left text uses are left alone.)
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# In a table cell, tab, newline and the Unicode line separators are unsafe too.
_UNSAFE_CELL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What JSON leaves raw (ensure_ascii=False) but a terminal may act on.
_UNSAFE_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    """`text` as a string safe to show on a terminal: control characters made visible."""
    return _UNSAFE.sub(_escape, str(text))


def clean_cell(value: object) -> str:
    """One table cell: one line, control characters visible, at most CELL_MAX_CHARS long."""
    text = _UNSAFE_CELL.sub(_escape, str(value))
    return text if len(text) <= CELL_MAX_CHARS else text[: CELL_MAX_CHARS - 1] + "…"


class Output:
    """Standard output or standard error, looked up at each write (so tests can capture)."""

    def __init__(self, name: str):
        self.name = name

    @property
    def file(self) -> TextIO:
        file = getattr(sys, self.name)
        if file is None:  # the process started with it closed (`monitor status >&-`)
            which = "output" if self.name == "stdout" else "error"
            raise OutputError(f"cannot write the output: standard {which} is closed")
        return file  # type: ignore[no-any-return]

    @property
    def is_terminal(self) -> bool:
        try:
            return bool(self.file.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def print(self, text: object = "") -> None:
        """Write `text` and a newline, literally (see `clean`)."""
        self.write(clean(text) + "\n")

    def write(self, text: str) -> None:
        """Write `text` as it is (data for programs: CSV, JSON).

        A closed pipe raises BrokenPipeError (the command line ends quietly); any other
        failure to write, OutputError.
        """
        try:
            self.file.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None

    def rich(self, **options: Any) -> Any:
        """A rich Console on this stream that interprets nothing (no markup, emoji, links)."""
        from rich.console import Console

        return Console(
            file=self.file,
            markup=False,
            emoji=False,
            highlight=False,
            soft_wrap=False,
            **options,
        )


out = Output("stdout")
err = Output("stderr")


# --------------------------------------------------------------------------------------------
# Tables and data


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str = "",
    right: Sequence[str] = (),
) -> None:
    """Rows under a header. `right`: the columns to align right (numbers)."""
    cells = [[clean_cell(v) for v in row] for row in rows]
    if out.is_terminal:
        _rich_table(columns, cells, title, set(right))
    else:
        _plain_table(columns, cells, title, set(right))


def _plain_table(columns: Sequence[str], cells: list[list[str]], title: str, right: set) -> None:
    from rich.cells import cell_len  # display width: wide (CJK) characters count twice

    header = [clean_cell(c) for c in columns]
    widths = [cell_len(h) for h in header]
    lens = [[cell_len(v) if not v.isascii() else len(v) for v in row] for row in cells]
    for row in lens:
        widths = [max(w, n) for w, n in zip(widths, row, strict=True)]

    def line(values: Sequence[str], sizes: Sequence[int]) -> str:
        parts = []
        for col, value, size, width in zip(columns, values, sizes, widths, strict=True):
            pad = " " * (width - size)
            parts.append(pad + value if col in right else value + pad)
        return "  ".join(parts).rstrip()

    lines = [clean(title)] if title else []
    lines.append(line(header, [cell_len(h) for h in header]))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(row, sizes) for row, sizes in zip(cells, lens, strict=True)]
    out.write("\n".join(lines) + "\n")


def _rich_table(columns: Sequence[str], cells: list[list[str]], title: str, right: set) -> None:
    from rich.table import Table
    from rich.text import Text

    console = out.rich()
    widest = [max([len(col)] + [len(row[i]) for row in cells]) for i, col in enumerate(columns)]
    # Short values (times, counts, statuses) stay on one line when the terminal leaves room
    # for the long ones (names, titles, URLs, errors) to get 12 columns each; long values fold
    # onto more lines instead of being cut with "...".
    short = [w <= 20 for w in widest]
    needed = sum(w if s else 12 for w, s in zip(widest, short, strict=True)) + 3 * len(columns) + 1
    keep_short = console.width >= needed
    table = Table(title=Text(clean(title)) if title else None)
    for col, is_short in zip(columns, short, strict=True):
        table.add_column(
            Text(col),
            justify="right" if col in right else "left",
            overflow="fold",
            no_wrap=is_short and keep_short,
        )
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    console.print(table)


def print_json(data: Any) -> None:
    """`data` as indented JSON (UTF-8 kept; control characters escaped, as JSON does)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    out.write(_UNSAFE_JSON.sub(_escape_json, text) + "\n")


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def write_data(text: str) -> None:
    """Data such as CSV: unchanged for a pipe or a file, made safe on a terminal."""
    out.write(clean(text) if out.is_terminal else text)


# --------------------------------------------------------------------------------------------
# Progress and poll summaries


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback that draws a bar on a terminal and stays silent elsewhere."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    from rich import progress

    with progress.Progress(
        progress.TextColumn(label, markup=False),
        progress.BarColumn(),
        progress.MofNCompleteColumn(),
        progress.TimeElapsedColumn(),
        console=err.rich(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def summary_line(s: PollSummary) -> str:
    return (
        f"{s.feeds} feeds: {s.ok} ok, {s.unchanged} unchanged, {s.failed} failed"
        + (f", {s.gone} gone" if s.gone else "")
        + f"; {s.new_articles:,} new articles, {s.new_mentions:,} new mentions ({s.seconds:.1f} s)"
    )


# When every feed failed the same way, one line says so, with a hint for what it suggests.
# (pattern at the start of the error, what it is, hint)
_FAILURE_KINDS = [
    (re.compile(r"could not resolve host"), "could not resolve the host names", "no network?"),
    (re.compile(r"timed out connecting"), "timed out connecting", "no network, or a firewall?"),
    (re.compile(r"could not connect to"), "could not connect", "no network?"),
    (re.compile(r"connection refused"), "connection refused", "no network, or a proxy refusing?"),
    (re.compile(r"network error"), "network errors", "no network?"),
    (re.compile(r"TLS certificate not accepted"), "TLS certificates not accepted", ""),
]


def common_failure(s: PollSummary) -> str | None:
    """A one-line explanation when every one of several polled feeds failed the same way."""
    if s.failed < 2 or s.failed != s.feeds or len(s.errors) != s.failed:
        return None
    errors = [error for _, error in s.errors]
    kinds = [(w, h) for pattern, w, h in _FAILURE_KINDS if all(pattern.match(e) for e in errors)]
    if kinds:
        what, hint = kinds[0]
    elif len(set(errors)) == 1:
        what, hint = errors[0], ""
    else:
        return None
    example = f"{s.errors[0][0]}: {s.errors[0][1]}"
    tail = f"; {hint}" if hint else ""
    return f"  every feed failed: {what} (e.g. {example}){tail}"


def failure_lines(s: PollSummary) -> list[str]:
    """The lines that explain a poll's failures and moves."""
    common = common_failure(s)
    lines = [common] if common else [f"  failed: {name}: {error}" for name, error in s.errors]
    for name, url in s.moved:
        lines.append(f"  moved: {name} now lives at {url} (update its url in feeds.yaml)")
    return lines


# what reading an article's page gave (pages.py), as the summaries say it
_PAGE_OUTCOMES = {
    "ok": "read in full",
    "robots": "refused by robots.txt",
    "short": "too short (paywall or consent page?)",
    "failed": "failed",
}


def pages_line(s: PollSummary) -> str | None:
    """One line on the article pages read since the last summary, if any were."""
    parts = [f"{s.pages[k]:,} {what}" for k, what in _PAGE_OUTCOMES.items() if s.pages.get(k)]
    return "  article pages: " + ", ".join(parts) if parts else None


def print_summary(s: PollSummary) -> None:
    out.print(summary_line(s))
    pages = pages_line(s)
    if pages:
        out.print(pages)
    for line in failure_lines(s):
        out.print(line)
