"""CRM connectors: the only engine code that talks to a CRM (network I/O lives here and nowhere else).

Public API (import from the submodules; this package imports nothing heavy by itself):

- `auth.connect(settings, env=..., session=..., ca_file=..., host=..., policy=...)` -> a connector or a
  `base.ConnectionProblem`; `auth.connect_info(settings, info)` for explicit info (the sandbox's).
- `sync.sync_batch(connectors, plays=, integration=, events=, tracking_state=, ...)` -> `base.SyncResult`;
  `sync.apply_plan(connectors, plan, integration=, current=None)` re-checks and applies a plan.
- `base.Connector` (protocol), `salesforce.SalesforceConnector`, `hubspot.HubSpotConnector`.
- `retry.RetryPolicy` (attempts, backoff, timeout, Retry-After cap, settle time, record retries).
"""
