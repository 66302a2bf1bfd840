"""`plays status`: what the runtime has done and where it stands, read from the store alone (no
CRM call, nothing changed): events ingested and pending, whether the work is parked and why, the
one-writer lease's holder (D-RUN-4), and per CRM the API calls made today by kind and per batch
against the day's usage the CRM last reported and this engine's budget (D-RUN-5). Parsing and
printing only: the figures come from `engine.store.status.snapshot`.

Exit codes: 0 success; 2 wrong usage or no store to read.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import typer

from cli.run_cmd import Format


def _types(plays: str, given: bool) -> tuple[frozenset[str] | None, str | None]:
    """The event types the Plays listen to (None: count every pending event), and a note."""
    from cli.run_cmd import _fail
    from engine.workspace import PathNotFound, load_workspace
    from flows.consumers import event_types

    if not Path(plays).exists():
        if given:
            _fail(f"--plays: no such file or folder: {plays}")
        return None, f"no Plays at {plays}: pending counts every event (--plays DIR names your Plays)"
    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        _fail(f"--plays: {exc}")
    note = "some Plays have errors (see `plays validate`): pending counts the events of the others" \
        if ws.errors else None
    return event_types(ws.plays.values()), note


def _kinds(kinds: dict[str, int]) -> str:
    made = {k: v for k, v in kinds.items() if k != "retries"}
    text = ", ".join(f"{k} {v}" for k, v in sorted(made.items()))
    if kinds.get("retries"):
        text += f"; {kinds['retries']} retried"
    return f" ({text})" if text else ""


def _n(count: int, what: str) -> str:
    return f"{count:,} {what}" + ("" if count == 1 else "es" if what.endswith("ch") else "s")


def _pct(share: float | None) -> str:
    return "" if share is None else f" ({share:.1%})"


def render(status: dict[str, Any]) -> str:
    """The text form of `snapshot`."""
    ev = status["events"]
    out = [f"Store: {status['store']}", f"Events: {ev['ingested']:,} ingested (last seq {ev['last_seq']:,})"]
    for name, c in status["consumers"].items():
        out.append(f"  {name}: {c['events_done']:,} applied, {c['pending']:,} pending "
                   f"(cursor {c['cursor']:,}{', updated ' + c['updated_at'] if c['updated_at'] else ''})")
    parked = status["parked"]
    if parked:
        out.append(f"Parked: {parked['pending']:,} events wait since {parked['at']}: {parked['detail']}")
    else:
        out.append("Parked: no")
    lease = status["lease"]
    if lease is None:
        out.append("Lease: free (no runner is applying batches)")
    else:
        state = "until" if lease["running"] else "expired at"
        out.append(f"Lease: held by {lease['holder']} (token {lease['token']}) {state} {lease['expires_at']}")
    box = status["outbox"]
    if box.get("pending"):
        out.append(f"Outbox: {box['pending']:,} writes parked for the next attempt")
    if not status["crms"]:
        out.append("CRM API calls: none recorded yet")
    for crm, c in status["crms"].items():
        t = c["today"]
        out += ["", f"{crm}:",
                f"  today ({t['day']} UTC): {_n(t['calls'], 'API call')}{_kinds(t['kinds'])}; {_n(t['batches'], 'batch')}"
                + (f" ({t['stopped']:,} stopped)" if t["stopped"] else "")
                + f", {_n(t['events'], 'event')} applied, {_n(t['written'], 'record')} written"
                + (f"; {t['share_of_allowance']:.2%} of the daily allowance" if t["share_of_allowance"] is not None
                   else "")]
        if len(c["days"]) > 1:
            out.append("  per day: " + ", ".join(f"{d['day']} {d['calls']:,}" for d in c["days"]))
        u = c["usage"]
        if u is None:
            out.append("  usage: not reported by the CRM yet")
        else:
            when = "" if u["today"] else " (reported on an earlier day: the allowance has reset since)"
            out.append(f"  usage: {u['api_day_used']:,} of the {u['api_day_max']:,} calls allowed today used by the "
                       f"org{_pct(u['share_used'])}; this engine's budget {u['api_budget']:,}"
                       + ("" if u["share_of_budget"] is None else f" ({u['share_of_budget']:.1%} of it used)")
                       + f"; reported {u['at']}{when}")
        if c["batches"]:
            out.append(f"  last {_n(len(c['batches']), 'batch')} (newest first):")
            for b in c["batches"]:
                stop = f"  STOPPED {b['stopped']}" if b["stopped"] else ""
                label = b["source"] if b["source"] == "batch" else f"{b['source']} {b['consumer']}"
                out.append(f"    {b['at']}  {label}: {_n(b['calls'], 'call')}{_kinds(b['kinds'])}, "
                           f"{_n(b['events'], 'event')}, {b['written']:,} written{stop}")
    return "\n".join(out) + "\n"


def status_cmd(
    plays: str = typer.Option("plays", "--plays", help="Folder of Plays (to count the events they wait for)."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    days: int = typer.Option(1, "--days", min=1, max=366, help="Show the API calls of each of the last N UTC "
                             "days (default: today)."),
    batches: int = typer.Option(10, "--batches", min=0, max=1000, help="Show the calls of the last N batches "
                                "per CRM."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text or json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json: one JSON object on stdout."),
) -> None:
    """Where the runtime stands: events pending, work parked and why, the lease holder, and CRM API
    calls today and per batch against the day's allowance and this engine's budget (D-RUN-5)."""
    from cli.serve_cmd import open_existing_store
    from engine.store.status import snapshot

    types, note = _types(plays, plays != "plays")
    store = open_existing_store(db)
    try:
        status = snapshot(store, datetime.now(UTC), types=types, days=days, batches=batches)
    finally:
        store.close()
    if note:
        status["note"] = note
    if as_json or format == Format.json:
        sys.stdout.write(json.dumps(status, indent=2, sort_keys=False) + "\n")
        return
    sys.stdout.write(render(status))
    if note:
        sys.stderr.write(f"note: {note}\n")


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
