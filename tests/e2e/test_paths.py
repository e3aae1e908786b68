"""A cassette belongs to one test: lossy ids hashed, modules kept apart, collisions refused (issue 10.3)."""

from __future__ import annotations

import hashlib

import pytest
from crewstream_support import INNER_INI

from crewstream_testing import Cassette

pytestmark = pytest.mark.usefixtures("inner")

APP = """
import pytest
from crewai.flow.flow import Flow, start


class Echo(Flow):
    @start()
    def begin(self):
        return "said: " + self.state["word"]


def run(recorder, word):
    with recorder.record(Echo().stream_events(inputs={"word": word})) as session:
        for _ in session:
            pass
    return session.result
"""

PARAMS = (
    APP
    + """
@pytest.mark.parametrize("word", ["a/b c", "a b/c", "a_b_c"])
def test_param(stream_recorder, word):
    assert run(stream_recorder, word) == "said: " + word
"""
)


def _hashed(test_id: str, cleaned: str) -> str:
    return f"{cleaned}-{hashlib.sha1(test_id.encode()).hexdigest()[:10]}.jsonl"


def test_ids_differing_only_in_punctuation_get_their_own_cassettes(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_ids=PARAMS)
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all").assert_outcomes(passed=3)
    directory = inner.path / "cassettes" / "test_ids"
    expected = {
        _hashed("test_param[a/b c]", "test_param_a_b_c"): "said: a/b c",
        _hashed("test_param[a b/c]", "test_param_a_b_c"): "said: a b/c",
        "test_param_a_b_c.jsonl": "said: a_b_c",  # nothing lost: no hash, the name it always had
    }
    assert sorted(p.name for p in directory.iterdir()) == sorted(expected)
    for name, result in expected.items():
        assert Cassette.load(directory / name).streams[0].result == result
    # a test's path never depends on what else is selected: one test alone replays its own
    result = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "test_ids.py::test_param[a/b c]"
    )
    result.assert_outcomes(passed=1)


def test_same_named_modules_in_two_packages_keep_apart_under_a_cassette_dir(
    inner: pytest.Pytester,
) -> None:
    inner.makeini(INNER_INI + "crewstream_cassette_dir = recorded\n")
    for package in ("api", "ui"):
        directory = inner.path / "suite" / package
        directory.mkdir(parents=True)
        (directory / "__init__.py").write_text("")
        (inner.path / "suite" / "__init__.py").write_text("")
        (directory / "test_chat.py").write_text(
            APP
            + f"\n\ndef test_chat(stream_recorder):\n    assert run(stream_recorder, {package!r})\n"
        )
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all").assert_outcomes(passed=2)
    for package in ("api", "ui"):
        cassette = inner.path / "recorded" / "suite" / package / "test_chat" / "test_chat.jsonl"
        assert Cassette.load(cassette).streams[0].result == f"said: {package}"
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none").assert_outcomes(passed=2)


def test_two_tests_deriving_one_cassette_fail_at_collection(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_clash=APP
        + """
@pytest.mark.parametrize("word", ["a"])
def test_p(stream_recorder, word):
    run(stream_recorder, word)


def test_p_a(stream_recorder):
    run(stream_recorder, "x")
"""
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    cassette = inner.path / "cassettes" / "test_clash" / "test_p_a.jsonl"
    assert result.stderr.lines[:3] == [
        "ERROR: crewstream: two tests resolve to the same cassette, and would overwrite each other:",
        f"  - 'test_clash.py::test_p[a]' and 'test_clash.py::test_p_a': {cassette}",
        "  fix: rename one of the tests, or give each its own cassette "
        '(@pytest.mark.crewstream(cassette="<name>.jsonl")); to share one cassette on '
        "purpose, name it with the same cassette= on every test that shares it",
    ]


def test_a_cassette_at_its_old_path_is_read_with_a_warning(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_ids=PARAMS)
    node = "test_ids.py::test_param[a/b c]"
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all", node)
    directory = inner.path / "cassettes" / "test_ids"
    new = directory / _hashed("test_param[a/b c]", "test_param_a_b_c")
    old = directory / "test_param_a_b_c.jsonl"  # what crewstream derived before ids were hashed
    new.rename(old)
    # (this suite runs with warnings as errors; a project's default shows the warning)
    warnings = ("-W", "default::pytest.PytestWarning")
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none", *warnings, node)
    result.assert_outcomes(passed=1, warnings=1)
    assert (
        "  test_ids.py:17: PytestWarning: crewstream: the cassette of test_ids.py::test_param[a/b c] "
        f"is at its old path {old}; it is read from there for now. fix: move it to its new path: "
        f"git mv '{old}' '{new}'"
    ) in result.stdout.lines


SHARED = (
    APP
    + """
@pytest.mark.crewstream(cassette="golden.jsonl")
def test_one(stream_recorder):
    run(stream_recorder, "{one}")


@pytest.mark.crewstream(cassette="golden.jsonl")
def test_two(stream_recorder):
    run(stream_recorder, "{two}")
"""
)


def test_an_explicit_shared_cassette_works_and_unused_reports_the_sharing(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_shared=SHARED.replace("{one}", "same").replace("{two}", "same"))
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all").assert_outcomes(passed=2)
    result = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "--crewstream-unused"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "crewstream: 2 tests share cassette cassettes/golden.jsonl:",
            "  test_shared.py::test_one",
            "  test_shared.py::test_two",
        ]
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_two_tests_recording_different_streams_into_a_shared_cassette_fail(
    inner: pytest.Pytester, workers: list[str]
) -> None:
    inner.makepyfile(test_shared=SHARED.replace("{one}", "one").replace("{two}", "two"))
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all", *workers)
    result.assert_outcomes(passed=1, failed=1)
    cassette = inner.path / "cassettes" / "golden.jsonl"
    first, second = (
        ("test_shared.py::test_one", "test_shared.py::test_two")
        if Cassette.load(cassette).streams[0].result == "said: one"
        else ("test_shared.py::test_two", "test_shared.py::test_one")
    )
    result.stdout.fnmatch_lines(
        [
            f"*crewstream: tests {first!r} and {second!r} share cassette {cassette} (record mode "
            "'all') and recorded different streams; the second would overwrite the first",
        ]
    )
