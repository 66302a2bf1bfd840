"""Write intents: the audit trail of a batch survives a crash between its CRM writes and its record.

A batch's audit rows are recorded (with its cursor move) only after its writes were sent, so a run
killed in between leaves CRM values no audit row mentions; the restarted batch finds them already
in place ("unchanged") and would not audit them either. So each connector of a batch is wrapped in
`Recording`: before `apply_writes` sends anything, the field changes it is about to send are stored
as write intents (one transaction, committed first). The transaction that records the batch deletes
them. A restarted batch loads the intents left by the dead run (`store.intents`) and, once its own
sync has re-read the records, `reconcile` turns each into an audit row when the CRM now holds the
intended value and this sync did not write it again (the dead run applied it; `before` comes from
the intent), or drops it (it never landed; the re-plan wrote, kept or skipped it). Intents on
records this sync did not read stay for a later one, and so do a stopped attempt's own intents
whose write is not known to have landed (`stopped_settle`). Orchestration only: no business rule here.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, Mapping, Sequence

from engine.connectors.base import json_value
from engine.evaluate.policy import is_blank, same
from engine.store import Settle, Store, normalize_email


class Recording:
    """A connector that stores the field changes of `apply_writes` as intents before sending them,
    and remembers the records it read (for `reconcile`). Everything else goes to the connector."""

    def __init__(self, conn: Any, store: Store, consumer: str, token: str, clock: Callable[[], Any],
                 held: Any = None):
        self._conn, self._store, self._consumer, self._token, self._clock = conn, store, consumer, token, clock
        self._held = held  # flows.lease.Held: intents are fenced by the one-writer lease (D-RUN-4)
        self.emails: set[str] = set()
        self.by_id: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.by_email: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def read_records(self, emails: Iterable[str] = (), *args: Any, **kwargs: Any) -> dict[str, list[dict]]:
        emails = list(emails)
        rows = self._conn.read_records(emails, *args, **kwargs)
        self.emails.update(e for e in (normalize_email(x) for x in emails) if e)
        for obj, records in (rows or {}).items():
            for rec in records or []:
                if self._conn.crm == "salesforce":
                    rid, values, email = rec.get("Id"), rec, rec.get("Email")
                else:
                    values = rec.get("properties") or {}
                    rid, email = rec.get("id"), values.get("email")
                if rid is None:
                    continue
                self.by_id[(obj, str(rid))] = values
                if normalize_email(email):
                    self.by_email[(obj, normalize_email(email))] = (str(rid), values)
        return rows

    def apply_writes(self, writes: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        rows = []
        for w in writes:
            for name, value in w.fields.items():
                play, node = w.owner(name)
                rows.append({"crm": w.crm, "object": w.object, "record": w.record, "email": w.email,
                             "op": w.op, "field": name, "before": json_value(w.before.get(name)),
                             "after": json_value(value), "play": play, "node": node})
        if self._held is None:
            self._store.add_intents(self._consumer, self._token, rows, self._clock())
        else:  # LeaseLost here: nothing is sent
            self._held.note(self._store.add_intents(self._consumer, self._token, rows, self._clock(),
                                                    lease=self._held.lease))
        return self._conn.apply_writes(writes, *args, **kwargs)


def recording(conns: Mapping[str, Any], store: Store, consumer: str,
              clock: Callable[[], Any], held: Any = None) -> tuple[str, dict[str, Recording]]:
    """Wrap a batch's connectors; returns the attempt's token and the wrapped connectors."""
    token = uuid.uuid4().hex
    return token, {crm: Recording(conn, store, consumer, token, clock, held) for crm, conn in conns.items()}


def _holds(crm: str, have: Any, wanted: Any) -> bool:
    if is_blank(wanted):
        return is_blank(have)
    if same(have, wanted):
        return True
    if crm == "hubspot":
        from engine.connectors.hubspot import hs_value
        return same(have, hs_value(wanted))
    return False


def reconcile(old: list[dict], wrapped: Mapping[str, Recording], result: Any,
              consumer: str, token: str) -> tuple[list[dict], Settle]:
    """Audit rows for the dead run's intents that landed, and the intents this attempt settles."""
    written = {(w.crm, w.object, str(w.record), name) for w in result.written for name in w.fields}
    latest: dict[tuple, dict] = {}  # one intent per field: the newest (a later attempt re-read the CRM)
    done: set[int] = set()
    for it in old:
        conn = wrapped.get(it["crm"])
        if conn is None:
            continue
        email = normalize_email(it["email"])
        if it["record"] is not None and (it["object"], it["record"]) in conn.by_id:
            rid, rec = it["record"], conn.by_id[(it["object"], it["record"])]
        elif email and (it["object"], email) in conn.by_email:
            rid, rec = conn.by_email[(it["object"], email)]
            if it["record"] is not None and rid != it["record"]:
                rec = None
        elif email in conn.emails:
            rid, rec = None, None  # read, and gone
        else:
            continue  # not read by this sync: left for a later one
        done.add(it["id"])
        if rec is not None:
            latest[(it["crm"], it["object"], rid, it["field"])] = {**it, "record": rid, "_have": rec.get(it["field"])}
    audit = []
    for key, it in latest.items():
        if key in written or not _holds(it["crm"], it["_have"], it["after"]):
            continue
        audit.append({"play": it["play"], "node": it["node"], "crm": it["crm"], "object": it["object"],
                      "record": it["record"], "email": it["email"], "op": it["op"], "field": it["field"],
                      "before": it["before"], "after": it["after"]})
    return audit, Settle(consumer, token, frozenset(done))


def stopped_settle(store: Store, settle: Settle, result: Any) -> Settle:
    """The intents a stopped attempt settles: the dead run's it resolved, and its own that were
    written (audited now). Its other intents stay: a write whose answer was lost may have landed,
    and the next attempt tells by reading the CRM."""
    written = {(w.crm, w.object, str(w.record), name) for w in result.written for name in w.fields}
    created = {(w.crm, w.object, normalize_email(w.email), name) for w in result.written
               if w.op == "create" for name in w.fields}
    mine = [it["id"] for it in store.intents(settle.consumer) if it["token"] == settle.token
            and ((it["crm"], it["object"], str(it["record"]), it["field"]) in written
                 or (it["record"] is None
                     and (it["crm"], it["object"], normalize_email(it["email"]), it["field"]) in created))]
    return Settle(settle.consumer, "", settle.ids | frozenset(mine))
