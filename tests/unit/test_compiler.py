"""The compiler: flat tables, the trigger index, and templates compiled to lookups that render
exactly like the sandboxed jinja2."""

from __future__ import annotations

import pytest

from engine.evaluate.compiler import (BRANCH, SYNC, CompileError, EvalContext, compile_play, compile_plays,
                                      compile_template, sync_values)
from engine.evaluate.events import event_from
from engine.language.model import build_play
from engine.language.templates import render
from planhelp import integration, sf_settings, sync_play

EVENT = event_from({"id": "e1", "type": "reply_classified", "at": "2026-11-20T10:00:00Z", "sequence": "Q4",
                    "status": "Engaged", "url": "https://yourcompany.com/x",
                    "contact": {"email": "ann@acme.io", "firstName": "Ann", "score": 3.5, "vip": True},
                    "reply": {"classification": "Positive", "tags": ["a", "b"], "subject": "Re: hi"},
                    "message": {"id": "m1"}})


class _Rec:
    key = "salesforce/Lead/L1"
    fields = {"LastName": "Lee", "FirstName": "Annie", "Title": "VP"}


def ctx():
    return EvalContext(EVENT, "my-play", ("salesforce",), lambda crm: (_Rec(), None))


@pytest.mark.parametrize("text", [
    "{{ contact.firstName }}", "{{person.firstName}}", "Hi {{ contact.firstName }} {{ contact.LastName }}!",
    "{{ contact.Title }}", "{{ contact.nothing }}", "{{ reply.tags }}", "{{ reply.classification }}",
    "{{ sequence.name }}/{{ sequence.status }}", "{{ event.at }}", "{{ event.url }}", "{{ play.id }}",
    "{{ message.id }}", "{{ contact.score }}", "{{ contact.vip }}", "  {{ contact.firstName }}  ",
    "{{ contact.firstName | upper }}", "{% if reply.classification %}yes{% endif %}", "{{ reply.items }}",
    "{{ contact.firstName ~ '!' }}", "{{ event.contact.email }}",
])
def test_fast_templates_render_like_jinja(text):
    c = ctx()
    assert compile_template(text)(c) == render(text, c.jinja_context())


def test_literal_and_template_fields_are_split():
    cp = compile_play(sync_play(fields={"Status": "Replied", "X": "{{ play.id }}", "N": 3}), integration(sf=sf_settings()))
    (node,) = cp.table
    assert node.kind == SYNC
    assert dict(node.literals) == {"Status": "Replied", "N": 3}
    assert [f for f, _ in node.templates] == ["X"]


def test_defaults_node_over_integration_d_wb_7():
    integ = integration(sf=sf_settings(default_values={"LeadSource": "Unify", "Status": "Open"}))
    cp = compile_play(sync_play(fields={}, default_values={"Status": "New"}), integ)
    assert dict(cp.table[0].defaults) == {"LeadSource": "Unify", "Status": "New"}


def test_templated_defaults_are_rendered_with_the_field_variables_d_wb_7():
    """D-WB-7 / D-FT-3: defaults of other fields may be templates, rendered with the same variables as
    field values; one that renders empty is no default; literals pass through; the node's wins."""
    integ = integration(sf=sf_settings(default_values={"LeadSource": "Unify", "Title": "{{ contact.nothing }}"}))
    cp = compile_play(sync_play(fields={"Status": "Replied", "Company": "{{ contact.company }}"},
                                default_values={"Description": "Buyer at {{ contact.firstName }}",
                                                "Website": "{{ contact.nothing }}", "Industry": "Tech"}), integ)
    (node,) = cp.table
    wanted, defaults = sync_values(node, ctx())
    assert dict(wanted) == {"Status": "Replied", "Company": ""}
    assert dict(defaults) == {"LeadSource": "Unify", "Description": "Buyer at Ann", "Industry": "Tech"}
    assert all("{{" not in str(v) for v in node.defaults.values())  # never a raw template


def test_node_template_default_wins_over_integration_literal_d_wb_7():
    integ = integration(sf=sf_settings(default_values={"Description": "plain"}))
    (node,) = compile_play(sync_play(fields={}, default_values={"Description": "{{ play.id }}"}), integ).table
    assert dict(sync_values(node, ctx())[1]) == {"Description": "my-play"}


def test_flat_table_with_indexes():
    play = build_play({"play": "b", "trigger": {"type": "sequence_status_changed"}, "start": "r", "nodes": {
        "r": {"type": "branch", "cases": [{"when": {"sequence": "Q4"}, "goto": "s"}], "default": "stop"},
        "s": {"type": "sync_to_salesforce", "fields": {"Status": "X"}}}})
    cp = compile_play(play, integration())
    assert cp.start == 0 and cp.table[0].kind == BRANCH
    assert cp.table[0].cases[0][1] == 1 and cp.table[0].default == -1 and cp.table[1].next == -1


def test_cycles_and_dangling_references_do_not_compile():
    cyc = build_play({"play": "c", "trigger": {"type": "sequence_enrolled"}, "start": "a", "nodes": {
        "a": {"type": "sync_to_salesforce", "fields": {}, "next": "b"},
        "b": {"type": "sync_to_salesforce", "fields": {}, "next": "a"}}})
    with pytest.raises(CompileError) as exc:
        compile_play(cyc, integration())
    assert exc.value.diagnostics[0].code == "COMPILE002"
    dangling = build_play({"play": "d", "trigger": {"type": "sequence_enrolled"}, "start": "a", "nodes": {
        "a": {"type": "sync_to_salesforce", "fields": {}, "next": "zz"}}})
    compiled = compile_plays([dangling, sync_play("ok")], integration())
    assert [p.id for p in compiled.plays] == ["ok"] and compiled.errors[0].code == "COMPILE001"


def test_trigger_index_by_event_type_sorted_by_id():
    plays = [sync_play("z"), sync_play("a"),
             sync_play("eng", trigger={"type": "email_engagement", "events": ["clicked"]}),
             sync_play("all", trigger={"type": "email_engagement"}),
             sync_play("sched", trigger={"type": "schedule", "every": "1d", "audience": {"csv": "x.csv"}})]
    c = compile_plays(plays, integration())
    assert [p.id for p in c.for_event("sequence_status_changed")] == ["a", "z"]
    assert [p.id for p in c.for_event("email_clicked")] == ["all", "eng"]
    assert [p.id for p in c.for_event("email_opened")] == ["all"]
    assert [p.id for p in c.schedules] == ["sched"]
    assert all("sched" not in [p.id for p in ps] for ps in c.by_event.values())


def test_trigger_routing_lives_once_on_the_trigger():
    """One rule, one place: `Trigger.event_types` is what the compiler's index, the conflict and
    trigger checks use; `fired_by` adds the trigger's filters."""
    eng = sync_play("eng", trigger={"type": "email_engagement", "events": ["clicked"]})
    allp = sync_play("all", trigger={"type": "email_engagement"})
    st = sync_play("st", trigger={"type": "sequence_status_changed", "to": ["Completed: Replied"],
                                  "sequences": ["Q4"]})
    sched = build_play({"play": "sched", "trigger": {"type": "schedule", "every": "1h"}, "start": "n",
                        "nodes": {"n": {"type": "sync_to_salesforce", "fields": {}}}})
    assert eng.trigger.event_types == {"email_clicked"}
    assert allp.trigger.event_types == {"email_opened", "email_clicked", "email_replied"}
    assert sched.trigger.event_types == frozenset()
    c = compile_plays([eng, allp, st, sched], integration())
    assert {t: [p.id for p in ps] for t, ps in c.by_event.items()} == {
        "email_clicked": ["all", "eng"], "email_opened": ["all"], "email_replied": ["all"],
        "sequence_status_changed": ["st"]}
    ok = event_from({"id": "e", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
                     "to": "Completed: Replied", "sequence": "Q4"})
    assert [p.id for p in c.fired_by(ok)] == ["st"]
    assert c.fired_by(event_from({**ok.raw, "sequence": "Q1"})) == ()


def test_an_inactive_sequence_fires_no_play_and_its_reply_is_not_synced_d_play_6():
    """D-PLAY-6: `sequence_active: false` -> every Play it would fire reported `sequence_inactive`
    (none runs), and a reply also reports its own sync (no activity, follow-up or tracking)."""
    from engine.evaluate.compiler import inactive_skips, reply_not_synced

    c = compile_plays([sync_play("b", trigger={"type": "email_engagement"}),
                       sync_play("a", trigger={"type": "email_engagement", "events": ["replied"]}),
                       sync_play("z", trigger={"type": "reply_classified"})], integration())
    raw = {"id": "e", "type": "email_replied", "at": "2026-11-20T10:00:00Z", "sequence": "Q4",
           "contact": {"email": "a@b.io"}, "reply": {"classification": "Positive"}}
    reply = event_from(dict(raw, sequence_active=False))
    skips = inactive_skips(c, reply)
    assert [p for p, _ in skips] == [None, "a", "b"] and reply_not_synced(reply)
    assert all("D-PLAY-6" in d and "Q4" in d for _, d in skips)
    assert inactive_skips(c, event_from(raw)) == [] and not reply_not_synced(event_from(raw))
    opened = event_from(dict(raw, type="email_opened", sequence_active=False))
    assert [p for p, _ in inactive_skips(c, opened)] == ["b"] and not reply_not_synced(opened)
