"""Integration settings checks (``integration.yaml``) beyond its schema, and a Play's use of them.

Codes: INTEG005 ``email_writeback: email_message`` without ``enhanced_email: true`` (D-EM-1);
INTEG007 a Play writes to a CRM that ``integration.yaml`` does not configure (warning);
INTEG008 a secret written in plain text instead of a ``${ENV}`` reference (warning).
(INTEG001..004 and INTEG006 are raised where files are read, in `engine.workspace`.)
"""

from __future__ import annotations

import re

from engine.diagnostics import Diagnostic, error, warning
from engine.language.lenient import is_uncertain
from engine.language.loader import Document
from engine.language.model import Integration, Play

SECRET_KEYS = ("session_id", "password", "security_token", "client_secret", "access_token")
_ENV_PREFIX = {"salesforce": "SF", "hubspot": "HUBSPOT"}
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def check(doc: Document, integration: Integration, uncertain: frozenset[tuple] = frozenset()) -> list[Diagnostic]:
    """INTEG005 and INTEG008; `uncertain` settings (dropped for schema errors) are not held against."""
    out: list[Diagnostic] = []
    sf = integration.salesforce
    if sf is not None and sf.email_writeback == "email_message" and not sf.enhanced_email \
            and not is_uncertain(uncertain, "salesforce", "enhanced_email"):
        out.append(error("INTEG005", doc.file, doc.pos(("salesforce", "email_writeback")),
                         "email_writeback: email_message needs Enhanced Email (D-EM-1)",
                         "set enhanced_email: true once it is enabled in the org, or use email_writeback: task"))
    for crm in ("salesforce", "hubspot"):
        settings = integration.settings(crm)
        if settings is None:
            continue
        for key in SECRET_KEYS:
            value = settings.auth.get(key)
            if isinstance(value, str) and not _ENV_REF.match(value.strip()):
                out.append(warning("INTEG008", doc.file, doc.pos((crm, key)),
                                   f"{crm}.{key} is written in plain text",
                                   f"use an environment reference such as ${{{_ENV_PREFIX[crm]}_{key.upper()}}}"))
    return out


def check_play(doc: Document, play: Play, integration: Integration,
               uncertain: frozenset[tuple] = frozenset()) -> list[Diagnostic]:
    """INTEG007: a node writes to a CRM the integration settings leave out (when there are settings;
    not for a CRM whose block has a schema error or may be misspelt: that is reported already)."""
    if integration.file is None:
        return []
    out: list[Diagnostic] = []
    for node in play.nodes.values():
        if node.crm is None or integration.settings(node.crm) is not None or is_uncertain(uncertain, str(node.crm)):
            continue
        key = "crm" if node.kind == "create_task" else "type"
        out.append(warning("INTEG007", doc.file, doc.pos(node.path + (key,)),
                           f"node '{node.id}' writes to {node.crm}, which {integration.file} does not configure",
                           f"add a {node.crm} block to {integration.file}, or the node never runs"))
    return out
