"""CRM connectors: the only engine code that talks to a CRM (network I/O lives here and nowhere else).

Public API (import from the submodules; this package imports nothing heavy by itself):

- `auth.connect(settings, env=..., session=..., ca_file=..., host=..., policy=...)` -> a connector or a
  `base.ConnectionProblem`; `auth.connect_info(settings, info)` for explicit info (the sandbox's).
- `port.CrmPort` (what `engine.run.apply_batch` asks of a CRM); `base.Connector` adds pulls and
  metadata. Implementations: `salesforce.SalesforceConnector`, `hubspot.HubSpotConnector`, and
  `memory.MemoryCrm` (a CRM state file, for `plays plan` / `plays test`). Adapters only: the
  business rules (policy, matching, planning) live in `engine.evaluate` and `engine.run`.
- `retry.RetryPolicy` (attempts, backoff, timeout, Retry-After cap, settle time, record retries).
"""
