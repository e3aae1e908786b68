"""The ``crewstream`` plugin manager: hooks from conftest modules and installed packages.

Outside pytest, implementations come from the ``crewstream`` entry-point
group, loaded once on first use. Under pytest the plugin also registers every
conftest module, so a ``crewstream_*`` function there takes part.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import pluggy

from crewstream_testing import hookspecs

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


def frame_hooks() -> list[Any]:
    """The normalize-frame hook as a list of one callable, or empty when nobody implements it."""
    hook = get_plugin_manager().hook.crewstream_normalize_frame
    if not hook.get_hookimpls():
        return []
    return [lambda frame, context: hook(frame=frame, context=context)]


def channel_route_tables() -> list[Any]:
    """The ``crewstream_channel_routes`` results, earliest-registered plugin first (later ones win)."""
    hook = get_plugin_manager().hook.crewstream_channel_routes
    if not hook.get_hookimpls():
        return []
    return [routes for routes in reversed(hook()) if routes]
