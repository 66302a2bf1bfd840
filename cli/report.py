"""Diagnostic printing for every command: text (one ``FILE:LINE:COL: SEVERITY CODE message (hint)``
line each, then a summary line) or one JSON document, exactly as ``cli.md`` specifies.

Colour (Rich) only when the stream is a terminal; otherwise plain text, so goldens stay stable.
"""

from __future__ import annotations

import json
import sys
from typing import Iterable, TextIO

from engine.diagnostics import Diagnostic, Severity, counts


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(files: int, errors: int, warnings: int) -> str:
    """``3 files checked: 1 error, 0 warnings``."""
    return f"{_plural(files, 'file')} checked: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def to_json(files: int, diagnostics: list[Diagnostic]) -> str:
    errors, warnings = counts(diagnostics)
    doc = {"files": files, "errors": errors, "warnings": warnings,
           "diagnostics": [d.to_json() for d in diagnostics]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_text(diagnostics: Iterable[Diagnostic], files: int, stream: TextIO | None = None,
               with_summary: bool = True) -> None:
    """Print diagnostics one a line, then the summary line; coloured only on a terminal."""
    stream = stream or sys.stdout
    diagnostics = list(diagnostics)
    errors, warnings = counts(diagnostics)
    if is_tty(stream):
        from rich.console import Console
        from rich.markup import escape

        console = Console(file=stream, highlight=False, soft_wrap=True)
        for d in diagnostics:
            colour = "red" if d.severity == Severity.ERROR else "yellow"
            text = f"[bold]{escape(d.file)}:{d.line}:{d.col}:[/bold] [{colour}]{d.severity} {d.code}[/{colour}] " \
                   f"{escape(d.message)}"
            if d.hint:
                text += f" [dim]({escape(d.hint)})[/dim]"
            console.print(text)
        if with_summary:
            style = "red" if errors else "yellow" if warnings else "green"
            console.print(f"[{style}]{escape(summary(files, errors, warnings))}[/{style}]")
        return
    for d in diagnostics:
        stream.write(d.format() + "\n")
    if with_summary:
        stream.write(summary(files, errors, warnings) + "\n")
    stream.flush()


def print_json(diagnostics: list[Diagnostic], files: int, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(to_json(files, diagnostics) + "\n")
    stream.flush()


def exit_code(diagnostics: Iterable[Diagnostic], strict: bool = False) -> int:
    """0 clean, 1 errors (or warnings with --strict)."""
    errors, warnings = counts(diagnostics)
    return 1 if errors or (strict and warnings) else 0


_is_tty = is_tty  # kept for callers that used the private name
