"""CRM field metadata of the sandbox: Salesforce describe results and HubSpot property lists.

Both are built from one compact field table per object, so the sandbox's `describe` /
`properties` answers, its write-time type checks and the example snapshots under `plays/crm/`
(what `plays crm pull-schema` would write from a live org) never disagree.

`python -m sandbox.metadata` regenerates `sandbox/data/salesforce.describe.json`,
`sandbox/data/hubspot.properties.json`, `plays/crm/salesforce.describe.json` and
`plays/crm/hubspot.properties.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

API_VERSION = "59.0"

# D-VOC-1 and D-VOC-2, exactly (kept here so the sandbox does not import the engine).
SEQUENCE_STATUSES = (
    "Queued", "Engaged", "Blocked", "Paused",
    "Completed", "Completed: Replied", "Bounced", "Bounce Stopped", "Canceled", "Excluded",
)
REPLY_CLASSIFICATIONS = (
    "Positive", "Willing to meet", "Needs more info", "Bad Timing", "Has solution", "Neutral",
    "Left Job", "Updated contact info", "Referral", "Negative", "Objection/Negative", "NSFW",
    "Opt out", "OOO", "Soft Bounce", "Hard Bounce", "Automated",
)
LEAD_STATUSES = (
    "Open - Not Contacted", "Working - Contacted", "Contacted", "Replied", "Nurturing",
    "Unqualified", "Qualified",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Other", "Unify")

KEY_PREFIXES = {
    "Lead": "00Q", "Contact": "003", "Task": "00T", "EmailMessage": "02s",
    "EmailMessageRelation": "0Rp", "Account": "001", "User": "005",
}
LABELS = {
    "Lead": ("Lead", "Leads"), "Contact": ("Contact", "Contacts"), "Task": ("Task", "Tasks"),
    "EmailMessage": ("Email Message", "Email Messages"),
    "EmailMessageRelation": ("Email Message Relation", "Email Message Relations"),
}

# ---------------------------------------------------------------------------------------------
# Salesforce field table: (name, type, options). Options: length, ref (referenceTo list),
# values (picklist), default (picklist default), ro (read-only: not createable/updateable),
# required (not nillable), ext (externalId + unique), label, rel (relationshipName), scale.
# ---------------------------------------------------------------------------------------------
_SYSTEM = [
    ("LastModifiedDate", "datetime", {"ro": True}),
    ("CreatedDate", "datetime", {"ro": True}),
    ("SystemModstamp", "datetime", {"ro": True}),
    ("IsDeleted", "boolean", {"ro": True}),
    ("CreatedById", "reference", {"ro": True, "ref": ["User"], "rel": "CreatedBy", "label": "Created By ID"}),
    ("LastModifiedById", "reference", {"ro": True, "ref": ["User"], "rel": "LastModifiedBy",
                                       "label": "Last Modified By ID"}),
]
_STAMPED = ("CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById")
_PERSON = [
    ("Id", "id", {}),
    ("Email", "email", {}),
    ("FirstName", "string", {"length": 40}),
    ("LastName", "string", {"length": 80}),
    ("Name", "string", {"length": 121, "ro": True, "label": "Full Name"}),
    ("Title", "string", {"length": 128}),
    ("Phone", "phone", {}),
    ("Description", "textarea", {"length": 32000}),
    ("LinkedIn_URL__c", "url", {"label": "LinkedIn URL"}),
    ("HasOptedOutOfEmail", "boolean", {"label": "Email Opt Out"}),
    ("OwnerId", "reference", {"ref": ["User"], "rel": "Owner", "label": "Owner ID"}),
    *_SYSTEM,
    ("Unify_Track_Opens__c", "double", {"label": "Unify Track Opens"}),
    ("Unify_Click_Count__c", "double", {"label": "Unify Click Count"}),
    ("Unify_Clicked_At__c", "datetime", {"label": "Unify Clicked At"}),
    ("Unify_Email_Replies__c", "boolean", {"label": "Unify Email Replies"}),
    ("Unify_Reply_Sent_At__c", "datetime", {"label": "Unify Reply Sent At"}),
    ("Unify_Most_Recent_Play__c", "string", {"length": 255, "label": "Unify Most Recent Play"}),
    ("Unify_Reply_Classification__c", "picklist",
     {"values": REPLY_CLASSIFICATIONS, "label": "Unify Reply Classification"}),
    ("Unify_Sequence_Status__c", "picklist",
     {"values": SEQUENCE_STATUSES, "label": "Unify Sequence Status"}),
    ("Unify_Reply_Tags__c", "textarea", {"length": 32768, "label": "Unify Reply Tags"}),
    ("Unify_Interests__c", "multipicklist",
     {"values": ("Pricing", "Security", "Integrations", "Support"), "label": "Unify Interests"}),
    ("Unify_Enrolled_On__c", "date", {"label": "Unify Enrolled On"}),
    ("Unify_Score__c", "double", {"label": "Unify Score", "scale": 2}),
    ("Unify_Last_Sequence__c", "string", {"length": 255, "label": "Unify Last Sequence"}),
    ("Unify_Account__c", "reference",
     {"ref": ["Account"], "rel": "Unify_Account__r", "label": "Unify Account"}),
]
SALESFORCE_FIELDS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "Lead": _PERSON + [
        ("Company", "string", {"length": 255}),
        ("Status", "picklist", {"values": LEAD_STATUSES, "default": "Open - Not Contacted",
                                "required": True, "length": 40}),
        ("LeadSource", "picklist", {"values": LEAD_SOURCES, "length": 40}),
        ("NumberOfEmployees", "int", {"label": "Employees"}),
        ("AnnualRevenue", "currency", {}),
        ("Rating", "picklist", {"values": ("Hot", "Warm", "Cold"), "length": 40}),
    ],
    "Contact": _PERSON + [
        ("AccountId", "reference", {"ref": ["Account"], "rel": "Account", "label": "Account ID"}),
        ("LeadSource", "picklist", {"values": LEAD_SOURCES, "length": 40}),
        ("Contact_Status__c", "picklist", {"values": LEAD_STATUSES, "label": "Contact Status"}),
        ("Department", "string", {"length": 80}),
    ],
    "Task": [
        ("Id", "id", {}),
        ("Subject", "string", {"length": 255}),
        ("Description", "textarea", {"length": 32000, "label": "Comments"}),
        ("WhoId", "reference", {"ref": ["Lead", "Contact"], "rel": "Who", "label": "Name ID"}),
        ("ActivityDate", "date", {"label": "Due Date Only"}),
        ("Status", "picklist", {"values": ("Not Started", "In Progress", "Completed"),
                                "default": "Not Started", "required": True, "length": 40}),
        ("Priority", "picklist", {"values": ("High", "Normal", "Low"), "default": "Normal",
                                  "required": True, "length": 40}),
        ("TaskSubtype", "picklist", {"values": ("Task", "Email", "Call"), "length": 40}),
        ("Unify_Event_Id__c", "string", {"length": 255, "ext": True, "label": "Unify Event Id"}),
        *_SYSTEM,
    ],
    "EmailMessage": [
        ("Id", "id", {}),
        ("Subject", "string", {"length": 3000}),
        ("HtmlBody", "textarea", {"length": 131072, "html": True, "label": "HTML Body"}),
        ("TextBody", "textarea", {"length": 131072, "label": "Text Body"}),
        ("MessageDate", "datetime", {}),
        ("Status", "picklist", {"values": ("0", "1", "2", "3", "4", "5"), "required": True,
                                "length": 40}),
        ("Incoming", "boolean", {}),
        ("FromAddress", "string", {"length": 1000, "label": "From Address"}),
        ("ToAddress", "string", {"length": 4000, "label": "To Address"}),
        ("Unify_Event_Id__c", "string", {"length": 255, "ext": True, "label": "Unify Event Id"}),
        *_SYSTEM,
    ],
    "EmailMessageRelation": [
        ("Id", "id", {}),
        ("EmailMessageId", "reference", {"ref": ["EmailMessage"], "rel": "EmailMessage",
                                         "required": True, "label": "Email Message ID"}),
        ("RelationId", "reference", {"ref": ["Lead", "Contact"], "rel": "Relation",
                                     "label": "Relation ID"}),
        ("RelationType", "picklist", {"values": ("ToAddress", "FromAddress", "CcAddress",
                                                 "BccAddress"), "length": 40}),
        *_SYSTEM,
    ],
}

_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "email": "xsd:string",
    "phone": "xsd:string", "url": "xsd:string", "textarea": "xsd:string",
    "picklist": "xsd:string", "multipicklist": "xsd:string", "boolean": "xsd:boolean",
    "double": "xsd:double", "currency": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_DEFAULT_LENGTH = {"id": 18, "reference": 18, "string": 255, "email": 80, "phone": 40,
                   "url": 255, "textarea": 32000, "picklist": 255, "multipicklist": 4099}


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    return base.replace("_", " ")


def _sf_field(name: str, ftype: str, o: dict[str, Any]) -> dict[str, Any]:
    is_id = ftype == "id"
    read_only = bool(o.get("ro")) or is_id
    length = o.get("length", _DEFAULT_LENGTH.get(ftype, 0))
    numeric = ftype in ("double", "currency")
    values = o.get("values")
    nillable = not (is_id or ftype == "boolean" or o.get("required")
                    or name in _STAMPED)
    return {
        "aggregatable": ftype not in ("textarea", "multipicklist", "boolean"),
        "autoNumber": False,
        "byteLength": 18 if ftype in ("id", "reference") else length * 3,
        "calculated": name == "Name" and o.get("ro", False),
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": not read_only,
        "custom": name.endswith("__c"),
        "defaultValue": o.get("default"),
        "defaultValueFormula": None,
        "defaultedOnCreate": is_id or ftype == "boolean" or bool(o.get("default"))
        or name in _STAMPED or name == "OwnerId",
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if ftype == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": bool(o.get("ext")),
        "extraTypeInfo": (("richtextarea" if o.get("html") else "plaintextarea")
                          if ftype == "textarea" else None),
        "filterable": ftype != "textarea",
        "filteredLookupInfo": None,
        "groupable": ftype not in ("textarea", "double", "currency", "datetime", "multipicklist"),
        "highScaleNumber": False,
        "htmlFormatted": bool(o.get("html")),
        "idLookup": is_id or ftype == "email" or bool(o.get("ext")),
        "inlineHelpText": None,
        "label": o.get("label", "Record ID" if is_id else _label(name)),
        "length": length,
        "mask": None,
        "maskType": None,
        "name": name,
        "nameField": name == "Name" or (name == "Subject"),
        "namePointing": ftype == "reference" and len(o.get("ref", [])) > 1,
        "nillable": nillable,
        "permissionable": name.endswith("__c") and not read_only,
        "picklistValues": [
            {"active": True, "defaultValue": v == o.get("default"), "label": v,
             "validFor": None, "value": v}
            for v in values
        ] if values else [],
        "precision": 18 if numeric else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(o.get("ref", [])),
        "relationshipName": o.get("rel"),
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": ftype in ("picklist", "multipicklist"),
        "scale": o.get("scale", 0) if numeric else 0,
        "soapType": _SOAP[ftype],
        "sortable": ftype not in ("textarea", "multipicklist"),
        "type": ftype,
        "unique": bool(o.get("ext")),
        "updateable": not read_only,
        "writeRequiresMasterRead": False,
    }


def salesforce_describe(sobject: str) -> dict[str, Any]:
    """The describe result of one sObject, as `GET .../sobjects/<name>/describe` returns it."""
    base = f"/services/data/v{API_VERSION}/sobjects/{sobject}"
    label, plural = LABELS[sobject]
    return {
        "actionOverrides": [],
        "activateable": False,
        "childRelationships": [],
        "compactLayoutable": True,
        "createable": True,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": sobject in ("Lead", "Contact"),
        "fields": [_sf_field(n, t, o) for n, t, o in SALESFORCE_FIELDS[sobject]],
        "hasSubtypes": False,
        "idEnabled": True,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": KEY_PREFIXES[sobject],
        "label": label,
        "labelPlural": plural,
        "layoutable": True,
        "listviewable": True,
        "lookupLayoutable": True,
        "mergeable": sobject in ("Lead", "Contact"),
        "mruEnabled": True,
        "name": sobject,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [{
            "available": True, "defaultRecordTypeMapping": True, "master": True,
            "name": "Master", "recordTypeId": "012000000000000AAA",
            "urls": {"layout": f"{base}/describe/layouts/012000000000000AAA"},
        }],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "supportedScopes": [{"label": "All " + plural.lower(), "name": "everything"}],
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "describe": f"{base}/describe",
            "sobject": base,
        },
    }


# ---------------------------------------------------------------------------------------------
# HubSpot property table: (name, type, fieldType, options). Options: values (enumeration),
# ro (readOnlyValue), unique (hasUniqueValue), label, group, hidden.
# ---------------------------------------------------------------------------------------------
_HS_SYSTEM = [
    ("lastmodifieddate", "datetime", "date", {"ro": True, "label": "Last Modified Date"}),
    ("createdate", "datetime", "date", {"ro": True, "label": "Create Date"}),
    ("hs_object_id", "number", "number", {"ro": True, "label": "Record ID"}),
]
# Engagements (emails, tasks) name their system stamps with the hs_ prefix.
_HS_ENGAGEMENT_SYSTEM = [
    ("hs_lastmodifieddate", "datetime", "date", {"ro": True, "label": "Last Modified Date"}),
    ("hs_createdate", "datetime", "date", {"ro": True, "label": "Created at"}),
    ("hs_object_id", "number", "number", {"ro": True, "label": "Record ID"}),
]
HUBSPOT_PROPERTIES: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {
    "contacts": [
        ("email", "string", "text", {"label": "Email", "group": "contactinformation"}),
        ("firstname", "string", "text", {"label": "First Name"}),
        ("lastname", "string", "text", {"label": "Last Name"}),
        ("jobtitle", "string", "text", {"label": "Job Title"}),
        ("company", "string", "text", {"label": "Company Name"}),
        ("phone", "string", "phonenumber", {"label": "Phone Number"}),
        ("hs_lead_status", "enumeration", "select", {"label": "Lead Status", "values": (
            "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
            "CONNECTED", "BAD_TIMING")}),
        ("lifecyclestage", "enumeration", "radio", {"label": "Lifecycle Stage", "values": (
            "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
            "customer", "evangelist", "other")}),
        ("unify_track_opens", "number", "number", {"group": "unify"}),
        ("unify_click_count", "number", "number", {"group": "unify"}),
        ("unify_clicked_at", "datetime", "date", {"group": "unify"}),
        ("unify_reply_sent_at", "datetime", "date", {"group": "unify"}),
        ("unify_email_replies", "bool", "booleancheckbox",
         {"group": "unify", "values": ("true", "false")}),
        ("unify_most_recent_play", "string", "text", {"group": "unify"}),
        ("unify_reply_classification", "enumeration", "select",
         {"group": "unify", "values": REPLY_CLASSIFICATIONS}),
        ("unify_sequence_status", "enumeration", "select",
         {"group": "unify", "values": SEQUENCE_STATUSES}),
        ("unify_reply_tags", "string", "textarea", {"group": "unify"}),
        ("unify_interests", "enumeration", "checkbox",
         {"group": "unify", "values": ("Pricing", "Security", "Integrations", "Support")}),
        ("unify_enrolled_on", "date", "date", {"group": "unify"}),
        ("unify_score", "number", "number", {"group": "unify"}),
        ("hs_linkedin_url", "string", "text", {"label": "LinkedIn URL"}),
        *_HS_SYSTEM,
    ],
    "emails": [
        ("hs_timestamp", "datetime", "date", {"label": "Activity date"}),
        ("hs_email_subject", "string", "text", {"label": "Email subject"}),
        ("hs_email_text", "string", "textarea", {"label": "Email body"}),
        ("hs_email_html", "string", "html", {"label": "Email HTML body"}),
        ("hs_email_direction", "enumeration", "select",
         {"label": "Email direction", "values": ("EMAIL", "INCOMING_EMAIL")}),
        ("hs_email_status", "enumeration", "select", {"label": "Email send status", "values": (
            "BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")}),
        ("unify_event_id", "string", "text", {"unique": True, "group": "unify"}),
        *_HS_ENGAGEMENT_SYSTEM,
    ],
    "tasks": [
        ("hs_timestamp", "datetime", "date", {"label": "Due date"}),
        ("hs_task_subject", "string", "text", {"label": "Task Title"}),
        ("hs_task_body", "string", "textarea", {"label": "Notes"}),
        ("hs_task_status", "enumeration", "select",
         {"label": "Task Status", "values": ("NOT_STARTED", "COMPLETED")}),
        ("hs_task_priority", "enumeration", "select",
         {"label": "Priority", "values": ("LOW", "MEDIUM", "HIGH")}),
        ("hs_task_type", "enumeration", "select",
         {"label": "Task Type", "values": ("TODO", "CALL", "EMAIL")}),
        ("unify_event_id", "string", "text", {"unique": True, "group": "unify"}),
        *_HS_ENGAGEMENT_SYSTEM,
    ],
}
_HS_GROUP = {"contacts": "contactinformation", "emails": "email_information",
             "tasks": "task_information"}
_HS_STAMP = "2026-01-01T00:00:00Z"


def _hs_property(obj: str, order: int, name: str, ptype: str, field_type: str,
                 o: dict[str, Any]) -> dict[str, Any]:
    values = o.get("values") or ()
    custom = name.startswith("unify_")
    label = o.get("label") or name.replace("_", " ").capitalize()
    prop: dict[str, Any] = {
        "updatedAt": _HS_STAMP,
        "createdAt": _HS_STAMP,
        "name": name,
        "label": label,
        "type": ptype,
        "fieldType": field_type,
        "description": "",
        "groupName": o.get("group", _HS_GROUP[obj]),
        "options": [
            {"label": v.capitalize() if ptype == "bool" else v, "value": v,
             "description": "", "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)
        ],
        "displayOrder": order,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": bool(o.get("unique")),
        "hidden": bool(o.get("hidden")),
        "hubspotDefined": not custom,
        "modificationMetadata": {
            "archivable": custom,
            "readOnlyDefinition": not custom,
            "readOnlyValue": bool(o.get("ro")),
        },
        "formField": obj == "contacts" and not o.get("ro"),
        "dataSensitivity": "non_sensitive",
    }
    if not custom:
        prop.pop("createdAt")
    return prop


def hubspot_properties(obj: str) -> dict[str, Any]:
    """`GET /crm/v3/properties/<obj>` result: `{"results": [...]}`."""
    return {"results": [_hs_property(obj, i, n, t, ft, o)
                        for i, (n, t, ft, o) in enumerate(HUBSPOT_PROPERTIES[obj])]}


def all_salesforce() -> dict[str, Any]:
    return {name: salesforce_describe(name) for name in SALESFORCE_FIELDS}


def all_hubspot() -> dict[str, Any]:
    return {obj: hubspot_properties(obj) for obj in HUBSPOT_PROPERTIES}


_DATA = Path(__file__).resolve().parent / "data"


def load_salesforce() -> dict[str, Any]:
    """The saved describe results (object name -> describe)."""
    return json.loads((_DATA / "salesforce.describe.json").read_text())


def load_hubspot() -> dict[str, Any]:
    """The saved property lists (object -> `{"results": [...]}`)."""
    return json.loads((_DATA / "hubspot.properties.json").read_text())


def write_all(root: Path | None = None) -> list[Path]:
    """Regenerate the four metadata files; return their paths."""
    root = root or Path(__file__).resolve().parent.parent
    sf, hs = all_salesforce(), all_hubspot()
    outputs = {
        root / "sandbox" / "data" / "salesforce.describe.json": sf,
        root / "sandbox" / "data" / "hubspot.properties.json": hs,
        root / "plays" / "crm" / "salesforce.describe.json":
            {"Lead": sf["Lead"], "Contact": sf["Contact"]},
        root / "plays" / "crm" / "hubspot.properties.json": hs["contacts"],
    }
    for path, doc in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
    return list(outputs)


if __name__ == "__main__":
    for written in write_all():
        print(written)
