"""`CrmPort`: the four things `engine.run.apply_batch` asks of a CRM, nothing more.

The Salesforce and HubSpot connectors (real APIs) and `memory.MemoryCrm` (a CRM state file, for
`plays plan` and `plays test`) implement it. A port carries no business rule: it reads what it is
asked, sends what it is given (batched: Salesforce 200 records a call, HubSpot 100), reports the
CRM's refusals as `crm_rejected`, and counts its calls.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from engine.connectors.base import ActivityCreate, RecordWrite, Sent


@runtime_checkable
class CrmPort(Protocol):
    crm: str  # "salesforce" | "hubspot"

    def read_records(self, emails: Iterable[str] = (), ids: Mapping[str, Iterable[str]] | None = None,
                     objects: Iterable[str] | None = None,
                     fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The person records holding these emails (or ids), in the CRM state format (§6).
        Raises `retry.Stop` when the sync must stop, `retry.Rejected` when the CRM refuses."""

    def apply_writes(self, writes: Sequence[RecordWrite]) -> Sent:
        """Send one write per record (updates and creates)."""

    def create_activities(self, activities: Sequence[ActivityCreate]) -> Sent:
        """Create activities idempotently by their external id (D-EM-6)."""

    def calls(self) -> dict[str, int]:
        """API calls made so far, by kind."""
