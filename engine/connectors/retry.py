"""Retries and rate limits around every CRM call (tenacity).

Each HTTP call goes through `Caller.call`: a connector-specific `classify` turns whatever the
client library raised into one of three values —
`Transient` (429, 5xx, timeouts, dropped connections: retried with exponential backoff and jitter,
honouring `Retry-After`), `Stop` (request limit exceeded, expired credentials, a `Retry-After` too
long to wait, retries exhausted: the sync stops and the unsent writes stay pending) or `Rejected`
(the CRM refused the whole call for good: its records are skipped with the CRM's message).
`RateGate` reads the rate-limit headers of every answer and holds the next call back (HubSpot's
burst window) or stops the sync before it is refused (Salesforce's daily `api-usage`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from engine.connectors.base import SyncStopped
from engine.connectors.budget import ApiBudget

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit production; tests shrink the waits and the timeout."""

    attempts: int = 8               # per call, the first one included
    initial: float = 0.5            # first backoff (seconds), doubled each attempt, plus jitter
    max_wait: float = 30.0          # backoff cap
    jitter: float = 0.5
    timeout: float = 30.0           # client-side timeout of one HTTP call
    max_retry_after: float = 120.0  # a longer Retry-After stops the sync instead of sleeping
    record_retries: int = 2         # extra passes for per-record transient errors (row locks)
    settle: float | None = None     # wait before reading back a create whose answer was lost (None: timeout)
    budget_share: float = 0.5       # share of the daily API allowance to use before parking work (D-RUN-5)
    bulk_wait: float = 1_800.0      # seconds of status checks of one Bulk API job before the sync stops
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @property
    def settle_time(self) -> float:
        return self.timeout if self.settle is None else self.settle


class Transient(Exception):
    """A call that may succeed when repeated. `unknown_outcome`: the CRM may have applied it."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 unknown_outcome: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.unknown_outcome = unknown_outcome
        self.status = status


class Stop(Exception):
    """The sync must stop now; everything not yet confirmed stays pending.

    `left`: when the send that stopped settled part of its items before stopping (a Bulk job
    aborted after some records were processed), the items still unconfirmed; None: all of them."""

    def __init__(self, stopped: SyncStopped, left: list[Any] | None = None):
        super().__init__(stopped.message)
        self.stopped = stopped
        self.left = left


class Rejected(Exception):
    """The CRM refused the whole call for good (e.g. a malformed request): code and message."""

    def __init__(self, code: str, message: str, status: int | None = None, field: str | None = None,
                 fields: tuple[str, ...] = ()):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.fields = fields or ((field,) if field else ())


def parse_retry_after(value: Any) -> float | None:
    """`Retry-After` in seconds (the delta-seconds form; an HTTP date is treated as unknown)."""
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        return None


class wait_retry_after(wait_base):
    """Exponential backoff with jitter, but never shorter than the server's `Retry-After`."""

    def __init__(self, fallback: wait_base):
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        base = self.fallback(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(exc, "retry_after", None)
        return max(base, after) if after is not None else base


def _backoff(policy: RetryPolicy) -> wait_base:
    try:  # tenacity >= 9 names the first wait `multiplier`; older releases `initial`
        return wait_exponential_jitter(multiplier=policy.initial, max=policy.max_wait, jitter=policy.jitter)
    except TypeError:
        return wait_exponential_jitter(initial=policy.initial, max=policy.max_wait, jitter=policy.jitter)


class RateGate:
    """Holds calls back according to the rate-limit headers of earlier answers."""

    _SF_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")

    def __init__(self, crm: str, policy: RetryPolicy):
        self.crm = crm
        self.policy = policy
        self._lock = threading.Lock()
        self._hold_until = 0.0
        self._stop: SyncStopped | None = None
        self.budget = ApiBudget(crm, policy.budget_share)  # the daily budget guard (engine.connectors.budget)

    def note(self, headers: Mapping[str, Any] | None) -> None:
        """Read the rate-limit headers of one answer (any status)."""
        if not headers:
            return
        h = {str(k).lower(): v for k, v in headers.items()}
        self.budget.note(h)
        with self._lock:
            usage = h.get("sforce-limit-info")
            if usage:
                m = self._SF_USAGE.search(str(usage))
                if m and int(m.group(1)) >= int(m.group(2)):
                    self._stop = SyncStopped(
                        self.crm, "request_limit_exceeded",
                        f"the org has used its API requests for the day (api-usage={m.group(1)}/"
                        f"{m.group(2)})", "the sync resumes when the limit resets; nothing is lost")
            daily = h.get("x-hubspot-ratelimit-daily-remaining")
            if daily is not None and str(daily).strip().lstrip("-").isdigit() and int(daily) <= 0:
                self._stop = SyncStopped(self.crm, "request_limit_exceeded",
                                         "the HubSpot account has used its daily API calls",
                                         "the sync resumes tomorrow; nothing is lost")
            remaining = h.get("x-hubspot-ratelimit-remaining")
            interval = h.get("x-hubspot-ratelimit-interval-milliseconds")
            if remaining is not None and str(remaining).strip().isdigit() and int(remaining) <= 0:
                wait = (float(interval) / 1000.0) if interval and str(interval).isdigit() else 1.0
                self._hold_until = max(self._hold_until,
                                       time.monotonic() + min(wait, self.policy.max_wait))

    def before_call(self) -> None:
        with self._lock:
            if self._stop is not None:
                raise Stop(self._stop)
            parked = self.budget.check()
            if parked is not None:
                raise Stop(parked)
            delay = self._hold_until - time.monotonic()
        if delay > 0:
            self.policy.sleep(delay)


class Caller:
    """Runs each CRM call with retries, rate limiting and call counters."""

    def __init__(self, crm: str, policy: RetryPolicy, classify: Callable[[BaseException], Exception | None]):
        self.crm = crm
        self.policy = policy
        self.classify = classify
        self.gate = RateGate(crm, policy)
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counters[key] += 1

    def call(self, kind: str, fn: Callable[[], T],
             on_retry: Callable[[Transient], None] | None = None) -> T:
        """`fn()` with retries. Raises `Stop` or `Rejected`; anything unclassified propagates.

        `on_retry(exc)` runs before each new attempt, e.g. to read back what a create whose
        answer was lost really did (read-before-retry), so the retry never creates twice.
        """
        policy = self.policy

        def before_sleep(state: RetryCallState) -> None:
            self._count("retries")
            exc = state.outcome.exception() if state.outcome else None
            if on_retry is not None and isinstance(exc, Transient):
                on_retry(exc)

        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_retry_after(_backoff(policy)),
            retry=retry_if_exception_type(Transient),
            sleep=policy.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.gate.before_call()
                    self._count(kind)
                    try:
                        return self._invoke(fn)
                    except Transient as mapped:
                        if mapped.retry_after is not None and mapped.retry_after > policy.max_retry_after:
                            raise Stop(SyncStopped(
                                self.crm, "rate_limited",
                                f"the CRM asked to wait {mapped.retry_after:.0f}s before the next call",
                                "the sync resumes on its next run; nothing is lost")) from mapped
                        raise
        except Transient as exc:
            raise Stop(SyncStopped(self.crm, "crm_unavailable",
                                   f"gave up after {policy.attempts} attempts: {exc.message}",
                                   "the CRM may be down; the sync resumes on its next run")) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def call_past_guard(self, kind: str, fn: Callable[[], T]) -> T:
        """`fn()` once, not held back by the rate gate or the budget guard: only for settling what
        a stopping sync leaves open (aborting a Bulk API job, reading what it already did), a
        call or three however the sync stopped. Raises `Stop` / `Rejected` / `Transient` as
        classified; the caller decides what a failure means."""
        self._count(kind)
        return self._invoke(fn)

    def _invoke(self, fn: Callable[[], T]) -> T:
        """`fn()`, a failure raised as the connector classifies it (`Transient`, `Stop`,
        `Rejected`), or as it is when the connector does not know it."""
        try:
            return fn()
        except (Transient, Stop, Rejected):
            raise
        except Exception as exc:  # noqa: BLE001 - mapped below, or re-raised as is
            mapped = self.classify(exc)
            if mapped is None:
                raise
            raise mapped from exc
