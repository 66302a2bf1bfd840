"""Events files (`plays plan --events`, `plays run`): JSONL, one event a line, or one JSON array.

Every event goes through `engine.evaluate.events.parse_event`; what only a file can get wrong is checked
here, each as a coded diagnostic at ``file:line:col``: a line that is not JSON (EVENT001; after 20
such lines the rest are counted, not listed), JSON spread over lines or an array followed by more
text (EVENT001), a CRM state file given as events (EVENT002), a line over 5 MiB (EVENT011), an id
reused for a different event (EVENT010, a warning: an event seen twice is applied once), a file
with no events (EVENT012, a warning). A byte order mark is ignored. Strict JSON: NaN is refused.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from engine.diagnostics import Diagnostic, error, warning
from engine.evaluate.events import Event, Locate, parse_event
from engine.language.jsonpos import JSON_DECODER, Locator, line_col

MAX_EVENT_CHARS = 5 * 1024 * 1024  # one event; the same bound as the ingest endpoint's body


def _json_problem(exc: BaseException, text: str, base: tuple[int, int] = (1, 1)) -> tuple[tuple[int, int], str]:
    """(position, message) of a JSON decoding failure in `text` (which starts at file position
    `base`)."""
    if isinstance(exc, json.JSONDecodeError):
        line, col = exc.lineno, exc.colno
        return (base[0] + line - 1, col if line > 1 else base[1] + col - 1), f"not valid JSON: {exc.msg}"
    if isinstance(exc, RecursionError):
        return base, "not valid JSON here: nested too deeply"
    msg = str(exc)
    name = msg.split(" ", 1)[0]
    i = text.find(name) if name else -1
    line, col = line_col(text, i) if i >= 0 else (1, 1)
    return (base[0] + line - 1, col if line > 1 else base[1] + col - 1), f"not valid JSON: {msg}"


_JSON_ERRORS = (json.JSONDecodeError, ValueError, RecursionError)


def _array_items(text: str, start: int) -> Iterator[tuple[Any, int]]:
    """Items of the JSON array at `start`, with the offset where each starts. Raises ValueError
    (a JSONDecodeError with a position) on a syntax error or anything after the array."""
    raw_decode = JSON_DECODER.raw_decode
    i = start + 1
    n = len(text)
    ws = " \t\r\n"
    while True:
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == "]":
            break
        item_start = i
        obj, i = raw_decode(text, i)
        yield obj, item_start
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]":
            break
        raise json.JSONDecodeError("expected ',' or ']' after an event", text, i)
    i += 1
    while i < n and text[i] in ws:
        i += 1
    if i < n:
        raise json.JSONDecodeError("extra data after the JSON array (one array, or one event per line)", text, i)


class _Dups:
    """Event ids seen in one file: a reused id with different content is a warning (EVENT010)."""

    def __init__(self, file: str):
        self.file = file
        self.seen: dict[str, tuple[int, Any]] = {}

    def check(self, ev: Event, line: int, pos: tuple[int, int]) -> Diagnostic | None:
        first = self.seen.get(ev.id)
        if first is None:
            self.seen[ev.id] = (line, ev.raw)
            return None
        if first[1] == ev.raw:
            return None  # the same event twice: applied once, nothing to say
        return warning("EVENT010", self.file, pos,
                       f"event id '{ev.id}' is used again with different content; an event seen twice is "
                       f"applied once: the first copy (line {first[0]}) counts, this one is ignored (D-RUN-1)",
                       "give every event its own id")


MAX_JSON_ERRORS = 20  # lines that are not JSON reported one by one; the rest are counted


def _one_document(text: str, file: str) -> Diagnostic | None:
    """EVENT001 for a file that is one JSON object over several lines (not JSONL), else None."""
    try:
        doc = JSON_DECODER.decode(text)
    except _JSON_ERRORS:
        return None
    if not isinstance(doc, dict):
        return None
    if _looks_like_state(doc):
        return _swapped(file)
    lists = [k for k, v in doc.items() if isinstance(v, list)]
    hint = (f"put the events of '{lists[0]}' in a top-level JSON array, or one per line" if lists and "id" not in doc
            else "write one event per line, or a JSON array of events")
    return error("EVENT001", file, (1, 1), "the file is one JSON object over several lines, not JSONL", hint)


def _looks_like_state(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and set(obj) <= {"salesforce", "hubspot"}


def _swapped(file: str) -> Diagnostic:
    return error("EVENT002", file, (1, 1), "this is a CRM state file, not events",
                 "swapped --events and --crm-state?")


def _blank_warning(file: str, events: list, diags: list) -> None:
    if not events and not diags:
        diags.append(warning("EVENT012", file, (1, 1), "the events file holds no events",
                             "write one JSON object per line, or a JSON array"))


def parse_events_text(text: str, file: str = "<events>") -> tuple[list[Event], list[Diagnostic]]:
    """Parse an events file: JSONL (one object a line; blank lines ignored) or one JSON array.

    Broken events become diagnostics at ``file:line:col`` and are left out; the rest are returned in
    file order.
    """
    events: list[Event] = []
    diags: list[Diagnostic] = []
    dups = _Dups(file)
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark (Windows tools write one)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            for obj, start in _array_items(text, len(text) - len(stripped)):
                line, col = line_col(text, start)
                ev, d = parse_event(obj, file=file, line=line, col=col, locate=_array_locate(text, start))
                diags.extend(d)
                if ev is not None:
                    events.append(ev)
                    dup = dups.check(ev, line, (line, col))
                    if dup is not None:
                        diags.append(dup)
        except _JSON_ERRORS as exc:
            pos, msg = _json_problem(exc, text)
            diags.append(error("EVENT001", file, pos, msg))
        _blank_warning(file, events, diags)
        return events, diags
    decode = JSON_DECODER.decode
    first = True
    bad_json = 0
    first_unshown = (1, 1)
    for n, line_text in enumerate(text.splitlines(), 1):
        if not line_text.strip():
            continue
        indent = len(line_text) - len(line_text.lstrip())
        if len(line_text) > MAX_EVENT_CHARS:
            diags.append(error("EVENT011", file, (n, 1), f"line is longer than {MAX_EVENT_CHARS:,} characters "
                               "(at most 5 MiB an event)", "is the whole file on one line? one event per line"))
            first = False
            continue
        try:
            obj = decode(line_text)
        except _JSON_ERRORS as exc:
            if first:
                whole = _one_document(text, file)
                if whole is not None:
                    return [], [whole]
            first = False
            bad_json += 1
            pos, msg = _json_problem(exc, line_text, (n, 1))
            if bad_json <= MAX_JSON_ERRORS:
                diags.append(error("EVENT001", file, pos, msg, "one JSON object per line: JSONL"))
            elif bad_json == MAX_JSON_ERRORS + 1:
                first_unshown = pos
            continue
        if first and _looks_like_state(obj):
            return [], [_swapped(file)]
        first = False
        ev, d = parse_event(obj, file=file, line=n, col=indent + 1, text=line_text)
        diags.extend(d)
        if ev is not None:
            events.append(ev)
            dup = dups.check(ev, n, (n, indent + 1))
            if dup is not None:
                diags.append(dup)
    if bad_json > MAX_JSON_ERRORS:
        more = bad_json - MAX_JSON_ERRORS - 1
        diags.append(error("EVENT001", file, first_unshown, f"this line and {more} more are not valid JSON (not shown)",
                           "is this a JSONL events file?"))
    _blank_warning(file, events, diags)
    return events, diags


def _array_locate(text: str, start: int) -> Locate:
    loc = Locator(text, start)
    return loc.pos
