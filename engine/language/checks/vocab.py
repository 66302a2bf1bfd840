"""Vocabulary check: sequence statuses (D-VOC-1) and reply classifications (D-VOC-2) written in a
Play must be the exact strings; an unknown one is an error whose hint names the nearest real value.

Works on the raw document (not the model), so a typo is reported even when the Play has other
schema errors; the schema check leaves these enum errors to this check (one problem, one report).
Also warns when a branch over statuses or classifications neither covers every value the trigger
lets through nor has a `default` (VOCAB003).

Codes: VOCAB001 unknown status, VOCAB002 unknown classification, VOCAB003 branch does not cover.
"""

from __future__ import annotations

from typing import Any, Iterator

from engine.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.language.loader import Document
from engine.language.model import Play
from engine.language.vocab import CLASSIFICATION_KEYS, CLASSIFICATIONS, STATUS_KEYS, STATUSES, TriggerType

# Words people use for a value that is spelled otherwise (D-PLAY-3: "Not interested" is Negative).
ALIASES = {
    "not interested": "Negative", "interested": "Positive", "out of office": "OOO", "auto-reply": "Automated",
    "auto reply": "Automated", "autoreply": "Automated", "unsubscribe": "Opt out", "unsubscribed": "Opt out",
    "replied": "Completed: Replied", "cancelled": "Canceled", "bounce": "Bounced", "active": "Engaged",
}


def _values(value: Any, path: tuple) -> Iterator[tuple[Any, tuple]]:
    """The vocabulary values of a condition or filter: a scalar, a list, or an operator mapping."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield item, path + (i,)
    elif isinstance(value, dict):
        for op in ("not", "in"):
            if op in value:
                yield from _values(value[op], path + (op,))
    elif isinstance(value, str):
        yield value, path


def _check(doc: Document, value: Any, path: tuple, statuses: bool) -> list[Diagnostic]:
    out = []
    vocab, code, what = (STATUSES, "VOCAB001", "sequence status") if statuses else \
        (CLASSIFICATIONS, "VOCAB002", "reply classification")
    for item, ipath in _values(value, path):
        if item not in vocab:
            alias = ALIASES.get(item.strip().lower())
            hint = did_you_mean(item, vocab) or (f"did you mean '{alias}'?" if alias in vocab else None) \
                or "one of: " + ", ".join(vocab)
            out.append(error(code, doc.file, doc.pos(ipath), f"unknown {what} '{item}'", hint))
    return out


def check_doc(doc: Document) -> list[Diagnostic]:
    """Every unknown status or classification in a Play document."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    out: list[Diagnostic] = []
    trig = data.get("trigger")
    if isinstance(trig, dict):
        for key in ("from", "to"):
            if key in trig:
                out += _check(doc, trig[key], ("trigger", key), True)
        if "classifications" in trig:
            out += _check(doc, trig["classifications"], ("trigger", "classifications"), False)
    nodes = data.get("nodes")
    if isinstance(nodes, dict):
        for nid, node in nodes.items():
            cases = node.get("cases") if isinstance(node, dict) else None
            if not isinstance(cases, list):
                continue
            for i, case in enumerate(cases):
                when = case.get("when") if isinstance(case, dict) else None
                if not isinstance(when, dict):
                    continue
                for key, value in when.items():
                    path = ("nodes", nid, "cases", i, "when", key)
                    if key in STATUS_KEYS:
                        out += _check(doc, value, path, True)
                    elif key in CLASSIFICATION_KEYS:
                        out += _check(doc, value, path, False)
    return out


# -- branch coverage ---------------------------------------------------------------------------

def _possible(play: Play, statuses: bool) -> tuple[str, ...]:
    """The values the trigger lets through (its filter), else the whole vocabulary."""
    t = play.trigger
    if statuses:
        if t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.to_statuses:
            return tuple(s for s in t.to_statuses if s in STATUSES)
        return STATUSES
    if t.type == TriggerType.REPLY_CLASSIFIED and t.classifications:
        return tuple(c for c in t.classifications if c in CLASSIFICATIONS)
    return CLASSIFICATIONS


def check_coverage(doc: Document, play: Play) -> list[Diagnostic]:
    """VOCAB003: a branch that tests statuses/classifications, has no `default` and misses values."""
    out: list[Diagnostic] = []
    for node in play.nodes.values():
        if node.kind != "branch" or node.has_default:
            continue
        # one attribute under its names (`event.to`/`event.from` of a status change are others)
        for statuses, keys, what in ((True, ("sequence_status", "event.sequence_status"), "statuses"),
                                     (False, CLASSIFICATION_KEYS, "classifications")):
            tested = [c for case in node.cases for c in case.when if c.key in keys]
            if not tested:
                continue
            covered: set[str] = set()
            for case in node.cases:
                if len(case.when) != 1 or case.when[0].key not in keys:
                    continue  # a case with more conditions covers its values only partly
                cond = case.when[0]
                if cond.op == "eq":
                    covered.add(cond.value)
                elif cond.op in ("any", "in"):
                    covered.update(cond.value if isinstance(cond.value, tuple) else (cond.value,))
                elif cond.op == "not":
                    excluded = cond.value if isinstance(cond.value, tuple) else (cond.value,)
                    covered.update(v for v in (STATUSES if statuses else CLASSIFICATIONS) if v not in excluded)
                elif cond.op == "exists" and cond.value is True:
                    covered.update(STATUSES if statuses else CLASSIFICATIONS)
            missing = [v for v in _possible(play, statuses) if v not in covered]
            if missing:
                shown = ", ".join(f"'{m}'" for m in missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
                out.append(warning("VOCAB003", doc.file, doc.pos(node.path, key=True),
                                   f"branch '{node.id}' tests {what} but has no default and does not cover {shown}",
                                   "add `default: stop` or cases for the missing values"))
    return out
