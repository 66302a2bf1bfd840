"""Matching (D-WB-5, D-WB-6): email, object auto, most recently modified wins, ties stated."""

from __future__ import annotations

from engine.evaluate.crmstate import CrmState
from engine.evaluate.matching import create_object, find


def state(leads=(), contacts=(), hs=()):
    return CrmState.from_dict({"salesforce": {"Lead": list(leads), "Contact": list(contacts)},
                               "hubspot": {"contacts": list(hs)}})


def test_no_email_invalid_email_no_record():
    st = state([{"Id": "L1", "Email": "a@b.io"}])
    assert find(st, "salesforce", "auto", None, "no_email").problem == "no_email"
    assert find(st, "salesforce", "auto", "x", "invalid_email").problem == "invalid_email"
    assert find(st, "salesforce", "auto", "z@b.io").problem == "no_record"
    assert find(st, "salesforce", "Contact", "a@b.io").problem == "no_record"  # object given: Leads don't count


def test_auto_takes_whichever_holds_it():
    st = state(contacts=[{"Id": "C1", "Email": "a@b.io"}])
    assert find(st, "salesforce", "auto", "a@b.io").record.id == "C1"


def test_most_recently_modified_wins_others_lose_d_wb_6():
    st = state([{"Id": "L1", "Email": "a@b.io", "LastModifiedDate": "2026-11-03T00:00:00Z"}],
               [{"Id": "C1", "Email": "A@b.io ", "LastModifiedDate": "2026-11-02T00:00:00Z"},
                {"Id": "C2", "Email": "a@b.io"}])
    m = find(st, "salesforce", "auto", "a@b.io")
    assert m.record.id == "L1" and [r.id for r in m.losers] == ["C1", "C2"]


def test_ties_go_to_the_greater_id_d_wb_6():
    """D-WB-6: equally recent records: the greater Id wins, across Leads and Contacts alike (numeric
    HubSpot ids compare as numbers: 10 > 9)."""
    t = "2026-11-01T00:00:00Z"
    st = state([{"Id": "00Q000000000001", "Email": "a@b.io", "LastModifiedDate": t}],
               [{"Id": "003000000000002", "Email": "a@b.io", "LastModifiedDate": t},
                {"Id": "003000000000001", "Email": "a@b.io", "LastModifiedDate": t}])
    m = find(st, "salesforce", "auto", "a@b.io")
    assert m.record.id == "00Q000000000001" and [r.id for r in m.losers] == ["003000000000002", "003000000000001"]
    assert find(st, "salesforce", "Contact", "a@b.io").record.id == "003000000000002"
    hs = state(hs=[{"id": "9", "properties": {"email": "a@b.io"}, "updatedAt": t},
                   {"id": "10", "properties": {"email": "a@b.io"}, "updatedAt": t}])
    assert find(hs, "hubspot", "contacts", "a@b.io").record.id == "10"


def test_hubspot_duplicates():
    st = state(hs=[{"id": "1", "properties": {"email": "a@b.io"}, "updatedAt": "2026-11-01T00:00:00Z"},
                   {"id": "2", "properties": {"email": "a@b.io"}, "updatedAt": "2026-11-05T00:00:00Z"}])
    m = find(st, "hubspot", "contacts", "a@b.io")
    assert (m.record.id, [r.id for r in m.losers]) == ("2", ["1"])


def test_create_object():
    assert create_object("salesforce", "auto") == "Lead"
    assert create_object("salesforce", "Contact") == "Contact"
    assert create_object("hubspot", "contacts") == "contacts"
