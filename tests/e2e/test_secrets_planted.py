"""Planted secrets (issue 11): 80+ fake credentials in every place and form; none reaches a file or a message.

One inner test file records four tests through the plugin: a flow (a FakeLLM
that echoes its prompt in 7-character chunks, crewai's real OpenAI provider
talking SSE to tests/crewstream_support/sse_server.py with an api_key and
credential headers, a Crew whose agent's LLM holds an api_key and calls a
tool), a flow that raises, a conversational turn, and a snapshot. The secrets
sit in the environment (one removed by the app before the write), in prompts
(key shapes, ``key: value`` text, encoded forms), flow inputs and state (every
key spelling, a non-schema ``properties``, dict keys), tool arguments and
results, an exception, a turn, the agent's ``llm.api_key`` and the provider's
echo of the key (raw and base64). Then: no secret (nor its last 10
characters) is in any cassette, snapshot, terminal output or junit XML; replay
passes offline; a replay that misses a recorded call reports it without a
secret; ``crewstream scrub --check`` finds nothing left.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import string
import urllib.parse
from typing import Any

import pytest
from crewstream_support.sse_server import Answer, SSEServer, echo_responder

import crewstream_testing.llm.fake
import crewstream_testing.llm.tape  # noqa: F401  (imported before pytester snapshots sys.modules)
from crewstream_testing.cli import main

ALNUM = string.ascii_letters + string.digits


def rand(size: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


def hexs(size: int) -> str:
    return secrets.token_hex(size)[:size]


# -- what is planted ----------------------------------------------------------------------------
ENV = {  # credential-named variables whose values have no known shape
    "ACME_SERVICE_TOKEN": "acme-" + rand(20),
    "MYSQL_PWD": "my-" + rand(16),
    "GITHUB_AUTH": "gha-" + rand(18),
    "SESSION_COOKIE": "sess-" + rand(22),
    "AZURE_SUBSCRIPTION_KEY": "az-" + rand(20),
    "STRIPE_SECRET": "str-" + rand(18),
    "DB_PASSWORD": "dbpw-" + rand(14),
    "VAULT_PASSPHRASE": "vault-" + rand(16),
    "CLIENT_CREDENTIALS": "cc-" + rand(20),
    "REMOVED_API_KEY": "gone-" + rand(18),  # the app pops it before the cassette is written
    "WEBHOOK_SECRET": 'wh$:/+="q' + rand(16),  # quotes, slashes, plus: every encoding differs
}
SHAPES = {
    "openai key": "sk-proj-" + rand(40),
    "anthropic key": "sk-ant-api03-" + rand(40),
    "xai key": "xai-" + rand(40),
    "groq key": "gsk_" + rand(40),
    "google api key": "AIza" + rand(35),
    "github token": "ghp_" + rand(36),
    "github pat": "github_pat_" + rand(60, ALNUM + "_"),
    "gitlab token": "glpat-" + rand(20),
    "aws access key": "AKIA" + rand(16, string.ascii_uppercase + string.digits),
    "slack bot token": "xoxb-" + rand(30),
    "slack refresh token": "xoxe-1-" + rand(40),
    "slack app token": "xapp-1-A" + rand(10, string.digits) + "-" + rand(30),
    "huggingface token": "hf_" + rand(34),
    "stripe key": "sk_live_" + rand(24),
    "stripe webhook secret": "whsec_" + rand(32),
    "npm token": "npm_" + rand(36),
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ" + rand(20) + "." + rand(30),
    "private key": "-----BEGIN RSA PRIVATE KEY-----\n"
    + rand(48)
    + "\n-----END RSA PRIVATE KEY-----",
    "redis password (no user)": rand(18),
    "postgres password": rand(18),
    "bearer token without a digit": rand(26, string.ascii_letters),
    "query api_key": rand(24),
    "sendgrid key": "SG." + rand(22) + "." + rand(43),
    "shopify token": "shpat_" + hexs(32),
    "digitalocean token": "dop_v1_" + hexs(64),
    "databricks token": "dapi" + hexs(32),
    "linear key": "lin_api_" + rand(40),
    "postman key": "PMAK-" + hexs(24) + "-" + hexs(34),
    "doppler token": "dp.pt." + rand(43),
    "pulumi token": "pul-" + hexs(40),
    "grafana token": "glc_" + rand(40),
    "vault token": "hvs." + rand(40),
    "age secret key": "AGE-SECRET-KEY-1" + rand(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
    "telegram bot token": rand(9, string.digits) + ":AA" + rand(33),
    "azure ad client secret": rand(3) + "8Q~" + rand(31),
    "google oauth secret": "GOCSPX-" + rand(28),
}
TEXT = {  # values named only by the text around them
    "password: in prose": rand(14),
    "JSON after an HTTP status line": rand(16),
    "Authorization: Basic": base64.b64encode(b"ada:" + rand(16).encode()).decode(),
    "INI aws_secret_access_key": rand(40, ALNUM + "/+"),
    "Azure header after its name": hexs(32),
    "Python repr api_key": rand(18),
    "env assignment REDIS_PASSWORD=": rand(16),
}
INPUTS = {  # flow inputs and state, named by their keys
    "clientSecret": rand(20),
    "sessionToken": rand(24),
    "SecretAccessKey": rand(40),
    "Ocp-Apim-Subscription-Key": hexs(32),
    "properties.password (not a schema)": rand(16),
    "credentials.user": rand(12),
    "a secret as a dict key": "sk-proj-" + rand(40),
}
PROVIDER = {
    "provider api_key": "prov-" + rand(30),
    "Authorization header": "hdr-" + rand(30),
    "Ocp-Apim-Subscription-Key header": hexs(32),
    "X-Api-Key header": "xk-" + rand(24),
}
MORE = {
    "tool argument api_token": "tooltok-" + rand(16),
    "tool result session_token": "toolres-" + rand(16),
    "exception password": rand(16),
    "exception key shape": "ghp_" + rand(36),
    "turn message password": rand(16),
    "turn message key shape": "sk-proj-" + rand(40),
    "agent llm api_key": "agent-" + rand(24),
    "snapshot state token": "snap-" + rand(20),
    "snapshot chunk key shape": "glpat-" + rand(20),
}


def encoded_plants() -> dict[str, str]:
    acme = ENV["ACME_SERVICE_TOKEN"].encode()
    webhook = ENV["WEBHOOK_SECRET"]
    return {
        "base64, aligned": base64.b64encode(acme).decode(),
        "base64, after 2 bytes": base64.b64encode(b"u:" + acme).decode(),
        "base64, after 3 bytes": base64.b64encode(b"ab:" + acme).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(b"x" + acme).decode(),
        "URL-encoded": urllib.parse.quote(webhook, safe=""),
        "URL-encoded (plus)": urllib.parse.quote_plus(webhook),
        "JSON-escaped in JSON text": json.dumps(webhook)[1:-1],
        "\\u-escaped": "".join(f"\\u{ord(c):04x}" for c in ENV["MYSQL_PWD"]),
    }


ENCODED = encoded_plants()


def plants() -> dict[str, str]:
    """Every planted secret by label: what must never be found in a file or a message."""
    out = {f"env {name}": value for name, value in ENV.items()}
    for group in (SHAPES, TEXT, INPUTS, PROVIDER, MORE):
        out.update(group)
    out.update({f"encoded: {label}": value for label, value in ENCODED.items()})
    return out


APP = '''
import base64
import json
import os
import pathlib

import pytest
from crewai import LLM, Agent, Crew, Task
from crewai.flow import Flow, listen, start
from crewai.flow.conversational import ConversationConfig, ConversationState
from crewai.tools import tool

from crewstream_testing.llm.fake import FakeLLM
from crewstream_testing.llm.script import reply, tool_call

P = json.loads(pathlib.Path(__file__).with_name("plants.json").read_text())
S, T, I, V, M, E = P["shapes"], P["text"], P["inputs"], P["provider"], P["more"], P["encoded"]
URL = os.environ["CS_URL"]


def provider(**kwargs):
    return LLM(model="openai/gpt-4o-mini", base_url=URL, max_retries=0, stream=True, **kwargs)


def echo(request):
    return reply(text="Echo: " + request.prompt, chunk_by=7)


def prompt():
    env = " ".join(os.environ[name] for name in P["env_names"])
    shapes = " ".join(S[k] for k in sorted(S) if k not in ("redis password (no user)",
        "postgres password", "bearer token without a digit", "query api_key"))
    return "\\n".join([
        "env: " + env,
        "shapes: " + shapes,
        "urls: redis://:" + S["redis password (no user)"] + "@cache.local:6379/0 and "
        "postgres://app:" + S["postgres password"] + "@db.local/app",
        "Authorization: Bearer " + S["bearer token without a digit"],
        "GET https://api.local/v1/items?api_key=" + S["query api_key"] + "&page=2",
        "the password: " + T["password: in prose"],
        'HTTP 200 OK\\n{"db_password": "' + T["JSON after an HTTP status line"] + '"}',
        "Authorization: Basic " + T["Authorization: Basic"],
        "[default]\\naws_secret_access_key = " + T["INI aws_secret_access_key"],
        "Ocp-Apim-Subscription-Key: " + T["Azure header after its name"],
        str({"api_key": T["Python repr api_key"], "model": "m"}),
        "export REDIS_PASSWORD=" + T["env assignment REDIS_PASSWORD="],
        "encoded: " + " ".join(E[k] for k in sorted(E)),
    ])


@tool("lookup_account")
def lookup_account(account: str, api_token: str) -> str:
    """Look an account up with the account service."""
    return "account " + account + " is active; session_token=" + M["tool result session_token"]


class Planted(Flow):
    @start()
    def gather(self):
        self.state["seen"] = {"SESSION_COOKIE": os.environ["SESSION_COOKIE"]}
        text = FakeLLM([echo], model="echo", stream=True).call(prompt())
        os.environ.pop("REMOVED_API_KEY")  # gone before the cassette is written
        return text

    @listen(gather)
    def ask_provider(self, first):
        headed = provider(api_key=V["provider api_key"], default_headers={
            "Authorization": "Bearer " + V["Authorization header"],
            "Ocp-Apim-Subscription-Key": V["Ocp-Apim-Subscription-Key header"],
            "X-Api-Key": V["X-Api-Key header"],
        })
        return headed.call("Summarize " + os.environ.get("CS_VARIANT", "the account") + " for "
                           + os.environ["ACME_SERVICE_TOKEN"] + " and " + S["openai key"])

    @listen(ask_provider)
    def crew(self, second):
        llm = FakeLLM([
            reply(tool_calls=[tool_call("lookup_account", {"account": "42",
                  "api_token": M["tool argument api_token"]}, fragments=5)]),
            "Account 42 is active.",
        ], model="clerk", api_key=M["agent llm api_key"])
        agent = Agent(role="Clerk", goal="Check accounts", backstory="Careful.", llm=llm,
                      tools=[lookup_account])
        task = Task(description="Check account 42", expected_output="its status", agent=agent)
        return str(Crew(agents=[agent], tasks=[task]).kickoff().raw)


def inputs():
    return {
        "topic": "billing",
        "clientSecret": I["clientSecret"],
        "sessionToken": I["sessionToken"],
        "SecretAccessKey": I["SecretAccessKey"],
        "Ocp-Apim-Subscription-Key": I["Ocp-Apim-Subscription-Key"],
        "profile": {"properties": {"password": I["properties.password (not a schema)"]}},
        "credentials": {"user": I["credentials.user"]},
        "by_key": {I["a secret as a dict key"]: "owner"},
    }


def test_flow(stream_recorder):
    with stream_recorder.record(Planted().stream_events(inputs=inputs())) as session:
        for _ in session:
            pass
    assert session.result == "Account 42 is active."


class Failing(Flow):
    @start()
    def login(self):
        raise ValueError("login failed: password=" + M["exception password"]
                         + " with " + M["exception key shape"])


def test_failure(stream_recorder):
    with pytest.raises(ValueError):
        with stream_recorder.record(Failing().stream_events()) as session:
            for _ in session:
                pass
            session.result


def test_turn(stream_recorder):
    @ConversationConfig(llm=provider(api_key=V["provider api_key"]), system_prompt="Be terse.",
                        defer_trace_finalization=True)
    class Chat(Flow[ConversationState]):
        conversational = True

    message = ("my db password: " + M["turn message password"] + " and key "
               + M["turn message key shape"])
    with stream_recorder.record(Chat().stream_turn(message, session_id="s-1")) as session:
        for _ in session:
            pass


class Snap(Flow):
    @start()
    def go(self):
        self.state["api_token"] = M["snapshot state token"]
        return FakeLLM([echo], model="echo", stream=True).call(
            "deploy with " + M["snapshot chunk key shape"] + " and " + os.environ["DB_PASSWORD"])


def test_snapshot(crewstream_snapshot):
    session = Snap().stream_events()
    for _ in session:
        pass
    assert crewstream_snapshot == session
'''


def responder_for(server: SSEServer) -> Any:
    def respond(body: dict[str, Any]) -> Answer:
        answer = echo_responder(body)
        sent = server.authorizations[-1]
        # a provider quoting the credential it was given, raw and base64, as error bodies do
        answer.chunks.append(" (auth: " + sent + ")")
        key = sent.split()[-1]
        answer.chunks.append(" [" + base64.b64encode(key.encode()).decode() + "]")
        return answer

    return respond


def files_and_output(inner: pytest.Pytester, *results: pytest.RunResult) -> dict[str, bytes]:
    found = {
        str(path.relative_to(inner.path)): path.read_bytes()
        for pattern in ("cassettes/**/*.jsonl", "__snapshots__/**/*", "*.xml")
        for path in inner.path.glob(pattern)
        if path.is_file()
    }
    for number, result in enumerate(results):
        found[f"run {number} output"] = "\n".join(result.outlines + result.errlines).encode()
    return found


def leaks(found: dict[str, bytes], planted: dict[str, str]) -> list[str]:
    out = []
    for label, value in planted.items():
        if value.startswith("-----BEGIN"):
            value = value.split("\n")[1]  # the key itself, not its armour
        probes = {value, json.dumps(value)[1:-1]}
        if len(value) >= 16:
            probes.add(value[-10:])
        for where, data in found.items():
            if any(probe.encode() in data for probe in probes):
                out.append(f"{label} in {where}")
    return out


def test_planted_secrets_reach_no_file_and_no_message(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = plants()
    assert len(planted) >= 80
    monkeypatch.delenv("CI", raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (inner.path / "plants.json").write_text(
        json.dumps(
            {
                "env_names": sorted(ENV),
                "shapes": SHAPES,
                "text": TEXT,
                "inputs": INPUTS,
                "provider": PROVIDER,
                "more": MORE,
                "encoded": ENCODED,
            }
        )
    )
    inner.makepyfile(test_planted=APP)
    server = SSEServer()
    server.responder = responder_for(server)
    with server:
        monkeypatch.setenv("CS_URL", server.url)
        recorded = inner.runpytest(
            "-p",
            "no:cacheprovider",
            "--crewstream-record=once",
            "--snapshot-update",
            "--junitxml=record.xml",
        )
        recorded.assert_outcomes(passed=4)
    # The secrets really went out, so their absence below means something.
    sent = json.dumps(server.requests) + " ".join(server.authorizations)
    echoed = server.authorizations[0].split()[-1]
    planted["provider echo of the key, base64"] = base64.b64encode(echoed.encode()).decode()
    assert PROVIDER["Authorization header"] in sent and ENV["ACME_SERVICE_TOKEN"] in sent
    assert MORE["turn message password"] in sent

    found = files_and_output(inner, recorded)
    assert {
        "cassettes/test_planted/test_flow.jsonl",
        "cassettes/test_planted/test_turn.jsonl",
    } <= set(found)
    assert any(name.startswith("__snapshots__") for name in found)
    assert leaks(found, planted) == []
    flow = found["cassettes/test_planted/test_flow.jsonl"]
    assert flow.count(b"<redacted:") > 80

    out = io.StringIO()
    assert main(["scrub", "--check", str(inner.path / "cassettes")], out=out) == 0, out.getvalue()

    # Offline (the server is gone; mode none blocks the network): replay passes, files unchanged.
    monkeypatch.setenv("REMOVED_API_KEY", ENV["REMOVED_API_KEY"])
    replayed = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    replayed.assert_outcomes(passed=4)
    assert files_and_output(inner)["cassettes/test_planted/test_flow.jsonl"] == flow

    # A replay whose provider prompt changed misses its recording: the message shows the
    # live prompt, redacted, on the terminal and in the junit XML.
    monkeypatch.setenv("CS_VARIANT", "the changed account")
    monkeypatch.setenv("REMOVED_API_KEY", ENV["REMOVED_API_KEY"])
    missed = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "--junitxml=miss.xml"
    )
    missed.assert_outcomes(passed=3, failed=1)
    output = "\n".join(missed.outlines)
    assert "CassetteMissError" in output and "the changed account" in output
    assert leaks(files_and_output(inner, recorded, replayed, missed), planted) == []
