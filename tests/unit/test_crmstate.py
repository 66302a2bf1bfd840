"""The §6 CRM state in memory: email index (D-WB-5), unmatchable records, forks for creates."""

from __future__ import annotations

from engine.crmstate import CrmState


def test_index_normalises_emails_and_keeps_other_objects():
    st = CrmState.from_dict({"salesforce": {"Lead": [{"Id": "L1", "Email": " Ann@Acme.IO"}],
                                            "Contact": [{"Id": "C1", "Email": "ann@acme.io"}],
                                            "Task": [{"Id": "T1"}]},
                             "hubspot": {"contacts": [{"id": "5", "properties": {"email": "ANN@acme.io"}}]}})
    assert [r.id for r in st.candidates("salesforce", "ann@acme.io")] == ["L1", "C1"]
    assert [r.id for r in st.candidates("hubspot", "ann@acme.io")] == ["5"]
    assert st.others["salesforce"]["Task"] == [{"Id": "T1"}]


def test_unmatchable_records_and_deleted_ones():
    st = CrmState.from_dict({"salesforce": {"Lead": [{"Id": "L1", "Email": None}, {"Id": "L2", "Email": "bad"},
                                                     {"Id": "L3", "Email": "x@y.io", "IsDeleted": True}]},
                             "hubspot": {"contacts": [{"id": "9", "properties": {}, "archived": True}]}})
    assert [(r.id, r.email_problem) for r in st.unmatchable()] == [("L1", "no_email"), ("L2", "invalid_email")]
    assert st.candidates("salesforce", "x@y.io") == []


def test_fork_adds_without_touching_the_original():
    st = CrmState.from_dict({"salesforce": {"Lead": [{"Id": "L1", "Email": "a@b.io"}]}})
    fork = st.fork()
    rec = fork.add("salesforce", "Lead", {"Email": "a@b.io"}, "a@b.io", 0)
    assert rec.id is None and rec.key == "salesforce/Lead/+a@b.io"
    assert len(fork.candidates("salesforce", "a@b.io")) == 2
    assert len(st.candidates("salesforce", "a@b.io")) == 1


def test_modified_times_read_from_both_crms():
    st = CrmState.from_dict({"salesforce": {"Lead": [{"Id": "L1", "Email": "a@b.io",
                                                      "LastModifiedDate": "2026-11-01T00:00:00.000+0000"}]},
                             "hubspot": {"contacts": [{"id": "1", "properties": {"email": "a@b.io"},
                                                       "updatedAt": "2026-11-01T00:00:00Z"}]}})
    (sf,), (hs,) = st.candidates("salesforce", "a@b.io"), st.candidates("hubspot", "a@b.io")
    assert sf.modified == hs.modified > 0
