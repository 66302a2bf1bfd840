"""Integration-test fixtures: one sandbox CRM for the whole session, and real clients on it.

`sandbox` is a started `SandboxHandle` (session-scoped, shared): a test that needs known records
calls `sandbox.load({...})` first. `clean_sandbox` empties it, clears faults and the request log
and resets the query page size, before and after the test. `sandbox_sf` / `sandbox_hs` are the real
simple-salesforce and hubspot-api-client clients pointed at a clean sandbox.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from sandbox.clients import hubspot_client, salesforce_client
from sandbox.server import SandboxHandle, start_sandbox
from waiting import wait_for as wait_until  # `from conftest import wait_until` in tests


@pytest.fixture
def wait() -> Callable[..., Any]:
    """`wait(predicate, timeout=10)`: poll until truthy, as a fixture for tests to use."""
    return wait_until


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    handle = start_sandbox()
    yield handle
    handle.stop()


def _reset(handle: SandboxHandle) -> None:
    handle.set_faults(None)
    handle.load({})
    handle.reset_log()
    handle.set_page_size(2000)
    handle.set_capture(False)


@pytest.fixture
def clean_sandbox(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    _reset(sandbox)
    yield sandbox
    _reset(sandbox)


@pytest.fixture
def sandbox_sf(clean_sandbox: SandboxHandle) -> Any:
    return salesforce_client(clean_sandbox.info)


@pytest.fixture
def sandbox_hs(clean_sandbox: SandboxHandle) -> Any:
    from urllib3.util.retry import Retry

    # No transparent urllib3 retries: the tests see every answer the sandbox gives.
    return hubspot_client(clean_sandbox.info, retry=Retry(total=0, respect_retry_after_header=False))
