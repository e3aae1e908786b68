"""pytest glue of cassette hygiene: ``--crewstream-unused`` / ``--crewstream-prune``, cassette
collisions at collection, which tests the network guard covers, and each test's crewai
isolation (its storage directory).

A plugin object the crewstream plugin registers when one of the flags is
given; the bookkeeping itself is ``hygiene.CassetteUsage``. Tests are
collected in the process that runs them (an xdist worker): each worker claims
the cassettes of its collected tests and sends them to the controller through
``workeroutput``; the report is made where the session ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crewstream_testing.errors import CrewstreamError, CrewstreamUsageError
from crewstream_testing.files import ALLOW_DIRS_KEY, cassette_path, confine
from crewstream_testing.hygiene import CassetteUsage
from crewstream_testing.kinds import resolve_mode

if TYPE_CHECKING:
    from crewstream_testing.hermetic import CrewaiIsolation

CREWSTREAM_FIXTURES = frozenset({"stream_recorder", "fake_llm", "crewstream_snapshot"})
"""A test asking for one of these (or marked ``crewstream``) uses crewstream."""


def uses_crewstream(item: pytest.Item, marker: str = "crewstream") -> bool:
    """Whether ``item`` uses crewstream: a crewstream fixture, or the marker."""
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker(marker) is not None or not CREWSTREAM_FIXTURES.isdisjoint(names)


def network_guarded(item: pytest.Item, marker_record: Callable[[pytest.Item], str | None]) -> bool:
    """Whether the network guard covers ``item``.

    Every test with ``--crewstream-block-network``, ini ``crewstream_block_network
    = true`` or ``CREWSTREAM_BLOCK_NETWORK=1`` in the environment (a guarded parent
    process); otherwise a test that uses crewstream when its record mode is
    ``none``, whether or not it records. Other tests are never guarded.
    """
    config = item.config
    if config.getoption("crewstream_block_network", False) or config.getini(
        "crewstream_block_network"
    ):
        return True
    from crewstream_testing.netguard import blocked_by_environment

    if blocked_by_environment():
        return True
    if not uses_crewstream(item):
        return False
    try:
        mode = resolve_mode(
            config.getoption("crewstream_record", None),
            marker_record(item),
            config.getini("crewstream_record_mode"),
        )
    except (CrewstreamError, pytest.fail.Exception):
        return False  # the test fails on its own with the marker's message
    return mode == "none"


def network_guard(
    item: pytest.Item, marker_record: Callable[[pytest.Item], str | None]
) -> contextlib.AbstractContextManager[object]:
    """A ``NetworkGuard`` for ``item`` when ``network_guarded`` says so, else a no-op context."""
    if not network_guarded(item, marker_record):
        return contextlib.nullcontext()
    from crewstream_testing.netguard import NetworkGuard

    return NetworkGuard()


def allowed_dirs(config: pytest.Config) -> list[Path]:
    """The directories outside rootdir the ini key ``crewstream_allowed_cassette_dirs`` allows."""
    return [Path(line) for line in config.getini(ALLOW_DIRS_KEY)]


def check_collisions(
    items: Sequence[pytest.Item], explicit_of: Callable[[pytest.Item], str | None]
) -> None:
    """Fail the collection when two tests resolve to one cassette without an explicit ``cassette=``.

    ``explicit_of`` gives a test's marker ``cassette=`` (a test naming its
    cassette shares it on purpose).
    """
    seen: dict[str, pytest.Item] = {}
    lines: list[str] = []
    for item in items:
        try:
            path = derived_cassette(item, explicit_of(item))
        except (CrewstreamError, pytest.fail.Exception):
            continue  # the test fails with this error when it runs
        if path is None:
            continue
        first = seen.setdefault(os.path.normcase(str(path)), item)
        if first is not item:
            lines.append(f"  - {first.nodeid!r} and {item.nodeid!r}: {path}")
    if lines:
        raise pytest.UsageError(
            "crewstream: two tests resolve to the same cassette, and would overwrite each other:\n"
            + "\n".join(lines)
            + "\n  fix: rename one of the tests, or give each its own cassette "
            '(@pytest.mark.crewstream(cassette="<name>.jsonl")); to share one cassette on '
            "purpose, name it with the same cassette= on every test that shares it"
        )


WORKER_KEY = "crewstream_usage"
"""The ``workeroutput`` key a worker's claims travel under."""


class CassetteHygiene:
    """Claims the cassettes of the collected tests and reports (or prunes) the others at the end."""

    def __init__(self, cassette_of: Callable[[pytest.Item], Path]) -> None:
        self.cassette_of = cassette_of
        """The cassette of a test; raises ``CrewstreamUsageError`` for a wrong marker."""
        self.usage = CassetteUsage()
        self.report: list[str] = []

    def claim(self, item: pytest.Item, add_root: bool) -> None:
        if not isinstance(item, pytest.Function):
            return
        if add_root:
            config = item.config
            ini_dir = config.getini("crewstream_cassette_dir")
            base = (config.rootpath / ini_dir) if ini_dir else None
            test_file = Path(str(item.path))
            root = cassette_path(
                test_file, "x", cassette=None, cassette_dir=base, rootdir=config.rootpath
            ).parent
            try:  # never search, nor prune, outside the directories cassettes may live in
                self.usage.add_root(confine(root, config.rootpath, allowed=allowed_dirs(config)))
            except CrewstreamUsageError as exc:
                self.usage.mark_incomplete(str(exc).splitlines()[0])
        try:
            path = self.cassette_of(item)
        except (CrewstreamError, pytest.fail.Exception):
            return  # the test fails with this error when it runs
        self.usage.claim(path, item.nodeid)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.claim(item, add_root=False)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        config = session.config
        if session.testsfailed:
            self.usage.mark_incomplete(f"{session.testsfailed} collection error(s)")
        # A module named with ::test selectors was collected in part: its other
        # tests' cassettes are not looked at.
        partial = {
            (config.invocation_params.dir / arg.split("::")[0]).resolve()
            for arg in config.args
            if "::" in arg
        }
        for item in session.items:
            self.claim(item, add_root=Path(str(item.path)).resolve() not in partial)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data is not None:
            self.usage.merge(data)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_KEY] = self.usage.to_json()
            return
        prune = bool(config.getoption("crewstream_prune"))
        self.report = self.usage.report(prune=prune, rootdir=config.rootpath)

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        for line in self.report:
            terminalreporter.write_line(line)


def resolve_cassette(item: pytest.Item, cassette: str | None, *, warn: bool = False) -> Path:
    """The cassette of ``item``: derived from its test id, or the marker's ``cassette=``, confined.

    Inside rootdir (or a directory of ``crewstream_allowed_cassette_dirs``), else
    ``CrewstreamUsageError``. A cassette found only at the path crewstream used
    to derive is read from there (with ``warn``, the test warns how to move it).
    """
    from crewstream_testing.files import legacy_cassette_path

    config = item.config
    ini_dir = config.getini("crewstream_cassette_dir")
    base = (config.rootpath / ini_dir) if ini_dir else None
    test_file = Path(str(item.path))
    name = item.nodeid.split("::", 1)[-1]  # classes keep same-named tests apart
    where = {"cassette": cassette, "cassette_dir": base, "rootdir": config.rootpath}
    path = cassette_path(test_file, name, **where)  # type: ignore[arg-type]
    what = f"cassette= {cassette!r} of {item.nodeid}" if cassette else f"cassette of {item.nodeid}"
    path = confine(path, config.rootpath, allowed=allowed_dirs(config), what=what)
    old = legacy_cassette_path(test_file, name, **where)  # type: ignore[arg-type]
    if old is not None and not path.exists() and old.is_file():
        if not warn:
            return old
        item.warn(
            pytest.PytestWarning(
                f"crewstream: the cassette of {item.nodeid} is at its old path {old}; it is read "
                f"from there for now. fix: move it to its new path: git mv '{old}' '{path}'"
            )
        )
        return old
    return path


def derived_cassette(item: pytest.Item, cassette: str | None) -> Path | None:
    """The cassette a test that binds one derives from its id; None when it names one (or binds none)."""
    if cassette is not None or "stream_recorder" not in getattr(item, "fixturenames", ()):
        return None
    return resolve_cassette(item, None)


_STORAGE_ROOT = pytest.StashKey[Path]()
"""The session's parent of every test's crewai storage directory (under pytest's basetemp)."""


def crewai_isolation(
    config: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> CrewaiIsolation:
    """crewai isolated for one test, with a new, empty storage directory of its own.

    One numbered ``crewai-storage`` directory per session (``mktemp``: it lists the
    basetemp and moves a symlink, about 0.3 ms), then a ``mkdtemp`` in it per test
    (about 25 µs), removed with the basetemp by pytest's retention policy.
    """
    import tempfile

    from crewstream_testing.hermetic import CrewaiIsolation

    root = config.stash.get(_STORAGE_ROOT, None)
    if root is None:
        root = config.stash[_STORAGE_ROOT] = tmp_path_factory.mktemp("crewai-storage")
    storage = Path(tempfile.mkdtemp(prefix="test-", dir=root))
    return CrewaiIsolation(storage, quiet=bool(config.getini("crewstream_quiet")))
