"""Template limits: the work budget of one render and the checks that keep every value a render
makes small (D-OPS-3). Used by `engine.language.templates`, whose sandbox calls them on every
operator, call, filter and loop iteration; `_Limit` is raised when a limit is reached and turned into
a `RenderFailed` value there. Multiplying operations are checked before they run, so a limit is hit
before the memory is taken; everything else is measured after, against the per-value and per-render
limits.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any, Iterator, Mapping

MAX_SOURCE_CHARS = 32_000
MAX_NESTING = 40
MAX_WORK = 10_000
MAX_OUTPUT_CHARS = 100_000
MAX_ALLOC_CHARS = 1_000_000
MAX_INT_BITS = 4_096
MAX_RANGE = 10_000
CHARS_PER_STEP = 20  # handling a value of n characters costs n / 20 steps besides the step itself

_REFUSED_METHODS = frozenset({"expandtabs", "translate"})
# Format widths of a million or more ('%0999999999d', '{:>999999999}'). Possessive quantifiers keep
# the search linear in the text (a nested `[^{}]*` pattern went quadratic on '{:1:1:1...').
_PERCENT_WIDE = re.compile(r"%[-#+ 0]*+(?:[1-9]\d{5,}|\d*+\.\d{6,})")
_BRACES = re.compile(r"\{([^{}]*+)")
_SIX_DIGITS = re.compile(r"\d{6}")


class _Wide:
    """`search(text)`: does `text` hold a format width of a million or more?"""

    @staticmethod
    def search(text: str) -> bool:
        if "%" in text and _PERCENT_WIDE.search(text):
            return True
        return "{" in text and any(_SIX_DIGITS.search(m.group(1).partition(":")[2]) for m in _BRACES.finditer(text))


_WIDE = _Wide()


class _Limit(Exception):
    """Raised inside a render when a limit is reached; `render` turns it into a RenderFailed."""


# --------------------------------------------------------------------------------- the work budget

_BUDGET: contextvars.ContextVar[list | None] = contextvars.ContextVar("plays_template_budget", default=None)


def _tick(steps: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget[0] -= steps
        if budget[0] < 0:
            raise _Limit(f"the template does more than {MAX_WORK:,} steps (loop iterations, calls, operations)")


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Characters `value` holds (strings, and the items of lists, tuples and dicts: one each plus
    their text), counted up to just past `limit`."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    if not isinstance(value, _CONTAINERS):
        return 1
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        total += len(v) * (2 if isinstance(v, dict) else 1)
        if total > limit:
            break
        for item in (list(v.keys()) + list(v.values())) if isinstance(v, dict) else v:
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, _CONTAINERS):
                stack.append(item)
    return total


def _made(value: Any) -> Any:
    """Account for a value a render made: its size against the per-value and per-render limits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise _Limit(f"a number of more than {MAX_INT_BITS:,} bits")
        return value
    size = _size(value)
    if size > MAX_OUTPUT_CHARS:
        raise _Limit(f"a value of more than {MAX_OUTPUT_CHARS:,} characters")
    budget = _BUDGET.get()
    if budget is not None and size > 16:
        _tick(size // CHARS_PER_STEP)
        budget[1] -= size
        if budget[1] < 0:
            raise _Limit(f"the template makes more than {MAX_ALLOC_CHARS:,} characters in all")
    return value


def _seq_len(v: Any) -> int | None:
    return len(v) if isinstance(v, (str, bytes, list, tuple)) else None


def _check_binop(op: str, left: Any, right: Any) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if op == "*":
        for seq, n in ((left, right), (right, left)):
            length = _seq_len(seq)
            if length is not None and is_int(n) and length * max(n, 0) > MAX_OUTPUT_CHARS:
                raise _Limit(f"repeating {length:,} items {n:,} times makes more than {MAX_OUTPUT_CHARS:,}")
        if is_int(left) and is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _Limit(f"a number of more than {MAX_INT_BITS:,} bits")
    elif op == "+":
        a, b = _seq_len(left), _seq_len(right)
        if a is not None and b is not None and a + b > MAX_OUTPUT_CHARS:
            raise _Limit(f"a value of more than {MAX_OUTPUT_CHARS:,} characters")
    elif op == "**":
        if is_int(left) and is_int(right) and abs(left) > 1 and right > 0 \
                and left.bit_length() * right > MAX_INT_BITS:
            raise _Limit(f"a power of more than {MAX_INT_BITS:,} bits")
    elif op == "%" and isinstance(left, str) and _WIDE.search(left):
        raise _Limit("a format width of a million characters or more")


def _check_args(fn: Any, args: tuple, kwargs: Mapping[str, Any], skip: int) -> None:
    """Refuse a call whose arguments would make it allocate past the limits before it runs. For a
    filter, ``args[skip - 1]`` is the value filtered; for a method, the object is ``fn.__self__``."""
    name = (getattr(fn, "__name__", "") or "").removeprefix("do_")
    if name in _REFUSED_METHODS:
        raise _Limit(f"'{name}' is not allowed in templates")
    extra = [v for k, v in kwargs.items() if not k.startswith("_")]
    rest = list(args[skip:]) + extra
    for v in rest:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_OUTPUT_CHARS:
            raise _Limit(f"the number {v if v.bit_length() < 64 else '(huge)'} is too large an argument "
                         f"(at most {MAX_OUTPUT_CHARS:,})")
        if _size(v) > MAX_OUTPUT_CHARS:
            raise _Limit(f"an argument of more than {MAX_OUTPUT_CHARS:,} characters")
    owner = getattr(fn, "__self__", None)
    subject = owner if isinstance(owner, str) else (args[skip - 1] if 0 < skip <= len(args) else None)
    if any(isinstance(t, str) and _WIDE.search(t) for t in rest + [subject]):
        raise _Limit("a format width of a million characters or more")
    if name == "replace" and subject is not None and len(rest) >= 2:
        text, old, new = str(subject), str(rest[0]), str(rest[1])
        grow = (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
        if len(text) + grow > MAX_OUTPUT_CHARS:
            raise _Limit(f"replace would make more than {MAX_OUTPUT_CHARS:,} characters")
    elif name in ("wordwrap", "indent") and isinstance(subject, str):
        pad = sum(len(v) if isinstance(v, str) else v if isinstance(v, int) and not isinstance(v, bool) else 0
                  for v in rest)
        lines = (len(subject) if name == "wordwrap" else subject.count("\n")) + 1
        if len(subject) + lines * pad > MAX_OUTPUT_CHARS:
            raise _Limit(f"{name} would make more than {MAX_OUTPUT_CHARS:,} characters")


def _range(*args: Any) -> Iterator[int]:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise _Limit(f"a range of more than {MAX_RANGE:,} numbers")
    return iter(r)
