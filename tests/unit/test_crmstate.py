"""The §6 CRM state in memory: email index (D-WB-5), unmatchable records, forks for creates."""

from __future__ import annotations

from engine.evaluate.crmstate import CrmState


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


# ------------------------------------------------------------------------------ checking the file

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from engine.evaluate.crmstate import check_crm_state, parse_crm_state_text  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "plays" / "events" / "demo-crm-state.json"


def test_demo_state_and_a_sandbox_style_dump_have_no_issues():
    assert check_crm_state(json.loads(DEMO.read_text())) == []
    dump = {"salesforce": {"Lead": [{"attributes": {"type": "Lead"}, "Id": "00Q1", "Email": "a@b.io",
                                     "LastModifiedDate": "2026-11-01T00:00:00.000+0000", "IsDeleted": False}],
                           "Task": [{"Id": "00T1"}], "EmailMessage": []},
            "hubspot": {"contacts": [{"id": 101, "properties": {"email": "a@b.io"}, "createdAt": "2026-11-01T00:00:00Z",
                                      "updatedAt": "2026-11-01T00:00:00Z", "archived": False, "associations": {}}],
                        "emails": [{"id": "9", "properties": {}}]}}
    assert check_crm_state(dump) == []


@pytest.mark.parametrize("data,code,path", [
    ([], "CRMSTATE002", ()),
    ({"id": "e1", "type": "email_opened", "at": "2026-11-20T10:00:00Z"}, "CRMSTATE002", ()),
    ({"Salesforce": {}}, "CRMSTATE003", ("Salesforce",)),
    ({"salesforce": []}, "CRMSTATE004", ("salesforce",)),
    ({"salesforce": {"Lead": None}}, "CRMSTATE004", ("salesforce", "Lead")),
    ({"salesforce": {"Lead": ["00Q1"]}}, "CRMSTATE004", ("salesforce", "Lead", 0)),
    ({"hubspot": {"contacts": [{"id": "1", "properties": []}]}}, "CRMSTATE004",
     ("hubspot", "contacts", 0, "properties")),
    ({"salesforce": {"Lead": [{"Email": "a@b.io"}]}}, "CRMSTATE005", ("salesforce", "Lead", 0)),
    ({"salesforce": {"Lead": [{"Id": "", "Email": "a@b.io"}]}}, "CRMSTATE005", ("salesforce", "Lead", 0, "Id")),
    ({"salesforce": {"Lead": [{"Id": "1", "LastModifiedDate": "yesterday"}]}}, "CRMSTATE006",
     ("salesforce", "Lead", 0, "LastModifiedDate")),
    ({"hubspot": {"contacts": [{"id": "1", "updatedAt": 5}]}}, "CRMSTATE006", ("hubspot", "contacts", 0, "updatedAt")),
    ({"salesforce": {"Leads": []}}, "CRMSTATE007", ("salesforce", "Leads")),
    ({"salesforce": {"lead": []}}, "CRMSTATE007", ("salesforce", "lead")),
    ({"hubspot": {"Contacts": []}}, "CRMSTATE007", ("hubspot", "Contacts")),
    ({"salesforce": {"Lead": [{"Id": "1"}, {"Id": "1"}]}}, "CRMSTATE008", ("salesforce", "Lead", 1, "Id")),
    ({"hubspot": {"contacts": [{"id": "1", "email": "a@b.io"}]}}, "CRMSTATE009", ("hubspot", "contacts", 0, "email")),
])
def test_slips_are_coded_at_a_path(data, code, path):
    issues = check_crm_state(data)
    assert [(x.code, x.path) for x in issues] == [(code, path)]


def test_custom_objects_and_unknown_other_objects_are_kept_as_given():
    assert check_crm_state({"salesforce": {"Leads__c": [{"x": 1}], "Opportunity": [{"Name": "x"}]}}) == []


def test_file_text_diagnostics_point_at_the_value():
    text = '{"salesforce": {\n  "Lead": [\n    {"Id": "00Q1", "LastModifiedDate": "soon"}\n  ]\n}}\n'
    data, diags = parse_crm_state_text(text, "crm.json")
    assert data is None and [(d.code, d.file, d.line, d.col) for d in diags] == [
        ("CRMSTATE006", "crm.json", 3, text.splitlines()[2].index('"soon"') + 1)]


@pytest.mark.parametrize("text,code,severity", [
    ("", "CRMSTATE010", "warning"), ("{,}", "CRMSTATE001", "error"), ('{"salesforce": NaN}', "CRMSTATE001", "error"),
    ("[" * 5000 + "]" * 5000, "CRMSTATE001", "error"),
    ('{"id": "e1", "type": "email_opened", "at": "x"}\n{"id": "e2"}\n', "CRMSTATE001", "error"),
])
def test_file_level_problems(text, code, severity):
    data, diags = parse_crm_state_text(text, "crm.json")
    assert [(d.code, d.severity) for d in diags] == [(code, severity)]
    assert (data is None) == (severity == "error")


def test_byte_order_mark_is_ignored():
    data, diags = parse_crm_state_text('\ufeff{"salesforce": {"Lead": []}}', "crm.json")
    assert data == {"salesforce": {"Lead": []}} and diags == []
