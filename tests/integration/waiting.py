"""Waiting on a condition with a deadline, for every test (tests never sleep blindly): poll until the
predicate is truthy and return its value, or fail with an `AssertionError` after `timeout` seconds.

Imported as ``from waiting import wait_for`` (this folder is on `sys.path` through its conftest, as
``from conftest import ...`` relies on), so it works however pytest is started.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll until `predicate()` is truthy and return that value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or predicate}")
        time.sleep(interval)


def stop_process_group(proc: Any, grace: float = 30.0) -> None:
    """Ctrl-C a `plays serve` / `plays worker` started with ``start_new_session=True`` (its whole
    process group), waiting up to `grace` seconds before killing it."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
