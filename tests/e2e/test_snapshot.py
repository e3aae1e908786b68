"""The syrupy extension: write with --snapshot-update, pass, change, fail with a focused message."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from crewstream_testing.frames import Frame
from crewstream_testing.snapshot import (
    CrewstreamSnapshotExtension,
    divergence_lines,
    serialize_frames,
)

pytest_plugins = ["pytester"]

BUILDER = '''
import os
import uuid


def stream(chunks, last_word):
    """A conforming flow stream with fresh random ids (normalization makes them stable)."""
    ids = [str(uuid.uuid4()) for _ in range(chunks + 7)]
    words = [f"w{n} " for n in range(chunks - 1)] + [last_word]

    def frame(n, ftype, channel, parent, previous, **data):
        return {
            "id": ids[n], "seq": n + 1, "type": ftype, "channel": channel, "namespace": [channel],
            "timestamp": "2026-01-01T00:00:00Z", "parent_id": None if parent is None else ids[parent],
            "previous_id": None if previous is None else ids[previous], "data": data,
        }

    frames = [
        frame(0, "flow_started", "flow", None, None),
        frame(1, "method_execution_started", "flow", 0, 0),
        frame(2, "llm_call_started", "llm", 1, 1, call_id="c1"),
    ]
    for k, word in enumerate(words):
        frames.append(frame(3 + k, "llm_stream_chunk", "llm", 2, 2 + k, call_id="c1", chunk=word))
    n = 3 + chunks
    frames.append(frame(n, "llm_call_completed", "llm", 1, n - 1, call_id="c1", response="".join(words),
                        started_event_id=ids[2]))
    frames.append(frame(n + 1, "method_execution_finished", "flow", 0, 1, started_event_id=ids[1]))
    frames.append(frame(n + 2, "flow_finished", "flow", None, 1, started_event_id=ids[0]))
    return frames


def test_small(crewstream_snapshot):
    assert crewstream_snapshot == stream(5, os.environ.get("CREWSTREAM_WORD", "end"))


def test_large(crewstream_snapshot):
    assert crewstream_snapshot == stream(10_000, os.environ.get("CREWSTREAM_WORD", "end"))
'''


def test_update_pass_change_fail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREWSTREAM_WORD", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_snap=BUILDER)

    written = pytester.runpytest("-p", "no:cacheprovider", "--snapshot-update")
    written.assert_outcomes(passed=2)
    small = pytester.path / "__snapshots__" / "test_snap" / "test_small.jsonl"
    large = pytester.path / "__snapshots__" / "test_snap" / "test_large.jsonl"
    lines = small.read_text().splitlines()
    assert len(lines) == 11
    first = orjson.loads(lines[0])
    assert first["id"] == "#0" and first["type"] == "flow_started" and first["timestamp"] == 0.0
    assert orjson.loads(lines[3])["parent_id"] == "#2"
    assert len(large.read_text().splitlines()) == 10_006
    stored = small.read_bytes()

    again = pytester.runpytest("-p", "no:cacheprovider")
    again.assert_outcomes(passed=2)
    assert small.read_bytes() == stored  # fresh random ids, the same normalized file

    monkeypatch.setenv("CREWSTREAM_WORD", "stop")
    changed = pytester.runpytest("-p", "no:cacheprovider")
    changed.assert_outcomes(failed=2)
    changed.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert [- snapshot] == [+ received]",
            "E         first divergence at frame 7 (line 8); snapshot: 11 frames, received: 11 frames",
            "E           data.chunk: 'end' -> 'stop'",
            "E                  6  #6 seq=7 llm/llm_stream_chunk 'w3 '",
            "E           -      7  #7 seq=8 llm/llm_stream_chunk 'end'",
            "E           +      7  #7 seq=8 llm/llm_stream_chunk 'stop'",
            "E           -      8  #8 seq=9 llm/llm_call_completed response='w0 w1 w2 w3 end'",
            "E           +      8  #8 seq=9 llm/llm_call_completed response='w0 w1 w2 w3 stop'",
            "E         (- snapshot, + received) to accept the received frames: pytest --snapshot-update*",
        ]
    )
    changed.stdout.fnmatch_lines(
        [
            "*first divergence at frame 10002 (line 10003); snapshot: 10006 frames, received: 10006 frames"
        ]
    )
    # focused: no line-by-line diff of the 10,006-frame snapshot
    assert len(changed.stdout.lines) < 400
    assert large.read_text().count('"end"') == 1

    updated = pytester.runpytest("-p", "no:cacheprovider", "--snapshot-update")
    updated.assert_outcomes(passed=2)
    assert '"chunk":"stop"' in small.read_text()


def frames_of(word: str, ids: str = "abc") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{ids}-{n}",
            "seq": n + 1,
            "type": "custom_event",
            "channel": "custom",
            "namespace": ["custom"],
            "timestamp": "2026-01-01T00:00:00Z",
            "parent_id": None,
            "previous_id": f"{ids}-{n - 1}" if n else None,
            "data": {"word": word if n == 2 else f"w{n}"},
        }
        for n in range(5)
    ]


def test_serialized_frames_are_normalized_and_stable() -> None:
    first = serialize_frames([Frame.from_dict(f) for f in frames_of("x", "abc")])
    second = serialize_frames([Frame.from_dict(f) for f in frames_of("x", "zzz")])
    assert first == second
    assert first.endswith("\n") and first.count("\n") == 5
    assert orjson.loads(first.splitlines()[1])["previous_id"] == "#0"


def test_secrets_never_reach_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-proj-" + "Q7x" * 12
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    text = serialize_frames([Frame.from_dict(f) for f in frames_of(f"key={secret}")])
    assert secret not in text
    assert "<redacted:1>" in text


def test_a_text_snapshot_is_redacted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-proj-" + "R8y" * 12
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    text = CrewstreamSnapshotExtension().serialize(f"the reply quoted key={secret} back\n")
    assert secret not in text
    assert text == "the reply quoted key=<redacted:1> back\n"


def test_divergence_of_missing_and_extra_frames() -> None:
    full = serialize_frames([Frame.from_dict(f) for f in frames_of("x")])
    short = "".join(full.splitlines(keepends=True)[:3])
    lines = divergence_lines(full, short)
    assert (
        lines[0] == "first divergence at frame 3 (line 4); snapshot: 5 frames, received: 3 frames"
    )
    assert (
        lines[1]
        == "  the received stream stops early; the first missing frame: custom/custom_event"
    )
    lines = divergence_lines(short, full)
    assert lines[1] == "  2 extra received frame(s), the first: custom/custom_event"
    assert divergence_lines(full, full) == ["the snapshot and the received frames are equal"]


REDACTED_SNAPSHOT = """
def frame(n, **data):
    return {
        "id": f"f{n}", "seq": n + 1, "type": "custom_event", "channel": "custom",
        "namespace": ["custom"], "timestamp": "2026-01-01T00:00:00Z", "parent_id": None,
        "previous_id": f"f{n - 1}" if n else None, "data": data,
    }


def test_account(crewstream_snapshot):
    frames = [
        frame(0, account="ACCT-204518", email="ada@example.org"),
        frame(1, note="key sk-proj-" + "7" * 24),
    ]
    assert crewstream_snapshot == frames
"""


def snapshot_with_ini(pytester: pytest.Pytester, ini: str) -> list[dict[str, Any]]:
    """Write the REDACTED_SNAPSHOT test's snapshot under ``ini`` settings; its frames' data."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n" + ini)
    pytester.makepyfile(test_redacted=REDACTED_SNAPSHOT)
    pytester.runpytest("-p", "no:cacheprovider", "--snapshot-update").assert_outcomes(passed=1)
    # the stored snapshot passes again with the same settings
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    path = pytester.path / "__snapshots__" / "test_redacted" / "test_account.jsonl"
    return [orjson.loads(line)["data"] for line in path.read_text().splitlines()]


def test_snapshot_honours_crewstream_redact_patterns(pytester: pytest.Pytester) -> None:
    data = snapshot_with_ini(pytester, "crewstream_redact_patterns =\n    ACCT-\\d{6}\n")
    assert data == [
        {"account": "<redacted:1>", "email": "ada@example.org"},
        {"note": "key <redacted:2>"},
    ]


def test_snapshot_honours_crewstream_redact_paths(pytester: pytest.Pytester) -> None:
    data = snapshot_with_ini(pytester, "crewstream_redact_paths =\n    data.email\n")
    assert data == [
        {"account": "ACCT-204518", "email": "<redacted:1>"},
        {"note": "key <redacted:2>"},
    ]


def test_snapshot_honours_crewstream_redaction_off(pytester: pytest.Pytester) -> None:
    data = snapshot_with_ini(pytester, "crewstream_redaction = false\n")
    assert data == [
        {"account": "ACCT-204518", "email": "ada@example.org"},
        {"note": "key sk-proj-" + "7" * 24},
    ]


HERMETIC = """
from crewai.flow import Flow, listen, start


class Steps(Flow):
    @start()
    def first(self):
        return "one"

    @listen(first)
    def second(self, value):
        return value + " two"


def test_before():
    # crewai's emission counter and event context carry over from a test like this one
    with Steps().stream_events() as session:
        assert [f.type for f in session][-1] == "flow_finished"


def test_snap(crewstream_snapshot):
    with Steps().stream_events() as session:
        list(session)
    assert crewstream_snapshot == session.frames
"""


def test_snapshot_is_hermetic_alone_after_another_test_under_k_and_xdist(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_hermetic=HERMETIC)
    update = inner.runpytest("-p", "no:cacheprovider", "--snapshot-update", "-k", "test_snap")
    update.assert_outcomes(passed=1)
    (written,) = (inner.path / "__snapshots__").rglob("*.jsonl")
    recorded = written.read_bytes()
    assert b'"seq":1,' in recorded  # the stream starts as in a fresh process
    for args in (
        ("-k", "test_snap"),  # alone
        (),  # after test_before
        ("-k", "test_before or test_snap"),
        ("-n", "2"),
    ):
        result = inner.runpytest("-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=1 if args == ("-k", "test_snap") else 2)
        assert written.read_bytes() == recorded
