"""Salesforce logins through `engine.connectors.auth.connect` against the sandbox: username +
password + security token (SOAP login) and client credentials (OAuth token endpoint), with the
`${ENV}` values of integration.yaml taken from a passed env dict. simple-salesforce really logs in:
the sandbox's login `domain` points its `https://{domain}.salesforce.com/...` URL at the sandbox,
whose TLS is verified against the sandbox CA. Refused logins and missing variables are values."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from engine.connectors.auth import connect
from engine.connectors.base import ConnectionProblem
from engine.connectors.retry import RetryPolicy
from engine.language.model import build_integration

FAST = RetryPolicy(attempts=3, initial=0.001, max_wait=0.01, jitter=0.001, timeout=5, settle=0.01)
PASSWORD_AUTH = {"username": "${SF_USERNAME}", "password": "${SF_PASSWORD}",
                 "security_token": "${SF_SECURITY_TOKEN}", "domain": "${SF_DOMAIN}"}
CLIENT_AUTH = {"client_id": "${SF_CLIENT_ID}", "client_secret": "${SF_CLIENT_SECRET}",
               "domain": "${SF_DOMAIN}"}
LEAD = {"Id": "00Q5g0000000001AAA", "Email": "ann@acme.io", "LastName": "Lee", "Company": "Acme",
        "LastModifiedDate": "2026-11-01T00:00:00Z"}


def settings(auth: dict[str, str]):
    return build_integration({"salesforce": auth}).salesforce


def env_of(sandbox, **override: str) -> dict[str, str]:
    login = sandbox.info["salesforce"]["login"]
    env = {"SF_USERNAME": login["username"], "SF_PASSWORD": login["password"],
           "SF_SECURITY_TOKEN": login["security_token"], "SF_DOMAIN": login["domain"],
           "SF_CLIENT_ID": login["client_id"], "SF_CLIENT_SECRET": login["client_secret"]}
    env.update(override)
    return env


def connected(sandbox, auth: dict[str, str], **override: str) -> Any:
    return connect(settings(auth), env=env_of(sandbox, **override), ca_file=sandbox.ca_file,
                   policy=FAST)


def logins(sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["route"].startswith("login")]


@pytest.mark.parametrize("auth, route", [(PASSWORD_AUTH, "login.soap"),
                                         (CLIENT_AUTH, "login.oauth")])
def test_login_then_read(clean_sandbox, auth, route) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [LEAD]}})
    conn = connected(clean_sandbox, auth)
    assert not isinstance(conn, ConnectionProblem), conn
    try:
        # the session the login issued is not the sandbox's fixed one, yet the REST API takes it
        assert conn.sf.session_id != clean_sandbox.info["salesforce"]["session_id"]
        assert conn.sf.sf_instance == f"127.0.0.1:{clean_sandbox.port}"
        got = conn.read_records([" Ann@Acme.io "], objects=["Lead"])
        assert [r["Id"] for r in got["Lead"]] == [LEAD["Id"]]
    finally:
        conn.close()
    assert [(r["route"], r["status"]) for r in logins(clean_sandbox)] == [(route, 200)]
    # the read went out as one Composite request of queries (D-RUN-5), on the login's session
    assert any(r["path"].rstrip("/").endswith("/composite") and r["status"] == 200 for r in clean_sandbox.requests())


@pytest.mark.parametrize("auth, bad", [
    (PASSWORD_AUTH, {"SF_PASSWORD": "wrong"}),
    (PASSWORD_AUTH, {"SF_SECURITY_TOKEN": "stale"}),
    (PASSWORD_AUTH, {"SF_USERNAME": "nobody@ops.test"}),
    (CLIENT_AUTH, {"SF_CLIENT_SECRET": "wrong"}),
    (CLIENT_AUTH, {"SF_CLIENT_ID": "unknown-app"}),
])
def test_refused_login_is_a_value(clean_sandbox, auth, bad) -> None:
    problem = connected(clean_sandbox, auth, **bad)
    assert isinstance(problem, ConnectionProblem), problem
    assert problem.crm == "salesforce" and problem.code == "CONN003"
    assert problem.message.startswith("login refused") and "{content}" not in problem.message
    expected = "INVALID_LOGIN" if auth is PASSWORD_AUTH else "invalid_client"
    assert expected in problem.message
    assert problem.hint
    assert [r["status"] for r in logins(clean_sandbox)] == [500 if auth is PASSWORD_AUTH else 400]


@pytest.mark.parametrize("auth, missing", [(PASSWORD_AUTH, "SF_SECURITY_TOKEN"),
                                           (CLIENT_AUTH, "SF_CLIENT_SECRET")])
def test_missing_variable_is_conn001_and_no_call(clean_sandbox, auth, missing) -> None:
    env = env_of(clean_sandbox)
    del env[missing]
    problem = connect(settings(auth), env=env, ca_file=clean_sandbox.ca_file, policy=FAST)
    assert isinstance(problem, ConnectionProblem) and problem.code == "CONN001"
    assert missing in problem.message
    assert clean_sandbox.requests() == []


def test_untrusted_tls_is_unreachable_not_a_traceback(clean_sandbox) -> None:
    """Without the sandbox CA the login's TLS check fails: CONN004, never a traceback."""
    session = requests.Session()
    session.trust_env = False
    problem = connect(settings(PASSWORD_AUTH), env=env_of(clean_sandbox), session=session,
                      policy=FAST)
    assert isinstance(problem, ConnectionProblem) and problem.code == "CONN004"


def test_login_wire_format(clean_sandbox) -> None:
    """The SOAP answer and fault, and the OAuth answers, as Salesforce shapes them."""
    session = requests.Session()
    session.trust_env, session.verify = False, clean_sandbox.ca_file
    login = clean_sandbox.info["salesforce"]["login"]
    base = clean_sandbox.url
    envelope = ('<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env='
                '"http://schemas.xmlsoap.org/soap/envelope/"><env:Body><n1:login xmlns:n1='
                '"urn:partner.soap.sforce.com"><n1:username>{u}</n1:username><n1:password>{p}'
                '</n1:password></n1:login></env:Body></env:Envelope>')
    headers = {"content-type": "text/xml", "SOAPAction": "login"}
    ok = session.post(base + "/services/Soap/u/59.0", envelope.format(
        u=login["username"], p=login["password"] + login["security_token"]), headers=headers)
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/xml")
    assert f"<serverUrl>{base}/services/Soap/u/59.0/" in ok.text and "<sessionId>00D" in ok.text
    fault = session.post(base + "/services/Soap/u/59.0", envelope.format(
        u=login["username"], p="nope"), headers=headers)
    assert fault.status_code == 500 and "<faultcode>sf:INVALID_LOGIN</faultcode>" in fault.text
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in fault.text
    token = session.post(base + "/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": login["client_id"],
        "client_secret": login["client_secret"]})
    body = token.json()
    assert token.status_code == 200 and body["instance_url"] == base
    assert body["token_type"] == "Bearer" and body["access_token"].startswith("00D")
    limits = session.get(base + "/services/data/v59.0/limits",
                         headers={"Authorization": "Bearer " + body["access_token"]})
    assert limits.status_code == 200
    refused = session.post(base + "/services/oauth2/token", data={"grant_type": "password"})
    assert refused.status_code == 400 and refused.json()["error"] == "unsupported_grant_type"
    forged = session.get(base + "/services/data/v59.0/limits",
                         headers={"Authorization": "Bearer 00D5g000SANDBOX!forged"})
    assert forged.status_code == 401


def test_query_form_domain_logs_in_too(clean_sandbox) -> None:
    """`127.0.0.1:PORT/_login?x=` puts `.salesforce.com/services/...` in the query: same logins."""
    domain = f"127.0.0.1:{clean_sandbox.port}/_login?x="
    for auth in (PASSWORD_AUTH, CLIENT_AUTH):
        conn = connected(clean_sandbox, auth, SF_DOMAIN=domain)
        assert not isinstance(conn, ConnectionProblem), conn
        conn.close()
    assert [(r["route"], r["status"]) for r in logins(clean_sandbox)] == [("login.soap", 200),
                                                                        ("login.oauth", 200)]


@pytest.mark.parametrize("auth", [PASSWORD_AUTH, CLIENT_AUTH])
def test_a_login_that_never_answers_times_out_as_a_connection_problem(clean_sandbox, auth) -> None:
    """D-SY-3 / D-OPS: simple-salesforce's logins pass no timeout; the connector's session gives
    them the policy's, so a login endpoint that accepts the connection and never answers becomes
    a connection problem (a value), not a run that hangs forever."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # take the connections and say nothing
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    port = silent.getsockname()[1]
    try:
        policy = RetryPolicy(attempts=1, initial=0.001, max_wait=0.01, jitter=0.001, timeout=0.5, settle=0.01)
        problem = connect(settings(auth), env=env_of(clean_sandbox, SF_DOMAIN=f"127.0.0.1:{port}/_login/sandbox"),
                          ca_file=clean_sandbox.ca_file, policy=policy)
        assert isinstance(problem, ConnectionProblem) and "cannot reach Salesforce" in problem.message
    finally:
        stop.set()
        for conn in held:
            conn.close()
        silent.close()
