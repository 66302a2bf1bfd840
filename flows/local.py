"""Which Prefect API a command talks to: ``$PREFECT_API_URL`` when it is set, else a local Prefect
server with its database in ``$PLAYS_HOME/prefect`` (default ``~/.plays/prefect``), started on demand
and shared by concurrent commands (a small ``server.json`` names the running one).
"""

from __future__ import annotations

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
