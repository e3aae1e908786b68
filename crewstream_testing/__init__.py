"""crewstream-testing: record/replay testing toolkit and pytest plugin for CrewAI streams.

Public names are imported on first use, so that loading the pytest plugin
(which imports this package) stays cheap and never imports crewai.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewstream_testing._exports import lazy_getattr

if TYPE_CHECKING:
    from crewstream_testing.cassette import Cassette, StreamRecord
    from crewstream_testing.clock import VirtualClock
    from crewstream_testing.contract.assertions import (
        assert_conforms,
        assert_ordered,
        assert_projections_consistent,
        assert_projections_consistent_async,
        assert_result_gated,
        assert_result_gated_async,
        assert_routed,
        assert_stream_restored,
    )
    from crewstream_testing.contract.checker import ConformanceError, Violation, check_frames
    from crewstream_testing.errors import (
        CassetteFormatError,
        CassetteMismatchError,
        CassetteMissError,
        CassetteNotFoundError,
        CrewstreamError,
        CrewstreamUsageError,
        FakeLLMError,
    )
    from crewstream_testing.frames import Frame
    from crewstream_testing.hooks import hookimpl
    from crewstream_testing.llm.fake import Chunk, FakeLLM, FakeReply, FakeRequest, reply, tool_call
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.playback import playback
    from crewstream_testing.recorder import Recorder
    from crewstream_testing.redact.redactor import Redactor

# `normalize` names both a submodule and a function: importing the submodule
# would set the package attribute to the module, so the function is bound now
# (normalize.py imports nothing heavy).
from crewstream_testing.normalize import normalize

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "assert_conforms": "contract.assertions",
    "assert_ordered": "contract.assertions",
    "assert_projections_consistent": "contract.assertions",
    "assert_projections_consistent_async": "contract.assertions",
    "assert_result_gated": "contract.assertions",
    "assert_result_gated_async": "contract.assertions",
    "assert_routed": "contract.assertions",
    "assert_stream_restored": "contract.assertions",
    "check_frames": "contract.checker",
    "ConformanceError": "contract.checker",
    "Violation": "contract.checker",
    "Cassette": "cassette",
    "StreamRecord": "cassette",
    "VirtualClock": "clock",
    "CassetteFormatError": "errors",
    "CassetteMismatchError": "errors",
    "CassetteNotFoundError": "errors",
    "CrewstreamError": "errors",
    "CrewstreamUsageError": "errors",
    "CassetteMissError": "errors",
    "FakeLLMError": "errors",
    "Chunk": "llm.fake",
    "FakeLLM": "llm.fake",
    "FakeReply": "llm.fake",
    "FakeRequest": "llm.fake",
    "reply": "llm.fake",
    "tool_call": "llm.fake",
    "Frame": "frames",
    "hookimpl": "hooks",
    "Normalizer": "normalize",
    # the package `playback` is callable too (playback/__init__.py): once imported it answers
    "playback": "playback",
    "Recorder": "recorder",
    "Redactor": "redact.redactor",
}

__all__ = [
    "Cassette",
    "CassetteFormatError",
    "CassetteMismatchError",
    "CassetteMissError",
    "CassetteNotFoundError",
    "Chunk",
    "ConformanceError",
    "CrewstreamError",
    "CrewstreamUsageError",
    "FakeLLM",
    "FakeLLMError",
    "FakeReply",
    "FakeRequest",
    "Frame",
    "Normalizer",
    "Recorder",
    "Redactor",
    "StreamRecord",
    "Violation",
    "VirtualClock",
    "__version__",
    "assert_conforms",
    "assert_ordered",
    "assert_projections_consistent",
    "assert_projections_consistent_async",
    "assert_result_gated",
    "assert_result_gated_async",
    "assert_routed",
    "assert_stream_restored",
    "check_frames",
    "hookimpl",
    "normalize",
    "playback",
    "reply",
    "tool_call",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__
