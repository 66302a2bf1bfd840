"""`plays crm pull-schema`: write the field metadata snapshots named in integration.yaml
(`schema_file`, relative to the integration file's folder) from the live CRMs.

Salesforce: `{"Lead": describe, "Contact": describe}`; HubSpot: the `GET /crm/v3/properties/contacts`
result. Credentials come from the `${ENV}` references of integration.yaml; `--sandbox-info` (the JSON
line `plays sandbox` prints, or a file holding it) connects to a sandbox instead. Connection
problems print as one clear line each (D-SY-3); exit 0 when every snapshot was written, 2 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

crm_app = typer.Typer(name="crm", help="Talk to the configured CRMs (field metadata snapshots).",
                      no_args_is_help=True, add_completion=False)


def _sandbox_info(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    raw = text.strip()
    if not raw.startswith("{"):
        raw = Path(raw).read_text(encoding="utf-8")
    return json.loads(raw)


def pull_schema(
    plays: str = typer.Option("plays", "--plays", help="Folder (or file) whose integration.yaml names the snapshots."),
    crm: Optional[List[str]] = typer.Option(None, "--crm", help="Only this CRM (salesforce / hubspot); repeatable."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info",
                                               help="Connect to a sandbox: its info JSON, or a file holding it."),
) -> None:
    """Write the field metadata snapshots named in integration.yaml from the live CRM."""
    from engine.connectors.auth import connect, connect_info
    from engine.connectors.base import ConnectionProblem
    from engine.connectors.retry import Stop
    from engine.workspace import PathNotFound, load_workspace

    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)
    integration = ws.integration
    if not integration.file:
        sys.stderr.write(f"error: no integration.yaml found under {plays}\n")
        raise typer.Exit(2)
    try:
        info = _sandbox_info(sandbox_info)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: --sandbox-info: {exc}\n")
        raise typer.Exit(2)
    wanted = [c.lower() for c in crm] if crm else ["salesforce", "hubspot"]
    base = Path(integration.file).parent
    failed = written = 0
    for name in wanted:
        settings = integration.settings(name) if name in ("salesforce", "hubspot") else None
        if settings is None:
            if crm:
                sys.stderr.write(f"error: {name} is not configured in {integration.file}\n")
                failed += 1
            continue
        if not settings.schema_file:
            sys.stderr.write(f"warning: {name} has no schema_file in {integration.file}; nothing to write\n")
            continue
        conn = connect_info(settings, info[name]) if info else connect(settings)
        if isinstance(conn, ConnectionProblem):
            sys.stderr.write(f"error: {conn.format()}\n")
            failed += 1
            continue
        try:
            snapshot = conn.read_metadata()
        except Stop as stop:
            sys.stderr.write(f"error: {stop.stopped.format()}\n")
            failed += 1
            continue
        except Exception as exc:  # noqa: BLE001 - a CRM refusal becomes one clear line
            sys.stderr.write(f"error: {name}: cannot read field metadata: {exc}\n")
            failed += 1
            continue
        finally:
            conn.close()
        target = base / settings.schema_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(snapshot, indent=1) + "\n", encoding="utf-8")
        count = sum(len(d.get("fields", [])) for d in snapshot.values()) if name == "salesforce" \
            else len(snapshot.get("results", []))
        sys.stdout.write(f"{name}: wrote {target} ({count} fields)\n")
        written += 1
    raise typer.Exit(2 if failed or not written else 0)


crm_app.command("pull-schema")(pull_schema)


def register(app: typer.Typer) -> None:
    app.add_typer(crm_app, name="crm")
