"""pytest wiring only: options, ini keys, the marker, fixtures and hooks forwarding to the core.

Loading this module must stay cheap: it imports neither crewai nor the
recorder; fixtures import what they need when a test asks for them.

Option precedence, highest first (for the record mode and the clock):
the command-line flag, then the test's ``@pytest.mark.crewstream(...)``
argument, then the ini key, then the default (record mode ``none`` when the
``CI`` environment variable is set, ``once`` otherwise; clock ``virtual``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from crewstream_testing.binding import CassetteBinding, MarkerOptions
    from crewstream_testing.hygiene import CassetteUsage
    from crewstream_testing.llm.fake import FakeLLM
    from crewstream_testing.recorder import Recorder
    from crewstream_testing.redact.redactor import Redactor

MARKER = "crewstream"
_BINDING: pytest.StashKey[CassetteBinding] = pytest.StashKey()
# crewstream_* plugins registered per pytest plugin manager (pytester nests runs).
_registered: dict[int, list[Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crewstream", "crewstream: record/replay of CrewAI streams")
    group.addoption(
        "--crewstream-record",
        action="store",
        dest="crewstream_record",
        default=None,
        choices=("none", "once", "new_episodes", "all"),
        help="cassette record mode (default: 'none' when $CI is set, else 'once')",
    )
    parser.addini(
        "crewstream_record_mode", "default record mode (none, once, new_episodes, all)", default=""
    )
    parser.addini(
        "crewstream_cassette_dir",
        "directory for cassettes, relative to rootdir (default: cassettes/ beside each test file)",
        default="",
    )
    parser.addini(
        "crewstream_clock", "virtual (frozen, exact timestamps) or real", default="virtual"
    )
    parser.addini(
        "crewstream_hermetic",
        "isolate crewai in tests that use crewstream (telemetry off, temp storage, handlers reset)",
        type="bool",
        default=True,
    )
    parser.addini(
        "crewstream_quiet",
        "silence crewai's console rendering during tests",
        type="bool",
        default=True,
    )
    parser.addini(
        "crewstream_redaction",
        "redact secrets before any cassette or snapshot is written",
        type="bool",
        default=True,
    )
    parser.addini(
        "crewstream_redact_patterns",
        "extra regular expressions to redact, one per line (only the group named 'secret' when present)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "crewstream_redact_paths",
        "extra JSON paths redacted in every cassette line, one per line ('*' one key, '**' any keys)",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--crewstream-block-network",
        action="store_true",
        dest="crewstream_block_network",
        help="fail any connection to a non-loopback address, in every test (on by default in record mode 'none')",
    )
    group.addoption(
        "--crewstream-unused",
        action="store_true",
        dest="crewstream_unused",
        help="report cassettes (in the directories of the collected test modules) that no collected test uses",
    )
    group.addoption(
        "--crewstream-prune",
        action="store_true",
        dest="crewstream_prune",
        help="delete cassettes that no collected test uses (and temporary files of interrupted writes)",
    )
    group.addoption(
        "--crewstream-conformance",
        action="store_true",
        dest="crewstream_conformance",
        help="run the streaming-contract conformance suite against the installed crewai instead of the tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "crewstream(cassette=None, record=None, clock=None, hermetic=None, allow_unused=False): "
        "configure crewstream recording for this test",
    )
    if config.getini("crewstream_hermetic"):
        from crewstream_testing.hermetic import quiet_environment

        quiet_environment()


def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    # pytest only collects hooks named pytest_*; crewstream_* functions in a
    # conftest (or a -p plugin) go to crewstream's own pluggy manager.
    names = getattr(plugin, "__dict__", None)
    if (
        plugin is _this_module()
        or names is None
        or not any(name.startswith("crewstream_") for name in names)
    ):
        return
    from crewstream_testing.hooks import register

    register(plugin)
    _registered.setdefault(id(manager), []).append(plugin)


def _this_module() -> Any:
    import sys

    return sys.modules[__name__]


def pytest_unconfigure(config: pytest.Config) -> None:
    plugins = _registered.pop(id(config.pluginmanager), [])
    if plugins:
        from crewstream_testing.hooks import unregister

        for plugin in plugins:
            unregister(plugin)


def _test_name(item: pytest.Item) -> str:
    """The test's name below its module (``TestA::test_x[1]``): classes keep same-named tests apart."""
    return item.nodeid.split("::", 1)[-1]


def _marker_options(item: pytest.Item) -> MarkerOptions:
    from crewstream_testing.binding import MarkerOptions

    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return MarkerOptions()
    return MarkerOptions.from_marker(marker.args, marker.kwargs, item.nodeid)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("crewstream_conformance", False):
        items[:] = _conformance_items(session)
        return
    for item in items:
        if (
            item.get_closest_marker(MARKER) is not None
            and isinstance(item, pytest.Function)
            and "crewstream_hermetic" not in item.fixturenames
        ):
            item.fixturenames.insert(0, "crewstream_hermetic")


@pytest.fixture
def crewstream_hermetic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """crewai isolated for this test (unless ``hermetic=False`` or ini ``crewstream_hermetic = false``)."""
    options = _marker_options(request.node)
    enabled = (
        options.hermetic
        if options.hermetic is not None
        else request.config.getini("crewstream_hermetic")
    )
    if not enabled:
        yield
        return
    from crewstream_testing.hermetic import CrewaiIsolation

    isolation = CrewaiIsolation(
        tmp_path_factory.mktemp("crewai-storage"),
        quiet=bool(request.config.getini("crewstream_quiet")),
    )
    with isolation:
        yield


@pytest.fixture
def stream_recorder(
    request: pytest.FixtureRequest, crewstream_hermetic: None
) -> Iterator[Recorder]:
    """A Recorder bound to this test's cassette: ``with stream_recorder.record(session) as s: ...``.

    When the test body passes, the recorded streams are written to, or
    compared with, the test's cassette according to the record mode.
    """
    from crewstream_testing.binding import CassetteBinding, cassette_path, resolve_mode
    from crewstream_testing.recorder import Recorder

    config = request.config
    options = _marker_options(request.node)
    mode = resolve_mode(
        config.getoption("crewstream_record"),
        options.record,
        config.getini("crewstream_record_mode"),
    )
    clock = options.clock or config.getini("crewstream_clock") or "virtual"
    ini_dir = config.getini("crewstream_cassette_dir")
    path = cassette_path(
        Path(str(request.node.path)),
        _test_name(request.node),
        cassette=options.cassette,
        cassette_dir=(config.rootpath / ini_dir) if ini_dir else None,
    )
    recorder = Recorder(clock=clock, redactor=_redactor(config))
    request.node.stash[_BINDING] = CassetteBinding(
        recorder, path, mode, test_id=request.node.nodeid, allow_unused=options.allow_unused
    )
    # Real LLM calls made during the test are recorded into, or replayed from,
    # this cassette (llm_replay); in mode none the network is blocked too.
    from crewstream_testing.llm.tape import LLMTape
    from crewstream_testing.netguard import NetworkGuard

    tape = LLMTape.for_mode(
        mode, path, recorder.llm_calls, test_id=request.node.nodeid, redactor=recorder.redactor
    )
    request.node.stash[_TAPE] = tape
    guard = NetworkGuard()
    try:
        tape.activate()
        if mode == "none":
            guard.start()
        yield recorder
    finally:
        guard.stop()
        tape.deactivate()
        recorder.close()


_TAPE = pytest.StashKey[Any]()


@pytest.fixture
def fake_llm(request: pytest.FixtureRequest) -> Iterator[FakeLLM]:
    """A ``FakeLLM`` for this test; script it with ``fake_llm.add(reply(...), ...)``.

    At teardown, after a passing test body, replies the test never used fail
    the test (unless ``@pytest.mark.crewstream(allow_unused=True)``).
    """
    from crewstream_testing.llm.fake import FakeLLM

    llm = FakeLLM()
    yield llm
    llm.close()
    if not item_failed(request.node) and not _marker_options(request.node).allow_unused:
        llm.assert_all_consumed()


_CALL_FAILED = pytest.StashKey[bool]()


def item_failed(item: pytest.Item) -> bool:
    """Whether the test body (call phase) of ``item`` failed."""
    return item.stash.get(_CALL_FAILED, False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, Any, Any]:
    if not item.config.getoption("crewstream_block_network", False):
        return (yield)
    from crewstream_testing.netguard import NetworkGuard

    with NetworkGuard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        # A FakeLLM with scripted latency and no running clock froze time on its own.
        import sys

        fake = sys.modules.get("crewstream_testing.llm.fake")
        if fake is not None:
            fake.stop_owned_clocks()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Compare or write the cassette in the call phase, once the body passed,
    # so that a divergence is reported as a test failure, not a teardown error.
    result = yield
    binding = item.stash.get(_BINDING, None)
    if binding is not None:
        from crewstream_testing.errors import CassetteMismatchError, CassetteNotFoundError

        binding.recorder.close()
        problem = None
        tape = item.stash.get(_TAPE, None)
        try:
            if tape is not None and tape.misses:  # the app swallowed a CassetteMissError
                problem = f"crewstream: {tape.misses[0]}"
            else:
                binding.finish()
                if tape is not None and tape.replay and not binding.allow_unused:
                    from crewstream_testing.hygiene import unused_calls_message

                    unused = unused_calls_message(
                        binding.path, tape.recorded, tape.used, binding.test_id
                    )
                    problem = None if unused is None else f"crewstream: {unused}"
        except (CassetteMismatchError, CassetteNotFoundError) as exc:
            problem = f"crewstream: {exc}"
        if problem is not None:
            pytest.fail(problem, pytrace=False)
    return result


def _redactor(config: pytest.Config) -> Redactor:
    from crewstream_testing.redact.redactor import Redactor

    return Redactor(
        enabled=bool(config.getini("crewstream_redaction")),
        patterns=config.getini("crewstream_redact_patterns"),
        paths=config.getini("crewstream_redact_paths"),
    )


# -- cassette hygiene: --crewstream-unused / --crewstream-prune -------------------------
# Tests are collected in the process that runs them (an xdist worker): each
# worker claims the cassettes of its collected tests and sends them to the
# controller through ``workeroutput``; the report is made where the session ends.
_USAGE = pytest.StashKey["CassetteUsage"]()
_REPORT = pytest.StashKey[list[str]]()


def _hygiene_wanted(config: pytest.Config) -> bool:
    return bool(
        config.getoption("crewstream_unused", False) or config.getoption("crewstream_prune", False)
    )


def _usage(config: pytest.Config) -> CassetteUsage:
    from crewstream_testing.hygiene import CassetteUsage

    usage = config.stash.get(_USAGE, None)
    if usage is None:
        usage = config.stash[_USAGE] = CassetteUsage()
    return usage


def _claim(usage: CassetteUsage, item: pytest.Item, add_root: bool) -> None:
    from crewstream_testing.binding import cassette_path
    from crewstream_testing.errors import CrewstreamUsageError

    if not isinstance(item, pytest.Function):
        return
    ini_dir = item.config.getini("crewstream_cassette_dir")
    base = (item.config.rootpath / ini_dir) if ini_dir else None
    test_file = Path(str(item.path))
    if add_root:
        usage.add_root(cassette_path(test_file, "x", cassette=None, cassette_dir=base).parent)
    try:
        options = _marker_options(item)
    except CrewstreamUsageError:
        return  # the test fails with this error when it runs
    usage.claim(
        cassette_path(test_file, _test_name(item), cassette=options.cassette, cassette_dir=base)
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items and _hygiene_wanted(items[0].config):
        usage = _usage(items[0].config)
        for item in items:
            _claim(usage, item, add_root=False)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if not _hygiene_wanted(config):
        return
    usage = _usage(config)
    if session.testsfailed:
        usage.mark_incomplete(f"{session.testsfailed} collection error(s)")
    # A module named with ::test selectors was collected in part: its other
    # tests' cassettes are not looked at.
    partial = {
        (config.invocation_params.dir / arg.split("::")[0]).resolve()
        for arg in config.args
        if "::" in arg
    }
    for item in session.items:
        _claim(usage, item, add_root=Path(str(item.path)).resolve() not in partial)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    data = getattr(node, "workeroutput", {}).get("crewstream_usage")
    if data is not None:
        _usage(node.config).merge(data)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not _hygiene_wanted(config):
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["crewstream_usage"] = _usage(config).to_json()
        return
    prune = bool(config.getoption("crewstream_prune"))
    config.stash[_REPORT] = _usage(config).report(prune=prune, rootdir=config.rootpath)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash.get(_REPORT, []):
        terminalreporter.write_line(line)
    _conformance_summary(terminalreporter, config)


# -- contract conformance: assertions, snapshots, the suite ------------------------------


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: Any, right: Any
) -> list[str] | None:
    # Only lists/tuples of frames; everything else keeps pytest's own explanation.
    if op != "==" or not isinstance(left, list | tuple) or not isinstance(right, list | tuple):
        return None
    from crewstream_testing.contract.assertions import compare_frames_repr

    return compare_frames_repr(op, left, right)


@pytest.fixture
def crewstream_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` storing frames as normalized ``.jsonl``: ``assert crewstream_snapshot == frames``."""
    from crewstream_testing.snapshot import CrewstreamSnapshotExtension

    return snapshot.use_extension(CrewstreamSnapshotExtension)


_SUITE = pytest.StashKey[Any]()


class CrewstreamConformanceItem(pytest.Item):
    """One promise of the streaming contract, checked against the installed crewai."""

    def __init__(self, *, promise: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.promise = promise

    def runtest(self) -> None:
        from crewstream_testing.contract.suite import BROKEN, KNOWN, UNAVAILABLE

        report = self.config.stash.get(_SUITE, None)
        if report is None:
            from crewstream_testing.contract.suite import run_suite

            report = self.config.stash[_SUITE] = run_suite()
        result = report.result(self.promise.id)
        evidence = "\n".join(f"  evidence: {line}" for line in result.evidence)
        if result.status == BROKEN:
            pytest.fail(f"BROKEN: {self.promise.text}\n{evidence}", pytrace=False)
        if result.status == UNAVAILABLE:
            pytest.skip(f"unavailable in this crewai: {'; '.join(result.evidence)}")
        if result.status == KNOWN:
            self.user_properties.append(("crewstream_known_deviation", self.promise.id))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return (
            self.path,
            None,
            f"crewstream conformance: {self.promise.scenario}: {self.promise.id}",
        )


def _conformance_items(session: pytest.Session) -> list[pytest.Item]:
    from crewstream_testing.contract.suite import PROMISES

    return [
        CrewstreamConformanceItem.from_parent(
            session,
            name=promise.id,
            nodeid=f"crewstream-conformance::{promise.id}",
            promise=promise,
        )
        for promise in PROMISES
    ]


def _conformance_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_SUITE, None)
    if report is None:
        return
    from crewstream_testing.contract.suite import KNOWN

    known = [result for result in report.results if result.status == KNOWN]
    terminalreporter.section(
        "crewstream conformance: known deviations of crewai " + str(report.crewai_version)
    )
    for result in known:
        terminalreporter.write_line(f"KNOWN DEVIATION {result.promise.id}: {result.promise.text}")
        terminalreporter.write_line(f"  why: {result.promise.known_deviation}")
        for line in result.evidence:
            terminalreporter.write_line(f"  evidence: {line}")
    counts = report.counts()
    terminalreporter.write_line(
        f"{counts['held']} held, {counts['known-deviation']} known deviations, {counts['broken']} broken, "
        f"{counts['unavailable']} unavailable"
    )
