"""The connector protocol and the values a sync hands back.

Both CRM connectors (`salesforce.py`, `hubspot.py`) implement `Connector`: read the current values
of records by email or id, apply record writes, create activities, pull changes since a cursor,
read field metadata. They never raise for a CRM's answer: every record ends in an `Outcome` as
written, skipped (with the CRM's own reason, D-WB-9) or pending (not sent because the sync stopped:
request limit, expired credentials; nothing is lost). `SyncResult` is what `sync.sync_batch`
returns to the runtime. `ConnectorPlumbing` is the part both connectors share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from engine.connectors.retry import RetryPolicy

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock; the default `Clock` of connectors (the only room allowed to read it)."""
    return datetime.now(UTC)


def norm_email(value: Any) -> str | None:
    """D-WB-5: emails match trimmed and case-insensitively; None for a missing/blank value."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text or None


def is_blank(value: Any) -> bool:
    """D-WB-2: null or empty string (HubSpot stores every property as a string)."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(v) for v in value]
    return value


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
                           {k: v for k, v in self.before.items() if k in rest})

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


@dataclass(frozen=True)
class SkippedRecord:
    """D-WB-9: a record not written, with its reason, the CRM's own message and the time."""

    reason: str
    crm: str | None
    object: str | None = None
    record: str | None = None
    email: str | None = None
    event: str | None = None
    play: str | None = None
    node: str | None = None
    field: str | None = None
    detail: str | None = None
    message: str | None = None  # the CRM's own words (crm_rejected)
    code: str | None = None     # the CRM's error code (e.g. INVALID_EMAIL_ADDRESS)
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return json_value(asdict(self))


@dataclass(frozen=True)
class KeptValue:
    """D-WB-2: a wanted value not written because the field holds a value (found at write time)."""

    crm: str
    object: str
    record: str
    field: str
    current: Any
    wanted: Any
    reason: str = "not_blank"
    play: str | None = None
    node: str | None = None
    email: str | None = None

    def to_json(self) -> dict[str, Any]:
        return json_value(asdict(self))


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
class Outcome:
    """What a connector did with a list of writes or activities."""

    written: list[Written] = field(default_factory=list)
    activities: list[CreatedActivity] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    pending: list[RecordWrite | ActivityCreate] = field(default_factory=list)
    stopped: SyncStopped | None = None

    def merge(self, other: "Outcome") -> "Outcome":
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


@dataclass
class SyncResult:
    """The result of one `sync_batch`: every planned record is written, kept, unchanged, skipped or
    pending.

    `pending` holds what was not sent because the sync stopped (`stopped`): re-run the same events
    later (re-planned against fresh reads, so nothing is written twice). `tracking_state` is the
    planner's new tracking aggregate to persist — None when the sync stopped or could not connect,
    so that the re-run starts from the previous one.
    """

    crms: tuple[str, ...] = ()
    written: list[Written] = field(default_factory=list)
    kept: list[Any] = field(default_factory=list)          # plan Kept + KeptValue found at write time
    unchanged: list[RecordWrite] = field(default_factory=list)  # planned, but the CRM already holds it
    activities: list[CreatedActivity] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    pending: list[RecordWrite | ActivityCreate] = field(default_factory=list)
    stopped: SyncStopped | None = None
    problem: ConnectionProblem | None = None
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    tracking_state: Any = None

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.problem is None and not self.pending

    def to_json(self) -> dict[str, Any]:
        def js(item: Any) -> Any:
            if hasattr(item, "to_json"):
                return json_value(item.to_json())
            return json_value(asdict(item)) if hasattr(item, "__dataclass_fields__") else item
        return {"crms": list(self.crms), "written": [js(w) for w in self.written],
                "kept": [js(k) for k in self.kept], "unchanged": [js(u) for u in self.unchanged],
                "activities": [js(a) for a in self.activities],
                "skipped": [js(s) for s in self.skipped], "pending": [js(p) for p in self.pending],
                "stopped": js(self.stopped) if self.stopped else None,
                "problem": js(self.problem) if self.problem else None, "calls": dict(self.calls)}


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
        """Calls made by kind, and the day's API usage as the CRM last reported it (budget.py)."""
        return {**self.caller.counters, **self.caller.gate.budget.report()}

    def close(self) -> None:
        pass

    def _skip(self, item: RecordWrite | ActivityCreate, code: str, message: str,
              field: str | None = None) -> SkippedRecord:
        play = node = event = None
        if isinstance(item, RecordWrite) and item.sources:
            play, node, event = item.sources[0]
        elif isinstance(item, ActivityCreate):
            play, node, event = item.play, item.node, item.event
        return SkippedRecord("crm_rejected", self.crm, item.object, item.record, item.email, event, play, node,
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

    def apply_writes(self, writes: Sequence[RecordWrite]) -> Outcome:
        """Send updates and creates; per-record failures are skipped with the CRM's reason."""

    def create_activities(self, activities: Sequence[ActivityCreate]) -> Outcome:
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
