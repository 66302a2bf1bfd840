"""Stopping safely in the middle of Salesforce Bulk API 2.0 work (D-RUN-5, D-RUN-4, D-OPS), with
the real simple-salesforce client against the sandbox:

- every Bulk call carries the retry policy's client timeout: a call answered too late is retried,
  and one that stays too slow stops the sync with its records accounted for, never a hang;
- a job left open or running when the sync stops (the budget guard, a job that takes too long) is
  aborted, past the budget guard; what it processed first is read back and mapped (written or
  skipped), everything else stays pending, and sending the pending part later completes the work
  with nothing written twice;
- a job failing midway, then a query job held and aborted: the sandbox answers as Salesforce does.
"""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceError

from engine.connectors import sf_bulk
from engine.connectors.auth import connect_info
from engine.connectors.base import RecordWrite
from engine.connectors.budget import CODE
from engine.connectors.retry import RetryPolicy
from engine.language.model import build_integration

BIG = 6_000      # a Bulk job (see test_connector_sf_paths)
HELD_AT = 2_500  # the job is held InProgress at this record


def _policy(**over: Any) -> RetryPolicy:
    base = dict(attempts=3, initial=0.001, max_wait=0.01, jitter=0.001, timeout=30, settle=0.01)
    return RetryPolicy(**{**base, **over})


def _connect(sandbox, policy: RetryPolicy, share: float = 0.5) -> Any:
    settings = build_integration({"salesforce": {"owned_fields": ["Title"], "api_budget_share": share}}).salesforce
    conn = connect_info(settings, sandbox.info["salesforce"], policy=policy)
    conn.describe("Lead")
    sandbox.reset_log()  # the day's usage starts at zero
    return conn


def _creates(n: int) -> list[RecordWrite]:
    return [RecordWrite("salesforce", "Lead", None, f"n{i}@acme.io", "create",
                        {"Email": f"n{i}@acme.io", "LastName": f"N{i}", "Company": "New"}) for i in range(n)]


def _leads(sandbox) -> list[dict[str, Any]]:
    return sandbox.state()["salesforce"]["Lead"]


def _routes(sandbox) -> dict[str, int]:
    return sandbox.counters()["by_route"]


def _drain_slow(sandbox, wait) -> None:
    """Let the sandbox finish answering the calls it slowed (the client gave up on them), so they
    do not land in the next test's log and usage."""
    fired = sum(r["fired"] for r in sandbox.faults()["rules"] if r["kind"] == "slow")
    wait(lambda: sum(r["fault"] == "slow" for r in sandbox.requests()) >= fired, timeout=30)


def test_bulk_client_session_carries_the_policy_timeout(clean_sandbox) -> None:
    """simple-salesforce's Bulk 2.0 client sets no timeout: ours does, on every request."""
    conn = _connect(clean_sandbox, _policy(timeout=7.5))
    try:
        client = sf_bulk._client(conn, "Lead")
        assert client.session.timeout == 7.5
        assert client.session.hooks is conn.sf.session.hooks  # the rate gate still sees every answer
    finally:
        conn.close()


def test_a_bulk_call_answered_too_late_is_retried_and_lands_once(clean_sandbox, wait) -> None:
    """D-RUN-5 / D-OPS: the first status check is answered after the client's timeout: retried."""
    conn = _connect(clean_sandbox, _policy(timeout=0.3))
    clean_sandbox.set_faults({"slow_seconds": 2.0, "rules": [
        {"kind": "slow", "method": "GET", "path": "/jobs/ingest/", "count": 1}]})
    try:
        out = conn.apply_writes(_creates(BIG))
        assert out.stopped is None and not out.pending and len(out.written) == BIG
        assert conn.caller.counters["retries"] >= 1
        assert clean_sandbox.faults()["rules"][0]["fired"] == 1
        assert len(_leads(clean_sandbox)) == BIG
    finally:
        _drain_slow(clean_sandbox, wait)
        conn.close()


def test_a_bulk_call_that_stays_too_slow_stops_with_the_records_accounted_for(clean_sandbox, wait) -> None:
    """Every attempt at the status check times out: the sync stops (`crm_unavailable`); the job,
    already processed, cannot be aborted, so its results are read: every record is written, none
    pending, none created twice."""
    policy = _policy(timeout=0.3)
    conn = _connect(clean_sandbox, policy)
    clean_sandbox.set_faults({"slow_seconds": 2.0, "rules": [
        {"kind": "slow", "method": "GET", "path": "/jobs/ingest/", "count": policy.attempts}]})
    try:
        out = conn.apply_writes(_creates(BIG))
        assert out.stopped is not None and out.stopped.code == "crm_unavailable"
        assert len(out.written) == BIG and not out.pending and not out.skipped
        leads = _leads(clean_sandbox)
        assert len(leads) == BIG and {w.record for w in out.written} == {r["Id"] for r in leads}
        states = [r["status"] for r in clean_sandbox.requests() if r["route"] == "sf.bulk.state"]
        assert states[-1] == 409  # the close (maybe retried), then the abort: the job had ended
    finally:
        _drain_slow(clean_sandbox, wait)
        conn.close()


def test_budget_reached_mid_job_aborts_it_maps_what_landed_and_parks_the_rest(clean_sandbox) -> None:
    """D-RUN-5: the job is held InProgress at record 2,500 when the budget guard trips (before the
    first status check): the job is aborted and its results read past the guard (three calls), the
    2,500 created records are written with their ids, the other 3,500 pending; sent again after the
    allowance resets, they are created once: 6,000 Leads, none twice."""
    conn = _connect(clean_sandbox, _policy(), share=0.15)
    clean_sandbox.set_api_limits(salesforce=20)  # budget: 3 calls = create, upload, close
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/ingest", "skip": HELD_AT}]})
    try:
        writes = _creates(BIG)
        out = conn.apply_writes(writes)
        assert out.stopped is not None and out.stopped.code == CODE
        assert len(out.written) == HELD_AT and not out.skipped
        assert {w.email for w in out.pending} == {w.email for w in writes[HELD_AT:]}
        routes = _routes(clean_sandbox)
        assert routes["sf.bulk.state"] == 2 and routes["sf.bulk.results"] == 2 and "sf.bulk.job" not in routes
        assert clean_sandbox.usage()["salesforce"]["used"] == 6  # 3 within the budget, 3 to settle
        leads = _leads(clean_sandbox)
        assert len(leads) == HELD_AT and {w.record for w in out.written} == {r["Id"] for r in leads}

        clean_sandbox.set_faults(None)
        clean_sandbox.reset_usage()  # a new day, a new run (a new connection)
        clean_sandbox.set_api_limits(salesforce=15_000)
        again = _connect(clean_sandbox, _policy(), share=0.15)
        later = again.apply_writes(out.pending)
        again.close()
        assert later.stopped is None and len(later.written) == BIG - HELD_AT
        leads = _leads(clean_sandbox)
        assert len(leads) == BIG and sorted(r["Email"] for r in leads) == sorted(w.email for w in writes)
    finally:
        clean_sandbox.set_api_limits(salesforce=15_000)
        conn.close()


def test_a_job_that_takes_too_long_is_aborted_updates_pending(clean_sandbox) -> None:
    """`bulk_job_timeout`: a job held InProgress longer than the policy's `bulk_wait` is aborted;
    the updates it applied are written, the others pending (then sent: every Lead updated once)."""
    clean_sandbox.load({"salesforce": {"Lead": [{"Id": f"00Q5g{i:010d}AAA", "Email": f"p{i}@acme.io",
                                                 "LastName": "L", "Company": "A"} for i in range(BIG)]}})
    conn = _connect(clean_sandbox, _policy(bulk_wait=0.02))
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/ingest", "skip": HELD_AT}]})
    try:
        writes = [RecordWrite("salesforce", "Lead", f"00Q5g{i:010d}AAA", f"p{i}@acme.io", "update", {"Title": "VP"})
                  for i in range(BIG)]
        out = conn.apply_writes(writes)
        assert out.stopped is not None and out.stopped.code == "bulk_job_timeout"
        assert "aborted" in out.stopped.message
        assert len(out.written) == HELD_AT and len(out.pending) == BIG - HELD_AT
        assert {w.record for w in out.written}.isdisjoint(w.record for w in out.pending)
        titled = {r["Id"] for r in _leads(clean_sandbox) if r.get("Title") == "VP"}
        assert titled == {w.record for w in out.written}
        clean_sandbox.set_faults(None)
        later = conn.apply_writes(out.pending)
        assert later.stopped is None and len(later.written) == BIG - HELD_AT
        assert all(r.get("Title") == "VP" for r in _leads(clean_sandbox))
    finally:
        conn.close()


def test_a_query_job_stopped_while_running_is_aborted(clean_sandbox) -> None:
    """A whole-object scan whose query job stays InProgress past `bulk_wait`: the read stops
    (`bulk_job_timeout`) and the query job is aborted; an aborted job has no results."""
    clean_sandbox.load({"salesforce": {"Lead": [{"Email": f"p{i}@acme.io", "LastName": "L", "Company": "A"}
                                                for i in range(50)]}})
    conn = _connect(clean_sandbox, _policy(bulk_wait=0.02))
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/query"}]})
    try:
        from engine.connectors.retry import Stop

        with pytest.raises(Stop) as stop:
            list(sf_bulk.query(conn, "Lead", "SELECT Id, Email FROM Lead"))
        assert stop.value.stopped.code == "bulk_job_timeout"
        routes = _routes(clean_sandbox)
        assert routes["sf.bulk.query_state"] == 1 and "sf.bulk.query_results" not in routes
        (job_id,) = {r["path"].rstrip("/").split("/")[-1] for r in clean_sandbox.requests()
                     if r["route"] == "sf.bulk.query_state"}
        client = sf_bulk._client(conn, "Lead")
        assert client.get_job(job_id, True)["state"] == "Aborted"
        with pytest.raises(SalesforceError) as refused:
            client.get_query_results(job_id)
        assert refused.value.status == 409
    finally:
        conn.close()


def test_sandbox_bulk_job_failing_midway_then_abort_through_simple_salesforce(sandbox_sf, clean_sandbox) -> None:
    """The sandbox as Salesforce: a job failing at a record keeps the results of those before it
    and lists the rest unprocessed; it can no longer be aborted (409). A job held InProgress is
    aborted: processed records keep their results, the rest are unprocessed; an Open job and a
    running query job abort too."""
    client = sandbox_sf.bulk2.Lead._client
    def rows(prefix: str) -> str:
        return "Email,LastName,Company\n" + "".join(f"{prefix}{i}@acme.io,M{i},Acme\n" for i in range(10))

    clean_sandbox.set_faults({"rules": [{"kind": "bulk_fail", "path": "/jobs/ingest", "skip": 4, "count": 1}]})
    job = client.create_job("insert")["id"]
    client.upload_job_data(job, rows("m"))
    client.close_job(job)
    info = client.get_job(job, False)
    assert info["state"] == "Failed" and info["numberRecordsProcessed"] == 4
    assert client.get_ingest_results(job, "successfulResults").count("\n") == 1 + 4
    assert client.get_ingest_results(job, "unprocessedrecords").count("\n") == 1 + 6
    with pytest.raises(SalesforceError) as ended:
        client.abort_job(job, False)
    assert ended.value.status == 409

    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/ingest", "skip": 3}]})
    job = client.create_job("insert")["id"]
    client.upload_job_data(job, rows("h"))
    client.close_job(job)
    assert client.get_job(job, False)["state"] == "InProgress"
    assert client.abort_job(job, False)["state"] == "Aborted"
    assert client.get_ingest_results(job, "successfulResults").count("\n") == 1 + 3
    assert client.get_ingest_results(job, "unprocessedrecords").count("\n") == 1 + 7

    clean_sandbox.set_faults(None)
    job = client.create_job("insert")["id"]
    assert client.abort_job(job, False)["state"] == "Aborted"  # Open: nothing uploaded, nothing done
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/query"}]})
    query = client.create_job("query", query="SELECT Id FROM Lead")["id"]
    assert client.get_job(query, True)["state"] == "InProgress"
    assert client.abort_job(query, True)["state"] == "Aborted"
    emails = sorted(r["Email"] for r in _leads(clean_sandbox))
    assert emails == sorted([f"m{i}@acme.io" for i in range(4)] + [f"h{i}@acme.io" for i in range(3)])


def test_an_interrupted_process_aborts_its_running_job(clean_sandbox) -> None:
    """Ctrl-C (KeyboardInterrupt; in a flow run Prefect turns SIGTERM into an exception too) while a
    job runs: the job is aborted before the interruption goes on; its records stay pending in the
    store, as nothing was reported written."""
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    conn = _connect(clean_sandbox, _policy(sleep=interrupted))
    clean_sandbox.set_faults({"rules": [{"kind": "bulk_hold", "path": "/jobs/ingest", "skip": HELD_AT}]})
    try:
        with pytest.raises(KeyboardInterrupt):
            conn.apply_writes(_creates(BIG))
        (abort,) = [r for r in clean_sandbox.requests() if r["route"] == "sf.bulk.state"][1:]
        assert abort["status"] == 200
        job_id = abort["path"].rstrip("/").split("/")[-1]
        assert sf_bulk._client(conn, "Lead").get_job(job_id, False)["state"] == "Aborted"
        assert len(_leads(clean_sandbox)) == HELD_AT  # processed before the abort; the rest never
    finally:
        conn.close()
