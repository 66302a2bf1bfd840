"""The HubSpot connector end to end through hubspot-api-client against the sandbox: the D-WB rules
through `sync_batch` (D-HS-1), the write-time re-check, duplicates, emails / tasks associated to the
contact, 207 partial answers record by record, a batch refused whole split until the culprit is
alone, search batching, pull by lastmodifieddate, properties snapshot, stops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.auth import connect_info
from engine.connectors.base import RecordWrite
from engine.connectors.retry import RetryPolicy
from engine.run import apply_plan, sync_batch
from engine.language.model import build_integration, build_play
from engine.evaluate.plan import plan

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=6, initial=0.001, max_wait=0.01, jitter=0.001, timeout=5, settle=0.01)
TRACKING = {"track_opens": "unify_track_opens", "click_count": "unify_click_count",
            "clicked_at": "unify_clicked_at", "email_replies": "unify_email_replies",
            "sent_at": "unify_reply_sent_at"}


def integration(**kw: Any):
    hs = {"owned_fields": ["unify_most_recent_play", "unify_reply_classification"], "tracking_properties": TRACKING,
          "default_values": {"lifecyclestage": "lead"}, "task_sync": True, "follow_up_due_days": 2}
    hs.update(kw)
    return build_integration({"hubspot": hs, "tracking": {"web_tag_domains": ["yourcompany.com"]}})


def play(properties: dict | None = None, **node: Any):
    n = {"type": "sync_to_hubspot", "properties": properties if properties is not None else {
        "hs_lead_status": "OPEN_DEAL", "unify_most_recent_play": "{{ play.id }}",
        "unify_reply_classification": "{{ reply.classification }}"},
        "default_values": node.pop("default_values", {"unify_reply_classification": "Neutral"})}
    n.update(node)
    return build_play({"play": "hs-replied", "trigger": {"type": "sequence_status_changed"}, "start": "n",
                       "nodes": {"n": n}})


def ev(eid: str, email: str | None, classification: str = "Willing to meet", **kw: Any) -> dict:
    out = {"id": eid, "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z", "to": "Completed: Replied",
           "contact": {"email": email} if email else {}, "reply": {"classification": classification}}
    out.update(kw)
    return out


def contact(rid: str, email: str | None, updated: str = "2026-11-01T00:00:00Z", **props: Any) -> dict:
    return {"id": rid, "properties": {"email": email, **props}, "updatedAt": updated}


@pytest.fixture
def hs(clean_sandbox):
    return connect_info(integration().hubspot, clean_sandbox.info["hubspot"], policy=FAST)


def contacts(sandbox) -> dict[str, dict]:
    return {r["id"]: r["properties"] for r in sandbox.state()["hubspot"]["contacts"]}


def routes(sandbox) -> dict[str, int]:
    return sandbox.counters()["by_route"]


def test_rules_owned_blank_only_defaults_duplicates(clean_sandbox, hs) -> None:
    """D-HS-1: owned always, others into blanks only, defaults, email matching, duplicates."""
    clean_sandbox.load({"hubspot": {"contacts": [
        contact("11", "ann@acme.io", hs_lead_status="IN_PROGRESS", lifecyclestage="customer",
                unify_most_recent_play="old"),
        contact("12", "bo@acme.io"),
        contact("13", "dup@acme.io", "2026-11-02T00:00:00Z"),
        contact("14", "dup@acme.io", "2026-11-06T00:00:00Z"),
        contact("15", None)]}})
    before = contacts(clean_sandbox)
    result = sync_batch(hs, plays=[play()], integration=integration(),
                        events=[ev("e1", "ann@acme.io"), ev("e2", " BO@acme.io", "Positive"), ev("e3", "dup@acme.io"),
                                ev("e4", None)])
    after = contacts(clean_sandbox)
    assert (after["11"]["hs_lead_status"], after["11"]["lifecyclestage"]) == ("IN_PROGRESS", "customer")
    assert after["11"]["unify_most_recent_play"] == "hs-replied"
    assert (after["12"]["hs_lead_status"], after["12"]["lifecyclestage"], after["12"]["unify_reply_classification"]) \
        == ("OPEN_DEAL", "lead", "Positive")
    assert after["14"]["hs_lead_status"] == "OPEN_DEAL" and after["13"] == before["13"]
    assert {(k.record, k.field) for k in result.kept} == {("11", "hs_lead_status"), ("11", "lifecyclestage")}
    reasons = sorted((s.reason, s.record) for s in result.skipped)
    assert reasons == [("duplicate", "13"), ("no_email", None)]
    assert routes(clean_sandbox).get("hs.batch.update") == 1 and routes(clean_sandbox).get("hs.search") == 1


def test_stale_plan_rechecked_and_create(clean_sandbox, hs, sandbox_hs) -> None:
    clean_sandbox.load({"hubspot": {"contacts": [contact("11", "ann@acme.io")]}})
    pulled = hs.pull_changes()
    sandbox_hs.crm.contacts.basic_api.update("11", {"properties": {"hs_lead_status": "CONNECTED"}})
    integ = integration()
    stale = plan([play()], integ, [ev("e1", "ann@acme.io")], {"hubspot": dict(pulled.records)})
    result = apply_plan(hs, stale, integration=integ)
    now = contacts(clean_sandbox)["11"]
    assert now["hs_lead_status"] == "CONNECTED" and now["unify_most_recent_play"] == "hs-replied"
    assert [(k.field, k.current) for k in result.kept if k.field == "hs_lead_status"] == [("hs_lead_status", "CONNECTED")]
    created = sync_batch(hs, plays=[play(create=True)], integration=integ,
                         events=[ev("e2", "new@acme.io", contact={"email": "new@acme.io", "firstName": "Nia"})])
    new = [p for p in contacts(clean_sandbox).values() if p["email"] == "new@acme.io"]
    assert len(new) == 1 and new[0]["firstname"] == "Nia" and new[0]["hs_lead_status"] == "OPEN_DEAL"
    assert [w.op for w in created.written] == ["create"]


def test_emails_and_tasks_associated(clean_sandbox, hs) -> None:
    clean_sandbox.load({"hubspot": {"contacts": [contact("11", "ann@acme.io")]}})
    events = [
        {"id": "s1", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "contact": {"email": "ann@acme.io"},
         "message": {"id": "m1", "subject": "Hi", "body_template": "Hi {{person.firstName}}",
                     "body_rendered": "Hi Ann", "manual": False}},
        {"id": "r1", "type": "email_replied", "at": "2026-11-21T09:00:00Z", "contact": {"email": "ann@acme.io"},
         "in_thread": True, "message": {"id": "m1"}, "reply": {"classification": "Positive", "body": "Yes"}}]
    integ = integration(email_writeback="email_message")
    result = sync_batch(hs, plays=[], integration=integ, events=events)
    state = clean_sandbox.state()["hubspot"]
    emails = {e["properties"]["unify_event_id"]: e for e in state["emails"]}
    tasks = {t["properties"]["unify_event_id"]: t for t in state["tasks"]}
    assert set(emails) == {"s1", "r1"} and set(tasks) == {"r1:follow_up"}
    assert emails["r1"]["properties"]["hs_email_direction"] == "INCOMING_EMAIL"
    assert tasks["r1:follow_up"]["properties"]["hs_timestamp"].startswith("2026-11-23")
    assert all(x["associations"] == {"contacts": ["11"]} for x in [*emails.values(), *tasks.values()])
    assert result.ok and len(result.logged) == 3
    sync_batch(hs, plays=[], integration=integ, events=events)  # a replay: updates, never duplicates
    again = clean_sandbox.state()["hubspot"]
    assert (len(again["emails"]), len(again["tasks"])) == (2, 1)
    assert again["contacts"][0]["associations"] == {"emails": [emails["s1"]["id"], emails["r1"]["id"]],
                                                    "tasks": [tasks["r1:follow_up"]["id"]]}


def test_partial_207_and_whole_batch_refusal(clean_sandbox, hs) -> None:
    """A 207 is handled record by record (a lock is retried); a 400 for one bad value is halved
    until that record is alone: it is skipped with HubSpot's message, the 99 others are written."""
    clean_sandbox.load({"hubspot": {"contacts": [contact(str(100 + i), f"p{i}@acme.io") for i in range(100)]}})
    writes = [RecordWrite("hubspot", "contacts", str(100 + i), f"p{i}@acme.io", "update",
                          {"unify_score": "lots" if i == 37 else i}) for i in range(100)]
    clean_sandbox.set_faults({"rules": [{"kind": "reject", "crm": "hubspot", "count": 2}]})
    out = hs.apply_writes(writes)
    assert len(out.written) == 99 and not out.pending
    (bad,) = out.skipped
    assert (bad.record, bad.code, bad.field) == ("137", "INVALID_DOUBLE", "unify_score")
    assert "lots was not a valid number" in bad.message
    state = contacts(clean_sandbox)
    assert state["137"].get("unify_score") is None and state["199"]["unify_score"] == "99"
    assert sum(e["rejected"] for e in clean_sandbox.requests()) == 2  # both locks retried
    no_retry = connect_info(integration().hubspot, clean_sandbox.info["hubspot"],
                            policy=RetryPolicy(initial=0.001, max_wait=0.01, timeout=5, record_retries=0))
    clean_sandbox.set_faults({"rules": [{"kind": "reject", "crm": "hubspot", "count": 1}]})
    out = no_retry.apply_writes(writes[:3])
    assert len(out.written) == 2 and [s.code for s in out.skipped] == ["LOCKED"]
    assert "locked" in out.skipped[0].message


def test_search_batches_pull_and_properties(clean_sandbox, hs, sandbox_hs) -> None:
    clean_sandbox.load({"hubspot": {"contacts": [contact(str(100 + i), f"p{i}@acme.io") for i in range(250)]}})
    got = hs.read_records([f"P{i}@acme.io" for i in range(250)] + ["x@acme.io"])
    assert len(got["contacts"]) == 250 and routes(clean_sandbox)["hs.search"] == 3
    first = hs.pull_changes()
    assert len(first.records["contacts"]) == 250
    sandbox_hs.crm.contacts.basic_api.update("120", {"properties": {"jobtitle": "VP"}})
    later = hs.pull_changes(first.cursor)
    assert [r["id"] for r in later.records["contacts"]] == ["120"]
    assert hs.read_metadata() == json.loads((ROOT / "plays/crm/hubspot.properties.json").read_text())


@pytest.mark.parametrize("fault, code", [("expired_session", "expired_credentials"),
                                         ("403", "request_limit_exceeded")])
def test_stops_keep_writes_pending(clean_sandbox, hs, fault, code) -> None:
    clean_sandbox.load({"hubspot": {"contacts": [contact(str(100 + i), f"p{i}@acme.io") for i in range(150)]}})
    events = [ev(f"e{i}", f"p{i}@acme.io") for i in range(150)]
    clean_sandbox.set_faults({"rules": [{"kind": fault, "crm": "hubspot", "path": "/batch/update", "skip": 1}]})
    stopped = sync_batch(hs, plays=[play()], integration=integration(), events=events)
    assert stopped.stopped.code == code and len(stopped.written) == 100 and len(stopped.pending) == 50
    assert stopped.tracking_state is None
    clean_sandbox.set_faults(None)
    resumed = sync_batch(hs, plays=[play()], integration=integration(), events=events)
    assert resumed.ok and len(resumed.written) == 50
    assert all(p["hs_lead_status"] == "OPEN_DEAL" for p in contacts(clean_sandbox).values())


def test_overwrite_picklist_default_and_tracking(clean_sandbox, hs) -> None:
    """D-WB-4 opt-in, D-FT-3 default for a value the enumeration does not allow, D-WB-8 forward only."""
    clean_sandbox.load({"hubspot": {"contacts": [contact("11", "ann@acme.io", jobtitle="Intern", unify_click_count="9")]}})
    integ = integration(field_mappings_since={"unify_click_count": "2026-11-10T00:00:00Z"})
    node = play({"jobtitle": "Buyer", "unify_reply_classification": "{{ reply.classification }}"},
                overwrite=["jobtitle"])
    events = [ev("e1", "ann@acme.io", "Maybe later"),
              {"id": "c1", "type": "email_clicked", "at": "2026-11-05T10:00:00Z", "url": "https://yourcompany.com/",
               "contact": {"email": "ann@acme.io"}, "message": {"id": "m1"}},
              {"id": "c2", "type": "email_clicked", "at": "2026-11-12T10:00:00Z", "url": "https://yourcompany.com/",
               "contact": {"email": "ann@acme.io"}, "message": {"id": "m1"}}]
    result = sync_batch(hs, plays=[node], integration=integ, events=events)
    now = contacts(clean_sandbox)["11"]
    assert (now["jobtitle"], now["unify_reply_classification"], now["unify_click_count"]) == ("Buyer", "Neutral", "1")
    assert now["unify_clicked_at"].startswith("2026-11-05T10:00:00") and result.ok and not result.skipped
