"""The `plays` command: one Typer app; each command lives in its own `cli/*_cmd.py` module with a
`register(app)` function. Parsing and printing only; the work is done by engine / flows / sandbox.
Prefect is imported only inside the commands that run flows, so `plays validate` starts fast."""

from __future__ import annotations

import importlib
import importlib.util
import sys

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
)



@app.callback()
def _output_never_fails() -> None:
    """Text from events and CRM states may hold lone surrogates ("\\ud800" in JSON): printed as
    escapes, never a UnicodeEncodeError (D-OPS-3). In JSON output the escape is valid JSON."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream already written to in another mode
                pass


for _name in COMMAND_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name).register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
