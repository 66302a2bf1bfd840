"""The offline checks that run after the schema check: vocabulary, graph, triggers, templates,
fields against the CRM metadata snapshots, integration settings, and conflicts between Plays.

Each check module takes what it needs (a document for positions, the built model, the integration
and the snapshots) and returns Diagnostics; none raises for a user mistake. `check_play` runs the
per-Play checks on a Play built from a schema-valid document.
"""

from __future__ import annotations

from engine import graph
from engine.checks import conflicts, fields, integration as integration_checks, template_vars, triggers, vocab
from engine.diagnostics import Diagnostic
from engine.loader import Document
from engine.metadata import ObjectSchema
from engine.model import Integration, Play

CrmObjects = dict[str, dict[str, ObjectSchema]]


def check_play(doc: Document, play: Play, integration: Integration, crm_objects: CrmObjects) -> list[Diagnostic]:
    """Graph, trigger, template and field checks of one Play (schema-valid, model built)."""
    out = graph.check(play, doc.pos, doc.file)
    out += triggers.check(doc, play)
    out += template_vars.check(doc, play, crm_objects)
    out += fields.check_play(doc, play, integration, crm_objects)
    out += integration_checks.check_play(doc, play, integration)
    out += vocab.check_coverage(doc, play)
    return out


def check_integration(doc: Document, integration: Integration, crm_objects: CrmObjects) -> list[Diagnostic]:
    """Settings checks (INTEG…) and field checks of defaults, owned and tracking fields."""
    return integration_checks.check(doc, integration) + fields.check_integration(doc, integration, crm_objects)


def check_conflicts(plays: list[tuple[Document, Play]]) -> list[Diagnostic]:
    """Warnings where two Plays can write different literals to the same field (PLAY003)."""
    return conflicts.check(plays)
