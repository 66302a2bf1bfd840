"""Fault tolerance of the connectors: with about 20% of the calls failing (429, 503, timeouts,
dropped connections) and 5% of the records rejected, one sync of both CRMs ends with every planned
record written, kept, unchanged or skipped with a reason; nothing is created twice; running the same
sync again changes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from conftest import wait_until
from engine.connectors.auth import connect_info
from engine.connectors.retry import RetryPolicy
from engine.run import sync_batch
from engine.language.model import build_integration, build_play
from engine.evaluate.plan import plan

N, NEW, MAILED, REPLIED = 160, 20, 50, 25
LONG = {5, 50, 150}  # Salesforce refuses these titles (STRING_TOO_LONG): skipped with its reason
STAMPS = {"LastModifiedDate", "SystemModstamp", "updatedAt", "lastmodifieddate", "hs_lastmodifieddate"}
# Patient but quick: up to 10 attempts per call, waits in milliseconds, a short client timeout (the
# sandbox's `slow` answers come after it) and a settle time longer than the slow answers, so a
# create whose answer was lost is read back only once the server is done with it.
POLICY = RetryPolicy(attempts=10, initial=0.001, max_wait=0.01, jitter=0.002, timeout=0.25, settle=1.0,
                     record_retries=4)
FAULTS = {"seed": 11, "slow_seconds": 0.4, "retry_after": 0,
          "rules": [{"kind": "429", "rate": 0.055}, {"kind": "503", "rate": 0.055},
                    {"kind": "slow", "rate": 0.055}, {"kind": "drop", "rate": 0.055},
                    {"kind": "reject", "rate": 0.05}]}


def integration():
    return build_integration({
        "salesforce": {"owned_fields": ["Unify_Most_Recent_Play__c"], "email_writeback": "email_message",
                       "enhanced_email": True, "default_values": {"LeadSource": "Unify"}},
        "hubspot": {"owned_fields": ["unify_most_recent_play"], "email_writeback": "email_message"}})


def plays():
    return [build_play({
        "play": "both", "trigger": {"type": "sequence_status_changed"}, "start": "sf",
        "nodes": {
            "sf": {"type": "sync_to_salesforce", "object": "auto", "create": True, "next": "hs",
                   "fields": {"Title": "{{ contact.title }}", "Unify_Most_Recent_Play__c": "{{ play.id }}"}},
            "hs": {"type": "sync_to_hubspot", "create": True,
                   "properties": {"jobtitle": "{{ contact.title }}", "unify_most_recent_play": "{{ play.id }}"}}}})]


def seed() -> dict[str, Any]:
    return {"salesforce": {"Lead": [{"Email": f"p{i}@acme.io", "LastName": f"P{i}", "Company": "Acme",
                                     "Status": "Open - Not Contacted"} for i in range(N // 2)],
                           "Contact": [{"Email": f"p{i}@acme.io", "LastName": f"P{i}"} for i in range(N // 2, N)]},
            "hubspot": {"contacts": [{"id": str(500 + i), "properties": {"email": f"p{i}@acme.io"}}
                                     for i in range(N)]}}


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(N + NEW):
        contact = {"email": f"p{i}@acme.io", "lastName": f"P{i}", "company": "Acme",
                   "title": "x" * 300 if i in LONG else f"Title {i}"}
        out.append({"id": f"s{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
                    "to": "Completed: Replied", "contact": contact})
    for i in range(MAILED):
        out.append({"id": f"m{i}", "type": "email_sent", "at": "2026-11-20T11:00:00Z",
                    "contact": {"email": f"p{i}@acme.io"},
                    "message": {"id": f"msg{i}", "subject": "Hi", "body_template": "Hi", "body_rendered": "Hi",
                                "manual": False}})
    for i in range(REPLIED):
        out.append({"id": f"r{i}", "type": "email_replied", "at": "2026-11-21T09:00:00Z", "in_thread": True,
                    "contact": {"email": f"p{i}@acme.io"}, "message": {"id": f"msg{i}"},
                    "reply": {"classification": "Positive", "body": "Yes"}})
    return out


def strip(state: dict[str, Any]) -> dict[str, Any]:
    """The state without system stamps (a replayed activity upsert touches them), ids sorted."""
    def clean(rec: Any) -> Any:
        if isinstance(rec, dict):
            return {k: clean(v) for k, v in rec.items() if k not in STAMPS}
        return rec
    return {crm: {obj: sorted((clean(r) for r in rows), key=lambda r: str(r.get("Id") or r.get("id")))
                  for obj, rows in objs.items()} for crm, objs in state.items()}


@pytest.fixture
def conns(clean_sandbox):
    integ = integration()
    return [connect_info(integ.salesforce, clean_sandbox.info["salesforce"], policy=POLICY),
            connect_info(integ.hubspot, clean_sandbox.info["hubspot"], policy=POLICY)]


@pytest.mark.parametrize("fault_seed", [11, 24])
def test_faults_lose_nothing_and_create_nothing_twice(clean_sandbox, conns, fault_seed) -> None:
    clean_sandbox.load(seed())
    integ, batch = integration(), events()
    planned = plan(plays(), integ, batch, clean_sandbox.state())
    clean_sandbox.set_faults({**FAULTS, "seed": fault_seed})
    result = sync_batch(conns, plays=plays(), integration=integ, events=batch)
    # a `slow` request the client gave up on is still being answered: wait until every one is done
    slow = sum(r["fired"] for r in clean_sandbox.faults()["rules"] if r["kind"] == "slow")
    wait_until(lambda: sum(e["fault"] == "slow" for e in clean_sandbox.requests()) >= slow)
    faults = Counter(e["fault"] for e in clean_sandbox.requests() if e["fault"])
    clean_sandbox.set_faults(None)
    calls = len(clean_sandbox.requests())
    assert {"429", "503", "slow", "drop", "reject"} <= set(faults), faults
    assert sum(v for k, v in faults.items() if k != "reject") >= 0.12 * calls, (faults, calls)

    assert result.stopped is None and result.pending == [], result.stopped
    # every planned record: written, or skipped with a reason (and the CRM's message), or kept/unchanged
    done = {(w.crm, w.record or w.email) for w in result.written} | {(w.crm, w.email) for w in result.written}
    done |= {(u.crm, u.record) for u in result.unchanged} | {(k.crm, k.record) for k in result.kept}
    skipped = {(s.crm, s.record or s.email): s for s in result.skipped}
    for w in planned.writes:
        key = (w.crm, w.record or w.email)
        assert key in done or key in skipped, w
    rejected = [s for s in result.skipped if s.reason == "crm_rejected"]
    assert rejected and all(s.message and s.code and s.at for s in rejected)
    assert {s.email for s in rejected if s.code == "STRING_TOO_LONG"} == {f"p{i}@acme.io" for i in LONG}
    assert not [s for s in rejected if s.code in ("UNABLE_TO_LOCK_ROW", "LOCKED")]  # locks were retried
    wanted_acts = {(a.crm, a.object, a.fields.get("Unify_Event_Id__c") or a.fields.get("unify_event_id"))
                   for a in planned.activities}
    got_acts = {(a.crm, a.object, a.external_id) for a in result.logged}
    assert wanted_acts == got_acts and len(wanted_acts) == 2 * (MAILED + 2 * REPLIED)

    # nothing twice: one person record per email, one activity per event key, one relation each
    state = clean_sandbox.state()
    sf, hs = state["salesforce"], state["hubspot"]
    sf_emails = Counter(r["Email"] for r in sf["Lead"] + sf["Contact"])
    assert set(sf_emails.values()) == {1} and len(sf_emails) == N + NEW
    hs_emails = Counter(c["properties"]["email"] for c in hs["contacts"])
    assert set(hs_emails.values()) == {1} and len(hs_emails) == N + NEW
    for rows, key in ((sf["EmailMessage"], "Unify_Event_Id__c"), (sf["Task"], "Unify_Event_Id__c")):
        assert set(Counter(r[key] for r in rows).values()) == {1}
    for rows in (hs["emails"], hs["tasks"]):
        assert set(Counter(r["properties"]["unify_event_id"] for r in rows).values()) == {1}
    relations = Counter((r["EmailMessageId"], r["RelationId"]) for r in sf["EmailMessageRelation"])
    assert set(relations.values()) == {1} and len(relations) == MAILED + REPLIED
    assert all(len(set(x["associations"]["contacts"])) == 1 for x in hs["emails"] + hs["tasks"])

    by_email = {r["Email"]: r for r in sf["Lead"] + sf["Contact"]}
    for i in range(N + NEW):
        rec = by_email[f"p{i}@acme.io"]
        assert rec["Unify_Most_Recent_Play__c"] == "both"  # for LONG too: only the refused field is dropped
        assert rec.get("Title") == (None if i in LONG else f"Title {i}")

    # the same sync again, without faults: nothing left to write, nothing changes
    clean_sandbox.reset_log()
    again = sync_batch(conns, plays=plays(), integration=integ, events=batch)
    assert again.ok and again.written == [] and not any(a.created for a in again.logged)
    assert strip(clean_sandbox.state()) == strip(state)
    # only the titles Salesforce refused are tried again, and refused again: nothing is written
    assert {s.email for s in again.skipped if s.reason == "crm_rejected"} == {f"p{i}@acme.io" for i in LONG}
    writes = [e for e in clean_sandbox.requests()
              if e["route"] in ("sf.composite.update", "sf.composite.create", "hs.batch.update", "hs.batch.create")]
    assert sum(e["records"] for e in writes) == 0 and len(writes) <= 1


def test_lost_create_answers_are_read_back(clean_sandbox, conns) -> None:
    """Creates whose answer never came (the server was still working on them) are read back before
    the retry: one Lead, one relation, one contact each, never two."""
    clean_sandbox.load({"salesforce": {"Lead": [{"Email": "p0@acme.io", "LastName": "P0", "Company": "Acme"}]},
                        "hubspot": {"contacts": [{"id": "500", "properties": {"email": "p0@acme.io"}}]}})
    batch = [e for e in events() if e["id"] in ("s0", "s170", "s171", "m0")]
    clean_sandbox.set_faults({"slow_seconds": 0.4, "rules": [
        {"kind": "slow", "method": "POST", "path": "composite/sobjects", "count": 2},
        {"kind": "slow", "crm": "hubspot", "path": "/batch/create", "count": 1}]})
    result = sync_batch(conns, plays=plays(), integration=integration(), events=batch)
    wait_until(lambda: sum(e["fault"] == "slow" for e in clean_sandbox.requests()) >= 3)
    assert result.ok and not result.skipped
    assert sorted(w.email for w in result.written if w.op == "create") == ["p170@acme.io", "p170@acme.io",
                                                                          "p171@acme.io", "p171@acme.io"]
    state = clean_sandbox.state()
    assert sorted(r["Email"] for r in state["salesforce"]["Lead"]) == ["p0@acme.io", "p170@acme.io", "p171@acme.io"]
    assert sorted(c["properties"]["email"] for c in state["hubspot"]["contacts"]) == [
        "p0@acme.io", "p170@acme.io", "p171@acme.io"]
    assert len(state["salesforce"]["EmailMessageRelation"]) == 1
    assert [e["fault"] for e in clean_sandbox.requests()].count("slow") == 3
