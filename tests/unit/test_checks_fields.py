"""Field checks (engine/language/checks/fields.py) against the example CRM snapshots: D-FT-1 literal types,
D-FT-2 unsupported types, D-FT-3 picklist defaults and values, D-FT-4 advice, read-only fields,
object `auto`, integration defaults / owned / tracking targets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.language.checks.fields import literal_problem
from engine.language.metadata import FieldInfo
from engine.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
INTEG = """salesforce:
  default_values: {LeadSource: Unify}
  tracking_fields: {track_opens: Unify_Track_Opens__c}
  schema_file: crm/salesforce.describe.json
hubspot:
  schema_file: crm/hubspot.properties.json
"""


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: str, obj: str = "Lead", extra: str = "",
        integ: str = INTEG, kind: str = "sync_to_salesforce") -> list[tuple[str, str]]:
    shutil.copytree(ROOT / "plays" / "crm", tmp_path / "crm")
    (tmp_path / "integration.yaml").write_text(integ)
    key = "properties" if kind == "sync_to_hubspot" else "fields"
    objline = f"    object: {obj}\n" if kind == "sync_to_salesforce" else ""
    (tmp_path / "p.play.yaml").write_text(
        "play: p\ntrigger: {type: sequence_enrolled}\nstart: a\nnodes:\n  a:\n"
        f"    type: {kind}\n{objline}    {key}:\n{fields}{extra}")
    monkeypatch.chdir(tmp_path)
    ws = load_workspace(["."])
    return [(d.code, d.message) for d in ws.diagnostics]


def codes(*args, **kw) -> list[str]:
    return [c for c, _m in run(*args, **kw)]


def F(kind: str, values: tuple = (), name: str = "F") -> FieldInfo:
    return FieldInfo(name=name, kind=kind, crm_type=kind, picklist_values=values)


@pytest.mark.parametrize("kind,value,ok", [
    ("number", 42, True), ("number", 3.5, True), ("number", "42", True), ("number", " -1.5e3 ", True),
    ("number", "lots", False), ("number", True, False), ("number", "nan", False), ("number", "1_000", False),
    ("boolean", True, True), ("boolean", "true", False), ("boolean", "yes", False), ("boolean", 1, False),
    ("date", "2026-11-20", True), ("date", "2026-13-01", False), ("date", "20/11/2026", False),
    ("datetime", "2026-11-20T10:00:00Z", True), ("datetime", "2026-11-20T10:00:00+01:00", True),
    ("datetime", "2026-11-20T10:00:00.5Z", True), ("datetime", "2026-11-20T10:00:00", False),
    ("datetime", "2026-11-20", False), ("text", "anything", True), ("text", 12, True),
    ("picklist", "Replied", True), ("picklist", "replied", False), ("number", None, True),
])
def test_literal_types(kind, value, ok):
    info = F(kind, ("Replied", "Nurturing") if kind == "picklist" else ())
    assert (literal_problem(info, value) is None) == ok


def test_picklist_hint_names_nearest_values():
    code, _msg, hint = literal_problem(F("picklist", ("Replied", "Nurturing", "Unqualified")), "Nurture")
    assert code == "FIELD004" and "'Nurturing'" in hint


def test_a_valid_node(tmp_path, monkeypatch):
    fields = ("      Status: Replied\n      Unify_Score__c: \"42\"\n      Unify_Enrolled_On__c: 2026-11-20\n"
              "      HasOptedOutOfEmail: false\n      Unify_Reply_Classification__c: \"{{ reply.classification }}\"\n")
    extra = "    default_values: {Unify_Reply_Classification__c: Neutral}\n    overwrite: [HasOptedOutOfEmail]\n"
    assert run(tmp_path, monkeypatch, fields, extra=extra) == []  # a checkbox needs the opt-in (D-FT-5)


def test_unknown_field_with_did_you_mean(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch, "      Statsu: Replied\n") == [("FIELD001", "unknown salesforce field 'Statsu' on Lead")]


def test_auto_needs_the_field_on_both_objects(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, "      Status: Replied\n", obj="auto")
    assert out == [("FIELD001", "field 'Status' exists on Lead but not on Contact")]


@pytest.mark.parametrize("field", ["Unify_Interests__c", "OwnerId", "Unify_Account__c", "Id"])
def test_unsupported_types(tmp_path, monkeypatch, field):
    assert codes(tmp_path, monkeypatch, f"      {field}: x\n") == ["FIELD002"]


def test_read_only(tmp_path, monkeypatch):
    assert codes(tmp_path, monkeypatch, "      LastModifiedDate: \"2026-11-20T10:00:00Z\"\n") == ["FIELD006"]


def test_picklist_from_template_needs_a_default(tmp_path, monkeypatch):
    tpl = "      Unify_Sequence_Status__c: \"{{ sequence.status }}\"\n"
    assert codes(tmp_path, monkeypatch, tpl) == ["FIELD003"]


def test_integration_default_counts_as_default(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch, "      LeadSource: \"{{ contact.company }}\"\n") == []


def test_default_values_are_checked_too(tmp_path, monkeypatch):
    out = codes(tmp_path, monkeypatch, "      Rating: \"{{ contact.title }}\"\n", extra="    default_values: {Rating: Lukewarm}\n")
    assert out == ["FIELD004"]


def test_d_ft_4_advice(tmp_path, monkeypatch):
    assert codes(tmp_path, monkeypatch, "      Description: \"{{ reply.classification }}\"\n") == ["FIELD007"]
    (tmp_path / "p.play.yaml").unlink()
    shutil.rmtree(tmp_path / "crm")
    out = codes(tmp_path, monkeypatch, "      Rating: \"{{ reply.tags }}\"\n")
    assert sorted(out) == ["FIELD003", "FIELD008"]


def test_text_around_a_classification_is_fine(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch, "      Description: \"Reply: {{ reply.classification }}\"\n") == []


def test_overwrite_of_an_unwritten_field(tmp_path, monkeypatch):
    assert codes(tmp_path, monkeypatch, "      Status: Replied\n", extra="    overwrite: [Title]\n") == ["FIELD011"]


def test_hubspot_properties(tmp_path, monkeypatch):
    out = codes(tmp_path, monkeypatch, "      unify_interests: a\n      hs_leadstatus: OPEN\n      lifecyclestage: Lead\n"
                "      unify_score: high\n      unify_email_replies: true\n", kind="sync_to_hubspot")
    assert sorted(out) == ["FIELD001", "FIELD002", "FIELD004", "FIELD005", "FIELD013"]  # D-FT-5: a bool


def test_integration_level_fields(tmp_path, monkeypatch):
    integ = INTEG.replace("{LeadSource: Unify}", "{LeadSource: Unfy, Status: Open - Not Contacted}") \
        .replace("{track_opens: Unify_Track_Opens__c}", "{track_opens: Unify_Clicked_At__c, sent_at: Nope__c}") \
        + "  owned_fields: [Unify_Interests__c]\n"
    out = run(tmp_path, monkeypatch, "      Title: CEO\n", integ=integ.replace("hubspot:\n  schema_file: crm/hubspot.properties.json\n", "") +
              "hubspot:\n  schema_file: crm/hubspot.properties.json\n")
    assert sorted(c for c, _ in out) == ["FIELD001", "FIELD002", "FIELD004", "FIELD009"]


def test_object_missing_from_snapshot_is_a_warning(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, "      Title: CEO\n", obj="Contact",
              integ="salesforce:\n  schema_file: crm/hubspot.properties.json\n")
    assert [c for c, _ in out] == ["INTEG004"]  # a HubSpot file is not a Salesforce snapshot


def test_no_snapshot_no_field_checks(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, "      Statsu: x\n", integ="salesforce: {}\n")
    assert [c for c, _ in out] == ["INTEG002"]


def test_a_templated_picklist_default_is_an_error_d_ft_3(tmp_path, monkeypatch):
    """D-FT-3: a picklist's default must be a literal the picklist allows; a template cannot be checked."""
    out = run(tmp_path, monkeypatch, "      Rating: \"{{ contact.title }}\"\n",
              extra="    default_values: {Rating: \"{{ contact.title }}\"}\n")
    assert [c for c, _ in out] == ["FIELD012"]
    assert "Rating" in out[0][1] and "D-FT-3" in out[0][1]


def test_a_templated_picklist_default_in_the_integration_is_an_error_d_ft_3(tmp_path, monkeypatch):
    integ = INTEG.replace("{LeadSource: Unify}", "{LeadSource: \"{{ contact.company }}\"}")
    assert codes(tmp_path, monkeypatch, "      Title: CEO\n", integ=integ) == ["FIELD012"]


def test_a_templated_text_default_is_fine_d_wb_7(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch, "      Title: \"{{ reply.subject }}\"\n",
               extra="    default_values: {Title: \"Buyer at {{ contact.company }}\"}\n") == []


@pytest.mark.parametrize("fields,kind", [
    ("      HasOptedOutOfEmail: true\n", "sync_to_salesforce"),
    ("      HasOptedOutOfEmail: \"{{ contact.HasOptedOutOfEmail }}\"\n", "sync_to_salesforce"),
    ("      unify_email_replies: true\n", "sync_to_hubspot"),
])
def test_a_non_owned_checkbox_is_never_blank_so_warned_d_ft_5(tmp_path, monkeypatch, fields, kind):
    """D-FT-5: a checkbox is never blank (false is a value): mapped without owned_fields or the
    overwrite opt-in it can never be written; the warning says how."""
    out = run(tmp_path, monkeypatch, fields, kind=kind)
    assert [c for c, _ in out] == ["FIELD013"]
    assert "D-FT-5" in out[0][1]
    (hint,) = [d.hint for d in load_workspace(["."]).diagnostics]
    assert "owned_fields" in hint and "overwrite" in hint


def test_an_owned_or_opted_in_checkbox_is_not_warned_d_ft_5(tmp_path, monkeypatch):
    assert codes(tmp_path, monkeypatch, "      HasOptedOutOfEmail: true\n",
                 extra="    overwrite: [HasOptedOutOfEmail]\n") == []
    (tmp_path / "p.play.yaml").unlink()
    shutil.rmtree(tmp_path / "crm")
    integ = INTEG.replace("  schema_file: crm/salesforce", "  owned_fields: [HasOptedOutOfEmail]\n  schema_file: crm/salesforce")
    assert codes(tmp_path, monkeypatch, "      HasOptedOutOfEmail: true\n", integ=integ) == []
    (tmp_path / "p.play.yaml").unlink()
    shutil.rmtree(tmp_path / "crm")
    integ = INTEG.replace("{track_opens: Unify_Track_Opens__c}", "{email_replies: Unify_Email_Replies__c}")
    assert codes(tmp_path, monkeypatch, "      Unify_Email_Replies__c: true\n", integ=integ) == []


@pytest.mark.parametrize("default,code", [("\"{{ contact.Nope__c }}\"", "TEMPLATE003"),
                                          ("\"{{ reply.clasification }}\"", "TEMPLATE002"),
                                          ("\"{{ contact.firstName \"", "TEMPLATE001")])
def test_templated_integration_defaults_are_checked_like_node_ones_d_wb_7(tmp_path, monkeypatch, default, code):
    """D-WB-7: integration defaults may be templates, rendered like field values, so they are checked."""
    integ = INTEG.replace("{LeadSource: Unify}", "{LeadSource: Unify, Description: " + default + "}")
    assert codes(tmp_path, monkeypatch, "      Title: CEO\n", integ=integ) == [code]
