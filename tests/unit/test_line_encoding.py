"""``encodes_to``: compare mode's check of a replay's lines against the file's bytes.

It must answer exactly ``encode_lines(lines) == expected`` for lines whose keys
are sorted (as the recorder builds every line), without splitting the encoded
bytes: a file whose lines split elsewhere, or hold the batch separator, is not
equal to a stream it merely concatenates to.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from crewstream_testing.line_encoding import _BATCH, _SEPARATOR, encode_lines, encodes_to


def frame_line(n: int, text: str = "w") -> dict[str, Any]:
    return {"channel": "llm", "data": {"chunk": f"{text}{n}"}, "id": f"#{n}", "kind": "frame"}


def test_equal_lines_and_each_kind_of_difference() -> None:
    lines = [frame_line(n) for n in range(5)]
    encoded = encode_lines(lines)
    assert encodes_to(lines, encoded)
    assert not encodes_to(lines, encoded[:-1])
    assert not encodes_to(lines[:-1], encoded)
    assert not encodes_to(lines, [*encoded[:2], encoded[3], encoded[2], encoded[4]])
    assert not encodes_to(lines, [*encoded[:4], encoded[4] + b" "])
    assert encodes_to([], [])


def test_a_file_split_around_a_planted_separator_is_not_equal() -> None:
    # a list in a frame's data holding the batch separator string (a value replayed from the
    # file itself): the file's lines, split elsewhere, join to the very bytes the stream's
    # lines join to, and are as many
    split = b',"\\u0000crewstream line\\u0000",'
    middle = {
        "channel": "llm",
        "data": {"args": ["a", _SEPARATOR, "b"]},
        "id": "#1",
        "kind": "frame",
    }
    lines = [frame_line(0), middle, frame_line(2)]
    encoded = encode_lines(lines)
    assert encodes_to(lines, encoded)
    before, after = encoded[1].split(split)
    hostile = [encoded[0] + split + before, after, encoded[2]]
    assert split.join(hostile) == split.join(encoded) and len(hostile) == len(encoded)
    assert not encodes_to(lines, hostile)


def test_an_end_lines_result_that_is_no_json_value_is_its_repr() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    lines = [frame_line(0), {"kind": "end", "result": Opaque(), "stream": 0}]
    encoded = encode_lines(lines)
    assert encoded[1] == b'{"kind":"end","result":"Opaque()","stream":0}'
    assert encodes_to(lines, encoded)
    assert not encodes_to(lines, [encoded[0], b'{"kind":"end","result":"Other()","stream":0}'])


def test_non_string_keys_inside_a_value() -> None:
    lines = [frame_line(0), {"data": {1: "one"}, "kind": "frame"}]
    encoded = encode_lines(lines)
    assert encoded[1] == b'{"data":{"1":"one"},"kind":"frame"}'
    assert encodes_to(lines, encoded)


def test_more_lines_than_a_batch() -> None:
    lines = [frame_line(n) for n in range(_BATCH * 2 + 3)]
    encoded = encode_lines(lines)
    assert encodes_to(lines, encoded)
    changed = list(encoded)
    changed[_BATCH + 1] = encode_lines([frame_line(0)])[0]
    assert not encodes_to(lines, changed)


_TEXT = st.sampled_from(["a", "", "b,c", "}", "{", _SEPARATOR, "x" + _SEPARATOR + "y", "\n", '"'])
_LINE = st.fixed_dictionaries(
    {"data": st.lists(_TEXT, max_size=3), "kind": st.sampled_from(["frame", "end"])}
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LINE, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_the_same_answer_as_encoding_and_comparing_line_by_line(
    lines: list[dict[str, Any]], cuts: list[int]
) -> None:
    """Against files made from the stream's own bytes split at other places."""
    lines = [dict(sorted(line.items())) for line in lines]  # as the recorder builds them
    encoded = encode_lines(lines)
    assert encodes_to(lines, encoded)
    whole = b"\n".join(encoded)
    resplit = bytearray(whole)
    for cut in cuts:
        if cut < len(resplit):
            resplit[cut : cut + 1] = b"\n"
    for candidate in (
        bytes(resplit).split(b"\n"),
        whole.replace(b"\n", b",").split(b",", len(encoded) - 1) if encoded else [],
        [orjson.dumps(line) for line in lines],
    ):
        assert encodes_to(lines, candidate) is (encode_lines(lines) == candidate)
