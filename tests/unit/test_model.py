"""Model building: Plays and integration settings from plain documents (D-WB-1 owned fields, D-EM-1..3)."""

from engine.language.model import STOP, build_integration, build_play
from engine.language.vocab import Crm, NodeKind, TriggerType

PLAY = {
    "play": "p1",
    "trigger": {"type": "sequence_status_changed", "to": ["Completed: Replied"]},
    "start": "route",
    "nodes": {
        "route": {
            "type": "branch",
            "cases": [{"when": {"reply_classification": ["Positive", "Willing to meet"],
                                "contact.Title": {"contains": "VP"}}, "goto": "sf"}],
        },
        "sf": {"type": "sync_to_salesforce", "object": "Lead", "fields": {"Status": "Replied"},
               "default_values": {"LeadSource": "Unify"}, "overwrite": ["Status"]},
        "hs": {"type": "sync_to_hubspot", "properties": {"hs_lead_status": "OPEN"}, "next": "task"},
        "task": {"type": "create_task", "crm": "hubspot", "subject": "Call", "due_in_days": 1},
    },
}


def test_build_play_kinds_and_defaults():
    play = build_play(PLAY, "p.play.yaml")
    assert play.enabled and play.trigger.type == TriggerType.SEQUENCE_STATUS_CHANGED
    route = play.nodes["route"]
    assert route.kind == NodeKind.BRANCH and route.default == STOP and not route.has_default
    conds = {c.key: c for c in route.cases[0].when}
    assert conds["reply_classification"].op == "any"
    assert conds["contact.Title"].op == "contains" and conds["contact.Title"].value == "VP"
    sf = play.nodes["sf"]
    assert sf.crm == Crm.SALESFORCE and sf.next == STOP and sf.overwrite == ("Status",) and sf.create is False
    assert play.nodes["hs"].crm == Crm.HUBSPOT and play.nodes["hs"].fields["hs_lead_status"] == "OPEN"
    assert play.nodes["hs"].fields_key == "properties"
    assert route.successors() == ["sf", STOP]


def test_owned_fields_are_tracking_targets_plus_owned_list():
    """D-WB-1: owned = tracking targets + owned_fields, nothing else."""
    integ = build_integration({
        "salesforce": {"owned_fields": ["Unify_Most_Recent_Play__c"],
                       "tracking_fields": {"track_opens": "Unify_Track_Opens__c", "click_count": None},
                       "email_writeback": "email_message", "enhanced_email": False},
        "tracking": {"web_tag_domains": ["yourcompany.com"]},
    })
    assert integ.salesforce.owned == {"Unify_Most_Recent_Play__c", "Unify_Track_Opens__c"}
    assert integ.hubspot is None
    # D-EM-3: email_message without Enhanced Email falls back to Tasks.
    assert integ.salesforce.uses_email_message is False
    assert integ.web_tag_domains == ("yourcompany.com",)
