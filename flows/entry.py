"""The importable entrypoint for workers: importing this module compiles the Plays found at
``$PLAYS_PATHS`` (default ``plays``) and binds one flow per Play as a module attribute, so a
deployment's module-path entrypoint (``flows.entry.play_<id>``) resolves in a fresh process.
`prefect worker start` / `plays worker` run these. The sync flow is ``flows.entry.sync_flow``.
"""

from __future__ import annotations

import os
import re

from flows.play_flows import play_flow, sync_flow
from flows.runtime import get_runtime


def attribute(play_id: str) -> str:
    """The module attribute holding a Play's flow: ``play_`` + the id with non-alphanumerics as ``_``."""
    return "play_" + re.sub(r"[^0-9a-zA-Z]", "_", play_id)


class StoreNotConfigured(RuntimeError):
    """A worker's flow run was deployed with a store its environment does not name."""


def _check_store() -> None:
    """Deployed with a store URL (kept out of the job variables, D-OPS-2): this worker must set it."""
    if os.environ.get("PLAYS_STORE_FROM_ENV") == "1" and not os.environ.get("PLAYS_DATABASE_URL"):
        raise StoreNotConfigured("WORKER001: this deployment uses a shared store, but PLAYS_DATABASE_URL is not set in "
                                 "the worker's environment (it is never copied into Prefect job variables): set it "
                                 "where the worker runs, then start the worker again")


def _bind() -> list[str]:
    _check_store()
    names = []
    for pid in sorted(get_runtime().plays):
        globals()[attribute(pid)] = play_flow(pid)
        names.append(attribute(pid))
    return names


PLAY_FLOWS = _bind()

__all__ = ["PLAY_FLOWS", "attribute", "sync_flow", *PLAY_FLOWS]
