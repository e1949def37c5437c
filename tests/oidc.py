"""An OpenID Connect provider for tests (PyPI's oidc-provider-mock) on 127.0.0.1, and the
secrets.toml that points a dashboard at it.

The provider's sign-in page is a form: type a subject (the mock makes its email claim the same
text) or click one of the users given with their claims, and it sends the browser back to the
dashboard's /oauth2callback.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from tests.browser import free_port


@contextlib.contextmanager
def oidc_provider(
    users: Sequence[dict[str, Any]] = (), log: IO[bytes] | None = None, timeout: float = 60
) -> Iterator[str]:
    """`oidc-provider-mock` on a free port of 127.0.0.1 with these users (each a dict of claims
    with "sub") until the block exits; yields its base URL once it serves its metadata."""
    port = free_port()
    cmd = [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "-p", str(port)]
    cmd += ["-H", "127.0.0.1"]
    for user in users:
        cmd += ["--user-claims", json.dumps(user)]
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _serving(url):
            if proc.poll() is not None:
                raise RuntimeError(f"oidc-provider-mock exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider-mock did not answer in {timeout:g} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def metadata_url(provider: str) -> str:
    return f"{provider}/.well-known/openid-configuration"


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(metadata_url(url), timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def write_secrets(path: Path, dashboard: str, provider: str) -> Path:
    """A secrets.toml whose [auth] signs in to the dashboard at `dashboard` (its base URL)
    through `provider`."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{dashboard}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-of-thirty-two-chars"\n'
        'client_id = "media-monitor"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "{metadata_url(provider)}"\n'
    )
    return path
