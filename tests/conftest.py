"""Shared test set-up: a headless matplotlib backend and no figure leaks between tests."""

from __future__ import annotations

import sys

import pytest

try:  # matplotlib is optional for most tests; never make its absence an error here
    import matplotlib

    matplotlib.use("Agg")
except ImportError:  # pragma: no cover - matplotlib is a dependency
    pass


@pytest.fixture(autouse=True)
def _close_matplotlib_figures():
    """Close every figure a test left open (only if pyplot was imported at all)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture(params=["reference", "templates"])
def log_engine(request) -> str:
    """Each engine of the log reader (``read_log(..., engine=)``), for the same cases."""
    return request.param


@pytest.fixture(params=["reference", "adbc"])
def dlq_engine(request: pytest.FixtureRequest) -> str:
    """Each ``read_dlq`` engine in turn, for the tests run over every engine."""
    return request.param


@pytest.fixture(params=["reference", "numpy"])
def analysis_engine(request: pytest.FixtureRequest) -> str:
    """Each engine of ``increments`` and ``trend`` in turn."""
    return request.param


@pytest.fixture(scope="session", params=["reference", "arrow"])
def snapshot_engine(request: pytest.FixtureRequest) -> str:
    """Each ``engine=`` of ``read_snapshots`` (session-scoped: usable under hypothesis);
    the equivalence tests compare its result with ``engine="reference"``'s."""
    return request.param
