"""The Salesforce connector end to end through simple-salesforce against the sandbox: every D-WB
rule through `sync_batch` (read in the same sync, plan, re-check, write), a plan made on stale
values re-checked at write time, duplicates, no email, EmailMessage vs Task, follow-up tasks,
picklist defaults, CRM rejections with the CRM's own message, batching, pull, describe, stops."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.auth import connect, connect_info
from engine.connectors.base import ConnectionProblem, RecordWrite
from engine.connectors.retry import RetryPolicy
from engine.run import apply_plan, sync_batch
from engine.language.model import build_integration, build_play
from engine.evaluate.plan import plan
from sandbox.clients import salesforce_client

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=6, initial=0.001, max_wait=0.01, jitter=0.001, timeout=5, settle=0.01)
TRACKING = {"track_opens": "Unify_Track_Opens__c", "click_count": "Unify_Click_Count__c",
            "clicked_at": "Unify_Clicked_At__c", "email_replies": "Unify_Email_Replies__c",
            "sent_at": "Unify_Reply_Sent_At__c"}


def integration(**kw: Any):
    sf = {"owned_fields": ["Unify_Most_Recent_Play__c", "Unify_Reply_Classification__c"],
          "tracking_fields": TRACKING, "default_values": {"LeadSource": "Unify"}, "task_sync": True,
          "follow_up_due_days": 2}
    sf.update(kw)
    return build_integration({"salesforce": sf, "tracking": {"web_tag_domains": ["yourcompany.com"]}})


def play(fields: dict | None = None, **node: Any):
    n = {"type": "sync_to_salesforce", "object": node.pop("object", "Lead"), "next": node.pop("next", "stop"),
         "fields": fields if fields is not None else {
             "Status": "Replied", "Unify_Most_Recent_Play__c": "{{ play.id }}",
             "Unify_Reply_Classification__c": "{{ reply.classification }}"},
         "default_values": node.pop("default_values", {"Unify_Reply_Classification__c": "Neutral"})}
    n.update(node)
    nodes = {"mark": n}
    if n["next"] == "task":
        nodes["task"] = {"type": "create_task", "crm": "salesforce", "subject": "Call {{ contact.email }}",
                         "due_in_days": 3}
    return build_play({"play": "replied", "trigger": {"type": "sequence_status_changed"}, "start": "mark",
                       "nodes": nodes})


def ev(eid: str, email: str | None, typ: str = "sequence_status_changed", at: str = "2026-11-20T10:00:00Z",
       **kw: Any) -> dict:
    out: dict[str, Any] = {"id": eid, "type": typ, "at": at, "contact": dict(kw.pop("contact", {}))}
    if email is not None:
        out["contact"]["email"] = email
    if typ == "sequence_status_changed":
        out.update(to="Completed: Replied", reply={"classification": kw.pop("classification", "Willing to meet")})
    out.update(kw)
    return out


def lead(email: str | None, rid: str | None = None, **fields: Any) -> dict:
    rec = {"Email": email, "LastName": "Lee", "Company": "Acme", "Status": None,
           "LastModifiedDate": "2026-11-01T00:00:00Z", **fields}
    if rid:
        rec["Id"] = rid
    return rec


@pytest.fixture
def sf(clean_sandbox):
    conn = connect_info(integration().salesforce, clean_sandbox.info["salesforce"], policy=FAST)
    yield conn
    conn.close()


def leads(sandbox) -> dict[str, dict]:
    return {r["Id"]: r for r in sandbox.state()["salesforce"]["Lead"]}


def routes(sandbox) -> dict[str, int]:
    return sandbox.counters()["by_route"]


def test_reads_escape_quotes_and_batch_by_200(clean_sandbox, sf) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [lead("o'brien@acme.io", "00Q5g0000000001AAA"),
                                                lead("ann@acme.io", "00Q5g0000000002AAA")]}})
    got = sf.read_records(["O'Brien@Acme.io ", "x' OR Email != 'y", "a\\'b@c.io", "ann@acme.io"],
                          objects=["Lead"])
    assert sorted(r["Email"] for r in got["Lead"]) == ["ann@acme.io", "o'brien@acme.io"]
    clean_sandbox.reset_log()
    got = sf.read_records(["nobody' OR Email != '"], objects=["Lead"])  # cannot widen the query
    assert got == {"Lead": []} and routes(clean_sandbox) == {"sf.composite": 1}
    clean_sandbox.reset_log()
    sf.read_records([f"p{i}@acme.io" for i in range(450)], objects=["Lead", "Contact"])
    # D-RUN-5: ceil(450/200) = 3 queries per object, five queries to a Composite request (one call)
    assert routes(clean_sandbox)["sf.composite"] == 2 and "sf.query" not in routes(clean_sandbox)


def test_owned_written_others_only_when_blank(clean_sandbox, sf) -> None:
    """D-WB-1, D-WB-2, D-WB-7: owned always; Status / LeadSource only into blanks; defaults fill blanks."""
    clean_sandbox.load({"salesforce": {"Lead": [
        lead("ann@acme.io", "00Q5g0000000001AAA", Status="Working - Contacted", LeadSource="Web",
             Unify_Most_Recent_Play__c="old-play", Unify_Reply_Classification__c="Neutral"),
        lead("bo@acme.io", "00Q5g0000000002AAA", Status="")]}})
    result = sync_batch(sf, plays=[play()], integration=integration(),
                        events=[ev("e1", "ann@acme.io"), ev("e2", " Bo@Acme.IO ", classification="Positive")])
    assert result.ok and not result.skipped
    state = leads(clean_sandbox)
    ann, bo = state["00Q5g0000000001AAA"], state["00Q5g0000000002AAA"]
    assert (ann["Status"], ann["LeadSource"]) == ("Working - Contacted", "Web")
    assert (ann["Unify_Most_Recent_Play__c"], ann["Unify_Reply_Classification__c"]) == ("replied", "Willing to meet")
    assert (bo["Status"], bo["LeadSource"], bo["Unify_Reply_Classification__c"]) == ("Replied", "Unify", "Positive")
    kept = {(k.record, k.field) for k in result.kept}
    assert kept == {("00Q5g0000000001AAA", "Status"), ("00Q5g0000000001AAA", "LeadSource")}
    written = {w.record: w for w in result.written}
    assert written["00Q5g0000000001AAA"].before["Unify_Most_Recent_Play__c"] == "old-play"
    assert routes(clean_sandbox).get("sf.composite") == 2  # one read, one write (D-RUN-5)


def test_blank_only_is_rechecked_at_write_time(clean_sandbox, sf, sandbox_sf) -> None:
    """A field that became non-blank between the pull and the write is never overwritten."""
    clean_sandbox.load({"salesforce": {"Lead": [lead("ann@acme.io", "00Q5g0000000001AAA")]}})
    pulled = sf.pull_changes()
    assert pulled.records["Lead"][0]["Status"] is None
    sandbox_sf.Lead.update("00Q5g0000000001AAA", {"Status": "Qualified", "Title": "CEO"})  # a user, meanwhile
    integ = integration()
    stale = plan([play({"Status": "Replied", "Title": "Buyer", "Unify_Most_Recent_Play__c": "{{ play.id }}"})],
                 integ, [ev("e1", "ann@acme.io")], {"salesforce": dict(pulled.records)})
    assert {w.record: dict(w.fields) for w in stale.writes}["00Q5g0000000001AAA"]["Status"] == "Replied"
    result = apply_plan(sf, stale, integration=integ)  # no `current`: re-read at write time
    rec = leads(clean_sandbox)["00Q5g0000000001AAA"]
    assert (rec["Status"], rec["Title"], rec["Unify_Most_Recent_Play__c"]) == ("Qualified", "CEO", "replied")
    assert {(k.field, k.current, k.wanted) for k in result.kept} >= {("Status", "Qualified", "Replied"),
                                                                   ("Title", "CEO", "Buyer")}
    (written,) = result.written
    assert written.fields["Unify_Most_Recent_Play__c"] == "replied" and not {"Status", "Title"} & set(written.fields)
    # the same through sync_batch: the records are read in the same sync
    sandbox_sf.Lead.update("00Q5g0000000001AAA", {"Title": None, "LeadSource": "Web"})
    again = sync_batch(sf, plays=[play({"Title": "Buyer", "LeadSource": "Partner Referral"})], integration=integ,
                       events=[ev("e2", "ann@acme.io")])
    rec = leads(clean_sandbox)["00Q5g0000000001AAA"]
    assert (rec["Title"], rec["LeadSource"]) == ("Buyer", "Web") and again.ok


def test_create_record_with_every_mapped_field_and_its_task(clean_sandbox, sf) -> None:
    """D-WB-3: a created Lead gets every mapped value; the Play's task lands on the new record."""
    integ = integration()
    node_play = play({"Title": "{{ contact.title }}", "Unify_Most_Recent_Play__c": "{{ play.id }}"},
                     create=True, next="task")
    result = sync_batch(sf, plays=[node_play], integration=integ,
                        events=[ev("e1", "new@acme.io", contact={"firstName": "Nia", "lastName": "Ng",
                                                                 "company": "Acme", "title": "CTO"})])
    assert result.ok and not result.skipped
    (new,) = leads(clean_sandbox).values()
    assert {k: new[k] for k in ("Email", "FirstName", "LastName", "Company", "Title", "LeadSource",
                                "Unify_Most_Recent_Play__c")} == {
        "Email": "new@acme.io", "FirstName": "Nia", "LastName": "Ng", "Company": "Acme", "Title": "CTO",
        "LeadSource": "Unify", "Unify_Most_Recent_Play__c": "replied"}
    (task,) = clean_sandbox.state()["salesforce"]["Task"]
    assert task["WhoId"] == new["Id"] and task["ActivityDate"] == "2026-11-23"
    assert [w.op for w in result.written] == ["create"]
    rerun = sync_batch(sf, plays=[node_play], integration=integ, events=[ev("e1", "new@acme.io")])
    assert len(leads(clean_sandbox)) == 1 and len(clean_sandbox.state()["salesforce"]["Task"]) == 1
    assert not rerun.written and rerun.ok


def test_overwrite_opt_in_and_no_email(clean_sandbox, sf) -> None:
    """D-WB-4 opt-in overwrites; D-WB-5: no / invalid email is skipped with a reason."""
    clean_sandbox.load({"salesforce": {"Lead": [lead("ann@acme.io", "00Q5g0000000001AAA", Title="Intern"),
                                                lead(None, "00Q5g0000000002AAA")]}})
    result = sync_batch(sf, plays=[play({"Title": "Buyer"}, overwrite=["Title"])], integration=integration(),
                        events=[ev("e1", "ann@acme.io"), ev("e2", None), ev("e3", "not-an-email")])
    assert leads(clean_sandbox)["00Q5g0000000001AAA"]["Title"] == "Buyer"
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons == ["invalid_email", "no_email"]
    assert all(s.at is not None for s in result.skipped)


def test_duplicates_only_most_recent_updated(clean_sandbox, sf) -> None:
    """D-WB-6: the most recently modified record is updated; the other is reported, untouched."""
    clean_sandbox.load({"salesforce": {"Lead": [
        lead("dup@acme.io", "00Q5g0000000001AAA", LastModifiedDate="2026-11-02T00:00:00Z"),
        lead("dup@acme.io", "00Q5g0000000002AAA", LastModifiedDate="2026-11-05T00:00:00Z")]}})
    before = leads(clean_sandbox)["00Q5g0000000001AAA"]
    result = sync_batch(sf, plays=[play()], integration=integration(), events=[ev("e1", "dup@acme.io")])
    after = leads(clean_sandbox)
    assert after["00Q5g0000000002AAA"]["Status"] == "Replied"
    assert after["00Q5g0000000001AAA"] == before
    (dup,) = [s for s in result.skipped if s.reason == "duplicate"]
    assert dup.record == "00Q5g0000000001AAA" and "00Q5g0000000002AAA" in dup.detail


def test_picklist_default_and_crm_rejection(clean_sandbox, sf) -> None:
    """D-FT-3: an unknown value becomes the default; D-WB-9: the CRM's refusal is reported with its
    own code, message and time; the rest of the chunk is written (allOrNone false) and so are the
    refused record's other fields."""
    clean_sandbox.load({"salesforce": {"Lead": [lead(f"p{i}@acme.io", f"00Q5g000000000{i}AAA")
                                                for i in range(1, 4)]}})
    node = play({"Unify_Reply_Classification__c": "{{ reply.classification }}", "Title": "{{ contact.title }}"})
    events = [ev("e1", "p1@acme.io", classification="Maybe later"),
              ev("e2", "p2@acme.io", contact={"title": "x" * 300}),
              ev("e3", "p3@acme.io", classification="Positive")]
    result = sync_batch(sf, plays=[node], integration=integration(), events=events)
    state = leads(clean_sandbox)
    assert state["00Q5g0000000001AAA"]["Unify_Reply_Classification__c"] == "Neutral"
    assert state["00Q5g0000000003AAA"]["Unify_Reply_Classification__c"] == "Positive"
    p2 = state["00Q5g0000000002AAA"]  # only the refused field is dropped; the rest is sent again
    assert p2.get("Title") is None and p2["Unify_Reply_Classification__c"] == "Willing to meet"
    (rejected,) = [s for s in result.skipped if s.reason == "crm_rejected"]
    assert (rejected.record, rejected.code, rejected.field) == ("00Q5g0000000002AAA", "STRING_TOO_LONG", "Title")
    assert "data value too large" in rejected.message and rejected.at is not None
    assert rejected.play == "replied" and rejected.node == "mark"
    assert routes(clean_sandbox).get("sf.composite") == 3  # the read, the chunk, then p2 without Title
    assert {w.record for w in result.written} == {f"00Q5g000000000{i}AAA" for i in range(1, 4)}


def _email_events() -> list[dict]:
    msg = {"id": "m1", "subject": "Hi Ann", "body_template": "Hi {{person.firstName}}",
           "body_rendered": "Hi Ann", "manual": False}
    return [
        {"id": "s1", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "contact": {"email": "ann@acme.io"},
         "message": msg},
        {"id": "s2", "type": "email_sent", "at": "2026-11-20T10:05:00Z", "contact": {"email": "ann@acme.io"},
         "message": {**msg, "id": "m2", "manual": True}},
        {"id": "r1", "type": "email_replied", "at": "2026-11-21T09:00:00Z", "contact": {"email": "ann@acme.io"},
         "in_thread": True, "message": {"id": "m1"},
         "reply": {"classification": "Positive", "subject": "Re: Hi", "body": "Sounds good"}},
    ]


def test_email_message_writeback_and_follow_up(clean_sandbox, sf) -> None:
    """D-EM-1/3/4/6: EmailMessage + relation for automated mail and its reply, a Task for manual
    mail, a follow-up Task due two days after the reply; a replay creates nothing new."""
    clean_sandbox.load({"salesforce": {"Lead": [lead("ann@acme.io", "00Q5g0000000001AAA")]}})
    integ = integration(email_writeback="email_message", enhanced_email=True)
    result = sync_batch(sf, plays=[], integration=integ, events=_email_events())
    assert result.ok and not result.skipped
    state = clean_sandbox.state()["salesforce"]
    messages = {m["Unify_Event_Id__c"]: m for m in state["EmailMessage"]}
    assert set(messages) == {"s1", "r1"}
    assert messages["s1"]["TextBody"] == "Hi Ann" and messages["s1"]["MessageDate"].startswith("2026-11-20T10:00")
    assert messages["r1"]["Incoming"] is True and messages["r1"]["TextBody"] == "Sounds good"
    relations = {(r["EmailMessageId"], r["RelationType"]) for r in state["EmailMessageRelation"]}
    assert relations == {(messages["s1"]["Id"], "ToAddress"), (messages["r1"]["Id"], "FromAddress")}
    assert all(r["RelationId"] == "00Q5g0000000001AAA" for r in state["EmailMessageRelation"])
    tasks = {t["Unify_Event_Id__c"]: t for t in state["Task"]}
    assert set(tasks) == {"s2", "r1:follow_up"}
    assert tasks["s2"]["Description"] == "Hi {{person.firstName}}"  # D-EM-2: the template text
    assert tasks["r1:follow_up"]["ActivityDate"] == "2026-11-23" and tasks["r1:follow_up"]["WhoId"] == "00Q5g0000000001AAA"
    again = sync_batch(sf, plays=[], integration=integ, events=_email_events())
    state2 = clean_sandbox.state()["salesforce"]
    assert [len(state2[o]) for o in ("EmailMessage", "EmailMessageRelation", "Task")] == [2, 2, 2]
    assert again.ok and not any(a.created for a in again.logged)


def test_task_writeback(clean_sandbox, sf) -> None:
    """D-EM-2/4: without Email Message writeback every email and reply is a Task; the reply's
    content is in no record."""
    clean_sandbox.load({"salesforce": {"Contact": [{"Id": "0035g0000000001AAA", "Email": "ann@acme.io",
                                                    "LastName": "Lee"}]}})
    result = sync_batch(sf, plays=[], integration=integration(), events=_email_events())
    state = clean_sandbox.state()["salesforce"]
    assert state["EmailMessage"] == [] and result.ok
    tasks = {t["Unify_Event_Id__c"]: t for t in state["Task"]}
    assert set(tasks) == {"s1", "s2", "r1", "r1:follow_up"}
    assert all(t["WhoId"] == "0035g0000000001AAA" for t in tasks.values())
    assert "Sounds good" not in json.dumps(state["Task"])


def test_pull_by_system_modstamp_and_describe(clean_sandbox, sf, sandbox_sf) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [lead("ann@acme.io", "00Q5g0000000001AAA"),
                                                lead("bo@acme.io", "00Q5g0000000002AAA")],
                                       "Contact": [{"Email": "cy@acme.io", "LastName": "Cy"}]}})
    first = sf.pull_changes()
    assert (len(first.records["Lead"]), len(first.records["Contact"])) == (2, 1)
    assert first.cursor["_me"] == sandbox_sf.oauth2("userinfo")["user_id"]  # asked once, kept in the cursor
    assert sf.pull_changes(first.cursor).records == {"Lead": [], "Contact": []}
    salesforce_client(clean_sandbox.info, person=True).Lead.update("00Q5g0000000002AAA", {"Title": "VP"})
    sandbox_sf.Lead.update("00Q5g0000000001AAA", {"Title": "CEO"})  # the integration user's own write
    clean_sandbox.reset_log()
    later = sf.pull_changes(first.cursor)
    # D-SY-1 incremental by last-modified time; D-RUN-3: what plays wrote itself is not read again
    assert [r["Id"] for r in later.records["Lead"]] == ["00Q5g0000000002AAA"] and later.records["Contact"] == []
    assert later.records["Lead"][0]["LastModifiedById"] != first.cursor["_me"]
    assert clean_sandbox.counters()["by_route"] == {"sf.composite": 1}  # both objects and the describes: one call
    snapshot = sf.read_metadata()
    assert snapshot == json.loads((ROOT / "plays/crm/salesforce.describe.json").read_text())


def test_pull_schema_command(clean_sandbox, tmp_path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    shutil.copy(ROOT / "plays/integration.yaml", tmp_path / "integration.yaml")
    run = CliRunner().invoke(app, ["crm", "pull-schema", "--plays", str(tmp_path), "--sandbox-info",
                                   json.dumps(clean_sandbox.info)])
    assert run.exit_code == 0, run.output
    for name in ("salesforce.describe.json", "hubspot.properties.json"):
        assert json.loads((tmp_path / "crm" / name).read_text()) == json.loads((ROOT / "plays/crm" / name).read_text())
    missing = CliRunner().invoke(app, ["crm", "pull-schema", "--plays", str(tmp_path), "--crm", "salesforce"],
                                 env={"SF_INSTANCE_URL": "", "SF_SESSION_ID": ""})
    assert missing.exit_code == 2 and "SF_INSTANCE_URL is not set" in missing.output


def test_connection_problems_are_values(clean_sandbox) -> None:
    settings = build_integration({"salesforce": {"instance_url": "${SF_URL}", "session_id": "${SF_SID}"}}).salesforce
    problem = connect(settings, env={"SF_URL": "https://x.example"})
    assert isinstance(problem, ConnectionProblem) and problem.code == "CONN001" and "SF_SID" in problem.message
    partial = connect(build_integration({"salesforce": {"username": "u"}}).salesforce, env={})
    assert isinstance(partial, ConnectionProblem) and "password" in partial.message
    info = clean_sandbox.info["salesforce"]
    conn = connect(settings, env={"SF_URL": info["instance_url"], "SF_SID": info["session_id"]},
                   ca_file=info["ca_file"], policy=FAST)
    assert conn.read_records(["ann@acme.io"], objects=["Lead"]) == {"Lead": []}


@pytest.mark.parametrize("fault, code", [("expired_session", "expired_credentials"),
                                         ("403", "request_limit_exceeded")])
def test_stops_keep_writes_pending(clean_sandbox, sf, fault, code) -> None:
    """Expired credentials and REQUEST_LIMIT_EXCEEDED stop the sync with a clear message; the unsent
    writes stay pending and a later run sends them, once."""
    clean_sandbox.load({"salesforce": {"Lead": [lead(f"p{i}@acme.io") for i in range(1050)]}})
    events = [ev(f"e{i}", f"p{i}@acme.io") for i in range(1050)] + [ev("new", "new@acme.io")]
    node = play(create=True)
    sf.describe("Lead"), sf.describe("Contact")
    clean_sandbox.set_faults({"rules": [{"kind": fault, "path": "composite/sobjects", "skip": 1}]})
    stopped = sync_batch(sf, plays=[node], integration=integration(), events=events)
    assert stopped.stopped is not None and stopped.stopped.code == code and stopped.tracking_state is None
    # D-RUN-5: 1,000 updates a Composite request; the 2nd request (50) and the create stay pending
    assert len(stopped.written) == 1000 and len(stopped.pending) == 51
    assert all(isinstance(p, RecordWrite) for p in stopped.pending)
    clean_sandbox.set_faults(None)
    resumed = sync_batch(sf, plays=[node], integration=integration(), events=events)
    assert resumed.ok and len(resumed.written) == 51
    state = leads(clean_sandbox)
    assert len(state) == 1051 and all(r["Status"] == "Replied" for r in state.values())


def test_tracking_fields_forward_only(clean_sandbox, sf) -> None:
    """D-TR-1 / D-WB-8: owned tracking figures replace the CRM's; clicks before Click Count was
    mapped are not counted; clicks off the web-tag domains are reported (D-TR-2)."""
    clean_sandbox.load({"salesforce": {"Lead": [lead("ann@acme.io", "00Q5g0000000001AAA", Unify_Click_Count__c=7)]}})
    integ = integration(field_mappings_since={"Unify_Click_Count__c": "2026-11-10T00:00:00Z"})
    base = {"contact": {"email": "ann@acme.io"}, "message": {"id": "m1"}}
    events = [{"id": "o1", "type": "email_opened", "at": "2026-11-05T10:00:00Z", **base},
              {"id": "c1", "type": "email_clicked", "at": "2026-11-05T10:01:00Z", "url": "https://yourcompany.com/a", **base},
              {"id": "c2", "type": "email_clicked", "at": "2026-11-12T10:00:00Z", "url": "https://www.yourcompany.com/b",
               **base},
              {"id": "c3", "type": "email_clicked", "at": "2026-11-12T11:00:00Z", "url": "https://evil-yourcompany.com/",
               **base}]
    result = sync_batch(sf, plays=[], integration=integ, events=events)
    rec = leads(clean_sandbox)["00Q5g0000000001AAA"]
    assert (rec["Unify_Track_Opens__c"], rec["Unify_Click_Count__c"]) == (1, 1)
    assert rec["Unify_Clicked_At__c"].startswith("2026-11-05T10:01:00")
    assert [s.reason for s in result.skipped] == ["untracked_domain"]
    assert [(w.op, w.sources) for w in result.written] == [("update", ((None, "tracking", None),))]
