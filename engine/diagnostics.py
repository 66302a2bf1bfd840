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
        text = f"{self.file}:{self.line}:{self.col}: {self.severity} {self.code} {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_json(self) -> dict:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return {k: data[k] for k in ("code", "severity", "file", "line", "col", "message", "hint")}


def error(code: str, file: str, pos: tuple[int, int], message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, file, pos[0], pos[1], message, hint)


def warning(code: str, file: str, pos: tuple[int, int], message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, file, pos[0], pos[1], message, hint)


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest choice (case-insensitive first), or None."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    key = str(value).strip().lower()
    if key in lowered:
        return f"did you mean '{lowered[key]}'?"
    squashed = {c.lower().replace(":", "").replace(" ", "").replace("/", ""): c for c in choices}
    skey = key.replace(":", "").replace(" ", "").replace("/", "")
    if skey in squashed:
        return f"did you mean '{squashed[skey]}'?"
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{lowered[close[0]]}'?"
    return None


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
