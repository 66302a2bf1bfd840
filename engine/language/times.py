"""Times, the one parser: ISO 8601 date-times to integer microseconds since the epoch (UTC).

Validation (a literal date or date-time for a CRM field, D-FT-1) and evaluation (event times, CRM
timestamps, conditions, the policy's conversions; `engine.evaluate.events` re-exports these) read
times with these functions, so what the validator accepts is what a run can write.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$")


def parse_time(text: Any, *, need_zone: bool = True) -> int | None:
    """ISO 8601 date-time -> integer microseconds since the epoch (UTC), or None if it is not one.
    The engine's one time parser (`engine.evaluate.events.to_datetime` gives it as a datetime).

    With ``need_zone`` a time without a zone is refused; without it, it is read as UTC.
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if s.endswith("z"):
        s = s[:-1] + "Z"
    if need_zone and not _DT_RE.match(s):
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC: not a time we can print (D-OPS-3)
        dt.astimezone(timezone.utc)
    except OverflowError:
        return None
    return (dt - _EPOCH) // _US


def is_date(text: Any) -> bool:
    """Whether `text` is a real calendar date written ``YYYY-MM-DD``."""
    if not isinstance(text, str) or not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
