"""Parse jobs for the tests of monitor/parsepool.py: module-level functions, which the worker
process imports by name."""

from __future__ import annotations

import os

from monitor.errors import ParseError
from monitor.parsepool import ParsedBody, parse_body

CRASH = b"<!-- crash the parser -->"


def parse_or_crash(body: bytes, url: str, content_type: str) -> ParsedBody | ParseError:
    """`parse_body`, except that a body holding `CRASH` ends the worker process at once, as a
    crash in a parser's native code would (no exception, no answer)."""
    if CRASH in body:
        os._exit(70)
    return parse_body(body, url, content_type)


def worker_pid(body: bytes, url: str, content_type: str) -> int:
    """The worker's process id (not a parse: to tell that jobs ran in another process)."""
    return os.getpid()


def parse_then_return(body: bytes) -> None:
    """A process's whole work: start the parse worker, parse `body` in it, return (as a
    benchmark's poller, run as a multiprocessing child, does)."""
    import asyncio

    from monitor.parsepool import FeedParser

    async def parse() -> None:
        parser = FeedParser()
        parser.start()
        while not parser.ready:
            await asyncio.sleep(0.02)
        assert parser.job is parse_body
        await parser.parse(body, "http://a.example/feed")

    asyncio.run(parse())
