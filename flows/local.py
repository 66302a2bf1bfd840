"""Which Prefect API a command talks to: ``$PREFECT_API_URL`` when it is set, else a local Prefect
server with its database in ``$PLAYS_HOME/prefect`` (default ``~/.plays/prefect``), started on demand
and shared by concurrent commands (a small ``server.json`` names the running one).

One `plays serve` per home (`serve_lock`): a second one on the same ``PLAYS_HOME`` would borrow the
first one's Prefect server and keep accepting events after that server stopped with it; it is
refused with a message naming the first one (``SERVE001``). Short commands (`plays run`) still share.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from flows.server import LocalPrefect, healthy, ui_url


def plays_home() -> Path:
    return Path(os.environ.get("PLAYS_HOME") or Path.home() / ".plays")


@dataclass
class PrefectTarget:
    api_url: str
    ui_url: str
    server: LocalPrefect | None = None  # started by us: stop it when done
    home: Path | None = None

    def stop(self) -> None:
        flush_prefect()
        if self.server is not None:
            self.server.stop()
            if self.home is not None:
                try:
                    (self.home / "server.json").unlink()
                except OSError:
                    pass


def flush_prefect() -> None:
    """Send buffered logs and events before the server may go away."""
    for module, name in (("prefect.logging.handlers", "APILogWorker"), ("prefect.events.worker", "EventsWorker")):
        try:
            import importlib

            getattr(importlib.import_module(module), name).drain_all(timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            pass


def ensure_prefect(home: Path | None = None, *, port: int | None = None) -> PrefectTarget:
    """The configured Prefect API, else a local server (reused when one already runs for `home`)."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return PrefectTarget(url, ui_url(url))
    home = (home or plays_home() / "prefect").resolve()
    marker = home / "server.json"
    try:
        known = json.loads(marker.read_text())
        if healthy(known["api_url"]):
            os.environ["PREFECT_API_URL"] = known["api_url"]
            os.environ["PREFECT_HOME"] = str(home)
            return PrefectTarget(known["api_url"], ui_url(known["api_url"]), home=home)
    except (OSError, ValueError, KeyError):
        pass
    server = LocalPrefect(home, port=port).start().use()
    marker.write_text(json.dumps({"api_url": server.api_url, "pid": server.proc.pid if server.proc else None}))
    return PrefectTarget(server.api_url, server.ui_url, server, home)


class ServeLocked(RuntimeError):
    """Another `plays serve` runs with this PLAYS_HOME."""


def serve_lock(home: Path | None = None):
    """Hold ``<home>/serve.lock`` (an flock, freed when the process ends, even by SIGKILL) for this
    `plays serve`; raises ServeLocked naming the running one. Returns the open lock file."""
    home = (home or plays_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "serve.lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        other = fh.read().strip() or "unknown"
        fh.close()
        raise ServeLocked(f"SERVE001 another `plays serve` (pid {other}) runs with PLAYS_HOME={home}: stop it first, "
                          f"or give this one its own home (PLAYS_HOME=/some/other/folder plays serve ...)") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh
