"""Tracking aggregates per contact (D-TR-1..3, D-WB-8) and the engagement times audiences use (D-AU-1/2).

Per contact (normalised email) and CRM: Track Opens = number of opens, Click Count = number of
clicks on web-tag domains (D-TR-2), Clicked At = first click, Email Replies = replied in thread,
Sent At = latest in-thread reply. Each counts only activity at or after its field's mapping start
(D-WB-8). Every aggregate is commutative (sums, min, max, or), so the figures do not depend on event
order; duplicates are removed by event id before they get here (the planner does it).

`TrackingState` is plain data: `to_dict` / `from_dict` let the runtime persist it per contact and
feed it to the next batch; `merge` combines two states (used to show commutativity).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from engine.evaluate.events import Event, iso_z, parse_time
from engine.language.metadata import ObjectSchema
from engine.evaluate.policy import CoerceError, coerce, same
from engine.language.model import Integration
from engine.language.vocab import FILTERED_CLASSIFICATIONS, TRACKING_KEYS

CRMS = ("salesforce", "hubspot")
# slot layout of one contact's aggregate list
_OPENS, _CLICKS, _FIRST_CLICK, _REPLIED, _LAST_REPLY = 0, 1, 2, 3, 4  # + 5 * crm index
E_OPEN, E_CLICK, E_REPLY_ANY, E_REPLY = 10, 11, 12, 13  # latest engagement times (audiences)
MANUAL = 14  # message ids of manual emails (D-EM-3: their replies are logged as Tasks)
MAX_MANUAL = 32  # the most recent manual emails remembered per contact (bounded per-contact state)
_NEG = -(1 << 62)


def _new() -> list:
    return [0, 0, None, False, None, 0, 0, None, False, None, None, None, None, None, None]


@lru_cache(maxsize=8192)
def _on_domains(url: str, domains: tuple[str, ...]) -> bool:
    return host_on_domains(url, domains, cached=False)


def host_on_domains(url: str | None, domains: Iterable[str], cached: bool = True) -> bool:
    """D-TR-2: the link's host is one of the domains or a subdomain of one (not a look-alike)."""
    if cached and url and isinstance(domains, tuple):
        return _on_domains(url, domains)
    if not url:
        return False
    try:
        host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    for d in domains:
        d = d.lower().strip().rstrip(".")
        if d and (host == d or host.endswith("." + d)):
            return True
    return False


@dataclass(frozen=True)
class TrackingConfig:
    """What the integration says about tracking: the mapped fields and their start times per CRM."""

    fields: Mapping[str, Mapping[str, str]]  # crm -> tracking key -> CRM field
    since: Mapping[str, tuple[int, int, int, int, int]]  # crm -> start (us) per key, in TRACKING_KEYS order
    domains: tuple[str, ...]

    @classmethod
    def from_integration(cls, integration: Integration) -> "TrackingConfig":
        fields: dict[str, dict[str, str]] = {}
        since: dict[str, tuple] = {}
        for crm in CRMS:
            s = integration.settings(crm)
            if s is None:
                continue
            fields[crm] = dict(s.tracking)
            starts = []
            for key in TRACKING_KEYS:
                target = s.tracking.get(key)
                raw = s.mappings_since.get(target) if target else None
                t = parse_time(raw, need_zone=False) if raw else None
                starts.append(t if t is not None else _NEG)
            since[crm] = tuple(starts)
        return cls(fields, since, tuple(integration.web_tag_domains))

    def crms(self) -> tuple[str, ...]:
        return tuple(c for c in CRMS if c in self.fields)


class TrackingState:
    """Per-contact aggregates. Mutable while a planner feeds events; plain data in and out.

    Each contact's aggregate is stored as a tuple of numbers (replaced on update), so the garbage
    collector stops tracking it: a state over 100k contacts adds no GC work.
    """

    __slots__ = ("contacts",)

    def __init__(self, contacts: dict[str, tuple] | None = None):
        self.contacts: dict[str, tuple] = contacts if contacts is not None else {}

    def slot(self, email: str) -> list:
        """A mutable copy of one contact's aggregate (store it back with `store`)."""
        agg = self.contacts.get(email)
        return _new() if agg is None else list(agg)

    def store(self, email: str, agg: list) -> None:
        self.contacts[email] = tuple(agg)

    # -- updates (all commutative) -----------------------------------------------------------------
    def observe(self, ev: Event, cfg: TrackingConfig) -> None:
        """Count one (deduplicated, tracked, in-thread) open, click or reply."""
        agg = self.slot(ev.email)
        t = ev.at
        typ = ev.type
        if typ == "email_opened":
            for i, crm in enumerate(CRMS):
                s = cfg.since.get(crm)
                if s is not None and t >= s[0]:
                    agg[5 * i + _OPENS] += 1
            if agg[E_OPEN] is None or t > agg[E_OPEN]:
                agg[E_OPEN] = t
        elif typ == "email_clicked":
            for i, crm in enumerate(CRMS):
                s = cfg.since.get(crm)
                if s is None:
                    continue
                b = 5 * i
                if t >= s[1]:
                    agg[b + _CLICKS] += 1
                if t >= s[2] and (agg[b + _FIRST_CLICK] is None or t < agg[b + _FIRST_CLICK]):
                    agg[b + _FIRST_CLICK] = t
            if agg[E_CLICK] is None or t > agg[E_CLICK]:
                agg[E_CLICK] = t
        elif typ == "email_replied":
            for i, crm in enumerate(CRMS):
                s = cfg.since.get(crm)
                if s is None:
                    continue
                b = 5 * i
                if t >= s[3]:
                    agg[b + _REPLIED] = True
                if t >= s[4] and (agg[b + _LAST_REPLY] is None or t > agg[b + _LAST_REPLY]):
                    agg[b + _LAST_REPLY] = t
            if agg[E_REPLY_ANY] is None or t > agg[E_REPLY_ANY]:
                agg[E_REPLY_ANY] = t
            if ev.classification not in FILTERED_CLASSIFICATIONS:  # D-AU-2 exclusions
                if agg[E_REPLY] is None or t > agg[E_REPLY]:
                    agg[E_REPLY] = t
        self.contacts[ev.email] = tuple(agg)

    def note_manual(self, email: str, message_id: str) -> None:
        agg = self.slot(email)
        if agg[MANUAL] is None:
            agg[MANUAL] = (message_id,)
        elif message_id not in agg[MANUAL]:
            agg[MANUAL] = (agg[MANUAL] + (message_id,))[-MAX_MANUAL:]
        self.contacts[email] = tuple(agg)

    def is_manual(self, email: str | None, message_id: str | None) -> bool:
        agg = self.contacts.get(email) if email else None
        return bool(agg and agg[MANUAL] and message_id in agg[MANUAL])

    # -- reading -----------------------------------------------------------------------------------
    def values(self, email: str, crm: str) -> dict[str, Any]:
        """The tracking key -> figure for one contact in one CRM (only figures the engine has)."""
        agg = self.contacts.get(email)
        if agg is None:
            return {}
        b = 5 * CRMS.index(crm)
        out: dict[str, Any] = {}
        if agg[b + _OPENS]:
            out["track_opens"] = agg[b + _OPENS]
        if agg[b + _CLICKS]:
            out["click_count"] = agg[b + _CLICKS]
        if agg[b + _FIRST_CLICK] is not None:
            out["clicked_at"] = iso_z(agg[b + _FIRST_CLICK])
        if agg[b + _REPLIED]:
            out["email_replies"] = True
        if agg[b + _LAST_REPLY] is not None:
            out["sent_at"] = iso_z(agg[b + _LAST_REPLY])
        return out

    def engaged_at(self, email: str) -> tuple[int | None, int | None, int | None, int | None]:
        """(latest open, latest click, latest reply, latest reply not filtered) of one contact."""
        agg = self.contacts.get(email)
        if agg is None:
            return (None, None, None, None)
        return agg[E_OPEN], agg[E_CLICK], agg[E_REPLY_ANY], agg[E_REPLY]

    # -- plain data --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """``{"version": 1, "contacts": {email: {"salesforce": {...}, "hubspot": {...}, "engaged":
        {...}, "manual_messages": [...]}}}`` with times as ISO ``Z`` strings."""
        out: dict[str, Any] = {}
        for email in sorted(self.contacts):
            agg = self.contacts[email]
            entry: dict[str, Any] = {}
            for i, crm in enumerate(CRMS):
                b = 5 * i
                per = {"track_opens": agg[b], "click_count": agg[b + 1],
                       "clicked_at": iso_z(agg[b + 2]) if agg[b + 2] is not None else None,
                       "email_replies": agg[b + 3],
                       "sent_at": iso_z(agg[b + 4]) if agg[b + 4] is not None else None}
                if any(v for v in per.values()):
                    entry[crm] = per
            eng = {k: iso_z(agg[s]) for k, s in (("opened", E_OPEN), ("clicked", E_CLICK),
                                                  ("replied", E_REPLY_ANY), ("replied_counted", E_REPLY))
                   if agg[s] is not None}
            if eng:
                entry["engaged"] = eng
            if agg[MANUAL]:
                entry["manual_messages"] = sorted(agg[MANUAL])
            out[email] = entry
        return {"version": 1, "contacts": out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "TrackingState":
        state = cls()
        for email, entry in ((data or {}).get("contacts") or {}).items():
            agg = _new()
            for i, crm in enumerate(CRMS):
                per = entry.get(crm) or {}
                b = 5 * i
                agg[b] = int(per.get("track_opens") or 0)
                agg[b + 1] = int(per.get("click_count") or 0)
                agg[b + 2] = parse_time(per["clicked_at"]) if per.get("clicked_at") else None
                agg[b + 3] = bool(per.get("email_replies"))
                agg[b + 4] = parse_time(per["sent_at"]) if per.get("sent_at") else None
            eng = entry.get("engaged") or {}
            for k, s in (("opened", E_OPEN), ("clicked", E_CLICK), ("replied", E_REPLY_ANY),
                         ("replied_counted", E_REPLY)):
                if eng.get(k):
                    agg[s] = parse_time(eng[k])
            if entry.get("manual_messages"):
                agg[MANUAL] = tuple(entry["manual_messages"])
            state.contacts[email] = tuple(agg)
        return state

    def copy(self) -> "TrackingState":
        return TrackingState(dict(self.contacts))

    def merge(self, other: "TrackingState") -> "TrackingState":
        """A new state combining both (sums, min first click, max times, or) — commutative."""
        out = self.copy()
        for email, b in other.contacts.items():
            if email not in out.contacts:
                out.contacts[email] = b
                continue
            a = out.slot(email)
            for i in range(len(CRMS)):
                k = 5 * i
                a[k] += b[k]
                a[k + 1] += b[k + 1]
                a[k + 2] = _min(a[k + 2], b[k + 2])
                a[k + 3] = a[k + 3] or b[k + 3]
                a[k + 4] = _max(a[k + 4], b[k + 4])
            for s in (E_OPEN, E_CLICK, E_REPLY_ANY, E_REPLY):
                a[s] = _max(a[s], b[s])
            if b[MANUAL]:
                a[MANUAL] = tuple(sorted(set(a[MANUAL] or ()) | set(b[MANUAL])))[-MAX_MANUAL:]
            out.store(email, a)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrackingState) and self.to_dict() == other.to_dict()


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def changed_fields(vals: Mapping[str, Any], current, schema: ObjectSchema | None) -> dict[str, Any]:
    """The tracking figures (owned, D-WB-1) that differ from what the record holds; fields the
    object lacks or cannot take are left out. `current(field)` reads the record."""
    out: dict[str, Any] = {}
    for f, v in vals.items():
        info = schema.fields.get(f) if schema is not None else None
        if schema is not None and (info is None or not info.supported):
            continue
        try:
            v = coerce(v, info)
        except CoerceError:
            continue
        if not same(current(f), v):
            out[f] = v
    return out


def tracking_fields(state: TrackingState, email: str, crm: str, cfg: TrackingConfig) -> dict[str, Any]:
    """CRM field -> value for the tracking fields mapped in `crm` (D-TR-1)."""
    mapping = cfg.fields.get(crm) or {}
    if not mapping:
        return {}
    vals = state.values(email, crm)
    return {mapping[k]: v for k, v in vals.items() if k in mapping}
