"""Small builders shared by the engine unit tests (Plays, integrations, events, CRM records)."""

from __future__ import annotations

from typing import Any

from engine.language.model import build_integration, build_play

SF_TRACKING = {"track_opens": "Unify_Track_Opens__c", "click_count": "Unify_Click_Count__c",
               "clicked_at": "Unify_Clicked_At__c", "email_replies": "Unify_Email_Replies__c",
               "sent_at": "Unify_Reply_Sent_At__c"}
HS_TRACKING = {"track_opens": "unify_track_opens", "click_count": "unify_click_count",
               "clicked_at": "unify_clicked_at", "email_replies": "unify_email_replies",
               "sent_at": "unify_reply_sent_at"}


def integration(sf: dict | None = None, hs: dict | None = None, domains=("yourcompany.com",), **top: Any):
    data: dict[str, Any] = {"tracking": {"web_tag_domains": list(domains)}}
    if sf is not None:
        data["salesforce"] = sf
    if hs is not None:
        data["hubspot"] = hs
    data.update(top)
    return build_integration(data)


def sf_settings(**kw: Any) -> dict:
    base = {"owned_fields": ["Unify_Most_Recent_Play__c", "Unify_Reply_Classification__c"],
            "tracking_fields": dict(SF_TRACKING), "default_values": {}, "task_sync": True,
            "follow_up_due_days": 2}
    base.update(kw)
    return base


def hs_settings(**kw: Any) -> dict:
    base = {"owned_fields": ["unify_most_recent_play"], "tracking_properties": dict(HS_TRACKING),
            "default_values": {}, "task_sync": True, "follow_up_due_days": 2}
    base.update(kw)
    return base


def sync_play(pid: str = "p", fields: dict | None = None, trigger: dict | None = None, **node: Any):
    n = {"type": "sync_to_salesforce", "object": node.pop("object", "Lead"), "fields": fields or {}}
    n.update(node)
    return build_play({"play": pid, "trigger": trigger or {"type": "sequence_status_changed"},
                       "start": "n", "nodes": {"n": n}})


def hs_play(pid: str = "h", properties: dict | None = None, trigger: dict | None = None, **node: Any):
    n = {"type": "sync_to_hubspot", "properties": properties or {}}
    n.update(node)
    return build_play({"play": pid, "trigger": trigger or {"type": "sequence_status_changed"},
                       "start": "n", "nodes": {"n": n}})


def ev(eid: str, typ: str = "sequence_status_changed", at: str = "2026-11-20T10:00:00Z",
       email: str | None = "ann@acme.io", **kw: Any) -> dict:
    out: dict[str, Any] = {"id": eid, "type": typ, "at": at}
    contact = kw.pop("contact", {})
    if email is not None:
        contact = {"email": email, **contact}
    if contact:
        out["contact"] = contact
    out.update(kw)
    return out


def lead(rid: str, email: str | None = "ann@acme.io", modified: str = "2026-11-01T00:00:00Z", **fields: Any) -> dict:
    return {"Id": rid, "Email": email, "LastModifiedDate": modified, **fields}


def hs_contact(rid: str, email: str | None = "ann@acme.io", updated: str = "2026-11-01T00:00:00Z", **props: Any):
    return {"id": rid, "properties": {"email": email, **props}, "updatedAt": updated}


def writes_by(result, play=None, node=None) -> list:
    return [w for w in result.writes if (play is None or w.play == play) and (node is None or w.node == node)]
