"""CRM field metadata: reads the snapshots (Salesforce describe results, HubSpot property lists)
into one normalised catalogue of fields with kinds, picklist values and writability.

Kinds: text, number, boolean, date, datetime, picklist (supported, D-FT-1); multipicklist,
reference, unsupported (rejected, D-FT-2); id (never written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

SF_KINDS = {
    "string": "text", "textarea": "text", "email": "text", "phone": "text", "url": "text",
    "encryptedstring": "text", "combobox": "text",
    "double": "number", "int": "number", "long": "number", "currency": "number", "percent": "number",
    "boolean": "boolean", "date": "date", "datetime": "datetime",
    "picklist": "picklist", "multipicklist": "multipicklist", "reference": "reference", "id": "id",
}
UNSUPPORTED_OBJECTS = frozenset({"Campaign", "CampaignMember"})  # D-FT-2
SUPPORTED_KINDS = frozenset({"text", "number", "boolean", "date", "datetime", "picklist"})


@dataclass(frozen=True)
class FieldInfo:
    name: str
    kind: str
    crm_type: str  # the CRM's own type name, e.g. ``multipicklist`` or ``enumeration/checkbox``
    picklist_values: tuple[str, ...] = ()
    updateable: bool = True
    createable: bool = True
    label: str = ""
    reference_to: tuple[str, ...] = ()
    external_id: bool = False

    @property
    def supported(self) -> bool:
        return self.kind in SUPPORTED_KINDS


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: Mapping[str, FieldInfo]

    def get(self, name: str) -> FieldInfo | None:
        return self.fields.get(name)


def salesforce_field(raw: Mapping[str, Any]) -> FieldInfo:
    sf_type = raw.get("type", "string")
    values = tuple(p["value"] for p in raw.get("picklistValues") or [] if p.get("active", True))
    return FieldInfo(
        name=raw["name"],
        kind=SF_KINDS.get(sf_type, "unsupported"),
        crm_type=sf_type,
        picklist_values=values,
        updateable=bool(raw.get("updateable", True)),
        createable=bool(raw.get("createable", True)),
        label=raw.get("label", ""),
        reference_to=tuple(raw.get("referenceTo") or ()),
        external_id=bool(raw.get("externalId", False)),
    )


def hubspot_field(raw: Mapping[str, Any]) -> FieldInfo:
    hs_type = raw.get("type", "string")
    field_type = raw.get("fieldType", "")
    if hs_type == "enumeration":
        kind = {"select": "picklist", "radio": "picklist", "booleancheckbox": "boolean",
                "checkbox": "multipicklist"}.get(field_type, "unsupported")
    else:
        kind = {"string": "text", "number": "number", "bool": "boolean", "date": "date",
                "datetime": "datetime", "phone_number": "text"}.get(hs_type, "unsupported")
    read_only = bool((raw.get("modificationMetadata") or {}).get("readOnlyValue", False))
    if kind == "boolean" and hs_type == "enumeration":
        values: tuple[str, ...] = ()
    else:
        values = tuple(o["value"] for o in raw.get("options") or [] if not o.get("hidden", False))
    return FieldInfo(
        name=raw["name"], kind=kind, crm_type=f"{hs_type}/{field_type}" if field_type else hs_type,
        picklist_values=values, updateable=not read_only, createable=not read_only,
        label=raw.get("label", ""), external_id=bool(raw.get("hasUniqueValue", False)),
    )


def salesforce_objects(snapshot: Mapping[str, Any]) -> dict[str, ObjectSchema]:
    """`{"Lead": describe, "Contact": describe, ...}` -> object schemas."""
    out = {}
    for name, describe in snapshot.items():
        if isinstance(describe, Mapping) and isinstance(describe.get("fields"), list):
            out[name] = ObjectSchema(name, {f["name"]: salesforce_field(f) for f in describe["fields"]})
    return out


def hubspot_objects(snapshot: Mapping[str, Any], object_name: str = "contacts") -> dict[str, ObjectSchema]:
    """A ``GET /crm/v3/properties/<object>`` result (``{"results": [...]}``), or a map object -> result."""
    if isinstance(snapshot.get("results"), list):
        snapshot = {object_name: snapshot}
    out = {}
    for name, result in snapshot.items():
        if isinstance(result, Mapping) and isinstance(result.get("results"), list):
            out[name] = ObjectSchema(name, {p["name"]: hubspot_field(p) for p in result["results"]})
    return out


def field_names(objects: Iterable[ObjectSchema]) -> set[str]:
    names: set[str] = set()
    for obj in objects:
        names.update(obj.fields)
    return names
