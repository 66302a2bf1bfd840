"""Events: the engine's input (play-language.md §5), parsed from dicts, JSONL or a JSON array.

`parse_event` turns one plain dict into an immutable `Event` (times as integer microseconds since
the epoch, the contact email normalised once, D-WB-5) or into coded diagnostics when the event is
structurally broken. The ingest endpoint uses it too: an event with an error diagnostic is a 422;
warnings (an unknown status or classification, D-VOC-2) are logged and the event is kept.

Codes: EVENT001 not JSON, EVENT002 not an object, EVENT003 missing key, EVENT004 wrong type,
EVENT005 bad timestamp, EVENT006 unknown event type, EVENT007 unknown key, EVENT008 unknown
sequence status (warning), EVENT009 unknown reply classification (warning).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from engine.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.vocab import CLASSIFICATIONS, STATUSES, EventType

EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
_STATUS_SET = frozenset(STATUSES)
_CLASS_SET = frozenset(CLASSIFICATIONS)
_KEYS = ("id", "type", "at", "contact", "sequence", "status", "from", "to", "url", "in_thread", "reply", "message")
_REPLY_KEYS = ("classification", "tags", "subject", "body")
_MESSAGE_KEYS = ("id", "subject", "body_template", "body_rendered", "manual")
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# ---------------------------------------------------------------------------------------------- time

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def parse_time(text: Any, *, need_zone: bool = True) -> int | None:
    """ISO 8601 date-time -> integer microseconds since the epoch (UTC), or None if it is not one.

    With ``need_zone`` a time without a zone is refused; without it, it is read as UTC.
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if need_zone and not _DT_RE.match(s):
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _US


def parse_crm_time(value: Any) -> int | None:
    """A CRM timestamp (``2026-11-01T00:00:00Z``, ``...000+0000``, a date) -> microseconds, or None."""
    if isinstance(value, str) and value:
        return parse_time(value, need_zone=False)
    return None


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
    return (_EPOCH + timedelta(days=day)).date().isoformat()


def add_days(us: int, days: int) -> str:
    """``YYYY-MM-DD`` of (the UTC date of `us`) + `days` calendar days (D-EM-4 due dates)."""
    return _day_text(us // _DAY_US + int(days))


# --------------------------------------------------------------------------------------------- email

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalize_email(value: Any) -> tuple[str | None, str | None]:
    """D-WB-5: (normalised email, problem). Problem is ``no_email`` / ``invalid_email`` or None."""
    if value is None or not isinstance(value, str):
        return None, "no_email" if value is None or value == "" else "invalid_email"
    s = value.strip().lower()
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


def parse_event(obj: Any, *, file: str = "<event>", line: int = 1, col: int = 1,
                text: str | None = None) -> tuple[Event | None, list[Diagnostic]]:
    """Check and convert one event. Returns (event or None, diagnostics).

    `text` is the source line, used to point the column at the offending key.
    """
    def at(key: str | None) -> tuple[int, int]:
        if key and text:
            i = text.find(f'"{key}"')
            if i >= 0:
                return (line, i + 1)
        return (line, col)

    if not isinstance(obj, dict):
        return None, [error("EVENT002", file, (line, col), f"an event must be a JSON object, not {type(obj).__name__}")]
    diags: list[Diagnostic] = []
    for key in obj:
        if key not in _KEYS:
            diags.append(error("EVENT007", file, at(key), f"unknown event key '{key}'",
                               did_you_mean(key, _KEYS) or f"known keys: {', '.join(_KEYS)}"))
    for key in ("id", "type", "at"):
        if key not in obj:
            diags.append(error("EVENT003", file, (line, col), f"event has no '{key}'",
                               "every event needs id, type and at"))
    eid, etype, raw_at = obj.get("id"), obj.get("type"), obj.get("at")
    if "id" in obj and (not isinstance(eid, str) or not eid):
        diags.append(error("EVENT004", file, at("id"), "event 'id' must be a non-empty string"))
    if "type" in obj:
        if not isinstance(etype, str):
            diags.append(error("EVENT004", file, at("type"), "event 'type' must be a string"))
        elif etype not in EVENT_TYPES:
            diags.append(error("EVENT006", file, at("type"), f"unknown event type '{etype}'",
                               did_you_mean(etype, sorted(EVENT_TYPES)) or f"known: {', '.join(sorted(EVENT_TYPES))}"))
    us = None
    if "at" in obj:
        us = parse_time(raw_at)
        if us is None:
            diags.append(error("EVENT005", file, at("at"), f"'at' is not an ISO 8601 date-time with a zone: {raw_at!r}",
                               "write e.g. 2026-11-20T10:00:00Z"))
    contact = obj.get("contact")
    if contact is not None and not isinstance(contact, dict):
        diags.append(error("EVENT004", file, at("contact"), "'contact' must be an object"))
        contact = None
    elif isinstance(contact, dict):
        for k, v in contact.items():
            if isinstance(v, (dict, list)):
                diags.append(error("EVENT004", file, at(k), f"contact attribute '{k}' must be a scalar"))
    for key in ("sequence", "status", "from", "to", "url"):
        if not _str_or_none(obj.get(key)):
            diags.append(error("EVENT004", file, at(key), f"'{key}' must be a string"))
    if "in_thread" in obj and not isinstance(obj["in_thread"], bool):
        diags.append(error("EVENT004", file, at("in_thread"), "'in_thread' must be true or false"))
    reply = obj.get("reply")
    if reply is not None:
        if not isinstance(reply, dict):
            diags.append(error("EVENT004", file, at("reply"), "'reply' must be an object"))
            reply = None
        else:
            for k in reply:
                if k not in _REPLY_KEYS:
                    diags.append(error("EVENT007", file, at(k), f"unknown reply key '{k}'",
                                       did_you_mean(k, _REPLY_KEYS) or f"known keys: {', '.join(_REPLY_KEYS)}"))
            tags = reply.get("tags")
            if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
                diags.append(error("EVENT004", file, at("tags"), "'reply.tags' must be a list of strings"))
            for k in ("classification", "subject", "body"):
                if not _str_or_none(reply.get(k)):
                    diags.append(error("EVENT004", file, at(k), f"'reply.{k}' must be a string"))
    message = obj.get("message")
    if message is not None:
        if not isinstance(message, dict):
            diags.append(error("EVENT004", file, at("message"), "'message' must be an object"))
            message = None
        else:
            for k in message:
                if k not in _MESSAGE_KEYS:
                    diags.append(error("EVENT007", file, at(k), f"unknown message key '{k}'",
                                       did_you_mean(k, _MESSAGE_KEYS) or f"known keys: {', '.join(_MESSAGE_KEYS)}"))
            if "manual" in message and not isinstance(message["manual"], bool):
                diags.append(error("EVENT004", file, at("manual"), "'message.manual' must be true or false"))
            for k in ("id", "subject", "body_template", "body_rendered"):
                if not _str_or_none(message.get(k)):
                    diags.append(error("EVENT004", file, at(k), f"'message.{k}' must be a string"))
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
        diags.append(warning("EVENT009", file, at("classification"),
                             f"unknown reply classification '{cls}' (kept; matches only `default`)",
                             did_you_mean(cls, CLASSIFICATIONS)))
    email, problem = normalize_email((contact or {}).get("email"))
    return Event(
        id=eid, type=etype, at=us, at_text=iso_z(us), email=email, email_problem=problem,
        contact=MappingProxyType(dict(contact)) if contact else _EMPTY,
        sequence=obj.get("sequence"), status=obj.get("status"),
        from_status=obj.get("from"), to_status=obj.get("to"), url=obj.get("url"),
        in_thread=obj.get("in_thread", True) is not False,
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


def make_event(id: str, type: str, at: str, **kw: Any) -> Event:
    """Convenience for tests and the runtime: keyword form of an event dict (``from``/``to`` as
    ``from_``/``to``)."""
    raw = {"id": id, "type": type, "at": at}
    for k, v in kw.items():
        raw["from" if k == "from_" else k] = v
    return event_from(raw)


# ------------------------------------------------------------------------------------------- files

def _array_items(text: str) -> Iterator[tuple[Any, int, int, str | None]]:
    """Items of a JSON array with the line/column where each starts. Raises ValueError."""
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)
    ws = " \t\r\n"
    while True:
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == "]":
            return
        start = i
        obj, i = dec.raw_decode(text, i)
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        line_text = text[text.rfind("\n", 0, start) + 1: text.find("\n", start) if text.find("\n", start) >= 0 else n]
        yield obj, line, col, line_text
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]":
            return
        raise json.JSONDecodeError("expected ',' or ']'", text, i)


def parse_events_text(text: str, file: str = "<events>") -> tuple[list[Event], list[Diagnostic]]:
    """Parse an events file: JSONL (one object a line; blank lines ignored) or one JSON array.

    Broken events become diagnostics at ``file:line:col`` and are left out; the rest are returned in
    file order.
    """
    events: list[Event] = []
    diags: list[Diagnostic] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            for obj, line, col, line_text in _array_items(text):
                ev, d = parse_event(obj, file=file, line=line, col=col, text=line_text)
                diags.extend(d)
                if ev is not None:
                    events.append(ev)
        except (json.JSONDecodeError, ValueError) as exc:
            line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            diags.append(error("EVENT001", file, (line, col), f"not valid JSON: {getattr(exc, 'msg', exc)}"))
        return events, diags
    loads = json.loads
    for n, line_text in enumerate(text.splitlines(), 1):
        if not line_text.strip():
            continue
        try:
            obj = loads(line_text)
        except json.JSONDecodeError as exc:
            diags.append(error("EVENT001", file, (n, exc.colno), f"not valid JSON: {exc.msg}",
                               "one JSON object per line (JSONL)"))
            continue
        ev, d = parse_event(obj, file=file, line=n, col=len(line_text) - len(line_text.lstrip()) + 1, text=line_text)
        diags.extend(d)
        if ev is not None:
            events.append(ev)
    return events, diags


def parse_event_list(items: Iterable[Any], file: str = "<events>",
                     positions: Iterable[tuple[int, int]] | None = None) -> tuple[list[Event], list[Diagnostic]]:
    """Parse already-loaded event dicts (e.g. a Play test's `events`), with optional positions."""
    events: list[Event] = []
    diags: list[Diagnostic] = []
    pos_list = list(positions) if positions is not None else None
    for i, obj in enumerate(items):
        line, col = pos_list[i] if pos_list and i < len(pos_list) else (1, 1)
        ev, d = parse_event(obj, file=file, line=line, col=col)
        diags.extend(d)
        if ev is not None:
            events.append(ev)
    return events, diags
