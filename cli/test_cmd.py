"""`plays test [PATH ...]`: run the Play tests (``*.test.yaml``).

Prints one line per test (``PASSED file::name`` / ``FAILED file::name`` with a readable diff of
expected vs actual under it, each failed expectation named by its ``FILE:LINE``), then exactly
``N passed, N failed`` as the last line. ``--junit-xml FILE`` also writes a JUnit XML report. A PATH is a
folder (its tests), a test file (that test; the Plays and integration.yaml of its folder are
loaded), or a Play file (the tests of that Play in its folder).

Exit codes, as pytest users expect them: 0 every test passed; 1 a test failed, or the files have
errors (diagnostics on stderr; a test file that cannot be run counts as failed); 2 a missing path,
or no tests at all (``0 passed, 0 failed`` on stdout and the reason on stderr: like pytest's
"no tests ran", an empty run is not a success, so a CI job pointed at the wrong folder fails).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from cli import formats, report
from engine.diagnostics import Severity
from engine.evaluate.playtest import expectation_path, run_test
from engine.run import plan_on_state
from engine.language.schema_check import SchemasMissing
from engine.workspace import (INTEGRATION_NAMES, PLAY_SUFFIXES, TEST_SUFFIXES, PathNotFound, Workspace, load_workspace,
                              read_audiences, integration_for_test)


def _line(stream, style: str, text: str, tty: bool) -> None:
    if tty:
        from rich.console import Console
        from rich.markup import escape

        Console(file=stream, highlight=False, soft_wrap=True).print(f"[{style}]{escape(text)}[/{style}]")
    else:
        stream.write(text + "\n")


def _is_test(name: str) -> bool:
    return name.lower().endswith(TEST_SUFFIXES)


class NotATest(Exception):
    """A file given to `plays test` that is neither a test, a Play nor integration.yaml (exit 2)."""


class _Selection:
    """Which test files the given paths ask for, and the folders to load for them."""

    def __init__(self, paths: list[str]):
        self.roots: list[str] = []
        self.dirs: list[Path] = []
        self.files: set[Path] = set()
        self.play_files: set[Path] = set()
        for given in paths:
            p = Path(given)
            if not p.exists():
                raise PathNotFound(given)
            if p.is_dir():
                self.roots.append(given)
                self.dirs.append(p.resolve())
                continue
            parent = os.path.dirname(given) or "."
            self.roots.append(parent)  # a test needs the Plays and integration.yaml beside it
            if _is_test(p.name):
                self.files.add(p.resolve())
            elif p.name.lower().endswith(PLAY_SUFFIXES):
                self.play_files.add(p.resolve())
            elif p.name.lower() in INTEGRATION_NAMES:
                self.dirs.append(Path(parent).resolve())
            else:
                raise NotATest(given)

    def play_ids(self, ws: Workspace) -> set[str]:
        """Ids of the Play files named (the file's stem when it cannot be built)."""
        ids = set()
        for real in self.play_files:
            play = next((pl for disp, pl in ws.built.items() if Path(disp).resolve() == real), None)
            ids.add(play.id if play is not None else real.name.split(".")[0])
        return ids

    def wants(self, file: str, play_id: object, play_ids: set[str]) -> bool:
        real = Path(file).resolve()
        if real in self.files or (isinstance(play_id, str) and play_id in play_ids):
            return True
        return any(real.is_relative_to(d) for d in self.dirs)


def _located(doc, problems: list[str]) -> list[str]:
    """Problem lines, each failed expectation prefixed with its ``FILE:LINE:`` in the test file."""
    out = []
    for p in problems:
        path = expectation_path(p)
        out.append(f"{doc.file}:{doc.pos(path)[0]}: {p}" if path else p)
    return out


def test_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Test files, Play files or folders (default: plays/)."),
    junit_xml: Optional[str] = typer.Option(None, "--junit-xml", help="Also write a JUnit XML report here "
                                            "(for CI test views)."),
) -> None:
    """Run the Play tests: pytest-like summary `N passed, N failed`.

    A failure names the FILE:LINE of the expectation that failed. Writing tests: docs/first-play.md."""
    given = list(paths) if paths else ["plays/"]
    try:
        sel = _Selection(given)
        ws = load_workspace(sel.roots)
    except (PathNotFound, SchemasMissing) as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)
    except NotATest as exc:
        sys.stderr.write(f"error: {exc} is not a Play test (*.test.yaml), a Play or a folder\n")
        raise typer.Exit(2)
    play_ids = sel.play_ids(ws)
    tests = [(doc, data) for doc, data in ws.tests if sel.wants(doc.file, data.get("play"), play_ids)]
    run_files = {doc.file for doc, _ in tests}
    # Problems of test files not asked for are not this run's business; Plays and integration's are.
    # A run test's own `crm` problems (CRMSTATE) are reported once, under its FAILED line.
    diags = [d for d in ws.diagnostics
             if (not _is_test(d.file) or d.file in run_files or sel.wants(d.file, None, set()))
             and not (d.file in run_files and d.code.startswith("CRMSTATE"))]
    errors = [d for d in diags if d.severity == Severity.ERROR]
    if errors:
        report.print_text(errors, ws.files, stream=sys.stderr)
    broken = sorted({d.file for d in errors if _is_test(d.file) and d.file not in run_files})
    audiences, aud_diags = read_audiences(ws.plays, ws.play_docs)
    if aud_diags:
        report.print_text(aud_diags, 0, stream=sys.stderr, with_summary=False)
    tty = report._is_tty(sys.stdout)
    passed = failed = 0
    work = [(doc.file, doc, data) for doc, data in tests] + [(file, None, None) for file in broken]
    overrides: dict[str, tuple] = {}
    cases: list[dict] = []
    for file, doc, data in sorted(work, key=lambda w: w[0]):
        if doc is None:
            failed += 1
            _line(sys.stdout, "red", f"FAILED {file}", tty)
            sys.stdout.write("    not run: the file has errors (shown on stderr; `plays validate` lists them)\n")
            first = next((d for d in errors if d.file == file), None)
            cases.append({"file": file, "name": Path(file).name, "line": first.line if first else 1, "passed": False,
                          "message": first.format() if first else "the file has errors",
                          "problems": [d.format() for d in errors if d.file == file]})
            continue
        integration, crm_objects, _ = integration_for_test(ws, doc, data, overrides)
        if integration is None:
            failed += 1
            _line(sys.stdout, "red", f"FAILED {doc.file}::{data.get('test')}", tty)
            where = f"{doc.file}:{doc.pos(('integration',))[0]}"
            sys.stdout.write(f"    {where}: integration '{data['integration']}' is missing or has errors\n")
            cases.append({"file": doc.file, "name": str(data.get("test")), "line": doc.pos(("test",))[0],
                          "passed": False, "problems": [], "message":
                          f"{where}: integration '{data['integration']}' is missing or has errors"})
            continue
        outcome = run_test(doc, data, ws.plays, integration, crm_objects, audiences, planner=plan_on_state)
        problems = _located(doc, outcome.problems)
        cases.append({"file": outcome.file, "name": outcome.name, "line": outcome.line, "passed": outcome.passed,
                      "problems": problems, "message": next((p for p in problems if not p.startswith(" ")), None)})
        if outcome.passed:
            passed += 1
            _line(sys.stdout, "green", f"PASSED {outcome.id}", tty)
        else:
            failed += 1
            _line(sys.stdout, "red", f"FAILED {outcome.id}", tty)
            for p in problems:
                sys.stdout.write(f"    {p}\n")
    if junit_xml:
        try:
            Path(junit_xml).parent.mkdir(parents=True, exist_ok=True)
            Path(junit_xml).write_text(formats.junit_xml(cases), encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"error: cannot write --junit-xml {junit_xml}: {exc.strerror}\n")
            raise typer.Exit(2)
    summary = f"{passed} passed, {failed} failed"
    _line(sys.stdout, "red" if failed else "green" if passed else "yellow", summary, tty)
    sys.stdout.flush()
    if not passed and not failed:
        sys.stderr.write(f"error: no Play tests (*.test.yaml) in {', '.join(given)}\n")
        raise typer.Exit(2)
    raise typer.Exit(1 if failed or errors else 0)


def register(app: typer.Typer) -> None:
    app.command("test")(test_cmd)
