"""The command line on a PostgreSQL store, as a user runs it: `poll`, `status`, `mentions`,
`articles`, `rematch` give the embedded store's answers on the same feeds; `store migrate` and
`store copy` through the command line; `demo --store URL` fills a database and refuses one it
did not make."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from monitor.cli import main
from tests.test_cli import run, world  # noqa: F401  (world: two feeds and a broken one, served)

ROOT = Path(__file__).resolve().parent.parent


def answers(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """What the read commands say, minus what differs by nature (times of the fetches)."""
    got: dict[str, object] = {}
    for name, command in {
        "mentions": ["mentions"],
        "by day": ["mentions", "--by", "day"],
        "articles": ["articles"],
        "cecot": ["articles", "--entity", "cecot"],
    }.items():
        assert main(["-c", str(config), *command, "--format", "json"]) == 0, name
        got[name] = json.loads(capsys.readouterr().out)
    assert main(["-c", str(config), "status", "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    got["status"] = sorted((s["name"], s["articles"], s["status"]) for s in status)
    got["pollers"] = sorted(s["poller"] for s in status if s["status"] == "ok")
    return got


def test_every_command_gives_the_embedded_stores_answers(world, pg_url, monkeypatch, capsys):  # noqa: F811
    assert run("-c", str(world), "poll", "--once", "--name", "solo").returncode == 0
    embedded = answers(world, capsys)

    monkeypatch.setenv("MONITOR_STORE", pg_url)  # overrides `store: store` of feeds.yaml
    result = run("-c", str(world), "poll", "--once", "--name", "solo")
    assert result.returncode == 0, result.stderr
    assert "3 new articles" in result.stdout
    on_postgres = answers(world, capsys)
    assert on_postgres == embedded
    assert on_postgres["mentions"] and on_postgres["pollers"] == ["solo", "solo"]
    with psycopg.connect(pg_url) as con:  # the numbers really came from the database
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (3,)

    world.write_text(world.read_text() + "  - name: Again\n    kind: topic\n")
    for env in ({"MONITOR_STORE": pg_url}, {"MONITOR_STORE": ""}):
        monkeypatch.setenv("MONITOR_STORE", env["MONITOR_STORE"])
        assert main(["-c", str(world), "rematch"]) == 0
        capsys.readouterr()
        assert main(["-c", str(world), "mentions", "--entity", "Again", "--format", "json"]) == 0
        out = capsys.readouterr().out
        assert json.loads(out[out.index("[") :])[0]["articles"] == 1


def test_store_migrate_and_copy_from_the_command_line(world, pg_url, tmp_path, capsys):  # noqa: F811
    assert run("-c", str(world), "poll", "--once").returncode == 0
    env = {"MONITOR_STORE": pg_url}
    result = run("-c", str(world), "store", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("migration 1: ")  # an empty database: what it did
    again = run("-c", str(world), "store", "migrate", env=env)
    assert again.returncode == 0 and ": schema " in again.stdout  # nothing to do: the version
    assert "migration" not in again.stdout

    embedded = world.parent / "store"
    result = run("-c", str(world), "store", "copy", str(embedded), "config", env=env)
    assert result.returncode == 0, result.stderr
    assert "every count is equal" in result.stdout
    assert "DIFFERENT" not in result.stdout
    back = tmp_path / "back"
    result = run("-c", str(world), "store", "copy", "config", str(back), env=env)
    assert result.returncode == 0, result.stderr
    result = run("-c", str(world), "store", "copy", str(embedded), "config", env=env)
    assert result.returncode == 0 and "already holds a finished copy" in result.stdout

    counts = []
    for store in (str(embedded), pg_url, str(back)):
        r = run("-c", str(world), "mentions", "--format", "json", env={"MONITOR_STORE": store})
        assert r.returncode == 0, r.stderr
        counts.append(json.loads(r.stdout))
    assert counts[0] == counts[1] == counts[2] and counts[0]


@pytest.mark.slow
def test_the_demo_fills_a_database_and_refuses_one_it_did_not_make(tmp_path, pg_url):
    size = ["--days", "2", "--outlets", "3", "--articles-per-day", "40", "--seed", "4"]
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "MONITOR_STORE")}

    def demo(folder: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "demo", *size, "--no-dashboard",
             "--dir", str(tmp_path / folder), "--store", pg_url],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
        )  # fmt: skip

    first = demo("one")
    assert first.returncode == 0, first.stderr
    with psycopg.connect(pg_url) as con:
        stored = con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
    assert stored > 0
    assert not (tmp_path / "one" / "data").exists()  # the store is the database, not a folder
    second = demo("two")  # a database an earlier demo filled: emptied, then filled again
    assert second.returncode == 0, second.stderr
    # the world's history ends at each run's "now": the two runs may see an article more or less
    new = int(
        re.search(r"; ([\d,]+) new articles", second.stdout + second.stderr)[1].replace(",", "")
    )
    with psycopg.connect(pg_url) as con:
        again = con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
    assert again == new and abs(again - stored) <= 0.1 * stored  # emptied first, not appended
    stored = again

    with psycopg.connect(pg_url, autocommit=True) as con:  # now a store of someone else's
        con.execute("UPDATE monitor_meta SET labels = '{}'")
    refused = demo("three")
    assert refused.returncode == 2, refused.stderr
    assert "holds a store the demo did not make" in refused.stderr
    assert "Traceback" not in refused.stderr
    with psycopg.connect(pg_url) as con:  # and it is left alone
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (stored,)
