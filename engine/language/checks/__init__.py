"""The offline checks that run after the schema check: vocabulary, graph, triggers, templates,
fields against the CRM metadata snapshots, integration settings, and conflicts between Plays.

Each check module takes what it needs (a document for positions, the built model, the integration
and the snapshots) and returns Diagnostics; none raises for a user mistake. `check_play` runs the
per-Play checks on a Play built from a schema-valid document, or on a `PartialPlay` built leniently
from a document with schema errors (then only where the model can be trusted).
"""

from __future__ import annotations

from engine.language import graph
from engine.language.checks import conflicts, fields, integration as integration_checks, template_vars, triggers, vocab
from engine.diagnostics import Diagnostic
from engine.language.lenient import PartialPlay
from engine.language.loader import Document
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration, Play

CrmObjects = dict[str, dict[str, ObjectSchema]]


def check_play(doc: Document, play: Play | PartialPlay, integration: Integration, crm_objects: CrmObjects,
               uncertain: frozenset[tuple] = frozenset()) -> list[Diagnostic]:
    """Graph, trigger, template and field checks of one Play.

    `play` is built from a schema-valid document, or leniently (`PartialPlay`): then the graph check
    sees every node, the content checks only the schema-valid nodes, and the trigger checks run only
    when the trigger is valid. `uncertain` lists integration settings dropped for schema errors.
    """
    partial = play if isinstance(play, PartialPlay) else None
    whole = partial.play if partial else play
    content = partial.content if partial else play
    trigger_ok = partial.trigger_ok if partial else True
    out = graph.check(whole, doc.pos, doc.file, partial.loose if partial else None)
    if trigger_ok:
        out += triggers.check(doc, content)
    out += template_vars.check(doc, content, crm_objects)
    out += fields.check_play(doc, content, integration, crm_objects, uncertain)
    out += integration_checks.check_play(doc, whole, integration, uncertain)
    if trigger_ok:
        out += vocab.check_coverage(doc, content)
    return out


def check_integration(doc: Document, integration: Integration, crm_objects: CrmObjects,
                      uncertain: frozenset[tuple] = frozenset()) -> list[Diagnostic]:
    """Settings checks (INTEG…), field checks of defaults, owned and tracking fields, and the
    templates of templated defaults (D-WB-7)."""
    return (integration_checks.check(doc, integration, uncertain) + fields.check_integration(doc, integration, crm_objects)
            + template_vars.check_integration(doc, integration, crm_objects))


def check_conflicts(plays: list[tuple[Document, Play]]) -> list[Diagnostic]:
    """Warnings where two Plays can write different literals to the same field (PLAY003)."""
    return conflicts.check(plays)
