"""The `plays` command: one Typer app; each command lives in its own `cli/*_cmd.py` module with a
`register(app)` function. Parsing and printing only; the work is done by engine / flows / sandbox.
Prefect is imported only inside the commands that run flows, so `plays validate` starts fast."""

from __future__ import annotations

import importlib
import importlib.util

import typer

app = typer.Typer(
    name="plays",
    help="Plays: RevOps Plays as YAML graphs — validate, dry-run (plan), test and sync to Salesforce/HubSpot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = (
    "cli.validate_cmd",
    "cli.graph_cmd",
    "cli.plan_cmd",
    "cli.test_cmd",
    "cli.sandbox_cmd",
    "cli.crm_cmd",
    "cli.run_cmd",
    "cli.serve_cmd",
    "cli.backfill_cmd",
    "cli.docs_cmd",
)

for _name in COMMAND_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name).register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
