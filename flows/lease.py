"""The runner's side of the one-writer lease (D-RUN-4): one holder name per process, shared by the
flow runs of that process (threads of `plays serve`, the subflows of `plays run`), taken when the
first of them starts draining and released when the last one ends.

``with hold(store) as held:`` yields a `Held` whose ``lease`` every recording store call gets
(``lease=held.lease``); `Held.refresh` renews it between batches. When another runner holds the
lease, `hold` waits up to ``wait`` seconds and then raises `LeaseHeld` naming the holder: the
caller sends nothing and says so. A holder that was a process of this machine and no longer runs
(killed with SIGKILL) is taken over at once instead of waiting for its lease to run out.
Orchestration only; the lease itself is `engine.store.lease`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from engine.store import Lease, LeaseHeld, LeaseLost, Store

TTL_ENV = "PLAYS_LEASE_TTL"
WAIT_ENV = "PLAYS_LEASE_WAIT"
DEFAULT_TTL = 60.0  # seconds; well above the longest CRM send of one batch
DEFAULT_WAIT = 5.0  # seconds a runner waits for a held lease before it stops and says so

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def wait_default() -> float:
    try:
        return float(os.environ.get(WAIT_ENV) or DEFAULT_WAIT)
    except ValueError:
        return DEFAULT_WAIT


def ttl() -> float:
    try:
        return float(os.environ.get(TTL_ENV) or DEFAULT_TTL)
    except ValueError:
        return DEFAULT_TTL


class Held:
    """The process's lease on one store, shared by its users (reference counted)."""

    def __init__(self, store: Store, holder: str):
        self.store, self.holder = store, holder
        self.lease: Lease | None = None
        self.users = 0
        self.lock = threading.Lock()
        self._beating: threading.Event | None = None

    def start_heartbeat(self) -> None:
        """Renew the lease every third of its TTL while it is held, so a long batch (a Bulk API
        job of a whole cycle can take minutes) keeps it; a lease lost meanwhile stops the
        heartbeat and the next fenced store call says so (LeaseLost)."""
        if self._beating is not None:
            return
        stop = self._beating = threading.Event()
        every = max(ttl() / 3, 0.5)

        def beat() -> None:
            while not stop.wait(every):
                try:
                    with self.lock:
                        if self.lease is None:
                            return
                        self.lease = self.store.renew(self.lease)
                except LeaseLost:
                    return
                except Exception:  # noqa: BLE001 - a store hiccup: the next beat tries again
                    continue

        threading.Thread(target=beat, name="plays-lease-heartbeat", daemon=True).start()

    def stop_heartbeat(self) -> None:
        if self._beating is not None:
            self._beating.set()
            self._beating = None

    def refresh(self) -> Lease:
        """Renew between batches (LeaseLost when replaced)."""
        with self.lock:
            assert self.lease is not None
            self.lease = self.store.renew(self.lease)
            return self.lease

    def note(self, lease: Lease | None) -> None:
        """Keep the newest copy (a renewal done by `Store.add_intents`)."""
        if lease is not None:
            with self.lock:
                self.lease = lease


def dead_here(holder: str) -> bool:
    """Whether `holder` names a process of this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


_HELD: dict[int, Held] = {}
_LOCK = threading.Lock()


@contextmanager
def hold(store: Store, *, wait: float | None = None, holder: str = HOLDER) -> Iterator[Held]:
    wait = wait_default() if wait is None else wait
    with _LOCK:
        held = _HELD.setdefault(id(store), Held(store, holder))
    deadline = time.monotonic() + wait
    with held.lock:
        while True:
            try:
                held.lease = store.acquire(holder, ttl())
                break
            except LeaseHeld as exc:
                if dead_here(exc.holder):  # killed on this machine: its lease need not run out
                    held.lease = store.acquire(holder, ttl(), take_over=exc.holder)
                    break
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)
        held.users += 1
        held.start_heartbeat()
    try:
        yield held
    finally:
        with held.lock:
            held.users -= 1
            if held.users == 0:
                held.stop_heartbeat()
            if held.users == 0 and held.lease is not None:
                try:
                    store.release(held.lease)
                except Exception:  # noqa: BLE001 - an expired lease frees itself
                    pass
                held.lease = None
