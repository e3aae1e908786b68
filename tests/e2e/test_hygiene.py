"""Cassette hygiene end to end: --crewstream-unused, --crewstream-prune, partly used cassettes."""

from __future__ import annotations

import pytest

import crewstream_testing.llm.tape  # noqa: F401  (imported before pytester snapshots sys.modules)
from crewstream_testing import Cassette

pytestmark = pytest.mark.usefixtures("inner")

TWO_TESTS = """
import pytest
from crewai.flow.flow import Flow, listen, start


class Tiny(Flow):
    @start()
    def begin(self):
        return "topic: " + self.state["topic"]

    @listen(begin)
    def finish(self, text):
        return text + "!"


def run(recorder, topic):
    with recorder.record(Tiny().stream_events(inputs={"topic": topic})) as session:
        for _ in session:
            pass
    return session.result


def test_a(stream_recorder):
    assert run(stream_recorder, "a") == "topic: a!"


def test_b(stream_recorder):
    assert run(stream_recorder, "b") == "topic: b!"
"""


def test_unused_cassettes_are_reported_then_pruned(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=TWO_TESTS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    module_dir = pytester.path / "cassettes" / "test_mod"
    assert sorted(p.name for p in module_dir.iterdir()) == ["test_a.jsonl", "test_b.jsonl"]
    (module_dir / "test_gone.jsonl").write_bytes((module_dir / "test_a.jsonl").read_bytes())
    (module_dir / ".crewstream-tmp-abc.part").write_bytes(b'{"kind":"hea')
    (pytester.path / "cassettes" / "test_other").mkdir()
    (pytester.path / "cassettes" / "test_other" / "test_x.jsonl").write_bytes(b"")

    # Deselected tests keep their cassettes; a module not collected is not looked at.
    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-unused", "-k", "test_a")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: 1 unused cassette(s), no collected test uses them:",
            "  cassettes/test_mod/test_gone.jsonl",
            "crewstream: 1 temporary file(s) left by interrupted writes:",
            "  cassettes/test_mod/.crewstream-tmp-abc.part",
            "  delete them with: pytest --crewstream-prune",
        ]
    )
    # A module named with ::test is collected in part: nothing of it is reported.
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--crewstream-unused", "test_mod.py::test_b"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["crewstream: no unused cassettes"])

    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-prune")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "crewstream: deleted 2 unused cassette file(s):",
            "  cassettes/test_mod/.crewstream-tmp-abc.part",
            "  cassettes/test_mod/test_gone.jsonl",
        ]
    )
    assert sorted(p.name for p in module_dir.iterdir()) == ["test_a.jsonl", "test_b.jsonl"]
    assert (pytester.path / "cassettes" / "test_other" / "test_x.jsonl").exists()
    for name in ("test_a", "test_b"):
        assert (
            Cassette.load(module_dir / f"{name}.jsonl").streams[0].result == f"topic: {name[-1]}!"
        )


def test_prune_refuses_after_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=TWO_TESTS, test_broken="import nowhere_to_be_found\n")
    pytester.runpytest("-p", "no:cacheprovider", "test_mod.py").assert_outcomes(passed=2)
    stray = pytester.path / "cassettes" / "test_mod" / "test_gone.jsonl"
    stray.write_bytes(b"")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--crewstream-prune", "--continue-on-collection-errors"
    )
    result.stdout.fnmatch_lines(
        [
            "crewstream: not pruning, the run did not collect every test:",
            "  1 collection error(s)",
            "crewstream: 1 unused cassette(s), no collected test uses them:",
            "  cassettes/test_mod/test_gone.jsonl",
        ]
    )
    assert stray.exists()


PARTIAL = """
import os
import pytest
from crewai.flow.flow import Flow, start


class Tiny(Flow):
    @start()
    def begin(self):
        return "topic: " + self.state["topic"]


def streams(recorder):
    for topic in os.environ["CS_TOPICS"].split(","):
        with recorder.record(Tiny().stream_events(inputs={"topic": topic})) as session:
            for _ in session:
                pass


def test_strict(stream_recorder):
    streams(stream_recorder)


@pytest.mark.crewstream(allow_unused=True)
def test_lenient(stream_recorder):
    streams(stream_recorder)
"""


def test_a_partly_used_cassette_fails_unless_the_marker_allows_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_partial=PARTIAL)
    monkeypatch.setenv("CS_TOPICS", "a,b")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    monkeypatch.setenv("CS_TOPICS", "a")
    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*crewstream: cassette */cassettes/test_partial/test_strict.jsonl was only partly used:"
            " the test replayed 1 of its 2 stream(s)",
            "  first stream never replayed: 1 (flow, * frames)",
            "  if the test means to use part of the cassette: @pytest.mark.crewstream(allow_unused=True)",
            "  to drop the unused streams: pytest --crewstream-record=all test_partial.py::test_strict  # from the rootdir",
        ]
    )
    # A different first stream is still a mismatch, allow_unused or not.
    monkeypatch.setenv("CS_TOPICS", "z")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "-k", "lenient"
    )
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        ["*the recorded streams differ from cassette*", "*first divergence at frame 0*"]
    )


CALLS = """
import os
import pytest
from crewai import LLM


def ask_all(recorder):
    llm = LLM(model="openai/gpt-4o-mini", base_url=os.environ["CS_URL"],
              api_key="sk-test-hygiene-0123456789abcdef", max_retries=0)
    return [llm.call(prompt) for prompt in os.environ["CS_PROMPTS"].split(",")]


def test_strict(stream_recorder):
    ask_all(stream_recorder)


@pytest.mark.crewstream(allow_unused=True)
def test_lenient(stream_recorder):
    ask_all(stream_recorder)
"""


def test_recorded_llm_calls_never_replayed_fail_unless_allowed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crewstream_support.sse_server import SSEServer

    pytester.makepyfile(test_calls=CALLS)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("CS_PROMPTS", "first question,second question")
    with SSEServer() as server:
        monkeypatch.setenv("CS_URL", server.url)
        pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
        assert len(server.requests) == 4
    cassette = Cassette.load(pytester.path / "cassettes" / "test_calls" / "test_strict.jsonl")
    assert len(cassette.llm_calls) == 2 and not cassette.streams

    monkeypatch.setenv("CS_PROMPTS", "first question")
    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*crewstream: cassette */cassettes/test_calls/test_strict.jsonl was only partly used:"
            " 1 of its 2 recorded LLM call(s) never replayed",
            "  first call never replayed: 1 (model 'gpt-4o-mini', last message 'second question')",
            "  if the test means to use part of the cassette: @pytest.mark.crewstream(allow_unused=True)",
            "  to drop the unused calls: pytest --crewstream-record=all test_calls.py::test_strict  # from the rootdir",
        ]
    )
