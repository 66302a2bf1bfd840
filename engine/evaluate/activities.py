"""Email activity records (D-EM-1..6): what an email, a reply or a task becomes in each CRM.

Salesforce: an automated email with Email Message writeback (and Enhanced Email) is an
``EmailMessage`` with the rendered body and the real send time (D-EM-1); otherwise, and always for a
manual email (D-EM-3), a ``Task`` holding the template text, variables left as written (D-EM-2).
A reply is logged the same way as the email it answers (D-EM-4): an incoming EmailMessage with the
reply's content, or a Task that does not carry the content. With task sync on, a reply also creates
a follow-up Task due `follow_up_due_days` calendar days after the reply's UTC date.

HubSpot: ``emails`` (hs_email_*) when its `email_writeback` is ``email_message``, else ``tasks``
(hs_task_*); the same rules otherwise.

Every activity carries the id of the event that caused it (D-EM-6) in ``Unify_Event_Id__c``
(Salesforce) or ``unify_event_id`` (HubSpot); the follow-up task of a reply uses
``<event id>:follow_up`` and a Play's `create_task` ``<event id>:<play>:<node>``, so each activity has
its own key and a replayed create updates instead of duplicating.
"""

from __future__ import annotations

import re
from typing import Any

from engine.evaluate.events import Event, add_days
from engine.language.model import CrmSettings

SF_EVENT_ID = "Unify_Event_Id__c"
HS_EVENT_ID = "unify_event_id"
EVENT_ID_FIELD = {"salesforce": SF_EVENT_ID, "hubspot": HS_EVENT_ID}
_HTML = re.compile(r"<[A-Za-z/!][^>]*>")


def is_html(body: str | None) -> bool:
    return bool(body) and bool(_HTML.search(body))


def uses_email_object(crm: str, settings: CrmSettings) -> bool:
    """Whether automated emails are logged as email records (else as Tasks)."""
    if crm == "salesforce":
        return settings.uses_email_message
    return settings.email_writeback == "email_message"


def _email_object(ev: Event, crm: str, subject: Any, body: Any, *, incoming: bool) -> tuple[str, dict[str, Any]]:
    """(object, fields) of an email logged as the CRM's own email object: the email sent to the
    person (outgoing) or the person's reply (incoming)."""
    if crm == "salesforce":
        return "EmailMessage", {
            "Subject": subject, ("HtmlBody" if is_html(body) else "TextBody"): body,
            "MessageDate": ev.at_text, "Status": "0" if incoming else "3", "Incoming": incoming,
            ("FromAddress" if incoming else "ToAddress"): ev.email, SF_EVENT_ID: ev.id,
        }
    return "emails", {
        "hs_timestamp": ev.at_text, "hs_email_subject": subject,
        ("hs_email_html" if is_html(body) else "hs_email_text"): body,
        "hs_email_direction": "INCOMING_EMAIL" if incoming else "EMAIL", "hs_email_status": "SENT",
        HS_EVENT_ID: ev.id,
    }


def email_activity(ev: Event, crm: str, settings: CrmSettings, record_id: str | None,
                   manual: bool) -> tuple[str, dict[str, Any]]:
    """(object, fields) logging an ``email_sent`` event."""
    msg = ev.message or {}
    subject = msg.get("subject")
    as_email = uses_email_object(crm, settings) and not manual  # D-EM-3
    if as_email:
        return _email_object(ev, crm, subject, msg.get("body_rendered"), incoming=False)
    if crm == "salesforce":
        return "Task", {
            "Subject": f"Email: {subject}" if subject else "Email", "Description": msg.get("body_template"),
            "ActivityDate": ev.at_text[:10], "Status": "Completed", "TaskSubtype": "Email",
            "WhoId": record_id, SF_EVENT_ID: ev.id,
        }
    return "tasks", {
        "hs_timestamp": ev.at_text, "hs_task_subject": f"Email: {subject}" if subject else "Email",
        "hs_task_body": msg.get("body_template"), "hs_task_status": "COMPLETED", "hs_task_type": "EMAIL",
        HS_EVENT_ID: ev.id,
    }


def reply_activity(ev: Event, crm: str, settings: CrmSettings, record_id: str | None,
                   manual: bool) -> tuple[str, dict[str, Any]]:
    """(object, fields) logging an in-thread ``email_replied`` event the way the email was logged."""
    reply = ev.reply or {}
    subject = reply.get("subject")
    cls = reply.get("classification")
    task_subject = f"Email reply ({cls})" if cls else "Email reply"
    as_email = uses_email_object(crm, settings) and not manual
    if as_email:
        return _email_object(ev, crm, subject, reply.get("body"), incoming=True)
    # D-EM-4: with Task writeback the reply's content appears in no CRM record
    if crm == "salesforce":
        return "Task", {
            "Subject": task_subject, "ActivityDate": ev.at_text[:10], "Status": "Completed",
            "TaskSubtype": "Email", "WhoId": record_id, SF_EVENT_ID: ev.id,
        }
    return "tasks", {
        "hs_timestamp": ev.at_text, "hs_task_subject": task_subject, "hs_task_status": "COMPLETED",
        "hs_task_type": "EMAIL", HS_EVENT_ID: ev.id,
    }


def email_activities(ev: Event, crm: str, settings: CrmSettings, record_id: str | None,
                     manual: bool) -> list[tuple[str, dict[str, Any]]]:
    """Everything an ``email_sent`` or in-thread ``email_replied`` event logs in one CRM: the email
    (or its Task), and for a reply the follow-up Task when task sync is on."""
    if ev.type == "email_sent":
        return [email_activity(ev, crm, settings, record_id, manual)]
    out = [reply_activity(ev, crm, settings, record_id, manual)]
    if settings.task_sync:
        out.append(follow_up_task(ev, crm, settings, record_id))
    return out


def follow_up_task(ev: Event, crm: str, settings: CrmSettings, record_id: str | None) -> tuple[str, dict[str, Any]]:
    """D-EM-4: the follow-up Task of a reply, due `follow_up_due_days` after the reply's UTC date."""
    due = add_days(ev.at, settings.follow_up_due_days)
    where = f" in {ev.sequence}" if ev.sequence else ""
    subject = "Follow up on reply"
    description = f"{ev.email} replied{where} on {ev.at_text[:10]}"
    return task(crm, record_id, subject, description, due, f"{ev.id}:follow_up")


def task(crm: str, record_id: str | None, subject: str | None, description: str | None, due: str,
         external_id: str) -> tuple[str, dict[str, Any]]:
    """An open Task (Salesforce) / ``tasks`` object (HubSpot) due on `due` (``YYYY-MM-DD``)."""
    if crm == "salesforce":
        return "Task", {
            "Subject": subject, "Description": description, "ActivityDate": due, "Status": "Not Started",
            "TaskSubtype": "Task", "WhoId": record_id, SF_EVENT_ID: external_id,
        }
    return "tasks", {
        "hs_timestamp": f"{due}T00:00:00Z", "hs_task_subject": subject, "hs_task_body": description,
        "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO", HS_EVENT_ID: external_id,
    }
