"""The Salesforce connector's cheapest paths against the sandbox (D-RUN-3, D-RUN-5): Composite
requests of five collections for small batches, Bulk API 2.0 jobs for large ones, with per-record
results mapped exactly as before: refusals skipped with the CRM's reason, busy rows and records a
failed job left unprocessed sent again, nothing lost, nothing twice. Calls are counted by the
sandbox as Salesforce counts them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.connectors.auth import connect_info
from engine.connectors.base import ActivityCreate, RecordWrite
from engine.connectors.retry import RetryPolicy
from engine.connectors.sf_paths import PER_CALL, use_bulk_write
from engine.language.model import build_integration

FAST = RetryPolicy(attempts=6, initial=0.001, max_wait=0.01, jitter=0.001, timeout=30, settle=0.01)
BIG = 6_000  # large enough for a Bulk job to cost fewer calls than ⌈6,000/1,000⌉ Composite requests


@pytest.fixture
def sf(clean_sandbox):
    settings = build_integration({"salesforce": {"owned_fields": ["Title"]}}).salesforce
    conn = connect_info(settings, clean_sandbox.info["salesforce"], policy=FAST)
    conn.describe("Lead"), conn.describe("Contact")
    clean_sandbox.reset_log()
    yield conn
    conn.close()


def _leads(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"Id": f"00Q5g{i:010d}AAA", "Email": f"p{i}@acme.io", "LastName": f"L{i}", "Company": "Acme", **extra}
            for i in range(n)]


def _update(rid: str, email: str, **fields: Any) -> RecordWrite:
    return RecordWrite("salesforce", "Lead", rid, email, "update", fields, (("play", "node", "ev"),))


def _state(sandbox) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in sandbox.state()["salesforce"]["Lead"]}


def _used(sandbox) -> int:
    return sandbox.usage()["salesforce"]["used"]


def test_small_batch_costs_one_call_per_thousand_records(clean_sandbox, sf) -> None:
    """D-RUN-5: 1,500 updates and 300 creates: ⌈1,500/1,000⌉ + ⌈300/1,000⌉ Composite requests."""
    clean_sandbox.load({"salesforce": {"Lead": _leads(1500)}})
    writes = [_update(r["Id"], r["Email"], Title="CEO") for r in _leads(1500)]
    writes += [RecordWrite("salesforce", "Lead", None, f"new{i}@acme.io", "create",
                           {"Email": f"new{i}@acme.io", "LastName": "N", "Company": "New"}) for i in range(300)]
    out = sf.apply_writes(writes)
    assert len(out.written) == 1800 and not out.skipped and not out.pending
    assert _used(clean_sandbox) == math.ceil(1500 / PER_CALL) + 1
    state = _state(clean_sandbox)
    assert len(state) == 1800 and all(r["Title"] == "CEO" for r in state.values() if r["Company"] == "Acme")
    created = {w.email: w.record for w in out.written if w.op == "create"}
    assert all(state[rid]["Email"] == email for email, rid in created.items())


def test_large_batch_goes_through_one_bulk_job_with_partial_failures(clean_sandbox, sf) -> None:
    """A Bulk ingest job: a refused record is skipped with the CRM's code and field, a busy row is
    sent again and lands, the others land once; a handful of calls for 6,000 records."""
    assert use_bulk_write(BIG)
    clean_sandbox.load({"salesforce": {"Lead": _leads(BIG)}})
    clean_sandbox.set_faults({"rules": [{"kind": "reject", "path": "/jobs/ingest", "skip": 10, "count": 1}]})
    writes = [_update(r["Id"], r["Email"], Title="VP", Email=r["Email"]) for r in _leads(BIG)]
    writes[7] = _update(writes[7].record, "p7@acme.io", Email="not-an-email")
    out = sf.apply_writes(writes)
    assert not out.pending and out.stopped is None
    (skip,) = out.skipped
    assert (skip.record, skip.code, skip.field, skip.play) == (writes[7].record, "INVALID_EMAIL_ADDRESS", "Email", "play")
    assert len(out.written) == BIG - 1 and len({w.record for w in out.written}) == BIG - 1
    state = _state(clean_sandbox)
    assert sum(r.get("Title") == "VP" for r in state.values()) == BIG - 1
    routes = clean_sandbox.counters()["by_route"]
    assert routes["sf.bulk.create"] == 1 and routes["sf.composite"] == 1  # the job; the busy row alone
    assert _used(clean_sandbox) <= 6, routes


def test_bulk_job_failing_midway_sends_the_unprocessed_again(clean_sandbox, sf) -> None:
    """Creates in a Bulk job that stops midway: the processed ones get their ids from
    successfulResults, the unprocessed ones are sent again by the cheapest path: every Lead exists once."""
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_fail", "path": "/jobs/ingest", "skip": 2500, "count": 1}]})
    writes = [RecordWrite("salesforce", "Lead", None, f"n{i}@acme.io", "create",
                          {"Email": f"n{i}@acme.io", "LastName": f"N{i}", "Company": "New"}) for i in range(BIG)]
    out = sf.apply_writes(writes)
    assert not out.pending and not out.skipped and len(out.written) == BIG
    state = _state(clean_sandbox)
    assert len(state) == BIG and {r["Email"] for r in state.values()} == {f"n{i}@acme.io" for i in range(BIG)}
    assert all(state[w.record]["Email"] == w.email for w in out.written)
    routes = clean_sandbox.counters()["by_route"]  # 3,500 left: ⌈3,500/1,000⌉ = 4 < a Bulk job's 5
    assert routes["sf.bulk.create"] == 1 and routes["sf.composite"] == 4


def test_bulk_job_that_keeps_failing_parks_its_records(clean_sandbox, sf) -> None:
    """Jobs that stop again and again (the remainder still large enough for Bulk): after the extra
    passes the unprocessed records are parked (pending, a coded stop), never dropped or skipped."""
    clean_sandbox.load({"salesforce": {"Lead": _leads(2 * BIG)}})
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_fail", "path": "/jobs/ingest", "skip": 5000}]})
    out = sf.apply_writes([_update(r["Id"], r["Email"], Title="X") for r in _leads(2 * BIG)])
    assert len(out.written) == 5000 and len(out.pending) == 2 * BIG - 5000 and not out.skipped
    assert out.stopped is not None and out.stopped.code == "bulk_job_failed"
    assert clean_sandbox.counters()["by_route"]["sf.bulk.create"] == 1 + FAST.record_retries


def test_reads_pack_five_queries_a_call_and_scan_for_large(clean_sandbox, sf) -> None:
    clean_sandbox.load({"salesforce": {"Lead": _leads(BIG), "Contact": [
        {"Email": f"c{i}@acme.io", "LastName": "C"} for i in range(10)]}})
    got = sf.read_records([f"p{i}@acme.io" for i in range(900)] + ["c1@acme.io"], objects=["Lead", "Contact"])
    assert len(got["Lead"]) == 900 and [c["Email"] for c in got["Contact"]] == ["c1@acme.io"]
    assert _used(clean_sandbox) == 2  # 2 objects x 5 queries of 200 -> 2 Composite requests
    clean_sandbox.reset_log()
    emails = [f"p{i}@acme.io" for i in range(BIG)]
    got = sf.read_records(emails, objects=["Lead"])
    assert sorted(r["Email"] for r in got["Lead"]) == sorted(emails)
    row = got["Lead"][0]
    assert row["IsDeleted"] is False and row["Title"] is None  # typed as the REST API types them
    # 30 IN queries would take 6 Composite calls; one COUNT() call and a whole-object Bulk query
    # job (create, status, one results page) take 4
    assert _used(clean_sandbox) == 4 and clean_sandbox.counters()["by_route"]["sf.bulk.query"] == 1


def test_activities_composite_and_bulk_never_doubled(clean_sandbox, sf) -> None:
    """EmailMessages and relations five collections a call; a replay reads relations first; a
    large group of Tasks is one Bulk upsert job on the external id."""
    clean_sandbox.load({"salesforce": {"Lead": _leads(BIG)}})
    msgs = [ActivityCreate("salesforce", "EmailMessage", r["Id"], r["Email"], f"ev-{i}",
                           {"Subject": f"Hi {i}", "Status": "3", "Incoming": False}, "play", "node", f"ev-{i}")
            for i, r in enumerate(_leads(300))]
    first = sf.create_activities(msgs)
    assert len(first.activities) == 300 and all(a.created for a in first.activities) and not first.skipped
    assert _used(clean_sandbox) == 2  # 300 upserts in one request, 300 relations in one
    again = sf.create_activities(msgs)
    assert not any(a.created for a in again.activities) and not again.skipped
    state = clean_sandbox.state()["salesforce"]
    assert len(state["EmailMessage"]) == 300 and len(state["EmailMessageRelation"]) == 300
    clean_sandbox.reset_log()
    tasks = [ActivityCreate("salesforce", "Task", r["Id"], r["Email"], f"t-{i}", {"Subject": "Call"}, "play", "node")
             for i, r in enumerate(_leads(BIG))]
    done = sf.create_activities(tasks)
    assert len(done.activities) == BIG and not done.skipped
    assert clean_sandbox.counters()["by_route"]["sf.bulk.create"] == 1 and _used(clean_sandbox) <= 6
    assert len(clean_sandbox.state()["salesforce"]["Task"]) == BIG


def test_a_large_pull_runs_as_one_bulk_query_in_order(clean_sandbox, sf) -> None:
    """A pull whose pages would cost more than a Bulk query job becomes one (no ORDER BY in Bulk
    API 2.0: the connector orders the rows); a small one stays a single REST query."""
    clean_sandbox.load({"salesforce": {"Lead": [dict(r, LastModifiedDate=f"2026-11-{1 + i % 28:02d}T00:00:00Z")
                                                for i, r in enumerate(_leads(1000))]}})
    clean_sandbox.set_page_size(100)
    pulled = sf.pull_changes(objects=["Lead"])
    stamps = [r["SystemModstamp"] for r in pulled.records["Lead"]]
    assert len(stamps) == 1000 and stamps == sorted(stamps) and pulled.cursor["Lead"].startswith("2026-11-28")
    routes = clean_sandbox.counters()["by_route"]
    assert routes["sf.composite"] == 1 and routes["sf.bulk.query"] == 1 and "sf.query_more" not in routes
    # who the integration user is (once ever), the first page (one Composite request), then the
    # Bulk query job: create, status, one results set
    assert routes["sf.userinfo"] == 1 and _used(clean_sandbox) == 5
    clean_sandbox.reset_log()
    again = sf.pull_changes(since=pulled.cursor, objects=["Lead"])
    assert again.records["Lead"] == [] and _used(clean_sandbox) == 1


def test_a_large_group_of_email_messages_relates_them_in_one_bulk_job(clean_sandbox, sf) -> None:
    """D-RUN-5, activities go the same way: 6,000 EmailMessages are one Bulk upsert job and their
    6,000 EmailMessageRelations one Bulk insert job (5 calls each, not 6 Composite requests);
    a replay creates no message and no relation again (D-EM-6)."""
    clean_sandbox.load({"salesforce": {"Lead": _leads(6000)}})
    msgs = [ActivityCreate("salesforce", "EmailMessage", r["Id"], r["Email"], f"ev-{i}",
                           {"Subject": f"Hi {i}", "Status": "3", "Incoming": False}, "play", "node", f"ev-{i}")
            for i, r in enumerate(_leads(6000))]
    first = sf.create_activities(msgs)
    assert len(first.activities) == 6000 and not first.skipped and not first.pending
    routes = clean_sandbox.counters()["by_route"]
    assert routes["sf.bulk.create"] == 2 and "sf.composite" not in routes
    assert _used(clean_sandbox) == 2 * 5  # two jobs: create, upload, close, status, successful rows
    state = clean_sandbox.state()["salesforce"]
    assert len(state["EmailMessageRelation"]) == 6000
    assert {(r["EmailMessageId"], r["RelationId"]) for r in state["EmailMessageRelation"]} == \
        {(a.id, a.record) for a in first.activities}
    again = sf.create_activities(msgs)
    assert not any(a.created for a in again.activities) and not again.skipped
    assert len(clean_sandbox.state()["salesforce"]["EmailMessageRelation"]) == 6000
