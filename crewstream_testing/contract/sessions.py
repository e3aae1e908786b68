"""What counts as a stream session: crewai's ``StreamSession`` / ``AsyncStreamSession`` (the
Protocols of ``frames``), or an object of the same shape, such as a bridge's own session.

``result`` raises until the run has ended, so it is looked up on the class and
never read; ``frames`` and ``is_exhausted`` may be plain instance attributes.
crewai is never imported.
"""

from __future__ import annotations

from typing import Any

from crewstream_testing.frames import is_async_stream_session, is_stream_session


def _shaped(obj: Any, *methods: str) -> bool:
    cls = type(obj)
    return (
        hasattr(cls, "result")
        and hasattr(obj, "frames")
        and hasattr(obj, "is_exhausted")
        and all(hasattr(cls, name) for name in methods)
    )


def is_async_session(obj: Any) -> bool:
    """``obj`` is an ``AsyncStreamSession``, or shaped like one (``aclose``, ``__aiter__``, no ``close``)."""
    return is_async_stream_session(obj) or (
        _shaped(obj, "aclose", "__aiter__") and not hasattr(obj, "close")
    )


def is_session(obj: Any) -> bool:
    """``obj`` is a ``StreamSession`` or an ``AsyncStreamSession``, or shaped like one."""
    return is_stream_session(obj) or is_async_session(obj) or _shaped(obj, "__iter__")
