"""Fixtures of the dashboard's tests: the small store of tests/dashboard_store.py, and `app`,
which opens the dashboard (AppTest) on it from a link's query parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import NO_SECRETS
from tests.dashboard.helpers import NOW, run_app
from tests.dashboard_store import build_store


@pytest.fixture(scope="session", autouse=True)
def no_project_secrets() -> None:
    """AppTest reads the project's .streamlit/secrets.toml, where a team keeps its real sign-in
    setup: the tests read none (a test that wants sign-in sets `at.secrets`)."""
    from streamlit import config

    config.set_option("secrets.files", [str(NO_SECRETS)])


@pytest.fixture(scope="session")
def store_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """feeds.yaml of the shared test store (never written to by the tests)."""
    return build_store(tmp_path_factory.mktemp("dash") / "world", NOW)


@pytest.fixture
def app(store_config: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Run the dashboard on the test store with the given query parameters; no exception."""
    monkeypatch.setenv("MONITOR_CONFIG", str(store_config))

    def run(**params: str | list[str]) -> AppTest:
        at = run_app(**params)
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run
