"""The cassette reader's fast path (msgspec for the envelope and the data) against its
line-by-line path (orjson): every frame line, well-formed or hostile, gives the same Frames or the same
CassetteFormatError both ways.

The line-by-line path (``_Reader.line``: orjson, then the per-key checks in Python) is the
reference: it names every problem. The fast path (``_Reader.read_lines``) only reads the lines it
can check in C and hands the rest to it; these tests show it accepts nothing the reference
refuses and reads nothing differently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewstream_testing import Cassette, CassetteFormatError
from crewstream_testing.cassette import _LINE_KEYS, _Reader
from crewstream_testing.line_decoding import DATA_DEPTH, DECODE_ERRORS, frame_line_decoder

GOLDEN = sorted((Path(__file__).resolve().parents[2] / "cassettes").glob("*.jsonl"))
REPORT = Path(__file__).resolve().parents[2] / "cassettes" / "report_flow.jsonl"
LINES = REPORT.read_bytes().split(b"\n")[:-1]
FRAME_LINE = 3  # report_flow.jsonl's first frame line (numbered from 1)
RECORD = orjson.loads(LINES[FRAME_LINE - 1])

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**63,  # orjson: an int up to 2**64 - 1; msgspec's bound stops at 2**63 - 1
    2**64 - 1,
    1.5,
    -0.0,
    1e300,
    "",
    "x",
    "\u0000",
    "é😀",
    "[{[{",
    [],
    ["a"],
    ["a", 1],
    {},
    {"a": [1, {"b": None}]},
]
"""Values put in place of one of a frame line's values."""

TEXT_VALUES = [
    b"12345678901234567890123",  # beyond 64 bits: orjson reads a float
    b"-9223372036854775809",
    b"1E2",
    b"1e-400",
    b"-0",
    b'"\\ud83d\\ude00"',
    b'"\\ud800"',  # a lone surrogate: refused
    b"NaN",
    b"1e400",
    b"tru",
]
"""JSON texts put in place of a value as they are written, for numbers and strings orjson and
msgspec might read apart."""


def slow_read(data: bytes) -> Cassette:
    """The reference: every line through ``_Reader.line``, none on the fast path."""
    reader = _Reader(None)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    reader.last_line = len(lines)
    reader.cut_off = not data.endswith(b"\n")
    for number, raw in enumerate(lines, 1):
        reader.line(number, raw)
    if reader.open_stream is not None:
        raise reader.fail(len(lines), "no end line", "")
    return reader.cassette


def outcome(read: Any, data: bytes) -> Any:
    """What reading ``data`` gives: the frames (with their values' types) or the error."""
    try:
        cassette = read(data)
    except CassetteFormatError as exc:
        return ("error", exc.line, exc.problem)
    frames = [frame for stream in cassette.streams for frame in stream.frames]
    return ("frames", [(repr(f.to_dict()), _types(f.to_dict())) for f in frames])


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def with_line(line: bytes) -> bytes:
    """report_flow.jsonl with its first frame line replaced by ``line``."""
    lines = list(LINES)
    lines[FRAME_LINE - 1] = line
    return b"\n".join(lines) + b"\n"


def assert_same(data: bytes) -> None:
    fast = outcome(lambda d: Cassette.loads(d), data)
    slow = outcome(slow_read, data)
    if slow[0] == "error" and fast[0] == "error":
        assert fast[1] == slow[1]  # the line; the end-of-file check words its problem its own way
        if fast[1] != len(data.split(b"\n")) - 1:
            assert fast[2] == slow[2]
    else:
        assert fast == slow


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_golden_cassette_reads_the_same_both_ways(path: Path) -> None:
    data = path.read_bytes()
    assert outcome(lambda d: Cassette.loads(d), data) == outcome(slow_read, data)


def test_the_fast_path_takes_the_golden_frame_lines() -> None:
    # not every line falls back: the decoder reads a well-formed frame line
    decode = frame_line_decoder(_LINE_KEYS)
    for path in GOLDEN:
        for raw in path.read_bytes().split(b"\n"):
            if raw.startswith(b'{"channel"'):
                decode(raw)


@pytest.mark.parametrize("key", _LINE_KEYS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_an_odd_value_in_any_key_reads_the_same_both_ways(key: str, value: Any) -> None:
    assert_same(with_line(orjson.dumps({**RECORD, key: value})))


@pytest.mark.parametrize("key", [*_LINE_KEYS, "data.inner"])
@pytest.mark.parametrize("text", TEXT_VALUES, ids=lambda t: t.decode())
def test_a_number_or_string_as_written_reads_the_same_both_ways(key: str, text: bytes) -> None:
    marker = "__VALUE__"
    record = (
        {**RECORD, "data": {**RECORD["data"], "inner": marker}}
        if key == "data.inner"
        else {**RECORD, key: marker}
    )
    line = orjson.dumps(record).replace(b'"' + marker.encode() + b'"', text)
    assert_same(with_line(line))


@pytest.mark.parametrize(
    "line",
    [
        # a key twice: the last one wins in both parsers
        orjson.dumps(RECORD)[:-1] + b',"seq":7}',
        orjson.dumps(RECORD)[:-1] + b',"data":{"x":1}}',
        orjson.dumps(RECORD)[:-1] + b',"kind":"end"}',
        # an unknown key, a key left out
        orjson.dumps(RECORD)[:-1] + b',"extra":1}',
        orjson.dumps({k: v for k, v in RECORD.items() if k != "version"}),
        # whitespace, around the line and inside it
        b"  " + orjson.dumps(RECORD) + b"  ",
        orjson.dumps(RECORD, option=orjson.OPT_INDENT_2).replace(b"\n", b" "),
        # nesting: deep data, many brackets inside a string only
        orjson.dumps({**RECORD, "data": {"d": orjson.loads(b"[" * 63 + b"]" * 63)}}),
        orjson.dumps({**RECORD, "data": {"d": orjson.loads(b"[" * 64 + b"]" * 64)}}),
        orjson.dumps({**RECORD, "data": {"d": "[{" * 70}}),
        # not a frame line at all
        b"[1,2]",
        b"null",
        b'{"kind":"frame"',
        orjson.dumps(RECORD) + b"x",
    ],
)
def test_a_hostile_frame_line_reads_the_same_both_ways(line: bytes) -> None:
    assert_same(with_line(line))


def test_the_decoder_refuses_what_it_cannot_check() -> None:
    decode = frame_line_decoder(_LINE_KEYS)
    for line in (
        orjson.dumps({**RECORD, "seq": True}),
        orjson.dumps({**RECORD, "seq": 2**63}),
        orjson.dumps({**RECORD, "kind": "chunk"}),
        orjson.dumps({**RECORD, "namespace": ["a", 1]}),
        orjson.dumps({**RECORD, "extra": None}),
    ):
        with pytest.raises(DECODE_ERRORS):
            decode(line)


json_values = st.recursive(
    st.none()
    | st.booleans()
    # every integer orjson writes (beyond 64 bits: TEXT_VALUES, as text)
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from([*_LINE_KEYS, "data.inner"]), value=json_values)
def test_any_json_value_anywhere_reads_the_same_both_ways(key: str, value: Any) -> None:
    data = {**RECORD["data"], "inner": value}
    record = {**RECORD, "data": data} if key == "data.inner" else {**RECORD, key: value}
    assert_same(with_line(orjson.dumps(record)))


def nested(depth: int) -> Any:
    value: Any = 1
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


def test_data_nested_to_the_decoders_depth_takes_the_fast_path_deeper_the_line_by_line() -> None:
    decode = frame_line_decoder(_LINE_KEYS)
    fits = orjson.dumps({**RECORD, "data": {"d": nested(DATA_DEPTH)}})
    deeper = orjson.dumps({**RECORD, "data": {"d": nested(DATA_DEPTH + 1)}})
    decode(fits)
    with pytest.raises(DECODE_ERRORS):
        decode(deeper)
    for line in (fits, deeper):
        assert_same(with_line(line))
        frame = Cassette.loads(with_line(line)).streams[0].frames[0]
        assert frame.data == orjson.loads(line)["data"]


NUMBER = r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?\Z"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.from_regex(NUMBER).map(str.encode)
    | st.text(max_size=12).map(lambda t: orjson.dumps(t))
    | st.text(max_size=12).map(lambda t: __import__("json").dumps(t).encode())
)
def test_numbers_and_strings_in_the_data_read_as_orjson_reads_them(text: bytes) -> None:
    """msgspec parses the data on the fast path: any number or string, as written, gives what
    orjson gives (its type, value and sign), or the line goes the line-by-line way."""
    marker = "__VALUE__"
    record = {**RECORD, "data": {**RECORD["data"], "inner": [marker, {"x": marker}]}}
    line = orjson.dumps(record).replace(b'"' + marker.encode() + b'"', text)
    assert_same(with_line(line))
