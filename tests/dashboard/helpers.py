"""Helpers for the dashboard's AppTest tests: run a link, read charts, notices and cards."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from monitor import cli
from monitor.config import load_config
from monitor.store import Snapshot, open_store

ROOT = Path(__file__).resolve().parent.parent.parent
APP = str(ROOT / "dashboard.py")
VIEWS = (
    "overview", "timeline", "compare", "co-mentions", "sources", "articles", "discover",
    "alerts", "feeds",
)  # fmt: skip
NOW = datetime.now(UTC)


def run_app(**params: str | list[str]) -> AppTest:
    """The dashboard opened from a link with these query parameters (MONITOR_CONFIG set)."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def cli_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli.main(["-c", str(config), *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def days_ago(n: int) -> str:
    return (NOW - timedelta(days=n)).date().isoformat()


def traces(at: AppTest, index: int = 0) -> list[dict[str, Any]]:
    return figure(at, index)["data"]


def figure(at: AppTest, index: int = 0) -> dict[str, Any]:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def array(value: Any) -> np.ndarray:
    """A trace's array: plotly writes numpy arrays as {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(value)


def widget(at: AppTest, kind: str, key: str) -> Any:
    return next(w for w in at.get(kind) if w.key == key)


def notices(at: AppTest) -> str:
    """The text of the info and warning boxes, Markdown escapes removed."""
    text = "\n".join(str(x.value) for x in [*at.info, *at.warning])
    return re.sub(r"\\(.)", r"\1", text)


def captions(at: AppTest) -> str:
    return re.sub(r"\\(.)", r"\1", "\n".join(c.value for c in at.caption))


def markdown(at: AppTest) -> str:
    return re.sub(r"\\(.)", r"\1", "\n".join(m.value for m in at.markdown))


def card_html(at: AppTest) -> str:
    """The article cards (the st.html element that holds them)."""
    bodies = [h.proto.body for h in at.get("html") if "mm-list" in h.proto.body]
    assert bodies, "no article list on the page"
    return bodies[0]


def overview_numbers(at: AppTest) -> dict[str, tuple[int, int]]:
    df = at.dataframe[0].value
    return {
        row.Entity: (int(row.Mentions), int(row.Articles))
        for row in df.itertuples()
        if row.Mentions > 0
    }


def shown_command(text: str) -> list[str]:
    """The `monitor ...` command quoted in a caption or in "How counting works", split as a
    shell would."""
    commands = re.findall(r"`([^`]*\bmonitor\b[^`]* -c [^`]*)`", text)
    assert commands, f"no monitor command in {text[:300]!r}"
    return shlex.split(commands[-1])


def run_pasted(argv: list[str], cwd: Path) -> Any:
    """Run a command as pasted into a shell in `cwd` (no MONITOR_CONFIG), with --format json."""
    program = argv[0] if Path(argv[0]).is_absolute() else shutil.which(argv[0])
    assert program and Path(program).exists(), f"{argv[0]} is not a command here"
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    done = subprocess.run(
        [program, *argv[1:], "--format", "json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def snapshot(config: Path) -> Snapshot:
    return open_store(load_config(config).store).snapshot()


def flat(at: AppTest) -> list[tuple[str, str]]:
    """The main area's elements in page order, as (type, text) pairs."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        for child in getattr(node, "children", {}).values():
            text = getattr(child, "value", "") if child.type in TEXT_TYPES else ""
            out.append((child.type, str(text)))
            walk(child)

    walk(at.main)
    return out


TEXT_TYPES = {"caption", "markdown", "subheader", "title"}
