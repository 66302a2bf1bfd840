"""The fixed vocabularies of the domain: sequence statuses (D-VOC-1), reply classifications
(D-VOC-2), email event types (D-VOC-4), trigger and node kinds."""

from __future__ import annotations

from enum import StrEnum

IN_PROGRESS_STATUSES: tuple[str, ...] = ("Queued", "Engaged", "Blocked", "Paused")
FINISHED_STATUSES: tuple[str, ...] = (
    "Completed",
    "Completed: Replied",
    "Bounced",
    "Bounce Stopped",
    "Canceled",
    "Excluded",
)
STATUSES: tuple[str, ...] = IN_PROGRESS_STATUSES + FINISHED_STATUSES

CLASSIFICATIONS: tuple[str, ...] = (
    "Positive",
    "Willing to meet",
    "Needs more info",
    "Bad Timing",
    "Has solution",
    "Neutral",
    "Left Job",
    "Updated contact info",
    "Referral",
    "Negative",
    "Objection/Negative",
    "NSFW",
    "Opt out",
    "OOO",
    "Soft Bounce",
    "Hard Bounce",
    "Automated",
)

# D-AU-2: replies that exclusions filter out.
FILTERED_CLASSIFICATIONS: frozenset[str] = frozenset({"Automated", "OOO"})


def is_finished(status: str) -> bool:
    """D-VOC-1: whether a status is in the finished group."""
    return status in FINISHED_STATUSES


class EventType(StrEnum):
    SEQUENCE_STATUS_CHANGED = "sequence_status_changed"
    REPLY_CLASSIFIED = "reply_classified"
    SEQUENCE_ENROLLED = "sequence_enrolled"
    EMAIL_SENT = "email_sent"
    EMAIL_OPENED = "email_opened"
    EMAIL_CLICKED = "email_clicked"
    EMAIL_REPLIED = "email_replied"
    EMAIL_BOUNCED = "email_bounced"


class TriggerType(StrEnum):
    SEQUENCE_STATUS_CHANGED = "sequence_status_changed"
    REPLY_CLASSIFIED = "reply_classified"
    SEQUENCE_ENROLLED = "sequence_enrolled"
    EMAIL_ENGAGEMENT = "email_engagement"
    SCHEDULE = "schedule"


class NodeKind(StrEnum):
    BRANCH = "branch"
    SYNC_TO_SALESFORCE = "sync_to_salesforce"
    SYNC_TO_HUBSPOT = "sync_to_hubspot"
    CREATE_TASK = "create_task"


class Crm(StrEnum):
    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"


# Which event types each trigger type can fire on.
TRIGGER_EVENTS: dict[TriggerType, frozenset[EventType]] = {
    TriggerType.SEQUENCE_STATUS_CHANGED: frozenset({EventType.SEQUENCE_STATUS_CHANGED}),
    TriggerType.REPLY_CLASSIFIED: frozenset({EventType.REPLY_CLASSIFIED}),
    TriggerType.SEQUENCE_ENROLLED: frozenset({EventType.SEQUENCE_ENROLLED}),
    TriggerType.EMAIL_ENGAGEMENT: frozenset(
        {EventType.EMAIL_OPENED, EventType.EMAIL_CLICKED, EventType.EMAIL_REPLIED}
    ),
    TriggerType.SCHEDULE: frozenset(),
}

ENGAGEMENT_EVENTS: dict[str, EventType] = {
    "opened": EventType.EMAIL_OPENED,
    "clicked": EventType.EMAIL_CLICKED,
    "replied": EventType.EMAIL_REPLIED,
}


def trigger_event_types(trigger_type: TriggerType | str, engagement: tuple[str, ...] = ()) -> frozenset[str]:
    """Trigger routing, the one place: the event types a trigger fires on (empty for a schedule);
    an `email_engagement` trigger with `events` fires on those only. Use `Trigger.event_types`."""
    if trigger_type == TriggerType.EMAIL_ENGAGEMENT and engagement:
        return frozenset(ENGAGEMENT_EVENTS[e].value for e in engagement if e in ENGAGEMENT_EVENTS)
    return frozenset(e.value for e in TRIGGER_EVENTS.get(TriggerType(trigger_type), frozenset()))


# Condition keys whose value is a sequence status (D-VOC-1) or a reply classification (D-VOC-2),
# whatever name the Play uses: checked against the vocabulary when a Play is validated, and an
# unknown run-time value makes every condition on them false (engine.evaluate.conditions).
STATUS_KEYS: tuple[str, ...] = ("sequence_status", "event.sequence_status", "event.to", "event.from",
                                "event.status")
CLASSIFICATION_KEYS: tuple[str, ...] = ("reply_classification", "reply.classification")

STANDARD_CONTACT_ATTRIBUTES: tuple[str, ...] = (
    "email",
    "firstName",
    "lastName",
    "title",
    "company",
    "phone",
    "linkedinUrl",
)

TRACKING_KEYS: tuple[str, ...] = ("track_opens", "click_count", "clicked_at", "email_replies", "sent_at")

SKIP_REASONS: tuple[str, ...] = (
    "no_email",
    "invalid_email",
    "duplicate",
    "no_record",
    "unsupported_field",
    "invalid_picklist_value",
    "play_disabled",
    "out_of_thread",
    "untracked_domain",
    "crm_rejected",
    "template_error",
)
