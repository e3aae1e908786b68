"""check_frames: every rule catches hand-built violating streams, and real streams have none."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.cassette import Cassette
from crewstream_testing.contract.assertions import assert_routed
from crewstream_testing.contract.checker import check_frames
from crewstream_testing.contract.routes import BUILTIN_ROUTES, channel_routes, resolve_routes
from crewstream_testing.contract.violations import RULES, ConformanceError, Violation
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import Frame
from crewstream_testing.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]

# -- a conforming stream, built by hand the way crewai builds it ---------------------------


def _frame(
    n: int,
    ftype: str,
    channel: str,
    parent: int | str | None,
    previous: int | str | None,
    seq: int | str | None = "auto",
    **data: Any,
) -> dict[str, Any]:
    def ref(value: int | str | None) -> str | None:
        return f"id-{value}" if isinstance(value, int) else value

    return {
        "id": f"id-{n}",
        "seq": n + 1 if seq == "auto" else seq,
        "type": ftype,
        "channel": channel,
        "namespace": [channel, "DemoFlow"],
        "timestamp": f"2026-01-01T00:00:00.{n:06d}Z",
        "parent_id": ref(parent),
        "previous_id": ref(previous),
        "data": data,
    }


def flow_stream() -> list[dict[str, Any]]:
    """A flow with one method making one streamed LLM call (11 frames, like crewai emits them)."""
    call = {"call_id": "call-1"}
    return [
        _frame(0, "flow_started", "flow", None, None, flow_name="DemoFlow"),
        _frame(1, "default_env", "custom", 0, 0),
        _frame(2, "method_execution_started", "flow", 0, 1, method_name="ask"),
        _frame(3, "llm_call_started", "llm", 2, 2, **call),
        _frame(4, "llm_stream_chunk", "llm", 3, 3, chunk="Hello", **call),
        _frame(5, "llm_stream_chunk", "llm", 3, 4, chunk=" there", **call),
        _frame(6, "llm_stream_chunk", "llm", 3, 5, chunk=" world", **call),
        _frame(
            7,
            "llm_call_completed",
            "llm",
            2,
            6,
            response="Hello there world",
            call_type="llm_call",
            started_event_id="id-3",
            **call,
        ),
        _frame(8, "method_execution_finished", "flow", 0, 2, started_event_id="id-2"),
        _frame(9, "flow_finished", "flow", None, 1, started_event_id="id-0"),
    ]


def turn_stream() -> list[dict[str, Any]]:
    """A first conversational turn: seq 2, then the flow restarting at 1, then 3 (real crewai)."""
    call = {"call_id": "call-9"}
    return [
        _frame(0, "conversation_turn_started", "flow", None, "ext-created", seq=2),
        _frame(1, "flow_started", "flow", None, None, seq=1),
        _frame(2, "method_execution_started", "flow", 1, 1, seq=2),
        _frame(3, "llm_call_started", "llm", 2, 2, seq=3, **call),
        _frame(4, "llm_stream_chunk", "llm", 3, 3, seq=4, chunk="Hi", **call),
        _frame(
            5,
            "llm_call_completed",
            "llm",
            2,
            4,
            seq=5,
            response="Hi",
            started_event_id="id-3",
            **call,
        ),
        _frame(6, "conversation_message_added", "messages", 2, 5, seq=6),
        _frame(7, "method_execution_finished", "flow", 1, 2, seq=7, started_event_id="id-2"),
        _frame(8, "conversation_turn_completed", "flow", None, 0, seq=3),
    ]


def rules(violations: list[Violation]) -> set[str]:
    return {violation.rule for violation in violations}


def test_the_hand_built_streams_conform() -> None:
    assert check_frames(flow_stream()) == []
    assert check_frames(turn_stream()) == []


# -- ordering ---------------------------------------------------------------------------------


def test_swapped_chunks_are_caught_by_reference_and_seq() -> None:
    frames = flow_stream()
    frames[4], frames[5] = frames[5], frames[4]
    found = check_frames(frames)
    # the text now reads "Hello world there" too
    assert rules(found) == {"reference", "seq", "chunk-text"}
    reference = next(v for v in found if v.rule == "reference")
    assert reference.frames == (4, 5)
    assert "previous_id 'id-4' is frame 5, which comes later" in reference.found
    seq = next(v for v in found if v.rule == "seq")
    assert seq.frames == (5, 4)
    assert seq.found == "seq 5"


def test_a_chunk_swapped_before_its_call_start() -> None:
    frames = flow_stream()
    frames[3], frames[4] = frames[4], frames[3]
    found = check_frames(frames)
    assert {"reference", "llm-call"} <= rules(found)
    assert any(v.rule == "llm-call" and v.frames == (3,) for v in found)


def test_duplicated_id() -> None:
    frames = flow_stream()
    frames[5]["id"] = "id-4"
    found = [v for v in check_frames(frames) if v.rule == "unique-id"]
    assert len(found) == 1
    assert found[0].frames == (5, 4)
    assert str(found[0]) == (
        "[unique-id] frame 5 (see frame 4) llm/llm_stream_chunk: expected a new id; "
        "found id 'id-4', already used by frame 4"
    )


def test_seq_not_after_its_parent() -> None:
    frames = flow_stream()
    frames[4]["seq"] = 3  # its parent, llm_call_started, has seq 4
    found = check_frames(frames)
    assert rules(found) == {"seq"}
    assert any(v.frames == (4, 3) and "parent_id" in v.expected for v in found)


def test_seq_repeating_among_the_children_of_one_parent() -> None:
    frames = flow_stream()
    frames[6]["seq"] = 6  # the seq of its sibling (and previous) frame 5
    found = check_frames(frames)
    assert rules(found) == {"seq"}


def test_seq_may_repeat_and_go_back_across_scopes() -> None:
    # seq is per emission counter, not per stream: a turn's frames go 2, 1, 2, ..., 3
    frames = turn_stream()
    assert [frame["seq"] for frame in frames][:3] == [2, 1, 2]
    assert check_frames(frames, source="turn") == []


def test_reference_to_a_later_frame_and_to_itself() -> None:
    frames = flow_stream()
    frames[2]["parent_id"] = "id-8"
    frames[6]["previous_id"] = "id-6"
    found = check_frames(frames)
    later = [v for v in found if v.rule == "reference" and v.frames == (2, 8)]
    assert later and "parent_id 'id-8' is frame 8, which comes later" in later[0].found
    own = [v for v in found if v.rule == "reference" and v.frames == (6,)]
    assert own and own[0].found == "the frame's own id"


def test_references_outside_the_stream_are_allowed() -> None:
    frames = flow_stream()[3:8]  # an llm call cut out of its flow: parents point outside
    for frame in frames:
        frame["namespace"] = ["llm"]
    assert check_frames(frames, source="llm") == []


def test_end_frame_whose_parent_differs_from_its_start() -> None:
    frames = flow_stream()
    frames[8]["parent_id"] = "id-1"
    found = check_frames(frames)
    assert rules(found) == {"end-parent"}
    assert found[0].frames == (8, 2)
    assert found[0].expected == "parent_id 'id-0', the parent of its start frame 2"


# -- channels -----------------------------------------------------------------------------------


def test_wrong_channel_for_a_built_in_type() -> None:
    frames = flow_stream()
    frames[4]["channel"] = "flow"
    frames[4]["namespace"] = ["flow"]
    found = check_frames(frames)
    assert rules(found) == {"channel"}
    assert str(found[0]) == (
        "[channel] frame 4 flow/llm_stream_chunk: expected 'llm_stream_chunk' on channel 'llm'; "
        "found channel 'flow'"
    )


def test_unknown_channel() -> None:
    frames = flow_stream()
    frames[1]["channel"] = "audio"
    frames[1]["namespace"] = ["audio"]
    found = check_frames(frames)
    assert rules(found) == {"channel"}
    assert found[0].expected == "one of llm, flow, tools, messages, lifecycle, custom"


def test_namespace_must_start_with_the_channel() -> None:
    frames = flow_stream()
    frames[1]["namespace"] = ["flow", "DemoFlow"]
    assert rules(check_frames(frames)) == {"channel"}


def test_unknown_types_may_sit_on_any_channel() -> None:
    frames = flow_stream()
    frames.insert(3, _frame(20, "my_flow_event", "flow", 2, 2, seq=3))
    frames.insert(4, _frame(21, "my_other_event", "tools", 2, 20, seq=3))
    for frame in frames[3:5]:
        frame["seq"] = None
    assert check_frames(frames) == []


def test_routes_extend_the_table_by_argument_and_by_hook() -> None:
    frames = flow_stream()
    frames.insert(3, _frame(20, "my_flow_event", "tools", 2, 2, seq=None))
    frames[3]["namespace"] = ["tools"]
    assert check_frames(frames) == []
    assert rules(check_frames(frames, routes={"my_flow_event": "flow"})) == {"channel"}
    assert check_frames(frames, routes={"my_flow_event": ["flow", "tools"]}) == []

    from crewstream_testing.hooks import Hooks, register, unregister

    class Routes:
        @staticmethod
        def crewstream_channel_routes() -> dict[str, str]:
            return {"my_flow_event": "flow"}

    plugin = Routes()
    register(plugin)
    try:
        hooks = Hooks.current()
    finally:
        unregister(plugin)
    hooked = list(hooks.routes)
    assert channel_routes(hooked=hooked)["my_flow_event"] == frozenset({"flow"})
    # the checker applies the routes it is handed and never reads the plugin manager
    assert check_frames(frames) == []
    found = check_frames(frames, routes=hooks.route_table())
    assert rules(found) == {"channel"}
    assert found[0].expected == "'my_flow_event' on channel 'flow'"
    assert check_frames(frames, routes=resolve_routes(hooked=hooked)) == found
    with pytest.raises(ConformanceError) as raised:
        assert_routed(frames, hooks.route_table())
    assert [v.expected for v in raised.value.violations] == [found[0].expected]


def test_a_route_to_an_unknown_channel_is_a_usage_error() -> None:
    with pytest.raises(
        CrewstreamUsageError, match=r"routes=: route 'x' -> \['audio'\] names no channel"
    ):
        check_frames([], routes={"x": "audio"})


def test_the_builtin_table_matches_the_installed_crewai() -> None:
    # crewai's own _stream_channel, on an instance of every event class whose type is in the table
    import crewai.events.types  # noqa: F401  (registers the event classes)
    from crewai.events.base_events import BaseEvent
    from crewai.utilities.streaming import _stream_channel

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    compared = 0
    for cls in set(subclasses(BaseEvent)):
        field = cls.model_fields.get("type")
        ftype = field.default if field is not None else None
        if ftype in BUILTIN_ROUTES and cls.__module__.startswith("crewai."):
            event = cls.model_construct()
            assert BUILTIN_ROUTES[ftype] == _stream_channel(event), (ftype, cls)
            compared += 1
    assert compared >= 60


# -- llm calls --------------------------------------------------------------------------------


def test_dropped_llm_call_end() -> None:
    frames = flow_stream()
    del frames[7]
    found = check_frames(frames)
    assert "llm-call" in rules(found)
    missing = next(v for v in found if v.rule == "llm-call")
    assert missing.frames == (3,)
    assert missing.expected == "call 'call-1' to end with llm_call_completed or llm_call_failed"
    # a stream closed early may stop mid-call
    assert [v for v in check_frames(frames, complete=False) if v.rule == "llm-call"] == []


def test_dropped_flow_end() -> None:
    frames = flow_stream()[:-1]
    found = check_frames(frames)
    assert rules(found) == {"terminal"}
    assert found[0].found == "last frame 'method_execution_finished'"
    assert check_frames(frames, complete=False) == []


def test_first_flow_finished_of_a_nested_flow_is_not_the_end() -> None:
    frames = flow_stream()
    # an agent executor's nested flow inside the method, closed before the outer one
    nested = [
        _frame(30, "flow_started", "flow", 2, 2, seq=None),
        _frame(31, "flow_finished", "flow", 2, 30, seq=None, started_event_id="id-30"),
    ]
    frames[3:3] = nested
    assert check_frames(frames) == []
    # ending the stream on the nested flow_finished is caught
    truncated = frames[:5]
    found = check_frames(truncated)
    assert any(v.rule == "terminal" and "the top-level flow_started" in v.expected for v in found)


def test_chunk_after_its_call_ended() -> None:
    frames = flow_stream()
    chunk = frames.pop(6)
    frames.insert(7, chunk)
    found = [v for v in check_frames(frames) if v.rule == "llm-call"]
    assert found and found[0].found == "a chunk after the end"
    assert found[0].frames == (7, 6)


def test_chunk_of_an_unknown_call() -> None:
    frames = flow_stream()
    frames[5]["data"]["call_id"] = "call-other"
    found = [v for v in check_frames(frames) if v.rule == "llm-call"]
    assert len(found) == 1
    assert found[0].found == "no llm_call_started with that call_id before it"


def test_a_call_that_ends_twice() -> None:
    frames = flow_stream()
    second = copy.deepcopy(frames[7])
    second.update(id="id-77", type="llm_call_failed", previous_id="id-7", seq=9)
    second["data"].pop("response")
    frames.insert(8, second)
    for frame in frames[9:]:
        frame["seq"] += 1
    found = [v for v in check_frames(frames) if v.rule == "llm-call"]
    assert len(found) == 1 and found[0].found == "a second end"


def test_chunk_text_not_assembling_to_the_response() -> None:
    frames = flow_stream()
    frames[5]["data"]["chunk"] = " THERE"
    found = check_frames(frames)
    assert rules(found) == {"chunk-text"}
    assert found[0].frames == (7, 3)
    assert found[0].found == "'Hello THERE world' (3 chunks)"


def test_chunk_text_rule_skips_tool_calls_and_accepts_stop_word_truncation() -> None:
    frames = flow_stream()
    frames[7]["data"]["response"] = [{"id": "t1", "function": {"name": "f", "arguments": "{}"}}]
    assert check_frames(frames) == []
    frames = flow_stream()
    frames[7]["data"]["call_type"] = "tool_call"
    frames[7]["data"]["response"] = "the tool's result"
    assert check_frames(frames) == []
    frames = flow_stream()
    frames[3]["data"]["stop_sequences"] = [" world"]
    frames[7]["data"]["response"] = "Hello there"
    assert check_frames(frames) == []


# -- envelope -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.pop("id"), "id: a non-empty string"),
        (lambda f: f.update(seq="5"), "seq: an integer or null"),
        (lambda f: f.update(seq=True), "seq: an integer or null"),
        (lambda f: f.update(namespace="llm"), "namespace: a list of strings"),
        (lambda f: f.update(namespace=["llm", 3]), "namespace: a list of strings"),
        (lambda f: f.update(timestamp="yesterday"), "timestamp: an ISO-8601 string"),
        (lambda f: f.pop("timestamp"), "timestamp: an ISO-8601 string"),
        (lambda f: f.update(parent_id=7), "parent_id: a string or null"),
        (lambda f: f.update(data=["chunk"]), "data: an object"),
        (lambda f: f.update(version=1), "version: a string"),
        (lambda f: f.update(type=""), "type: a non-empty string"),
    ],
)
def test_broken_envelope(change: Any, expected: str) -> None:
    frames = flow_stream()
    change(frames[5])
    found = [v for v in check_frames(frames, complete=False) if v.rule == "envelope"]
    assert len(found) == 1, found
    assert found[0].frames == (5,)
    assert found[0].expected.startswith(expected)


def test_something_that_is_not_a_frame() -> None:
    frames: list[Any] = [*flow_stream(), 42]
    found = check_frames(frames, complete=False)
    assert [(v.rule, v.frames, v.expected) for v in found] == [
        ("envelope", (10,), "a StreamFrame, a contract dict or a Frame")
    ]


def test_missing_envelope_keys_are_reported_not_raised() -> None:
    found = check_frames([{"type": "flow_started"}], complete=False)
    assert {v.expected.split(":")[0] for v in found} == {"id", "channel", "timestamp"}


# -- stream sources -------------------------------------------------------------------------------


def test_turn_terminal_rules() -> None:
    frames = turn_stream()
    assert rules(check_frames(frames[:-1], source="turn")) == {"terminal"}
    found = check_frames(frames[1:], source="turn")
    assert any(v.rule == "terminal" and v.frames == (0,) for v in found)


def test_llm_stream_terminal_rules() -> None:
    frames = flow_stream()[3:8]
    for frame in frames:
        frame["namespace"] = ["llm"]
    assert check_frames(frames, source="llm") == []
    found = check_frames(frames[:-1], source="llm")
    assert rules(found) == {"llm-call", "terminal"}


def test_source_is_inferred_and_validated() -> None:
    assert check_frames(flow_stream()[:-1]) != []  # inferred: flow
    assert check_frames(flow_stream()[:-1], source="unknown") == []
    with pytest.raises(CrewstreamUsageError, match="source must be one of"):
        check_frames([], source="river")


# -- input forms --------------------------------------------------------------------------------------


def broken_stream() -> list[dict[str, Any]]:
    frames = flow_stream()
    frames[4], frames[5] = frames[5], frames[4]
    frames[8]["parent_id"] = "id-1"
    return frames


def test_dicts_frames_and_stream_frames_give_the_same_violations() -> None:
    from crewai.types.streaming import StreamFrame

    dicts = broken_stream()
    expected = [str(v) for v in check_frames(dicts)]
    assert len(expected) == 4
    assert [str(v) for v in check_frames([Frame.from_dict(f) for f in dicts])] == expected
    assert [
        str(v) for v in check_frames([StreamFrame.model_validate(f) for f in dicts])
    ] == expected
    assert [str(v) for v in check_frames(iter(dicts))] == expected


def test_normalized_frames_give_the_same_violations() -> None:
    raw = broken_stream()
    expected = [(v.rule, v.frames) for v in check_frames(raw)]
    normalized = normalize(raw)
    assert normalized[0].id == "#0"
    assert [(v.rule, v.frames) for v in check_frames(normalized)] == expected
    assert [(v.rule, v.frames) for v in check_frames([f.to_dict() for f in normalized])] == expected


def test_every_rule_is_documented() -> None:
    doc = (ROOT / "docs" / "conformance.md").read_text()
    for rule in RULES:
        assert f"`{rule}`" in doc, rule


# -- real streams: zero violations ------------------------------------------------------------------


def test_bundled_cassettes_conform() -> None:
    paths = sorted((ROOT / "cassettes").glob("*.jsonl"))
    assert len(paths) >= 7
    for path in paths:
        cassette = Cassette.load(path)
        for stream in cassette.streams:
            complete = stream.outcome in ("result", "error")
            assert check_frames(stream.frames, source=stream.source, complete=complete) == [], path


@pytest.fixture(scope="module")
def fixture_recordings(
    warm_crewai: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Every app of fixtures/, recorded now: raw streams and their normalized cassettes."""
    from crewstream_testing.hermetic import CrewaiIsolation
    from crewstream_testing.recorder import Recorder
    from fixtures import RECORDINGS

    recorded = {}
    for name, record in RECORDINGS.items():
        storage = tmp_path_factory.mktemp(f"storage-{name}")
        with CrewaiIsolation(storage), Recorder(clock="virtual") as recorder:
            record(recorder)
        recorded[name] = recorder
    yield recorded


def test_fixture_apps_conform_raw_and_normalized(fixture_recordings: dict[str, Any]) -> None:
    assert set(fixture_recordings) >= {"report_flow", "chat_turns", "agent_flow", "failing_flow"}
    for name, recorder in fixture_recordings.items():
        raw = recorder.raw_streams()
        assert raw, name
        for stream in raw:
            complete = stream.outcome in ("result", "error")
            assert check_frames(stream.frames, source=stream.source, complete=complete) == [], name
        for stream in recorder.cassette().streams:
            complete = stream.outcome in ("result", "error")
            assert check_frames(stream.frames, source=stream.source, complete=complete) == [], name


def test_fixture_streams_cover_the_hard_cases(fixture_recordings: dict[str, Any]) -> None:
    agent = fixture_recordings["agent_flow"].raw_streams()[0]
    types = [frame.type for frame in agent.frames]
    assert types.count("flow_started") == 2  # the executor's nested flow
    assert types.index("flow_finished") < len(types) - 1
    turns = fixture_recordings["chat_turns"].raw_streams()
    assert len(turns) == 2
    seqs = [frame.seq for frame in turns[0].frames]
    assert seqs[1] < seqs[0]  # seq goes back within a turn
    ids = {frame.id for frame in turns[0].frames}
    assert any(
        frame.parent_id and frame.parent_id not in {f.id for f in turns[1].frames}
        for frame in turns[1].frames
    )
    assert ids.isdisjoint({frame.id for frame in turns[1].frames})
    failing = fixture_recordings["failing_flow"].raw_streams()[0]
    assert failing.outcome == "error"
    assert failing.frames[-1].type == "flow_failed"


@pytest.fixture(scope="module")
def suite_report(warm_crewai: None) -> Any:
    from crewstream_testing.contract.suite import run_suite

    return run_suite()


def test_every_stream_of_the_conformance_scenarios_conforms(suite_report: Any) -> None:
    scenarios = {stream.scenario for stream in suite_report.streams}
    assert scenarios >= {
        "llm.stream_events",
        "Flow.stream_events",
        "Flow.astream",
        "kickoff(stream=True)",
        "two stream_turns",
        "agent with a tool",
        "a crew",
        "error mid-stream",
        "early close",
        "concurrent sessions",
        "nested sessions",
        "parallel listeners",
    }
    for stream in suite_report.streams:
        assert stream.frames, stream.name
        assert stream.violations == [], (
            stream.scenario,
            stream.name,
            [str(v) for v in stream.violations],
        )


def test_threaded_parallel_listeners_reorder_yet_conform(suite_report: Any) -> None:
    threaded = [s for s in suite_report.streams if s.name.startswith("threaded parallel listeners")]
    assert len(threaded) == 2
    for stream in threaded:
        calls = [f.data["call_id"] for f in stream.frames if f.type == "llm_stream_chunk"]
        assert len(set(calls)) == 2
        assert check_frames(stream.frames, source="flow") == []


def test_the_suite_reports_crewai_1_15_30_as_the_facts_describe(suite_report: Any) -> None:
    statuses = {result.promise.id: result.status for result in suite_report.results}
    assert [pid for pid, status in statuses.items() if status == "broken"] == []
    known = {pid for pid, status in statuses.items() if status == "known-deviation"}
    assert known == {
        "turn.seq-monotonic",
        "crew.stream-restored",
        "close.sync-cancels",
        "projections.live",
        "legacy.task-info",
        "legacy.merged-once",
    }
    for result in suite_report.results:
        assert result.evidence, result.promise.id
    assert suite_report.ok
    lines = suite_report.lines()
    assert any(line.startswith("  KNOWN DEVIATION  close.sync-cancels") for line in lines)
    assert any("why: StreamSession.close() closes the frame generator" in line for line in lines)


def test_benchmark_run_is_a_plain_function() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_check_frames", ROOT / "benchmarks" / "bench_check_frames.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(1000)
    assert result["frames"] == 1000
    assert result["frames_per_second"] > 0
    assert check_frames(module.synthetic_stream(2500), source="flow") == []
