"""Email activity writeback (D-EM-1..6) through the planner."""

from __future__ import annotations

import pytest

from engine.language.model import build_play
from engine.evaluate.plan import plan
from planhelp import ev, hs_contact, hs_settings, integration, lead, sf_settings

CRM = {"salesforce": {"Lead": [lead("L1")]}, "hubspot": {"contacts": [hs_contact("51")]}}
SENT = dict(message={"id": "m1", "subject": "Hi Ann", "body_template": "Hi {{person.firstName}}",
                     "body_rendered": "<p>Hi Ann</p>", "manual": False})
EM = integration(sf=sf_settings(email_writeback="email_message", enhanced_email=True))
TASK = integration(sf=sf_settings(email_writeback="task"))


def acts(r, obj=None):
    return [a for a in r.activities if obj is None or a.object == obj]


def test_email_message_rendered_with_real_send_time_d_em_1():
    r = plan([], EM, [ev("e1", "email_sent", at="2026-11-20T09:15:00Z", **SENT)], CRM)
    (a,) = acts(r)
    assert (a.crm, a.object, a.record, a.email, a.event) == ("salesforce", "EmailMessage", "L1", "ann@acme.io", "e1")
    assert a.fields["HtmlBody"] == "<p>Hi Ann</p>" and a.fields["MessageDate"] == "2026-11-20T09:15:00Z"
    assert a.fields["Status"] == "3" and a.fields["Unify_Event_Id__c"] == "e1"  # D-EM-6


def test_task_keeps_template_text_d_em_2():
    (a,) = acts(plan([], TASK, [ev("e1", "email_sent", **SENT)], CRM))
    assert a.object == "Task" and a.fields["Description"] == "Hi {{person.firstName}}"
    assert a.fields["WhoId"] == "L1" and a.fields["TaskSubtype"] == "Email" and a.fields["Unify_Event_Id__c"] == "e1"


def test_manual_emails_always_tasks_and_no_enhanced_email_falls_back_d_em_3():
    manual = dict(message=dict(SENT["message"], manual=True))
    assert acts(plan([], EM, [ev("e1", "email_sent", **manual)], CRM))[0].object == "Task"
    no_enhanced = integration(sf=sf_settings(email_writeback="email_message", enhanced_email=False))
    assert acts(plan([], no_enhanced, [ev("e1", "email_sent", **SENT)], CRM))[0].object == "Task"


def test_replies_same_method_and_follow_up_task_d_em_4():
    reply = ev("r1", "email_replied", at="2026-11-20T23:30:00-05:00", message={"id": "m1"},
               reply={"classification": "Positive", "subject": "Re: Hi", "body": "Sure!"})
    r = plan([], EM, [reply], CRM)
    msg, follow = acts(r)
    assert msg.object == "EmailMessage" and msg.fields["TextBody"] == "Sure!" and msg.fields["Incoming"] is True
    assert follow.object == "Task" and follow.fields["ActivityDate"] == "2026-11-23"  # UTC date 21st + 2 days
    assert follow.fields["Unify_Event_Id__c"] == "r1:follow_up" and follow.fields["Status"] == "Not Started"
    # Task writeback: the reply is a Task without the reply's content
    t, _ = acts(plan([], TASK, [reply], CRM))
    assert t.object == "Task" and "Sure!" not in str(t.fields)
    # task sync off: no follow-up
    off = integration(sf=sf_settings(email_writeback="email_message", enhanced_email=True, task_sync=False))
    assert [a.object for a in acts(plan([], off, [reply], CRM))] == ["EmailMessage"]


def test_reply_to_a_manual_email_is_a_task():
    manual = ev("e1", "email_sent", message=dict(SENT["message"], manual=True))
    reply = ev("r1", "email_replied", at="2026-11-21T10:00:00Z", message={"id": "m1"}, reply={"body": "ok"})
    objs = [a.object for a in acts(plan([], EM, [manual, reply], CRM))]
    assert objs == ["Task", "Task", "Task"]


def test_out_of_thread_reply_skipped_d_em_5():
    r = plan([], EM, [ev("r1", "email_replied", in_thread=False, reply={"body": "x"})], CRM)
    assert acts(r) == [] and [s.reason for s in r.skipped] == ["out_of_thread"] and r.writes == ()


def test_hubspot_activities():
    both = integration(sf=sf_settings(), hs=hs_settings(email_writeback="email_message"))
    r = plan([], both, [ev("e1", "email_sent", **SENT)], CRM)
    (hs,) = [a for a in r.activities if a.crm == "hubspot"]
    assert hs.object == "emails" and hs.fields["hs_email_html"] == "<p>Hi Ann</p>"
    assert hs.fields["unify_event_id"] == "e1" and hs.fields["hs_timestamp"] == "2026-11-20T10:00:00Z"
    tasks = integration(hs=hs_settings())
    (t,) = plan([], tasks, [ev("e1", "email_sent", **SENT)], CRM).activities
    assert t.object == "tasks" and t.fields["hs_task_body"] == "Hi {{person.firstName}}"


def test_create_task_node_is_separate_and_rendered():
    p = build_play({"play": "t", "trigger": {"type": "reply_classified"}, "start": "n", "nodes": {
        "n": {"type": "create_task", "crm": "salesforce", "subject": "Call {{ contact.FirstName }}",
              "description": "{{ reply.classification }}", "due_in_days": 3}}})
    crm = {"salesforce": {"Lead": [lead("L1", FirstName="Ann")]}}
    (a,) = plan([p], TASK, [ev("e1", "reply_classified", reply={"classification": "Positive"})], crm).activities
    assert (a.play, a.node, a.object) == ("t", "n", "Task")
    assert a.fields["Subject"] == "Call Ann" and a.fields["ActivityDate"] == "2026-11-23"
    assert a.fields["Unify_Event_Id__c"] == "e1:t:n"


def test_no_record_for_an_activity_is_reported_once_per_crm_and_email():
    r = plan([], EM, [ev("e1", "email_sent", email="zed@x.io", **SENT),
                      ev("e2", "email_sent", email="zed@x.io", **SENT)], CRM)
    assert [(s.reason, s.email) for s in r.skipped] == [("no_record", "zed@x.io")]


@pytest.mark.parametrize("crm,days,due", [("salesforce", 5, "2026-11-25"), ("hubspot", 1, "2026-11-21")])
def test_create_task_without_due_in_days_is_due_follow_up_due_days_later_d_em_4(crm, days, due):
    """D-EM-4: a `create_task` without `due_in_days` is due `follow_up_due_days` calendar days after
    its event's UTC date (here 23:30 at +00:00 on the 20th), not the same day."""
    p = build_play({"play": "t", "trigger": {"type": "reply_classified"}, "start": "n", "nodes": {
        "n": {"type": "create_task", "crm": crm, "subject": "Call"}}})
    integ = integration(sf=sf_settings(follow_up_due_days=days), hs=hs_settings(follow_up_due_days=days))
    crm_state = {"salesforce": {"Lead": [lead("L1")]}, "hubspot": {"contacts": [hs_contact("51")]}}
    (a,) = [a for a in plan([p], integ, [ev("e1", "reply_classified", at="2026-11-20T23:30:00-00:00",
                                            reply={"classification": "Positive"})], crm_state).activities
            if a.play == "t"]
    assert (a.fields.get("ActivityDate") or a.fields["hs_timestamp"][:10]) == due


def test_an_explicit_due_in_days_of_zero_is_the_same_day_d_em_4():
    p = build_play({"play": "t", "trigger": {"type": "reply_classified"}, "start": "n", "nodes": {
        "n": {"type": "create_task", "crm": "salesforce", "subject": "Call", "due_in_days": 0}}})
    (a,) = plan([p], TASK, [ev("e1", "reply_classified", reply={"classification": "Positive"})],
                {"salesforce": {"Lead": [lead("L1")]}}).activities
    assert a.fields["ActivityDate"] == "2026-11-20"
