"""Files confined and safe, end to end (issue 11.2): escaping paths, device files, prune's limits."""

from __future__ import annotations

import os
import time

import pytest

from crewstream_testing import Cassette

pytestmark = pytest.mark.usefixtures("inner")

APP = """
import pytest
from crewai.flow.flow import Flow, start


class Tiny(Flow):
    @start()
    def begin(self):
        return "done"


@pytest.mark.crewstream({marker})
def test_stream(stream_recorder):
    with stream_recorder.record(Tiny().stream_events()) as session:
        for _ in session:
            pass
"""


@pytest.mark.parametrize("cassette", ["../../x.jsonl", "/tmp/crewstream-escape.jsonl"])
def test_a_cassette_outside_rootdir_fails_naming_the_path(
    inner: pytest.Pytester, cassette: str
) -> None:
    inner.makepyfile(test_app=APP.format(marker=f"cassette={cassette!r}"))
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all")
    result.assert_outcomes(errors=1)
    resolved = os.path.realpath(inner.path / "cassettes" / cassette)
    result.stdout.fnmatch_lines(
        [
            f"crewstream: cassette= {cassette!r} of test_app.py::test_stream: "
            f"{str(inner.path / 'cassettes' / cassette)!r} resolves to "
            f"{resolved!r}, outside the directories cassettes may live in:",
            f"  - {os.path.realpath(inner.path)}",
            "  fix: use a path inside rootdir, or allow its directory in the ini file:",
            "    crewstream_allowed_cassette_dirs =",
        ]
    )
    assert not os.path.exists(resolved)


def test_an_allowed_outside_directory_records(inner: pytest.Pytester) -> None:
    shared = inner.path.parent / f"shared-{inner.path.name}"
    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        f"crewstream_cassette_dir = ../{shared.name}\n"
        f"crewstream_allowed_cassette_dirs =\n    ../{shared.name}\n"
    )
    inner.makepyfile(test_app=APP.format(marker=""))
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all").assert_outcomes(passed=1)
    assert Cassette.load(shared / "test_app" / "test_stream.jsonl").streams[0].result == "done"


def test_mode_all_never_replaces_a_device_file(inner: pytest.Pytester) -> None:
    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "crewstream_allowed_cassette_dirs =\n    /dev\n"
    )
    inner.makepyfile(test_app=APP.format(marker="cassette='/dev/null'"))
    before = os.lstat("/dev/null")
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*'/dev/null' is a device file; crewstream replaces only regular files. "
            "fix: move it away, or point the cassette at another path"
        ]
    )
    after = os.lstat("/dev/null")
    assert (after.st_ino, after.st_mode, after.st_rdev) == (
        before.st_ino,
        before.st_mode,
        before.st_rdev,
    )


def test_a_cassette_dir_outside_rootdir_is_never_pruned(inner: pytest.Pytester) -> None:
    outside = inner.path.parent / f"data-{inner.path.name}"
    (outside / "test_app").mkdir(parents=True)
    data = outside / "test_app" / "rows.jsonl"
    data.write_text('{"row": 1}\n')
    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        f"crewstream_cassette_dir = ../{outside.name}\n"
    )
    inner.makepyfile(test_app=APP.format(marker=""))
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-prune")
    result.assert_outcomes(errors=1)  # the test itself: its cassette would be outside
    result.stdout.fnmatch_lines(["crewstream: not pruning, the run did not collect every test:"])
    assert data.read_text() == '{"row": 1}\n'


def test_prune_deletes_only_crewstream_files_and_stale_temporaries(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        test_app=APP.format(marker="")
        + """

def test_writes_in_flight():
    # another process's write, in flight while this run prunes: newer than the run
    from pathlib import Path
    Path("cassettes/test_app/.crewstream-tmp-inflight.part").write_bytes(b'{"kind":')
"""
    )
    inner.runpytest("-p", "no:cacheprovider", "-k", "test_stream").assert_outcomes(
        passed=1, deselected=1
    )
    directory = inner.path / "cassettes" / "test_app"
    (directory / "notes.jsonl").write_text('{"not": "a cassette"}\n')
    (directory / "test_gone.jsonl").write_bytes((directory / "test_stream.jsonl").read_bytes())
    stale = directory / ".crewstream-tmp-stale.part"
    stale.write_bytes(b'{"kind":')
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-prune")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "crewstream: deleted 2 unused cassette file(s):",
            "  cassettes/test_app/.crewstream-tmp-stale.part",
            "  cassettes/test_app/test_gone.jsonl",
        ]
    )
    assert sorted(p.name for p in directory.iterdir()) == [
        ".crewstream-tmp-inflight.part",
        "notes.jsonl",
        "test_stream.jsonl",
    ]


def test_a_read_only_checkout_replays(inner: pytest.Pytester) -> None:
    import subprocess

    inner.makepyfile(test_app=APP.format(marker=""))
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    directory = inner.path / "cassettes" / "test_app"
    # as root a directory's mode stops nothing: make it immutable instead
    as_root = os.getuid() == 0
    subprocess.run(["chattr", "+i", str(directory)], check=True) if as_root else directory.chmod(
        0o555
    )
    try:
        result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True) if as_root else None
        directory.chmod(0o755)
    result.assert_outcomes(passed=1)
    assert sorted(p.name for p in directory.iterdir()) == ["test_stream.jsonl"]


def test_a_253_character_cassette_name_records(inner: pytest.Pytester) -> None:
    name = "n" * 247 + ".jsonl"
    inner.makepyfile(test_app=APP.format(marker=f"cassette={name!r}"))
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert Cassette.load(inner.path / "cassettes" / name).streams[0].result == "done"
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none").assert_outcomes(passed=1)


def test_a_planted_lock_symlink_is_refused(inner: pytest.Pytester) -> None:
    from crewstream_testing.files import lock_path

    inner.makepyfile(test_app=APP.format(marker=""))
    victim = inner.path / "victim.txt"
    victim.write_text("keep")
    cassette = inner.path / "cassettes" / "test_app" / "test_stream.jsonl"
    cassette.parent.mkdir(parents=True)
    lock_path(cassette).symlink_to(victim)
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*is a symlink; crewstream never follows one. fix: delete the symlink*"]
    )
    assert victim.read_text() == "keep" and not cassette.exists()
