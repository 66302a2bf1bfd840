"""`plays backfill --field F --since T`: the explicit historical backfill of one tracking field
(D-WB-8, D-HS-2). Orchestration and printing only; the figures and writes come from
`engine.evaluate.backfill` (pure), the reads and writes go through the connectors' public API.

Steps: load the Plays folder (integration.yaml), resolve F (BACKFILL001 when it is not a tracking
field: exit 1), read every stored event of the types F counts, compute the figures from T, read the
records of those contacts in the CRMs mapping F (same sync), plan the F-only writes and apply them
with `engine.run.write_plan` (re-checked at write time; F is owned, D-WB-1, so it is
written whatever the CRM holds; equal values are not sent). `--dry-run` reads but writes nothing.
Written fields are recorded in the store's audit log (node ``backfill``).

Exit codes: 0 done; 1 input error (Plays, an unknown or non-tracking field); 2 wrong usage or a
setup problem (bad --since, no CRM connection, the sync stopped).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, Optional

import typer

from cli import report
from cli.run_cmd import Crm, Format, _fail, _load_plays, _sandbox_info

SCAN = "~backfill"  # a consumer name no Play can have: never recorded, so its cursor stays at 0


def _since(value: str) -> int:
    from engine.evaluate.events import to_us

    try:
        return to_us(value)
    except ValueError:
        _fail(f"--since: not a date-time: {value!r} (e.g. 2026-10-01T00:00:00Z)")
    return 0


def _connect(integration: Any, crms: tuple[str, ...], crm: Crm, info: dict | None) -> dict[str, Any]:
    from engine.connectors.auth import connect, connect_info
    from engine.connectors.base import ConnectionProblem

    conns: dict[str, Any] = {}
    for name in crms:
        settings = integration.settings(name)
        if crm == Crm.sandbox:
            part = (info or {}).get(name)
            conn = (connect_info(settings, part) if part else
                    ConnectionProblem(name, "CONN005", f"the sandbox has no {name} connection info"))
        else:
            conn = connect(settings)
        if isinstance(conn, ConnectionProblem):
            _close(conns)
            _fail(conn.format())
        conns[name] = conn
    return conns


def _close(conns: dict[str, Any]) -> None:
    for c in conns.values():
        try:
            c.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def stored_events(store: Any, types: frozenset[str]) -> list[Any]:
    """Every stored event of these types (`StoredEvent`s: the store's whole log, read only)."""
    limit = max(1, store.event_count())
    return store.pending(SCAN, types, limit).events


def _read(conns: dict[str, Any], emails: list[str]) -> tuple[dict, dict]:
    """The records of `emails` and the field metadata, per CRM (one sync)."""
    from engine.connectors.retry import Rejected, Stop
    from engine.language.metadata import hubspot_objects, salesforce_objects

    state: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for crm, conn in conns.items():
        objects = ("Lead", "Contact") if crm == "salesforce" else ("contacts",)
        try:
            state[crm] = conn.read_records(emails, objects=objects) if emails else {}
            snap = conn.read_metadata(objects)
        except Stop as stop:
            _fail(stop.stopped.format())
        except Rejected as exc:
            _fail(f"{crm}: the CRM refused to read the records: {exc}")
        meta[crm] = salesforce_objects(snap) if crm == "salesforce" else hubspot_objects(snap)
    return state, meta


def _save_tracking(store: Any, stored: list[Any], integration: Any, target: Any, since_us: int) -> None:
    """Move F's slot of the runtime's stored tracking aggregates to the backfilled figure, counted
    over the events the tracking consumer has already taken (up to its cursor), so that it goes on
    from there instead of writing the forward-only figure back at the next event."""
    from engine.evaluate.backfill import tracking_patch
    from flows.consumers import BATCH

    upto = store.cursor(BATCH)
    counted = [e for e in stored if e.seq <= upto]
    if not counted:
        return
    emails = {e.email for e in counted if e.email}
    patch = tracking_patch(store.tracking(emails), [e.payload for e in counted], integration, target, since_us)
    if patch:
        store.save_tracking(patch, datetime.now(UTC))


def _unchanged(plan: Any) -> int:
    """Contacts whose record already holds the figure (neither written nor skipped)."""
    n = 0
    for crm, per in plan.figures.items():
        touched = {w.email for w in plan.writes if w.crm == crm}
        touched |= {s.email for s in plan.skipped if s.crm == crm and s.reason == "no_record"}
        n += len(set(per) - touched)
    return n


def _current(state: dict, w: Any, name: str) -> Any:
    key = "Id" if w.crm == "salesforce" else "id"
    for rec in (state.get(w.crm) or {}).get(w.object) or []:
        if str(rec.get(key)) == w.record:
            return rec.get(name) if w.crm == "salesforce" else (rec.get("properties") or {}).get(name)
    return None


def execute(plays: str, field: str, since: str, *, crm: Crm, sandbox_info: dict | None, db: str | None,
            dry_run: bool, fmt: Format) -> int:
    from engine.evaluate.backfill import narrowed, plan_backfill, resolve_field
    from engine.connectors.base import json_value
    from engine.diagnostics import Diagnostic
    from engine.results import Outcome
    from engine.run import write_plan
    from engine.store import Store

    since_us = _since(since)
    ws = _load_plays(plays)
    target = resolve_field(ws.integration, field)
    if isinstance(target, Diagnostic):
        report.print_text([target], 1, stream=sys.stderr)
        return 1
    store = Store(db or os.environ.get("PLAYS_DATABASE_URL") or None,
                  schema=os.environ.get("PLAYS_DATABASE_SCHEMA") or None)
    conns: dict[str, Any] = {}
    events: list[Any] = []
    rows: list[dict] = []
    stopped = None
    try:
        stored = stored_events(store, target.types)
        events = [e.payload for e in stored]
        conns = _connect(ws.integration, target.crms, crm, sandbox_info)
        from engine.evaluate.backfill import figures

        emails = sorted({e for per in figures(events, ws.integration, target, since_us).values() for e in per})
        state, meta = _read(conns, emails)
        plan = plan_backfill(events, ws.integration, target, since_us, state, meta)
        rows = [{"crm": w.crm, "object": w.object, "record": w.record, "email": w.email, "field": field,
                 "before": json_value(_current(state, w, field)), "after": json_value(w.fields[field])}
                for w in plan.writes]
        skipped = [s.to_json() for s in plan.skipped]
        unchanged = _unchanged(plan)
        stopped = None
        if not dry_run and plan.writes:
            res = write_plan(conns, Outcome(plan.writes, (), (), ()),
                             integration=narrowed(ws.integration, target, since_us), current=state)
            rows = [{"crm": w.crm, "object": w.object, "record": w.record, "email": w.email, "field": name,
                     "before": json_value(w.before.get(name)), "after": json_value(v)}
                    for w in res.written for name, v in w.fields.items()]
            skipped += [{"reason": s.reason, "crm": s.crm, "object": s.object, "record": s.record,
                         "email": s.email, "node": s.node, "field": s.field, "detail": s.detail}
                        for s in res.skipped]
            unchanged += len(res.unchanged)  # equal by the time of writing
            stopped = res.stopped
            now = datetime.now(UTC)
            store.record(now, run=f"backfill {field} since {since}",
                         audit=[{**r, "play": None, "node": "backfill", "op": "update"} for r in rows])
        if not dry_run and stopped is None:
            _save_tracking(store, stored, ws.integration, target, since_us)
    finally:
        if conns:  # D-RUN-5: the calls it made go to the store's ledger (`plays status`)
            from engine.connectors.budget import METER, ledger_rows

            store.record_calls(ledger_rows(METER.take(conns), consumer=f"backfill {field}", source="backfill",
                                           events=len(events), audit=[] if dry_run else rows, stopped=stopped),
                               datetime.now(UTC), run=f"backfill {field} since {since}")
        _close(conns)
        store.close()
    out = {"field": field, "since": since, "crms": list(target.crms), "dry_run": dry_run,
           "events": len(events), "contacts": sum(len(p) for p in plan.figures.values()),
           "writes": rows, "unchanged": unchanged, "skipped": skipped,
           "stopped": stopped.format() if stopped else None}
    if fmt == Format.json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    else:
        _print(out)
    if stopped:
        sys.stderr.write(f"error: {stopped.format()}\n")
        return 2
    return 0


def _print(out: dict) -> None:
    verb = "would be written" if out["dry_run"] else "written"
    lines = [f"Backfill of {out['field']} ({', '.join(out['crms'])}) from {out['since']}: "
             f"{out['events']} stored events of the kinds it counts, {out['contacts']} contacts with activity.",
             f"{len(out['writes'])} records {verb}, {out['unchanged']} unchanged, {len(out['skipped'])} skipped."]
    for r in out["writes"]:
        lines.append(f"  {r['crm']} {r['object']} {r['record']} ({r['email']})  {r['field']}: "
                     f"{r['before']!r} -> {r['after']!r}")
    for s in out["skipped"]:
        lines.append(f"  skipped {s['reason']}: {s.get('crm') or ''} {s.get('email') or s.get('record') or ''}  "
                     f"{s.get('detail') or ''}")
    if out["dry_run"]:
        lines.append("Dry run: nothing was written.")
    sys.stdout.write("\n".join(lines) + "\n")


def backfill_cmd(
    field: str = typer.Option(..., "--field", help="The CRM tracking field (integration.yaml tracking_fields "
                              "/ tracking_properties target), e.g. Unify_Click_Count__c."),
    since: str = typer.Option(..., "--since", help="Count activity at or after this time (ISO 8601)."),
    plays: str = typer.Option("plays", "--plays", help="Folder (or file) of Plays, with integration.yaml."),
    crm: Crm = typer.Option(Crm.live, "--crm", help="live: integration.yaml's ${ENV} credentials; "
                            "sandbox: a running sandbox (--sandbox-info or $PLAYS_SANDBOX_INFO)."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info", help="The JSON line `plays sandbox` "
                                               "printed, in a file."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be written; change nothing."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text or json."),
) -> None:
    """Backfill one tracking field from the stored events since T (D-WB-8: only on request)."""
    info = None
    if sandbox_info:
        info = _sandbox_info(sandbox_info)
        crm = Crm.sandbox
    elif crm == Crm.sandbox:
        from flows.runtime import RuntimeSettings

        info = RuntimeSettings.from_env().sandbox_info
        if not info:
            _fail("--crm sandbox needs --sandbox-info FILE (or PLAYS_SANDBOX_INFO) of a running sandbox")
    raise typer.Exit(execute(plays, field, since, crm=crm, sandbox_info=info, db=db, dry_run=dry_run, fmt=format))


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill_cmd)
