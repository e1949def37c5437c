"""The offline demo: a synthetic news world, its server, and the `monitor demo` command.

- `monitor.demo.world`: the world generator and its exact ground truth; pure.
- `monitor.demo.server`: serves a world's feeds over HTTP on 127.0.0.1.
- `monitor.demo.command`: `monitor demo` (world + server + the real poller + the dashboard).

The demo is a user of the product, not part of it: nothing outside this package imports it
except the command line (`run_demo`), the tests and the benchmarks. This module stays light
(the command imports the poller and the store only when it runs).
"""

from __future__ import annotations

import argparse


def run_demo(args: argparse.Namespace) -> int:
    """Run `monitor demo` with parsed arguments; see `monitor.demo.command`."""
    from .command import run_demo

    return run_demo(args)
