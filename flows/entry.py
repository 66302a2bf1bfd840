"""The importable entrypoint for workers: importing this module compiles the Plays found at
``$PLAYS_PATHS`` (default ``plays``) and binds one flow per Play as a module attribute, so a
deployment's module-path entrypoint (``flows.entry.play_<id>``) resolves in a fresh process.
`prefect worker start` / `plays worker` run these. The sync flow is ``flows.entry.sync_flow``.
"""

from __future__ import annotations

import re

from flows.play_flows import play_flow, sync_flow
from flows.runtime import get_runtime


def attribute(play_id: str) -> str:
    """The module attribute holding a Play's flow: ``play_`` + the id with non-alphanumerics as ``_``."""
    return "play_" + re.sub(r"[^0-9a-zA-Z]", "_", play_id)


def _bind() -> list[str]:
    names = []
    for pid in sorted(get_runtime().plays):
        globals()[attribute(pid)] = play_flow(pid)
        names.append(attribute(pid))
    return names


PLAY_FLOWS = _bind()

__all__ = ["PLAY_FLOWS", "attribute", "sync_flow", *PLAY_FLOWS]
