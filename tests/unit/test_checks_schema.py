"""Schema check (engine/language/schema_check.py): one precise diagnostic per violation, at the value (or the
key), inside if/then and oneOf; status/classification enum errors left to the vocabulary check."""

from __future__ import annotations

from engine.language import schema_check
from engine.language.loader import load_yaml

BASE = """\
play: p
trigger:
  type: sequence_status_changed
  to: ["Completed: Replied"]
start: a
nodes:
  a:
    type: sync_to_salesforce
    fields: {Status: Replied}
"""


def _check(text: str, kind: str = "play"):
    doc, diags = load_yaml(text, "p.play.yaml")
    assert not diags
    return schema_check.check(doc, kind)


def _short(text: str, kind: str = "play"):
    return [(d.code, d.line, d.col, d.message, d.hint) for d in _check(text, kind)]


def test_schemas_are_found():
    for kind in ("play", "integration", "test", "event"):
        assert schema_check.validator(kind) is not None, kind


def test_valid_play_has_no_errors():
    assert _check(BASE) == []


def test_unknown_key_points_at_the_key_with_did_you_mean():
    out = _short(BASE.replace("    fields:", "    nxt: stop\n    fields:"))
    assert out == [("SCHEMA001", 9, 5, "unknown key 'nxt'", "did you mean 'next'?")]


def test_several_unknown_keys_each_reported():
    out = _short(BASE + "foo: 1\nbar: 2\n")
    assert [(c, m) for c, _l, _c, m, _h in out] == [("SCHEMA001", "unknown key 'foo'"), ("SCHEMA001", "unknown key 'bar'")]


def test_unknown_node_type_is_one_enum_error_with_hint():
    out = _short(BASE.replace("type: sync_to_salesforce", "type: sync_to_salesfroce"))
    assert out == [("SCHEMA004", 8, 11, "'sync_to_salesfroce' is not allowed for 'type'", "did you mean 'sync_to_salesforce'?")]


def test_status_typo_is_not_a_schema_error():
    assert _check(BASE.replace('["Completed: Replied"]', '["Completed Replied"]')) == []
    branch = BASE.replace("    type: sync_to_salesforce\n    fields: {Status: Replied}\n",
                          "    type: branch\n    cases:\n      - when: {reply_classification: {not: [Willing To Meet]}}\n"
                          "        goto: stop\n      - when: {sequence_status: completed}\n        goto: stop\n")
    assert _check(branch) == []


def test_event_type_typo_is_a_schema_error_with_hint():
    text = BASE.replace("    type: sync_to_salesforce\n    fields: {Status: Replied}\n",
                        "    type: branch\n    cases:\n      - when: {event: email_clickd}\n        goto: stop\n")
    out = _short(text)
    assert [(c, h) for c, _l, _c, _m, h in out] == [("SCHEMA004", "did you mean 'email_clicked'?")]


def test_missing_key_points_at_the_parent_key():
    out = _short(BASE.replace("    type: sync_to_salesforce\n", ""))
    assert out == [("SCHEMA002", 7, 3, "missing required key 'type' in 'a'", None)]


def test_type_errors_name_the_expected_type():
    out = _short(BASE + "enabled: \"true\"\n")
    assert out[0][:4] == ("SCHEMA003", 10, 10, "'enabled' must be true or false, not a string")


def test_patterns_are_said_in_words():
    out = _short(BASE.replace("play: p", "play: My Play"))
    assert out[0][0] == "SCHEMA005" and "not a valid Play id" in out[0][3] and "lowercase" in out[0][4]


def test_reserved_node_id():
    out = _short(BASE.replace("  a:\n", "  stop:\n").replace("start: a", "start: stop"))
    assert out[0][:3] == ("SCHEMA005", 7, 3) and "reserved" in out[0][3]


def test_one_of_every_or_cron():
    both = BASE.replace('type: sequence_status_changed\n  to: ["Completed: Replied"]',
                        "type: schedule\n  every: 1d\n  cron: '0 9 * * *'\n  audience: {csv: a.csv}")
    assert [(c, m) for c, _l, _c, m, _h in _short(both)] == [("SCHEMA007", "'trigger': give only one of every, cron")]
    neither = BASE.replace('type: sequence_status_changed\n  to: ["Completed: Replied"]',
                           "type: schedule\n  audience: {csv: a.csv}")
    assert [(c, m) for c, _l, _c, m, _h in _short(neither)] == [("SCHEMA002", "'trigger' needs one of: every, cron")]


def test_audience_dependent_required():
    text = BASE.replace('type: sequence_status_changed\n  to: ["Completed: Replied"]',
                        "type: schedule\n  every: 1d\n  audience: {engaged: [opened]}")
    assert [c for c, *_ in _short(text)] == ["SCHEMA002"]


def test_campaign_object_hint():
    out = _short(BASE.replace("    fields:", "    object: CampaignMember\n    fields:"))
    assert out[0][0] == "SCHEMA004" and "D-FT-2" in out[0][4]


def test_integration_and_test_documents():
    assert _short("salesforce: {enhanced_emails: true}\n", "integration")[0][:4] == \
        ("SCHEMA001", 1, 14, "unknown key 'enhanced_emails'")
    out = _short("test: t\nplay: p\nevents: []\n", "test")
    assert [(c, m) for c, _l, _c, m, _h in out] == [("SCHEMA002", "missing required key 'expect' in the document")]


def test_never_a_wall_of_alternatives():
    text = BASE.replace("fields: {Status: Replied}", "fields: {Status: [a, b]}\n    create: maybe\n    due_in_days: 1")
    out = _check(text)
    assert len(out) == 3 and all(len(d.message) < 120 for d in out)
