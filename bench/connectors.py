"""Benchmark: API calls per synced record through the real connectors against the sandbox CRM.

For N updates (default 10,000) on each CRM, one `sync_batch` reads the records, plans and writes;
the calls are then counted by kind (the connector's counters, which the sandbox's own count of
API calls confirms). The floor is what the APIs allow (D-RUN-5): Salesforce, the cheapest of one
Composite request per 1,000 records written (5 collections of 200) or per 5 queries of 200 emails
read, and a Bulk API 2.0 job (4 calls to update any number of records; a whole-object query job
of 3 calls per person object, Lead and Contact, plus one COUNT()); HubSpot ceil(N/100) batch
updates and ceil(N/100) searches (plus one properties call). The old Salesforce floor, one call per 200 records, is shown beside it.
Prints the counts, the ratio to the floor and the wall time; ends with one `RESULT` line.

    .venv/bin/python bench/connectors.py [N]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.connectors.auth import connect_info  # noqa: E402
from engine.connectors.retry import RetryPolicy  # noqa: E402
from engine.connectors.sf_paths import HEAVY, composite_write_calls, scan_calls, use_bulk_write  # noqa: E402
from engine.run import sync_batch  # noqa: E402
from engine.language.model import build_integration, build_play  # noqa: E402
from sandbox.server import start_sandbox  # noqa: E402

PLAY = {
    "play": "bench-replied", "trigger": {"type": "sequence_status_changed", "to": ["Completed: Replied"]},
    "start": "sf",
    "nodes": {
        "sf": {"type": "sync_to_salesforce", "object": "Lead", "next": "hs",
               "fields": {"Unify_Most_Recent_Play__c": "{{ play.id }}", "Title": "Buyer"}},
        "hs": {"type": "sync_to_hubspot", "properties": {"unify_most_recent_play": "{{ play.id }}",
                                                          "jobtitle": "Buyer"}},
    },
}
INTEGRATION = {"salesforce": {"owned_fields": ["Unify_Most_Recent_Play__c"]},
               "hubspot": {"owned_fields": ["unify_most_recent_play"]}}


def main(n: int) -> int:
    seed = {"salesforce": {"Lead": [{"Email": f"lead{i}@bench.io", "LastName": f"L{i}", "Company": "Bench",
                                     "LastModifiedDate": "2026-11-01T00:00:00Z"} for i in range(n)]},
            "hubspot": {"contacts": [{"id": str(10_000 + i), "properties": {"email": f"lead{i}@bench.io"},
                                      "updatedAt": "2026-11-01T00:00:00Z"} for i in range(n)]}}
    events = [{"id": f"e{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
               "to": "Completed: Replied", "contact": {"email": f"lead{i}@bench.io"}} for i in range(n)]
    play = build_play(PLAY)
    integration = build_integration(INTEGRATION)
    handle = start_sandbox(seed)
    try:
        policy = RetryPolicy()
        conns = [connect_info(integration.salesforce, handle.info["salesforce"], policy=policy),
                 connect_info(integration.hubspot, handle.info["hubspot"], policy=policy)]
        handle.reset_log()
        started = time.perf_counter()
        result = sync_batch(conns, plays=[play], integration=integration, events=events)
        wall = time.perf_counter() - started
        routes = handle.counters()["by_route"]
        usage = handle.usage()
    finally:
        handle.stop()
    sf_calls = conns[0].calls()
    written = {c: sum(1 for w in result.written if w.crm == c) for c in ("salesforce", "hubspot")}
    hs_min, old_min = math.ceil(n / 100), math.ceil(n / 200)
    sf_write_floor = 4 if use_bulk_write(n) else composite_write_calls(n)
    # a batch reads both person objects (an email may be a Lead or a Contact, D-WB-6): IN queries of
    # 200 five to a Composite request, or one COUNT() (once a connection, to choose) and a whole-object
    # Bulk query job per object
    sf_read_floor = min(math.ceil(2 * math.ceil(n / 200) / HEAVY), 1 + 2 * scan_calls(n))
    rows = [
        ("salesforce", "writes", sf_calls.get("write", 0), sf_write_floor, old_min),
        ("salesforce", "reads", sf_calls.get("read", 0), sf_read_floor, old_min),
        ("salesforce", "describe", sf_calls.get("describe", 0), 2, 2),  # Lead and Contact, once a connection
        ("hubspot", "writes", routes.get("hs.batch.update", 0), hs_min, hs_min),
        ("hubspot", "reads", routes.get("hs.search", 0), hs_min, hs_min),
        ("hubspot", "properties", routes.get("hs.properties", 0), 1, 1),
    ]
    print(f"N = {n} updates per CRM; records written: salesforce {written['salesforce']}, "
          f"hubspot {written['hubspot']}; skipped {len(result.skipped)}; pending {len(result.pending)}")
    print(f"API calls counted by the sandbox: salesforce {usage['salesforce']['used']}, "
          f"hubspot {usage['hubspot']['used']}")
    print(f"{'crm':<11} {'calls':<11} {'count':>6} {'floor':>6} {'ratio':>6} {'old floor':>10}")
    for crm, kind, count, floor, old in rows:
        print(f"{crm:<11} {kind:<11} {count:>6} {floor:>6} {count / floor:>6.2f} {old:>10}")
    print(f"wall time: {wall:.1f}s ({2 * n / wall:.0f} records/s)")
    ratio = {f"{'sf' if crm == 'salesforce' else 'hs'}_{kind}": count / floor
             for crm, kind, count, floor, _old in rows if kind in ("writes", "reads")}
    sf_total = usage["salesforce"]["used"]
    ok = (rows[0][2] <= sf_write_floor and rows[1][2] <= sf_read_floor
          and sf_total == sum(r[2] for r in rows[:3])
          and routes.get("hs.batch.update", 0) == hs_min and routes.get("hs.search", 0) <= hs_min
          and written["salesforce"] == n and written["hubspot"] == n)
    print("RESULT " + " ".join(f"{k}_ratio={v:.2f}" for k, v in ratio.items())
          + f" sf_writes={rows[0][2]} sf_reads={rows[1][2]} sf_describe={rows[2][2]} sf_calls={sf_total}"
          + f" sf_old_floor={2 * old_min + 1} hs_writes={rows[3][2]}"
          + f" hs_reads={rows[4][2]} hs_properties={rows[5][2]} n={n} wall_s={wall:.1f} ok={str(ok).lower()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
