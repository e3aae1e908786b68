"""The chunk engine: one LLM call emitted as crewai emits it, from a ``ReplyPlan``.

``run_plan`` / ``arun_plan`` run one ``call()`` / ``acall()`` on any
``BaseLLM``: inside ``llm_call_context``, ``llm_call_started``, then, only when
crewai's effective stream setting is on for the call, ``llm_thinking_chunk`` /
``llm_stream_chunk`` events, then ``llm_call_completed`` (or ``llm_call_failed``
and the error re-raised). ``FakeLLM`` runs its script through it; LLM replay
runs a recorded call through it. crewai is imported when a call runs, not
when this module is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import json
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from crewstream_testing.llm.script import Chunk, ReplyPlan

if TYPE_CHECKING:
    from crewai.llms.base_llm import BaseLLM


@dataclass
class CallArgs:
    """The arguments of one ``call()`` / ``acall()``."""

    messages: Any
    tools: list[dict[str, Any]] | None = None
    callbacks: list[Any] | None = None
    available_functions: dict[str, Any] | None = None
    from_task: Any = None
    from_agent: Any = None
    response_model: type[BaseModel] | None = None

    @classmethod
    def bind(cls, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> CallArgs:
        """Read ``call(messages, tools, callbacks, available_functions, from_task, from_agent, response_model)``."""
        names = (
            "messages",
            "tools",
            "callbacks",
            "available_functions",
            "from_task",
            "from_agent",
            "response_model",
        )
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for name in names:
            if name in kwargs:
                values[name] = kwargs[name]
        if "messages" not in values:
            raise TypeError("call() missing required argument: 'messages'")
        return cls(**values)


Delay = Callable[[float], Any]


def effective_stream(llm: BaseLLM) -> bool:
    """crewai's stream setting for this call (``call_stream_override`` first, then ``llm.stream``)."""
    getter = getattr(llm, "_effective_stream", None)
    if callable(getter):
        return bool(getter())
    return bool(getattr(llm, "stream", False))


def run_plan(
    llm: BaseLLM, args: CallArgs, resolve: Callable[[list[dict[str, Any]]], ReplyPlan], delay: Delay
) -> Any:
    """Run one call on ``llm`` synchronously: emit its events and return its value."""
    steps = _steps(llm, args, resolve, every_chunk=False)
    try:
        pause = next(steps)
        while True:
            if pause:
                delay(pause)
            pause = steps.send(None)
    except StopIteration as stop:
        return stop.value


async def arun_plan(
    llm: BaseLLM, args: CallArgs, resolve: Callable[[list[dict[str, Any]]], ReplyPlan], delay: Delay
) -> Any:
    """``run_plan`` for ``acall()``: yields to the event loop between chunks."""
    steps = _steps(llm, args, resolve, every_chunk=True)
    try:
        pause = next(steps)
        while True:
            if pause:
                waited = delay(pause)
                if inspect.isawaitable(waited):
                    await waited
            await asyncio.sleep(0)
            pause = steps.send(None)
    except StopIteration as stop:
        return stop.value


def _steps(
    llm: BaseLLM,
    args: CallArgs,
    resolve: Callable[[list[dict[str, Any]]], ReplyPlan],
    *,
    every_chunk: bool,
) -> Generator[float, None, Any]:
    """The call as a generator: yields the delay before each chunk, returns the value.

    With ``every_chunk`` False a chunk without delay is emitted without a yield:
    a synchronous run does nothing on a zero pause, and a 10,000-chunk replay
    then pays no generator round trip per chunk.
    """
    from crewai.llms.base_llm import llm_call_context

    with llm_call_context():
        try:
            _emit(
                llm._emit_call_started_event,
                messages=args.messages,
                tools=args.tools,
                callbacks=args.callbacks,
                available_functions=args.available_functions,
                from_task=args.from_task,
                from_agent=args.from_agent,
            )
            formatted: list[dict[str, Any]] = [dict(m) for m in llm._format_messages(args.messages)]
            before = getattr(llm, "_invoke_before_llm_call_hooks", None)
            if callable(before):
                before(formatted, args.from_agent)
            plan = resolve(formatted)
            stream = effective_stream(llm)
            if plan.recorded_chunks is not None:
                recorded = plan.recorded_chunks
                if plan.error is not None:
                    recorded = recorded[: plan.error_after]
                if stream:
                    emit_recorded = _recorded_emitter(llm, args)
                    midstream = _runs_before_chunks(plan.tool_runs, len(recorded))
                    for index, record in enumerate(recorded):
                        if every_chunk:
                            yield 0.0
                        if index in midstream:
                            _run_recorded_tools(llm, plan, args, midstream[index], stream=True)
                        emit_recorded(record)
                    if midstream:
                        plan = dataclasses.replace(
                            plan,
                            tool_runs=[
                                run for run in plan.tool_runs if _after_chunks(run) >= len(recorded)
                            ],
                        )
                if plan.error is not None:
                    raise plan.error
                return _complete(llm, plan, args, formatted, stream=stream)
            chunks = plan.chunks if plan.error is None else plan.chunks[: plan.error_after]
            if stream:
                emit = _chunk_emitter(llm, args)
                for chunk in chunks:
                    if every_chunk or chunk.delay:
                        yield chunk.delay
                    emit(chunk)
            else:
                total = sum(chunk.delay for chunk in chunks)
                if total:
                    yield total
            if plan.error is not None:
                raise plan.error
            return _complete(llm, plan, args, formatted, stream=stream)
        except Exception as exc:
            _fail(llm, exc, args, plan_error_event(exc))
            raise


_CALL_TYPES: dict[str, Any] = {}


def _call_types() -> dict[str, Any]:
    """crewai's ``LLMCallType`` members by value (imported on the first call, not with this module)."""
    if not _CALL_TYPES:
        from crewai.events.types.llm_events import LLMCallType

        _CALL_TYPES.update((member.value, member) for member in LLMCallType)
    return _CALL_TYPES


_TEXT_CHUNK_KEYWORDS = frozenset(
    ("chunk", "from_task", "from_agent", "tool_call", "call_type", "response_id")
)


def _chunk_emitter(llm: BaseLLM, args: CallArgs) -> Callable[[Chunk], None]:
    """Emits the chunks of one call; the emitter's keywords are looked up once, not per chunk."""
    emit_text = llm._emit_stream_chunk_event
    if not _accepted_names(emit_text).issuperset(_TEXT_CHUNK_KEYWORDS):
        return lambda chunk: _emit_chunk(llm, chunk, args)  # an older crewai: filter per chunk
    from_task, from_agent = args.from_task, args.from_agent
    call_types = _call_types()

    def emit(chunk: Chunk) -> None:
        if chunk.kind == "thinking":
            _emit_chunk(llm, chunk, args)
            return
        tool_call, call_type = chunk.tool_call, chunk.call_type
        emit_text(
            chunk=chunk.text,
            from_task=from_task,
            from_agent=from_agent,
            tool_call=dict(tool_call) if tool_call is not None else None,
            call_type=None if call_type is None else call_types[call_type],
            response_id=chunk.response_id,
        )

    return emit


def _recorded_emitter(llm: BaseLLM, args: CallArgs) -> Callable[[Mapping[str, Any]], None]:
    """Emits a replayed call's stored chunk dicts: plain text chunks straight from the dict."""
    emit = _chunk_emitter(llm, args)

    def as_chunk(record: Mapping[str, Any]) -> None:
        get = record.get
        emit(
            Chunk(
                get("kind", "text"),
                get("text", ""),
                get("tool_call"),
                get("call_type"),
                get("response_id"),
            )
        )

    emit_text = llm._emit_stream_chunk_event
    if not _accepted_names(emit_text).issuperset(_TEXT_CHUNK_KEYWORDS):
        return as_chunk
    from_task, from_agent = args.from_task, args.from_agent
    call_types = _call_types()

    def emit_record(record: Mapping[str, Any]) -> None:
        get = record.get
        if get("kind", "text") != "text" or get("tool_call") is not None:
            as_chunk(record)  # thinking and tool-call chunks, as any other reply's
            return
        call_type = get("call_type")
        emit_text(
            chunk=get("text", ""),
            from_task=from_task,
            from_agent=from_agent,
            tool_call=None,
            call_type=None if call_type is None else call_types[call_type],
            response_id=get("response_id"),
        )

    return emit_record


def _emit_chunk(llm: BaseLLM, chunk: Chunk, args: CallArgs) -> None:
    if chunk.kind == "thinking":
        _emit(
            llm._emit_thinking_chunk_event,
            chunk=chunk.text,
            from_task=args.from_task,
            from_agent=args.from_agent,
            response_id=chunk.response_id,
        )
        return
    _emit(
        llm._emit_stream_chunk_event,
        chunk=chunk.text,
        from_task=args.from_task,
        from_agent=args.from_agent,
        tool_call=dict(chunk.tool_call) if chunk.tool_call is not None else None,
        call_type=None if chunk.call_type is None else _call_types()[chunk.call_type],
        response_id=chunk.response_id,
    )


def _complete(
    llm: BaseLLM,
    plan: ReplyPlan,
    args: CallArgs,
    formatted: list[dict[str, Any]],
    *,
    stream: bool,
) -> Any:
    if plan.usage:
        llm._track_token_usage_internal(plan.usage)
    tools_answered = False
    if plan.tool_runs:
        returned = _run_recorded_tools(llm, plan, args, plan.tool_runs, stream=stream)
        if returned is not None and not plan.completes:
            return returned
        # a provider that sends the tool's output back to the model and completes with
        # its answer (crewai's Bedrock) recorded a completion after the run: it is replayed
        tools_answered = returned is not None
    if not plan.completes:
        return plan.result
    if plan.tool_calls and args.available_functions and not tools_answered:
        # What providers do when the caller hands them the functions: run the
        # first tool that answers and return its result (its own events included).
        for call in plan.tool_calls:
            function = call.get("function", {})
            name, arguments = function.get("name"), function.get("arguments")
            if not name or not arguments or name not in args.available_functions:
                continue
            try:
                parsed = json.loads(arguments)
            except json.JSONDecodeError:
                continue
            result = llm._handle_tool_execution(
                function_name=name,
                function_args=parsed,
                available_functions=args.available_functions,
                from_task=args.from_task,
                from_agent=args.from_agent,
            )
            if result is not None:
                return result
        plan = ReplyPlan(
            response=plan.text,
            call_type="llm_call",
            result=plan.text,
            usage=plan.usage,
            finish_reason=plan.finish_reason,
            response_id=plan.response_id,
            event_messages=plan.event_messages,
        )
    if plan.event_messages is None:
        _emit(
            llm._emit_call_completed_event,
            response=plan.response,
            call_type=_call_types()[plan.call_type],
            from_task=args.from_task,
            from_agent=args.from_agent,
            messages=formatted,
            usage=plan.usage,
            finish_reason=plan.finish_reason,
            response_id=plan.response_id,
        )
    else:
        _emit_completed_as_recorded(llm, plan, args)
    result = plan.result
    after = getattr(llm, "_invoke_after_llm_call_hooks", None)
    if isinstance(result, str) and callable(after):
        result = after(formatted, result, args.from_agent)
    return result


def _after_chunks(run: Mapping[str, Any]) -> int:
    after = run.get("after_chunks")
    return after if isinstance(after, int) else -1


def _runs_before_chunks(
    runs: Sequence[Mapping[str, Any]], chunks: int
) -> dict[int, list[Mapping[str, Any]]]:
    """Tools recorded as run between two chunks: the index of the chunk each came before.

    Where the provider ran the tool is what was recorded (``after_chunks``): crewai's
    native providers run it after the stream, its litellm path as soon as a tool
    call's arguments parse, mid-stream, and streams the tool's output as a chunk.
    """
    before: dict[int, list[Mapping[str, Any]]] = {}
    for run in runs:
        after = _after_chunks(run)
        if 0 <= after < chunks:
            before.setdefault(after, []).append(run)
    return before


def _run_recorded_tools(
    llm: BaseLLM,
    plan: ReplyPlan,
    args: CallArgs,
    runs: Sequence[Mapping[str, Any]],
    *,
    stream: bool,
) -> Any:
    """Run the tools a provider ran inside the recorded call, as the provider runs them.

    crewai's tool runner for this LLM class runs the app's function with the
    recorded arguments and emits ``tool_usage_started`` / ``finished`` and the
    tool's completed event (or ``tool_usage_error`` and ``llm_call_failed``);
    a value ends the call with it, ``None`` (the tool raised, or is missing)
    lets the call go on to its recorded completion.
    """
    run_tool = _tool_runner(llm, args, stream=stream)
    for run in runs:
        seen: list[dict[str, Any]] = []
        functions = watch_functions(args.available_functions, seen) or {}
        arguments = run.get("arguments")
        returned = run_tool(
            str(run.get("name")),
            dict(arguments) if isinstance(arguments, Mapping) else {},
            functions,
        )
        if plan.check_tool_run is not None:
            plan.check_tool_run(run, seen[0] if seen else None, returned)
        if returned is not None:
            return returned
    return None


def _tool_runner(
    llm: BaseLLM, args: CallArgs, *, stream: bool
) -> Callable[[str, dict[str, Any], dict[str, Any]], Any]:
    """crewai's own code that runs a tool for this LLM class.

    Native providers use ``BaseLLM._handle_tool_execution``. crewai's litellm
    ``LLM`` has its own ``_handle_tool_call`` (other event order, errors as
    ``Tool execution error: ...``, the value not turned into a string), which it
    hands tool-call objects read through ``.function.name`` / ``.arguments``;
    its streaming handler calls it without the task and agent, the
    non-streaming one with them.
    """
    handle_tool_call = getattr(llm, "_handle_tool_call", None)
    if callable(handle_tool_call):

        def run_litellm_style(
            name: str, arguments: dict[str, Any], functions: dict[str, Any]
        ) -> Any:
            call = SimpleNamespace(
                function=SimpleNamespace(name=name, arguments=json.dumps(arguments))
            )
            if stream:
                return handle_tool_call([call], functions)
            return handle_tool_call([call], functions, args.from_task, args.from_agent)

        return run_litellm_style

    def run_native(name: str, arguments: dict[str, Any], functions: dict[str, Any]) -> Any:
        return llm._handle_tool_execution(
            function_name=name,
            function_args=arguments,
            available_functions=functions,
            from_task=args.from_task,
            from_agent=args.from_agent,
        )

    return run_native


def watch_functions(
    functions: Mapping[str, Any] | None, seen: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """``functions`` with each one wrapped so ``seen`` gets what each run returned or raised (replay).

    The wrapper is transparent: same arguments, same value, the same exception
    re-raised. crewai's providers only call ``available_functions[name](**args)``.
    """
    if not functions:
        return None if functions is None else dict(functions)

    def watched(name: str, function: Any) -> Any:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                value = function(*args, **kwargs)
            except Exception as exc:
                seen.append({"raised": type(exc).__name__, "message": str(exc)})
                raise
            seen.append({"returned": value})
            return value

        return run

    return {name: watched(name, function) for name, function in functions.items()}


def _emit_completed_as_recorded(llm: BaseLLM, plan: ReplyPlan, args: CallArgs) -> None:
    # A replayed call whose completed event carried messages other than the
    # request's: they were serialized (and cut at crewai's depth limit) when
    # recorded, so they go on the event as they are, not serialized again.
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.llm_events import LLMCallCompletedEvent
    from crewai.llms.base_llm import get_current_call_id

    fields: dict[str, Any] = {
        "messages": plan.event_messages,
        "response": plan.response,
        "call_type": _call_types()[plan.call_type],
        "from_task": args.from_task,
        "from_agent": args.from_agent,
        "model": llm.model,
        "call_id": get_current_call_id(),
        "usage": plan.usage,
        "finish_reason": plan.finish_reason,
        "response_id": plan.response_id,
    }
    known = LLMCallCompletedEvent.model_fields
    crewai_event_bus.emit(
        llm, event=LLMCallCompletedEvent(**{k: v for k, v in fields.items() if k in known})
    )


_ERROR_EVENT_ATTR = "_crewstream_error_event"


def plan_error_event(exc: BaseException) -> str:
    """The text a failed event carries for ``exc`` (a replayed error keeps the recorded one)."""
    text = getattr(exc, _ERROR_EVENT_ATTR, None)
    return text if isinstance(text, str) else str(exc)


def mark_error_event(exc: BaseException, text: str | None) -> BaseException:
    """Make the failed event for ``exc`` carry ``text`` (used when replaying a recorded error)."""
    if text is not None:
        with contextlib.suppress(AttributeError):  # exceptions with __slots__
            setattr(exc, _ERROR_EVENT_ATTR, text)
    return exc


def _fail(llm: BaseLLM, exc: BaseException, args: CallArgs, text: str) -> None:
    denied = getattr(llm, "_emit_call_denied_event", None)
    if type(exc).__name__ in ("HookAborted", "LLMCallBlockedError") and callable(denied):
        denied(exc, args.from_task, args.from_agent)
        return
    _emit(
        llm._emit_call_failed_event,
        error=text,
        from_task=args.from_task,
        from_agent=args.from_agent,
    )


_accepted: dict[Any, frozenset[str]] = {}


def _accepted_names(method: Callable[..., Any]) -> frozenset[str]:
    function = getattr(method, "__func__", method)
    names = _accepted.get(function)
    if names is None:
        names = frozenset(inspect.signature(function).parameters)
        _accepted[function] = names
    return names


def _emit(method: Callable[..., Any], **kwargs: Any) -> None:
    # Older crewai releases take fewer keywords (no call_type / response_id /
    # finish_reason): pass only what this release's emitter accepts.
    names = _accepted_names(method)
    if names.issuperset(kwargs):
        method(**kwargs)
    else:
        method(**{k: v for k, v in kwargs.items() if k in names})
