"""The cost model behind the cheapest path (D-RUN-5): Composite packs 5 collections of 200 into
one call, a Bulk job costs a handful of calls whatever its size and is taken from 2,000 records
only when it is cheaper; Bulk CSV cells and error texts read as Salesforce writes them."""

from __future__ import annotations

from types import SimpleNamespace

from engine.connectors.sf_bulk import cell, in_queries, parse_error, typed
from engine.connectors.sf_paths import BULK_FROM, composite_write_calls, plan_units, scan_calls, use_bulk_write


def _items(obj: str, n: int) -> list:
    return [SimpleNamespace(object=obj, i=i) for i in range(n)]


def test_composite_costs_one_call_per_thousand_records() -> None:
    assert [composite_write_calls(n) for n in (1, 200, 1000, 1001, 2500)] == [1, 1, 1, 2, 3]


def test_bulk_only_from_about_two_thousand_and_when_cheaper() -> None:
    assert not use_bulk_write(BULK_FROM - 1)
    assert not use_bulk_write(BULK_FROM)      # 2 Composite calls beat a Bulk job's 5
    assert use_bulk_write(6000) and use_bulk_write(1_000_000)
    assert [scan_calls(n) for n in (0, 10, 500_000, 1_000_000)] == [3, 3, 3, 4]


def test_units_pack_objects_into_requests_of_five_collections() -> None:
    units = plan_units(_items("Lead", 450) + _items("Contact", 700) + _items("Task", 7000))
    paths = [(u.path, u.obj, [len(c) for c in u.chunks]) for u in units]
    assert paths[0] == ("bulk", "Task", [7000])
    assert paths[1:] == [("composite", None, [200, 200, 50, 200, 200]), ("composite", None, [200, 100])]
    assert plan_units(_items("Lead", 7000), allow_bulk=False)[0].path == "composite"


def test_bulk_csv_cells_errors_and_types() -> None:
    assert [cell(v) for v in (None, "", True, 3, ["a", "b"], "x,y")] == ["#N/A", "#N/A", "true", "3", "a;b", "x,y"]
    assert parse_error("INVALID_EMAIL_ADDRESS:Email: invalid email address: x:Email --") == {
        "statusCode": "INVALID_EMAIL_ADDRESS", "message": "Email: invalid email address: x", "fields": ["Email"]}
    assert parse_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access: --")["fields"] == []
    assert (typed("boolean", "true"), typed("int", "3"), typed("double", "1.5"), typed("string", "")) == (True, 3, 1.5, None)
    queries = in_queries("SELECT Id FROM Lead WHERE Email", [f"p{i}@example.com" for i in range(20_000)])
    assert len(queries) > 1 and all(len(q) <= 90_000 for q in queries) and "'p0@example.com'" in queries[0]


def test_budget_figures_add_counts_and_keep_levels() -> None:
    from engine.connectors.budget import merge_calls, summary

    total: dict[str, int] = {}
    merge_calls(total, {"read": 2, "api_day_used": 10, "api_day_max": 100, "api_budget": 50})
    merge_calls(total, {"read": 1, "write": 3, "api_day_used": 14, "api_day_max": 100, "api_budget": 50})
    assert total == {"read": 3, "write": 3, "api_day_used": 14, "api_day_max": 100, "api_budget": 50}
    assert summary({"salesforce": total}) == [
        "salesforce: 6 API calls (read 3, write 3); today 14 of 100 (14.0%) used by the org, budget 50"]


def test_salesforce_floor_is_the_cheapest_path() -> None:
    """engine.run.api_minimum (the floor a batch's calls are shown against) follows D-RUN-5."""
    from engine.run import api_minimum

    assert api_minimum("salesforce", 10, 5, 2) == 3            # one Composite request each
    assert api_minimum("salesforce", 450, 450, 0) == 3         # 6 queries (2 objects): 2 calls; 1 write
    assert api_minimum("salesforce", 10_000, 10_000, 0) == 10  # a query job per object; one Bulk job
    assert api_minimum("hubspot", 450, 450, 0) == 10           # batch endpoints of 100
    # a Bulk job holds one object: two large groups are two jobs; small groups share Composite requests
    assert api_minimum("salesforce", 0, {"Lead": 6_000, "Contact": 6_000}, 0) == 8
    assert api_minimum("salesforce", 0, {"Lead": 6_000, "Contact": 300}, 0) == 5
    # activities (upserts) also read their new ids: 5 calls a job, taken only when cheaper than Composite
    assert api_minimum("salesforce", 0, 0, {"Task": 12_000}) == 5
    assert api_minimum("salesforce", 0, 0, {"Task": 5_000}) == 5
    assert api_minimum("salesforce", 0, 0, {"EmailMessage": 6_000}) == 10  # and one job for their relations
    assert api_minimum("salesforce", 0, 0, {"EmailMessage": 300, "Task": 300}) == 2  # messages+tasks, then relations
    assert api_minimum("hubspot", 0, {"contacts": 150}, {"emails": 50, "tasks": 60}) == 2 + 2
