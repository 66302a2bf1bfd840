"""Faults on demand: which calls the sandbox answers badly, decided deterministically under a seed.

A fault spec is a dict (or the compact text `429=0.2,503=0.1,seed=7` / JSON the CLI accepts):

    {"seed": 7, "slow_seconds": 2.0, "retry_after": 1,
     "rules": [{"kind": "429", "rate": 0.2, "crm": "hubspot", "path": "/batch/",
                "method": "POST", "count": 3, "skip": 0}]}

Kinds, each answered in the wire format of the CRM called (every kind applies to both CRMs
unless the rule narrows it with `crm`):

- `429`: rate limited, with `Retry-After`. Salesforce: 429 `REQUEST_LIMIT_EXCEEDED`
  (ConcurrentPerOrgLongTxn). HubSpot: 429 `{"errorType": "RATE_LIMIT", "policyName":
  "TEN_SECONDLY_ROLLING"}` with `X-HubSpot-RateLimit-Remaining: 0`.
- `503`: unavailable. Salesforce `SERVER_UNAVAILABLE`; HubSpot category `SERVICE_UNAVAILABLE`.
- `403`: the account's daily API allowance is used up. Salesforce answers 403
  `REQUEST_LIMIT_EXCEEDED` ("TotalRequests Limit exceeded."). HubSpot has no 403 for this: its
  documented daily-limit answer (developers.hubspot.com, API usage details) is status 429 with
  `{"status": "error", "message": "You have reached your daily limit.", "errorType":
  "RATE_LIMIT", "correlationId", "policyName": "DAILY", "requestId"}` and no `Retry-After`, so
  that is what the sandbox sends (the kind keeps its Salesforce name). The rate-limit headers
  keep counting the real calls; the fault does not zero `X-HubSpot-RateLimit-Daily-Remaining`.
- `slow`: answer only after `slow_seconds`, past a client timeout.
- `drop`: close the connection without an answer.
- `expired_session`: 401 as for an expired token (`INVALID_SESSION_ID` /
  `EXPIRED_AUTHENTICATION`).
- `reject`: per record: that record of a write fails (`UNABLE_TO_LOCK_ROW` / `LOCKED`), the
  others succeed.
- `bulk_fail`: per record of a Bulk API 2.0 ingest job (Salesforce): the job fails at that
  record (state `Failed`); the records before it are processed (each succeeded or failed), it and
  the ones after it are left in `unprocessedrecords`.
- `bulk_hold`: per record of a Bulk API 2.0 ingest job, and per status check of a job: the job
  stays `InProgress` there (the records before it processed); the next status check resumes it.
  With no `count` it holds the job until it is aborted, as a job stuck in Salesforce's queue.

A rule matches a call when its optional `crm`, `method` and `path` (a substring) match; it then
fires with probability `rate` (default 1), skipping its first `skip` matches and firing at most
`count` times. Top-level `{"429": 0.2}` is shorthand for a rule `{"kind": "429", "rate": 0.2}`.
Each rule draws from its own `random.Random(seed, index)`, so the same calls in the same order
meet the same faults.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

KINDS = ("429", "503", "403", "slow", "drop", "expired_session", "reject", "bulk_fail", "bulk_hold")
REQUEST_KINDS = ("429", "503", "403", "slow", "drop", "expired_session")
_NUMERIC = ("seed", "slow_seconds", "retry_after")


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood."""


@dataclass
class Rule:
    kind: str
    rate: float = 1.0
    crm: str | None = None
    method: str | None = None
    path: str | None = None
    count: int | None = None
    skip: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    seen: int = 0
    fired: int = 0

    def matches(self, crm: str, method: str, path: str) -> bool:
        if self.crm and self.crm != crm:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and self.path not in path)

    def draw(self) -> bool:
        """Count one matching call or record; whether the fault fires on it."""
        self.seen += 1
        hit = self.rng.random() < self.rate  # always drawn: keeps the sequence deterministic
        if self.seen <= self.skip or (self.count is not None and self.fired >= self.count):
            return False
        if hit:
            self.fired += 1
        return hit

    def as_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "rate": self.rate, "crm": self.crm, "method": self.method,
               "path": self.path, "count": self.count, "skip": self.skip}
        out = {k: v for k, v in out.items() if v is not None}
        out.update(seen=self.seen, fired=self.fired)
        return out


def parse_spec(spec: str | dict[str, Any] | None) -> dict[str, Any]:
    """Turn the CLI text (JSON, `@file`, or `k=v,k=v`) or a dict into a normalised spec dict."""
    if spec is None or spec == "":
        return {"rules": []}
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read().strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FaultSpecError(f"fault spec is not valid JSON: {exc}") from exc
        else:
            pairs: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                key, sep, value = part.partition("=")
                if not sep:
                    raise FaultSpecError(f"fault spec part {part!r} is not key=value")
                try:
                    pairs[key.strip()] = float(value)
                except ValueError as exc:
                    raise FaultSpecError(f"fault spec value {value!r} is not a number") from exc
            spec = pairs
    if not isinstance(spec, dict):
        raise FaultSpecError("fault spec must be an object")
    out: dict[str, Any] = {"rules": []}
    for key, value in spec.items():
        if key == "rules":
            out["rules"].extend(dict(r) for r in value)
        elif key in _NUMERIC:
            out[key] = value
        elif key in KINDS:
            out["rules"].append({"kind": key, "rate": float(value)})
        else:
            raise FaultSpecError(f"unknown fault key {key!r} (kinds: {', '.join(KINDS)})")
    for rule in out["rules"]:
        if rule.get("kind") not in KINDS:
            raise FaultSpecError(f"unknown fault kind {rule.get('kind')!r}")
        unknown = set(rule) - {"kind", "rate", "crm", "method", "path", "count", "skip"}
        if unknown:
            raise FaultSpecError(f"unknown fault rule keys {sorted(unknown)}")
    return out


class Faults:
    """The live fault configuration; `decide` is called once per API call, `reject` per record."""

    def __init__(self, spec: str | dict[str, Any] | None = None):
        self._lock = threading.Lock()
        self.configure(spec)

    def configure(self, spec: str | dict[str, Any] | None) -> None:
        parsed = parse_spec(spec)
        with self._lock:
            self.seed = int(parsed.get("seed", 0))
            self.slow_seconds = float(parsed.get("slow_seconds", 2.0))
            self.retry_after = int(parsed.get("retry_after", 1))
            self.rules = []
            for index, raw in enumerate(parsed["rules"]):
                rule = Rule(**raw)
                rule.rng = random.Random(f"{self.seed}:{index}")
                self.rules.append(rule)

    def spec(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "slow_seconds": self.slow_seconds,
                    "retry_after": self.retry_after, "rules": [r.as_dict() for r in self.rules]}

    def decide(self, crm: str, method: str, path: str,
               inner: Sequence[tuple[str, str]] = ()) -> str | None:
        """The request-level fault for this call, if any (first firing rule wins). `inner`: the
        (method, path) of a Composite request's subrequests; a rule matching one of them matches
        the whole request (it is one call), drawn once."""
        with self._lock:
            for rule in self.rules:
                if rule.kind in REQUEST_KINDS and any(
                        rule.matches(crm, m, p) for m, p in [(method, path), *inner]):
                    if rule.draw():
                        return rule.kind
        return None

    def reject(self, crm: str, method: str, path: str, kind: str = "reject") -> bool:
        """Whether this one record of a write is rejected (`kind` "bulk_fail": whether a Bulk job
        fails at this record; "bulk_hold": whether a Bulk job waits InProgress here)."""
        with self._lock:
            for rule in self.rules:
                if rule.kind == kind and rule.matches(crm, method, path) and rule.draw():
                    return True
        return False
