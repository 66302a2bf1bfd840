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
- TRIGGER003: a ``cron`` expression the scheduler cannot read (``*/0 * * * *``: a step of 0; a
  range backwards; ``R``/``H`` random or hashed fields; a day no month has). It is parsed here with
  cronsim, the cron parser Prefect's own stack installs, so a schedule that validates also serves.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from cronsim import CronSim, CronSimError

from engine.diagnostics import Diagnostic, error
from engine.language.loader import Document
from engine.language.model import Condition, Play
from engine.language.vocab import CLASSIFICATION_KEYS, CLASSIFICATIONS, STATUS_KEYS, STATUSES, TriggerType

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NICKNAMES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# cronsim names the field it could not read ("Bad day-of-month"); ours are the same five, in words.
_CRONSIM_FIELDS = {"minute": 0, "hour": 1, "day-of-month": 2, "month": 3, "day-of-week": 4}
_CRON_HINT = "cron is 'minute hour day-of-month month day-of-week', in UTC, e.g. '*/15 * * * *' or '0 9 * * 1'"
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _allowed(play: Play, key: str) -> tuple[tuple, str] | None:
    """The values the trigger lets through for a condition key, and the filter's name."""
    t = play.trigger
    if key in ("sequence_status", "event.sequence_status", "event.to") and \
            t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.to_statuses:
        return t.to_statuses, "to"
    if key == "event.from" and t.type == TriggerType.SEQUENCE_STATUS_CHANGED and t.from_statuses:
        return t.from_statuses, "from"
    if key in CLASSIFICATION_KEYS and t.type == TriggerType.REPLY_CLASSIFIED and t.classifications:
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


def cron_range_problem(cron: str) -> str | None:
    """A number outside its field's range (TRIGGER001), or None."""
    if cron.startswith("@"):
        return None
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
                if num.isdigit() and not lo <= int(num) <= hi:  # other spellings: cron_problem
                    return f"cron {_CRON_NAMES[i]} '{part}' is out of range {lo}-{hi}"
    return None


def cron_problem(cron: str) -> str | None:
    """Why the scheduler could not read `cron` (None: it can). Ranges are `cron_range_problem`'s (TRIGGER001)."""
    expr = _NICKNAMES.get(cron.strip().lower(), cron)
    if expr.startswith("@"):
        return f"'{cron}' is not a cron nickname (use @hourly, @daily, @weekly, @monthly or @yearly)"
    fields = expr.split()
    if len(fields) != 5:
        return f"a cron expression has 5 fields, '{cron}' has {len(fields)}"
    for i, text in enumerate(fields):
        if any(re.match(r"^[RH](\(|/|$)", part, re.I) for part in text.split(",")):
            return f"cron {_CRON_NAMES[i]} '{text}': random (R) and hashed (H) values are not supported"
        if (i == 4 and "l" in text.lower()) or (i == 2 and "w" in text.lower()):
            return f"cron {_CRON_NAMES[i]} '{text}': 'L' and 'W' in this field are not supported by the scheduler"
    try:
        CronSim(expr, _EPOCH)
    except CronSimError as exc:
        said = str(exc)
        name = said[4:] if said.startswith("Bad ") else ""
        if name in _CRONSIM_FIELDS:
            i = _CRONSIM_FIELDS[name]
            text = fields[i]
            why = "a step of 0 never advances" if re.search(r"/0+$", text) else \
                "a range must go upwards" if re.fullmatch(r"\d+-\d+", text) and \
                int(text.split("-")[0]) > int(text.split("-")[1]) else \
                "no month has that day" if i == 2 else "the scheduler cannot read it"
            return f"cron {_CRON_NAMES[i]} '{text}': {why}"
        return f"cron '{cron}' cannot be read: {said}"
    return None


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
            at = doc.pos(("trigger", "cron"))
            ranges = cron_range_problem(t.cron)
            problem = None if ranges else cron_problem(t.cron)
            if ranges:
                out.append(error("TRIGGER001", doc.file, at, ranges,
                                 "cron is 'minute hour day-of-month month day-of-week', in UTC"))
            elif problem:
                out.append(error("TRIGGER003", doc.file, at, problem, _CRON_HINT))
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
