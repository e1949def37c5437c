"""The dashboard on a PostgreSQL store, read through the read-only role a team's dashboards use:
every view opens, its numbers equal those of the same data in the embedded store, and the
password in `$MONITOR_STORE` shows nowhere in the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.store import open_store
from monitor.store.copy import copy_store
from tests.dashboard.helpers import VIEWS, overview_numbers, run_app

SECRET = "s3cret-reader-pw"


@pytest.fixture
def pg_dashboard(store_config: Path, pg_url: str, pg_reader_url: str, monkeypatch) -> str:
    """The shared test store copied into PostgreSQL; the dashboard pointed at it through the
    read-only role (the password is ignored by the test cluster's trust authentication, but
    the dashboard must never show it)."""
    report = copy_store(open_store(load_config(store_config).store), open_store(pg_url))
    assert report.equal
    reader = pg_reader_url.replace("monitor_reader@", f"monitor_reader:{SECRET}@")
    monkeypatch.setenv("MONITOR_CONFIG", str(store_config))
    monkeypatch.setenv("MONITOR_STORE", reader)
    return reader


def page_text(at) -> str:
    parts = [str(getattr(e, "value", "")) for e in at.main] + [
        str(getattr(e, "value", "")) for e in at.sidebar
    ]
    return "\n".join(parts)


def test_every_view_opens_on_postgresql_with_the_embedded_store_numbers(
    pg_dashboard, store_config: Path, monkeypatch
) -> None:
    for view in VIEWS:
        at = run_app(view=view, range="all")
        assert not at.exception, (view, [e.value for e in at.exception])
        assert not at.error, (view, [e.value for e in at.error])
        assert SECRET not in page_text(at)
    on_postgres = overview_numbers(run_app(range="all"))
    monkeypatch.delenv("MONITOR_STORE")
    on_embedded = overview_numbers(run_app(range="all"))
    assert on_postgres == on_embedded and on_postgres


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(
    store_config: Path, pg_cluster, monkeypatch
) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(store_config))
    monkeypatch.setenv(
        "MONITOR_STORE", f"postgresql://nobody:{SECRET}@127.0.0.1:{pg_cluster.port}/missing"
    )
    at = run_app()
    assert not at.exception
    [error] = at.error
    assert "missing" in error.value and SECRET not in page_text(at)
