"""Property-based: mutated cassettes give a CassetteFormatError (or a clean exit 2), never a traceback.

Seeds are the golden cassettes recorded from fixtures/ (real crewai streams);
each example applies one to three cheap mutations: bytes cut, flipped or
inserted, lines dropped, repeated, swapped or replaced, a JSON value of a line
swapped for another type, absurd nesting. Every mutant goes to
``Cassette.loads``, to the redactor (what ``crewstream scrub`` runs), and to
``crewstream check`` and ``crewstream show`` through ``cli.main`` in process.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewstream_testing import Cassette, CassetteFormatError
from crewstream_testing.cli import main
from crewstream_testing.redact.redactor import Redactor

EXAMPLES = 1000
GOLDEN = Path(__file__).resolve().parents[2] / "cassettes"
SEEDS = sorted(path.read_bytes() for path in GOLDEN.glob("*.jsonl"))

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    1.5,
    "",
    "x",
    "\u0000",
    [],
    {},
    [1, [2, [3]]],
    {"kind": "frame"},
    "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1",
]
ODD_LINES = [
    b"",
    b"   ",
    b"{}",
    b"[]",
    b"null",
    b'"text"',
    b"<<<<<<< HEAD",
    b"=======",
    b">>>>>>> branch",
    b"# a comment",
    b"{'kind': 'frame'}",
    b'{"kind":"header","format":"crewstream-cassette","format_version":1}',
    b'{"kind":"end","stream":0,"outcome":"result"}',
    b'{"kind":"stream","stream":0,"source":"flow"}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe\x00\x01",
    b"[" * 70 + b"]" * 70,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
]

position = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
mutation = st.one_of(
    st.tuples(st.just("cut"), position),
    st.tuples(st.just("flip"), position, st.integers(0, 255)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("drop_line"), position),
    st.tuples(st.just("repeat_line"), position),
    st.tuples(st.just("swap_lines"), position, position),
    st.tuples(st.just("replace_line"), position, st.sampled_from(ODD_LINES)),
    st.tuples(
        st.just("set_value"),
        position,
        st.lists(position, min_size=1, max_size=4),
        st.sampled_from(ODD_VALUES),
    ),
    st.tuples(st.just("drop_key"), position, position),
    st.tuples(st.just("nest"), position, st.sampled_from([63, 65, 200])),
)


def _index(fraction: float, size: int) -> int:
    return min(int(fraction * size), size - 1) if size else 0


def _line_op(data: bytes, fraction: float, change: Any) -> bytes:
    lines = data.split(b"\n")
    index = _index(fraction, len(lines))
    lines[index : index + 1] = change(lines[index])
    return b"\n".join(lines)


def _json_op(line: bytes, path: list[float], change: Any) -> list[bytes]:
    """Apply ``change(obj, key)`` at a key chosen by ``path`` (one fraction per level, descending into objects)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return [line]
    target = record
    for depth, fraction in enumerate(path):
        if not isinstance(target, dict) or not target:
            return [line]
        keys = sorted(target)
        key = keys[_index(fraction, len(keys))]
        if depth == len(path) - 1 or not isinstance(target[key], dict) or not target[key]:
            change(target, key)
            return [orjson.dumps(record)]
        target = target[key]
    return [line]


def mutate(data: bytes, operation: tuple[Any, ...]) -> bytes:
    kind = operation[0]
    if kind == "cut":
        return data[: _index(operation[1], len(data) + 1)]
    if kind == "flip":
        at = _index(operation[1], len(data))
        return data[:at] + bytes([operation[2]]) + data[at + 1 :] if data else data
    if kind == "insert":
        at = _index(operation[1], len(data) + 1)
        return data[:at] + operation[2] + data[at:]
    if kind == "drop_line":
        return _line_op(data, operation[1], lambda line: [])
    if kind == "repeat_line":
        return _line_op(data, operation[1], lambda line: [line, line])
    if kind == "swap_lines":
        lines = data.split(b"\n")
        a, b = _index(operation[1], len(lines)), _index(operation[2], len(lines))
        lines[a], lines[b] = lines[b], lines[a]
        return b"\n".join(lines)
    if kind == "replace_line":
        return _line_op(data, operation[1], lambda line: [operation[2]])
    if kind == "set_value":
        return _line_op(
            data,
            operation[1],
            lambda line: _json_op(line, operation[2], lambda r, k: r.__setitem__(k, operation[3])),
        )
    if kind == "drop_key":
        return _line_op(
            data, operation[1], lambda line: _json_op(line, [operation[2]], lambda r, k: r.pop(k))
        )
    if kind == "nest":
        deep: Any = "leaf"
        for _ in range(operation[2]):
            deep = {"d": deep}
        return _line_op(
            data,
            operation[1],
            lambda line: _json_op(line, [0.0], lambda r, k: r.__setitem__("data", deep)),
        )
    raise AssertionError(kind)


def test_mutated_cassettes_only_raise_cassette_format_error(tmp_path: Path) -> None:
    assert len(SEEDS) >= 5
    target = tmp_path / "mutant.jsonl"
    outcomes = {"loaded": 0, "refused": 0}
    exits: dict[str, set[int]] = {"check": set(), "show": set()}
    redactor = Redactor(environ={})

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.sampled_from(SEEDS), operations=st.lists(mutation, min_size=1, max_size=3))
    def run(seed: bytes, operations: list[tuple[Any, ...]]) -> None:
        data = seed
        for operation in operations:
            data = mutate(data, operation)
        try:
            cassette = Cassette.loads(data, path=target)
        except CassetteFormatError as exc:
            outcomes["refused"] += 1
            assert str(exc).startswith(f"{target}:"), str(exc)
            assert "\n  fix: " in str(exc)
            assert exc.line is None or 1 <= exc.line <= data.count(b"\n") + 1
        else:
            outcomes["loaded"] += 1
            assert Cassette.loads(cassette.dumps()).dumps() == cassette.dumps()
            redactor.cassette(cassette)

        target.write_bytes(data)
        for command in ("check", "show"):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main([command, str(target)], out=out)
            exits[command].add(code)
            assert code in (0, 1, 2), (command, code)
            if code == 2:
                assert str(target) in out.getvalue() + err.getvalue()
                assert "Traceback" not in out.getvalue() + err.getvalue()

    run()
    print(outcomes, exits)
    assert outcomes["loaded"] + outcomes["refused"] >= EXAMPLES
    # The mutations reach both sides: valid mutants and refused ones, all exit codes of check.
    assert outcomes["loaded"] >= 50 and outcomes["refused"] >= 500, outcomes
    assert exits["check"] >= {1, 2} and exits["show"] == {0, 2}, exits
