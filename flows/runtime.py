"""The runtime context every flow run works in: where the Plays are, which store, which CRM.

`RuntimeSettings` travels through the environment (``PLAYS_*`` variables), so a flow run started by
a served deployment (a spawned subprocess), by a worker, or in-process by `plays run` finds the same
context: `RuntimeSettings.from_env()` / `.to_env()`. Secrets never go into Prefect parameters.

`Runtime` holds what is expensive to build once per process: the loaded workspace (Plays compiled
from YAML), the store, the CRM connectors and the CRM field metadata.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Mapping

from engine.connectors.auth import connect, connect_info
from engine.connectors.base import ConnectionProblem
from engine.language.metadata import hubspot_objects, salesforce_objects
from engine.store import Store
from engine.workspace import Workspace, load_workspace, read_audiences

ENV_PLAYS = "PLAYS_PATHS"
ENV_DB = "PLAYS_DATABASE_URL"
ENV_SCHEMA = "PLAYS_DATABASE_SCHEMA"
ENV_CRM = "PLAYS_CRM"
ENV_SANDBOX_INFO = "PLAYS_SANDBOX_INFO"
ENV_BATCH = "PLAYS_BATCH_SIZE"
DEFAULT_BATCH = 60_000  # events per batch: a 15-minute cycle of a busy org (~52,000 events) in one (D-RUN-3)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where the Plays live, the store, and how to reach the CRM (``live``: integration.yaml's
    ``${ENV}`` credentials; ``sandbox``: the connection info a sandbox printed)."""

    plays: tuple[str, ...] = ("plays",)
    database_url: str | None = None
    database_schema: str | None = None
    crm: str = "live"
    sandbox_info: Mapping[str, Any] | None = None
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RuntimeSettings":
        env = os.environ if environ is None else environ
        info = None
        raw = env.get(ENV_SANDBOX_INFO)
        if raw:
            text = raw if raw.lstrip().startswith("{") else Path(raw).read_text(encoding="utf-8")
            info = json.loads(text)
        plays = tuple(p for p in env.get(ENV_PLAYS, "plays").split(os.pathsep) if p)
        return cls(plays=plays or ("plays",), database_url=env.get(ENV_DB) or None,
                   database_schema=env.get(ENV_SCHEMA) or None,
                   crm=env.get(ENV_CRM) or ("sandbox" if info else "live"), sandbox_info=info,
                   batch_size=int(env.get(ENV_BATCH) or DEFAULT_BATCH))

    def to_env(self) -> dict[str, str]:
        """The variables that make `from_env` give these settings back (absolute Play paths)."""
        env = {ENV_PLAYS: os.pathsep.join(str(Path(p).resolve()) for p in self.plays), ENV_CRM: self.crm,
               ENV_BATCH: str(self.batch_size)}
        if self.database_url:
            env[ENV_DB] = self.database_url
        if self.database_schema:
            env[ENV_SCHEMA] = self.database_schema
        if self.sandbox_info:
            env[ENV_SANDBOX_INFO] = json.dumps(self.sandbox_info)
        return env

    def apply(self) -> None:
        """Export these settings into this process's environment (inherited by flow-run subprocesses)."""
        os.environ.update(self.to_env())
        if not self.database_schema:
            os.environ.pop(ENV_SCHEMA, None)
        if not self.sandbox_info:
            os.environ.pop(ENV_SANDBOX_INFO, None)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The per-process context of flow runs (see module docstring)."""

    settings: RuntimeSettings
    workspace: Workspace
    store: Store
    _connectors: dict[str, Any] | None = None
    _metadata: dict[str, Any] | None = None
    _compiled: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def plays(self):
        return self.workspace.plays

    @property
    def integration(self):
        return self.workspace.integration

    def compiled(self) -> Any:
        """Every Play compiled once per process (`engine.evaluate.compiler.CompiledPlays`)."""
        if self._compiled is None:
            from engine.evaluate.compiler import compile_plays
            self._compiled = compile_plays(self.plays, self.integration)
        return self._compiled

    def crms(self) -> tuple[str, ...]:
        return tuple(c for c in ("salesforce", "hubspot") if self.integration.settings(c) is not None)

    def connectors(self) -> dict[str, Any] | ConnectionProblem:
        """One connector per configured CRM (made once), or the first connection problem (D-SY-3)."""
        with self._lock:
            if self._connectors is None:
                conns: dict[str, Any] = {}
                for crm in self.crms():
                    settings = self.integration.settings(crm)
                    if self.settings.crm == "sandbox":
                        info = (self.settings.sandbox_info or {}).get(crm)
                        if not info:
                            return ConnectionProblem(crm, "CONN005", f"the sandbox has no {crm} connection info")
                        conn = connect_info(settings, info)
                    else:
                        conn = connect(settings)
                    if isinstance(conn, ConnectionProblem):
                        for c in conns.values():
                            c.close()
                        return conn
                    conns[crm] = conn
                self._connectors = conns
            return self._connectors

    def metadata(self) -> dict[str, Any]:
        """Field metadata by CRM: read live once per process (D-SY-2: new custom fields count),
        else the workspace's snapshots."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        conns = self.connectors()
        meta: dict[str, Any] = dict(self.workspace.crm_objects)
        if not isinstance(conns, ConnectionProblem):
            for crm, conn in conns.items():
                try:
                    snap = conn.read_metadata()
                    meta[crm] = salesforce_objects(snap) if crm == "salesforce" else hubspot_objects(snap)
                except Exception:  # noqa: BLE001 - the snapshot is a sound fallback
                    pass
        with self._lock:
            self._metadata = meta
        return meta

    def audiences(self) -> dict[str, list]:
        """CSV audience rows of schedule Plays (D-AU-3), by the one loader
        (`engine.workspace.read_audiences`); what it leaves out is logged, never silent."""
        import logging

        rows, problems = read_audiences(self.plays, self.workspace.play_docs)
        for problem in problems:
            logging.getLogger(__name__).warning(problem.format())
        return rows

    def close(self) -> None:
        if self._connectors:
            for c in self._connectors.values():
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass
        self._connectors = None
        self.store.close()


_RUNTIMES: dict[tuple, Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def _key(settings: RuntimeSettings) -> tuple:
    return (settings.plays, settings.database_url, settings.database_schema, settings.crm,
            json.dumps(settings.sandbox_info, sort_keys=True) if settings.sandbox_info else None,
            settings.batch_size)


def get_runtime(settings: RuntimeSettings | None = None) -> Runtime:
    """The runtime of these settings (default: from the environment), built once per process."""
    settings = settings or RuntimeSettings.from_env()
    key = _key(settings)
    with _RUNTIMES_LOCK:
        rt = _RUNTIMES.get(key)
        if rt is None:
            ws = load_workspace(list(settings.plays))
            store = Store(settings.database_url, schema=settings.database_schema)
            rt = _RUNTIMES[key] = Runtime(settings, ws, store)
        return rt


def close_runtimes() -> None:
    with _RUNTIMES_LOCK:
        for rt in _RUNTIMES.values():
            rt.close()
        _RUNTIMES.clear()
