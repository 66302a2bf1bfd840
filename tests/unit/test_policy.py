"""The writeback policy (D-WB-1..4, D-WB-7, D-FT-3): written, kept, skipped — field by field."""

from __future__ import annotations

import pytest

from engine.language.metadata import FieldInfo, ObjectSchema
from engine.evaluate.policy import coerce, CoerceError, decide, is_blank, same

OWNED = frozenset({"Unify_Most_Recent_Play__c", "Unify_Track_Opens__c"})
SCHEMA = ObjectSchema("Lead", {
    "Status": FieldInfo("Status", "picklist", "picklist", ("Open", "Replied", "Nurturing")),
    "Score": FieldInfo("Score", "number", "double"),
    "Flag": FieldInfo("Flag", "boolean", "boolean"),
    "When": FieldInfo("When", "datetime", "datetime"),
    "Day": FieldInfo("Day", "date", "date"),
    "Title": FieldInfo("Title", "text", "string"),
    "Interests": FieldInfo("Interests", "multipicklist", "multipicklist", ("A", "B")),
    "Owner": FieldInfo("Owner", "reference", "reference"),
    "Formula": FieldInfo("Formula", "text", "string", updateable=False, createable=False),
    "Unify_Most_Recent_Play__c": FieldInfo("Unify_Most_Recent_Play__c", "text", "string"),
    "LeadSource": FieldInfo("LeadSource", "picklist", "picklist", ("Web", "Unify")),
})


def run(record, wanted, defaults=None, overwrite=(), schema=None, create=False):
    return decide(create=create, current=record.get, wanted=list(wanted.items()), defaults=defaults or {},
                  owned=OWNED, overwrite=frozenset(overwrite), schema=schema, obj="Lead")


def test_owned_fields_always_written_d_wb_1():
    d = run({"Unify_Most_Recent_Play__c": "old"}, {"Unify_Most_Recent_Play__c": "new"})
    assert d.writes == {"Unify_Most_Recent_Play__c": "new"} and d.kept == []


@pytest.mark.parametrize("blank", [None, ""])
def test_other_fields_written_only_when_blank_d_wb_2(blank):
    assert run({"Status": blank}, {"Status": "Replied"}).writes == {"Status": "Replied"}
    d = run({"Status": "Working"}, {"Status": "Replied"})
    assert d.writes == {} and d.kept == [("Status", "Working", "Replied")]
    assert run({}, {"Status": "Replied"}).writes == {"Status": "Replied"}  # absent = null


@pytest.mark.parametrize("blank", [" ", "   ", "\t\n"])
def test_whitespace_only_is_blank_d_wb_2(blank):
    """D-WB-2: blank is null, the empty string, or a string of only whitespace."""
    assert is_blank(blank)
    d = run({"Title": blank}, {"Title": "VP"})
    assert d.writes == {"Title": "VP"} and d.kept == []


def test_whitespace_default_fills_a_whitespace_field_d_wb_2_d_wb_7():
    """D-WB-2 / D-WB-7: an unmapped default fills a whitespace-only field; a whitespace-only wanted
    value is empty, so the default replaces it."""
    assert run({"Title": "  "}, {}, defaults={"Title": "VP"}).writes == {"Title": "VP"}
    assert run({}, {"Title": "  "}, defaults={"Title": "VP"}).writes == {"Title": "VP"}


@pytest.mark.parametrize("value", [0, False, "x", " x ", [], {}])
def test_values_that_are_not_blank_d_wb_2(value):
    assert not is_blank(value)


def test_equal_value_is_neither_written_nor_kept():
    d = run({"Status": "Replied", "Unify_Track_Opens__c": 3.0}, {"Status": "Replied", "Unify_Track_Opens__c": 3})
    assert d.writes == {} and d.kept == []


def test_create_writes_every_mapped_field_d_wb_3():
    d = run({}, {"Status": "Replied", "Title": "VP", "Empty": ""}, create=True)
    assert d.writes == {"Status": "Replied", "Title": "VP"}


def test_overwrite_opt_in_d_wb_4():
    d = run({"Status": "Working", "Title": "CEO"}, {"Status": "Replied", "Title": "VP"}, overwrite=["Status"])
    assert d.writes == {"Status": "Replied"} and d.overwritten == ["Status"]
    assert d.kept == [("Title", "CEO", "VP")]


def test_defaults_d_wb_7():
    defaults = {"Status": "Open", "LeadSource": "Unify", "Title": "n/a"}
    # an empty mapped value takes the default; an unmapped default fills a blank field only
    d = run({"LeadSource": None, "Title": "CEO"}, {"Status": ""}, defaults=defaults)
    assert d.writes == {"Status": "Open", "LeadSource": "Unify"}
    assert d.kept == [("Title", "CEO", "n/a")]
    # a default never overwrites a non-blank, non-owned field, even for a mapped empty value
    d = run({"Status": "Working"}, {"Status": None}, defaults=defaults)
    assert d.writes == {"LeadSource": "Unify", "Title": "n/a"} and d.kept == [("Status", "Working", "Open")]


@pytest.mark.parametrize("wanted", [None, "", "  ", "Replied?", "lots"])
def test_a_default_never_overwrites_even_under_the_opt_in_d_wb_7_d_wb_4(wanted):
    """D-WB-7 / D-WB-4: the overwrite opt-in lets the node's own mapped value replace a non-blank
    value, never a default (empty value, picklist value not allowed, value of the wrong kind)."""
    field = "Score" if wanted == "lots" else "Status"
    default = 0 if field == "Score" else "Open"
    current = {"Status": "Working", "Score": 7}
    d = run(current, {field: wanted}, defaults={field: default}, overwrite=[field], schema=SCHEMA)
    assert d.writes == {} and d.overwritten == []
    assert d.kept == [(field, current[field], default)]
    # the node's own value still overwrites under the opt-in
    own = 5 if field == "Score" else "Replied"
    d = run(current, {field: own}, defaults={field: default}, overwrite=[field], schema=SCHEMA)
    assert d.writes == {field: own} and d.overwritten == [field]


def test_a_default_still_fills_a_blank_field_under_the_opt_in_d_wb_7():
    d = run({"Status": "  "}, {"Status": None}, defaults={"Status": "Open"}, overwrite=["Status"], schema=SCHEMA)
    assert d.writes == {"Status": "Open"} and d.overwritten == []


def test_picklist_value_outside_the_list_takes_the_default_d_ft_3():
    d = run({}, {"Status": "Replied?"}, defaults={"Status": "Open"}, schema=SCHEMA)
    assert d.writes == {"Status": "Open"}
    d = run({}, {"Status": "Replied?"}, schema=SCHEMA)
    assert d.writes == {} and d.skipped[0][:2] == ("Status", "invalid_picklist_value")
    d = run({}, {"Status": "Replied?"}, defaults={"Status": "Nope"}, schema=SCHEMA)
    assert d.skipped[0][1] == "invalid_picklist_value" and "Nope" in d.skipped[0][2]


def test_unsupported_and_unknown_fields_are_skipped_d_ft_2():
    d = run({}, {"Interests": "A", "Owner": "005", "Nope__c": "x", "Formula": "y"}, schema=SCHEMA)
    assert [(f, r) for f, r, _ in d.skipped] == [("Interests", "unsupported_field"), ("Owner", "unsupported_field"),
                                                 ("Nope__c", "unsupported_field"), ("Formula", "unsupported_field")]
    assert "multipicklist" in d.skipped[0][2]


def test_values_converted_to_field_kinds():
    d = run({}, {"Score": "12", "Flag": "true", "When": "2026-11-20T11:00:00+01:00", "Day": "2026-11-20T23:00:00Z",
                 "Title": 5}, schema=SCHEMA)
    assert d.writes == {"Score": 12, "Flag": True, "When": "2026-11-20T10:00:00Z", "Day": "2026-11-20", "Title": "5"}


def test_a_value_that_cannot_be_converted_is_rejected_or_defaulted():
    d = run({}, {"Score": "lots"}, schema=SCHEMA)
    assert d.skipped[0][:2] == ("Score", "crm_rejected")
    assert run({}, {"Score": "lots"}, defaults={"Score": 0}, schema=SCHEMA).writes == {"Score": 0}


def test_integration_default_for_a_field_the_object_lacks_is_ignored():
    assert run({}, {}, defaults={"Contact_Status__c": "X"}, schema=SCHEMA).writes == {}


def test_helpers():
    assert is_blank(None) and is_blank("") and not is_blank(0) and not is_blank(False)
    assert same("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000+0000") and same(3, 3.0)
    assert not same(True, 1) and not same("a", "b") and not same(None, "")
    with pytest.raises(CoerceError):
        coerce(True, SCHEMA.fields["Score"])


def test_a_date_must_be_a_real_date_as_the_validator_says_d_ft_1():
    """One time parser (engine.language.times): the policy refuses the dates the validator refuses."""
    with pytest.raises(CoerceError):
        coerce("2026-13-01", FieldInfo("Day", "date", "date"))
    assert coerce("2026-11-20", FieldInfo("Day", "date", "date")) == "2026-11-20"
