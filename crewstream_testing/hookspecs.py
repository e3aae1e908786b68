"""Hook specifications (pluggy, project ``crewstream``).

Implement them as plain functions named ``crewstream_*`` in a ``conftest.py``
(the pytest plugin registers every conftest module) or in a module exposed
through the ``crewstream`` entry-point group of an installed package. The
``crewstream_testing.hookimpl`` marker adds ordering options (``tryfirst`` ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from crewstream_testing.normalize import NormalizeContext
    from crewstream_testing.recorder import Recorder
    from crewstream_testing.redact.redactor import RedactContext

hookspec = pluggy.HookspecMarker("crewstream")


@hookspec
def crewstream_normalize_frame(frame: dict[str, Any], context: NormalizeContext) -> None:
    """Normalize one frame further, in place, after the built-in rules ran.

    ``frame`` is the normalized envelope as a dict; replace volatile values with
    ``context.placeholder(kind, value)`` so equal values get equal placeholders
    across the streams of the cassette.
    """


@hookspec
def crewstream_configure_recorder(recorder: Recorder) -> None:
    """Adjust a Recorder when the ``stream_recorder`` fixture creates it.

    A Recorder built by hand runs no hook unless handed them:
    ``crewstream_testing.hooks.configure_recorder(recorder)`` runs this one.
    """


@hookspec
def crewstream_redact(record: dict[str, Any], context: RedactContext) -> None:
    """Redact one cassette line further, in place, after the built-in rules ran.

    ``record`` is the line as a dict (``kind`` is ``stream``, ``frame``, ``end``
    or ``llm_call``); replace a secret with ``context.marker(secret)`` so the same
    secret gets the same ``<redacted:N>`` marker everywhere in the cassette.
    Runs before any cassette or snapshot is written and in ``crewstream scrub``.
    """


@hookspec
def crewstream_channel_routes() -> Mapping[str, str | Iterable[str]] | None:
    """Channel routes for frame types ``check_frames`` should know: ``{type: channel or channels}``.

    Return the routes of your own event types (a ``FlowEvent`` subclass routes
    to ``flow``) so that a frame of that type on another channel is reported.
    Routes of later-registered plugins replace earlier ones type by type; the
    built-in table (crewai's own types) comes first.
    """


@hookspec(firstresult=True)
def crewstream_match_request(recorded: dict[str, Any], request: dict[str, Any]) -> bool | None:
    """Decide whether a recorded LLM call serves a live request during replay.

    ``recorded`` is the request stored in the cassette, ``request`` the live
    one normalized and redacted the same way (placeholders may be numbered
    differently). Return True (it matches), False (it does not) or None (let
    the default decide: model, messages and tools equal). Recorded calls are
    offered in recording order, unused ones only; the first match is used.
    """
