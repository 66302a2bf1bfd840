"""Conditions of a branch's `when`, compiled to plain closures.

Keys: ``sequence_status`` (the event's `to` for a status change, else its `status`),
``reply_classification``, ``sequence``, ``event`` (the event type), and attribute paths
``contact.X`` (the event's contact attribute X, else the matched CRM record's field X), ``event.X``,
``reply.X``, ``message.X``. Operators: eq (scalar), any (list), not, in, contains, exists, gt, lt.

D-VOC-1/2 at run time: a status or classification outside the vocabulary is kept, but every
condition on it is false (negated, list and equality alike, under any of its names: see
`VOCAB_KEYS`), so such an event only ever reaches a branch's `default`.

Every getter takes an evaluation context with ``event`` (an `engine.evaluate.events.Event`) and
``contact_value(name)`` (see `engine.evaluate.compiler.EvalContext`).
"""

from __future__ import annotations

from typing import Any, Callable

from engine.evaluate.events import parse_time
from engine.evaluate.policy import _num, equal, is_blank
from engine.language.model import Condition
from engine.language.vocab import CLASSIFICATION_KEYS, CLASSIFICATIONS, STATUS_KEYS, STATUSES

_STATUS_SET = frozenset(STATUSES)
_CLASS_SET = frozenset(CLASSIFICATIONS)

Getter = Callable[[Any], Any]
Test = Callable[[Any], bool]


# ------------------------------------------------------------------------------------- comparisons

def _ordered(v: Any, operand: Any) -> tuple[Any, Any] | None:
    a, b = _num(v), _num(operand)
    if a is not None and b is not None:
        return a, b
    ta, tb = parse_time(v, need_zone=False), parse_time(operand, need_zone=False)
    if ta is not None and tb is not None:
        return ta, tb
    return None


def blank(v: Any) -> bool:
    """For `exists`: blank as D-WB-2 says (`engine.evaluate.policy.is_blank`), or an empty list."""
    return is_blank(v) or (isinstance(v, (list, tuple)) and not v)


def make_test(op: str, operand: Any) -> Test:
    """A predicate over the looked-up value for one operator."""
    if op == "eq":
        if isinstance(operand, str):
            return lambda v: v == operand if isinstance(v, str) else (v is not None and equal(v, operand))
        return lambda v: equal(v, operand)
    if op in ("any", "in"):
        values = tuple(operand) if isinstance(operand, (list, tuple)) else (operand,)
        if all(isinstance(x, str) for x in values):
            fs = frozenset(values)
            return lambda v: v in fs if isinstance(v, str) else (v is not None and any(equal(v, x) for x in values))
        return lambda v: any(equal(v, x) for x in values)
    if op == "not":
        inner = make_test("any" if isinstance(operand, (list, tuple)) else "eq", operand)
        return lambda v: not inner(v)
    if op == "contains":
        def contains(v: Any) -> bool:
            if isinstance(v, (list, tuple)):
                return any(equal(x, operand) for x in v)
            if isinstance(v, str):
                return str(operand) in v
            return False
        return contains
    if op == "exists":
        want = bool(operand)
        return lambda v: (not blank(v)) is want
    if op in ("gt", "lt"):
        def compare(v: Any) -> bool:
            pair = _ordered(v, operand)
            if pair is None:
                return False
            return pair[0] > pair[1] if op == "gt" else pair[0] < pair[1]
        return compare
    raise ValueError(f"unknown operator {op!r}")


# ----------------------------------------------------------------------------------------- getters

def event_attr(ev: Any, name: str) -> Any:
    """``event.X``: the event's attribute X as the user wrote it (``at`` normalised to UTC ``Z``)."""
    if name == "at":
        return ev.at_text
    if name == "type":
        return ev.type
    if name == "id":
        return ev.id
    if name == "in_thread":
        return ev.in_thread
    if name == "sequence_active":
        return ev.sequence_active
    if name == "sequence_status":
        return ev.sequence_status
    return ev.raw.get(name) if ev.raw else None


def _sub(mapping: Any, name: str) -> Any:
    return mapping.get(name) if mapping else None


def make_getter(key: str) -> Getter:
    """The value a condition key looks at, as a function of the evaluation context."""
    if key == "sequence_status":
        return lambda c: c.event.sequence_status
    if key == "reply_classification":
        return lambda c: c.event.classification
    if key == "sequence":
        return lambda c: c.event.sequence
    if key == "event":
        return lambda c: c.event.type
    root, _, rest = key.partition(".")
    if root in ("contact", "person") and rest:
        return lambda c: c.contact_value(rest)
    if root == "event" and rest:
        return lambda c: event_attr(c.event, rest)
    if root == "reply" and rest:
        return lambda c: _sub(c.event.reply, rest)
    if root == "message" and rest:
        return lambda c: _sub(c.event.message, rest)
    raise ValueError(f"unknown condition key {key!r}")


# D-VOC-1/2: the condition keys whose value is a sequence status or a reply classification, however
# the Play names the attribute; an unknown run-time value makes every condition on them false.
VOCAB_KEYS: dict[str, frozenset[str]] = {**dict.fromkeys(STATUS_KEYS, _STATUS_SET),
                                         **dict.fromkeys(CLASSIFICATION_KEYS, _CLASS_SET)}


def unknown_vocab(key: str, v: Any) -> bool:
    """Whether `v`, the value of condition key `key`, is a status or classification outside the
    vocabulary (D-VOC-1/2): then no condition on it holds, negated or not; only `default` takes it."""
    vocab = VOCAB_KEYS.get(key)
    return vocab is not None and v is not None and v not in vocab


def compile_condition(cond: Condition) -> Callable[[Any], bool]:
    """One condition -> ``fn(ctx) -> bool``."""
    get = make_getter(cond.key)
    test = make_test(cond.op, cond.value)
    vocab = VOCAB_KEYS.get(cond.key)
    if vocab is not None:
        def guarded(c: Any) -> bool:
            v = get(c)
            if v is not None and v not in vocab:
                return False  # D-VOC-1/2: an unknown value matches no `when`
            return test(v)
        return guarded
    return lambda c: test(get(c))


def compile_when(conds: tuple[Condition, ...]) -> Callable[[Any], bool]:
    """A whole `when` (AND of its entries) -> ``fn(ctx) -> bool``."""
    fns = tuple(compile_condition(c) for c in conds)
    if not fns:
        return lambda c: True
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        a, b = fns
        return lambda c: a(c) and b(c)
    return lambda c: all(f(c) for f in fns)


def evaluate(cond: Condition, ctx: Any) -> bool:
    """Interpret one condition without compiling it (the reference, and the bench's baseline)."""
    v = make_getter(cond.key)(ctx)
    if unknown_vocab(cond.key, v):
        return False
    return make_test(cond.op, cond.value)(v)
