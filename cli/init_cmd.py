"""`plays init [DIR]`: a new workspace a team can commit, green as created.

Writes ``plays/`` (a commented ``integration.yaml``, one example Play and its test, ``crm/`` field
snapshots), ``schemas/`` (the JSON Schemas, the Play schema knowing the snapshot's fields),
``.vscode/settings.json`` (schemas associated by glob), ``.pre-commit-config.yaml`` (the
``plays-validate`` and ``plays-test`` hooks), ``.github/workflows/plays.yml`` (validate with
annotations, test with JUnit XML), ``.gitignore`` and a short ``README.md``.

The snapshots are placeholders copied from the packaged example workspace; when a CRM's credentials
are in the environment (or ``--sandbox-info`` names a sandbox) they are pulled with
`plays crm pull-schema` instead, and ``schemas/`` is written from what was pulled. Nothing is ever
overwritten: when any target exists, nothing is written and the existing files are named (exit 2).
Templates are package data (``cli/init_templates``), not read from a checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

import typer

from cli.packaged import examples_dir, templates_dir

# template file -> where it goes in the workspace
TEMPLATES = {
    "integration.yaml": "plays/integration.yaml",
    "example.play.yaml": "plays/promising-reply.play.yaml",
    "example.test.yaml": "plays/promising-reply.test.yaml",
    "vscode-settings.json": ".vscode/settings.json",
    "pre-commit-config.yaml": ".pre-commit-config.yaml",
    "github-workflow.yml": ".github/workflows/plays.yml",
    "gitignore": ".gitignore",
    "README.md": "README.md",
}
SNAPSHOTS = {"salesforce": "plays/crm/salesforce.describe.json", "hubspot": "plays/crm/hubspot.properties.json"}
SCHEMA_FILES = ("play.schema.json", "integration.schema.json", "playtest.schema.json", "event.schema.json")
# The environment a CRM's pull needs (the ${ENV} references of the template integration.yaml).
CREDENTIALS = {"salesforce": ("SF_INSTANCE_URL", "SF_SESSION_ID"), "hubspot": ("HUBSPOT_TOKEN",)}


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def _version() -> str:
    try:
        return metadata.version("plays")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


def planned_files() -> dict[str, str]:
    """Workspace-relative path -> text, for everything but ``schemas/`` (written from the snapshots)."""
    tpl, ex = templates_dir(), examples_dir()
    files = {dest: (tpl / name).read_text(encoding="utf-8") for name, dest in TEMPLATES.items()}
    wf = TEMPLATES["github-workflow.yml"]
    files[wf] = files[wf].replace("@PLAYS_VERSION@", _version())
    for crm, dest in SNAPSHOTS.items():
        files[dest] = (ex / "crm" / Path(dest).name).read_text(encoding="utf-8")
    return files


def _pull(root: Path, crms: list[str], sandbox_info: Optional[str]) -> bool:
    """`plays crm pull-schema` for these CRMs into the new workspace; False (and its message) on failure."""
    args = [sys.executable, "-m", "cli", "crm", "pull-schema", "--plays", str(root / "plays")]
    for crm in crms:
        args += ["--crm", crm]
    if sandbox_info:
        args += ["--sandbox-info", sandbox_info]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.stderr.write("warning: kept the placeholder snapshots for what could not be pulled\n")
    return done.returncode == 0


def _write_schemas(root: Path) -> None:
    from cli.schema_cmd import write_schemas
    from engine.language.metadata import hubspot_objects, salesforce_objects

    sf = json.loads((root / SNAPSHOTS["salesforce"]).read_text(encoding="utf-8"))
    hs = json.loads((root / SNAPSHOTS["hubspot"]).read_text(encoding="utf-8"))
    write_schemas(root / "schemas", {"salesforce": salesforce_objects(sf), "hubspot": hubspot_objects(hs)})


def init_cmd(
    directory: Path = typer.Argument(Path("."), help="Folder of the new workspace (created if missing)."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info", help="Pull the CRM snapshots from a "
                                               "running `plays sandbox` (its info JSON, or a file holding it)."),
    pull: bool = typer.Option(True, "--pull/--no-pull", help="Pull the CRM snapshots with `plays crm "
                              "pull-schema` when the credentials are set (SF_INSTANCE_URL + SF_SESSION_ID, "
                              "HUBSPOT_TOKEN); --no-pull keeps the placeholders."),
) -> None:
    """Start a workspace a team can commit: Plays, a test, CRM snapshots, editor, pre-commit and CI set-up."""
    root = directory
    if root.exists() and not root.is_dir():
        _fail(f"{root} is a file, not a folder")
    files = planned_files()
    targets = [*files, *(f"schemas/{n}" for n in SCHEMA_FILES)]
    existing = sorted(t for t in targets if (root / t).exists())
    if existing:
        _fail(f"not overwriting existing files in {root}: {', '.join(existing)} "
              "(move them away, or choose another folder)")
    try:
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write into {root}: {exc.strerror or exc}")
    pulled = [crm for crm, names in CREDENTIALS.items() if all(os.environ.get(n) for n in names)]
    if sandbox_info:
        pulled = list(CREDENTIALS)
    if pull and pulled:
        _pull(root, pulled, sandbox_info)
    _write_schemas(root)
    written = sorted([*files, *(f"schemas/{n}" for n in SCHEMA_FILES)])
    for rel in written:
        sys.stdout.write(f"created {root / rel}\n")
    source = "pulled from your CRM" if pull and pulled else \
        "placeholders: run `plays crm pull-schema` with your credentials, then `plays schema --workspace`"
    sys.stdout.write(
        f"\nA new Plays workspace in {root} (CRM snapshots: {source}).\n"
        f"Next: cd {root} && plays validate && plays test   (then git init, commit, push)\n")


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)
