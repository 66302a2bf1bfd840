"""The one vocabulary of outcomes: what a batch wrote, kept, skipped and logged.

`plays plan` (JSON and text), `plays run`'s summary, the Prefect artifacts, the store's audit and
skipped rows and `plays test` all speak these types; nothing else describes an outcome.

- `Write`: the fields one Play node (or the tracking fields: ``play None``, node ``tracking``) sets
  on one record — the net effect, so a field several entries set stays only in the last one.
- `Kept`: a wanted value not written because the field holds one (D-WB-2, D-WB-7).
- `Skipped`: a record, event or field not written, with a `SkipReason` (D-WB-9).
- `Activity`: an EmailMessage / Task / HubSpot email or task to log (D-EM-*).
- `AuditRow`: one field written or one activity created, as the store's audit log keeps it.
- `Outcome`: all of them for one batch (and, at run time, what the CRM did: records written,
  activities logged, what is pending because the sync stopped, the API calls used).

Frozen dataclasses of plain values; `to_json()` gives the documented JSON (cli.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Iterable, Mapping


class SkipReason(StrEnum):
    """Why something was not written (D-WB-9); the strings are part of the JSON contract."""

    NO_EMAIL = "no_email"                    # D-WB-5
    INVALID_EMAIL = "invalid_email"          # D-WB-5
    DUPLICATE = "duplicate"                  # D-WB-6: detail names the record that won
    NO_RECORD = "no_record"
    UNSUPPORTED_FIELD = "unsupported_field"  # D-FT-2, read-only fields
    INVALID_PICKLIST_VALUE = "invalid_picklist_value"  # D-FT-3
    PLAY_DISABLED = "play_disabled"          # D-PLAY-6
    SEQUENCE_INACTIVE = "sequence_inactive"  # D-PLAY-6
    OUT_OF_THREAD = "out_of_thread"          # D-EM-5
    UNTRACKED_DOMAIN = "untracked_domain"    # D-TR-2
    CRM_REJECTED = "crm_rejected"            # at run time: detail holds the CRM's message
    DUPLICATE_EVENT = "duplicate_event"      # D-RUN-1: a later copy of an event id already seen
    TEMPLATE_ERROR = "template_error"        # D-OPS-3: a template broke a limit or failed (detail: its code)


RULES: dict[str, str] = {  # the rule behind each reason, for logs and summaries
    "not_blank": "D-WB-2: a field that is not owned is only written when blank",
    SkipReason.NO_EMAIL: "D-WB-5: contacts need an email to sync",
    SkipReason.INVALID_EMAIL: "D-WB-5: contacts need a valid email to sync",
    SkipReason.DUPLICATE: "D-WB-6: only the most recently modified record is updated",
    SkipReason.NO_RECORD: "no CRM record holds this email",
    SkipReason.UNSUPPORTED_FIELD: "D-FT-2: unsupported field type",
    SkipReason.INVALID_PICKLIST_VALUE: "D-FT-3: value not in the picklist and no default",
    SkipReason.PLAY_DISABLED: "D-PLAY-6: the Play is disabled",
    SkipReason.SEQUENCE_INACTIVE: "D-PLAY-6: the sequence is no longer active",
    SkipReason.OUT_OF_THREAD: "D-EM-5: only in-thread replies count",
    SkipReason.UNTRACKED_DOMAIN: "D-TR-2: the link is not on a web tag domain",
    SkipReason.CRM_REJECTED: "the CRM refused the write",
    SkipReason.DUPLICATE_EVENT: "D-RUN-1: an event id already seen is applied once",
    SkipReason.TEMPLATE_ERROR: "D-OPS-3: a template broke a limit or failed; the field is not written",
}


def json_value(value: Any) -> Any:
    """A value as JSON: times ISO 8601 UTC with Z, dates YYYY-MM-DD, containers recursively."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(v) for v in value]
    return value


def _json(obj: Any) -> dict:
    """Every field, in declaration order, as plain JSON values."""
    return {name: dict(v) if isinstance(v, Mapping) else (str(v) if isinstance(v, StrEnum) else v)
            for name in obj.__dataclass_fields__ for v in (getattr(obj, name),)}


@dataclass(frozen=True, slots=True)
class Write:
    """Fields to write to one record for one Play node (or the tracking fields, play None).

    `record` is None for a record this batch creates (op ``create``, or a later update of it).
    `overwrite` names the fields written over a non-blank value by the node's opt-in (D-WB-4).
    """

    play: str | None
    node: str
    crm: str
    object: str
    record: str | None
    email: str | None
    op: str  # update | create
    fields: Mapping[str, Any]
    overwrite: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = {"play": self.play, "node": self.node, "crm": self.crm, "object": self.object,
               "record": self.record, "email": self.email, "op": self.op, "fields": dict(self.fields)}
        if self.overwrite:
            out["overwrite"] = list(self.overwrite)
        return out


@dataclass(frozen=True, slots=True)
class Kept:
    """A wanted value not written because the field already holds a value (D-WB-2, D-WB-7)."""

    play: str | None
    node: str | None
    crm: str
    object: str
    record: str | None
    field: str
    current: Any
    wanted: Any
    reason: str = "not_blank"
    email: str | None = None

    def to_json(self) -> dict:
        return _json(self)


@dataclass(frozen=True, slots=True)
class Activity:
    """An EmailMessage / Task / HubSpot email or task to create (D-EM-*). `record` is the Lead,
    Contact or contact it is logged on (None when that record is created by the same batch: it is
    resolved by `email`)."""

    crm: str
    object: str
    record: str | None
    email: str | None
    fields: Mapping[str, Any]
    play: str | None = None
    node: str | None = None
    event: str | None = None

    def to_json(self) -> dict:
        return _json(self)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record (or event, or field) not written, with its reason (D-WB-9).

    `message` and `code` are the CRM's own words for a `crm_rejected` entry; `at` is when a run
    found it (None in a plan). The JSON of a plan leaves those three out (cli.md).
    """

    reason: str
    crm: str | None = None
    object: str | None = None
    record: str | None = None
    email: str | None = None
    event: str | None = None
    play: str | None = None
    node: str | None = None
    field: str | None = None
    detail: str = ""
    message: str | None = None
    code: str | None = None
    at: datetime | None = None

    def to_json(self) -> dict:
        return {"reason": str(self.reason), "crm": self.crm, "object": self.object, "record": self.record,
                "email": self.email, "event": self.event, "play": self.play, "node": self.node,
                "field": self.field, "detail": self.detail}

    def to_row(self) -> dict:
        """The store's skipped-records row (the Skipped Records view)."""
        row = self.to_json()
        row["detail"] = self.detail or self.message or ""
        return row


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One field written (`field` its name) or one activity created (`field` ``*``, `after`
    ``{"external_id", "on"}``), as the audit log keeps it (D-RUN-4)."""

    play: str | None
    node: str | None
    crm: str
    object: str
    record: str | None
    email: str | None
    op: str
    field: str
    before: Any
    after: Any
    event: str | None = None

    def to_row(self) -> dict:
        return {"play": self.play, "node": self.node, "crm": self.crm, "object": self.object,
                "record": self.record, "email": self.email, "op": self.op, "field": self.field,
                "before": json_value(self.before), "after": json_value(self.after), "event": self.event}


@dataclass
class Outcome:
    """What one batch did (or, for `plays plan`, would do).

    The plan half (`writes`, `kept`, `activities`, `skipped`) is the same in a plan and a run
    (D-RUN-2). The run half says what the CRM did with it: `written` (record-level writes that
    landed, with the values read before), `logged` (activities created), `unchanged` (planned, but
    the CRM already held the value), `pending` (not sent: the sync `stopped`), `calls` by CRM and
    the next `tracking_state` to persist (None when the sync stopped).
    """

    writes: tuple[Write, ...] = ()
    kept: tuple[Kept, ...] = ()
    activities: tuple[Activity, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    written: list[Any] = field(default_factory=list)
    logged: list[Any] = field(default_factory=list)
    unchanged: list[Any] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)
    stopped: Any = None
    problem: Any = None
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    tracking_state: Any = None
    audit: list[AuditRow] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)     # API calls this batch made, by CRM
    minimum: dict[str, int] = field(default_factory=dict)  # the fewest it could make (engine.run.api_minimum)

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.problem is None and not self.pending

    def to_json(self) -> dict:
        """The ``plays plan --format json`` document (cli.md)."""
        return {"writes": [json_value(w.to_json()) for w in self.writes],
                "kept": [json_value(k.to_json()) for k in self.kept],
                "activities": [json_value(a.to_json()) for a in self.activities],
                "skipped": [s.to_json() for s in self.skipped]}

    def for_play(self, play: str | None) -> "Outcome":
        """This Play's share (None: the Play-less entries: tracking, email activities, records)."""
        return Outcome(tuple(w for w in self.writes if w.play == play),
                       tuple(k for k in self.kept if k.play == play),
                       tuple(a for a in self.activities if a.play == play),
                       tuple(s for s in self.skipped if s.play == play),
                       audit=[a for a in self.audit if a.play == play])

    def counts(self) -> dict[str, int]:
        return {"writes": len({(w.crm, w.object, w.record or w.email) for w in self.writes}),
                "fields": sum(len(w.fields) for w in self.writes), "kept": len(self.kept),
                "skipped": len(self.skipped), "activities": len(self.activities)}


PlanResult = Outcome  # the name `plays plan`'s callers knew


def skipped_rows(items: Iterable[Skipped]) -> list[dict]:
    return [s.to_row() for s in items]


def as_dict(item: Any) -> dict:
    return json_value(asdict(item))
