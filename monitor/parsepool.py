"""Parsing feed bodies in a worker process, beside the poller.

The poller's event loop counts, scores, groups and stores articles on one core; parsing
(parse.py) is a quarter of that work and needs nothing the loop holds, so a round with many
feeds to parse hands their bodies to a worker process (`FeedParser`) and the two run on two
cores. The worker also computes what needs no state of each entry (`enrich.prepare`: its
story signature and its names) and, given the poller's watchlist and tone setting
(`Analysis`), its mentions and their tone (tone is the costliest analysis): that leaves the
loop the story assignment and storing. The results are those of `parse.parse_feed` and
`enrich.prepare` in the poller's own process: the same functions on the same bytes; counts
made with another watchlist than the poller's are never used (`Enricher.articles` checks).

- One worker process (spawned, so it shares nothing with the poller's threads), started on
  first use (or ahead of it: `start`) and kept for the life of the process; `FeedParser.ready`
  says when it is up (its modules imported), and until then the poller parses in its own
  process, as it does for small rounds. The worker's watchlist is sent once, before the first
  body that needs it (again when it changes, or after a new worker starts).
- The worker ends with the poller's process, however that ends (a kill -9 included).
- Bodies go to the worker one at a time. A body the worker cannot parse becomes that feed's
  `ParseError`, as it would in-process; a worker that dies on a body (a crash in a parser's
  native code, or killed from outside) is replaced, the body is tried once more in the new
  worker, and if that dies too the feed gets a `ParseError` saying so. Since only that body
  was in the worker, no other feed is touched, and nothing is lost (the feed is fetched
  again in full at its next poll).

What it leaves to others: parsing itself (parse.py), the analyses (enrich.py), deciding which
bodies to parse and when a worker is worth starting (poll.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .enrich import Enricher, Prepared, prepare
from .errors import MonitorError, ParseError
from .models import Entity, ParsedFeed, cap_title
from .stories import Signature

__all__ = ["Analysis", "FeedParser", "ParseJob", "ParsedBody", "parse_body", "start"]


class ParsedBody(NamedTuple):
    feed: ParsedFeed
    prepared: list[Prepared]  # per entry: `enrich.prepare` of its title (capped) and text

    def __reduce__(self) -> tuple[Callable[..., ParsedBody], tuple[object, ...]]:
        """Pickled with the entries' signatures packed into a few arrays: one array per
        signature costs more to pickle and unpickle than the parse it saves (the poller's
        loop unpickles every body)."""
        return _unpack, (self.feed, *_pack(self.prepared))


def _pack(prepared: list[Prepared]) -> tuple[object, ...]:
    sigs = [p.signature for p in prepared]
    lengths = [len(s.compare) for s in sigs]
    compare = np.concatenate([s.compare for s in sigs]) if sigs else None
    bloom = np.stack([s.bloom for s in sigs]) if sigs else None
    banded = [s.bands for s in sigs if s.bands is not None]
    bands = np.stack(banded) if banded else None
    rest = [
        (s.title, s.short, s.excess, s.bands is not None, p.names, p.counts, p.tones, p.analysis)
        for s, p in zip(sigs, prepared, strict=True)
    ]
    return lengths, compare, bloom, bands, rest


def _unpack(
    feed: ParsedFeed,
    lengths: list[int],
    compare: np.ndarray | None,
    bloom: np.ndarray | None,
    bands: np.ndarray | None,
    rest: list[tuple[Any, ...]],
) -> ParsedBody:
    """`ParsedBody.__reduce__` undone: the signatures' arrays are views of the packed ones."""
    out = []
    end = band = 0
    for i, (title, short, excess, banded, names, counts, tones, analysis) in enumerate(rest):
        start, end = end, end + lengths[i]
        assert compare is not None and bloom is not None
        b = None
        if banded:
            assert bands is not None
            b, band = bands[band], band + 1
        sig = Signature(compare[start:end], b, title, short, bloom[i], excess)
        out.append(Prepared(sig, names, counts, tones, analysis))
    return ParsedBody(feed, out)


class Analysis(NamedTuple):
    """What the worker needs to count mentions and score their tone as the poller would:
    the watchlist, whether tone is on, and `Enricher.analysis` of the poller's enricher
    (how the worker knows it has them already)."""

    key: str
    watch: tuple[Entity, ...]
    tone: bool


# (body, url, content type) -> the parsed body, or the error to report for the feed. A job
# must be a module-level function (the worker imports it by name).
ParseJob = Callable[[bytes, str, str], "ParsedBody | ParseError"]

_POOL: concurrent.futures.ProcessPoolExecutor | None = None
_READY: concurrent.futures.Future[bool] | None = None  # done when the worker is up
_SENT = ""  # `Analysis.key` last sent to the worker (jobs run in order: it has it first)
_LOCK = threading.Lock()
_AT_EXIT = False  # whether `_shutdown` is registered to run at exit
# in the worker: the enricher that counts and scores the entries of the bodies it parses
_COUNTER: Enricher | None = None


def parse_body(body: bytes, url: str, content_type: str) -> ParsedBody | ParseError:
    """`parse_feed`, then `enrich.prepare` of each entry's title and text as its article will
    hold them (`poll.make_article`: the title capped, the text whole), with the counts and
    tones of the worker's watchlist when it has one. The error is returned, not raised (it
    crosses a pipe as a value; a raised one would carry the worker's traceback along)."""
    from .parse import parse_feed  # (the poller's process imports it only if it parses)

    try:
        feed = parse_feed(body, url, content_type)
        items = [(cap_title(e.title), e.text) for e in feed.entries]
        return ParsedBody(feed, prepare(items, _COUNTER))
    except ParseError as exc:
        return exc
    except Exception as exc:  # a parser bug on a hostile body: that feed's error, not a crash
        return ParseError(url, f"the feed could not be parsed ({type(exc).__name__})")


def _worker_setup(parent: int | None = None) -> None:
    """A worker ignores Ctrl-C (the poller's business) and ends when the poller's process
    (`parent`) is gone, even killed with SIGKILL, instead of waiting for work forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _worker_ready() -> bool:
    """Import what parsing needs now, not with the first body; collect garbage rarely (a
    body's parse allocates many objects that live until it is sent, as in poll.py's rounds)
    and never look at the modules' objects again."""
    import gc

    from . import parse  # noqa: F401

    gc.collect()
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], 10_000))
    return True


def _set_analysis(watch: tuple[Entity, ...], tone: bool) -> str:
    """In the worker: count and score with this watchlist from now on; its `analysis`."""
    global _COUNTER
    from .match import Matcher

    _COUNTER = Enricher(Matcher(watch), tone=tone)
    return _COUNTER.analysis


def start(analysis: Analysis | None = None) -> None:
    """Start the worker now if there is none (returns at once), and send it `analysis`."""
    try:
        pool, _ = _pool()
        _send(pool, analysis)
    except (OSError, ValueError, NotImplementedError, RuntimeError):
        pass  # no processes here: the poller parses in its own


def _send(pool: concurrent.futures.ProcessPoolExecutor, analysis: Analysis | None) -> None:
    """Queue `analysis` for the worker unless it has it (jobs run in the order queued)."""
    global _SENT
    if analysis is None:
        return
    with _LOCK:
        if _POOL is not pool or analysis.key == _SENT:
            return
        _SENT = analysis.key
    pool.submit(_set_analysis, analysis.watch, analysis.tone)


def _pool() -> tuple[concurrent.futures.ProcessPoolExecutor, concurrent.futures.Future[bool]]:
    """The worker, started (not waited for) when there is none."""
    global _POOL, _READY, _AT_EXIT
    with _LOCK:
        if _POOL is None or _READY is None:
            pool = concurrent.futures.ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )
            from .pages import without_main  # (the poller has it loaded; the worker needn't)

            with without_main():  # the worker process is started by its first job
                ready = pool.submit(_worker_ready)
            if not _AT_EXIT:  # stop the worker at exit (see `_shutdown`)
                multiprocessing.util.Finalize(None, _shutdown, exitpriority=_EXIT_PRIORITY)
                _AT_EXIT = True
            _POOL, _READY, _SENT = pool, ready, ""
        return _POOL, _READY


def _discard(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Forget a broken worker; the next job starts another."""
    global _POOL, _READY, _SENT
    with _LOCK:
        if _POOL is pool:
            _POOL = _READY = None
            _SENT = ""
    pool.shutdown(wait=False, cancel_futures=True)


# `_shutdown` runs among multiprocessing's exit finalizers, not from `atexit`: a poller that
# is itself a multiprocessing child (the benchmark's) never reaches `atexit` before the child
# machinery joins its children, the worker included, which waits for work forever. And it
# runs before the finalizers of priority 10, among them the one that stops the feeder thread
# of the executor's call queue: once that thread is gone, the executor's "stop" message to
# the worker is never sent and `shutdown` waits for the worker forever.
_EXIT_PRIORITY = 20


def _shutdown() -> None:
    global _POOL, _READY
    with _LOCK:
        pool, _POOL, _READY = _POOL, None, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


class FeedParser:
    """The worker as one poll round uses it (create it inside the round's event loop)."""

    def __init__(self, job: ParseJob | None = None, analysis: Analysis | None = None) -> None:
        self.job = job or parse_body
        self.analysis = analysis  # the watchlist to count with (None: the worker's, if any)
        self._ready: concurrent.futures.Future[bool] | None = None
        self._turn = asyncio.Lock()  # one body in the worker at a time

    def start(self) -> None:
        """Start the worker if there is none (returns at once; see `ready`)."""
        if self._ready is None:
            try:
                pool, self._ready = _pool()
            except (OSError, ValueError, NotImplementedError) as exc:  # no processes here
                self._ready = concurrent.futures.Future()
                self._ready.set_exception(exc)
                return
            with contextlib.suppress(RuntimeError):  # a broken worker: `parse` replaces it
                _send(pool, self.analysis)

    @property
    def ready(self) -> bool:
        """Whether the worker is up (until then, and if it cannot start, parse in-process)."""
        ready = self._ready
        return (
            ready is not None
            and ready.done()
            and not ready.cancelled()
            and ready.exception() is None
        )

    async def parse(self, body: bytes, url: str, content_type: str = "") -> ParsedBody:
        """`parse_body(body, url, content_type)` in the worker; raises `ParseError`. Where no
        worker can be started (any more), parses in this process."""
        loop = asyncio.get_running_loop()
        async with self._turn:
            for attempt in (1, 2):
                try:
                    pool, _ = _pool()
                except (OSError, ValueError, NotImplementedError, RuntimeError):
                    out = parse_body(body, url, content_type)
                    if isinstance(out, MonitorError):
                        raise out from None
                    return out
                try:
                    _send(pool, self.analysis)
                    out = await loop.run_in_executor(pool, self.job, body, url, content_type)
                except concurrent.futures.BrokenExecutor:
                    _discard(pool)
                    if attempt == 1:
                        continue  # killed from outside, maybe: once more, in a new worker
                    raise ParseError(
                        url, "the feed's parser stopped on its body (the worker crashed)"
                    ) from None
                except Exception as exc:  # the body or result could not cross the pipe
                    raise ParseError(
                        url, f"the feed could not be parsed ({type(exc).__name__})"
                    ) from None
                if isinstance(out, MonitorError):
                    raise out
                return out
        raise AssertionError("unreachable")
