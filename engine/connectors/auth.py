"""Connecting: `${ENV}` expansion of the integration's auth values (here and only here, at connect
time) and the choice of auth method; the result is a connector or a `ConnectionProblem` value.

Salesforce: `session_id` (+ `instance_url`), or `username` + `password` + `security_token`
(+ `domain`), or `client_id` + `client_secret` (+ `domain`: the My Domain of the org). HubSpot:
`access_token`. A missing variable, an incomplete set of keys or refused credentials is a
`ConnectionProblem` (D-SY-3) with a hint, never a traceback. `validate`, `plan` and `test` never come
here, so they work with the variables unset.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any, Mapping

from engine.connectors.base import Clock, ConnectionProblem, system_clock
from engine.connectors.retry import RetryPolicy
from engine.language.model import CrmSettings
from engine.language.vocab import Crm

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Diagnostic codes of connection problems (catalogue: docs/diagnostics.md).
ENV_MISSING = "CONN001"
AUTH_INCOMPLETE = "CONN002"
AUTH_REFUSED = "CONN003"
UNREACHABLE = "CONN004"
NOT_CONFIGURED = "CONN005"


def expand(crm: str, auth: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any] | ConnectionProblem:
    """Replace every `${NAME}` in the auth values; the first unset or empty variable is a problem."""
    out: dict[str, Any] = {}
    for key, raw in auth.items():
        if not isinstance(raw, str):
            out[key] = raw
            continue
        missing = [name for name in _REF.findall(raw) if not env.get(name)]
        if missing:
            return ConnectionProblem(
                crm, ENV_MISSING,
                f"environment variable {missing[0]} is not set ({crm}.{key} in integration.yaml)",
                f"export {missing[0]}=... before connecting; secrets never live in the YAML")
        out[key] = _REF.sub(lambda m: env[m.group(1)], raw)
    return out


def _incomplete(values: Mapping[str, Any], keys: tuple[str, ...], method: str,
                hint: str) -> ConnectionProblem | None:
    """The problem of a Salesforce auth method whose keys are not all given; None when they are."""
    absent = [k for k in keys if not values.get(k)]
    if not absent:
        return None
    return ConnectionProblem("salesforce", AUTH_INCOMPLETE, f"{method} auth is missing {', '.join(absent)}", hint)


def salesforce_method(values: Mapping[str, Any]) -> str | ConnectionProblem:
    """Which Salesforce auth the keys describe: ``session``, ``password`` or ``client_credentials``."""
    if values.get("session_id"):
        if not values.get("instance_url"):
            return ConnectionProblem("salesforce", AUTH_INCOMPLETE, "session_id needs instance_url",
                                     "add instance_url: ${SF_INSTANCE_URL} to salesforce in integration.yaml")
        return "session"
    if values.get("username") or values.get("password"):
        return _incomplete(values, ("username", "password", "security_token"), "username/password",
                           "give username, password and security_token (from ${ENV})") or "password"
    if values.get("client_id") or values.get("client_secret"):
        return _incomplete(values, ("client_id", "client_secret", "domain"), "client credentials",
                           "give client_id, client_secret and domain (your My Domain)") or "client_credentials"
    return ConnectionProblem("salesforce", AUTH_INCOMPLETE, "no Salesforce credentials in integration.yaml",
                             "set session_id + instance_url, username + password + security_token, "
                             "or client_id + client_secret + domain")


def connect(settings: CrmSettings | None, *, env: Mapping[str, str] | None = None,
            session: Any = None, ca_file: str | None = None, host: str | None = None,
            policy: RetryPolicy | None = None, clock: Clock = system_clock):
    """A live connector for one CRM block of integration.yaml, or a `ConnectionProblem`.

    `session` (a `requests.Session`) / `ca_file` / `host` let production and the sandbox share the
    code: the sandbox passes its CA file and (HubSpot) its host. `env` defaults to `os.environ`.
    """
    if settings is None:
        return ConnectionProblem("?", NOT_CONFIGURED, "this CRM is not configured in integration.yaml")
    crm = str(settings.crm)
    values = expand(crm, settings.auth, os.environ if env is None else env)
    if isinstance(values, ConnectionProblem):
        return values
    policy = replace(policy or RetryPolicy(), budget_share=settings.api_budget_share)  # D-RUN-5
    if settings.crm == Crm.SALESFORCE:
        from engine.connectors.salesforce import SalesforceConnector
        return SalesforceConnector.connect(values, settings=settings, session=session,
                                           ca_file=ca_file, policy=policy, clock=clock)
    from engine.connectors.hubspot import HubSpotConnector
    if not values.get("access_token"):
        return ConnectionProblem("hubspot", AUTH_INCOMPLETE, "no HubSpot access_token in integration.yaml",
                                 "add access_token: ${HUBSPOT_TOKEN} to hubspot in integration.yaml")
    return HubSpotConnector.connect(values, settings=settings, host=host, ca_file=ca_file,
                                    policy=policy, clock=clock)


def connect_info(settings: CrmSettings | None, info: Mapping[str, Any], *,
                 policy: RetryPolicy | None = None, clock: Clock = system_clock):
    """Connect with explicit connection info instead of `${ENV}`: the sandbox's ``info[crm]``
    ({instance_url, session_id, ca_file} / {host, access_token}) or any dict of auth keys."""
    if settings is None:
        return ConnectionProblem("?", NOT_CONFIGURED, "this CRM is not configured in integration.yaml")
    keys = {k: v for k, v in info.items() if k not in ("ca_file", "host") and v is not None}
    from dataclasses import replace
    return connect(replace(settings, auth=keys), env={}, ca_file=info.get("ca_file"),
                   host=info.get("host"), policy=policy, clock=clock)
