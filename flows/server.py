"""A local Prefect server in a subprocess: what `plays demo`, `plays run` (when no server is
configured) and the integration tests use, so nobody needs an account anywhere.

`LocalPrefect(home).start()` runs ``python -m prefect server start`` with ``PREFECT_HOME`` in
`home` (its SQLite database lives there, or on PostgreSQL with `database_url`), waits until
``/api/health`` answers, and points this process at it (``PREFECT_API_URL``). `stop()` ends it
(SIGINT, then SIGKILL after a grace period) and restores the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

_POINTING_VARS = ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_UI_URL")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect API answers at `api_url` (``http://host:port/api``)."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ui_url(api_url: str) -> str:
    """The UI address that goes with an API address (the UI is served at the root)."""
    url = api_url.rstrip("/")
    return url[: -len("/api")] if url.endswith("/api") else url


class PrefectServerError(RuntimeError):
    """The local server did not come up; the message holds the tail of its log."""


class LocalPrefect:
    """One ``prefect server start`` subprocess with its own PREFECT_HOME."""

    def __init__(self, home: str | Path, *, port: int | None = None, host: str = "127.0.0.1",
                 database_url: str | None = None, ui: bool = True, fast_services: bool = False):
        self.home = Path(home).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.database_url = database_url
        self.ui = ui
        self.fast_services = fast_services
        self.proc: subprocess.Popen | None = None
        self.started_in: float | None = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return ui_url(self.api_url)

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this server (client side)."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home),
                "PREFECT_UI_URL": self.ui_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    def server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in _POINTING_VARS:
            env.pop(var, None)
        env.update({
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "true" if self.ui else "false",
            "PREFECT_SERVER_UI_API_URL": self.api_url,
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        })
        if self.database_url:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.database_url
        if self.fast_services:
            # tests: schedules and triggers noticed within seconds rather than a minute
            env.update({
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
                "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
            })
        return env

    def start(self, timeout: float = 90.0) -> "LocalPrefect":
        """Start the server and wait for it; raises PrefectServerError when it does not come up."""
        self.home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port)],
            env=self.server_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrefectServerError(f"the Prefect server exited ({self.proc.returncode}):\n{self.log_tail()}")
            if healthy(self.api_url, timeout=1.0):
                self.started_in = time.monotonic() - t0
                return self
            time.sleep(0.2)
        self.stop()
        raise PrefectServerError(f"the Prefect server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def use(self) -> "LocalPrefect":
        """Point this process's Prefect client at the server (undone by `stop`)."""
        for key, value in self.env().items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def __enter__(self) -> "LocalPrefect":
        return self.start().use()

    def __exit__(self, *exc: object) -> None:
        self.stop()
