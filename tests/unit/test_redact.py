"""Redaction: what is found, stable markers, idempotence, extra rules, the hook, and `crewstream scrub`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crewstream_testing import Cassette, Frame, StreamRecord
from crewstream_testing.cli import main
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.redact import (
    BUILTIN_PATTERNS,
    Redactor,
    bind_markers,
    credential_values,
    looks_like_credential_key,
    redact_for_matching,
)

ALNUM = "Zq3Xw9Ve7Rt5Yu1Io8Pa2Sd4Fg6Hj0KlMnBvCxQwErTyUiOpAsDfGhJkLzXcVbNm1234567890"
HEX = "0123456789abcdef" * 4
# Fake credentials in the shapes real providers use (none of them is a real key).
KEYS = {
    "openai key": "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1",
    "anthropic key": "sk-ant-api03-Q1w2E3r4T5y6U7i8O9p0-AbCdEf",
    "xai key": "xai-Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2",
    "groq key": "gsk_Qa1Ws2Ed3Rf4Tg5Yh6Uj7Ik8",
    "google api key": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "github token": "ghp_1a2b3c4d5e6f7g8h9i0jAbCdEfGhIjKlMnOp",
    "aws access key": "AKIAZ7QWERTYUIOP4ASD",
    "slack token": "xoxb-123456789012-abcdefABCDEF",
    "huggingface token": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "stripe key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    # gitleaks' shapes (config/gitleaks.toml), fakes of the right length
    "google oauth": "GOCSPX-" + ALNUM[:28],
    "gitlab token": "glpat-" + ALNUM[:20],
    "slack webhook": "hooks.slack.com/services/T0AB12CD3/B0EF45GH6/" + ALNUM[:24],
    "stripe webhook secret": "whsec_" + ALNUM[:32],
    "npm token": "npm_" + ALNUM[:36],
    "pypi token": "pypi-AgEIcHlwaS5vcmc" + ALNUM[:60],
    "sendgrid key": "SG." + ALNUM[:22] + "." + ALNUM[5:48],
    "shopify token": "shpat_" + HEX[:32],
    "digitalocean token": "dop_v1_" + HEX[:64],
    "databricks token": "dapi" + HEX[:32],
    "linear key": "lin_api_" + ALNUM[:40],
    "postman key": "PMAK-" + HEX[:24] + "-" + HEX[3:37],
    "doppler token": "dp.pt." + ALNUM[:43],
    "pulumi token": "pul-" + HEX[:40],
    "grafana token": "glc_" + ALNUM[:40],
    "vault token": "hvs." + ALNUM[:30],
    "age secret key": "AGE-SECRET-KEY-1" + ("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2)[:58],
    "atlassian token": "ATATT3" + (ALNUM * 4)[:186],
    "telegram bot token": "123456789:AA" + ALNUM[:33],
    "azure ad client secret": "abc1Q~" + ALNUM[:32],
}
ENV = {
    "ACME_API_KEY": "acme-live-7f3e9a1c55d2",
    "TOKENIZERS_PARALLELISM": "false",
    "DB_PASSWORD": "short",
}


def redactor(**kwargs: Any) -> Redactor:
    kwargs.setdefault("environ", ENV)
    return Redactor(**kwargs)


def cassette_with(
    data: dict[str, Any], *, result: Any = None, calls: list[dict[str, Any]] | None = None
) -> Cassette:
    frames = [
        Frame(
            id="#0",
            type="flow_started",
            channel="flow",
            seq=1,
            namespace=["flow", "F"],
            timestamp=0.0,
            data=data,
        ),
        Frame(
            id="#1",
            type="flow_finished",
            channel="flow",
            seq=2,
            namespace=["flow", "F"],
            timestamp=0.0,
            previous_id="#0",
            data={"result": result, "started_event_id": "#0"},
        ),
    ]
    return Cassette(
        streams=[StreamRecord(source="flow", frames=frames, result=result)],
        llm_calls=calls or [],
        crewai_version="1.15.30",
    )


@pytest.mark.parametrize("rule", sorted(KEYS))
def test_every_builtin_key_shape_is_redacted_inside_text(rule: str) -> None:
    secret = KEYS[rule]
    out = redactor().redact({"content": f"use {secret}, then {secret}."})
    assert out == {"content": "use <redacted:1>, then <redacted:1>."}


def test_every_builtin_rule_has_a_fake_key_here() -> None:
    covered = {"private key", "bearer token", "url credentials", "url query credential"}
    assert {name for name, _ in BUILTIN_PATTERNS} == set(KEYS) | covered


def test_markers_are_stable_and_numbered_by_first_appearance() -> None:
    a, b = KEYS["openai key"], KEYS["groq key"]
    out = redactor().redact([f"{b}", {"x": f"{a} and {b}"}, [a]])
    assert out == ["<redacted:1>", {"x": "<redacted:2> and <redacted:1>"}, ["<redacted:2>"]]


def test_environment_credentials_by_name_and_length() -> None:
    assert credential_values(ENV) == {"acme-live-7f3e9a1c55d2": "ACME_API_KEY"}
    out = redactor().redact({"note": "key acme-live-7f3e9a1c55d2; flag false; pw short"})
    assert out == {"note": "key <redacted:1>; flag false; pw short"}


def test_environment_is_read_for_each_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Redactor()
    monkeypatch.setenv("LATE_SERVICE_TOKEN", "late-token-value-99")
    assert live.redact("x late-token-value-99 y") == "x <redacted:1> y"


def test_credential_named_keys_are_redacted_whole() -> None:
    request = {
        "headers": {
            "Authorization": "Bearer zz.yy-0123456789",
            "X-Api-Key": "plain-value",
            "Accept": "text/plain",
        },
        "api_key": "not-a-known-shape",
        "params": {
            "max_tokens": 100,
            "agent_key": "0f1e2d3c4b5a",
            "token": None,
            "password": "true",
        },
        "credentials": {"user": "bob", "pin": 1234},
    }
    assert redactor().redact(request) == {
        "headers": {
            "Authorization": "Bearer <redacted:1>",
            "X-Api-Key": "<redacted:2>",
            "Accept": "text/plain",
        },
        "api_key": "<redacted:3>",
        "params": {
            "max_tokens": 100,
            "agent_key": "0f1e2d3c4b5a",
            "token": None,
            "password": "true",
        },
        "credentials": {"user": "<redacted:4>", "pin": "<redacted:5>"},
    }
    assert looks_like_credential_key("x-goog-api-key")
    assert not looks_like_credential_key("total_tokens")


def test_urls_keep_their_shape_without_credentials() -> None:
    out = redactor().redact("https://bob:pa55word@proxy.local:8080/v1?api_key=abc123xyz&model=m")
    assert out == "https://<redacted:1>@proxy.local:8080/v1?api_key=<redacted:2>&model=m"


def test_private_key_block() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----"
    assert redactor().redact(f"key:\n{block}\nend") == "key:\n<redacted:1>\nend"


def test_prose_and_ids_are_left_alone() -> None:
    text = "Bearer authentication is a scheme; the task-manager-component-12345 ran; risk-assessment done"
    assert redactor().redact({"text": text, "id": "#3", "call_id": "<call:1>"}) == {
        "text": text,
        "id": "#3",
        "call_id": "<call:1>",
    }


def test_extra_patterns_and_paths() -> None:
    r = redactor(
        patterns=[r"ACCT-\d{6}", r"pin=(?P<secret>\d{4})"], paths=["data.state.email", "**.ssn"]
    )
    cassette = cassette_with(
        {"state": {"email": "a@b.c", "note": "ACCT-123456 pin=4321"}, "deep": [{"ssn": 123}]}
    )
    redaction = r.redact_cassette(cassette)
    data = redaction.cassette.streams[0].frames[0].data
    assert data == {
        "state": {"email": "<redacted:1>", "note": "<redacted:2> pin=<redacted:3>"},
        "deep": [{"ssn": "<redacted:4>"}],
    }
    assert [f.describe() for f in redaction.findings] == [
        "line 3: data.state.email: path data.state.email",
        "line 3: data.state.note: pattern 1",
        "line 3: data.state.note: pattern 2",
        "line 3: data.deep.0.ssn: path **.ssn",
    ]


def test_bad_pattern_and_path_fail_clearly() -> None:
    with pytest.raises(
        CrewstreamUsageError, match=r"redaction pattern '\(' is not a valid regular expression"
    ):
        Redactor(patterns=["("])
    with pytest.raises(CrewstreamUsageError, match=r"redaction path 'a\.\.b' is not a dotted path"):
        Redactor(paths=["a..b"])


def test_cassette_everywhere_and_structure_kept() -> None:
    key = KEYS["openai key"]
    cassette = cassette_with(
        {"inputs": {"topic": key}},
        result=f"done with {key}",
        calls=[
            {
                "request": {
                    "messages": [{"role": "user", "content": key}],
                    "api_key": "plain-key-1",
                },
                "response": {"text": f"echo {key}"},
            }
        ],
    )
    cassette.streams[0].error = None
    redaction = redactor().redact_cassette(cassette)
    out = redaction.cassette
    assert key.encode() not in out.dumps() and b"plain-key-1" not in out.dumps()
    assert out.streams[0].frames[0].data == {"inputs": {"topic": "<redacted:1>"}}
    assert out.streams[0].result == "done with <redacted:1>"
    assert out.llm_calls == [
        {
            "request": {
                "messages": [{"role": "user", "content": "<redacted:1>"}],
                "api_key": "<redacted:2>",
            },
            "response": {"text": "echo <redacted:1>"},
        }
    ]
    assert [f.line for f in redaction.findings] == [3, 4, 5, 6, 6, 6]
    # The input is untouched and redacting again changes nothing.
    assert cassette.streams[0].frames[0].data == {"inputs": {"topic": key}}
    again = redactor().redact_cassette(out)
    assert not again.changed and again.cassette.dumps() == out.dumps()


def test_existing_markers_are_kept_and_new_secrets_skip_their_numbers() -> None:
    cassette = cassette_with(
        {"a": KEYS["groq key"], "b": "<redacted:1>", "c": "Bearer <redacted:2>"}
    )
    out = redactor().cassette(cassette)
    assert out.streams[0].frames[0].data == {
        "a": "<redacted:3>",
        "b": "<redacted:1>",
        "c": "Bearer <redacted:2>",
    }


def test_disabled_redactor_changes_nothing() -> None:
    cassette = cassette_with({"topic": KEYS["openai key"]})
    assert redactor(enabled=False).cassette(cassette) is cassette


def test_redact_for_matching_ignores_marker_numbers() -> None:
    recorded = {"messages": [{"content": "key <redacted:7>"}], "api_key": "<redacted:2>"}
    live = {"messages": [{"content": f"key {KEYS['xai key']}"}], "api_key": "whatever-key"}
    assert redact_for_matching(live, redactor()) == redact_for_matching(recorded, redactor())
    assert redact_for_matching(live, redactor()) == {
        "messages": [{"content": "key <redacted>"}],
        "api_key": "<redacted>",
    }


class _HashTheAccount:
    @staticmethod
    def crewstream_redact(record: dict[str, Any], context: Any) -> None:
        data = record.get("data")
        if isinstance(data, dict) and "account" in data:
            data["account"] = context.marker(data["account"])


def test_the_crewstream_redact_hook_sees_every_line() -> None:
    seen: list[str] = []

    def hook(record: dict[str, Any], context: Any) -> None:
        seen.append(record["kind"])
        data = record.get("data")
        if isinstance(data, dict) and "account" in data:
            data["account"] = context.marker(data["account"])

    redaction = Redactor(environ={}, hook=hook).redact_cassette(
        cassette_with({"account": "ACME-0001", "other": "x"})
    )
    assert redaction.cassette is not None
    assert redaction.cassette.streams[0].frames[0].data == {"account": "<redacted:1>", "other": "x"}
    assert [f.describe() for f in redaction.findings] == ["line 3: <root>: crewstream_redact hook"]
    assert seen == ["stream", "frame", "frame", "end"]


def test_too_deep_values_fail_clearly() -> None:
    value: Any = "x"
    for _ in range(300):
        value = [value]
    with pytest.raises(CrewstreamUsageError, match="nested deeper than 200 levels"):
        redactor().redact(value)


# -- crewstream scrub ------------------------------------------------------------------------------
def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_scrub_check_reports_without_printing_secrets_then_scrub_rewrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "acme-live-7f3e9a1c55d2")
    dirty = cassette_with(
        {"inputs": {"topic": KEYS["openai key"], "note": "acme-live-7f3e9a1c55d2"}}
    ).save(tmp_path / "cassettes" / "dirty.jsonl")
    clean = cassette_with({"inputs": {"topic": "streams"}}).save(
        tmp_path / "cassettes" / "sub" / "clean.jsonl"
    )
    before = dirty.read_bytes()

    code, out = run("scrub", "--check", str(tmp_path / "cassettes"))
    assert code == 1
    assert out.splitlines() == [
        f"{dirty}: would redact 2 secret(s)",
        "  line 3: data.inputs.topic: openai key",
        "  line 3: data.inputs.note: env ACME_API_KEY",
        f"{clean}: clean",
        f"to redact them: crewstream scrub {tmp_path / 'cassettes'}",
    ]
    assert dirty.read_bytes() == before

    code, out = run("scrub", str(dirty), str(clean))
    assert code == 0
    assert out.splitlines()[0] == f"{dirty}: redacted 2 secret(s)"
    scrubbed = dirty.read_bytes()
    assert KEYS["openai key"].encode() not in scrubbed and b"acme-live" not in scrubbed
    assert Cassette.load(dirty).streams[0].frames[0].data == {
        "inputs": {"topic": "<redacted:1>", "note": "<redacted:2>"}
    }
    assert sorted(p.name for p in dirty.parent.iterdir()) == ["dirty.jsonl", "sub"]

    assert run("scrub", "--check", str(tmp_path / "cassettes")) == (
        0,
        f"{dirty}: clean\n{clean}: clean\n",
    )


def test_scrub_extra_pattern_and_path_options(tmp_path: Path) -> None:
    path = cassette_with({"state": {"email": "a@b.c", "ref": "ACCT-123456"}}).save(
        tmp_path / "c.jsonl"
    )
    code, out = run(
        "scrub", "--check", "--pattern", r"ACCT-\d+", "--path", "data.state.email", str(path)
    )
    assert code == 1
    assert out.splitlines()[1:3] == [
        "  line 3: data.state.email: path data.state.email",
        "  line 3: data.state.ref: pattern 1",
    ]


def test_scrub_bad_cassette_and_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json\n")
    assert run("scrub", str(bad))[0] == 2
    assert capsys.readouterr().err.startswith(f"crewstream scrub: {bad}:1: not valid JSON")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("scrub", "--check", str(empty))[0] == 2
    assert capsys.readouterr().err == f"crewstream scrub: no cassettes (*.jsonl) under {empty}\n"


def test_scrub_keeps_file_byte_stable(tmp_path: Path) -> None:
    path = cassette_with({"topic": KEYS["openai key"]}).save(tmp_path / "c.jsonl")
    run("scrub", str(path))
    first = path.read_bytes()
    run("scrub", str(path))
    assert path.read_bytes() == first
    assert all(orjson.loads(line) for line in first.splitlines())


# -- secrets a model streams in pieces -------------------------------------------------------------
def chunk_frames(pieces: list[str], totals: list[str] | None = None) -> list[Frame]:
    frames = []
    for i, piece in enumerate(pieces):
        data: dict[str, Any] = {"call_id": "<call:1>", "chunk": piece}
        if totals is not None:
            data["tool_call"] = {
                "id": "call_0",
                "index": 0,
                "type": "function",
                "function": {"name": "lookup", "arguments": totals[i]},
            }
        frames.append(
            Frame(id=f"#{i}", type="llm_stream_chunk", channel="llm", seq=i + 1, data=data)
        )
    return frames


def test_a_secret_streamed_in_pieces_is_replaced_across_the_chunks() -> None:
    key = KEYS["openai key"]
    pieces = ["my key is " + key[:5], key[5:19], key[19:], " ok"]
    frames = chunk_frames(pieces)
    frames.append(
        Frame(id="#9", type="llm_call_completed", channel="llm", data={"response": "".join(pieces)})
    )
    cassette = Cassette(streams=[StreamRecord(source="llm", frames=frames)])
    redaction = redactor().redact_cassette(cassette)
    out = redaction.cassette.streams[0].frames
    assert [f.data["chunk"] for f in out[:4]] == ["my key is <redacted:1>", "", "", " ok"]
    assert out[4].data["response"] == "my key is <redacted:1> ok"
    assert key[:5].encode() + b'"' not in redaction.cassette.dumps()
    assert [f.describe() for f in redaction.findings] == [
        "line 3: data.chunk: openai key (split across 3 chunks)",
        "line 7: data.response: openai key",
    ]


def test_tool_call_arguments_in_fragments_and_running_totals() -> None:
    token = KEYS["slack token"]
    whole = '{"token": "' + token + '"}'
    pieces = [whole[:20], whole[20:35], whole[35:]]
    totals = [whole[:20], whole[:35], whole]
    cassette = Cassette(streams=[StreamRecord(source="llm", frames=chunk_frames(pieces, totals))])
    out = redactor().cassette(cassette)
    frames = out.streams[0].frames
    assert [f.data["chunk"] for f in frames] == ['{"token": "<redacted:1>', "", '"}']
    assert [f.data["tool_call"]["function"]["arguments"] for f in frames] == [
        '{"token": "<redacted:1>',
        '{"token": "<redacted:1>',
        '{"token": "<redacted:1>"}',
    ]
    assert token[:8].encode() not in out.dumps()


def test_llm_call_record_chunks_are_redacted_like_the_frames() -> None:
    key = KEYS["anthropic key"]
    call = {
        "request": {"messages": [{"role": "user", "content": "say my key"}]},
        "chunks": [
            {"kind": "text", "text": "It is " + key[:10], "tool_call": None},
            {"kind": "text", "text": key[10:] + ".", "tool_call": None},
        ],
        "result": {"kind": "text", "value": f"It is {key}."},
    }
    frames = chunk_frames(["It is " + key[:10], key[10:] + "."])
    out = redactor().cassette(
        Cassette(streams=[StreamRecord(source="llm", frames=frames)], llm_calls=[call])
    )
    assert [c["text"] for c in out.llm_calls[0]["chunks"]] == ["It is <redacted:1>", "."]
    assert [f.data["chunk"] for f in out.streams[0].frames] == ["It is <redacted:1>", "."]
    assert out.llm_calls[0]["result"] == {"kind": "text", "value": "It is <redacted:1>."}
    assert key[:10].encode() not in out.dumps()


# -- property: a planted secret never survives -----------------------------------------------------
GOLDEN = [  # the golden cassettes whose first stream has frames (a crew output's has chunks)
    path
    for path in sorted((Path(__file__).resolve().parents[2] / "cassettes").glob("*.jsonl"))
    if Cassette.load(path).streams[0].frames
]
PLANTED = [*KEYS.values(), "acme-live-7f3e9a1c55d2"]


def _string_slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [slot for k, v in value.items() for slot in _string_slots(v, (*path, k))]
    if isinstance(value, list):
        return [slot for i, v in enumerate(value) for slot in _string_slots(v, (*path, i))]
    return []


def _plant(value: Any, path: tuple[Any, ...], make: Any) -> Any:
    if not path:
        return make(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _plant(value[head], rest, make)}
    copy = list(value)
    copy[head] = _plant(copy[head], rest, make)
    return copy


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    golden=st.sampled_from(GOLDEN),
    secret=st.sampled_from(PLANTED),
    where=st.floats(0, 1),
    at=st.floats(0, 1),
    split=st.integers(0, 4),
)
def test_a_planted_secret_never_reaches_the_bytes(
    golden: Path, secret: str, where: float, at: float, split: int
) -> None:
    cassette = Cassette.load(golden)
    frames = cassette.streams[0].frames
    chunks = [i for i, f in enumerate(frames) if isinstance(f.data.get("chunk"), str)]
    if split and len(chunks) >= 2:
        # a model streaming the secret in pieces over consecutive chunk frames
        cut = min(split, len(secret) - 1)
        first, second = chunks[int(where * (len(chunks) - 1))], None
        later = [
            i
            for i in chunks
            if i > first and frames[i].data.get("call_id") == frames[first].data.get("call_id")
        ]
        if later:
            second = later[0]
            frames[first].data["chunk"] += " " + secret[: cut * 3]
            frames[second].data["chunk"] = secret[cut * 3 :] + " " + frames[second].data["chunk"]
    else:
        slots = [
            (i, slot) for i, f in enumerate(frames) for slot in _string_slots(f.data, ("data",))
        ]
        index, slot = slots[int(where * (len(slots) - 1))]
        raw = frames[index].to_dict()

        def insert(text: str) -> str:
            cut = int(at * len(text))
            return text[:cut] + " " + secret + " " + text[cut:]

        frames[index] = Frame.from_dict(_plant(raw, slot, insert))
    out = Redactor(environ={"ACME_API_KEY": "acme-live-7f3e9a1c55d2"})
    data = out.cassette(cassette).dumps()
    assert secret.encode() not in data
    assert secret[:12].encode() not in data


# -- values named by a credential key, found everywhere; markers learned from replay -------------
def test_a_value_named_by_a_credential_key_is_redacted_wherever_it_appears() -> None:
    arguments = '{"account": "42", "smtp_password": "plain-words-here"}'
    cassette = cassette_with(
        {"tool_name": "send", "tool_args": {"account": "42", "smtp_password": "plain-words-here"}},
        result="sent with plain-words-here",
        calls=[{"request": {"messages": [{"role": "assistant", "content": arguments}]}}],
    )
    out = redactor().cassette(cassette)
    assert b"plain-words-here" not in out.dumps()
    assert out.streams[0].frames[0].data["tool_args"]["smtp_password"] == "<redacted:1>"
    assert out.streams[0].result == "sent with <redacted:1>"
    assert out.llm_calls[0]["request"]["messages"][0]["content"] == (
        '{"account": "42", "smtp_password": "<redacted:1>"}'
    )


def test_tool_schemas_name_parameters_not_secrets() -> None:
    schema = {
        "properties": {"api_token": {"title": "Api Token", "type": "string"}},
        "type": "object",
    }
    data = {"tools": [{"function": {"name": "lookup", "parameters": schema}}]}
    assert redactor().redact(data) == data
    assert redactor().cassette(cassette_with(data)).streams[0].frames[0].data == data


def test_bind_markers_matches_and_learns_what_markers_stand_for() -> None:
    recorded = {"messages": [{"content": "Use <redacted:2> for <uuid:7>, not <redacted>."}]}
    live = {"messages": [{"content": "Use pw-0123456789 for <uuid:1>, not xyz."}]}
    assert bind_markers(recorded, live) == {"pw-0123456789": "<redacted:2>"}
    assert bind_markers(recorded, {"messages": [{"content": "Use pw for x, not y."}]}) is None
    assert bind_markers({"a": "<redacted:1>"}, {"a": "s", "b": 1}) is None

    live_redactor = redactor()
    live_redactor.remember("pw-0123456789", "<redacted:2>")
    live_redactor.remember("string", "<redacted:3>")  # too short to be a secret: ignored
    out = live_redactor.cassette(cassette_with({"input": "pw-0123456789", "kind": "string"}))
    assert out.streams[0].frames[0].data == {"input": "<redacted:2>", "kind": "string"}
