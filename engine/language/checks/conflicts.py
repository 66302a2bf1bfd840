"""Conflict check across Plays: two Plays that can write different literals to the same field of
the same record for the same event type (PLAY003, a warning).

Fields are blank-only by default (D-WB-2), so the first write wins and the outcome depends on
which Play runs first. Two Plays can overlap when their triggers share an event type and their
filters (``to``, ``from``, ``classifications``, ``sequences``) intersect; Salesforce ``auto``
overlaps both Lead and Contact. Templates are not compared (their value is not known).
"""

from __future__ import annotations

from typing import Any

from engine.diagnostics import Diagnostic, warning
from engine.language.loader import Document
from engine.language.model import Play
from engine.language.templates import is_template


def _objects(crm: str, obj: str) -> tuple[str, ...]:
    if crm == "salesforce":
        return ("Lead", "Contact") if obj == "auto" else (obj,)
    return ("contacts",)


def _overlap(a: tuple, b: tuple) -> bool:
    """Two filters overlap unless both are given and disjoint (an empty filter lets all through)."""
    return not a or not b or bool(set(a) & set(b))


def _triggers_overlap(p: Play, q: Play) -> set[str]:
    shared = set(p.trigger.event_types) & set(q.trigger.event_types)
    if not shared:
        return set()
    tp, tq = p.trigger, q.trigger
    if not (_overlap(tp.to_statuses, tq.to_statuses) and _overlap(tp.from_statuses, tq.from_statuses)
            and _overlap(tp.classifications, tq.classifications) and _overlap(tp.sequences, tq.sequences)):
        return set()
    return shared


def _writes(play: Play) -> list[tuple[str, str, str, Any, tuple]]:
    """(crm, object, field, literal, path) of every literal a Play's sync nodes write."""
    out = []
    for node in play.nodes.values():
        if node.kind not in ("sync_to_salesforce", "sync_to_hubspot"):
            continue
        for name, value in node.fields.items():
            if value is None or is_template(value):
                continue
            for obj in _objects(str(node.crm), node.object):
                out.append((str(node.crm), obj, name, value, node.path + (node.fields_key, name)))
    return out


def check(plays: list[tuple[Document, Play]]) -> list[Diagnostic]:
    """One warning per conflicting write (at the later Play's value, naming the first Play it
    conflicts with); writes are grouped by (crm, object, field) so only candidates are compared."""
    out: list[Diagnostic] = []
    ordered = sorted(plays, key=lambda dp: (dp[0].file, dp[1].id))
    by_target: dict[tuple, list[tuple[int, Any, tuple]]] = {}
    for i, (_doc, play) in enumerate(ordered):
        for crm, obj, name, value, path in _writes(play):
            by_target.setdefault((crm, obj, name), []).append((i, value, path))
    events = [p.trigger.event_types for _d, p in ordered]
    reported: set[tuple] = set()
    for (crm, _obj, name), entries in by_target.items():
        for k, (j, vb, pb) in enumerate(entries):
            if (j, pb) in reported:
                continue
            for i, va, _pa in entries[:k]:
                if i == j or va == vb or not events[i] & events[j]:
                    continue
                shared = _triggers_overlap(ordered[i][1], ordered[j][1])
                if not shared:
                    continue
                reported.add((j, pb))
                (doc_a, a), (doc_b, b) = ordered[i], ordered[j]
                out.append(warning(
                    "PLAY003", doc_b.file, doc_b.pos(pb),
                    f"Plays '{a.id}' and '{b.id}' can both write {crm} {name} on the same record for "
                    f"{', '.join(sorted(shared))} events: {_show(va)} vs {_show(vb)}",
                    f"the first write wins, D-WB-2; narrow one trigger or write one value; see {doc_a.file}"))
                break
    return out


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"'{v}'" if isinstance(v, str) else str(v)
