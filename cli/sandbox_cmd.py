"""`plays sandbox`: run the sandbox CRM (Salesforce REST + HubSpot CRM API on loopback) alone.

Prints one JSON line with what a client needs (`salesforce.instance_url/session_id/ca_file`,
`hubspot.host/access_token/ca_file`, `admin`), then serves until Ctrl-C. Exit 2 on a setup
problem (unreadable seed, bad fault spec, port in use).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer


def sandbox(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0 = any free port)."),
    seed: Optional[Path] = typer.Option(None, "--seed", help="CRM state file (JSON: {\"salesforce\": "
                                        "{\"Lead\": [...]}, \"hubspot\": {\"contacts\": [...]}}) to start from; replaces any --db records."),
    db: Optional[Path] = typer.Option(None, "--db", help="SQLite file that keeps the records "
                                      "across restarts (default: memory only)."),
    faults: Optional[str] = typer.Option(None, "--faults", help="Faults on demand: JSON, @FILE, "
                                         "or 'k=v,...' e.g. '429=0.1,503=0.05,seed=7' (kinds: "
                                         "429 503 403 slow drop expired_session reject)."),
) -> None:
    """Run the sandbox CRM alone and print its connection info as one JSON line.

    Salesforce: /services/data/vXX.X/ ; HubSpot: /crm/v3/ and /crm/v4/ (one TLS port, trust ca_file).
    Admin: GET /_sandbox/state | requests | counters | faults ; POST /_sandbox/state | faults.
    Runs until Ctrl-C.
    """
    from sandbox.faults import FaultSpecError, parse_spec
    from sandbox.server import start_sandbox

    state = None
    if seed is not None:
        try:
            state = json.loads(seed.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"error: cannot read seed {seed}: {exc}\n")
            raise typer.Exit(2)
    try:
        spec = parse_spec(faults) if faults else None
    except (FaultSpecError, OSError) as exc:
        sys.stderr.write(f"error: --faults: {exc}\n")
        raise typer.Exit(2)
    try:
        handle = start_sandbox(seed=state, port=port, db=str(db) if db else None, faults=spec)
    except OSError as exc:
        sys.stderr.write(f"error: cannot start the sandbox on port {port}: {exc}\n")
        raise typer.Exit(2)
    sys.stdout.write(json.dumps(handle.info) + "\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
