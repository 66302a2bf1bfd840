"""The planner end to end on small inputs: ordering, merging, net writes, creates, skips (cites D-ids)."""

from __future__ import annotations

import json

import pytest

from engine.evaluate.compiler import compile_plays
from engine.evaluate.events import make_event
from engine.language.model import build_play
from engine.evaluate.plan import Planner, PlanResult, Write, plan
from engine.evaluate.tracking import TrackingState
from planhelp import ev, hs_contact, hs_play, hs_settings, integration, lead, sf_settings, sync_play, writes_by

SF = integration(sf=sf_settings(default_values={"LeadSource": "Unify"}))
BOTH = integration(sf=sf_settings(), hs=hs_settings())


def test_json_shape_matches_cli_md():
    r = plan([sync_play(fields={"Status": "Replied"})], SF, [ev("e1")], {"salesforce": {"Lead": [
        lead("00Q1", LeadSource="Web"), lead("00Q9", email=None)]}})
    doc = r.to_json()
    assert set(doc) == {"writes", "kept", "activities", "skipped"}
    assert doc["writes"] == [{"play": "p", "node": "n", "crm": "salesforce", "object": "Lead", "record": "00Q1",
                              "email": "ann@acme.io", "op": "update", "fields": {"Status": "Replied"}}]
    assert doc["kept"][0] == {"play": "p", "node": "n", "crm": "salesforce", "object": "Lead", "record": "00Q1",
                              "email": "ann@acme.io", "field": "LeadSource", "current": "Web", "wanted": "Unify",
                              "reason": "not_blank"}
    skipped = doc["skipped"][0]
    assert set(skipped) == {"reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail"}
    assert skipped["reason"] == "no_email" and skipped["record"] == "00Q9"
    json.dumps(doc)  # plain JSON


def test_events_applied_in_time_order_each_seeing_earlier_writes():
    """cli.md: events in `at` order; a field filled by an earlier write is no longer blank (D-WB-2)."""
    p = sync_play(fields={"Status": "{{ event.id }}"})
    events = [ev("late", at="2026-11-20T12:00:00Z"), ev("early", at="2026-11-20T09:00:00Z")]
    r = plan([p], SF, events, {"salesforce": {"Lead": [lead("L1")]}})
    assert writes_by(r)[0].fields["Status"] == "early"
    assert [(k.field, k.current, k.wanted) for k in r.kept if k.field == "Status"] == [("Status", "early", "late")]


def test_ties_in_time_keep_input_order():
    p = sync_play(fields={"Status": "{{ event.id }}"})
    r = plan([p], SF, [ev("b"), ev("a")], {"salesforce": {"Lead": [lead("L1")]}})
    assert writes_by(r)[0].fields["Status"] == "b"


def test_duplicate_event_ids_applied_once():
    """§5: an event seen twice is applied once."""
    p = build_play({"play": "t", "trigger": {"type": "reply_classified"}, "start": "t", "nodes": {
        "t": {"type": "create_task", "crm": "salesforce", "subject": "x"}}})
    e = ev("e1", "reply_classified", reply={"classification": "Positive"})
    r = plan([p], SF, [e, dict(e), dict(e)], {"salesforce": {"Lead": [lead("L1")]}})
    assert len([a for a in r.activities if a.play == "t"]) == 1


def test_one_entry_per_record_per_node_net_of_several_events():
    p = sync_play(fields={"Unify_Most_Recent_Play__c": "{{ event.id }}", "Status": "Replied"})
    r = plan([p], SF, [ev("e1", at="2026-11-20T09:00:00Z"), ev("e2", at="2026-11-20T10:00:00Z")],
             {"salesforce": {"Lead": [lead("L1")]}})
    ws = writes_by(r, "p")
    assert len(ws) == 1
    assert ws[0].fields == {"Unify_Most_Recent_Play__c": "e2", "Status": "Replied", "LeadSource": "Unify"}


def test_merge_order_of_several_plays_on_one_event_is_play_id_order():
    """Plays fired by one event run in id order: fill-blank -> first id wins; owned -> last id wins."""
    b = sync_play("b-play", fields={"Status": "FromB", "Unify_Most_Recent_Play__c": "b-play"})
    a = sync_play("a-play", fields={"Status": "FromA", "Unify_Most_Recent_Play__c": "a-play"})
    for order in ([a, b], [b, a]):
        r = plan(order, SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1")]}})
        wa, wb = writes_by(r, "a-play")[0], writes_by(r, "b-play")[0]
        assert wa.fields.get("Status") == "FromA" and "Status" not in wb.fields
        assert wb.fields.get("Unify_Most_Recent_Play__c") == "b-play"
        assert "Unify_Most_Recent_Play__c" not in wa.fields  # net: written last by b-play
        assert [(k.play, k.field, k.wanted) for k in r.kept if k.field == "Status"] == [("b-play", "Status", "FromB")]


def test_fields_are_disjoint_across_entries_so_apply_order_does_not_matter():
    a = sync_play("a", fields={"Unify_Most_Recent_Play__c": "{{ event.id }}"})
    b = sync_play("b", fields={"Unify_Most_Recent_Play__c": "{{ event.id }}-b"}, trigger={"type": "reply_classified"})
    r = plan([a, b], SF, [ev("e1", at="2026-11-20T09:00:00Z"), ev("e2", "reply_classified", at="2026-11-20T10:00:00Z"),
                          ev("e3", at="2026-11-20T11:00:00Z")], {"salesforce": {"Lead": [lead("L1")]}})
    holders = [w for w in r.writes if "Unify_Most_Recent_Play__c" in w.fields]
    assert len(holders) == 1 and holders[0].fields["Unify_Most_Recent_Play__c"] == "e3"
    assert not writes_by(r, "b")  # b's only field was overwritten later: nothing left to write


def test_disabled_play_does_not_run_and_is_reported():
    """D-PLAY-6."""
    p = build_play({"play": "off", "enabled": False, "trigger": {"type": "sequence_status_changed"}, "start": "n",
                    "nodes": {"n": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "X"}}}})
    r = plan([p], SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1")]}})
    assert not r.writes
    assert [(s.reason, s.play, s.event) for s in r.skipped] == [("play_disabled", "off", "e1")]


def test_trigger_filters_and_index():
    p = sync_play(fields={"Status": "X"}, trigger={"type": "sequence_status_changed", "to": ["Completed: Replied"],
                                                   "from": ["Engaged"], "sequences": ["Q4"]})
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    hit = ev("e1", to="Completed: Replied", **{"from": "Engaged"}, sequence="Q4")
    assert writes_by(plan([p], SF, [hit], crm))
    for miss in (dict(hit, to="Bounced"), dict(hit, sequence="Q1"), dict(hit, **{"from": "Queued"}),
                 dict(hit, type="reply_classified")):
        assert not writes_by(plan([p], SF, [miss], crm)), miss
    compiled = compile_plays([p], SF)
    assert compiled.for_event("sequence_status_changed") and not compiled.for_event("email_opened")


def test_branch_routes_on_status_and_classification_d_play_3():
    p = build_play({"play": "r", "trigger": {"type": "sequence_status_changed"}, "start": "route", "nodes": {
        "route": {"type": "branch", "cases": [
            {"when": {"sequence_status": "Completed: Replied", "reply_classification": ["Willing to meet", "Positive"]},
             "goto": "replied"},
            {"when": {"reply_classification": "Bad Timing"}, "goto": "nurture"},
            {"when": {"reply_classification": "Negative"}, "goto": "unq"}], "default": "other"},
        "replied": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "Replied"}},
        "nurture": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "Nurturing"}},
        "unq": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "Unqualified"}},
        "other": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "Other"}}}})
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    for cls, want in (("Willing to meet", "Replied"), ("Bad Timing", "Nurturing"), ("Negative", "Unqualified"),
                      ("Neutral", "Other"), ("Willing To Meet", "Other")):  # unknown -> default only (D-VOC-2)
        e = ev("e", to="Completed: Replied", reply={"classification": cls})
        assert writes_by(plan([p], SF, [e], crm))[0].fields["Status"] == want, cls


def test_create_record_when_node_says_create_d_wb_3():
    p = sync_play(fields={"Status": "Contacted", "Title": "{{ contact.title }}"}, create=True, object="auto")
    e = ev("e1", email="New@Acme.io ", contact={"firstName": "Nu", "lastName": "Person", "title": "CTO",
                                                "linkedinUrl": "https://linkedin.com/in/nu"})
    r = plan([p], SF, [e, ev("e2", at="2026-11-20T11:00:00Z", email="new@acme.io")], {})
    (w,) = writes_by(r, "p")
    assert (w.op, w.record, w.object, w.email) == ("create", None, "Lead", "new@acme.io")
    assert w.fields == {"Email": "new@acme.io", "FirstName": "Nu", "LastName": "Person", "Title": "CTO",
                        "LinkedIn_URL__c": "https://linkedin.com/in/nu", "Status": "Contacted",
                        "Company": "[not provided]", "LeadSource": "Unify"}
    assert not [s for s in r.skipped if s.reason == "no_record"]


def test_no_record_without_create_is_skipped():
    r = plan([sync_play(fields={"Status": "X"})], SF, [ev("e1")], {})
    assert [(s.reason, s.play, s.node, s.email) for s in r.skipped] == [("no_record", "p", "n", "ann@acme.io")]


def test_no_email_and_invalid_email_events_d_wb_5():
    p = sync_play(fields={"Status": "X"})
    r = plan([p], SF, [ev("e1", email=None), ev("e2", email="not-an-email")], {"salesforce": {"Lead": [lead("L1")]}})
    assert [(s.reason, s.event) for s in r.skipped] == [("no_email", "e1"), ("invalid_email", "e2")]
    assert not r.writes


def test_duplicate_losers_reported_once_naming_the_winner_d_wb_6():
    crm = {"salesforce": {"Lead": [lead("OLD", modified="2026-10-01T00:00:00Z"),
                                   lead("NEW", email=" ANN@acme.io", modified="2026-11-02T00:00:00Z")]}}
    r = plan([sync_play(fields={"Status": "X"})], SF, [ev("e1"), ev("e2", at="2026-11-21T00:00:00Z")], crm)
    assert [w.record for w in r.writes] == ["NEW"]
    dups = [s for s in r.skipped if s.reason == "duplicate"]
    assert len(dups) == 1 and dups[0].record == "OLD" and "NEW" in dups[0].detail


def test_hubspot_sync_and_tracking_entry():
    r = plan([hs_play(properties={"hs_lead_status": "OPEN", "unify_most_recent_play": "{{ play.id }}"})], BOTH,
             [ev("e1"), ev("o1", "email_opened", message={"id": "m"})],
             {"hubspot": {"contacts": [hs_contact("51", hs_lead_status="NEW")]}})
    (w,) = writes_by(r, "h")
    assert w.fields == {"unify_most_recent_play": "h"}
    assert [(k.field, k.current) for k in r.kept] == [("hs_lead_status", "NEW")]
    (t,) = [w for w in r.writes if w.node == "tracking"]
    assert (t.play, t.crm, t.record, t.fields) == (None, "hubspot", "51", {"unify_track_opens": 1})


def test_tracking_write_only_holds_changed_figures():
    crm = {"salesforce": {"Lead": [lead("L1", Unify_Track_Opens__c=1.0)]}}
    r = plan([], SF, [ev("o1", "email_opened"), ev("c1", "email_clicked", url="https://yourcompany.com/a")], crm)
    (t,) = r.writes
    assert "Unify_Track_Opens__c" not in t.fields and t.fields["Unify_Click_Count__c"] == 1


def test_contact_fallback_to_crm_record_in_conditions_and_templates():
    p = build_play({"play": "c", "trigger": {"type": "sequence_status_changed"}, "start": "b", "nodes": {
        "b": {"type": "branch", "cases": [{"when": {"contact.Title": {"contains": "VP"}}, "goto": "w"}]},
        "w": {"type": "sync_to_salesforce", "object": "Lead",
              "fields": {"Description": "{{ person.firstName }} / {{ contact.Title }}"}}}})
    r = plan([p], SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1", FirstName="Ann", Title="VP Sales")]}})
    assert writes_by(r, "c")[0].fields["Description"] == "Ann / VP Sales"
    r2 = plan([p], SF, [ev("e1", contact={"Title": "Engineer"})], {"salesforce": {"Lead": [lead("L1", Title="VP")]}})
    assert not writes_by(r2, "c")  # the event's attribute wins over the record's field


def test_planner_incremental_batches_and_tracking_state_round_trip():
    """The runtime: plan per batch with persisted tracking state gives the same figures as one plan."""
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    batch1 = [ev("o1", "email_opened", at="2026-11-20T09:00:00Z"),
              ev("c1", "email_clicked", at="2026-11-20T09:05:00Z", url="https://a.yourcompany.com/x")]
    batch2 = [ev("o2", "email_opened", at="2026-11-21T09:00:00Z"), ev("o1", "email_opened", at="2026-11-20T09:00:00Z"),
              ev("c2", "email_clicked", at="2026-11-19T09:00:00Z", url="https://yourcompany.com/y")]
    p1 = Planner([], SF, crm)
    p1.feed(batch1)
    stored = json.loads(json.dumps(p1.tracking_state.to_dict()))
    p2 = Planner([], SF, crm, tracking_state=stored)
    p2.feed(batch2[:1] + batch2[2:])  # the store removed the replayed o1
    whole = plan([], SF, batch1 + batch2, crm)
    assert p2.result().writes[0].fields == whole.writes[0].fields == {
        "Unify_Track_Opens__c": 2, "Unify_Click_Count__c": 2, "Unify_Clicked_At__c": "2026-11-19T09:00:00Z"}


def test_planner_drain_keeps_memory_flat_and_result_still_complete():
    p = Planner([], SF, {"salesforce": {"Lead": [lead("L1")]}})
    p.feed([ev("c1", "email_clicked", url="https://evil.example/x")])
    acts, skips = p.drain()
    assert [s.reason for s in skips] == ["untracked_domain"]
    assert p.result().skipped == ()


def test_dedupe_window_forgets_old_ids_but_still_dedupes_recent_ones():
    p = Planner([], SF, {"salesforce": {"Lead": [lead("L1")]}}, dedupe_window=3_600_000_000)
    p.feed([ev("o1", "email_opened", at="2026-11-20T09:00:00Z"), ev("o1", "email_opened", at="2026-11-20T09:00:00Z")])
    p.feed([ev(f"x{i}", "email_opened", at=f"2026-11-20T{10 + i}:00:00Z") for i in range(3)])
    assert "o1" not in p._seen_ids and len(p._seen_ids) <= 2
    assert p.result().writes[0].fields["Unify_Track_Opens__c"] == 4


def test_schedule_plays_run_at_now_over_the_audience():
    p = build_play({"play": "s", "trigger": {"type": "schedule", "every": "1d",
                                             "audience": {"engaged": ["opened"], "within": "1d"}},
                    "start": "n", "nodes": {"n": {"type": "sync_to_salesforce", "object": "auto",
                                                  "fields": {"Unify_Most_Recent_Play__c": "{{ play.id }}"}}}})
    crm = {"salesforce": {"Lead": [lead("L1"), lead("L2", email="bo@acme.io")]}}
    events = [ev("o1", "email_opened", at="2026-11-20T09:00:00Z"),
              ev("o2", "email_opened", at="2026-11-10T09:00:00Z", email="bo@acme.io")]
    r = plan([p], SF, events, crm, now="2026-11-20T12:00:00Z")
    assert [w.record for w in writes_by(r, "s")] == ["L1"]
    assert not writes_by(plan([p], SF, events, crm, now="2026-11-25T12:00:00Z"), "s")


def test_plan_is_pure_inputs_not_modified():
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    before = json.dumps(crm, sort_keys=True)
    plan([sync_play(fields={"Status": "X"}, create=True)], SF, [ev("e1"), ev("e2", email="z@z.io")], crm)
    assert json.dumps(crm, sort_keys=True) == before


def test_accepts_event_objects_and_compiled_plays():
    compiled = compile_plays([sync_play(fields={"Status": "X"})], SF)
    r = plan(compiled, SF, [make_event("e1", "sequence_status_changed", "2026-11-20T10:00:00Z",
                                       contact={"email": "ann@acme.io"})], {"salesforce": {"Lead": [lead("L1")]}})
    assert isinstance(r, PlanResult) and isinstance(r.writes[0], Write)


def test_overwrite_opt_in_is_visible_d_wb_4():
    p = sync_play(fields={"Status": "Replied"}, overwrite=["Status"])
    r = plan([p], SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1", Status="Working")]}})
    (w,) = writes_by(r, "p")
    assert w.fields["Status"] == "Replied" and w.overwrite == ("Status",)
    assert w.to_json()["overwrite"] == ["Status"]


def test_runtime_picklist_check_with_metadata(sf_objects):
    """D-FT-3 at run time: a template value outside the picklist -> default, else skipped."""
    p = sync_play(fields={"Unify_Reply_Classification__c": "{{ reply.classification }}"},
                  default_values={"Unify_Reply_Classification__c": "Neutral"})
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    e = ev("e1", reply={"classification": "Later maybe"})  # unknown (kept, D-VOC-2), not in the picklist
    r = plan([p], SF, [e], crm, crm_objects=sf_objects)
    assert writes_by(r, "p")[0].fields["Unify_Reply_Classification__c"] == "Neutral"
    p2 = sync_play(fields={"Unify_Reply_Classification__c": "{{ reply.classification }}"})
    r2 = plan([p2], SF, [e], crm, crm_objects=sf_objects)
    assert [(s.reason, s.field) for s in r2.skipped] == [("invalid_picklist_value", "Unify_Reply_Classification__c")]


@pytest.fixture
def sf_objects():
    from pathlib import Path

    from engine.language.metadata import salesforce_objects
    root = Path(__file__).resolve().parents[2]
    return {"salesforce": salesforce_objects(json.loads((root / "plays/crm/salesforce.describe.json").read_text()))}


def test_tracking_state_type_accepted():
    st = TrackingState()
    p = Planner([], SF, {}, tracking_state=st)
    p.feed([ev("o1", "email_opened")])
    assert st.contacts == {}  # the caller's state is not modified
