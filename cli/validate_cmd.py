"""`plays validate [PATH ...]`: schema, graph, vocabulary, template and field checks, offline.

Diagnostics go to stdout (they are the output), then a summary line; ``--format json`` prints one
JSON document instead. Exit 0 clean, 1 errors (warnings too with ``--strict``), 2 a missing path or
a broken installation (the JSON Schemas not found: never a silent "0 errors").
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from cli import report
from engine.language.schema_check import SchemasMissing
from engine.workspace import PathNotFound, load_workspace


class Format(str, Enum):
    text = "text"
    json = "json"


def validate(
    paths: Optional[List[str]] = typer.Argument(None, help="Files or folders (default: plays/)."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text or json."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the exit code too."),
) -> None:
    """Check Play, integration and test files: schema, graph, vocabulary, templates and CRM fields."""
    try:
        ws = load_workspace(list(paths) if paths else ["plays/"])
    except PathNotFound as exc:
        sys.stderr.write(f"error: {exc} (plays validate takes Play files or folders)\n")
        raise typer.Exit(2)
    except SchemasMissing as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)
    if format == Format.json:
        report.print_json(ws.diagnostics, ws.files)
    else:
        report.print_text(ws.diagnostics, ws.files)
    raise typer.Exit(report.exit_code(ws.diagnostics, strict))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
