"""Issue 9's domain deviations, end to end through the planner: each test cites its rule id."""

from __future__ import annotations

import pytest

from engine.evaluate.plan import plan
from planhelp import ev, integration, lead, sf_settings, sync_play, writes_by

SF = integration(sf=sf_settings())


def test_whitespace_only_crm_value_is_blank_and_written_d_wb_2():
    """D-WB-2: a CRM field holding only whitespace is blank, so a non-owned field is written."""
    r = plan([sync_play(fields={"Title": "VP"})], SF, [ev("e1")],
             {"salesforce": {"Lead": [lead("L1", Title="   ")]}})
    assert writes_by(r)[0].fields == {"Title": "VP"}
    assert r.kept == ()


def test_overwrite_opt_in_never_lets_a_default_replace_a_value_d_wb_7_d_wb_4():
    """D-WB-7: under `overwrite: [Title]`, an empty mapped value's default does not replace 'CEO'."""
    p = sync_play(fields={"Title": "{{ reply.subject }}"}, overwrite=["Title"], default_values={"Title": "n/a"})
    r = plan([p], SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1", Title="CEO")]}})
    assert writes_by(r) == []
    assert [(k.field, k.current, k.wanted) for k in r.kept] == [("Title", "CEO", "n/a")]
    r = plan([p], SF, [ev("e1", reply={"subject": "VP"})], {"salesforce": {"Lead": [lead("L1", Title="CEO")]}})
    assert writes_by(r)[0].fields == {"Title": "VP"} and writes_by(r)[0].overwrite == ("Title",)


# Plan-level tests: the planner (engine/evaluate/plan.py) calls the evaluate-level functions above.


def test_templated_default_is_rendered_not_written_raw_d_wb_7():
    """D-WB-7: `"Buyer at {{ contact.company }}"` is rendered with the field values' variables."""
    p = sync_play(fields={"Title": "{{ reply.subject }}"}, default_values={"Title": "Buyer at {{ contact.company }}"})
    r = plan([p], SF, [ev("e1", contact={"company": "Acme"})], {"salesforce": {"Lead": [lead("L1")]}})
    assert writes_by(r)[0].fields == {"Title": "Buyer at Acme"}


def test_a_templated_default_is_never_written_raw_d_wb_7():
    p = sync_play(fields={"Title": "{{ reply.subject }}"}, default_values={"Title": "Buyer at {{ contact.nothing }}x"})
    r = plan([p], SF, [ev("e1")], {"salesforce": {"Lead": [lead("L1")]}})
    assert all("{{" not in str(v) for w in r.writes for v in w.fields.values())


def _branch_play(key: str, trigger: str = "reply_classified"):
    from engine.language.model import build_play

    return build_play({"play": "b", "trigger": {"type": trigger}, "start": "r", "nodes": {
        "r": {"type": "branch", "cases": [{"when": {key: {"not": "Negative"}}, "goto": "yes"}], "default": "no"},
        "yes": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Title": "matched"}},
        "no": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Title": "default"}}}})


@pytest.mark.parametrize("key", ["reply_classification", "reply.classification"])
def test_unknown_classification_takes_only_default_d_voc_2(key):
    """D-VOC-2: an unknown run-time classification does not match `{not: Negative}`; `default` takes it."""
    e = ev("e1", "reply_classified", reply={"classification": "Maybe Later"})
    r = plan([_branch_play(key)], SF, [e], {"salesforce": {"Lead": [lead("L1")]}})
    assert [w.fields for w in writes_by(r)] == [{"Title": "default"}]


@pytest.mark.parametrize("key", ["sequence_status", "event.to", "event.from", "event.status"])
def test_unknown_status_takes_only_default_d_voc_1(key):
    e = ev("e1", to="Done", status="Done", **{"from": "Done"})
    r = plan([_branch_play(key, "sequence_status_changed")], SF, [e], {"salesforce": {"Lead": [lead("L1")]}})
    assert [w.fields for w in writes_by(r)] == [{"Title": "default"}]


def test_first_copy_in_ingest_order_counts_not_the_earliest_d_run_1():
    """D-RUN-1: two events with one id: the first in ingest order counts, even with the later `at`."""
    p = sync_play(fields={"Title": "{{ reply.subject }}"})
    events = [ev("e1", at="2026-11-20T12:00:00Z", reply={"subject": "first"}),
              ev("e1", at="2026-11-20T09:00:00Z", reply={"subject": "second"})]
    r = plan([p], SF, events, {"salesforce": {"Lead": [lead("L1")]}})
    assert writes_by(r)[0].fields == {"Title": "first"}


def test_inactive_sequence_fires_no_play_and_its_reply_is_not_synced_d_play_6():
    """D-PLAY-6: a reply with `sequence_active: false`: no Play, no activity, no follow-up, no tracking;
    each reported skipped `sequence_inactive`."""
    p = sync_play(fields={"Title": "x"}, trigger={"type": "email_engagement"})
    e = ev("e1", "email_replied", sequence="Q4", sequence_active=False, reply={"classification": "Positive"})
    r = plan([p], SF, [e], {"salesforce": {"Lead": [lead("L1")]}})
    assert r.writes == () and r.activities == ()
    assert [(s.reason, s.play) for s in r.skipped] == [("sequence_inactive", None), ("sequence_inactive", "p")]


def test_an_active_reply_still_syncs_d_play_6():
    p = sync_play(fields={"Title": "x"}, trigger={"type": "email_engagement"})
    e = ev("e1", "email_replied", sequence="Q4", reply={"classification": "Positive"})
    r = plan([p], SF, [e], {"salesforce": {"Lead": [lead("L1")]}})
    assert writes_by(r, play="p") and r.activities
