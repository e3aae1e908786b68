"""What counts as a crewai stream session, read from its class (crewai is never imported)."""

from __future__ import annotations

from typing import Any


def is_session(obj: Any) -> bool:
    """``obj`` is shaped like a crewai ``StreamSession`` or ``AsyncStreamSession``."""
    return hasattr(obj, "frames") and hasattr(obj, "is_exhausted") and hasattr(obj, "subscribe")


def is_async_session(obj: Any) -> bool:
    """``obj`` is shaped like a crewai ``AsyncStreamSession`` (``aclose``, no ``close``)."""
    return is_session(obj) and hasattr(obj, "aclose") and not hasattr(obj, "close")
