"""Redaction you can trust: key spellings, schemas, dict keys, text, encoded forms, new shapes, messages."""

from __future__ import annotations

import base64
import io
import itertools
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing import Cassette, Frame, StreamRecord
from crewstream_testing.cli import main
from crewstream_testing.redact import Redactor, encoded_forms, looks_like_credential_key
from crewstream_testing.redact.rules import looks_like_credential_name

SECRET = (
    "Zq3Xw9Ve7Rt5Yu1Io8Pa"  # no known shape: only a name, the environment or a listing finds it
)


def redactor(**kwargs: Any) -> Redactor:
    kwargs.setdefault("environ", {})
    return Redactor(**kwargs)


def frame_lines(*datas: dict[str, Any]) -> list[dict[str, Any]]:
    """Cassette lines (header, stream, one frame per data, end) as the writer encodes them."""
    lines: list[dict[str, Any]] = [
        {"kind": "header", "format": "crewstream-cassette", "format_version": 1},
        {"kind": "stream", "stream": 0, "source": "flow", "name": None},
    ]
    for index, data in enumerate(datas):
        lines.append(
            {
                "kind": "frame",
                "stream": 0,
                "id": f"#{index}",
                "type": "flow_started",
                "channel": "flow",
                "seq": index + 1,
                "namespace": ["flow"],
                "timestamp": 0.0,
                "parent_id": None,
                "previous_id": None,
                "data": data,
                "version": "v1",
            }
        )
    lines.append({"kind": "end", "stream": 0, "outcome": "result", "result": None, "error": None})
    return lines


def redacted_data(r: Redactor, *datas: dict[str, Any]) -> list[Any]:
    return [line["data"] for line in r.redact_lines(frame_lines(*datas))[2:-1]]


@pytest.mark.parametrize(
    "key",
    [
        "clientSecret",
        "SecretAccessKey",
        "sessionToken",
        "Ocp-Apim-Subscription-Key",
        "SESSION_COOKIE",
        "MYSQL_PWD",
        "GITHUB_AUTH",
        "x-goog-api-key",
        "aws.secret_access_key",
        "APIKey",
        "apikey",
        "id_token",
        "Proxy-Authorization",
    ],
)
def test_every_spelling_of_a_credential_key(key: str) -> None:
    assert looks_like_credential_key(key)
    assert redacted_data(redactor(), {"config": {key: SECRET}}) == [
        {"config": {key: "<redacted:1>"}}
    ]


@pytest.mark.parametrize(
    "key",
    [
        "cache_key",
        "agent_key",
        "max_tokens",
        "total_tokens",
        "token_count",
        "secret_name",
        "PWD",
        "keyboard",
    ],
)
def test_names_that_only_look_like_credentials(key: str) -> None:
    assert not looks_like_credential_key(key)
    assert redacted_data(redactor(), {key: SECRET}) == [{key: SECRET}]


def test_environment_names_in_every_spelling() -> None:
    environ = {
        "MYSQL_PWD": "mysql-" + SECRET,
        "GITHUB_AUTH": "gh-auth-" + SECRET,
        "SESSION_COOKIE": "cookie-" + SECRET,
        "AZURE_SUBSCRIPTION_KEY": "sub-" + SECRET,
        "PWD": "/home/someone/project",
        "OLDPWD": "/home/someone",
    }
    assert not looks_like_credential_name("PWD") and not looks_like_credential_name("OLDPWD")
    text = " ".join(environ.values())
    out = redactor(environ=environ).redact_text(text)
    assert (
        out
        == "<redacted:1> <redacted:2> <redacted:3> <redacted:4> /home/someone/project /home/someone"
    )


def test_properties_is_a_schema_only_next_to_type_object() -> None:
    schema = {"type": "object", "properties": {"password": {"type": "string"}}}
    data = {"tool": {"parameters": schema}, "profile": {"properties": {"password": SECRET}}}
    assert redacted_data(redactor(), data) == [
        {"tool": {"parameters": schema}, "profile": {"properties": {"password": "<redacted:1>"}}}
    ]


def test_secrets_used_as_dict_keys() -> None:
    key = "sk-proj-" + SECRET
    r = redactor(environ={"ACME_TOKEN": "acme-" + SECRET})
    assert redacted_data(r, {"by_key": {key: 1, "acme-" + SECRET: {"x": "y"}, "plain": 2}}) == [
        {"by_key": {"<redacted:1>": 1, "<redacted:2>": {"x": "y"}, "plain": 2}}
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'HTTP 200 OK\n{"db_password": "' + SECRET + '", "user": "ada"}',
            'HTTP 200 OK\n{"db_password": "<redacted:1>", "user": "ada"}',
        ),
        (
            "GET /v1\nAuthorization: Basic dXNlcjpwYXNzd29yZDEyMzQ=\nAccept: */*",
            "GET /v1\nAuthorization: Basic <redacted:1>\nAccept: */*",
        ),
        (
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "[default]\naws_access_key_id = <redacted:1>\naws_secret_access_key = <redacted:2>\n",
        ),
        (
            "Ocp-Apim-Subscription-Key: 0123456789abcdef0123456789abcdef",
            "Ocp-Apim-Subscription-Key: <redacted:1>",
        ),
        (
            "{'api_key': '" + SECRET + "', 'model': 'gpt'}",
            "{'api_key': '<redacted:1>', 'model': 'gpt'}",
        ),
        ('{\\"token\\": \\"' + SECRET + '\\"}', '{\\"token\\": \\"<redacted:1>\\"}'),
        ("export MYSQL_PWD=" + SECRET + "; run", "export MYSQL_PWD=<redacted:1>; run"),
        ("the password: is required; the key: value", "the password: is required; the key: value"),
    ],
)
def test_assignments_inside_longer_text(text: str, expected: str) -> None:
    assert redactor().redact_text(text) == expected
    assert redacted_data(redactor(), {"message": text}) == [{"message": expected}]


def test_a_value_found_in_text_is_redacted_everywhere() -> None:
    lines = frame_lines(
        {"reply": 'error 401: {"client_secret": "' + SECRET + '"}'},
        {"later": f"retrying with {SECRET}"},
    )
    out = redactor().redact_lines(lines)
    assert SECRET not in json.dumps(out)


def _base64_forms(secret: str) -> list[str]:
    return [base64.b64encode((prefix + secret).encode()).decode() for prefix in ("", "u:", "ab:")]


def test_every_encoded_form_of_a_known_secret() -> None:
    secret = 'pa$$:w0rd/"quoted"+' + SECRET
    r = redactor(environ={"ACME_PASSWORD": secret})
    forms = [
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        *_base64_forms(secret),
        base64.urlsafe_b64encode(secret.encode()).decode(),
        json.dumps(secret)[1:-1],
        json.dumps(json.dumps(secret))[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in secret),
    ]
    datas = [{"text": f"<<{form}>>"} for form in forms]
    out = r.redact_lines(frame_lines(*datas))
    blob = json.dumps(out)
    for form in forms:
        assert form not in blob, form
    # Every form got the secret's one marker; a base64 text keeps at most its edges.
    for line in out[2:-1]:
        text = line["data"]["text"]
        assert "<redacted:1>" in text and "<redacted:2>" not in text, text
        assert len(text) - len("<<<redacted:1>>>") <= 8, text
    assert encoded_forms(secret)[0] == secret


def test_environment_values_are_remembered_after_the_app_removes_them() -> None:
    environ = {"ACME_SERVICE_TOKEN": "svc-" + SECRET}
    r = Redactor(environ=environ)
    environ.clear()
    assert redacted_data(r, {"note": f"used svc-{SECRET}"}) == [{"note": "used <redacted:1>"}]
    later = {"LATE_API_KEY": "late-" + SECRET}
    r2 = Redactor(environ=later)
    later["LATER_SECRET"] = "later-" + SECRET
    r2.remember_environment()
    later.clear()
    assert r2.redact_text(f"late-{SECRET} later-{SECRET}") == "<redacted:1> <redacted:2>"


def test_llm_credentials_and_a_provider_echoing_them() -> None:
    key = "plain-provider-key-" + SECRET
    r = redactor()
    r.add_credentials(key, "LLM api_key")
    r.add_credentials(
        {"Authorization": "Bearer hdr-" + SECRET, "Accept": "text/plain"}, "LLM headers"
    )
    r.add_credentials(
        "https://user:url-pass-" + SECRET + "@proxy.local/v1?api_key=q-" + SECRET, "LLM base_url"
    )
    r.add_credentials("unused", "LLM api_key")  # too short to be a key: not searched for
    echo = base64.b64encode(f"key={key}".encode()).decode()
    out = redacted_data(
        r,
        {"chunk": f"you sent {key}"},
        {"error": f"401: invalid key {echo}"},
        {"hdr": f"hdr-{SECRET} url-pass-{SECRET} q-{SECRET}", "note": "unused"},
    )
    blob = json.dumps(out)
    assert SECRET not in blob and key not in blob and echo[4:20] not in blob
    assert out[2]["note"] == "unused"


@pytest.mark.parametrize(
    "secret",
    [
        "redis://:" + SECRET + "@cache.local:6379/0",
        "xoxe-1-" + SECRET,
        "xoxe.xoxp-1-" + SECRET,
        "xapp-1-A0B1C2-" + SECRET,
        "whsec_" + SECRET + "abcdef",
        "npm_" + SECRET + SECRET[:16],
        "glpat-" + SECRET,
        "Bearer AbCdEfGhIjKlMnOpQrStUv",
        "Bearer abcdefghijklmnopqrstuvwxyz",
    ],
)
def test_the_missing_shapes(secret: str) -> None:
    out = redactor().redact_text(f"use {secret} now")
    assert SECRET not in out and "AbCdEfGh" not in out and "abcdefghijkl" not in out
    assert "<redacted:1>" in out


def test_prose_is_left_alone() -> None:
    text = "Bearer authentication is a scheme; the token expired; keys: many; passwords are hard"
    assert redactor().redact_text(text) == text


def test_scrub_check_never_prints_a_secret_and_finds_keys(tmp_path: Path) -> None:
    key = "sk-proj-" + SECRET
    frames = [
        Frame(
            id="#0",
            type="flow_started",
            channel="flow",
            seq=1,
            data={"by_key": {key: "x"}, "headers": {"X-Api-Key": "k-" + SECRET}},
        )
    ]
    path = Cassette(streams=[StreamRecord(source="flow", frames=frames)]).save(tmp_path / "c.jsonl")
    out = io.StringIO()
    assert main(["scrub", "--check", str(path)], out=out) == 1
    printed = out.getvalue()
    assert SECRET not in printed
    assert printed.splitlines()[:3] == [
        f"{path}: would redact 2 secret(s)",
        "  line 3: data.by_key: openai key",
        "  line 3: data.headers.X-Api-Key: key 'X-Api-Key'",
    ]
    assert main(["scrub", str(path)], out=io.StringIO()) == 0
    assert SECRET.encode() not in path.read_bytes()
    again = io.StringIO()
    assert main(["scrub", "--check", str(path)], out=again) == 0
    assert again.getvalue() == f"{path}: clean\n"


def test_redact_text_knows_what_earlier_lines_named() -> None:
    r = redactor()
    r.redact_lines(frame_lines({"inputs": {"db_password": "pw-" + SECRET}}))
    assert r.redact_text(f"Prompt: connect with pw-{SECRET}") == "Prompt: connect with <redacted:1>"
    assert redactor(enabled=False).redact_text(f"pw-{SECRET}") == f"pw-{SECRET}"


def test_a_secret_split_across_crew_output_chunks() -> None:
    key = "sk-proj-" + SECRET
    arguments = '{"token": "' + key + '"}'
    lines: list[dict[str, Any]] = [
        {"kind": "header", "format": "crewstream-cassette", "format_version": 1},
        {"kind": "stream", "stream": 0, "source": "crew", "name": None},
    ]
    base = {"kind": "chunk", "stream": 0, "agent_id": "<agent:1>", "agent_role": "Clerk"}
    cuts = [0, 9, 20, 33, len(arguments)]
    for start, end in itertools.pairwise(cuts):
        lines.append(
            {
                **base,
                "chunk_type": "tool_call",
                "content": arguments[start:end],
                "tool_call": {"index": 0, "tool_name": "login", "arguments": arguments[:end]},
            }
        )
    for piece in ("my key is ", key[:12], key[12:], "."):
        lines.append({**base, "chunk_type": "text", "content": piece, "tool_call": None})
    lines.append({"kind": "end", "stream": 0, "outcome": "result", "result": None, "error": None})
    out = redactor().redact_lines(lines)
    assert SECRET[:8] not in json.dumps(out) and SECRET[-8:] not in json.dumps(out)
    assert [line["content"] for line in out[-5:-1]] == ["my key is ", "<redacted:1>", "", "."]
    assert out[5]["tool_call"]["arguments"] == '{"token": "<redacted:1>"}'
