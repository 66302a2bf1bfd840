"""Salesforce logins of the sandbox: the SOAP `login` call (username + password + security token)
and the OAuth 2.0 client-credentials token endpoint, each answering in Salesforce's wire format
and issuing a session id the sandbox's REST API then accepts.

Served at the real paths (`/services/Soap/u/{version}`, `/services/oauth2/token`) and also under
`/_login...`: simple-salesforce builds its login URL as `https://{domain}.salesforce.com/...`, so
the domain `127.0.0.1:PORT/_login/sandbox` (see `login_domain`) makes that URL
`https://127.0.0.1:PORT/_login/sandbox.salesforce.com/services/Soap/u/59.0`, which lands here. A
query form (`127.0.0.1:PORT/_login?x=`) works too: the kind is read from path and query together.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from sandbox.http import Request, Response
from sandbox.store import SANDBOX_USER_ID

PARTNER = "urn:partner.soap.sforce.com"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
ORG_ID = "00D5g000004SANDBX"
USER_ID = SANDBOX_USER_ID  # the integration user every session acts as
_XML = {"Content-Type": "text/xml;charset=UTF-8"}


@dataclass
class Credentials:
    """What the sandbox's one integration user and one connected app accept."""

    username: str = "rev@ops.test"
    password: str = "pw"
    security_token: str = "tok"
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"

    def info(self, port: int) -> dict[str, str]:
        return {"username": self.username, "password": self.password,
                "security_token": self.security_token, "client_id": self.client_id,
                "client_secret": self.client_secret, "domain": login_domain(port)}


def login_domain(port: int) -> str:
    """The `domain` that points simple-salesforce's login URL at a sandbox on `port`."""
    return f"127.0.0.1:{port}/_login/sandbox"


def kind(req: Request) -> str | None:
    """``soap`` or ``oauth`` for a login call, None for any other path."""
    path = req.path
    if path.startswith("/_login"):
        path = path + "?" + req.raw_query
    elif not path.startswith("/services/"):
        return None
    if "/services/Soap/u/" in path:
        return "soap"
    if path.rstrip("?/").endswith("/services/oauth2/token"):
        return "oauth"
    if path.startswith("/_login"):
        return "unknown"
    return None


def answer(app: Any, req: Request, which: str) -> Response:
    """The response to a login call of kind `which`."""
    if req.method != "POST":
        return Response(405, {"error": "method_not_allowed", "error_description": "use POST"},
                        route="login")
    if which == "soap":
        return _soap(app, req)
    if which == "oauth":
        return _oauth(app, req)
    return Response(404, {"error": "not_found", "error_description":
                          "a /_login URL must end in /services/Soap/u/{v} or /services/oauth2/token"},
                    route="login")


# ---- SOAP login -------------------------------------------------------------------------------
def _soap(app: Any, req: Request) -> Response:
    try:
        root = ET.fromstring(req.body)
    except ET.ParseError:
        return _fault("INVALID_REQUEST", "Unable to parse the SOAP request", "sf:InvalidRequest")
    login = root.find(f".//{{{PARTNER}}}login")
    if login is None:
        return _fault("INVALID_OPERATION", "No operation available for request login",
                      "sf:UnexpectedErrorFault")
    username = login.findtext(f"{{{PARTNER}}}username") or ""
    password = login.findtext(f"{{{PARTNER}}}password") or ""
    creds: Credentials = app.credentials
    if username != creds.username or password != creds.password + creds.security_token:
        return _fault("INVALID_LOGIN", "Invalid username, password, security token; or user "
                      "locked out.", "sf:LoginFault")
    target = req.path if "/services/Soap/u/" in req.path else req.raw_query
    version = target.split("/services/Soap/u/", 1)[-1].split("/")[0] or "59.0"
    session_id = app.issue_session()
    base = app.base_url
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>'
        f'<result><metadataServerUrl>{base}/services/Soap/m/{escape(version)}/{ORG_ID}'
        '</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox>'
        f'<serverUrl>{base}/services/Soap/u/{escape(version)}/{ORG_ID}</serverUrl>'
        f'<sessionId>{escape(session_id)}</sessionId><userId>{USER_ID}</userId>'
        '<userInfo><accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol>'
        f'<orgId>{ORG_ID}</orgId><organizationName>Plays Sandbox</organizationName>'
        f'<userEmail>{escape(creds.username)}</userEmail><userFullName>Integration User'
        f'</userFullName><userId>{USER_ID}</userId><userName>{escape(creds.username)}</userName>'
        '<userTimeZone>Etc/UTC</userTimeZone></userInfo></result>'
        '</loginResponse></soapenv:Body></soapenv:Envelope>')
    return Response(200, body.encode(), headers=dict(_XML), route="login.soap")


def _fault(code: str, message: str, fault_type: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f'<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>'
        f'<detail><sf:{fault_type[3:]} xsi:type="{fault_type}"><sf:exceptionCode>{code}'
        f'</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>'
        f'</sf:{fault_type[3:]}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>')
    return Response(500, body.encode(), headers=dict(_XML), route="login.soap")


# ---- OAuth 2.0 client credentials -------------------------------------------------------------
def _oauth(app: Any, req: Request) -> Response:
    form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace"),
                                          keep_blank_values=True).items()}
    grant = form.get("grant_type", "")
    if grant != "client_credentials":
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error("invalid_client", "invalid client credentials")
    creds: Credentials = app.credentials
    if client_id != creds.client_id:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if client_secret != creds.client_secret:
        return _oauth_error("invalid_client", "invalid client credentials")
    token = app.issue_session()
    issued = str(int(time.time() * 1000))
    return Response(200, {
        "access_token": token, "signature": secrets.token_urlsafe(32), "scope": "api",
        "instance_url": app.base_url, "id": f"{app.base_url}/id/{ORG_ID}/{USER_ID}",
        "token_type": "Bearer", "issued_at": issued}, route="login.oauth")


def _oauth_error(code: str, description: str) -> Response:
    return Response(400, {"error": code, "error_description": description}, route="login.oauth")
