"""Tracking (D-TR-1..3, D-WB-8): exact counts, first click, latest reply, forward only, plain data."""

from __future__ import annotations

import json

from engine.evaluate.events import event_from
from engine.evaluate.plan import plan
from engine.evaluate.tracking import TrackingConfig, TrackingState, host_on_domains
from planhelp import ev, integration, lead, sf_settings


def test_domains_d_tr_2():
    d = ["yourcompany.com"]
    assert host_on_domains("https://yourcompany.com/x", d)
    assert host_on_domains("https://go.YourCompany.com/x?y=1", d)
    assert host_on_domains("yourcompany.com/path", d)
    assert not host_on_domains("https://evil-yourcompany.com/x", d)
    assert not host_on_domains("https://yourcompany.com.evil.io/x", d)
    assert not host_on_domains("https://example.com/?u=yourcompany.com", d)
    assert not host_on_domains(None, d) and not host_on_domains("https://yourcompany.com", [])


def test_figures_d_tr_1():
    integ = integration(sf=sf_settings())
    crm = {"salesforce": {"Lead": [lead("L1")]}}
    events = [
        ev("c2", "email_clicked", at="2026-11-20T12:00:00Z", url="https://yourcompany.com/b"),
        ev("c1", "email_clicked", at="2026-11-20T11:00:00Z", url="https://www.yourcompany.com/a"),
        ev("o1", "email_opened", at="2026-11-20T10:00:00Z"),
        ev("r1", "email_replied", at="2026-11-20T13:00:00Z", reply={"classification": "OOO"}),
        ev("r2", "email_replied", at="2026-11-21T13:00:00Z", reply={"classification": "Positive"}),
        ev("r3", "email_replied", at="2026-11-22T13:00:00Z", in_thread=False),
        ev("c3", "email_clicked", at="2026-11-19T12:00:00Z", url="https://evil-yourcompany.com/"),
    ]
    r = plan([], integ, events, crm)
    (w,) = r.writes
    assert w.fields == {"Unify_Track_Opens__c": 1, "Unify_Click_Count__c": 2,
                        "Unify_Clicked_At__c": "2026-11-20T11:00:00Z", "Unify_Email_Replies__c": True,
                        "Unify_Reply_Sent_At__c": "2026-11-21T13:00:00Z"}
    assert sorted(s.reason for s in r.skipped) == ["out_of_thread", "untracked_domain"]


def test_click_without_open_is_counted_never_rejected_d_tr_3():
    r = plan([], integration(sf=sf_settings()), [ev("c1", "email_clicked", url="https://yourcompany.com")],
             {"salesforce": {"Lead": [lead("L1")]}})
    assert r.writes[0].fields["Unify_Click_Count__c"] == 1 and "Unify_Track_Opens__c" not in r.writes[0].fields
    assert r.skipped == ()


def test_forward_only_d_wb_8():
    integ = integration(sf=sf_settings(field_mappings_since={"Unify_Click_Count__c": "2026-11-20T00:00:00Z",
                                                             "Unify_Track_Opens__c": "2026-11-20T00:00:00Z"}))
    events = [ev("c1", "email_clicked", at="2026-11-19T23:59:59Z", url="https://yourcompany.com"),
              ev("c2", "email_clicked", at="2026-11-20T00:00:00Z", url="https://yourcompany.com"),
              ev("o1", "email_opened", at="2026-11-19T10:00:00Z")]
    (w,) = plan([], integ, events, {"salesforce": {"Lead": [lead("L1")]}}).writes
    # Clicked At has no start: it counts the earlier click; Click Count only the one at/after its start
    assert w.fields == {"Unify_Click_Count__c": 1, "Unify_Clicked_At__c": "2026-11-19T23:59:59Z"}


def test_state_round_trip_and_commutative_merge():
    cfg = TrackingConfig.from_integration(integration(sf=sf_settings()))
    evs = [event_from(e) for e in (
        ev("o1", "email_opened", at="2026-11-20T10:00:00Z"),
        ev("c1", "email_clicked", at="2026-11-20T11:00:00Z", url="https://yourcompany.com"),
        ev("r1", "email_replied", at="2026-11-20T12:00:00Z", reply={"classification": "Automated"}),
        ev("o2", "email_opened", at="2026-11-21T10:00:00Z", email="bo@x.io"))]
    a, b, whole = TrackingState(), TrackingState(), TrackingState()
    for e in evs[:2]:
        a.observe(e, cfg)
    for e in evs[2:]:
        b.observe(e, cfg)
    for e in evs:
        whole.observe(e, cfg)
    assert a.merge(b) == b.merge(a) == whole
    data = json.loads(json.dumps(whole.to_dict()))
    assert TrackingState.from_dict(data) == whole
    assert data["contacts"]["ann@acme.io"]["engaged"] == {"opened": "2026-11-20T10:00:00Z",
                                                          "clicked": "2026-11-20T11:00:00Z",
                                                          "replied": "2026-11-20T12:00:00Z"}


def test_records_without_tracking_fields_get_none():
    integ = integration(sf=sf_settings(tracking_fields={}))
    assert plan([], integ, [ev("o1", "email_opened")], {"salesforce": {"Lead": [lead("L1")]}}).writes == ()


def test_tracking_goes_to_the_duplicate_winner_only():
    crm = {"salesforce": {"Lead": [lead("OLD", modified="2026-01-01T00:00:00Z"), lead("NEW")]}}
    r = plan([], integration(sf=sf_settings()), [ev("o1", "email_opened")], crm)
    assert [w.record for w in r.writes] == ["NEW"]
    assert [(s.reason, s.record) for s in r.skipped] == [("duplicate", "OLD")]
