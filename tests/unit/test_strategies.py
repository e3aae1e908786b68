"""Generated streams: contract-valid by check_frames, broken by every held mutation, playable,
and able to find (and shrink) a planted consumer bug."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from crewstream_testing import check_frames
from crewstream_testing import strategies as cst
from crewstream_testing.playback import playback
from crewstream_testing.playback.reorder import sibling_blocks
from crewstream_testing.strategies import GeneratedStream
from fixtures.terminal_renderer import DONE, SeqDedupRenderer, TerminalRenderer

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")

QUIET = settings(
    database=None, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _shapes(stream: GeneratedStream) -> set[str]:
    frames = stream.frames
    types = [f["type"] for f in frames]
    shapes = {stream.source}
    if stream.failed:
        shapes.add("failure")
    if types.count("flow_started") > 1:
        shapes.add("nested-agent-flow")
    if "tool_usage_started" in types:
        shapes.add("tool-use")
    if any(f["data"].get("tool_call") for f in frames):
        shapes.add("tool-call-chunks")
    if "llm_thinking_chunk" in types:
        shapes.add("thinking")
    if len({f["seq"] for f in frames}) < len(frames):
        shapes.add("seq-repeats")
    ids = {f["id"] for f in frames}
    if any(f["parent_id"] and f["parent_id"] not in ids for f in frames):
        shapes.add("reference-outside")
    if sibling_blocks(list(stream.record().frames)):
        shapes.add("parallel-listeners")
    if any(f["data"].get("result") in ("short", "long") for f in frames):
        shapes.add("router")
    return shapes


def test_a_thousand_generated_streams_pass_check_frames_and_every_held_mutation_fails_it() -> None:
    seen: collections.Counter[str] = collections.Counter()
    held: collections.Counter[str] = collections.Counter()

    @settings(QUIET, max_examples=1000)
    @given(cst.streams())
    def check(stream: GeneratedStream) -> None:
        seen["streams"] += 1
        seen.update(_shapes(stream))
        assert check_frames(stream.frames, source=stream.source) == [], stream
        for name in cst.MUTATIONS:
            mutated = cst.mutate(stream, name)
            if mutated is not None:
                held[name] += 1
                assert check_frames(mutated, source=stream.source), (name, stream)

    check()
    assert seen["streams"] == 1000
    assert set(held) == set(cst.MUTATIONS)  # every mutation applied to some stream
    for shape in (
        "flow",
        "llm",
        "turn",
        "failure",
        "nested-agent-flow",
        "tool-use",
        "tool-call-chunks",
        "thinking",
        "seq-repeats",
        "reference-outside",
        "parallel-listeners",
        "router",
    ):
        assert seen[shape] > 0, (shape, seen)


@settings(QUIET, max_examples=50)
@given(cst.conversations())
def test_conversations_restart_seq_in_turn_one_and_continue_in_turn_two(
    turns: list[GeneratedStream],
) -> None:
    first, second = turns
    assert [f["seq"] for f in first.frames[:2]] == [2, 1]  # turn_started, then flow_started
    assert first.frames[-1]["seq"] == 3
    assert second.frames[0]["seq"] == 4
    flow_started = first.frames[1]["id"]
    assert {f["parent_id"] for f in second.frames} >= {flow_started}
    for turn in turns:
        assert check_frames(turn.frames, source="turn") == []


def _renders_correctly(renderer: TerminalRenderer, stream: GeneratedStream) -> bool:
    transcript = renderer.render(stream.session())
    closing = transcript.rstrip("\n").splitlines()[-1] if transcript.strip() else ""
    ends_right = closing.startswith("!!") if stream.failed else closing == DONE
    return renderer.text == stream.text and ends_right


@settings(QUIET, max_examples=300)
@given(cst.streams())
def test_the_terminal_renderer_shows_all_text_and_one_closing_line(stream: GeneratedStream) -> None:
    assert _renders_correctly(TerminalRenderer(), stream)


def test_the_property_finds_the_planted_seq_bug_and_shrinks_it() -> None:
    smallest = find(
        cst.streams(),
        lambda stream: not _renders_correctly(SeqDedupRenderer(), stream),
        settings=settings(QUIET, max_examples=2000),
    )
    assert len(smallest.frames) <= 10, smallest
    seqs = [f["seq"] for f in smallest.frames]
    assert len(set(seqs)) < len(seqs)  # the shrunk stream repeats a seq
    assert _renders_correctly(TerminalRenderer(), smallest)


@settings(QUIET, max_examples=100)
@given(cst.flow_streams(failures=False), st.integers(0, 3))
def test_generated_streams_play_back_and_permute_within_the_contract(
    stream: GeneratedStream, seed: int
) -> None:
    cassette = cst.cassette_of(stream)
    frames = list(playback(cassette))
    assert [f.id for f in frames] == [f["id"] for f in stream.frames]
    if sibling_blocks(cassette.streams[0].frames):
        permuted = list(playback(cassette, permute=seed))
        assert sorted(f.id for f in permuted) == sorted(f.id for f in frames)
        assert check_frames(permuted, source="flow") == []


def test_permute_interleaves_parallel_siblings_another_way() -> None:
    stream = find(
        cst.flow_streams(failures=False),
        lambda s: any(last - first >= 5 for first, last, _ in sibling_blocks(s.record().frames)),
        settings=settings(QUIET, max_examples=500),
    )
    cassette = cst.cassette_of(stream)
    original = [f.id for f in playback(cassette)]
    orders = {tuple(f.id for f in playback(cassette, permute=seed)) for seed in range(10)}
    assert len(orders - {tuple(original)}) >= 1
    for seed in range(10):
        permuted = list(playback(cassette, permute=seed))
        assert check_frames(permuted, source="flow") == []
        # each sibling keeps the order of its own frames
        _, _, owner = sibling_blocks(cassette.streams[0].frames)[0]
        ids = {cassette.streams[0].frames[i].id: fid for i, fid in owner.items()}
        for sibling in set(owner.values()):
            mine = [f.id for f in permuted if ids.get(f.id) == sibling]
            assert mine == [fid for fid in original if ids.get(fid) == sibling]


def test_a_generated_session_is_a_crewai_session_with_the_outcome() -> None:
    stream = find(cst.flow_streams(), lambda s: s.failed, settings=QUIET)
    session = stream.session()
    with pytest.raises(RuntimeError, match=r"^provider went away$"):
        list(session)

    async def drain() -> tuple[int, Any]:
        ok = find(cst.llm_streams(failures=False), lambda s: len(s.frames) > 3, settings=QUIET)
        session = ok.session(asynchronous=True)
        return len([f async for f in session]), (session.result, ok.result)

    import asyncio

    loop = asyncio.new_event_loop()  # not asyncio.run: it leaves a loop behind under pytest-asyncio
    try:
        count, (played, recorded) = loop.run_until_complete(drain())
    finally:
        loop.close()
    assert count > 3
    assert played == recorded
