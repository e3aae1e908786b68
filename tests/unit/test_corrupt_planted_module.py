"""A hostile cassette names a module with a visible side effect: replay never imports it.

The module writes a file when it is imported. The cassette names it as the
module of an LLM call's error, as a structured result's class path and as the
module of a stream's error; rebuilding each (the LLM tape's plan, playback's
ending) gives a ``RecordedError`` or the plain value, and the file never appears.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from crewstream_testing.cassette import Cassette
from crewstream_testing.errors import RecordedError, rebuild_error
from crewstream_testing.llm.engine import CallArgs
from crewstream_testing.llm.records import plan_from_record
from crewstream_testing.playback import rebuild_error as playback_error

PLANTED = "crewstream_planted_side_effect"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{PLANTED}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "class Boom(Exception):\n    pass\n"
        "class Model:\n    @classmethod\n    def model_validate(cls, value):\n"
        "        Path(" + repr(str(marker)) + ").write_text('evaluated')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PLANTED, raising=False)
    return marker


def cassette_bytes() -> bytes:
    header = {
        "clock": "virtual",
        "contract": "v1",
        "crewai": "1.15.30",
        "format": "crewstream-cassette",
        "format_version": 1,
        "kind": "header",
    }
    request = {"messages": [{"content": "q", "role": "user"}], "model": "m", "tools": None}
    lines = [
        header,
        {"kind": "stream", "name": None, "source": "llm", "stream": 0},
        {
            "kind": "end",
            "stream": 0,
            "outcome": "error",
            "result": None,
            "error": {"type": "Boom", "message": "planted", "module": PLANTED},
        },
        {
            "kind": "llm_call",
            "index": 0,
            "request": request,
            "chunks": [],
            "completed": None,
            "result": None,
            "error": {"type": "Boom", "message": "planted", "module": PLANTED, "event": None},
        },
        {
            "kind": "llm_call",
            "index": 1,
            "request": request,
            "chunks": [],
            "completed": None,
            "result": {"kind": "structured", "model": f"{PLANTED}:Model", "value": {"a": 1}},
            "error": None,
        },
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_a_module_named_in_a_cassette_is_never_imported(planted: Path) -> None:
    cassette = Cassette.loads(cassette_bytes())
    failing, structured = cassette.llm_calls

    error = plan_from_record(failing, CallArgs(messages="q")).error
    assert isinstance(error, RecordedError)
    assert (error.type_name, str(error)) == ("Boom", "planted")

    plan = plan_from_record(structured, CallArgs(messages="q"))
    assert plan.result == {"a": 1}  # no live response_model: the value as recorded

    ending = playback_error(cassette.streams[0].error)
    assert repr(ending) == "RecordedError('Boom', 'planted')"

    assert not planted.exists()
    assert PLANTED not in sys.modules


def test_builtin_and_provider_types_are_rebuilt_from_modules_crewstream_names(
    planted: Path,
) -> None:
    import openai

    assert type(rebuild_error("TimeoutError", "slow", "builtins")) is TimeoutError
    assert type(rebuild_error("RateLimitError", "quota", "openai")) is openai.RateLimitError
    # a known name under a planted module is not that type, nor an import of that module
    assert (
        repr(rebuild_error("RateLimitError", "q", PLANTED))
        == "RecordedError('RateLimitError', 'q')"
    )
    assert repr(rebuild_error("TimeoutError", "q", PLANTED)) == "RecordedError('TimeoutError', 'q')"
    assert not planted.exists() and PLANTED not in sys.modules
