"""Trigger checks: filters that can never match, and branch conditions the trigger rules out.

A Play whose trigger can never fire, or a case whose `when` can never hold for the events that
trigger it, is dead code that looks alive: both are errors.

- TRIGGER001: the trigger itself can never fire (``sequence_status_changed`` whose every ``from``
  equals its every ``to``: a status never changes to itself; a schedule ``every: 0m``; a ``cron``
  field out of range).
- TRIGGER002: a case condition contradicts the trigger's filter: ``sequence_status`` outside
  ``to``; ``reply_classification`` outside ``classifications``; ``event`` not among the event
  types the trigger fires on; ``sequence`` outside ``sequences``; a ``not`` that excludes every
  value the trigger lets through.
"""

from __future__ import annotations

import re

from engine.diagnostics import Diagnostic, error
from engine.language.loader import Document
from engine.language.model import Condition, Play
from engine.language.vocab import CLASSIFICATION_KEYS, CLASSIFICATIONS, STATUS_KEYS, STATUSES, TriggerType

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _allowed(play: Play, key: str) -> tuple[tuple, str] | None:
    """The values the trigger lets through for a condition key, and the filter's name."""
    t = play.trigger
    if key == "sequence_status" and t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.to_statuses:
        return t.to_statuses, "to"
    if key == "event.from" and t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.from_statuses:
        return t.from_statuses, "from"
    if key == "event.to" and t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.to_statuses:
        return t.to_statuses, "to"
    if key == "reply_classification" and t.type == TriggerType.REPLY_CLASSIFIED and t.classifications:
        return t.classifications, "classifications"
    if key == "sequence" and t.sequences:
        return t.sequences, "sequences"
    if key == "event" and t.type != TriggerType.SCHEDULE:
        return tuple(sorted(t.event_types)), "type"
    return None


def _never(cond: Condition, allowed: tuple) -> bool:
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    vocab = STATUSES if cond.key in STATUS_KEYS else CLASSIFICATIONS if cond.key in CLASSIFICATION_KEYS else None
    if vocab is not None and not all(v in vocab for v in values):
        return False  # a typo: the vocabulary check reports it (one problem, one report)
    if cond.op in ("eq", "any", "in"):
        return not any(v in allowed for v in values)
    if cond.op == "not":
        return all(a in values for a in allowed)
    return False


def _check_cron(doc: Document, cron: str) -> list[Diagnostic]:
    if cron.startswith("@"):
        return []
    fields = cron.split()
    for i, (text, (lo, hi)) in enumerate(zip(fields, _CRON_RANGES)):
        names = _MONTHS if i == 3 else _DAYS if i == 4 else ()
        for part in text.split(","):
            base = part.split("/")[0]
            if base == "*" or base.lower() in names:
                continue
            for num in base.split("-"):
                if num.lower() in names:
                    continue
                if not num.isdigit() or not lo <= int(num) <= hi:
                    return [error("TRIGGER001", doc.file, doc.pos(("trigger", "cron")),
                                  f"cron {_CRON_NAMES[i]} '{part}' is out of range {lo}-{hi}",
                                  "cron is 'minute hour day-of-month month day-of-week', in UTC")]
    return []


def check(doc: Document, play: Play) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    t = play.trigger
    if t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.from_statuses and t.to_statuses:
        if set(t.from_statuses) == set(t.to_statuses) and len(set(t.to_statuses)) == 1:
            out.append(error("TRIGGER001", doc.file, doc.pos(("trigger", "to")),
                             f"the trigger can never fire: a status never changes from '{t.to_statuses[0]}' "
                             f"to itself", "drop `from`, or give different statuses"))
    if t.type == TriggerType.SCHEDULE:
        if t.every and re.match(r"^0+[smhd]$", t.every):
            out.append(error("TRIGGER001", doc.file, doc.pos(("trigger", "every")),
                             f"'every: {t.every}' never runs", "use a positive interval such as 15m or 1d"))
        if t.cron:
            out += _check_cron(doc, t.cron)
    for node in play.nodes.values():
        for case in node.cases:
            for cond in case.when:
                allowed = _allowed(play, cond.key)
                if allowed is None or not allowed[0]:
                    continue
                values, name = allowed
                if _never(cond, values):
                    shown = ", ".join(f"'{v}'" for v in values)
                    what = f" fires only on {shown} events" if name == "type" else \
                        f"'s '{name}' filter lets through only {shown}"
                    out.append(error("TRIGGER002", doc.file, doc.pos(cond.path),
                                     f"this condition on '{cond.key}' can never hold: the trigger{what}",
                                     "fix the condition or widen the trigger's filter"))
    return out
