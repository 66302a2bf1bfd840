"""`plays test [PATH ...]`: run the Play tests (``*.test.yaml``, play-language.md §7).

Prints one line per test (``PASSED file::name`` / ``FAILED file::name`` with a readable diff of
expected vs actual under it), then exactly ``N passed, N failed``. Exit 0 when all pass, 1 when a
test fails or the files have errors (diagnostics on stderr), 2 for a missing path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from cli import report
from cli.plan_cmd import read_audiences
from engine.diagnostics import Severity
from engine.playtest import run_test
from engine.workspace import PathNotFound, load_workspace


def _line(stream, style: str, text: str, tty: bool) -> None:
    if tty:
        from rich.console import Console
        from rich.markup import escape

        Console(file=stream, highlight=False, soft_wrap=True).print(f"[{style}]{escape(text)}[/{style}]")
    else:
        stream.write(text + "\n")


def test_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Test files or folders (default: plays/)."),
) -> None:
    """Run the Play tests: pytest-like summary `N passed, N failed`."""
    try:
        ws = load_workspace(list(paths) if paths else ["plays/"])
    except PathNotFound as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)
    errors = [d for d in ws.diagnostics if d.severity == Severity.ERROR]
    if errors:
        report.print_text(errors, ws.files, stream=sys.stderr)
    audiences, aud_diags = read_audiences(ws.plays)
    if aud_diags:
        report.print_text(aud_diags, 0, stream=sys.stderr, with_summary=False)
    tty = report._is_tty(sys.stdout)
    passed = failed = 0
    overrides: dict[str, tuple] = {}
    for doc, data in ws.tests:
        integration, crm_objects = ws.integration, ws.crm_objects
        if data.get("integration"):
            path = str(Path(doc.file).parent / data["integration"])
            if path not in overrides:
                try:
                    other = load_workspace([path])
                    overrides[path] = (other.integration, other.crm_objects, other.diagnostics)
                except PathNotFound:
                    overrides[path] = (None, None, [])
            integration, crm_objects, diags = overrides[path]
            if integration is None or any(d.severity == Severity.ERROR for d in diags):
                failed += 1
                _line(sys.stdout, "red", f"FAILED {doc.file}::{data.get('test')}", tty)
                sys.stdout.write(f"    integration '{data['integration']}' is missing or has errors\n")
                continue
        outcome = run_test(doc, data, ws.plays, integration, crm_objects, audiences)
        if outcome.passed:
            passed += 1
            _line(sys.stdout, "green", f"PASSED {outcome.id}", tty)
        else:
            failed += 1
            _line(sys.stdout, "red", f"FAILED {outcome.id}", tty)
            for p in outcome.problems:
                sys.stdout.write(f"    {p}\n")
    summary = f"{passed} passed, {failed} failed"
    _line(sys.stdout, "red" if failed else "green", summary, tty)
    sys.stdout.flush()
    raise typer.Exit(1 if failed or errors else 0)


def register(app: typer.Typer) -> None:
    app.command("test")(test_cmd)
