"""Play test comparison (§7): subset matching, exact lists, 'none', readable diffs."""

from __future__ import annotations

from engine.evaluate.playtest import compare, values_equal

ACTUAL = {"writes": [{"play": "p", "node": "n", "crm": "salesforce", "object": "Lead", "record": "L1",
                      "email": "a@b.io", "op": "update", "fields": {"Status": "Replied", "Score": 3}}],
          "kept": [], "activities": [],
          "skipped": [{"reason": "no_email", "crm": None, "record": None, "detail": "event e1 has no contact email"}]}


def test_subset_match():
    assert compare({"writes": [{"crm": "salesforce", "record": "L1", "fields": {"Status": "Replied"}}]}, ACTUAL) == []
    assert compare({"writes": [{"crm": "salesforce", "fields": {"Score": 3.0}}]}, ACTUAL) == []
    assert compare({"skipped": [{"reason": "no_email", "detail": "no contact"}]}, ACTUAL) == []


def test_mismatch_gives_a_readable_diff():
    problems = compare({"writes": [{"crm": "salesforce", "fields": {"Status": "Nurturing"}}]}, ACTUAL)
    text = "\n".join(problems)
    assert "writes[0] not found" in text and 'fields.Status: expected "Nurturing", got "Replied"' in text


def test_empty_list_means_none_and_missing_list_is_unchecked():
    assert compare({"kept": []}, ACTUAL) == []
    assert compare({"writes": []}, ACTUAL)[0].startswith("writes: expected none, got 1")
    assert compare({}, ACTUAL) == []


def test_exact():
    exact = {"exact": True, "writes": [{"crm": "salesforce", "fields": {"Status": "Replied"}}]}
    assert any("fields.Score: not expected" in p for p in compare(exact, ACTUAL))
    exact["writes"][0]["fields"]["Score"] = 3
    assert compare(exact, ACTUAL) == []
    assert compare({"exact": True, "skipped": []}, ACTUAL)


def test_each_expected_entry_needs_its_own_actual_entry():
    two = {"writes": [{"crm": "salesforce"}, {"crm": "salesforce"}]}
    assert compare(two, ACTUAL)


def test_values_equal():
    assert values_equal(3, 3.0) and values_equal("2026-11-20T10:00:00Z", "2026-11-20T11:00:00+01:00")
    assert not values_equal(True, 1) and not values_equal("a", "b") and values_equal(None, None)



def test_crm_slips_and_broken_events_fail_the_test_with_positions():
    from engine.language.loader import load_yaml
    from engine.language.model import DEFAULT_INTEGRATION, build_play
    from engine.evaluate.playtest import run_test

    event = "  - {id: e1, type: email_opened, at: '2026-11-20T10:00:00Z', reply: {tag: x}}"
    text = "test: t\nplay: p\ncrm:\n  salesforce:\n    Leads: []\nevents:\n" + event + "\n"
    doc, _ = load_yaml(text, "t.test.yaml")
    play = build_play({"play": "p", "trigger": {"type": "email_engagement", "events": ["opened"]}, "start": "stop",
                       "nodes": {"n": {"type": "branch", "default": "stop"}}}, "p.play.yaml")
    outcome = run_test(doc, doc.data, {"p": play}, DEFAULT_INTEGRATION)
    assert not outcome.passed
    assert outcome.problems[0].startswith("t.test.yaml:5:5: error CRMSTATE007")
    assert outcome.problems[1].startswith(f"t.test.yaml:7:{event.index('tag') + 1}: error EVENT007 unknown reply key")
