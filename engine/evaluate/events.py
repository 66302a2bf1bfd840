"""Events: the engine's input, parsed from dicts, JSONL or a JSON array.

`parse_event` turns one plain dict into an immutable `Event` (times as integer microseconds since
the epoch, the contact email normalised once, D-WB-5) or into coded diagnostics when the event is
structurally broken. The ingest endpoint uses it too: an event with an error diagnostic is a 422;
warnings (an unknown status or classification, D-VOC-2) are logged and the event is kept.

Codes: EVENT002 not an object, EVENT003 missing key, EVENT004 wrong type, EVENT005 bad timestamp,
EVENT006 unknown event type, EVENT007 unknown key (the hint says where a misplaced key belongs),
EVENT008 unknown sequence status (warning), EVENT009 unknown reply classification (warning),
EVENT013 an event missing what its type needs to be of use (warning). Diagnostics point at the
offending value (at the key for an unknown key). Files (JSONL or an array): `engine.evaluate.eventfile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Callable, Collection, Iterable, Mapping

from engine.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.language.jsonpos import Locator
from engine.language.times import _EPOCH, _US, parse_time  # re-exported: the one time parser
from engine.language.vocab import CLASSIFICATIONS, STATUSES, EventType

EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
_STATUS_SET = frozenset(STATUSES)
_CLASS_SET = frozenset(CLASSIFICATIONS)
_KEYS = ("id", "type", "at", "contact", "sequence", "status", "from", "to", "url", "in_thread", "sequence_active",
         "reply", "message")
_REPLY_KEYS = ("classification", "tags", "subject", "body")
_MESSAGE_KEYS = ("id", "subject", "body_template", "body_rendered", "manual")
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# ---------------------------------------------------------------------------------------------- time

# The one time parser, `parse_time`, lives in engine.language.times (literal checks use it too).

def parse_crm_time(value: Any) -> int | None:
    """A CRM timestamp (``2026-11-01T00:00:00Z``, ``...000+0000``, a date) -> microseconds, or None."""
    if isinstance(value, str) and value:
        return parse_time(value, need_zone=False)
    return None


def to_datetime(value: Any) -> datetime | None:
    """A datetime or an ISO 8601 string (``Z`` or an offset; none read as UTC) -> an aware UTC
    datetime; None when absent or unparseable. `parse_time` in datetime form (the store's times)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    us = parse_time(value, need_zone=False)
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def to_us(when: Any) -> int | None:
    """A clock value (datetime, ISO string, or microseconds) -> microseconds since the epoch (UTC)."""
    if when is None or isinstance(when, int):
        return when
    if isinstance(when, datetime):
        return ((when if when.tzinfo else when.replace(tzinfo=timezone.utc)) - _EPOCH) // _US
    us = parse_time(str(when), need_zone=False)
    if us is None:
        raise ValueError(f"not a date-time: {when!r}")
    return us


@lru_cache(maxsize=4096)
def _iso_minute(minutes: int) -> str:
    return (_EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:")


def iso_z(us: int) -> str:
    """Microseconds since the epoch -> ``2026-11-20T10:00:00Z`` (``.123Z`` / ``.123456Z`` when needed)."""
    seconds, micro = divmod(us, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    base = f"{_iso_minute(minutes)}{sec:02d}"
    if micro == 0:
        return base + "Z"
    if micro % 1000 == 0:
        return f"{base}.{micro // 1000:03d}Z"
    return f"{base}.{micro:06d}Z"


def utc_date(us: int) -> date:
    """The UTC calendar date of a time."""
    return (_EPOCH + timedelta(microseconds=us)).date()


_DAY_US = 86_400_000_000


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    try:
        return (_EPOCH + timedelta(days=day)).date().isoformat()
    except OverflowError:  # an event in 9999-12-31 plus a few days: the last date there is (D-OPS-3)
        return "9999-12-31" if day > 0 else "0001-01-01"


def add_days(us: int, days: int) -> str:
    """``YYYY-MM-DD`` of (the UTC date of `us`) + `days` calendar days (D-EM-4 due dates)."""
    return _day_text(us // _DAY_US + int(days))


# --------------------------------------------------------------------------------------------- email

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def email_key(value: Any) -> str | None:
    """D-WB-5, the one email normalising: emails match trimmed and case-insensitively
    (``" Ann@Acme.io"`` is ``ann@acme.io``); None for a missing or blank value. A key only: whether
    it is a valid address is `normalize_email`'s question."""
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def normalize_email(value: Any) -> tuple[str | None, str | None]:
    """D-WB-5: (normalised email, problem). Problem is ``no_email`` / ``invalid_email`` or None."""
    if value is None or not isinstance(value, str):
        return None, "no_email" if value is None or value == "" else "invalid_email"
    s = email_key(value)
    if not s:
        return None, "no_email"
    if not _EMAIL_RE.match(s):
        return s, "invalid_email"
    return s, None


# --------------------------------------------------------------------------------------------- event

@dataclass(frozen=True, slots=True)
class Event:
    """One parsed event. `at` is microseconds since the epoch (UTC); `at_text` its ISO ``Z`` form."""

    id: str
    type: str
    at: int
    at_text: str
    email: str | None = None  # normalised (trimmed, lower case); None when missing
    email_problem: str | None = None  # no_email | invalid_email | None
    contact: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    sequence: str | None = None
    status: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    url: str | None = None
    in_thread: bool = True
    sequence_active: bool = True  # D-PLAY-6: false = the sequence is no longer active
    reply: Mapping[str, Any] | None = None
    message: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)

    @property
    def sequence_status(self) -> str | None:
        """§5: the event's `to` for a status change, else its `status`."""
        return self.to_status if self.type == "sequence_status_changed" else self.status

    @property
    def classification(self) -> str | None:
        return self.reply.get("classification") if self.reply else None

    @property
    def message_id(self) -> str | None:
        return self.message.get("id") if self.message else None

    @property
    def manual(self) -> bool:
        return bool(self.message.get("manual")) if self.message else False


class EventError(ValueError):
    """Raised by `event_from` for a broken event; carries the diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def _str_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


Locate = Callable[..., tuple[int, int]]  # (path, key=False) -> (line, col)


def _at_hint(raw: Any) -> str:
    """A hint for an `at` that is not an ISO 8601 date-time with a zone."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return 'write a string such as "2026-11-20T10:00:00Z"'
    if not isinstance(raw, str):
        return 'write an ISO 8601 string such as "2026-11-20T10:00:00Z"; epoch numbers are not accepted'
    s = raw.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", s):
        return f"a date-time is needed, e.g. {s}T00:00:00Z"
    if parse_time(s, need_zone=False) is not None:
        return f"add the time zone, e.g. {s}Z for UTC"
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", s):
        return "not a real date or time; write e.g. 2026-11-20T10:00:00Z"
    return "write e.g. 2026-11-20T10:00:00Z"


def _text_locate(text: str, line: int, col: int, start: int = 0) -> Locate:
    """Positions inside `text` (the source of one event, whose first line is file line `line`)."""
    loc = Locator(text, start, fallback=(1, col))

    def locate(path: tuple = (), key: bool = False) -> tuple[int, int]:
        ln, c = loc.pos(path, key)
        return (line + ln - 1, c)
    return locate


# Keys an event of a type needs to be of any use: (path, what follows, hint); a warning (EVENT013).
_USEFUL: dict[str, tuple[tuple[str, ...], str, str]] = {
    "sequence_status_changed": (("to",), "no Play on status changes can match it",
                                "'to' is the new status, 'status' the current one"),
    "email_clicked": (("url",), "the click cannot be counted", "clicks count for links on tracked domains (D-TR-2)"),
    "reply_classified": (("reply", "classification"), "it matches only `default` branches",
                         'e.g. "reply": {"classification": "Positive"}'),
}


_MOVED = {**{k: f'it belongs in "reply": {{"{k}": ...}}' for k in _REPLY_KEYS},
          **{k: f'it belongs in "contact": {{"{k}": ...}}' for k in ("email", "firstName", "lastName", "title",
                                                                   "company", "phone", "linkedinUrl")},
          **{k: "the event's time is 'at'" for k in ("timestamp", "time", "created_at", "occurred_at", "date")},
          **{k: "the event's kind is 'type'" for k in ("event", "event_type", "kind")},
          "event_id": "the event's id is 'id'",
          "sequence_status": "'to' is the new status of a status change, 'status' the current one"}


def _key_hint(key: str) -> str:
    return did_you_mean(key, _KEYS) or _MOVED.get(key) or f"known keys: {', '.join(_KEYS)}"


def parse_event(obj: Any, *, file: str = "<event>", line: int = 1, col: int = 1,
                text: str | None = None, locate: Locate | None = None) -> tuple[Event | None, list[Diagnostic]]:
    """Check and convert one event. Returns (event or None, diagnostics).

    Diagnostics point at the offending value (at the key for an unknown key): `locate(path, key)`
    gives positions (a Play test passes its YAML positions); else `text`, the JSON source of the
    event starting at file line `line`, is scanned for them when a problem is found; else every
    diagnostic is at (`line`, `col`).
    """
    if locate is None:
        locate = _text_locate(text, line, col) if text else (lambda path=(), key=False: (line, col))

    def at(*path: Any) -> tuple[int, int]:
        return locate(path)

    def key_at(*path: Any) -> tuple[int, int]:
        return locate(path, True)

    if not isinstance(obj, dict):
        kind = "a list" if isinstance(obj, list) else type(obj).__name__
        hint = "a JSONL file holds one event object per line" if isinstance(obj, list) else None
        return None, [error("EVENT002", file, at(), f"an event must be a JSON object, not {kind}", hint)]
    diags: list[Diagnostic] = []
    for key in obj:
        if key not in _KEYS:
            diags.append(error("EVENT007", file, key_at(key), f"unknown event key '{key}'", _key_hint(key)))
    for key in ("id", "type", "at"):
        if key not in obj:
            diags.append(error("EVENT003", file, at(), f"event has no '{key}'",
                               "every event needs id, type and at"))
    eid, etype, raw_at = obj.get("id"), obj.get("type"), obj.get("at")
    if "id" in obj and (not isinstance(eid, str) or not eid):
        hint = f'write it as a string: "{eid}"' if isinstance(eid, (int, float)) and not isinstance(eid, bool) else None
        diags.append(error("EVENT004", file, at("id"), "event 'id' must be a non-empty string", hint))
    if "type" in obj:
        if not isinstance(etype, str):
            diags.append(error("EVENT004", file, at("type"), "event 'type' must be a string",
                               f"one of: {', '.join(sorted(EVENT_TYPES))}"))
        elif etype not in EVENT_TYPES:
            diags.append(error("EVENT006", file, at("type"), f"unknown event type '{etype}'",
                               did_you_mean(etype, sorted(EVENT_TYPES)) or f"known: {', '.join(sorted(EVENT_TYPES))}"))
    us = None
    if "at" in obj:
        us = parse_time(raw_at)
        if us is None:
            diags.append(error("EVENT005", file, at("at"),
                               f"'at' is not an ISO 8601 date-time with a zone: {raw_at!r}", _at_hint(raw_at)))
    contact = obj.get("contact")
    if contact is not None and not isinstance(contact, dict):
        diags.append(error("EVENT004", file, at("contact"), "'contact' must be an object",
                           'e.g. "contact": {"email": "ann@acme.io"}'))
        contact = None
    elif isinstance(contact, dict):
        for k, v in contact.items():
            if isinstance(v, (dict, list)):
                diags.append(error("EVENT004", file, at("contact", k), f"contact attribute '{k}' must be a scalar"))
    for key in ("sequence", "status", "from", "to", "url"):
        if not _str_or_none(obj.get(key)):
            diags.append(error("EVENT004", file, at(key), f"'{key}' must be a string"))
    if "in_thread" in obj and not isinstance(obj["in_thread"], bool):
        diags.append(error("EVENT004", file, at("in_thread"), "'in_thread' must be true or false"))
    if "sequence_active" in obj and not isinstance(obj["sequence_active"], bool):
        diags.append(error("EVENT004", file, at("sequence_active"), "'sequence_active' must be true or false",
                           "false says the sequence is no longer active (D-PLAY-6); leave it out when it is"))
    reply = obj.get("reply")
    if reply is not None:
        if not isinstance(reply, dict):
            diags.append(error("EVENT004", file, at("reply"), "'reply' must be an object",
                               'e.g. "reply": {"classification": "Positive"}'))
            reply = None
        else:
            for k in reply:
                if k not in _REPLY_KEYS:
                    diags.append(error("EVENT007", file, key_at("reply", k), f"unknown reply key '{k}'",
                                       did_you_mean(k, _REPLY_KEYS) or f"known keys: {', '.join(_REPLY_KEYS)}"))
            tags = reply.get("tags")
            if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
                diags.append(error("EVENT004", file, at("reply", "tags"), "'reply.tags' must be a list of strings",
                                   'e.g. "tags": ["pricing", "demo"]'))
            for k in ("classification", "subject", "body"):
                if not _str_or_none(reply.get(k)):
                    diags.append(error("EVENT004", file, at("reply", k), f"'reply.{k}' must be a string"))
    message = obj.get("message")
    if message is not None:
        if not isinstance(message, dict):
            diags.append(error("EVENT004", file, at("message"), "'message' must be an object",
                               'e.g. "message": {"id": "m1"}'))
            message = None
        else:
            for k in message:
                if k not in _MESSAGE_KEYS:
                    diags.append(error("EVENT007", file, key_at("message", k), f"unknown message key '{k}'",
                                       did_you_mean(k, _MESSAGE_KEYS) or f"known keys: {', '.join(_MESSAGE_KEYS)}"))
            if "manual" in message and not isinstance(message["manual"], bool):
                diags.append(error("EVENT004", file, at("message", "manual"), "'message.manual' must be true or false"))
            for k in ("id", "subject", "body_template", "body_rendered"):
                if not _str_or_none(message.get(k)):
                    diags.append(error("EVENT004", file, at("message", k), f"'message.{k}' must be a string"))
    if any(d.severity == "error" for d in diags):
        return None, diags
    # D-VOC-1/2 at run time: unknown values are kept and logged, never rejected.
    for key in ("status", "from", "to"):
        v = obj.get(key)
        if v is not None and v not in _STATUS_SET:
            diags.append(warning("EVENT008", file, at(key), f"unknown sequence status '{v}' (kept; matches no `when`)",
                                 did_you_mean(v, STATUSES)))
    cls = reply.get("classification") if reply else None
    if cls is not None and cls not in _CLASS_SET:
        diags.append(warning("EVENT009", file, at("reply", "classification"),
                             f"unknown reply classification '{cls}' (kept; matches only `default`)",
                             did_you_mean(cls, CLASSIFICATIONS)))
    useful = _USEFUL.get(etype)
    if useful is not None:
        path, why, hint = useful
        holder: Any = obj
        for k in path[:-1]:
            holder = holder.get(k) if isinstance(holder, dict) else None
        if not isinstance(holder, dict) or holder.get(path[-1]) in (None, ""):
            diags.append(warning("EVENT013", file, at(*path[:-1]), f"{etype} event has no '{'.'.join(path)}': {why}",
                                 hint))
    email, problem = normalize_email((contact or {}).get("email"))
    return Event(
        id=eid, type=etype, at=us, at_text=iso_z(us), email=email, email_problem=problem,
        contact=MappingProxyType(dict(contact)) if contact else _EMPTY,
        sequence=obj.get("sequence"), status=obj.get("status"),
        from_status=obj.get("from"), to_status=obj.get("to"), url=obj.get("url"),
        in_thread=obj.get("in_thread", True) is not False,
        sequence_active=obj.get("sequence_active", True) is not False,
        reply=MappingProxyType(dict(reply)) if reply is not None else None,
        message=MappingProxyType(dict(message)) if message is not None else None,
        raw=obj,
    ), diags


def event_from(obj: Any) -> Event:
    """An Event from a dict (or an Event, returned as is); raises EventError for a broken one."""
    if isinstance(obj, Event):
        return obj
    ev, diags = parse_event(obj)
    if ev is None:
        raise EventError([d for d in diags if d.severity == "error"])
    return ev


def first_copies(events: Iterable[Event], seen: Collection[str] = ()) -> tuple[list[Event], list[Event]]:
    """D-RUN-1: an event id already seen is a duplicate; the first copy in ingest order (for a file:
    line order) counts, whatever its `at`. Returns (the first copies, in the order given; the later
    copies and those whose id is in `seen`, the ids of earlier batches: to ignore and report as
    ``duplicate_event``). Dedupe with this BEFORE ordering by `at`; `seen` is not modified."""
    firsts: list[Event] = []
    later: list[Event] = []
    new: set[str] = set()
    for ev in events:
        if ev.id in new or ev.id in seen:
            later.append(ev)
        else:
            new.add(ev.id)
            firsts.append(ev)
    return firsts, later


def make_event(id: str, type: str, at: str, **kw: Any) -> Event:
    """Convenience for tests and the runtime: keyword form of an event dict (``from``/``to`` as
    ``from_``/``to``)."""
    raw = {"id": id, "type": type, "at": at}
    for k, v in kw.items():
        raw["from" if k == "from_" else k] = v
    return event_from(raw)


# ------------------------------------------------------------------------------------------- files

def parse_events_text(text: str, file: str = "<events>") -> tuple[list[Event], list[Diagnostic]]:
    """Parse an events file: JSONL or one JSON array (see `engine.evaluate.eventfile`)."""
    from engine.evaluate.eventfile import parse_events_text as parse

    return parse(text, file)


def parse_event_list(items: Iterable[Any], file: str = "<events>",
                     positions: Iterable[tuple[int, int]] | None = None,
                     locate: Callable[[int], Locate] | None = None) -> tuple[list[Event], list[Diagnostic]]:
    """Parse already-loaded event dicts (e.g. a Play test's `events`), with optional positions:
    `positions` (line, col) per item, or `locate(i)` giving item i's `Locate` (exact positions)."""
    events: list[Event] = []
    diags: list[Diagnostic] = []
    pos_list = list(positions) if positions is not None else None
    for i, obj in enumerate(items):
        line, col = pos_list[i] if pos_list and i < len(pos_list) else (1, 1)
        ev, d = parse_event(obj, file=file, line=line, col=col, locate=locate(i) if locate else None)
        diags.extend(d)
        if ev is not None:
            events.append(ev)
    return events, diags
