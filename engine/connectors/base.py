"""The connector protocol and the values a sync hands back.

Both CRM connectors (`salesforce.py`, `hubspot.py`) implement `Connector`: read the current values
of records by email or id, apply record writes, create activities, pull changes since a cursor,
read field metadata. They never raise for a CRM's answer: every record ends in a `Sent` as
written, skipped (`engine.results.Skipped`, `crm_rejected` with the CRM's own words, D-WB-9) or
pending (not sent because the sync stopped: request limit, expired credentials; nothing is lost).
`ConnectorPlumbing` is the part both connectors share. No business rule lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from engine.evaluate.events import email_key
from engine.results import Kept, Skipped, SkipReason, json_value

if TYPE_CHECKING:
    from engine.connectors.retry import RetryPolicy

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock; the default `Clock` of connectors (the only room allowed to read it)."""
    return datetime.now(UTC)


norm_email = email_key  # D-WB-5: the match key of an email, the one rule (engine.evaluate.events)


# ---- what goes in ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordWrite:
    """One record's write: an `update` of `record`, or a `create` (record None).

    `fields` is what will be sent. `sources` names the plan entries merged into it
    (play, node, event), so outcomes can be reported per Play node. `key` is the idempotency key.
    """

    crm: str
    object: str
    record: str | None
    email: str | None
    op: str
    fields: Mapping[str, Any]
    sources: tuple[tuple[str | None, str | None, str | None], ...] = ()
    before: Mapping[str, Any] = field(default_factory=dict)
    owners: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)  # field -> (play, node)

    def owner(self, name: str) -> tuple[str | None, str | None]:
        """The Play node whose value this field carries (the last plan entry that set it)."""
        if name in self.owners:
            return self.owners[name]
        return next(((p, n) for p, n, _e in self.sources), (None, None))

    @property
    def key(self) -> str:
        return f"{self.crm}:{self.object}:{self.record or 'new:' + (self.email or '')}"

    def without(self, names: Iterable[str]) -> "RecordWrite | None":
        """This update minus fields the CRM refused, so the others still land; None if none is left
        (or for a create: a record is created whole or not at all)."""
        names = set(names)
        rest = {k: v for k, v in self.fields.items() if k not in names}
        if self.op != "update" or not rest or len(rest) == len(self.fields):
            return None
        return RecordWrite(self.crm, self.object, self.record, self.email, self.op, rest, self.sources,
                           {k: v for k, v in self.before.items() if k in rest}, self.owners)

    def to_json(self) -> dict[str, Any]:
        return {"crm": self.crm, "object": self.object, "record": self.record, "email": self.email,
                "op": self.op, "fields": json_value(dict(self.fields)),
                "sources": [list(s) for s in self.sources], "before": json_value(dict(self.before))}


@dataclass(frozen=True)
class ActivityCreate:
    """One activity (EmailMessage / Task / HubSpot email or task) for one record.

    `external_id` is what makes the create idempotent (D-EM-6): `Unify_Event_Id__c` in
    Salesforce, `unify_event_id` in HubSpot; a retried or replayed create updates instead.
    `record` may be None when the record is created in the same sync: it is then found by email.
    `relations` (Salesforce EmailMessage only): RelationType for the EmailMessageRelation.
    """

    crm: str
    object: str
    record: str | None
    email: str | None
    external_id: str
    fields: Mapping[str, Any]
    play: str | None = None
    node: str | None = None
    event: str | None = None
    relation_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"crm": self.crm, "object": self.object, "record": self.record, "email": self.email,
                "external_id": self.external_id, "fields": json_value(dict(self.fields)),
                "play": self.play, "node": self.node, "event": self.event,
                "relation_type": self.relation_type}


# ---- what comes out -------------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """A record write the CRM accepted. `before` holds the values read in the same sync."""

    crm: str
    object: str
    record: str
    email: str | None
    op: str
    fields: Mapping[str, Any]
    before: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[tuple[str | None, str | None, str | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"crm": self.crm, "object": self.object, "record": self.record, "email": self.email,
                "op": self.op, "fields": json_value(dict(self.fields)),
                "before": json_value(dict(self.before)), "sources": [list(s) for s in self.sources]}


@dataclass(frozen=True)
class CreatedActivity:
    crm: str
    object: str
    id: str
    record: str | None
    email: str | None
    external_id: str
    created: bool  # False: it already existed (a replay), and was updated in place
    play: str | None = None
    node: str | None = None
    event: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


SkippedRecord = Skipped  # the connectors report refusals in the one vocabulary (engine.results)
KeptValue = Kept


@dataclass(frozen=True)
class _CrmNotice:
    """A CRM-level problem as a value: which CRM, a code, the message and an optional hint."""

    crm: str
    code: str
    message: str
    hint: str | None = None

    def _head(self) -> str:
        raise NotImplementedError

    def format(self) -> str:
        text = self._head()
        return f"{text} ({self.hint})" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SyncStopped(_CrmNotice):
    """Why a sync stopped before sending everything (the rest is pending, nothing is lost).

    Codes: ``request_limit_exceeded``, ``rate_limited`` (a Retry-After too long to wait),
    ``expired_credentials``, ``permission_denied``, ``crm_unavailable`` (retries exhausted).
    """

    def _head(self) -> str:
        return f"{self.crm}: sync stopped ({self.code}): {self.message}"


@dataclass(frozen=True)
class ConnectionProblem(_CrmNotice):
    """D-SY-3: a connection that could not be made (missing ${ENV}, bad credentials...), as a value."""

    def _head(self) -> str:
        return f"{self.crm}: {self.code} {self.message}"


@dataclass
class Sent:
    """What a connector did with a list of writes or activities."""

    written: list[Written] = field(default_factory=list)
    activities: list[CreatedActivity] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    pending: list[RecordWrite | ActivityCreate] = field(default_factory=list)
    stopped: SyncStopped | None = None

    def merge(self, other: "Sent") -> "Sent":
        self.written.extend(other.written)
        self.activities.extend(other.activities)
        self.skipped.extend(other.skipped)
        self.pending.extend(other.pending)
        self.stopped = self.stopped or other.stopped
        return self


@dataclass(frozen=True)
class Pull:
    """Records changed since a cursor (CRM state format) and the next cursor."""

    records: Mapping[str, list[dict[str, Any]]]
    cursor: Mapping[str, str]
    stopped: SyncStopped | None = None


# ---- shared by both connectors -------------------------------------------------------------
class ConnectorPlumbing:
    """What both connectors share: the retry policy, the clock, the `retry.Caller` (classifying
    failures with the connector's own `_classify`), the call counters and the skipped record of an
    item the CRM refused."""

    crm: str

    def __init__(self, *, policy: "RetryPolicy | None" = None, clock: Clock = system_clock):
        from engine.connectors.retry import Caller, RetryPolicy  # retry imports this module
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.caller = Caller(self.crm, self.policy, self._classify)

    def _classify(self, exc: BaseException) -> Exception | None:
        raise NotImplementedError

    def calls(self) -> dict[str, int]:
        return dict(self.caller.counters)

    def api_usage(self) -> dict[str, int]:
        """The day's API usage as the CRM last reported it, and the budget (`budget.ApiBudget.report`)."""
        return self.caller.gate.budget.report()

    def close(self) -> None:
        pass

    def _skip(self, item: RecordWrite | ActivityCreate, code: str, message: str,
              field: str | None = None) -> Skipped:
        play = node = event = None
        if isinstance(item, RecordWrite) and item.sources:
            play, node, event = item.sources[0]
        elif isinstance(item, ActivityCreate):
            play, node, event = item.play, item.node, item.event
        return Skipped(SkipReason.CRM_REJECTED, self.crm, item.object, item.record, item.email, event, play, node,
                       field, f"{code}: {message}", message, code, self.clock())


# ---- the protocol ---------------------------------------------------------------------------
@runtime_checkable
class Connector(Protocol):
    """What both CRM connectors do. Every method is batched: as few API calls as the API allows."""

    crm: str
    person_objects: tuple[str, ...]  # Salesforce ("Lead", "Contact"); HubSpot ("contacts",)

    def read_records(self, emails: Iterable[str] = (), ids: Mapping[str, Iterable[str]] | None = None,
                     objects: Iterable[str] | None = None,
                     fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Current values of the person records holding these emails (or ids), §6 format.

        `objects` narrows Salesforce to Lead or Contact; `fields` to some fields (default: all).
        Raises `retry.Stop` when the sync must stop, `retry.Rejected` when the CRM refuses the read.
        """

    def apply_writes(self, writes: Sequence[RecordWrite]) -> Sent:
        """Send updates and creates; per-record failures are skipped with the CRM's reason."""

    def create_activities(self, activities: Sequence[ActivityCreate]) -> Sent:
        """Create (idempotently, by external id) EmailMessages / Tasks / HubSpot emails / tasks."""

    def pull_changes(self, since: Mapping[str, str] | None = None, objects: Iterable[str] | None = None) -> Pull:
        """Person records modified after the cursor (SystemModstamp / lastmodifieddate), oldest
        first; no cursor = a full pull. The cursor (object -> time) is the next `since`."""

    def read_metadata(self, objects: Iterable[str] = ...) -> dict[str, Any]:
        """The field metadata snapshot (describe results / property list) `pull-schema` writes."""

    def field_kinds(self, obj: str) -> Mapping[str, str]:
        """Field name -> CRM type of one object (from the live metadata; cached)."""

    def calls(self) -> dict[str, int]:
        """Counters of API calls made (by kind) and retries."""

    def close(self) -> None:
        ...
