"""Load on the sandbox CRM through the real clients: 10,000 records created and read back
through Salesforce composite/sobjects + SOQL paging and HubSpot batch create / read / get_page,
then the lookups a connector makes: SOQL `Email IN (200 values)` and HubSpot search `email IN
(100 values)` over all N records, `--lookups` queries each (mixed-case values, as connectors send).

Run: `.venv/bin/python bench/sandbox.py [--records N] [--lookups Q]`. Prints a table (phase,
requests, records, wall seconds, records/s) and ends with one `RESULT key=value ...` line
(`sf_in_ms` / `hs_in_ms`: mean milliseconds per lookup query).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubspot.crm.contacts import (BatchInputSimplePublicObjectBatchInputForCreate,  # noqa: E402
                                  BatchReadInputSimplePublicObjectId,
                                  PublicObjectSearchRequest,
                                  SimplePublicObjectBatchInputForCreate, SimplePublicObjectId)

from sandbox.clients import hubspot_client, salesforce_client  # noqa: E402
from sandbox.server import start_sandbox  # noqa: E402


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=20)
    args = parser.parse_args()
    n, lookups = args.records, args.lookups
    rows: list[tuple[str, int, int, float]] = []
    with start_sandbox() as sb:
        sf, hs = salesforce_client(sb.info), hubspot_client(sb.info)

        def phase(name: str, work) -> None:
            before = sb.counters()["requests"]
            started = time.perf_counter()
            records = work()
            rows.append((name, sb.counters()["requests"] - before, records,
                         time.perf_counter() - started))

        def sf_create() -> int:
            made = 0
            for part in chunks(list(range(n)), 200):
                result = sf.restful("composite/sobjects", method="POST", json={
                    "allOrNone": True, "records": [
                        {"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "Bench",
                         "Email": f"lead{i}@bench.io", "Unify_Score__c": i % 100}
                        for i in part]})
                made += sum(1 for r in result if r["success"])
            assert made == n, made
            return made

        def sf_upsert() -> int:
            done = 0
            for part in chunks(list(range(n)), 200):
                result = sf.restful("composite/sobjects/Task/Unify_Event_Id__c", method="PATCH",
                                    json={"allOrNone": False, "records": [
                                        {"attributes": {"type": "Task"}, "Subject": f"T{i}",
                                         "Unify_Event_Id__c": f"evt-{i}"} for i in part]})
                done += sum(1 for r in result if r["success"])
            assert done == n, done
            return done

        def sf_read() -> int:
            got = sf.query_all("SELECT Id, Email, Unify_Score__c FROM Lead WHERE Company = 'Bench'")
            assert got["totalSize"] == n and len({r["Id"] for r in got["records"]}) == n
            return n

        def hs_create() -> int:
            ids: list[str] = []
            for part in chunks(list(range(n)), 100):
                result = hs.crm.contacts.batch_api.create(
                    BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
                        SimplePublicObjectBatchInputForCreate(properties={
                            "email": f"c{i}@bench.io", "unify_score": str(i % 100)})
                        for i in part]))
                ids += [r.id for r in result.results]
            assert len(ids) == n
            hs_ids.extend(ids)
            return n

        def hs_read() -> int:
            got = 0
            for part in chunks(hs_ids, 100):
                result = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
                    inputs=[SimplePublicObjectId(id=i) for i in part], properties=["email"],
                    properties_with_history=[]))
                got += len(result.results)
            assert got == n, got
            return got

        def hs_pages() -> int:
            seen, after = 0, None
            while True:
                page = hs.crm.contacts.basic_api.get_page(limit=100, after=after,
                                                          properties=["email"])
                seen += len(page.results)
                if not page.paging:
                    break
                after = page.paging.next.after
            assert seen == n, seen
            return seen

        def sf_in() -> int:
            found = 0
            for q in range(lookups):
                values = [f"Lead{(q * 200 + j) % n}@Bench.io" for j in range(200)]
                quoted = ", ".join(f"'{v}'" for v in values)
                got = sf.query(f"SELECT Id, Email FROM Lead WHERE Email IN ({quoted})")
                found += got["totalSize"]
            assert found == lookups * min(200, n), found
            return found

        def hs_in() -> int:
            found = 0
            for q in range(lookups):
                values = [f"C{(q * 100 + j) % n}@Bench.io" for j in range(100)]
                got = hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
                    filter_groups=[{"filters": [{"propertyName": "email", "operator": "IN",
                                                 "values": values}]}],
                    properties=["email"], limit=100))
                found += got.total
            assert found == lookups * min(100, n), found
            return found

        hs_ids: list[str] = []
        phase("salesforce composite create", sf_create)
        phase("salesforce composite upsert (Task)", sf_upsert)
        phase("salesforce query_all read-back", sf_read)
        phase("hubspot batch create", hs_create)
        phase("hubspot batch read", hs_read)
        phase("hubspot get_page read-back", hs_pages)
        phase("salesforce SOQL Email IN (200)", sf_in)
        phase("hubspot search email IN (100)", hs_in)

    print(f"{'phase':<38} {'requests':>8} {'records':>8} {'wall s':>8} {'rec/s':>9}")
    for name, reqs, recs, wall in rows:
        print(f"{name:<38} {reqs:>8} {recs:>8} {wall:>8.2f} {recs / wall:>9.0f}")
    total_reqs = sum(r[1] for r in rows)
    total_wall = sum(r[3] for r in rows)
    sf_reqs = sum(r[1] for r in rows if r[0].startswith("salesforce"))
    hs_reqs = total_reqs - sf_reqs
    print(f"RESULT records={n} requests={total_reqs} sf_requests={sf_reqs} "
          f"hs_requests={hs_reqs} wall_s={total_wall:.2f} "
          f"sf_create_s={rows[0][3]:.2f} hs_create_s={rows[3][3]:.2f} "
          f"sf_in_ms={rows[6][3] / max(lookups, 1) * 1000:.1f} "
          f"hs_in_ms={rows[7][3] / max(lookups, 1) * 1000:.1f}")


if __name__ == "__main__":
    main()
