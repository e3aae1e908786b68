"""The pytest plugin end to end: record, replay, diverge, modes, markers, hooks (pytester)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from crewstream_support import INNER_INI

pytest_plugins = ["pytester"]

APP = """
import pytest
from crewai.flow import Flow, listen, start

GREETING = "{greeting}"


class HelloFlow(Flow):
    @start()
    def greet(self):
        return GREETING

    @listen(greet)
    def shout(self, text):
        return text.upper()


def test_stream(stream_recorder):
    with stream_recorder.record(HelloFlow().stream_events()) as stream:
        types = [frame.type for frame in stream.events]
    assert types[0] == "flow_started"
    assert stream.result == GREETING.upper()
"""


@pytest.fixture
def project(inner: pytest.Pytester) -> pytest.Pytester:
    inner.makepyfile(test_app=APP.format(greeting="hello"))
    return inner


def cassette(pytester: pytest.Pytester, name: str = "test_stream") -> Path:
    return pytester.path / "cassettes" / "test_app" / f"{name}.jsonl"


def test_record_once_replay_then_first_divergence(project: pytest.Pytester) -> None:
    first = project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once")
    first.assert_outcomes(passed=1)
    recorded = cassette(project).read_bytes()
    assert recorded.startswith(b'{"clock":"virtual","contract":"v1"')

    replay = project.runpytest("-p", "no:cacheprovider")
    replay.assert_outcomes(passed=1)
    assert cassette(project).read_bytes() == recorded

    project.makepyfile(test_app=APP.format(greeting="goodbye"))
    diverged = project.runpytest("-p", "no:cacheprovider")
    diverged.assert_outcomes(failed=1)
    diverged.stdout.fnmatch_lines(
        [
            "crewstream: the recorded streams differ from cassette */cassettes/test_app/test_stream.jsonl (record mode 'once')",
            "stream 0 (flow): first divergence at frame 3 (flow/method_execution_finished):",
            "  data.result: 'hello' -> 'goodbye'",
            "  to accept the new recording: pytest --crewstream-record=all test_app.py::test_stream  # from the rootdir",
        ]
    )
    # the failure is focused: no dump of the stream
    assert "flow_started" not in diverged.stdout.str().split("crewstream: the recorded")[1]
    assert cassette(project).read_bytes() == recorded

    rerecord = project.runpytest("-p", "no:cacheprovider", "--crewstream-record=all")
    rerecord.assert_outcomes(passed=1)
    assert b'"result":"goodbye"' in cassette(project).read_bytes()


def test_none_mode_fails_on_a_missing_cassette_naming_path_and_flag(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")  # CI makes 'none' the default
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: cassette */cassettes/test_app/test_stream.jsonl does not exist and the record mode is 'none'.",
            "  record it with: pytest --crewstream-record=once test_app.py::test_stream  # from the rootdir",
        ]
    )
    assert not cassette(project).exists()


ASYNC_APP = """
import pytest
from crewai.flow import Flow, listen, start


class AsyncFlow(Flow):
    @start()
    async def fetch(self):
        return "data"

    @listen(fetch)
    def finish(self, data):
        return data + "!"


@pytest.mark.asyncio
async def test_astream(stream_recorder):
    async with stream_recorder.record(AsyncFlow().astream()) as stream:
        types = [frame.type async for frame in stream.events]
    assert types[-1] == "flow_finished"
    assert stream.result == "data!"
"""


def test_astream_under_pytest_asyncio_records_and_replays(project: pytest.Pytester) -> None:
    project.makepyfile(test_async=ASYNC_APP)
    args = ("-p", "no:cacheprovider", "test_async.py")
    project.runpytest(*args, "--crewstream-record=once").assert_outcomes(passed=1)
    path = project.path / "cassettes" / "test_async" / "test_astream.jsonl"
    assert b'"source":"astream"' in path.read_bytes()
    project.runpytest(*args, "--crewstream-record=none").assert_outcomes(passed=1)


def test_precedence_cli_over_marker_over_ini(project: pytest.Pytester) -> None:
    project.makeini(INNER_INI + "crewstream_record_mode = none\n")
    project.makepyfile(
        test_marked=APP.format(greeting="hi").replace(
            "def test_stream(",
            '@pytest.mark.crewstream(record="once", cassette="shared/hi.jsonl")\ndef test_stream(',
        )
    )
    shared = project.path / "cassettes" / "shared" / "hi.jsonl"
    # the CLI flag beats the marker: 'none' with no cassette fails
    cli = project.runpytest("-p", "no:cacheprovider", "test_marked.py", "--crewstream-record=none")
    cli.assert_outcomes(failed=1)
    cli.stdout.fnmatch_lines(["*cassette */cassettes/shared/hi.jsonl does not exist*"])
    # the marker beats the ini: 'once' records
    project.runpytest("-p", "no:cacheprovider", "test_marked.py").assert_outcomes(passed=1)
    assert shared.exists()
    # the ini applies where there is no marker: 'none' and no cassette fails
    project.runpytest("-p", "no:cacheprovider", "test_app.py").assert_outcomes(failed=1)


def test_parametrized_ids_become_safe_file_names(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_app=APP.format(greeting="hello").replace(
            "def test_stream(stream_recorder):",
            '@pytest.mark.parametrize("who", ["a/b c", "x:y"])\ndef test_stream(stream_recorder, who):',
        )
    )
    project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
        passed=2
    )
    names = sorted(p.name for p in (project.path / "cassettes" / "test_app").iterdir())
    # sanitizing lost information (a slash, a space, a colon): the id's hash keeps them apart
    assert names == ["test_stream_a_b_c-3d5c4aabd8.jsonl", "test_stream_x_y-f493f0d897.jsonl"]


def test_wrong_marker_argument_fails_clearly(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_app=APP.format(greeting="hello").replace(
            "def test_stream(", '@pytest.mark.crewstream(cassete="x.jsonl")\ndef test_stream('
        )
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: test_app.py::test_stream: @pytest.mark.crewstream got unexpected argument(s) 'cassete';"
            " valid keywords: cassette, record, clock, hermetic, allow_unused, *"
        ]
    )
    # the message alone: no frame of crewstream's own code
    assert "crewstream_testing/" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_conftest_normalize_hook_applies(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
def crewstream_normalize_frame(frame, context):
    data = frame["data"]
    if "result" in data:
        data["result"] = context.placeholder("greeting", data["result"])
    for key, value in data.get("params", {}).items():
        data["params"][key] = context.placeholder("greeting", value)
"""
    )
    project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
        passed=1
    )
    text = cassette(project).read_text()
    assert '"result":"<greeting:1>"' in text and '"result":"<greeting:2>"' in text
    # the hook makes the greeting irrelevant to the comparison
    project.makepyfile(test_app=APP.format(greeting="goodbye"))
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "stream 0 (flow): same frames, different ending",
            "  outcome: 'result' -> 'result'",
            "  result: 'HELLO' -> 'GOODBYE'",
        ]
    )


def test_importing_the_plugin_does_not_import_crewai() -> None:
    code = (
        "import sys, crewstream_testing.plugin, crewstream_testing; print('crewai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_same_named_tests_in_two_classes_get_two_cassettes(project: pytest.Pytester) -> None:
    body = APP.format(greeting="hello").split("def test_stream(")[0]
    method = (
        "    def test_stream(self, stream_recorder):\n"
        "        with stream_recorder.record(HelloFlow().stream_events()) as stream:\n"
        "            list(stream)\n"
        "        assert stream.result == {word!r}\n"
    )
    project.makepyfile(
        test_app=body
        + "\nclass TestOne:\n"
        + method.format(word="HELLO")
        + "\nclass TestTwo:\n"
        + method.format(word="HELLO")
    )
    project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
        passed=2
    )
    names = sorted(p.name for p in (project.path / "cassettes" / "test_app").iterdir())
    assert names == ["TestOne_test_stream.jsonl", "TestTwo_test_stream.jsonl"]


def test_fix_line_names_the_test_shell_quoted_from_the_rootdir(inner: pytest.Pytester) -> None:
    app = APP.replace(
        "def test_stream(", '@pytest.mark.parametrize("case", ["a b/c"])\ndef test_stream(case, '
    )
    inner.makepyfile(test_app=app.format(greeting="hello"))
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(passed=1)
    inner.makepyfile(test_app=app.format(greeting="goodbye"))
    diverged = inner.runpytest("-p", "no:cacheprovider")
    diverged.assert_outcomes(failed=1)
    fix = "  to accept the new recording: pytest --crewstream-record=all 'test_app.py::test_stream[a b/c]'  # from the rootdir"
    diverged.stdout.fnmatch_lines([fix])
    # the line runs as printed, from the rootdir
    command = shlex.split(fix.split(": ", 1)[1], comments=True)
    assert command[0] == "pytest"
    inner.runpytest("-p", "no:cacheprovider", *command[1:]).assert_outcomes(passed=1)
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_an_xfailed_test_with_unused_fake_replies_stays_xfailed(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_xfail="""
import pytest


@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug(fake_llm):
    fake_llm.add("never", "an unused reply")
    raise AssertionError("the bug")
"""
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(xfailed=1)


def test_a_corrupt_cassette_fails_with_the_message_alone(project: pytest.Pytester) -> None:
    project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
        passed=1
    )
    path = cassette(project)
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([*lines[:2], b'{"kind": "frame", "stream": 0', *lines[3:]]) + b"\n")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"crewstream: {path}:3: *"])
    assert "crewstream_testing/" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_each_test_gets_an_empty_crewai_storage_directory_of_its_own(
    inner: pytest.Pytester,
) -> None:
    # crewai writes its memory and flow state under CREWAI_STORAGE_DIR: each test gets a new,
    # empty one under pytest's basetemp, and the variable is back as it was after the test
    inner.makepyfile(
        test_storage="""
import os
from pathlib import Path

import pytest

SEEN = []
BEFORE = os.environ.get("CREWAI_STORAGE_DIR")


@pytest.mark.parametrize("n", range(3))
def test_storage(n, crewstream_hermetic, tmp_path_factory):
    storage = Path(os.environ["CREWAI_STORAGE_DIR"])
    assert storage.is_dir() and not any(storage.iterdir())
    assert storage.is_relative_to(tmp_path_factory.getbasetemp())
    (storage / "flow_state.db").write_text("left by test %d" % n)
    SEEN.append(storage)


def test_all_apart():
    assert len(set(SEEN)) == 3
    assert os.environ.get("CREWAI_STORAGE_DIR") == BEFORE
"""
    )
    result = inner.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
