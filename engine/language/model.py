"""The immutable core types: a Play (trigger, nodes), its conditions, and the integration settings.

Built from schema-valid documents by `build_play` / `build_integration`; every object keeps the
document `path` it came from, so later checks can point back at ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from engine.language.vocab import Crm, NodeKind, TRACKING_KEYS, TriggerType, trigger_event_types

STOP = "stop"
OPERATORS = ("not", "in", "contains", "exists", "gt", "lt")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(mapping: Mapping | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


@dataclass(frozen=True)
class Condition:
    """One entry of a `when`: key (e.g. ``sequence_status``, ``contact.Title``), operator, operand.

    Operators: ``eq`` (scalar), ``any`` (a list: any of), and the mapping forms of OPERATORS.
    """

    key: str
    op: str
    value: Any
    path: tuple = ()


@dataclass(frozen=True)
class Case:
    when: tuple[Condition, ...]
    goto: str
    path: tuple = ()


@dataclass(frozen=True)
class Node:
    """A node of a Play graph. Which attributes matter depends on `kind`."""

    id: str
    kind: NodeKind
    path: tuple = ()
    # branch
    cases: tuple[Case, ...] = ()
    default: str = STOP
    has_default: bool = False
    # sync_to_* / create_task
    next: str = STOP
    crm: Crm | None = None
    object: str = "auto"  # Salesforce: Lead | Contact | auto; HubSpot: contacts
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # `fields` (Salesforce) or `properties` (HubSpot)
    default_values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    overwrite: tuple[str, ...] = ()
    create: bool = False
    # create_task
    subject: str | None = None
    description: str | None = None
    due_in_days: int | None = None

    @property
    def fields_key(self) -> str:
        return "properties" if self.kind == NodeKind.SYNC_TO_HUBSPOT else "fields"

    def successors(self) -> list[str]:
        """Node ids this node can go to (``stop`` included)."""
        if self.kind == NodeKind.BRANCH:
            return [c.goto for c in self.cases] + [self.default]
        return [self.next]


@dataclass(frozen=True)
class Audience:
    engaged: tuple[str, ...] = ()
    within: str | None = None
    exclusions: bool = True
    csv: str | None = None
    path: tuple = ()


@dataclass(frozen=True)
class Trigger:
    type: TriggerType
    from_statuses: tuple[str, ...] = ()
    to_statuses: tuple[str, ...] = ()
    sequences: tuple[str, ...] = ()
    classifications: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    every: str | None = None
    cron: str | None = None
    audience: Audience | None = None
    path: tuple = ("trigger",)

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this trigger fires on (empty for a schedule): see `trigger_event_types`."""
        return trigger_event_types(self.type, self.events)


@dataclass(frozen=True)
class Play:
    id: str
    trigger: Trigger
    start: str
    nodes: Mapping[str, Node]
    file: str = ""
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class CrmSettings:
    """One CRM's block of ``integration.yaml``."""

    crm: Crm
    default_values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    owned_fields: tuple[str, ...] = ()
    tracking: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # tracking key (track_opens, ...) -> CRM field
    mappings_since: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # CRM field -> ISO datetime (D-WB-8)
    schema_file: str | None = None
    task_sync: bool = True
    follow_up_due_days: int = 2
    email_writeback: str = "task"  # task | email_message (Salesforce only)
    enhanced_email: bool = False
    sync_every: str = "15m"
    api_budget_share: float = 0.5  # D-RUN-5: share of the daily API allowance spent before work is parked
    auth: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # raw values, ``${ENV}`` references unexpanded

    @property
    def owned(self) -> frozenset[str]:
        """D-WB-1: tracking field targets plus `owned_fields`."""
        return frozenset(self.tracking.values()) | frozenset(self.owned_fields)

    @property
    def uses_email_message(self) -> bool:
        """D-EM-1/3: EmailMessage writeback only with Enhanced Email; otherwise Tasks."""
        return self.crm == Crm.SALESFORCE and self.email_writeback == "email_message" and self.enhanced_email


@dataclass(frozen=True)
class Integration:
    salesforce: CrmSettings | None = None
    hubspot: CrmSettings | None = None
    web_tag_domains: tuple[str, ...] = ()
    file: str | None = None

    def settings(self, crm: Crm | str) -> CrmSettings | None:
        return self.salesforce if Crm(crm) == Crm.SALESFORCE else self.hubspot


DEFAULT_INTEGRATION = Integration()

_AUTH_KEYS = ("instance_url", "session_id", "username", "password", "security_token", "domain",
              "client_id", "client_secret", "access_token")


def build_condition(key: str, value: Any, path: tuple) -> Condition:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in OPERATORS:
        op, operand = next(iter(value.items()))
        return Condition(key, op, tuple(operand) if isinstance(operand, list) else operand, path)
    if isinstance(value, list):
        return Condition(key, "any", tuple(value), path)
    return Condition(key, "eq", value, path)


def build_node(node_id: str, raw: dict, path: tuple) -> Node:
    kind = NodeKind(raw["type"])
    if kind == NodeKind.BRANCH:
        cases = []
        for i, case in enumerate(raw.get("cases") or []):
            cpath = path + ("cases", i)
            when = tuple(build_condition(k, v, cpath + ("when", k)) for k, v in (case.get("when") or {}).items())
            cases.append(Case(when, case.get("goto", STOP), cpath))
        return Node(node_id, kind, path, cases=tuple(cases), default=raw.get("default", STOP),
                    has_default="default" in raw)
    if kind == NodeKind.CREATE_TASK:
        return Node(node_id, kind, path, next=raw.get("next", STOP), crm=Crm(raw.get("crm", "salesforce")),
                    subject=raw.get("subject"), description=raw.get("description"),
                    due_in_days=raw.get("due_in_days"))
    hub = kind == NodeKind.SYNC_TO_HUBSPOT
    return Node(
        node_id, kind, path,
        next=raw.get("next", STOP),
        crm=Crm.HUBSPOT if hub else Crm.SALESFORCE,
        object="contacts" if hub else raw.get("object", "auto"),
        fields=_frozen(raw.get("properties" if hub else "fields")),
        default_values=_frozen(raw.get("default_values")),
        overwrite=_tuple(raw.get("overwrite")),
        create=bool(raw.get("create", False)),
    )


def build_trigger(raw: dict) -> Trigger:
    aud = raw.get("audience")
    audience = None
    if isinstance(aud, dict):
        audience = Audience(_tuple(aud.get("engaged")), aud.get("within"), bool(aud.get("exclusions", True)),
                            aud.get("csv"), ("trigger", "audience"))
    return Trigger(
        type=TriggerType(raw["type"]),
        from_statuses=_tuple(raw.get("from")),
        to_statuses=_tuple(raw.get("to")),
        sequences=_tuple(raw.get("sequences")),
        classifications=_tuple(raw.get("classifications")),
        events=_tuple(raw.get("events")),
        every=raw.get("every"),
        cron=raw.get("cron"),
        audience=audience,
    )


def build_play(data: dict, file: str = "") -> Play:
    """Build a Play from a schema-valid document."""
    nodes = {nid: build_node(nid, raw, ("nodes", nid)) for nid, raw in (data.get("nodes") or {}).items()}
    return Play(
        id=data["play"],
        trigger=build_trigger(data["trigger"]),
        start=data["start"],
        nodes=MappingProxyType(nodes),
        file=file,
        description=data.get("description", ""),
        enabled=bool(data.get("enabled", True)),
    )


def build_crm_settings(crm: Crm, raw: dict) -> CrmSettings:
    tracking = raw.get("tracking_properties" if crm == Crm.HUBSPOT else "tracking_fields") or {}
    return CrmSettings(
        crm=crm,
        default_values=_frozen(raw.get("default_values")),
        owned_fields=_tuple(raw.get("owned_fields")),
        tracking=_frozen({k: v for k, v in tracking.items() if k in TRACKING_KEYS and v}),
        mappings_since=_frozen(raw.get("field_mappings_since")),
        schema_file=raw.get("schema_file"),
        task_sync=bool(raw.get("task_sync", True)),
        follow_up_due_days=int(raw.get("follow_up_due_days", 2)),
        email_writeback=raw.get("email_writeback", "task"),
        enhanced_email=bool(raw.get("enhanced_email", False)),
        sync_every=raw.get("sync_every", "15m"),
        api_budget_share=float(raw.get("api_budget_share", 0.5)),
        auth=_frozen({k: raw[k] for k in _AUTH_KEYS if k in raw}),
    )


def build_integration(data: dict, file: str | None = None) -> Integration:
    """Build the integration settings from a schema-valid ``integration.yaml`` document."""
    sf = data.get("salesforce")
    hs = data.get("hubspot")
    return Integration(
        salesforce=build_crm_settings(Crm.SALESFORCE, sf) if isinstance(sf, dict) else None,
        hubspot=build_crm_settings(Crm.HUBSPOT, hs) if isinstance(hs, dict) else None,
        web_tag_domains=_tuple((data.get("tracking") or {}).get("web_tag_domains")),
        file=file,
    )
