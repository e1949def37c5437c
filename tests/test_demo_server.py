"""The demo's feed server as a client sees it: quiet when a client hangs up, bounded feeds.

(Validators, gzip and the misbehaving feeds are in test_demo_world.py.)
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from monitor.demo.server import serve_world
from monitor.demo.world import World

NOW = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def big() -> World:
    """Three outlets, so each feed carries thousands of items (a few MB)."""
    return World.generate(now=NOW, days=5, outlets=3, articles_per_day=1200, live_minutes=0)


def biggest_path(world: World) -> str:
    return max(world.feed_paths(), key=lambda p: world.visible_count(p, NOW))


def hang_up(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that gives up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def request(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def test_clients_hanging_up_are_not_logged(big: World, capfd) -> None:
    path = biggest_path(big)
    assert len(big.render_feed(path, NOW)) > 2_000_000  # far more than socket buffers hold
    with serve_world(big, clock=lambda: NOW) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        handlers_before = threading.active_count()
        # 1. mid-response: a small receive window keeps the server writing when the reset comes
        for _ in range(3):
            sock = request(port, path, rcvbuf=4096)
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            hang_up(sock)
        # 2. between requests: a whole response read, then a reset on the kept-alive connection
        sock = request(port, "/")
        time.sleep(0.2)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        hang_up(sock)
        # the handlers have met the resets once no extra thread is left
        deadline = time.monotonic() + 10
        while threading.active_count() > handlers_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= handlers_before
        # and the server still answers
        assert httpx.get(server.url(path), timeout=10).status_code == 200
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
