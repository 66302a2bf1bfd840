"""Prefect test plumbing: one real local Prefect server per test session (``prefect server start``
in a subprocess, SQLite in a temporary PREFECT_HOME, services polling every few seconds), and small
helpers to read flow runs and artifacts back through the real client.

Use it with ``pytest_plugins = ["tests.integration.prefect_fixtures"]``. The server takes ~8-15 s
to come up on 2 cores (measured: 9 s first start with migrations, 3 s on a warm home).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import waiting
from flows.server import LocalPrefect


stop_process_group = waiting.stop_process_group  # Ctrl-C a served process group, then kill it


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    """`waiting.wait_for` with the longer defaults a Prefect server round trip wants."""
    return waiting.wait_for(predicate, timeout, interval, what)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[LocalPrefect]:
    """A started local Prefect server; this process's client and child processes point at it."""
    home: Path = tmp_path_factory.mktemp("prefect-home")
    server = LocalPrefect(home, fast_services=True, ui=False)
    server.start(timeout=120)
    server.use()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server
    from flows.local import flush_prefect

    flush_prefect()
    server.stop()


@pytest.fixture
def prefect_env(prefect_server: LocalPrefect) -> dict[str, str]:
    """Environment for a `plays` subprocess talking to the session's Prefect server."""
    env = dict(os.environ)
    env.update(prefect_server.env())
    env["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    return env


def flow_runs(flow_name: str | None = None, *, deployment: str | None = None) -> list[Any]:
    """Flow runs (newest first) of a flow, read from the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        flow_filter = FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None
        runs = client.read_flow_runs(flow_filter=flow_filter, sort=FlowRunSort.START_TIME_DESC, limit=200)
    return [r for r in runs if deployment is None or str(r.deployment_id) == deployment]


def artifacts_of(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
