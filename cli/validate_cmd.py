"""`plays validate [PATH ...]`: schema, graph, vocabulary, template and field checks, offline.

Diagnostics go to stdout (they are the output), then a summary line; ``--format json`` prints one
JSON document instead, ``github`` GitHub Actions annotations, ``sarif`` a SARIF 2.1.0 log
(`cli.formats`). Exit 0 clean, 1 errors (warnings too with ``--strict``) or no Play file found (a
CI job pointed at the wrong folder must not pass), 2 a missing path or a broken installation (the
JSON Schemas not found: never a silent "0 errors").
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from cli import formats, report
from engine.language.schema_check import SchemasMissing
from engine.workspace import PathNotFound, discover, load_workspace


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


def validate(
    paths: Optional[List[str]] = typer.Argument(None, help="Files or folders (default: plays/)."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text, json, github (GitHub Actions annotations) or sarif (SARIF 2.1.0 for code scanning)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the exit code too."),
) -> None:
    """Check Play, integration and test files: schema, graph, vocabulary, templates and CRM fields.

    Each problem: FILE:LINE:COL: SEVERITY CODE message (hint). Codes: docs/diagnostics.md.

    Rule ids (D-WB-2, ...): docs/rules.md. Every key of the language: docs/reference.md."""
    given = list(paths) if paths else ["plays/"]
    try:
        ws = load_workspace(given)
    except PathNotFound as exc:
        sys.stderr.write(f"error: {exc} (plays validate takes Play files or folders)\n")
        raise typer.Exit(2)
    except SchemasMissing as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)
    if format == Format.json:
        report.print_json(ws.diagnostics, ws.files)
    elif format == Format.github:
        formats.print_github(ws.diagnostics, ws.files, sys.stdout)
    elif format == Format.sarif:
        from cli.main import version

        formats.print_sarif(ws.diagnostics, version(), sys.stdout)
    else:
        report.print_text(ws.diagnostics, ws.files)
    if not any(f.kind == "play" for f in discover(given)):
        sys.stderr.write(f"error: no Play files (*.play.yaml) in {', '.join(given)}: nothing was validated\n")
        raise typer.Exit(1)
    raise typer.Exit(report.exit_code(ws.diagnostics, strict))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
