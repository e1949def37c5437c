"""Serve demo-world feeds on 127.0.0.1 for the ingest benchmarks, from a process of its own.

    python -m bench.feedserver --outlets 200 --limit 50 [--rounds R] [--seed S]

Generates a demo world (every feed healthy), picks `--outlets` feeds, renders each one's newest
`--limit` items up front (so the server costs next to nothing while a client is timed) and
serves them with ETag and Last-Modified, answering 304 to a matching conditional GET, gzip when
asked. It prints one JSON line (`base_url`, `paths`, what a world holds) and serves until
killed. Both clients under comparison get this same server.

Rounds, for the sustained-ingest benchmark: round r shows each feed as it was at
`start + r * step`, so every round carries newer items; `GET /_bench/round/<r>` switches
rounds (the switch is instant: every round is rendered up front).
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import json
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.world import NOW
from monitor.demo.world import CONTENT_TYPES, World


class Page:
    __slots__ = ("body", "ctype", "etag", "gz", "modified")

    def __init__(self, body: bytes, ctype: str, modified: str):
        self.body = body
        self.gz = gzip.compress(body, 6)
        self.ctype = ctype
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.modified = modified


class State:
    def __init__(self, rounds: list[dict[str, Page]]):
        self.rounds = rounds
        self.current = 0
        self.requests = 0
        self.not_modified = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        state = self.server.state
        if self.path.startswith("/_bench/round/"):
            state.current = int(self.path.rsplit("/", 1)[1])
            self._send(200, b"ok", "text/plain")
            return
        if self.path == "/_bench/stats":
            data = json.dumps({"requests": state.requests, "304": state.not_modified}).encode()
            self._send(200, data, "application/json")
            return
        page = state.rounds[state.current].get(self.path)
        with state.lock:
            state.requests += 1
        if page is None:
            self._send(404, b"not found", "text/plain")
            return
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm and page.etag in inm) or (not inm and ims and ims == page.modified):
            with state.lock:
                state.not_modified += 1
            self.send_response(304)
            self.send_header("ETag", page.etag)
            self.send_header("Last-Modified", page.modified)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        use_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        body = page.gz if use_gzip else page.body
        self.send_response(200)
        self.send_header("Content-Type", page.ctype)
        self.send_header("ETag", page.etag)
        self.send_header("Last-Modified", page.modified)
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: State


def ingest_world(outlets: int, days: int, per_day: int, seed: int) -> World:
    return World.generate(
        seed=seed,
        days=days,
        outlets=outlets,
        articles_per_day=per_day,
        now=NOW,
        live_minutes=0,
        unhealthy=False,
    )


def pick_paths(world: World, n: int, limit: int) -> list[str]:
    """`n` feed paths, preferring feeds with at least `limit` items."""
    paths = world.feed_paths()
    full = [p for p in paths if world.visible_count(p, world.now) >= limit]
    rest = [p for p in paths if p not in set(full)]
    return (full + rest)[:n]


def render_rounds(
    world: World, paths: list[str], limit: int, rounds: int, step: timedelta
) -> list[dict[str, Page]]:
    out = []
    for r in range(rounds):
        at = world.now - step * (rounds - 1 - r)
        pages = {}
        for p in paths:
            lm = world.last_modified(p, at) or at
            pages[p] = Page(
                world.render_feed(p, at, limit=limit),
                CONTENT_TYPES[world.outlet_of(p).fmt],
                email.utils.format_datetime(lm, usegmt=True),
            )
        out.append(pages)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=200)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--step-hours", type=float, default=24.0)
    args = parser.parse_args()
    world = ingest_world(args.outlets, args.days, args.per_day, args.seed)
    paths = pick_paths(world, args.outlets, args.limit)
    rounds = render_rounds(world, paths, args.limit, args.rounds, timedelta(hours=args.step_hours))
    server = _Server(("127.0.0.1", 0), Handler)
    server.state = State(rounds)
    host, port = server.server_address[:2]
    print(
        json.dumps(
            {
                "base_url": f"http://{host}:{port}",
                "paths": paths,
                "full_feeds": sum(
                    1 for p in paths if world.visible_count(p, world.now) >= args.limit
                ),
                "world_articles": len(world.articles),
                "bytes_per_round": sum(len(pg.body) for pg in rounds[0].values()),
                "gzip_bytes_per_round": sum(len(pg.gz) for pg in rounds[0].values()),
            }
        ),
        flush=True,
    )
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
