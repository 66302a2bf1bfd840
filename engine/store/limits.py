"""What the store can hold, checked before an insert so SQLite and PostgreSQL accept and refuse the
same events (D-OPS-1): the column sizes of ``events`` (id, type, email) and no NUL character in
any string or key (PostgreSQL text cannot hold one). A refused event is an `EventRejected` naming
its position and id — never a database error with SQL in it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

MAX_ID = 255
MAX_TYPE = 64
MAX_EMAIL = 320
MAX_DEPTH = 32


class EventRejected(ValueError):
    """Events the store cannot hold: ``problems`` lists (index, id, reason), one per bad event."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"event #{first[0] + 1} ({first[1]!r}): {first[2]}{more}")


def _nul(value: Any, depth: int = 0) -> str | None:
    """Where a NUL character or an over-deep nesting is, or None."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        return "holds a NUL character" if "\x00" in value else None
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and "\x00" in k:
                return "a key holds a NUL character"
            found = _nul(v, depth + 1)
            if found:
                return f"{k}: {found}"
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _nul(v, depth + 1)
            if found:
                return f"[{i}]: {found}"
    return None


def check_events(items: Iterable[Mapping[str, Any]]) -> None:
    """Raise EventRejected for every event the store cannot hold as given."""
    problems: list[tuple[int, str, str]] = []
    for i, item in enumerate(items):
        eid = str(item.get("id"))
        shown = eid[:40] + ("..." if len(eid) > 40 else "")
        contact = item.get("contact") if isinstance(item.get("contact"), Mapping) else {}
        email = contact.get("email")
        reason = None
        if len(eid) > MAX_ID:
            reason = f"id is {len(eid)} characters long (at most {MAX_ID})"
        elif len(str(item.get("type"))) > MAX_TYPE:
            reason = f"type is longer than {MAX_TYPE} characters"
        elif isinstance(email, str) and len(email.strip()) > MAX_EMAIL:
            reason = f"contact.email is {len(email.strip())} characters long (at most {MAX_EMAIL})"
        else:
            found = _nul(item)
            if found:
                reason = found
        if reason:
            problems.append((i, shown.replace("\x00", "\\u0000"), reason))
    if problems:
        raise EventRejected(problems)
