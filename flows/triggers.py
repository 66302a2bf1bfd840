"""Prefect events and the deployment triggers that answer them.

Ingesting an event emits ``plays.<type>`` with the contact as resource and each Play that event
can fire as a related resource (role ``play``). Each Play's deployment has a `DeploymentEventTrigger`
expecting its trigger's event types (and ``plays.retry``) related to that Play; the run is named
after the event that woke it. A run drains everything pending, so emissions are coalesced per Play:
the first event of a quiet spell is emitted at once (low latency), later ones within `window`
seconds are folded into one trailing emission at the end of the window (so an event stored while
a run is finishing still gets a run). Bursts therefore cost a handful of runs, not one per event.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Mapping

from engine.evaluate.events import email_key
from engine.language.model import Play

log = logging.getLogger("plays.triggers")

RETRY_EVENT = "plays.retry"


def play_resource(play_id: str) -> dict[str, str]:
    return {"prefect.resource.id": f"plays.play.{play_id}", "prefect.resource.role": "play",
            "prefect.resource.name": play_id}


def emit(event_type: str, email: str | None, play_id: str, event_id: str, label: str) -> None:
    """Emit ``plays.<event_type>`` about a contact, related to the Play it can fire."""
    from prefect.events import emit_event

    who = email_key(email) or "unknown"
    emit_event(event=f"plays.{event_type}",
               resource={"prefect.resource.id": f"plays.contact.{who}", "prefect.resource.name": who},
               related=[play_resource(play_id)],
               payload={"event_id": event_id, "play": play_id, "label": label})


def request_retry(play_id: str, pending: int) -> None:
    """Ask the Play's deployment for a run (pending events left by a stopped or crashed run)."""
    from prefect.events import emit_event

    emit_event(event=RETRY_EVENT, resource={"prefect.resource.id": f"plays.play.{play_id}.retry"},
               related=[play_resource(play_id)],
               payload={"play": play_id, "label": f"retry {pending} pending", "event_id": ""})


def deployment_trigger(play: Play, types: Iterable[str]):
    """The trigger of a Play's deployment: its event types (and retries) related to this Play."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=f"plays: {play.id}",
        description=f"Run Play '{play.id}' when an event it can fire on is ingested",
        expect={f"plays.{t}" for t in types} | {RETRY_EVENT},
        match_related={"prefect.resource.id": f"plays.play.{play.id}"},
        parameters={"play": play.id, "trigger": "{{ event.payload.label }}"},
    )


class Coalescer:
    """Per-Play leading + trailing emission within `window` seconds (see module docstring)."""

    def __init__(self, send: Callable[[str, dict], None], window: float = 2.0):
        self.send, self.window = send, window
        self._last: dict[str, float] = {}
        self._trailing: dict[str, dict] = {}
        self._lock = threading.Lock()

    def offer(self, play_id: str, info: dict) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(play_id)
            if play_id in self._trailing:
                return  # a trailing emission is already due; it will cover this event
            if last is None or now - last >= self.window:
                self._last[play_id] = now
                fire = True
            else:
                self._trailing[play_id] = info
                delay = self.window - (now - last)
                threading.Timer(delay, self._flush, args=(play_id,)).start()
                fire = False
        if fire:
            self._safe_send(play_id, info)

    def _flush(self, play_id: str) -> None:
        with self._lock:
            info = self._trailing.pop(play_id, None)
            self._last[play_id] = time.monotonic()
        if info is not None:
            self._safe_send(play_id, info)

    def _safe_send(self, play_id: str, info: dict) -> None:
        try:
            self.send(play_id, info)
        except Exception:  # noqa: BLE001 - the event is stored; the sync schedule retries
            log.exception("could not emit the Prefect event for Play %s", play_id)


def _emit_for(play_id: str, info: dict) -> None:
    emit(info["type"], info.get("email"), play_id, info["id"], f"event {info['id']}")


def notifier(routes: Mapping[str, Iterable[str]], window: float = 2.0,
             send: Callable[[str, dict], None] = _emit_for) -> Callable[[list[dict]], None]:
    """`on_stored` callback for the ingest endpoint: wake (coalesced) each Play an event can fire.

    `routes` maps event type -> Play ids; `send(play_id, {"type", "id", "email"})` wakes one Play
    (default: emit the Prefect event its deployment trigger waits for).
    """
    co = Coalescer(send, window)

    def on_stored(events: list[dict]) -> None:
        for ev in events:
            contact = ev.get("contact") if isinstance(ev.get("contact"), dict) else {}
            info = {"type": ev["type"], "id": ev["id"], "email": contact.get("email")}
            for play_id in routes.get(ev["type"], ()):
                co.offer(play_id, info)
    return on_stored
