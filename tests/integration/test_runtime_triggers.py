"""Emission coalescing (no Prefect needed): the first event of a quiet spell wakes its Play at once,
a burst within the window becomes one trailing wake-up (so nothing stored during a run is left
without one), and each event wakes only the Plays its type can fire."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import waiting
from flows.triggers import Coalescer


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    return waiting.wait_for(predicate, timeout, interval=0.01)


def test_leading_then_one_trailing_emission_per_window() -> None:
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    def send(play: str, info: dict) -> None:
        with lock:
            sent.append((play, info["id"]))

    co = Coalescer(send, window=0.3)
    co.offer("a", {"id": "e1"})
    assert sent == [("a", "e1")]  # at once
    for i in range(2, 50):
        co.offer("a", {"id": f"e{i}"})
    co.offer("b", {"id": "x1"})  # another Play has its own window
    assert sent == [("a", "e1"), ("b", "x1")]
    wait_for(lambda: len(sent) == 3)
    assert sent[2] == ("a", "e2")  # the whole burst: one trailing wake-up
    quiet = time.monotonic() + 0.35
    wait_for(lambda: time.monotonic() > quiet)  # a quiet spell longer than the window
    co.offer("a", {"id": "e99"})
    assert sent[-1] == ("a", "e99") and len(sent) == 4


def test_notifier_routes_by_event_type() -> None:
    from flows.triggers import notifier

    woken: list[str] = []
    on_stored = notifier({"sequence_status_changed": ["p1", "p2"], "email_opened": ["p3"]}, window=0,
                         send=lambda play, info: woken.append(f"{play}:{info['id']}:{info['email']}"))
    on_stored([{"id": "s1", "type": "sequence_status_changed", "contact": {"email": "a@x.io"}},
               {"id": "o1", "type": "email_opened"}, {"id": "z1", "type": "email_sent"}])
    assert sorted(woken) == ["p1:s1:a@x.io", "p2:s1:a@x.io", "p3:o1:None"]
