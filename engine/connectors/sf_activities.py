"""Salesforce activities by the cheapest path (D-RUN-3, D-RUN-5): EmailMessages and Tasks upserted
on `Unify_Event_Id__c` (idempotent, D-EM-6) five collections of 200 to a Composite request, or
in one Bulk API 2.0 upsert job for a large group; then one EmailMessageRelation per message (five
collections of 200 a Composite request, or one Bulk insert job for a large group), the existing
ones of replayed messages read first (five queries a call) so none is ever doubled.

A busy row is tried again (up to `record_retries` more passes), any other refusal is skipped
with the CRM's reason, and when the sync stops everything not confirmed is pending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from engine.connectors.base import ActivityCreate, CreatedActivity, json_value
from engine.connectors.retry import Rejected, Stop, Transient
from engine.connectors.sf_paths import (COLLECTION, HEAVY, RECORD_TRANSIENT, Unit, base_url, composite,
                                        composite_queries, first_error, plan_units, use_bulk_write)

if TYPE_CHECKING:
    from engine.connectors.salesforce import SalesforceConnector

EXTERNAL_ID = "Unify_Event_Id__c"
ORDER = ("EmailMessage", "Task")
Landed = tuple[ActivityCreate, str, bool]


def _record(obj: str, act: ActivityCreate) -> dict[str, Any]:
    body = {"attributes": {"type": obj}, **json_value(dict(act.fields)), EXTERNAL_ID: act.external_id}
    if obj == "Task" and act.record:
        body["WhoId"] = act.record
    return body


def _sort(conn: "SalesforceConnector", pairs: Iterable[tuple[ActivityCreate, dict[str, Any]]], result: Any,
          retry_later: list[ActivityCreate]) -> list[Landed]:
    landed = []
    for act, res in pairs:
        if res.get("success"):
            landed.append((act, res["id"], bool(res.get("created"))))
            continue
        first = (res.get("errors") or [{"statusCode": "UNKNOWN", "message": "no result"}])[0]
        if first.get("statusCode") in RECORD_TRANSIENT:
            retry_later.append(act)
        else:
            fields = first.get("fields") or []
            result.skipped.append(conn._skip(act, first.get("statusCode", "ERROR"), first.get("message", ""),
                                             fields[0] if fields else None))
    return landed


def _upsert(conn: "SalesforceConnector", obj: str, unit: Unit, result: Any,
            retry_later: list[ActivityCreate]) -> list[Landed]:
    """One Composite request (or one Bulk job) of upserts; an upsert by external id is safe to repeat."""
    from engine.connectors import sf_bulk

    if unit.path == "bulk":
        acts = unit.items()
        try:
            answered, left = sf_bulk.upsert_activities(conn, obj, acts, EXTERNAL_ID, [_record(obj, a) for a in acts])
        except Rejected as exc:
            result.skipped.extend(conn._skip(a, exc.code, exc.message) for a in acts)
            return []
        retry_later.extend(left)
        return _sort(conn, answered, result, retry_later)

    def send() -> list[dict[str, Any]]:
        return composite(conn, [{"method": "PATCH", "url": f"{base_url(conn)}/composite/sobjects/{obj}/{EXTERNAL_ID}",
                                 "referenceId": f"chunk{k}",
                                 "body": {"allOrNone": False, "records": [_record(obj, a) for a in chunk]}}
                                for k, chunk in enumerate(unit.chunks)])
    try:
        answers = conn.caller.call("activity", send)
    except Rejected as exc:
        result.skipped.extend(conn._skip(a, exc.code, exc.message) for a in unit.items())
        return []
    pairs: list[tuple[ActivityCreate, dict[str, Any]]] = []
    for chunk, sub in zip(unit.chunks, answers):
        body = sub.get("body")
        if int(sub.get("httpStatusCode") or 200) >= 400 or not isinstance(body, list):
            code, message = first_error(body)
            result.skipped.extend(conn._skip(a, code, message) for a in chunk)
            continue
        pairs.extend(zip(chunk, body))
    return _sort(conn, pairs, result, retry_later)


def _relate(conn: "SalesforceConnector", landed: list[Landed], result: Any) -> None:
    """EmailMessageRelation for each EmailMessage; existing ones are read first, never doubled."""
    from simple_salesforce import format_soql

    wanted = {(msg_id, act.record): act for act, msg_id, _created in landed if act.record}
    if not wanted:
        return
    have: set[tuple[str, str]] = set()

    def read_existing(message_ids: Iterable[str]) -> None:
        ids = sorted(set(message_ids))
        soqls = [("SELECT EmailMessageId, RelationId FROM EmailMessageRelation WHERE EmailMessageId"
                  + format_soql(" IN {}", ids[i:i + COLLECTION])) for i in range(0, len(ids), COLLECTION)]
        for start in range(0, len(soqls), HEAVY):
            for rows in composite_queries(conn, soqls[start:start + HEAVY], kind="activity"):
                have.update((row["EmailMessageId"], row["RelationId"]) for row in rows)

    replayed = [msg_id for _act, msg_id, created in landed if not created]
    if replayed:
        read_existing(replayed)
    todo = [key for key in wanted if key not in have]
    for _attempt in range(conn.policy.record_retries + 1):
        if use_bulk_write(len(todo)):  # a large group: one Bulk insert job (D-RUN-5)
            todo = _relate_bulk(conn, todo, wanted, have, result)
            if not todo:
                return
            continue
        locked: list[tuple[str, str]] = []
        chunks = [todo[i:i + COLLECTION] for i in range(0, len(todo), COLLECTION)]
        for start in range(0, len(chunks), HEAVY):
            group = chunks[start:start + HEAVY]

            def on_retry(exc: Transient, group: list = group) -> None:
                if exc.unknown_outcome:
                    conn.policy.sleep(conn.policy.settle_time)
                    read_existing(m for chunk in group for m, _r in chunk)

            def send(group: list = group) -> list[tuple[list[tuple[str, str]], dict[str, Any]]]:
                lefts = [[k for k in chunk if k not in have] for chunk in group]
                lefts = [left for left in lefts if left]
                if not lefts:
                    return []
                subs = [{"method": "POST", "url": f"{base_url(conn)}/composite/sobjects", "referenceId": f"rel{n}",
                         "body": {"allOrNone": False, "records": [
                             {"attributes": {"type": "EmailMessageRelation"}, "EmailMessageId": m, "RelationId": r,
                              "RelationType": wanted[(m, r)].relation_type or "ToAddress"} for m, r in left]}}
                        for n, left in enumerate(lefts)]
                return list(zip(lefts, composite(conn, subs)))

            try:
                answers = conn.caller.call("activity", send, on_retry=on_retry)
            except Rejected as exc:
                result.skipped.extend(conn._skip(wanted[k], exc.code, exc.message) for chunk in group for k in chunk)
                continue
            for keys, sub in answers:
                body = sub.get("body")
                if int(sub.get("httpStatusCode") or 200) >= 400 or not isinstance(body, list):
                    code, message = first_error(body)
                    result.skipped.extend(conn._skip(wanted[k], code, "EmailMessageRelation: " + message) for k in keys)
                    continue
                for key, res in zip(keys, body):
                    if res.get("success"):
                        have.add(key)
                        continue
                    first = (res.get("errors") or [{"statusCode": "UNKNOWN", "message": "no result"}])[0]
                    if first.get("statusCode") in RECORD_TRANSIENT:
                        locked.append(key)
                    else:
                        result.skipped.append(conn._skip(wanted[key], first.get("statusCode", "ERROR"),
                                                         "EmailMessageRelation: " + first.get("message", "")))
        todo = locked
        if not todo:
            return
    result.skipped.extend(conn._skip(wanted[k], "UNABLE_TO_LOCK_ROW", "EmailMessageRelation: unable to obtain "
                                     "exclusive access to this record") for k in todo)


def _relate_bulk(conn: "SalesforceConnector", todo: list[tuple[str, str]], wanted: dict[tuple[str, str], ActivityCreate],
                 have: set[tuple[str, str]], result: Any) -> list[tuple[str, str]]:
    """The relations of a large group in one Bulk insert job: those that landed join `have`,
    refusals are skipped with the CRM's reason; returns what is worth another pass (busy rows,
    rows the job left unprocessed). A stop propagates (the messages are replayed, and a replayed
    message's relations are read before any is created again)."""
    from engine.connectors import sf_bulk

    columns = ["EmailMessageId", "RelationId", "RelationType"]
    rows = [[m, r, wanted[(m, r)].relation_type or "ToAddress"] for m, r in todo]
    try:
        _info, ok, failed, _left = sf_bulk.ingest(conn, "EmailMessageRelation", "insert", columns, rows, "activity")
    except Rejected as exc:
        result.skipped.extend(conn._skip(wanted[k], exc.code, "EmailMessageRelation: " + exc.message) for k in todo)
        return []
    seen: set[int] = set()
    again: list[tuple[str, str]] = []
    for i, _row in sf_bulk._match(columns, rows, ok):
        seen.add(i)
        have.add(todo[i])
    for i, row in sf_bulk._match(columns, rows, failed):
        seen.add(i)
        error = sf_bulk.parse_error(row.get("sf__Error", ""))
        if error["statusCode"] in RECORD_TRANSIENT:
            again.append(todo[i])
        else:
            result.skipped.append(conn._skip(wanted[todo[i]], error["statusCode"],
                                             "EmailMessageRelation: " + error["message"]))
    again.extend(key for i, key in enumerate(todo) if i not in seen)  # unprocessed or unanswered: once more
    return again


def create_activities(conn: "SalesforceConnector", activities: Sequence[ActivityCreate], result: Any) -> Any:
    """EmailMessages (+ relations), then Tasks, each group by its cheapest path."""
    by_obj = {obj: [a for a in activities if a.object == obj] for obj in ORDER}
    result.skipped.extend(conn._skip(a, "INVALID_TYPE", f"cannot log a {a.object} activity")
                          for a in activities if a.object not in ORDER)
    for pos, obj in enumerate(ORDER):
        todo = by_obj[obj]
        try:
            for _attempt in range(conn.policy.record_retries + 1):
                retry_later: list[ActivityCreate] = []
                units = plan_units(todo)
                for n, unit in enumerate(units):
                    try:
                        landed = _upsert(conn, obj, unit, result, retry_later)
                    except Stop:
                        for later in units[n:]:
                            result.pending.extend(later.items())
                        result.pending.extend(retry_later)
                        raise
                    if obj == "EmailMessage":
                        try:
                            _relate(conn, landed, result)
                        except Stop:  # the messages exist; their relations are redone by the replay
                            result.pending.extend(a for a, _i, _c in landed)
                            for later in units[n + 1:]:
                                result.pending.extend(later.items())
                            result.pending.extend(retry_later)
                            raise
                    result.activities.extend(
                        CreatedActivity(conn.crm, obj, rid, a.record, a.email, a.external_id, created,
                                        a.play, a.node, a.event) for a, rid, created in landed)
                todo = retry_later
                if not todo:
                    break
            result.skipped.extend(conn._skip(a, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to "
                                             "this record") for a in todo)
        except Stop as stop:
            result.stopped = stop.stopped
            for later in ORDER[pos + 1:]:
                result.pending.extend(by_obj[later])
            return result
    return result
