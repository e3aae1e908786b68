"""Normalization: placeholders, references, timestamps, idempotence, hooks."""

from __future__ import annotations

import copy
from typing import Any

from crewstream_testing import Frame, Normalizer, normalize

CALL = "3f2b8c1e-1111-4a2b-9c3d-aaaaaaaaaaaa"
STATE = "9d0c7e6f-2222-4b3c-8d4e-bbbbbbbbbbbb"


def frame(id: str, type: str, channel: str = "flow", **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "type": type,
        "channel": channel,
        "seq": kw.pop("seq", None),
        "namespace": kw.pop("namespace", [channel]),
        "timestamp": kw.pop("timestamp", "2026-05-01T10:00:00Z"),
        "data": kw.pop("data", {}),
        **kw,
    }


def test_ids_become_ordinals_and_references_follow() -> None:
    frames = [
        frame("e-a", "flow_started"),
        frame("e-b", "method_execution_started", parent_id="e-a", previous_id="e-a"),
        frame(
            "e-c",
            "method_execution_finished",
            parent_id="e-a",
            previous_id="e-b",
            data={"started_event_id": "e-b"},
        ),
    ]
    out = normalize(frames)
    assert [f.id for f in out] == ["#0", "#1", "#2"]
    assert (out[1].parent_id, out[1].previous_id) == ("#0", "#0")
    assert out[2].data["started_event_id"] == "#1"


def test_references_outside_the_stream_are_external_and_shared_across_streams() -> None:
    turn1 = [
        frame("t1-start", "conversation_turn_started", previous_id="created-elsewhere"),
        frame("t1-flow", "flow_started"),
    ]
    turn2 = [
        frame(
            "t2-start",
            "conversation_turn_started",
            parent_id="t1-flow",
            previous_id="created-elsewhere",
        )
    ]
    one, two = Normalizer().normalize_streams([turn1, turn2])
    assert one[0].previous_id == "<ext:1>"
    assert two[0].previous_id == "<ext:1>"
    # turn 2's parent is turn 1's flow_started: still visible after normalization
    assert two[0].parent_id == one[1].id == "#1"


def test_volatile_values_become_stable_placeholders() -> None:
    data = {
        "call_id": CALL,
        "response_id": "chatcmpl-XYZ",
        "state": {"id": STATE, "topic": "x"},
        "started_at": "2026-05-01T10:00:01.5Z",
        "tools": [{"func": "<function count at 0x7f3a2b1c9d80>"}],
        "note": f"call {CALL} done",
    }
    out = normalize([frame("a", "llm_call_started", "llm", namespace=["llm", CALL], data=data)])[0]
    assert out.namespace == ["llm", "<call:1>"]
    assert out.data == {
        "call_id": "<call:1>",
        "response_id": "<response:1>",
        "state": {"id": "<state:1>", "topic": "x"},
        "started_at": "<time>",
        "tools": [{"func": "<function count at 0x<addr>>"}],
        "note": "call <call:1> done",
    }


def test_timestamps_are_offsets_from_the_first_frame_of_the_cassette() -> None:
    s1 = [
        frame("a", "flow_started", timestamp="2026-01-01T00:00:00Z"),
        frame("b", "flow_finished", timestamp="2026-01-01T00:00:01.25Z"),
    ]
    s2 = [frame("c", "flow_started", timestamp="2026-01-01T00:00:03Z")]
    one, two = Normalizer().normalize_streams([s1, s2])
    assert [f.timestamp for f in one + two] == [0.0, 1.25, 3.0]
    assert [f.timestamp for f in Normalizer(timestamps="zero").normalize_streams([s1])[0]] == [
        0.0,
        0.0,
    ]


def test_env_frames_are_canonicalized() -> None:
    out = normalize([frame("a", "cc_env", "custom"), frame("b", "cursor_env", "custom")])
    assert [f.type for f in out] == ["default_env", "default_env"]


def test_normalizing_twice_changes_nothing() -> None:
    frames = [
        frame("e-a", "flow_started", previous_id="outside", data={"state": {"id": STATE}}),
        frame(
            "e-b",
            "llm_call_started",
            "llm",
            parent_id="e-a",
            namespace=["llm", CALL],
            data={"call_id": CALL},
        ),
    ]
    once = normalize(frames)
    assert normalize(once) == once


def test_inputs_are_not_mutated() -> None:
    data = {"call_id": CALL}
    raw = frame("a", "llm_call_started", "llm", data=data)
    normalize([raw])
    assert raw["id"] == "a" and data == {"call_id": CALL}


def test_frame_hooks_run_after_builtin_rules() -> None:
    def hook(f: dict[str, Any], context: Any) -> None:
        if "user" in f["data"]:
            f["data"]["user"] = context.placeholder("user", f["data"]["user"])

    normalizer = Normalizer(frame_hooks=[hook])
    (out,) = normalizer.normalize_streams(
        [[frame("a", "custom_event", "custom", data={"user": "alice"})]]
    )
    assert out[0].data["user"] == "<user:1>"
    assert isinstance(out[0], Frame)


def test_normalize_lines_gives_the_cassette_frame_lines() -> None:
    normalizer = Normalizer()
    lines = normalizer.normalize_lines(
        [
            [frame("a", "flow_started", data={"state_id": STATE})],
            [frame("b", "flow_finished", parent_id="a")],
        ]
    )
    assert lines == [
        [
            {
                "kind": "frame",
                "stream": 0,
                "version": "v1",
                "id": "#0",
                "type": "flow_started",
                "channel": "flow",
                "seq": None,
                "namespace": ["flow"],
                "timestamp": 0.0,
                "parent_id": None,
                "previous_id": None,
                "data": {"state_id": "<state:1>"},
            }
        ],
        [
            {
                "kind": "frame",
                "stream": 1,
                "version": "v1",
                "id": "#1",
                "type": "flow_finished",
                "channel": "flow",
                "seq": None,
                "namespace": ["flow"],
                "timestamp": 0.0,
                "parent_id": "#0",
                "previous_id": None,
                "data": {},
            }
        ],
    ]


def test_values_met_again_follow_the_frame_ids_known_now() -> None:
    normalizer = Normalizer()
    first = normalizer.normalize_lines([[frame("a", "x", data={"call_id": CALL})]])
    # a later call sees frame ids the first did not: a uuid that is now a frame id is its ordinal
    second = normalizer.normalize_lines(
        [[frame(CALL, "y", data={"call_id": CALL, "note": f"see {STATE}"})]]
    )
    assert first[0][0]["data"] == {"call_id": "<call:1>"}
    assert second[0][0]["id"] == "#1"
    assert second[0][0]["data"] == {"call_id": "#1", "note": "see <uuid:1>"}


def test_a_hook_that_breaks_the_envelope_is_named() -> None:
    def hook(f: dict[str, Any], context: Any) -> None:
        f["namespace"] = "flow"
        f["extra"] = 1

    normalizer = Normalizer(frame_hooks=[hook])
    try:
        normalizer.normalize_lines([[frame("a", "x"), frame("b", "y")]])
    except ValueError as exc:
        assert str(exc) == (
            "a crewstream_normalize_frame hook broke frame 0 of stream 0: frame 'namespace' "
            "must be a list of strings, found 'flow'; the hook must keep the envelope's "
            "fields and types"
        )
    else:
        raise AssertionError("the broken frame was accepted")


def test_hooks_see_the_line_and_keys_they_add_are_dropped() -> None:
    seen: list[dict[str, Any]] = []

    def hook(f: dict[str, Any], context: Any) -> None:
        seen.append(dict(f))
        f["extra"] = context.stream_index

    (lines,) = Normalizer(frame_hooks=[hook]).normalize_lines([[frame("a", "x")]])
    assert seen[0]["kind"] == "frame" and seen[0]["stream"] == 0
    assert "extra" not in lines[0]
    assert normalize([frame("a", "x")], frame_hooks=[hook])[0].id == "#0"


def test_infer_source_is_one_rule_for_frames_and_sessions() -> None:
    from crewstream_testing.frames import infer_source

    class AsyncStreamSession:
        pass

    class StreamSession:
        pass

    llm = [frame("a", "llm_call_started", "llm"), frame("b", "llm_call_completed", "llm")]
    turn = [frame("a", "flow_started"), frame("b", "conversation_turn_started")]
    custom = [frame("a", "custom_event", "custom")]
    assert infer_source(llm) == "llm"
    assert infer_source(turn) == "turn"
    assert infer_source([frame("a", "flow_started")]) == "flow"
    assert infer_source([]) == "unknown"
    assert infer_source(custom) == "unknown"
    assert infer_source(custom, StreamSession()) == "flow"
    assert infer_source(llm, AsyncStreamSession()) == "astream"
    # the same as objects of one class (read field by field at once), and one lacking a field
    objects = [Frame.from_dict(f) for f in llm]
    assert infer_source(objects) == "llm"
    assert infer_source([Frame.from_dict(f) for f in turn]) == "turn"

    class Loose:
        def __init__(self, **fields: Any) -> None:
            self.__dict__.update(fields)

    loose = [Loose(channel="llm", type="llm_call_started"), Loose(type="x"), Loose(channel="flow")]
    assert infer_source(loose) == "flow"
    assert infer_source(loose[:2]) == "llm"


def test_chunk_frame_data_keeps_value_types_and_numbers_ids_in_the_datas_order() -> None:
    call = "6f1c2b7e-0a8d-4b1e-9a53-0c7e1d2f3a4b"
    datas: list[dict[str, Any]] = [
        {"call_id": call, "chunk": "a", "n": 1, "tool_call": None},
        {"call_id": call, "chunk": "b", "n": 1, "tool_call": None},
        {"call_id": call, "chunk": "b", "n": True, "tool_call": None},  # 1 == True: not reused
        {"call_id": call, "chunk": "c", "n": 1.0, "tool_call": None},
        {"call_id": call, "chunk": "c", "n": -0.0, "tool_call": None},  # 0.0 == -0.0: full path
        {"call_id": call, "chunk": "d", "n": 2, "tool_call": {"id": "x"}},  # unhashable
        {"call_id": call, "chunk": "e", "n": 2, "tool_call": {"id": "y"}},
        {"chunk": "f", "call_id": call, "n": 2, "tool_call": None},  # other key order
        # two new ids in one frame: numbered in the data's order, as the full path does
        {"chunk": "g", "call_id": call, "n": 3, "tool_call": None, "started_at": "x"},
        {
            "chunk": "id 0a1b2c3d-0a8d-4b1e-9a53-0c7e1d2f3a4b",
            "call_id": "1b1c2b7e-0a8d-4b1e-9a53-0c7e1d2f3a4b",
            "n": 3,
            "tool_call": None,
            "started_at": "y",
        },
    ]
    frames = [
        {"id": f"f{i}", "type": "llm_stream_chunk", "channel": "llm", "seq": i, "data": data}
        for i, data in enumerate(datas)
    ]
    fast = Normalizer().normalize_lines([frames])
    # the same values as other objects (crewai makes new id strings on every frame)
    copies = [{**frame, "data": copy.deepcopy(frame["data"])} for frame in frames]
    assert Normalizer().normalize_lines([copies]) == fast
    assert [type(line["data"]["n"]) for line in fast[0]] == [type(d["n"]) for d in datas]
    assert fast[0][4]["data"]["n"] == -0.0 and str(fast[0][4]["data"]["n"]) == "-0.0"
    assert fast[0][9]["data"]["call_id"] == "<call:2>"
    assert fast[0][9]["data"]["chunk"] == "id <uuid:1>"
    datas_of = [id(line["data"]) for line in fast[0]]
    assert len(set(datas_of)) == len(datas_of)  # each line owns its data (hooks edit it)


def test_short_strings_are_normalized_by_their_key_and_by_what_they_hold() -> None:
    # top-level strings shorter than any volatile value are kept as they are, unless
    # their key names what they are or they hold an address: each case at the boundary
    data = {
        "chunk": "w1 ",  # kept
        "call_id": "abc",  # a short id under an id key: a placeholder all the same
        "started_event_id": "e",  # a reference to no frame of the cassette
        "started_at": "soon",  # a wall-clock key
        "id": "2026-05-01T10:00:00",  # 19 characters: a date-time, whatever the key
        "note": "at 0x7f3a",  # an address in 9 characters
        "short": "0123456789abcdef01",  # 18 characters of hex: kept
        "model": "gpt-4o-mini",  # kept
    }
    out = normalize([frame("a", "llm_stream_chunk", "llm", data=data)])[0]
    assert out.data == {
        "chunk": "w1 ",
        "call_id": "<call:1>",
        "started_event_id": "<ext:1>",
        "started_at": "<time>",
        "id": "<time>",
        "note": "at 0x<addr>",
        "short": "0123456789abcdef01",
        "model": "gpt-4o-mini",
    }
    assert list(out.data) == list(data)  # the data's own key order


def test_provider_ids_are_found_as_the_single_regex_of_before_found_them() -> None:
    # The provider-id search is two passes now (prefixed ids where a prefix occurs, uuid4
    # hex in strings of 32 characters or more); the one combined regex it replaced is the
    # reference: same placeholders, same numbering, on strings mixing every shape.
    import re

    from hypothesis import assume, given, settings
    from hypothesis import strategies as st

    from crewstream_testing.normalize import _ADDR_RE, _UUID_RE

    combined = re.compile(
        r"\b(?:(chatcmpl-|msg_|resp_)|(call_|toolu_))[A-Za-z0-9]{16,}\b"
        r"|\b(tooluse_)[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])"
        r"|\b[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}\b"
    )

    def reference(text: str) -> str:
        counters: dict[str, int] = {}
        seen: dict[str, str] = {}

        def sub(match: re.Match[str]) -> str:
            kind = (
                "response"
                if match.group(1)
                else "toolcall"
                if match.group(2) or match.group(3)
                else "uuid"
            )
            found = match.group(0)
            if found not in seen:
                counters[kind] = counters.get(kind, 0) + 1
                seen[found] = f"<{kind}:{counters[kind]}>"
            return seen[found]

        return combined.sub(sub, text)

    hexes = st.text("0123456789abcdef", min_size=15, max_size=34)
    uuid4_hex = st.builds(
        lambda a, b, c, d: f"{a}4{b}{c}{d}",
        st.text("0123456789abcdef", min_size=12, max_size=12),
        st.text("0123456789abcdef", min_size=3, max_size=3),
        st.sampled_from("89ab"),
        st.text("0123456789abcdef", min_size=15, max_size=15),
    )
    prefixed = st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["chatcmpl-", "msg_", "resp_", "call_", "toolu_", "tooluse_"]),
        st.text("abcXYZ0189_-", min_size=10, max_size=24),
    )
    pieces = st.one_of(uuid4_hex, prefixed, hexes, st.sampled_from([" ", "-", "_", "x", "<", "é"]))

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pieces, max_size=8))
    def check(parts: list[str]) -> None:
        text = "".join(parts)
        # only the provider-id step acting: no dashed uuid or address made by chance
        assume(not _UUID_RE.search(text) and not _ADDR_RE.search(text))
        assert Normalizer().text(text) == reference(text)

    check()


def test_datetime_timestamps_are_offsets_whichever_object_or_zone_holds_them() -> None:
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
    paris = timezone(timedelta(hours=2))
    stamps = [
        start,
        datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc),  # equal, another object
        start.astimezone(paris),  # the same instant in another zone
        start + timedelta(seconds=1.5),
        datetime(2026, 5, 1, 12, 0, 1, 500000, tzinfo=paris),  # equal to the one before
        start,  # back to the first instant
        start.replace(tzinfo=None) + timedelta(seconds=2),  # naive: the local zone's reading
    ]
    frames = [
        {"id": f"f{i}", "type": "t", "channel": "flow", "timestamp": stamp}
        for i, stamp in enumerate(stamps)
    ]
    got = [line["timestamp"] for line in Normalizer().normalize_lines([frames])[0]]
    naive = round(stamps[-1].timestamp() - start.timestamp(), 6)
    assert got == [0.0, 0.0, 0.0, 1.5, 1.5, 0.0, naive]


def test_a_long_text_normalized_once_is_what_each_search_would_give(monkeypatch: Any) -> None:
    """A reply repeated in several frames and the result is searched once per frame-id state."""
    import importlib

    module = importlib.import_module(
        "crewstream_testing.normalize"
    )  # the package's normalize() shadows it

    reply = (
        f"ran {STATE} at 2026-05-01T10:00:00Z with chatcmpl-AbCdEfGhIjKlMnOpQrSt and "
        + "word " * 80
        + "0x7f3a9b2c deadbeefdead4aaa8aaadeadbeefdead"
    )
    assert len(reply) >= module._LONG_TEXT

    def run() -> tuple[Any, ...]:
        normalizer = Normalizer()
        before = normalizer.text(reply)  # no frame ids yet: the state id is a <uuid:N>
        lines = normalizer.normalize_lines(
            [
                [
                    frame("a", "llm_call_completed", data={"response": reply}),
                    frame(STATE, "method_execution_finished", data={"result": reply}),
                    frame("c", "flow_finished", data={"result": reply, "note": reply[:300]}),
                ]
            ]
        )
        return before, lines, normalizer.value({"result": reply}), normalizer.text(reply)

    cached = run()
    monkeypatch.setattr(module, "_LONG_TEXT", 10**9)  # every text searched every time
    assert cached == run()
    before, lines, end, again = cached
    assert before.startswith("ran <uuid:1> at")
    # after the frame ids arrive, the state id is frame #1 wherever the reply is, the cache cleared
    datas = [line["data"] for line in lines[0]]
    assert (
        datas[0]["response"] == datas[1]["result"] == datas[2]["result"] == end["result"] == again
    )
    assert again.startswith("ran #1 at") and "<response:1>" in again and "0x<addr>" in again
    assert again.endswith("<uuid:2>")


def test_crewai_stream_frames_read_from_their_fields_as_dicts_are(warm_crewai: None) -> None:
    """A stream of StreamFrames is read from each model's fields at once; mixed streams frame by frame."""
    from datetime import datetime, timezone

    from crewai.types.streaming import StreamFrame

    dicts = [
        frame("f1", "flow_started", seq=1, data={"flow_id": STATE}),
        frame("f2", "llm_stream_chunk", "llm", seq=2, parent_id="f1", data={"call_id": CALL}),
        frame("f3", "flow_finished", seq=3, previous_id="f2", data={"result": "ok"}),
    ]
    for d in dicts:
        d["timestamp"] = datetime(2026, 5, 1, 10, tzinfo=timezone.utc)
    models = [StreamFrame(**d) for d in dicts]
    expected = Normalizer().normalize_lines([dicts])
    assert Normalizer().normalize_lines([models]) == expected
    assert Normalizer().normalize_lines([[models[0], dicts[1], models[2]]]) == expected
    assert (
        Normalizer().normalize_lines([[StreamFrame.model_construct(**d) for d in dicts]])
        == expected
    )
