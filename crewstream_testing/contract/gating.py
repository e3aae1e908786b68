"""Result gating: a session's ``.result`` raises until the stream has ended, then returns the
value, or re-raises the run's very exception object (``assert_result_gated``).
"""

from __future__ import annotations

from typing import Any

from crewstream_testing.chunks import is_chunk_output
from crewstream_testing.contract.sessions import is_async_session, is_session
from crewstream_testing.diff import short
from crewstream_testing.errors import CrewstreamUsageError, ResultGatingError

NOT_COMPLETED = "Streaming has not completed yet"
"""The start of the RuntimeError crewai raises when ``.result`` is read too early."""


def assert_result_gated(session: Any) -> Any:
    """Check the contract's result gating on a sync session, consuming it; returns the run's outcome.

    Before the stream is consumed, ``.result`` raises ``RuntimeError``; once it
    is consumed, ``.result`` returns the value; when the run raised, iterating
    raises the error and ``.result`` re-raises the same exception object.
    Returns the value, or the exception when the run raised. Pass a fresh
    session for the whole check; for one already consumed only the second half
    can be checked. Async sessions: ``await assert_result_gated_async(session)``.
    A legacy ``CrewStreamingOutput`` (``Crew(stream=True).kickoff()``) is
    checked the same way over its chunks.
    """
    __tracebackhide__ = True
    if not is_session(session) and not is_chunk_output(session):
        raise CrewstreamUsageError(
            f"assert_result_gated() takes a StreamSession or a CrewStreamingOutput, not {type(session).__name__}"
        )
    if is_async_session(session) or _async_output(session):
        raise CrewstreamUsageError(
            "assert_result_gated() got an AsyncStreamSession; use `await assert_result_gated_async(session)`"
        )
    error: BaseException | None = None
    if not session.is_completed:
        _assert_not_ready(session)
        try:
            for _ in session:
                pass
        except Exception as exc:  # the run's own error, checked below
            error = exc
    return _assert_after(session, error)


async def assert_result_gated_async(session: Any) -> Any:
    """``assert_result_gated`` for an ``AsyncStreamSession`` (consumed with ``async for``)."""
    __tracebackhide__ = True
    if not is_session(session) and not _async_output(session):
        raise CrewstreamUsageError(
            f"assert_result_gated_async() takes an AsyncStreamSession or an async CrewStreamingOutput, not {type(session).__name__}"
        )
    error: BaseException | None = None
    if not session.is_completed:
        _assert_not_ready(session)
        try:
            async for _ in session:
                pass
        except Exception as exc:  # the run's own error, checked below
            error = exc
    return _assert_after(session, error)


def _async_output(output: Any) -> bool:
    # kickoff_async / akickoff / kickoff_for_each_async outputs iterate with async for only
    return is_chunk_output(output) and getattr(output, "_async_iterator", None) is not None


def _assert_not_ready(session: Any) -> None:
    __tracebackhide__ = True
    try:
        value = session.result
    except RuntimeError as exc:
        if NOT_COMPLETED not in str(exc):
            raise ResultGatingError(
                f"before the stream was consumed, .result raised RuntimeError({str(exc)!r}); "
                f"expected RuntimeError({NOT_COMPLETED + '...'!r})"
            ) from exc
        return
    except Exception as exc:
        raise ResultGatingError(
            f"before the stream was consumed, .result raised {exc!r}; expected RuntimeError({NOT_COMPLETED + '...'!r})"
        ) from exc
    raise ResultGatingError(
        f"before the stream was consumed, .result returned {short(value)}; "
        "expected RuntimeError: a partial run must not look complete"
    )


def _assert_after(session: Any, error: BaseException | None) -> Any:
    __tracebackhide__ = True
    if error is None:
        error = getattr(session, "_error", None)
    if error is None:
        if not getattr(session, "is_exhausted", getattr(session, "_exhausted", False)):
            raise ResultGatingError(
                "the session was closed before it was consumed: pass a fresh session to assert_result_gated()"
            )
        try:
            return session.result
        except Exception as exc:
            raise ResultGatingError(
                f"the stream was consumed to its end, but .result raised {exc!r}; expected the run's value"
            ) from exc
    for attempt in ("first", "second"):
        try:
            value = session.result
        except BaseException as exc:
            if exc is not error:
                raise ResultGatingError(
                    f"the run raised {error!r}, but .result raised a different exception object on the "
                    f"{attempt} read: {exc!r}; expected the same object re-raised"
                ) from exc
            continue
        raise ResultGatingError(
            f"the run raised {error!r}, but .result returned {short(value)}; expected it to re-raise the error"
        )
    return error
