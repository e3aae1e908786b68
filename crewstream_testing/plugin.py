"""pytest wiring only: options, ini keys, the marker, fixtures and hooks forwarding to the core.

Loading this module must stay cheap: it imports neither crewai nor the recorder; fixtures
import what they need when a test asks for them. The work lives beside it: one test's cassette
in ``binding.py``, hygiene in ``_pytest_hygiene.py``, the suite's items in ``_conformance_item.py``.

Option precedence, highest first (for the record mode and the clock):
the command-line flag, then the test's ``@pytest.mark.crewstream(...)``
argument, then the ini key, then the default (record mode ``none`` when the
``CI`` environment variable is set, ``once`` otherwise; clock ``virtual``).
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.kinds import RECORD_MODES, MarkerOptions
from crewstream_testing.redact.messages import plain_failure

if TYPE_CHECKING:
    from crewstream_testing.binding import CassetteBinding
    from crewstream_testing.llm.fake import FakeLLM
    from crewstream_testing.recorder import Recorder

MARKER = "crewstream"
pytest_plugins = ["crewstream_testing._pytest_playback"]  # playback=, loop_time= tests

# Every command-line flag (``--...``) and ini key, in --help order: (name, kind, default, help).
# kind: "flag" (store_true), "mode" (a record mode or None), or the ini type.
# fmt: off
SETTINGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--crewstream-record", "mode", None, "cassette record mode (default: 'none' when $CI is set, else 'once')"),
    ("crewstream_record_mode", "string", "", "default record mode (none, once, new_episodes, all)"),
    ("crewstream_cassette_dir", "string", "", "directory for cassettes, relative to rootdir (default: cassettes/ beside each test file)"),
    ("crewstream_clock", "string", "virtual", "virtual (frozen, exact timestamps) or real"),
    ("crewstream_hermetic", "bool", True, "isolate crewai in tests that use crewstream (telemetry off, temp storage, handlers reset)"),
    ("crewstream_quiet", "bool", True, "silence crewai's console rendering during tests"),
    ("crewstream_redaction", "bool", True, "redact secrets before any cassette or snapshot is written"),
    ("crewstream_redact_patterns", "linelist", [], "extra regular expressions to redact, one per line (only the group named 'secret' when present)"),
    ("crewstream_redact_paths", "linelist", [], "extra JSON paths redacted in every cassette line, one per line ('*' one key, '**' any keys)"),
    ("crewstream_allowed_cassette_dirs", "linelist", [], "directories outside rootdir that cassettes may live in, one per line (relative to rootdir)"),
    ("--crewstream-block-network", "flag", False, "fail any connection to a non-loopback address, in every test (always on in record mode 'none' for tests that use crewstream)"),
    ("crewstream_block_network", "bool", False, "as --crewstream-block-network: every test of the session is guarded"),
    ("--crewstream-unused", "flag", False, "report cassettes (in the directories of the collected test modules) that no collected test uses"),
    ("--crewstream-prune", "flag", False, "delete cassettes that no collected test uses (and temporary files of interrupted writes)"),
    ("--crewstream-report", "dir", None, "write an HTML view of every recorded test to DIR, with DIR/index.html"),
    ("crewstream_failure_report", "string", "", "where a failed comparison's HTML view goes (default .crewstream/reports; off: none)"),
    ("--crewstream-conformance", "flag", False, "run the streaming-contract conformance suite against the installed crewai instead of the tests"),
)
# fmt: on

_BINDING: pytest.StashKey[CassetteBinding] = pytest.StashKey()
_CALL_FAILED = pytest.StashKey[bool]()
_HELPERS = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crewstream", "crewstream: record/replay of CrewAI streams")
    for name, kind, default, help_text in SETTINGS:
        dest = name[2:].replace("-", "_")
        if kind == "flag":
            group.addoption(name, action="store_true", dest=dest, help=help_text)
        elif kind in ("mode", "dir"):
            choices = RECORD_MODES if kind == "mode" else None
            group.addoption(name, dest=dest, default=default, choices=choices, help=help_text)
        else:
            parser.addini(name, help_text, type=kind, default=default)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MarkerOptions.doc())
    if config.getini("crewstream_hermetic"):
        from crewstream_testing.hermetic import quiet_environment

        quiet_environment()
    # the conformance suite and the hygiene report: plugins loaded when asked for (hygiene last)
    from crewstream_testing.view.report import ViewReports  # failure views: on by default

    helpers: list[Any] = [ViewReports.from_config(config)]
    if config.getoption("crewstream_conformance", False):
        from crewstream_testing._conformance_item import ConformanceRun

        helpers.append(ConformanceRun())
    if config.getoption("crewstream_unused", False) or config.getoption("crewstream_prune", False):
        from crewstream_testing._pytest_hygiene import CassetteHygiene

        helpers.append(CassetteHygiene(lambda item: cassette_of(item, marker_options(item))))
    for helper in helpers:
        config.pluginmanager.register(helper)
    config.stash[_HELPERS] = helpers


def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    # crewstream_* functions of a conftest (or a -p plugin) go to crewstream's own manager.
    names = getattr(plugin, "__dict__", None) or {}
    if plugin is not sys.modules[__name__] and any(n.startswith("crewstream_") for n in names):
        from crewstream_testing.hooks import adopt

        adopt(plugin, id(manager))


def pytest_unconfigure(config: pytest.Config) -> None:
    for helper in config.stash.get(_HELPERS, []):
        config.pluginmanager.unregister(helper)
    if "crewstream_testing.hooks" in sys.modules:
        from crewstream_testing.hooks import release

        release(id(config.pluginmanager))


def marker_options(item: pytest.Item) -> MarkerOptions:
    """The test's ``@pytest.mark.crewstream(...)`` arguments (defaults when unmarked)."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return MarkerOptions()
    try:
        return MarkerOptions.from_marker(marker.args, marker.kwargs, item.nodeid)
    except CrewstreamUsageError as exc:  # a typo: the message alone, no traceback of ours
        raise pytest.fail.Exception(f"crewstream: {exc}", pytrace=False) from None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        marker = item.get_closest_marker(MARKER)
        if marker is None or not isinstance(item, pytest.Function):
            continue
        if "crewstream_hermetic" not in item.fixturenames:
            item.fixturenames.insert(0, "crewstream_hermetic")
        # the marker alone binds the test's cassette (capture on); last, so that its teardown
        # closes abandoned async sessions before the event-loop fixture closes their loop
        if "stream_recorder" not in item.fixturenames and "playback" not in marker.kwargs:
            item.fixturenames.append("stream_recorder")
    if any("stream_recorder" in getattr(item, "fixturenames", ()) for item in items):
        from crewstream_testing._pytest_hygiene import check_collisions  # bound tests only

        check_collisions(items, lambda item: marker_options(item).cassette)


@pytest.fixture
def crewstream_hermetic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """crewai isolated for this test (unless ``hermetic=False`` or ini ``crewstream_hermetic = false``)."""
    hermetic = marker_options(request.node).hermetic
    if not (request.config.getini("crewstream_hermetic") if hermetic is None else hermetic):
        yield
        return
    from crewstream_testing._pytest_hygiene import crewai_isolation

    with crewai_isolation(request.config, tmp_path_factory):
        yield


def cassette_of(item: pytest.Item, options: MarkerOptions, warn: bool = False) -> Path:
    """The cassette of ``item`` (``crewstream_cassette_dir``, the marker's ``cassette=``, the test name), confined."""
    from crewstream_testing._pytest_hygiene import resolve_cassette

    return resolve_cassette(item, options.cassette, warn=warn)


@pytest.fixture
def stream_recorder(
    request: pytest.FixtureRequest, crewstream_hermetic: None
) -> Iterator[Recorder]:
    """A Recorder bound to this test's cassette; every session crewai creates in the test is recorded.

    Once the body passed, the streams are written to, or compared with, the cassette (record mode).
    """
    from crewstream_testing.binding import CassetteBinding, CrewstreamError

    config, item = request.config, request.node
    try:  # a marker typo, a bad cassette (file:line, fix) or lock: the message, no traceback of ours
        options = marker_options(item)
        binding = CassetteBinding.for_test(
            cassette_of(item, options, warn=True),
            options,
            cli_mode=config.getoption("crewstream_record"),
            ini=config.getini,
            test_id=item.nodeid,
        )
        item.stash[_BINDING] = binding
        recorder = binding.start()
    except CrewstreamError as exc:  # start() fails before it activates anything
        raise pytest.fail.Exception(f"crewstream: {exc}", pytrace=False) from None
    try:
        yield recorder
    finally:
        binding.stop()
    if item_failed(item) and (problem := binding.unread_problem()):  # a damaged frame line
        raise pytest.fail.Exception(f"crewstream: {problem}", pytrace=False)


@pytest.fixture
def fake_llm(request: pytest.FixtureRequest) -> Iterator[FakeLLM]:
    """A ``FakeLLM`` for this test; script it with ``fake_llm.add(reply(...), ...)``.

    At teardown, after a passing test body, unused replies fail it (unless marker ``allow_unused=True``).
    """
    from crewstream_testing.llm.fake import FakeLLM

    llm = FakeLLM()
    yield llm
    llm.close()
    if not item_failed(request.node) and not marker_options(request.node).allow_unused:
        llm.assert_all_consumed()


@pytest.fixture
def crewstream_snapshot(
    snapshot: Any, request: pytest.FixtureRequest, crewstream_hermetic: None
) -> Any:
    """syrupy's ``snapshot`` storing frames as normalized ``.jsonl``: ``assert crewstream_snapshot == frames``.

    Redacted as cassettes are (``crewstream_redaction``, ``crewstream_redact_patterns``,
    ``crewstream_redact_paths``); crewai isolated as for ``stream_recorder``.
    """
    from crewstream_testing.binding import redactor_from_ini
    from crewstream_testing.hooks import Hooks
    from crewstream_testing.snapshot import CrewstreamSnapshotExtension

    hooks = Hooks.current()
    extension = CrewstreamSnapshotExtension.configured(
        redactor=redactor_from_ini(request.config.getini, hooks), frame_hooks=hooks.frame
    )
    return snapshot.use_extension(extension)


def item_failed(item: pytest.Item) -> bool:
    """Whether the test body (call phase) of ``item`` failed."""
    return item.stash.get(_CALL_FAILED, False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and call.excinfo is not None:  # failed, or xfailed
        item.stash[_CALL_FAILED] = True
        report.longrepr = (report.failed and plain_failure(call.excinfo)) or report.longrepr
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, Any, Any]:
    from crewstream_testing._pytest_hygiene import network_guard

    with network_guard(item, lambda item: marker_options(item).record):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        # A FakeLLM with scripted latency and no running clock froze time on its own.
        fake = sys.modules.get("crewstream_testing.llm.fake")
        if fake is not None:
            fake.stop_owned_clocks()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Compare or write the cassette in the call phase, once the body passed,
    # so that a divergence is reported as a test failure, not a teardown error.
    try:
        result = yield
    finally:  # durations and reports on the real clock, also after a failing body
        if (clock := sys.modules.get("crewstream_testing.clock")) is not None:
            clock.release_clocks()
    binding = item.stash.get(_BINDING, None)
    fake = getattr(item, "funcargs", {}).get("fake_llm")  # answered calls: the test is not empty
    problem = None if binding is None else binding.failure(fake)
    problem = item.config.stash[_HELPERS][0].after(item.nodeid, binding, problem)  # the views
    if problem is not None:
        pytest.fail(f"crewstream: {problem}", pytrace=False)
    return result


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: Any, right: Any
) -> list[str] | None:
    # Only lists/tuples of frames; everything else keeps pytest's own explanation.
    if op != "==" or not isinstance(left, list | tuple) or not isinstance(right, list | tuple):
        return None
    from crewstream_testing.contract.assertions import compare_frames_repr

    return compare_frames_repr(op, left, right)
