"""The pure part of `plays backfill` (engine/evaluate/backfill.py): D-WB-8 forward-only tracking fields get
history only on request; the figure is recomputed from every event, counting from T; only F is
written (owned, D-WB-1, so whatever the CRM holds); other tracking fields are untouched."""

from __future__ import annotations

from engine.evaluate.backfill import NOT_TRACKING, figures, plan_backfill, resolve_field
from engine.diagnostics import Diagnostic
from engine.evaluate.plan import plan
from planhelp import ev, hs_contact, hs_settings, integration, lead, sf_settings

START = {"Unify_Click_Count__c": "2026-11-01T00:00:00Z"}
URL = "https://yourcompany.com/x"


def _events():
    return [
        ev("c1", "email_clicked", at="2026-10-10T00:00:00Z", url=URL),           # before the mapping
        ev("c2", "email_clicked", at="2026-10-20T00:00:00Z", url=URL),           # before the mapping
        ev("c2", "email_clicked", at="2026-10-20T00:00:00Z", url=URL),           # duplicate id: once
        ev("c3", "email_clicked", at="2026-11-05T00:00:00Z", url=URL),           # after it
        ev("c4", "email_clicked", at="2026-10-15T00:00:00Z", url="https://evil-yourcompany.com/"),  # D-TR-2
        ev("c5", "email_clicked", at="2026-09-01T00:00:00Z", url=URL),           # before T
        ev("c6", "email_clicked", at="2026-10-12T00:00:00Z", url=URL, email="bo@acme.io"),
        ev("o1", "email_opened", at="2026-10-10T00:00:00Z"),
    ]


def test_forward_only_run_counts_from_mapping_start_backfill_from_t_d_wb_8():
    integ = integration(sf=sf_settings(field_mappings_since=START))
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    # what a run writes: Click Count only counts from the mapping start (D-WB-8)
    (w,) = plan([], integ, _events(), crm).writes
    assert w.fields["Unify_Click_Count__c"] == 1
    target = resolve_field(integ, "Unify_Click_Count__c")
    assert figures(_events(), integ, target, "2026-10-01T00:00:00Z") == {
        "salesforce": {"ann@acme.io": 3, "bo@acme.io": 1}}
    p = plan_backfill(_events(), integ, target, "2026-10-01T00:00:00Z", crm)
    (bw,) = p.writes  # bo@acme.io has no record: skipped, not created
    assert (bw.crm, bw.object, bw.record, bw.node, dict(bw.fields)) == (
        "salesforce", "Lead", "L1", "backfill", {"Unify_Click_Count__c": 3})
    assert [(s.reason, s.email) for s in p.skipped] == [("no_record", "bo@acme.io")]


def test_owned_field_written_whatever_the_crm_holds_and_equal_values_not_d_wb_1():
    integ = integration(sf=sf_settings(field_mappings_since=START))
    target = resolve_field(integ, "Unify_Click_Count__c")
    higher = {"salesforce": {"Lead": [lead("L1", Unify_Click_Count__c=99)]}}
    (w,) = plan_backfill(_events(), integ, target, "2026-10-01T00:00:00Z", higher).writes
    assert w.fields == {"Unify_Click_Count__c": 3}
    same = {"salesforce": {"Lead": [lead("L1", Unify_Click_Count__c=3)]}}
    assert plan_backfill(_events(), integ, target, "2026-10-01T00:00:00Z", same).writes == ()


def test_since_earlier_counts_more_later_counts_less():
    integ = integration(sf=sf_settings(field_mappings_since=START))
    target = resolve_field(integ, "Unify_Click_Count__c")
    assert figures(_events(), integ, target, "2026-01-01T00:00:00Z")["salesforce"]["ann@acme.io"] == 4
    assert figures(_events(), integ, target, "2026-11-01T00:00:00Z")["salesforce"] == {"ann@acme.io": 1}
    assert figures(_events(), integ, target, "2027-01-01T00:00:00Z")["salesforce"] == {}


def test_only_f_is_written_no_other_tracking_field_nor_play_or_activity():
    integ = integration(sf=sf_settings(field_mappings_since=START))
    events = _events() + [ev("r1", "email_replied", at="2026-10-11T00:00:00Z")]
    target = resolve_field(integ, "Unify_Track_Opens__c")
    p = plan_backfill(events, integ, target, "2026-10-01T00:00:00Z", {"salesforce": {"Lead": [lead("L1")]}})
    (w,) = p.writes
    assert w.fields == {"Unify_Track_Opens__c": 1}


def test_first_click_and_hubspot_property():
    integ = integration(sf=sf_settings(), hs=hs_settings(field_mappings_since={"unify_clicked_at": "2026-11-01T00:00:00Z"}))
    target = resolve_field(integ, "unify_clicked_at")
    assert target.crms == ("hubspot",) and target.keys == {"hubspot": "clicked_at"}
    crm = {"hubspot": {"contacts": [hs_contact("101", unify_clicked_at="2026-11-05T00:00:00Z")]}}
    (w,) = plan_backfill(_events(), integ, target, "2026-10-01T00:00:00Z", crm).writes
    assert (w.crm, w.record, dict(w.fields)) == ("hubspot", "101", {"unify_clicked_at": "2026-10-10T00:00:00Z"})


def test_unknown_or_non_tracking_field_is_a_diagnostic():
    integ = integration(sf=sf_settings())
    d = resolve_field(integ, "Unify_Clicks_Count__c")
    assert isinstance(d, Diagnostic) and d.code == NOT_TRACKING and d.severity == "error"
    assert "Unify_Click_Count__c" in (d.hint or "")
    owned = resolve_field(integ, "Unify_Most_Recent_Play__c")
    assert isinstance(owned, Diagnostic) and "owned field" in owned.message


def test_tracking_patch_moves_only_f_slot_of_the_stored_aggregate():
    from engine.evaluate.backfill import tracking_patch
    from engine.evaluate.tracking import TrackingState

    integ = integration(sf=sf_settings(field_mappings_since=START), hs=hs_settings())
    target = resolve_field(integ, "Unify_Click_Count__c")
    stored = {"ann@acme.io": {"salesforce": {"track_opens": 2, "click_count": 1},
                              "hubspot": {"click_count": 4}, "engaged": {"clicked": "2026-11-05T00:00:00Z"}}}
    patch = tracking_patch(stored, _events(), integ, target, "2026-10-01T00:00:00Z")
    assert patch["ann@acme.io"] == {"salesforce": {"track_opens": 2, "click_count": 3},
                                    "hubspot": {"click_count": 4}, "engaged": {"clicked": "2026-11-05T00:00:00Z"}}
    assert patch["bo@acme.io"] == {"salesforce": {"click_count": 1}}
    assert stored["ann@acme.io"]["salesforce"]["click_count"] == 1  # the input is not modified
    state = TrackingState.from_dict({"contacts": patch})
    assert state.values("ann@acme.io", "salesforce") == {"track_opens": 2, "click_count": 3}
