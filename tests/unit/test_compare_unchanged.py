"""Compare mode's first check: an unchanged stream is the cassette's bytes before redaction.

``binding.unchanged_streams`` skips the redactor only when the new stream lines,
normalized, are the file's own bytes. Every other case (a secret the file holds
redacted, a changed stream, a ``crewstream_redact`` hook) takes the whole way,
and still matches or fails as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crewstream_testing import Recorder
from crewstream_testing.binding import load_for_compare, unchanged_streams
from crewstream_testing.cassette import Cassette
from crewstream_testing.diff import compare
from crewstream_testing.llm.fake import FakeLLM, reply
from crewstream_testing.redact.redactor import Redactor

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")

SECRET = "sk-proj-" + "Q7vX2mLp9RtY4wZb8NcK3sJf6HdGa1Ue5Vi0Ox"


def recorded(chunks: list[str], redactor: Redactor | None = None) -> Recorder:
    """A fresh recorder of one FakeLLM stream (the emission counter reset, as per test)."""
    from crewai.events.base_events import reset_emission_counter

    reset_emission_counter()
    recorder = Recorder(redactor=redactor)
    llm = FakeLLM([reply(chunks=chunks)], stream=True, model="fake-model")
    session = recorder.record(llm.stream_events("Say it."))
    list(session)
    return recorder


def saved(recorder: Recorder, tmp_path: Path) -> Path:
    return recorder.save(tmp_path / "cassette.jsonl")


def test_an_unchanged_stream_is_the_files_bytes(tmp_path: Path) -> None:
    path = saved(recorded(["one ", "two ", "three"]), tmp_path)
    again = recorded(["one ", "two ", "three"])
    expected = load_for_compare(path)
    assert unchanged_streams(again, expected) is True
    # the same bytes the whole way (nothing in this stream is redacted)
    assert again.plain_stream_lines() == again.cassette().stream_lines() == expected.stream_lines()


def test_a_changed_stream_is_not(tmp_path: Path) -> None:
    path = saved(recorded(["one ", "two ", "three"]), tmp_path)
    changed = recorded(["one ", "two ", "four"])
    assert unchanged_streams(changed, load_for_compare(path)) is False
    difference = compare(Cassette.load(path), changed.cassette())
    assert difference is not None
    assert any("four" in line for line in difference)


def test_a_stream_whose_secret_the_file_holds_redacted_takes_the_whole_way(
    tmp_path: Path,
) -> None:
    first = recorded(["the key is ", SECRET, " ok"])
    path = saved(first, tmp_path)
    on_disk = path.read_text()
    assert SECRET not in on_disk  # redacted when written
    again = recorded(["the key is ", SECRET, " ok"])
    expected = load_for_compare(path)
    # the raw bytes hold the secret, the file a marker: not equal before redaction ...
    assert unchanged_streams(again, expected) is False
    # ... and equal after it: the replay still matches
    assert compare(Cassette.load(path), again.cassette()) is None
    assert again.cassette().stream_lines() == expected.stream_lines()


def test_a_redact_hook_always_takes_the_whole_way(tmp_path: Path) -> None:
    seen: list[Any] = []

    def hook(record: dict[str, Any], context: Any) -> None:
        seen.append(record.get("kind"))

    path = saved(recorded(["one ", "two"], Redactor(hook=hook)), tmp_path)
    again = recorded(["one ", "two"], Redactor(hook=hook))
    seen.clear()
    assert unchanged_streams(again, load_for_compare(path)) is False
    assert seen == []  # the check itself runs no hook: the whole way (cassette()) does
    again.cassette()
    assert "frame" in seen


def test_nothing_to_compare_with_is_not_unchanged(tmp_path: Path) -> None:
    recorder = recorded(["one"])
    assert unchanged_streams(recorder, None) is False
    empty = Cassette()
    empty.save(tmp_path / "empty.jsonl")
    assert unchanged_streams(recorder, load_for_compare(tmp_path / "empty.jsonl")) is False


def test_the_lines_compared_are_built_with_their_keys_sorted(tmp_path: Path) -> None:
    """``encodes_to`` encodes each line in its own key order: every line must come sorted."""

    def reordering(line: dict[str, Any], context: Any) -> None:
        # a crewstream_normalize_frame hook that rebuilds the line, its keys reversed
        items = list(line.items())[::-1]
        line.clear()
        line.update(items)

    for frame_hooks in ([], [reordering]):
        path = tmp_path / f"{len(frame_hooks)}.jsonl"
        first = recorded(["one ", "two"])
        first.frame_hooks = list(frame_hooks)
        first.save(path)
        again = recorded(["one ", "two"])
        again.frame_hooks = list(frame_hooks)
        assert again.plain_stream_lines_are(again.plain_stream_lines())
        assert unchanged_streams(again, load_for_compare(path)) is True
