"""The `plays` command: one Typer app; each command lives in its own `cli/*_cmd.py` module with a
`register(app)` function. Parsing and printing only; the work is done by engine / flows / sandbox.
Prefect is imported only inside the commands that run flows, so `plays validate` starts fast.

`plays --version` prints the installed version; `--install-completion` / `--show-completion` set up
shell completion (Typer's, for bash, zsh, fish and PowerShell)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Optional

import typer

app = typer.Typer(
    name="plays",
    help="Plays: RevOps Plays as YAML graphs — validate, dry-run (plan), test and sync to Salesforce/HubSpot.\n\n"
         "New here? docs/first-play.md walks through a first Play; docs/rules.md explains every rule id "
         "(D-WB-2, ...) that messages cite; docs/reference.md lists every key of the language.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def version() -> str:
    """The installed version of the `plays` package (the source tree's when not installed)."""
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("plays")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"plays {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Optional[bool] = typer.Option(None, "--version", callback=_show_version, is_eager=True,
                                                help="Print the installed version and exit."),
) -> None:
    """The root options; each command is registered by its module."""
    _escape_surrogates()


def _escape_surrogates() -> None:
    """Text from events and CRM states may hold lone surrogates ("\\ud800" in JSON): printed as
    escapes, never a UnicodeEncodeError (D-OPS-3). In JSON output the escape is valid JSON."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream already written to in another mode
                pass


COMMAND_MODULES = (
    "cli.validate_cmd",
    "cli.graph_cmd",
    "cli.plan_cmd",
    "cli.test_cmd",
    "cli.sandbox_cmd",
    "cli.crm_cmd",
    "cli.run_cmd",
    "cli.serve_cmd",
    "cli.status_cmd",
    "cli.backfill_cmd",
    "cli.schema_cmd",
    "cli.init_cmd",
    "cli.docs_cmd",
)

for _name in COMMAND_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name).register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
