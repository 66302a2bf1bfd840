"""Audiences for `schedule` triggers (D-AU-1..3): who a scheduled Play runs over at time `now`.

- ``engaged: [opened, clicked, replied]`` + ``within: 14d``: contacts whose latest such engagement
  is in ``[now - within, now]`` (D-AU-1), from the tracking state's engagement times. A click counts
  as engagement with or without an open (D-TR-3).
- ``exclusions: true`` (default): automated and OOO replies do not count as replies; ``false``:
  every in-thread reply does (D-AU-2).
- ``csv``: the contacts of an uploaded CSV with an ``email`` column (D-AU-3); other columns become
  contact attributes. The file is read by the caller (the engine reads no files) and passed in as
  text or rows (`read_csv` says what it leaves out: AUDIENCE002, AUDIENCE003). With both `csv` and
  `engaged`, the CSV's contacts that are engaged.

Members come out sorted by email, each once, as contact dicts (``{"email": ..., ...}``).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Mapping

from engine.diagnostics import Diagnostic, warning
from engine.evaluate.events import normalize_email
from engine.language.model import Audience
from engine.evaluate.tracking import TrackingState

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
_COLUMN_ATTRS = {"email": "email", "firstname": "firstName", "first_name": "firstName", "first name": "firstName",
                 "lastname": "lastName", "last_name": "lastName", "last name": "lastName", "title": "title",
                 "company": "company", "phone": "phone", "linkedinurl": "linkedinUrl", "linkedin_url": "linkedinUrl"}


def parse_duration(text: str | None) -> int | None:
    """``15m`` / ``1h`` / ``14d`` / ``2w`` -> microseconds; None if not a duration."""
    m = _DURATION.match(text or "")
    return int(m.group(1)) * _UNIT_US[m.group(2)] if m else None


def read_csv(text: str, file: str = "<audience.csv>") -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """CSV text -> contact dicts keyed by attribute (``email``, ``firstName``, ...), and what it leaves
    out said as warnings: no ``email`` column (AUDIENCE002: the audience is empty), rows without a
    valid email (AUDIENCE003, once, at the first such row). Files: `engine.workspace.read_audiences`."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    names = [k for k in (reader.fieldnames or []) if k]
    if names and "email" not in {_COLUMN_ATTRS.get(k.strip().lower(), k.strip()) for k in names}:
        guess = next((k for k in names if "mail" in k.lower()), None)
        hint = (f"name the '{guess}' column email" if guess
                else f"the first line names the columns ({', '.join(names[:6])}); one must be email")
        return [], [warning("AUDIENCE002", file, (1, 1),
                            "the audience CSV has no 'email' column; the audience is empty", hint)]
    rows: list[dict[str, Any]] = []
    bad, first_bad = 0, 0
    for raw in reader:
        row: dict[str, Any] = {}
        for k, v in raw.items():
            if k is None:
                continue
            key = _COLUMN_ATTRS.get(k.strip().lower(), k.strip())
            row[key] = v.strip() if isinstance(v, str) else v
        email, problem = normalize_email(row.get("email"))
        if problem is None:
            row["email"] = email
            rows.append(row)
        else:
            bad += 1
            first_bad = first_bad or reader.line_num
    diags = []
    if bad:
        diags.append(warning("AUDIENCE003", file, (first_bad, 1),
                             f"{bad} row{'s' if bad > 1 else ''} without a valid email left out of the audience",
                             "every member needs an email, D-WB-5"))
    return rows, diags


def engaged(tracking: TrackingState, kinds: Iterable[str], within_us: int, now_us: int,
            exclusions: bool = True, emails: Iterable[str] | None = None) -> list[str]:
    """Emails engaged (any of `kinds`) within the window ending at `now_us`."""
    start = now_us - within_us
    kinds = set(kinds)
    out = []
    for email in (tracking.contacts if emails is None else emails):
        opened, clicked, replied_any, replied = tracking.engaged_at(email)
        times = []
        if "opened" in kinds:
            times.append(opened)
        if "clicked" in kinds:
            times.append(clicked)
        if "replied" in kinds:
            times.append(replied if exclusions else replied_any)
        if any(t is not None and start <= t <= now_us for t in times):
            out.append(email)
    return sorted(out)


def members(audience: Audience | None, tracking: TrackingState, now_us: int,
            csv_rows: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The contacts a scheduled Play runs over at `now_us`."""
    if audience is None:
        return []
    base: dict[str, dict[str, Any]] | None = None
    if audience.csv:
        base = {}
        for row in csv_rows or ():
            email, problem = normalize_email(row.get("email"))
            if problem is None and email not in base:
                base[email] = {**row, "email": email}
    if audience.engaged:
        within = parse_duration(audience.within) or 0
        pool = base.keys() if base is not None else None
        emails = engaged(tracking, audience.engaged, within, now_us, audience.exclusions, pool)
        return [base[e] if base is not None else {"email": e} for e in emails]
    return [base[e] for e in sorted(base or {})]
