"""The ``crewstream`` plugin manager: hooks from conftest modules and installed packages.

This is the only module that reads the plugin manager. Everything else is
handed its hooks (``Normalizer(frame_hooks=...)``, ``Redactor(hook=...)``,
``check_frames(routes=...)``, the LLM tape's ``match_request=``): the pytest
plugin, the CLI and ``Hooks.current()`` fetch them here and pass them on, so
the core modules never import this one.

Outside pytest, implementations come from the ``crewstream`` entry-point
group, loaded once on first use. Under pytest the plugin also registers every
conftest module, so a ``crewstream_*`` function there takes part.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pluggy

from crewstream_testing import hookspecs

if TYPE_CHECKING:
    from crewstream_testing.recorder import Recorder

FrameHookFn = Callable[[dict[str, Any], Any], None]
"""``hook(frame, context)``: a ``crewstream_normalize_frame`` implementation, called positionally."""
RedactHookFn = Callable[..., Any]
"""``hook(record=..., context=...)``: the ``crewstream_redact`` implementations."""
MatchRequestFn = Callable[..., "bool | None"]
"""``hook(recorded=..., request=...)``: the first ``crewstream_match_request`` answer, or None."""
RouteTable = Mapping[str, "str | Iterable[str]"]

hookimpl = pluggy.HookimplMarker("crewstream")
"""Marker for hook implementations that need options (``tryfirst``, ``wrapper`` ...)."""

ENTRY_POINT_GROUP = "crewstream"


class CrewstreamPluginManager(pluggy.PluginManager):
    """A PluginManager that also accepts unmarked functions named ``crewstream_*``."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        if not name.startswith("crewstream_"):
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            return opts
        # Only plain functions: a fixture named crewstream_* is no hook.
        if not inspect.isfunction(getattr(plugin, name, None)):
            return None
        return cast(pluggy.HookimplOpts, {})


_manager: CrewstreamPluginManager | None = None


def get_plugin_manager() -> CrewstreamPluginManager:
    """The process-wide manager, with the hookspecs added and entry points loaded."""
    global _manager
    if _manager is None:
        manager = CrewstreamPluginManager("crewstream")
        manager.add_hookspecs(hookspecs)
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        _manager = manager
    return _manager


def register(plugin: Any) -> None:
    """Register a module or object holding ``crewstream_*`` hook functions (once)."""
    manager = get_plugin_manager()
    if not manager.is_registered(plugin):
        manager.register(plugin)


def unregister(plugin: Any) -> None:
    """Remove a plugin registered with ``register``; unknown plugins are ignored."""
    manager = get_plugin_manager()
    if manager.is_registered(plugin):
        manager.unregister(plugin)


_adopted: dict[int, list[Any]] = {}


def adopt(plugin: Any, owner: int) -> None:
    """Register ``plugin`` (a conftest module, a ``-p`` plugin) under ``owner`` (a pytest run's id).

    pytest only collects hooks named ``pytest_*``; this manager takes the
    ``crewstream_*`` functions. ``release(owner)`` unregisters them when that
    run ends (pytester nests runs in one process).
    """
    register(plugin)
    _adopted.setdefault(owner, []).append(plugin)


def release(owner: int) -> None:
    """Unregister every plugin ``adopt`` registered under ``owner``."""
    for plugin in _adopted.pop(owner, []):
        unregister(plugin)


def frame_hooks() -> list[FrameHookFn]:
    """The normalize-frame hook as a list of one callable, or empty when nobody implements it."""
    hook = get_plugin_manager().hook.crewstream_normalize_frame
    if not hook.get_hookimpls():
        return []
    return [lambda frame, context: hook(frame=frame, context=context)]


def redact_hook() -> RedactHookFn | None:
    """The ``crewstream_redact`` hook (``hook(record=..., context=...)``), or None when nobody implements it."""
    hook = get_plugin_manager().hook.crewstream_redact
    return hook if hook.get_hookimpls() else None


def match_request_hook() -> MatchRequestFn | None:
    """The ``crewstream_match_request`` hook (``hook(recorded=..., request=...)``), or None when nobody implements it."""
    hook = get_plugin_manager().hook.crewstream_match_request
    return hook if hook.get_hookimpls() else None


def configure_recorder(recorder: Recorder) -> None:
    """Run the ``crewstream_configure_recorder`` implementations on a new ``recorder``."""
    get_plugin_manager().hook.crewstream_configure_recorder(recorder=recorder)


@dataclass(frozen=True)
class Hooks:
    """Every ``crewstream_*`` hook in force, fetched once and handed to the core objects that run them."""

    frame: tuple[FrameHookFn, ...] = ()
    redact: RedactHookFn | None = None
    match_request: MatchRequestFn | None = None
    routes: tuple[RouteTable, ...] = ()

    @classmethod
    def current(cls) -> Hooks:
        """The hooks registered now (conftest modules, ``-p`` plugins, entry points)."""
        return cls(
            frame=tuple(frame_hooks()),
            redact=redact_hook(),
            match_request=match_request_hook(),
            routes=tuple(channel_route_tables()),
        )

    def route_table(self) -> dict[str, str | Iterable[str]]:
        """The hooked routes merged into one table (later plugins win type by type), for ``check_frames(routes=...)``."""
        merged: dict[str, str | Iterable[str]] = {}
        for table in self.routes:
            merged.update(table)
        return merged


def channel_route_tables() -> list[RouteTable]:
    """The ``crewstream_channel_routes`` results, earliest-registered plugin first (later ones win)."""
    hook = get_plugin_manager().hook.crewstream_channel_routes
    if not hook.get_hookimpls():
        return []
    return [routes for routes in reversed(hook()) if routes]
