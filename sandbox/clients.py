"""Real CRM clients pointed at a running sandbox, so nobody has to rediscover how.

`salesforce_client(info)` gives a `simple_salesforce.Salesforce` on the sandbox's instance URL
with its session id, verifying TLS against the sandbox CA (with `trust_env` off, so a
`REQUESTS_CA_BUNDLE` or proxy in the environment cannot override it). `hubspot_client(info)` gives
a `hubspot.Client` whose host is the sandbox and whose `ssl_ca_cert` is the sandbox CA. `info` is
`SandboxHandle.info` or the JSON line `plays sandbox` prints.
"""

from __future__ import annotations

from typing import Any


def salesforce_session(info: dict[str, Any]) -> Any:
    """A `requests.Session` that trusts the sandbox CA and ignores environment settings."""
    import requests

    sf = info.get("salesforce", info)
    session = requests.Session()
    session.trust_env = False
    session.verify = sf["ca_file"]
    return session


def salesforce_client(info: dict[str, Any], *, person: bool = False, **kwargs: Any) -> Any:
    """`simple_salesforce.Salesforce` for the sandbox (extra kwargs go to the constructor); as the
    integration user, or with `person=True` as a person editing records in the CRM's own screens
    (another user: their edits are what the sync flow's pull looks for)."""
    from simple_salesforce import Salesforce

    sf = info.get("salesforce", info)
    kwargs.setdefault("version", sf.get("version", "59.0"))
    return Salesforce(instance_url=sf["instance_url"], session_id=sf["ui_session_id" if person else "session_id"],
                      session=kwargs.pop("session", None) or salesforce_session(info), **kwargs)


def hubspot_client(info: dict[str, Any], **kwargs: Any) -> Any:
    """`hubspot.Client` for the sandbox (extra kwargs, e.g. `retry=`, go to `Client.create`)."""
    import hubspot

    hs = info.get("hubspot", info)
    return hubspot.Client.create(access_token=hs["access_token"], host=hs["host"],
                                 ssl_ca_cert=hs["ca_file"], **kwargs)
