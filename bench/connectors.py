"""Benchmark: API calls per synced record through the real connectors against the sandbox CRM.

For N updates (default 10,000) on each CRM, one `sync_batch` reads the records, plans and writes;
the sandbox's request log is then counted by route. The floor is what the APIs allow:
Salesforce ceil(N/200) composite writes and ceil(N/200) SOQL reads (plus the describe calls, a
constant), HubSpot ceil(N/100) batch updates and ceil(N/100) searches (plus one properties call).
Prints the counts, the ratio to that floor and the wall time; ends with one `RESULT` line.

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
    finally:
        handle.stop()
    written = {c: sum(1 for w in result.written if w.crm == c) for c in ("salesforce", "hubspot")}
    sf_min, hs_min = math.ceil(n / 200), math.ceil(n / 100)
    rows = [
        ("salesforce", "writes", routes.get("sf.composite.update", 0), sf_min),
        ("salesforce", "reads", routes.get("sf.query", 0) + routes.get("sf.query_more", 0), sf_min),
        ("salesforce", "describe", routes.get("sf.describe", 0), 1),
        ("hubspot", "writes", routes.get("hs.batch.update", 0), hs_min),
        ("hubspot", "reads", routes.get("hs.search", 0), hs_min),
        ("hubspot", "properties", routes.get("hs.properties", 0), 1),
    ]
    print(f"N = {n} updates per CRM; records written: salesforce {written['salesforce']}, "
          f"hubspot {written['hubspot']}; skipped {len(result.skipped)}; pending {len(result.pending)}")
    print(f"{'crm':<11} {'calls':<11} {'count':>6} {'floor':>6} {'ratio':>6}")
    for crm, kind, count, floor in rows:
        print(f"{crm:<11} {kind:<11} {count:>6} {floor:>6} {count / floor:>6.2f}")
    print(f"wall time: {wall:.1f}s ({2 * n / wall:.0f} records/s)")
    ratio = {f"{'sf' if crm == 'salesforce' else 'hs'}_{kind}": count / floor for crm, kind, count, floor in rows if kind in ("writes", "reads")}
    ok = (routes.get("sf.composite.update", 0) == sf_min and rows[1][2] <= sf_min
          and routes.get("hs.batch.update", 0) == hs_min and routes.get("hs.search", 0) <= hs_min
          and written["salesforce"] == n and written["hubspot"] == n)
    print("RESULT " + " ".join(f"{k}_ratio={v:.2f}" for k, v in ratio.items())
          + f" sf_writes={rows[0][2]} sf_reads={rows[1][2]} sf_describe={rows[2][2]} hs_writes={rows[3][2]}"
          + f" hs_reads={rows[4][2]} hs_properties={rows[5][2]} n={n} wall_s={wall:.1f} ok={str(ok).lower()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
