"""Explicit historical backfill of one tracking field (D-WB-8, D-HS-2). Pure: no I/O.

D-WB-8: a newly mapped tracking field counts activity only from its `field_mappings_since`; history
is written into it only on request. `plays backfill --field F --since T` is that request: the field's
figure per contact is recomputed from ALL events given, counting activity at or after T instead of
the mapping start.

No aggregation lives here: the integration is narrowed to the one field (its start moved to T, every
other tracking field and CRM left out) and the engine's own `Planner` / `TrackingState`
(`engine.evaluate.tracking`) do the counting, with the same filters (duplicate event ids, web-tag domains
D-TR-2, in-thread replies D-EM-5) as the runtime's tracking consumer. `plan_backfill` also matches
the contacts to the CRM records read (D-WB-5/6) and yields `Write`s holding only F; the field is
owned (D-WB-1), so the connectors write it whatever the CRM holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from engine.diagnostics import Diagnostic, did_you_mean, error
from engine.evaluate.events import Event, event_from, iso_z, to_us
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration
from engine.evaluate.plan import Planner, Skipped, Write
from engine.evaluate.tracking import CRMS, tracking_fields

# Diagnostic code (catalogue: docs/diagnostics.md)
NOT_TRACKING = "BACKFILL001"

NODE = "backfill"
# the event types each tracking key counts (D-TR-1)
KEY_TYPES: Mapping[str, frozenset[str]] = {
    "track_opens": frozenset({"email_opened"}),
    "click_count": frozenset({"email_clicked"}),
    "clicked_at": frozenset({"email_clicked"}),
    "email_replies": frozenset({"email_replied"}),
    "sent_at": frozenset({"email_replied"}),
}


@dataclass(frozen=True)
class Target:
    """Where field F lives: the CRMs mapping it and its tracking key there."""

    field: str
    keys: Mapping[str, str]  # crm -> tracking key (track_opens, click_count, ...)

    @property
    def crms(self) -> tuple[str, ...]:
        return tuple(c for c in CRMS if c in self.keys)

    @property
    def types(self) -> frozenset[str]:
        return frozenset().union(*(KEY_TYPES[k] for k in self.keys.values()))


@dataclass(frozen=True)
class BackfillPlan:
    writes: tuple[Write, ...]
    skipped: tuple[Skipped, ...]
    figures: Mapping[str, Mapping[str, Any]]  # crm -> email -> figure (every contact with activity since T)


def resolve_field(integration: Integration, name: str) -> Target | Diagnostic:
    """The tracking field named `name` (its CRM name, e.g. ``Unify_Click_Count__c``), or an BACKFILL001
    diagnostic when integration.yaml maps no tracking key to it (unknown or not a tracking field)."""
    keys: dict[str, str] = {}
    every: list[str] = []
    for crm in CRMS:
        s = integration.settings(crm)
        if s is None:
            continue
        for key, target in s.tracking.items():
            every.append(target)
            if target == name:
                keys[crm] = key
    if keys:
        return Target(name, keys)
    where = integration.file or "integration.yaml"
    hint = did_you_mean(name, every) or (f"tracking fields: {', '.join(every)}" if every
                                         else "integration.yaml maps no tracking fields")
    owned = any(name in (s.owned_fields if s else ()) for s in (integration.salesforce, integration.hubspot))
    what = "an owned field, not a tracking field" if owned else "not a tracking field of integration.yaml"
    return error(NOT_TRACKING, where, (1, 1), f"--field {name}: {what} (tracking_fields / tracking_properties)",
                 hint)


def narrowed(integration: Integration, target: Target, since: Any) -> Integration:
    """The integration with only F tracked (start moved to `since`) and owned; other CRMs left out."""
    start = iso_z(to_us(since))

    def one(crm: str):
        s = integration.settings(crm)
        if s is None or crm not in target.keys:
            return None
        return replace(s, tracking={target.keys[crm]: target.field}, owned_fields=(),
                       mappings_since={**s.mappings_since, target.field: start}, default_values={})
    return replace(integration, salesforce=one("salesforce"), hubspot=one("hubspot"))


def _planner(events: Iterable[Event | Mapping[str, Any]], integration: Integration, target: Target, since: Any,
             crm_state: Any, crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None) -> Planner:
    planner = Planner({}, narrowed(integration, target, since), crm_state, crm_objects=crm_objects,
                      report_records=False)
    types = target.types
    batch = [e if isinstance(e, Event) else event_from(e) for e in events]
    planner.feed(e for e in batch if e.type in types)
    return planner


def figures(events: Iterable[Event | Mapping[str, Any]], integration: Integration, target: Target,
            since: Any) -> dict[str, dict[str, Any]]:
    """crm -> email -> F's figure from every event, counting activity at or after `since` (D-TR-1)."""
    p = _planner(events, integration, target, since, None, None)
    out: dict[str, dict[str, Any]] = {}
    for crm in target.crms:
        per: dict[str, Any] = {}
        for email in sorted(p.tracking_state.contacts):
            vals = tracking_fields(p.tracking_state, email, crm, p.cfg)
            if target.field in vals:
                per[email] = vals[target.field]
        out[crm] = per
    return out


def plan_backfill(events: Iterable[Event | Mapping[str, Any]], integration: Integration, target: Target,
                  since: Any, crm_state: Any,
                  crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None) -> BackfillPlan:
    """The writes (F only, one per record whose value differs from the figure) for the records in
    `crm_state`, the contacts that could not be written (no record, duplicates), and the figures."""
    events = [e if isinstance(e, Event) else event_from(e) for e in events]
    p = _planner(events, integration, target, since, crm_state, crm_objects)
    res = p.result()
    writes = tuple(replace(w, node=NODE, fields={k: v for k, v in w.fields.items() if k == target.field})
                   for w in res.writes if w.node == "tracking" and target.field in w.fields)
    skipped = tuple(replace(s, node=NODE) for s in res.skipped if s.node == "tracking")
    return BackfillPlan(writes, skipped, figures(events, integration, target, since))


def tracking_patch(stored: Mapping[str, Mapping[str, Any]], events: Iterable[Event | Mapping[str, Any]],
                   integration: Integration, target: Target, since: Any) -> dict[str, dict[str, Any]]:
    """The runtime's stored per-contact tracking aggregates (`TrackingState.to_dict()` contact
    entries, by email) with F's slot replaced by its figure from `events` since T.

    Pass the events the tracking consumer has already counted (up to its cursor): it goes on
    counting from the backfilled figure, so the next event does not write the forward-only figure
    back over the backfill. Only contacts with a figure are returned; other slots are kept.
    """
    out: dict[str, dict[str, Any]] = {}
    for crm, per in figures(events, integration, target, since).items():
        key = target.keys[crm]
        for email, value in per.items():
            entry = out.get(email)
            if entry is None:
                entry = out[email] = {k: (dict(v) if isinstance(v, Mapping) else v)
                                      for k, v in (stored.get(email) or {}).items()}
            entry[crm] = {**(entry.get(crm) or {}), key: value}
    return out
