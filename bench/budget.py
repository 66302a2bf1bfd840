"""Benchmark: a day of traffic against the Salesforce API allowance (D-RUN-3, D-RUN-5).

Full scale: 1,000,000 contacts and 5,000,000 email events a day (30 % sent, 45 % opened, 20 %
clicked, 5 % replied), drained in 15-minute cycles (96 a day). Each cycle does what one batch
does per D-RUN-3, through the real Salesforce connector against the sandbox: read every touched
person record once (Lead and Contact, the fields the tracking needs), send each touched record's
net change once (the tracking fields), and log one Task per sent or replied email (upsert on its
event id); then the sync flow's pull of the records changed since the last one. The sandbox counts the calls as Salesforce does (a Composite request is one call, every
Bulk API job call is one).

It runs at 1/SCALE of the traffic (default 1/10: 100,000 contacts, ~5,200 events a cycle) so this
machine holds it in a few minutes; side by side in the same run it computes what the same cycles
cost one call per event (a naive integration) and one call per 200 records (sObject Collections
alone, the path before D-RUN-5). The full-scale figures are extrapolated with the connector's own
cost model (the functions it chooses its path with), which is first checked against the calls
measured at the run's scale. Goal: <= 2 % of a 100,000-call daily allowance at full scale.

    .venv/bin/python bench/budget.py [--scale 10] [--cycles 24]     (--cycles 96: the whole day, ~13 min)

Each cycle's events are drained as ONE batch (at full scale ~52,000 events: set PLAYS_BATCH_SIZE
that high); the table also shows, by the same model, what the day costs when each cycle is drained
in the default batches of 2,000 events, each read and written on its own.

Assumptions, printed with the figures: Bulk query results come in sets of 500,000 rows (the
connector asks for that `maxRecords`; more sets cost one call each) and every Bulk job is done at
its first status check (a real org may need more checks: one call each).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.connectors.auth import connect_info  # noqa: E402
from engine.connectors.base import ActivityCreate, RecordWrite  # noqa: E402
from engine.connectors.retry import RetryPolicy  # noqa: E402
from engine.connectors.sf_paths import (BULK_QUERY_CALLS, HEAVY, PER_CALL, SCAN_FROM_CALLS,  # noqa: E402
                                        composite_write_calls, scan_calls, use_bulk_write)
from engine.language.model import build_integration  # noqa: E402
from flows.runtime import DEFAULT_BATCH  # noqa: E402  PLAYS_BATCH_SIZE's default: events per batch
from sandbox.clients import salesforce_client  # noqa: E402
from sandbox.server import start_sandbox  # noqa: E402

FULL_CONTACTS, FULL_EVENTS, CYCLES, ALLOWANCE, GOAL = 1_000_000, 5_000_000, 96, 100_000, 0.02
LEADS_SHARE = 0.05                      # person records that are still Leads
MIX = (("email_sent", 0.30), ("email_opened", 0.45), ("email_clicked", 0.20), ("email_replied", 0.05))
FIELDS = ["Unify_Track_Opens__c", "Unify_Click_Count__c", "Unify_Clicked_At__c", "Unify_Email_Replies__c"]
INTEGRATION = {"salesforce": {"owned_fields": FIELDS, "api_budget_share": 1.0}}
BULK_UPDATE, BULK_UPSERT = 4, 5         # create, upload, close, status (+ successfulResults for ids)
OUTSIDE_SHARE = 0.002                   # person records edited by the CRM's users each cycle (2,000 of 1M)


def _seed(contacts: int) -> dict:
    leads = int(contacts * LEADS_SHARE)
    person = [{"Email": f"p{i}@bench.io", "LastName": f"P{i}", "Company": "Bench", "Unify_Track_Opens__c": 0,
               "Unify_Click_Count__c": 0} for i in range(contacts)]
    return {"salesforce": {"Lead": person[:leads], "Contact": [{k: v for k, v in p.items() if k != "Company"}
                                                               for p in person[leads:]]}}


def _cycle_events(rng: random.Random, contacts: int, events: int) -> list[tuple[str, int]]:
    kinds, weights = zip(*MIX)
    return [(kind, rng.randrange(contacts)) for kind in rng.choices(kinds, weights, k=events)]


# ---- the cost model, per cycle -----------------------------------------------------------------
def model(touched: int, sends: int, rows: dict[str, int], first: bool, outside: int = 0) -> dict[str, int]:
    """Calls of one cycle by the connector's cheapest paths (no refusals, jobs done at the first check);
    `outside`: person records other users changed in the CRM during the cycle (what the pull reads)."""
    reads = 0
    queries = {obj: math.ceil(touched / 200) for obj in rows}
    if math.ceil(sum(queries.values()) / HEAVY) > SCAN_FROM_CALLS:
        reads += 1 if first else 0  # COUNT() once per connection
        reads += sum(min(math.ceil(q / HEAVY), scan_calls(rows[obj])) for obj, q in queries.items())
    else:
        reads += math.ceil(sum(queries.values()) / HEAVY)
    leads = round(touched * LEADS_SHARE)
    groups = [leads, touched - leads]  # one update group per object
    writes = sum(BULK_UPDATE if use_bulk_write(n) else 0 for n in groups)
    writes += composite_write_calls(sum(n for n in groups if not use_bulk_write(n)))
    activities = BULK_UPSERT if use_bulk_write(sends) else composite_write_calls(sends)
    lead_edits = round(outside * LEADS_SHARE)
    return {"read": reads, "write": writes, "activity": activities,
            "pull": 1 + pull_pages(lead_edits) + pull_pages(outside - lead_edits)}


def pull_pages(changed: int) -> int:
    """The sync flow's pull of one object, after its first page (which rides, with the other
    object's and the describes, in one Composite request: the `1` above); it reads only what
    other users changed (`sf_paths.pull`): the pages left of 2,000 rows, or one Bulk query job
    when that is cheaper."""
    left = math.ceil(max(changed - 2000, 0) / 2000)
    return min(left, BULK_QUERY_CALLS - 1 + math.ceil(changed / 500_000)) if left > BULK_QUERY_CALLS else left


def old_path(touched: int, sends: int) -> int:
    """sObject Collections alone: 200 records a call; reads 200 emails a query, per object; the
    pull's REST pages of 2,000."""
    return (2 * math.ceil(touched / 200) + math.ceil(touched / 200) + math.ceil(sends / 200)
            + 2 * math.ceil(touched / 2000))


def main(scale: int, cycles: int) -> int:
    contacts, per_cycle = FULL_CONTACTS // scale, FULL_EVENTS // CYCLES // scale
    rng = random.Random(7)
    seed = _seed(contacts)
    rows_full = {"Lead": int(FULL_CONTACTS * LEADS_SHARE), "Contact": FULL_CONTACTS - int(FULL_CONTACTS * LEADS_SHARE)}
    rows_here = {obj: len(seed["salesforce"][obj]) for obj in ("Lead", "Contact")}
    ids: dict[int, tuple[str, str]] = {}
    handle = start_sandbox(seed)
    try:
        handle.set_api_limits(salesforce=ALLOWANCE)
        for obj in ("Lead", "Contact"):
            for rec in handle.state()["salesforce"][obj]:
                ids[int(rec["Email"][1:].split("@")[0])] = (obj, rec["Id"])
        integration = build_integration(INTEGRATION)
        conn = connect_info(integration.salesforce, handle.info["salesforce"], policy=RetryPolicy())
        conn.describe("Lead"), conn.describe("Contact")
        cursor = conn.pull_changes(objects=["Lead", "Contact"]).cursor  # the first, full pull (once ever)
        person = salesforce_client(handle.info, person=True)  # someone editing records in the CRM
        handle.reset_usage()
        theirs = 0  # the calls of the person's edits (the org's allowance counts them; they are not ours)
        measured, modelled, modelled_full, naive, old = Counter(), Counter(), Counter(), 0, 0
        small_batches = 0
        per_kind = Counter()
        counts = {"Unify_Track_Opens__c": Counter(), "Unify_Click_Count__c": Counter()}
        started = time.perf_counter()
        for cycle in range(cycles):
            events = _cycle_events(rng, contacts, per_cycle)
            touched = sorted({c for _k, c in events})
            sends = [(n, c) for n, (k, c) in enumerate(events) if k in ("email_sent", "email_replied")]
            before = dict(conn.calls())
            conn.read_records([f"p{c}@bench.io" for c in touched], objects=["Lead", "Contact"],
                              fields={"Lead": FIELDS, "Contact": FIELDS})
            for kind, c in events:
                if kind == "email_opened":
                    counts["Unify_Track_Opens__c"][c] += 1
                elif kind == "email_clicked":
                    counts["Unify_Click_Count__c"][c] += 1
            writes = [RecordWrite("salesforce", ids[c][0], ids[c][1], f"p{c}@bench.io", "update",
                                  {"Unify_Track_Opens__c": counts["Unify_Track_Opens__c"][c],
                                   "Unify_Click_Count__c": counts["Unify_Click_Count__c"][c]}) for c in touched]
            out = conn.apply_writes(writes)
            tasks = [ActivityCreate("salesforce", "Task", ids[c][1], f"p{c}@bench.io", f"d{cycle}-e{n}",
                                    {"Subject": "Email: bench", "Status": "Completed"}) for n, c in sends]
            done = conn.create_activities(tasks)
            edited = rng.sample(range(contacts), round(contacts * OUTSIDE_SHARE))
            before_edits = handle.usage()["salesforce"]["used"]
            for obj in ("Lead", "Contact"):
                records = [{"id": ids[c][1], "Title": f"Edited in cycle {cycle}"} for c in edited if ids[c][0] == obj]
                for start in range(0, len(records), 200):
                    person.restful("composite/sobjects", method="PATCH", json={
                        "allOrNone": True, "records": [{"attributes": {"type": obj}, "Id": r["id"], "Title": r["Title"]}
                                                       for r in records[start:start + 200]]})
            theirs += handle.usage()["salesforce"]["used"] - before_edits
            pulled = conn.pull_changes(since=cursor, objects=["Lead", "Contact"])  # the sync flow's pull
            cursor = pulled.cursor
            if sum(len(rows) for rows in pulled.records.values()) != len(edited):
                print(f"cycle {cycle}: pulled {sum(len(r) for r in pulled.records.values())} records, "
                      f"{len(edited)} were edited by others", file=sys.stderr)
                return 1
            if out.skipped or out.pending or done.skipped or done.pending:
                print(f"cycle {cycle}: skipped {len(out.skipped) + len(done.skipped)}, pending "
                      f"{len(out.pending) + len(done.pending)}", file=sys.stderr)
                return 1
            after = conn.calls()
            for kind in ("read", "write", "activity", "pull"):
                per_kind[kind] += after.get(kind, 0) - before.get(kind, 0)
            modelled.update(model(len(touched), len(sends), rows_here, cycle == 0, len(edited)))
            full_touched = min(FULL_CONTACTS, len(touched) * scale)
            outside_full = round(FULL_CONTACTS * OUTSIDE_SHARE)
            modelled_full.update(model(full_touched, len(sends) * scale, rows_full, cycle == 0, outside_full))
            # the same cycle drained in batches of DEFAULT_BATCH events (each read and written on its own)
            batches = math.ceil(len(events) * scale / DEFAULT_BATCH)
            one = model(round(DEFAULT_BATCH * len(touched) / len(events)), round(DEFAULT_BATCH * len(sends) / len(events)),
                        rows_full, False)
            small_batches += (batches * (one["read"] + one["write"] + one["activity"])
                              + model(full_touched, len(sends) * scale, rows_full, False, outside_full)["pull"])
            naive += len(events)
            old += old_path(len(touched), len(sends))
        wall = time.perf_counter() - started
        used = handle.usage()["salesforce"]["used"] - theirs
        measured.update(per_kind)
        state = handle.state()["salesforce"]
    finally:
        handle.stop()
    day = CYCLES / cycles  # scale the cycles run to a day
    ours_here = used * day
    ours_full = sum(modelled_full.values()) * day
    naive_full, old_full = naive * day * scale, old * day * scale
    check = sum(modelled.values())
    print(f"scale 1/{scale}: {contacts:,} person records ({rows_here['Lead']:,} Leads), {per_cycle:,} events "
          f"a cycle, {cycles} of {CYCLES} cycles run in {wall:.0f}s; Tasks logged {len(state['Task']):,}")
    print(f"calls counted by the sandbox: {used:,} (read {measured['read']}, write {measured['write']}, "
          f"activity {measured['activity']}, pull {measured['pull']}); the cost model says {check:,} "
          "for the same cycles")
    print()
    print(f"{'path':<34} {'calls/day here':>15} {'calls/day full':>15} {'share of 100k':>14}")
    for name, here, full in (("one call per event (naive)", naive * day, naive_full),
                             ("one call per 200 records (old)", old * day, old_full),
                             ("cheapest path (ours, measured)", ours_here, ours_full),
                             (f"ours, default batches ({DEFAULT_BATCH:,} ev.)", None, small_batches * day)):
        shown = "" if here is None else f"{here:,.0f}"
        print(f"{name:<34} {shown:>15} {full:>15,.0f} {full / ALLOWANCE:>13.1%}")
    print()
    print("full scale per cycle (model): " + ", ".join(f"{k} {v / cycles:.1f}" for k, v in modelled_full.items()))
    floor = ours_full / CYCLES
    share = ours_full / ALLOWANCE
    batches_full = sum(v for k, v in modelled_full.items() if k != "pull") * day
    print(f"the batches alone (reads, writes, activities): {batches_full:,.0f} calls a day at full scale, "
          f"{batches_full / ALLOWANCE:.1%}; the sync flow's pull adds {modelled_full['pull'] * day:,.0f}")
    ok = check == used  # the model that extrapolates is the one the sandbox confirms
    goal = share <= GOAL
    print(f"RESULT calls_per_day={ours_full:.0f} share_of_allowance={share:.4f} ratio_to_floor="
          f"{old_full / ours_full:.1f} calls_per_cycle={floor:.1f} naive_per_day={naive_full:.0f} "
          f"old_per_day={old_full:.0f} measured_here={used} model_here={check} scale={scale} cycles={cycles} "
          f"batches_share={batches_full / ALLOWANCE:.4f} share_at_default_batch={small_batches * day / ALLOWANCE:.4f} goal_met={str(goal).lower()} wall_s={wall:.0f} ok={str(ok).lower()}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="run at 1/SCALE of the traffic (default 10)")
    parser.add_argument("--cycles", type=int, default=24,
                        help="cycles to run, scaled to the day's 96 (default 24: six hours, a few minutes here)")
    args = parser.parse_args()
    sys.exit(main(args.scale, args.cycles))
