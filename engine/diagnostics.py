"""Diagnostics: every problem in user input becomes a coded value with a location and a hint.

Stages (loader, schema check, graph checks, field checks, ...) collect `Diagnostic`s instead of
raising; the CLI's reporter prints them as ``FILE:LINE:COL: SEVERITY CODE message (hint)`` or JSON.
The catalogue of codes lives in ``docs/diagnostics.md``.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Iterable


_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in one file, at a 1-based line and column."""

    code: str
    severity: Severity
    file: str
    line: int
    col: int
    message: str
    hint: str | None = None

    def format(self) -> str:
        """One line, always: control characters of user text (a newline in a key) are escaped."""
        text = f"{self.file}:{self.line}:{self.col}: {self.severity} {self.code} {self.message}"
        return (f"{text} ({self.hint})" if self.hint else text).translate(_ESCAPES)

    def to_json(self) -> dict:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return {k: data[k] for k in ("code", "severity", "file", "line", "col", "message", "hint")}


def error(code: str, file: str, pos: tuple[int, int], message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, file, pos[0], pos[1], message, hint)


def warning(code: str, file: str, pos: tuple[int, int], message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, file, pos[0], pos[1], message, hint)


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest choice (case-insensitive first), or None.

    For many questions against one long list, build a `Suggester` once instead."""
    return Suggester(choices).hint(value)


def _squash(text: str) -> str:
    return text.replace(":", "").replace(" ", "").replace("/", "")


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1:] for i in range(len(key))}


class Suggester:
    """`did_you_mean` against one list of choices, asked many times (a Play's 10,000 node ids).

    Up to `FULL_SCAN` choices every question compares against all of them (difflib); past that an
    index of one-character deletions finds the few choices within about two edits, and only those
    are compared, so a question costs the length of the value, not the length of the list."""

    FULL_SCAN = 500
    MAX_KEY = 64  # longer values and choices are not looked up by edits

    def __init__(self, choices: Iterable[str]):
        choices = [c for c in choices if isinstance(c, str)]
        self.lowered = {c.lower(): c for c in choices}
        self.squashed = {_squash(c.lower()): c for c in choices}
        self.keys = list(self.lowered)
        self.index: dict[str, list[str]] | None = None
        if len(self.keys) > self.FULL_SCAN:
            self.index = {}
            for k in self.keys:
                if len(k) <= self.MAX_KEY:
                    for v in _deletions(k) | {k}:
                        self.index.setdefault(v, []).append(k)

    def hint(self, value: object) -> str | None:
        key = str(value).strip().lower()
        if key in self.lowered:
            return f"did you mean '{self.lowered[key]}'?"
        skey = _squash(key)
        if skey in self.squashed:
            return f"did you mean '{self.squashed[skey]}'?"
        if self.index is None:
            pool = self.keys
        elif len(key) > self.MAX_KEY:
            return None
        else:
            found: set[str] = set()
            for v in _deletions(key) | {key}:
                found.update(self.index.get(v, ()))
            pool = sorted(found)[:200]
        close = difflib.get_close_matches(key, pool, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{self.lowered[close[0]]}'?"
        return None


def name_list(names: Iterable[str], most: int = 20) -> str:
    """``a, b, c`` — at most `most` names, then ``and N more`` (a hint stays short on a big Play)."""
    names = names if isinstance(names, (list, tuple)) else list(names)
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most:,} more"


def sort_key(d: Diagnostic) -> tuple:
    return (d.file, d.line, d.col, d.code, d.message)


def counts(diags: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = warnings = 0
    for d in diags:
        if d.severity == Severity.ERROR:
            errors += 1
        else:
            warnings += 1
    return errors, warnings
