"""Shared test set-up: warm crewai once, and fast in-process pytester runs of the plugin."""

from __future__ import annotations
import __future__

import ast
import asyncio
import builtins
import functools
import importlib
import operator
import pkgutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from crewstream_support import INNER_INI

if sys.version_info < (3, 12):
    # CPython 3.11 keeps the AST converters' recursion counter per interpreter,
    # not per thread (python/cpython#106905): two threads turning source into
    # AST objects, or AST objects into code, at once fail one of them with
    # "SystemError: AST constructor recursion depth mismatch". Here pytest's
    # assertion rewriting (main thread: ast.parse, then compile(tree)) met a
    # crewai flow thread still finishing, and failed CI runs twice: once with
    # only ast.parse serialized. Both directions are serialized for this
    # process: ast.parse, and builtins.compile when it takes or makes an AST.
    _ast_lock = threading.RLock()
    _ast_parse = ast.parse
    _compile = builtins.compile
    _FUTURE_FLAGS = functools.reduce(
        operator.or_,
        (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names),
    )

    @functools.wraps(_ast_parse)
    def _serialized_parse(*args: Any, **kwargs: Any) -> Any:
        with _ast_lock:
            return _ast_parse(*args, **kwargs)

    @functools.wraps(_compile)
    def _serialized_compile(
        source: Any,
        filename: Any,
        mode: str,
        flags: int = 0,
        dont_inherit: bool = False,
        **kwargs: Any,
    ) -> Any:
        if not dont_inherit:
            # compile() inherits the future statements of the code calling it: the caller's
            # (this wrapper has none of its own to give away once dont_inherit is set)
            flags |= sys._getframe(1).f_code.co_flags & _FUTURE_FLAGS
        if isinstance(source, ast.AST) or flags & ast.PyCF_ONLY_AST:
            with _ast_lock:
                return _compile(source, filename, mode, flags, True, **kwargs)
        return _compile(source, filename, mode, flags, True, **kwargs)

    ast.parse = _serialized_parse
    builtins.compile = _serialized_compile


@pytest.fixture(scope="session")
def warm_crewai() -> None:
    """crewai imported and one Flow run, once per session, before any pytester snapshot.

    In-process pytester runs restore ``sys.modules`` afterwards, and crewai
    imports heavy modules lazily (numpy, lancedb, a Rust extension) that cannot
    be loaded twice in one process: loading them all out here first means an
    inner run imports nothing of crewai's, and saves 3-5 s per inner run.
    """
    import hypothesis  # noqa: F401  (its pytest plugin imports it lazily in every inner run)
    from crewai.flow import Flow, start

    from crewstream_testing.hermetic import CrewaiIsolation

    class Warm(Flow):  # type: ignore[type-arg]
        @start()
        def go(self) -> str:
            return "warm"

    with tempfile.TemporaryDirectory() as storage, CrewaiIsolation(Path(storage)):
        for _ in Warm().stream_events():
            pass

        async def consume() -> None:
            async for _ in Warm().astream():
                pass

        # not asyncio.run: under pytest-asyncio 1.5 it leaves an unclosed loop behind, which a
        # later test then reports as an unraisable ResourceWarning (an error under -W error)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(consume())
        finally:
            loop.close()
    # crewai's OpenAI provider (the openai SDK, its Rust JSON parser) for inner
    # runs that record real LLM calls against tests/crewstream_support/sse_server.py.
    import crewai.llms.providers.openai.completion  # noqa: F401

    # every module of ours imported (and assertion-rewritten) once out here: an inner
    # run then imports, and rewrites, none of them while a flow thread may be running
    import crewstream_testing

    for module in pkgutil.walk_packages(crewstream_testing.__path__, "crewstream_testing."):
        if module.name != "crewstream_testing.__main__":
            importlib.import_module(module.name)


@pytest.fixture
def inner(
    warm_crewai: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """``pytester`` with crewai warm and an ini file that keeps the inner runs free of warnings.

    ``CI`` is unset, so the inner runs' default record mode is ``once`` wherever
    this suite runs; a test that wants CI's ``none`` default sets ``CI`` itself.
    """
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini(INNER_INI)
    return pytester
