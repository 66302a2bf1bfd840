"""Matching an event's contact to a CRM record (D-WB-5, D-WB-6).

The email is matched trimmed and case-insensitively (it is normalised once, when the event is
parsed). ``object: auto`` takes whichever of Lead/Contact holds it. When several records share the
email, the most recently modified one wins; ties go to the greater Id (Leads and Contacts alike).
The others are the losers, reported ``duplicate`` by the planner and never touched.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.evaluate.crmstate import CrmState, Record


class Match(NamedTuple):
    """The outcome of matching: the record to write (or None), the duplicate losers, and the
    reason when there is no record: ``no_email``, ``invalid_email`` or ``no_record``."""

    record: Record | None
    losers: tuple[Record, ...] = ()
    problem: str | None = None


NO_EMAIL = Match(None, (), "no_email")
INVALID_EMAIL = Match(None, (), "invalid_email")
NO_RECORD = Match(None, (), "no_record")


def _rank(rec: Record) -> tuple:
    """D-WB-6: most recently modified first; ties to the greater Id (compared by length, then text,
    so numeric HubSpot ids order as numbers); a record this plan creates (no Id yet) in state order."""
    rid = rec.id or ""
    return (rec.modified, len(rid), rid, -rec.order)


def find(state: CrmState, crm: str, obj: str, email: str | None, email_problem: str | None = None) -> Match:
    """Find the record for `email` in `crm`. `obj` is ``Lead``, ``Contact``, ``auto`` or
    ``contacts`` (HubSpot)."""
    if email_problem == "no_email" or not email:
        return NO_EMAIL
    if email_problem == "invalid_email":
        return INVALID_EMAIL
    cands = state.by_email.get(crm, {}).get(email)
    if not cands:
        return NO_RECORD
    if obj != "auto" and crm == "salesforce":
        cands = [r for r in cands if r.object == obj]
        if not cands:
            return NO_RECORD
    if len(cands) == 1:
        return Match(cands[0], (), None)
    ranked = sorted(cands, key=_rank, reverse=True)
    return Match(ranked[0], tuple(ranked[1:]))


def create_object(crm: str, obj: str) -> str:
    """The object a ``create: true`` node creates: ``auto`` creates a Lead (§1)."""
    if crm == "hubspot":
        return "contacts"
    return "Lead" if obj == "auto" else obj
