"""Secrets never reach disk: the issue's "done means", end to end through the plugin.

One inner test records a flow against crewai's real OpenAI provider (talking
SSE to tests/crewstream_support/sse_server.py) with fake credentials planted everywhere a real
one ends up: an environment variable the app reads, the LLM's ``api_key``
(sent as ``Authorization: Bearer ...``), a second LLM whose ``Authorization``
header is set by hand, a user message, the flow's inputs and a tool's
arguments. The server echoes the Authorization header it received, as
servers' error messages do, so both keys come back in the streamed text. The
cassette bytes contain none of the secrets, not even a piece of one; the run
replays offline with the network blocked; ``crewstream scrub --check`` finds
nothing left to redact and ``crewstream check`` passes.
"""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import pytest
from crewstream_support.sse_server import Answer, SSEServer, echo_responder

import crewstream_testing.llm.tape  # noqa: F401  (imported before pytester snapshots sys.modules)
from crewstream_testing import Cassette
from crewstream_testing.cli import main

APP = """
import os

from crewai import LLM, Agent
from crewai.flow import Flow, listen, start
from crewai.tools import tool


def llm(**kwargs):
    return LLM(model="openai/gpt-4o-mini", base_url=os.environ["CS_URL"], max_retries=0,
               stream=True, **kwargs)


@tool("lookup_account")
def lookup_account(account: str, api_token: str) -> str:
    \"\"\"Look an account up with the account service.\"\"\"
    return f"account {account} is active"


class Billing(Flow):
    @start()
    def ask(self):
        # the app reads a credential from the environment and puts it in a prompt
        service = os.environ["ACME_SERVICE_TOKEN"]
        keyed = llm(api_key=os.environ["CS_API_KEY"])
        return keyed.call(f"My GitHub token is {os.environ['CS_USER_SECRET']}; "
                          f"topic {self.state['topic']} via {service}")

    @listen(ask)
    def second_opinion(self, first):
        headed = llm(api_key="unused", default_headers={"Authorization": os.environ["CS_AUTH_HEADER"]})
        # a credential from the inputs, named only there, ends up in a prompt
        return headed.call(f"Second opinion on {self.state['topic']} with {self.state['db_password']}")

    @listen(second_opinion)
    def use_tool(self, second):
        agent = Agent(role="Clerk", goal="Check accounts", backstory="Careful.",
                      llm=llm(api_key=os.environ["CS_API_KEY"]), tools=[lookup_account])
        return str(agent.kickoff("Check account 42").raw)


def test_billing(stream_recorder):
    inputs = {"topic": "billing", "db_password": os.environ["CS_DB_PASSWORD"],
              "note": "deploy key " + os.environ["CS_AWS_KEY"]}
    with stream_recorder.record(Billing().stream_events(inputs=inputs)) as session:
        for _ in session:
            pass
    assert session.result == "Account 42 is active."
"""


def fake(prefix: str, size: int = 16) -> str:
    return prefix + secrets.token_hex(size)


SECRETS = {
    "environment (no known shape)": ("ACME_SERVICE_TOKEN", fake("acme-svc-")),
    "api_key": ("CS_API_KEY", fake("sk-proj-", 20)),
    "Authorization header": (
        "CS_AUTH_HEADER",
        "Bearer " + "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcyJ9." + secrets.token_urlsafe(24),
    ),
    "user message": ("CS_USER_SECRET", "ghp_" + secrets.token_hex(18)),
    "flow input (no known shape)": ("CS_DB_PASSWORD", fake("pw-", 12)),
    "flow input": ("CS_AWS_KEY", "AKIA" + secrets.token_hex(8).upper()),
    "tool argument (no known shape)": ("CS_TOOL_TOKEN", fake("acct-tok-", 12)),
}


def responder_for(server: SSEServer, tool_token: str) -> Any:
    def respond(body: dict[str, Any]) -> Answer:
        messages = body.get("messages") or []
        if body.get("tools"):
            if not any(m.get("role") == "tool" for m in messages):
                arguments = json.dumps({"account": "42", "api_token": tool_token})
                # the arguments stream in fragments that cut through the token
                fragments = [arguments[i : i + 7] for i in range(0, len(arguments), 7)]
                return Answer(tool_calls=[("lookup_account", fragments)])
            return Answer(chunks=["Account", " 42", " is", " active."])
        answer = echo_responder(body)
        # like a server error message quoting the credentials it was given
        answer.chunks.append(" (auth: " + server.authorizations[-1] + ")")
        return answer

    return respond


def test_planted_credentials_never_reach_the_cassette_and_replay_passes(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    for variable, value in SECRETS.values():
        monkeypatch.setenv(variable, value)
    inner.makepyfile(test_app=APP)
    server = SSEServer()
    server.responder = responder_for(server, SECRETS["tool argument (no known shape)"][1])
    with server:
        monkeypatch.setenv("CS_URL", server.url)
        inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
            passed=1
        )
    # Every planted secret really went out (so its absence below means something).
    sent = json.dumps(server.requests) + " ".join(server.authorizations)
    for label, (_, value) in SECRETS.items():
        if label not in ("tool argument (no known shape)", "flow input"):
            assert value.split()[-1] in sent, label
    assert f"Bearer {SECRETS['api_key'][1]}" in server.authorizations
    assert SECRETS["Authorization header"][1] in server.authorizations

    path = inner.path / "cassettes" / "test_app" / "test_billing.jsonl"
    data = path.read_bytes()
    for label, (_, value) in SECRETS.items():
        secret = value.split()[-1]
        assert secret.encode() not in data, f"{label} leaked"
        assert secret[-10:].encode() not in data, f"part of {label} leaked"
    cassette = Cassette.load(path)
    assert len(cassette.llm_calls) == 4
    assert b"<redacted:" in data

    out = io.StringIO()
    assert main(["scrub", "--check", str(path)], out=out) == 0, out.getvalue()
    assert out.getvalue() == f"{path}: clean\n"
    assert main(["check", str(path)], out=io.StringIO()) == 0

    # Offline (the server is gone, the network blocked in mode none): replay passes.
    replay = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    replay.assert_outcomes(passed=1)
    assert path.read_bytes() == data


CONFIGURED = """
import os
from crewai.flow import Flow, start


class Account(Flow):
    @start()
    def open(self):
        return "opened " + self.state["account"] + " for " + self.state["email"]


def test_account(stream_recorder):
    inputs = {"account": "ACCT-204518", "email": "ada@example.org", "customer": "C-7731",
              "key": os.environ["CS_PLAIN_KEY"]}
    with stream_recorder.record(Account().stream_events(inputs=inputs)) as session:
        for _ in session:
            pass
"""

CONFTEST = """
def crewstream_redact(record, context):
    data = record.get("data") or {}
    for holder in (data.get("inputs"), data.get("state")):
        if isinstance(holder, dict) and "customer" in holder:
            holder["customer"] = context.marker(holder["customer"])
"""


def test_ini_patterns_paths_the_hook_and_switching_it_off(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("CS_PLAIN_KEY", "sk-proj-" + "7" * 24)
    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "crewstream_redact_patterns =\n    ACCT-\\d{6}\n"
        "crewstream_redact_paths =\n    data.inputs.email\n    data.state.email\n"
    )
    inner.makeconftest(CONFTEST)
    inner.makepyfile(test_account=CONFIGURED)
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    path = inner.path / "cassettes" / "test_account" / "test_account.jsonl"
    cassette = Cassette.load(path)
    assert cassette.frames[0].data["inputs"] == {
        "account": "<redacted:1>",  # pattern
        "email": "<redacted:2>",  # path
        "customer": "<redacted:4>",  # hook (after the built-in rules)
        "key": "<redacted:3>",  # key shape
    }
    data = path.read_bytes()
    for value in (b"ACCT-204518", b"ada@example.org", b"C-7731", b"7777777777"):
        assert value not in data
    # What a pattern or a path found is redacted wherever else it appears.
    assert cassette.streams[0].result == "opened <redacted:1> for <redacted:2>"
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none").assert_outcomes(passed=1)

    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\ncrewstream_redaction = false\n"
    )
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all").assert_outcomes(passed=1)
    assert b"ACCT-204518" in path.read_bytes()
