"""Planner-side domain rules of issue 9 through `engine.run.plan_on_state` (what `plays plan` runs):
each test cites its rule id."""

from __future__ import annotations

import pytest

from engine.connectors.memory import MemoryCrm
from engine.evaluate.events import Event
from engine.language.model import build_integration, build_play
from engine.results import SkipReason
from engine.run import apply_batch, plan_on_state

TRACK = {"track_opens": "Unify_Track_Opens__c"}


def integ():
    return build_integration({"salesforce": {"owned_fields": ["Unify_Most_Recent_Play__c"], "tracking_fields": TRACK,
                                             "task_sync": True, "follow_up_due_days": 2},
                              "tracking": {"web_tag_domains": ["yourcompany.com"]}})


def sync(pid: str, obj: str = "Lead", fields: dict | None = None, trigger: str = "sequence_status_changed", **kw):
    node = {"type": "sync_to_salesforce", "object": obj, "fields": fields or {"Title": "Buyer"}, **kw}
    return build_play({"play": pid, "trigger": {"type": trigger}, "start": "n", "nodes": {"n": node}})


def ev(eid: str, at: str = "2026-11-20T10:00:00Z", typ: str = "sequence_status_changed", **kw) -> dict:
    out = {"id": eid, "type": typ, "at": at, "contact": {"email": kw.pop("email", "ann@acme.io")}, "sequence": "Q4"}
    if typ == "sequence_status_changed":
        out.update(to="Completed: Replied", reply={"classification": "Positive"})
    out.update(kw)
    return out


def lead(rid: str, modified: str = "2026-11-01T00:00:00Z", **f) -> dict:
    return {"Id": rid, "Email": "ann@acme.io", "LastName": "Lee", "Company": "Acme", "LastModifiedDate": modified, **f}


def contact(rid: str, modified: str = "2026-11-05T00:00:00Z", **f) -> dict:
    return {"Id": rid, "Email": " ANN@acme.io", "LastName": "Lee", "LastModifiedDate": modified, **f}


def test_d_wb_6_one_winner_across_leads_and_contacts_gets_every_write():
    """D-WB-6: the more recently modified Contact wins over the Lead: a Lead node writes nothing and
    reports the Lead `duplicate` naming the Contact; tracking and the activity go to the Contact."""
    state = {"salesforce": {"Lead": [lead("00QL")], "Contact": [contact("003C")]}}
    events = [ev("e1"), ev("e2", typ="email_opened", message={"id": "m1"}),
              ev("e3", typ="email_sent", message={"id": "m1", "subject": "Hi", "body_rendered": "Hi"})]
    r = plan_on_state([sync("lead-play", "Lead"), sync("auto-play", "auto", {"Department": "Sales"})], integ(),
                      events, state)
    assert {(w.play, w.object, w.record) for w in r.writes} == {("auto-play", "Contact", "003C"),
                                                                (None, "Contact", "003C")}
    dups = [s for s in r.skipped if s.reason == SkipReason.DUPLICATE]
    assert dups and all(s.record == "00QL" and "003C" in s.detail for s in dups)
    assert {a.record for a in r.activities} == {"003C"}
    assert not [w for w in r.writes if w.record == "00QL"]


def test_d_wb_6_node_naming_the_other_object_with_no_record_of_its_own():
    """D-WB-6: only a Contact holds the email; a Lead node writes nothing: no Lead holds it
    (`no_record`, naming the Contact that does)."""
    r = plan_on_state([sync("lead-play", "Lead")], integ(), [ev("e1")],
                      {"salesforce": {"Lead": [], "Contact": [contact("003C")]}})
    assert r.writes == ()
    (s,) = r.skipped
    assert (s.reason, s.object, s.play) == ("no_record", "Lead", "lead-play") and "003C" in s.detail


def test_d_wb_3_create_only_when_no_lead_and_no_contact_holds_the_email():
    """D-WB-3: `create: true` on Lead creates nothing when a Contact holds the email; it creates
    when no record does."""
    p = sync("create-lead", "Lead", create=True)
    r = plan_on_state([p], integ(), [ev("e1")], {"salesforce": {"Lead": [], "Contact": [contact("003C")]}})
    assert not [w for w in r.writes if w.op == "create"]
    r = plan_on_state([p], integ(), [ev("e1", email="new@acme.io")], {"salesforce": {"Lead": [], "Contact": []}})
    assert [(w.op, w.object, w.email) for w in r.writes] == [("create", "Lead", "new@acme.io")]


def test_d_run_1_order_by_at_then_ingest_order_and_first_copy_of_an_id_counts():
    """D-RUN-1 (and D-RUN-2): events apply by `at`, ties in ingest order; the first copy of an id
    counts. Two Plays fill one blank field: the earlier event's Play wins."""
    a = sync("a-enrolled", fields={"Title": "Enrolled"}, trigger="sequence_enrolled")
    b = sync("b-replied", fields={"Title": "Replied"})
    state = {"salesforce": {"Lead": [lead("00QL")], "Contact": []}}
    events = [ev("x", at="2026-11-20T10:00:00Z", typ="sequence_enrolled"), ev("y", at="2026-11-20T09:00:00Z")]
    r = plan_on_state([a, b], integ(), events, state)
    assert [(w.play, dict(w.fields)) for w in r.writes] == [("b-replied", {"Title": "Replied"})]
    assert [(k.play, k.wanted) for k in r.kept] == [("a-enrolled", "Enrolled")]
    tie = [ev("x", typ="sequence_enrolled"), ev("y")]  # same `at`: ingest order
    assert [w.play for w in plan_on_state([a, b], integ(), tie, state).writes] == ["a-enrolled"]
    dup = [ev("y", at="2026-11-20T09:00:00Z"), dict(ev("y", at="2026-11-20T08:00:00Z"), type="sequence_enrolled")]
    assert [w.play for w in plan_on_state([a, b], integ(), dup, state).writes] == ["b-replied"]


@pytest.mark.xfail("sequence_active" not in Event.__dataclass_fields__, strict=True,
                   reason="the event field comes with the 'rules' branch (event schema and parsing)")
def test_d_play_6_inactive_sequence_fires_no_play_and_its_reply_is_not_synced():
    """D-PLAY-6: `sequence_active: false` fires no Play; a reply carrying it logs no activity, no
    follow-up and no tracking; each is reported `sequence_inactive`."""
    state = {"salesforce": {"Lead": [lead("00QL")], "Contact": []}}
    events = [ev("e1", sequence_active=False),
              ev("e2", typ="email_replied", sequence_active=False, in_thread=True, message={"id": "m1"},
                 reply={"classification": "Positive"})]
    r = plan_on_state([sync("p")], integ(), events, state)
    assert r.writes == () and r.activities == ()
    assert sorted((s.reason, s.event, s.play) for s in r.skipped) == [
        ("sequence_inactive", "e1", "p"), ("sequence_inactive", "e2", None)]


def test_d_run_3_each_record_read_once_and_written_once_per_batch_whatever_the_plays():
    """D-RUN-3: three Plays on one record, one batch: one read per object, one write."""
    plays = [sync(f"p{i}", fields={f: "x"}) for i, f in enumerate(("Title", "Department", "Phone"))]
    mem = MemoryCrm("salesforce", {"Lead": [lead("00QL")], "Contact": []})
    out = apply_batch([ev("e1"), ev("e2")], plays, integ(), {"salesforce": mem})
    assert len(out.written) == 1 and set(out.written[0].fields) == {"Title", "Department", "Phone"}
    assert mem.calls() == {"read": 2, "write": 1}
