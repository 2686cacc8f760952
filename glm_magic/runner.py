"""One run: a checked request through the client, into a view and a result.

The magic and the Python API both end here, so they behave the same; so does
the tool loop, which runs the model's function calls between replies. An
interrupt is caught here (wherever it lands: in the socket read or in the
view) and turned into a result that keeps the partial text.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import ledger, prices, store, structured
from .client import Client, get_client
from .errors import GLMUsageError, redact
from .events import (
    AnswerDelta,
    Ended,
    Event,
    Started,
    ThinkingDelta,
    ToolCall,
    ToolCallDone,
    ToolCallStarted,
)
from .request import Options, Request, build_request
from .result import Collector, GLMResult
from .settings import Settings, key_source
from .tools import Toolbox
from .views import View, choose_view

if TYPE_CHECKING:
    from .pacing import Gate

#: Notebook functions are not written for threads: a batch's workers run tools one at a
#: time. Re-entrant, since a tool may itself call ``glm_magic.complete(tools=...)``.
_TOOL_LOCK = threading.RLock()


def run(
    request: Request,
    settings: Settings,
    view: View | None,
    prompt: str = "",
    *,
    keep: bool = True,
    client: Client | None = None,
    stop: threading.Event | None = None,
    gate: Gate | None = None,
    tags: dict[str, Any] | None = None,
) -> GLMResult:
    """Stream ``request`` into ``view``; ``keep`` leaves the static rendering in place.

    With ``request.tools``, each reply that asks for tools has them run here,
    in the kernel, and the model is asked again with their results, at most
    ``settings.max_tool_rounds`` times. ``result.messages`` holds every message
    this run added after the user's (tool turns and the final answer).

    A batch passes its own ``client`` (a pool sized to its workers) and a
    ``stop`` event: worker threads get no KeyboardInterrupt, so they check it
    between events and end the item as interrupted, closing its stream. Its
    ``gate`` paces every HTTP attempt (tool rounds and retries included).

    Every run ends in the store (see :mod:`glm_magic.store`), with ``tags``
    saying what it belongs to (a chat turn, a batch item). With the cache on,
    an identical request that once completed is replayed from there instead
    of being sent, at once and without streaming.
    """
    sent = request
    if wants_cache(request, settings):
        hit = store.cached(request, settings)
        if hit is not None:
            return _replay(hit, request, settings, view, keep=keep, tags=tags)
    collector = Collector(request.model, prompt)
    added: list[dict[str, Any]] = []
    try:
        if client is None:
            client = get_client(settings.base_url, settings.api_key(), timeout=settings.timeout)
        for tool_rounds in itertools.count():
            if not _reply(client, request, settings, collector, view, stop, gate):
                break
            calls = collector.tool_calls()
            if not _wants_tools(collector, calls):
                break
            if request.tools is None:
                _no_tools(collector, calls)
                break
            if tool_rounds >= settings.max_tool_rounds:
                _too_many_rounds(collector, calls, settings.max_tool_rounds)
                break
            turn = _answer_tools(request.tools, calls, collector, view, stop)
            if turn is None:
                break
            added += turn
            request = replace(request, messages=[*request.messages, *turn])
            collector.next_round()
    except KeyboardInterrupt:
        collector.interrupted()
    except GLMUsageError:
        raise
    except Exception as exc:
        # A failure of ours or of the transport must not lose what arrived, nor
        # leave live widgets in the cell: the run ends like a provider error.
        collector.stop("error", redact(f"{type(exc).__name__}: {exc}", key_source()[1]), "internal")
    result = collector.result()
    if result.answer or result.complete:
        added.append({"role": "assistant", "content": result.answer})
    result.messages = added
    structured.finish(result, request.options)
    _price(result, settings)
    ledger.record(result)
    store.record(result, sent, settings, tags)
    if view is not None:
        view.finish(result, keep=keep)
    return result


def wants_cache(request: Request, settings: Settings) -> bool:
    """``--cache`` / ``--no-cache`` (``cache=``), else ``%config GLMMagics.cache``.

    The cache lives in the store: asking for it by option with the store off
    is a usage error, before anything is sent.
    """
    asked = request.options.cache
    if asked and not settings.log:
        msg = (
            "--cache replays runs from the store, which is off (%config GLMMagics.log = "
            "False or GLM_MAGIC_LOG=0). Turn the store on, or drop --cache."
        )
        raise GLMUsageError(msg)
    return settings.log and (settings.cache if asked is None else asked)


def _replay(
    result: GLMResult,
    request: Request,
    settings: Settings,
    view: View | None,
    *,
    keep: bool,
    tags: dict[str, Any] | None,
) -> GLMResult:
    """A stored result, shown at once (one piece per pane, not re-streamed): nothing
    is sent and nothing is paid."""
    result.cached = True
    result.cost = 0.0 if result.currency else None
    structured.finish(result, request.options)
    store.record(result, request, settings, tags)
    if view is not None:
        events: list[Event] = [Started(result.model)]
        if result.thinking:
            events.append(ThinkingDelta(result.thinking))
        events += [ToolCallDone(call) for call in result.tool_calls]
        if result.answer:
            events.append(AnswerDelta(result.answer))
        events.append(Ended(result.finish_reason, result.complete))
        for event in events:
            view.on_event(event)
        view.finish(result, keep=keep)
    return result


def _price(result: GLMResult, settings: Settings) -> None:
    """The run's provider and cost, where the price is known (never guessed)."""
    result.provider = settings.provider or prices.provider_of(settings.base_url)
    cost = prices.cost_of(result.usage, settings.base_url, result.model, settings.prices)
    result.cost, result.currency = cost.amount, cost.currency


def _reply(
    client: Client,
    request: Request,
    settings: Settings,
    collector: Collector,
    view: View | None,
    stop: threading.Event | None,
    gate: Gate | None = None,
) -> bool:
    """Stream one reply into the collector and the view; False when ``stop`` cut it short."""
    events = client.stream(request, settings.retry, stop, gate)
    try:
        for event in events:
            _emit(event, collector, view)
            if stop is not None and stop.is_set():
                collector.interrupted()
                return False
    finally:
        events.close()
    return True


def _emit(event: Event, collector: Collector, view: View | None) -> None:
    collector.add(event)
    if view is not None:
        view.on_event(event)


def _wants_tools(collector: Collector, calls: list[dict[str, Any]]) -> bool:
    """True when the reply ended normally by asking for tools (some servers say "stop")."""
    ended = collector.ended
    return (
        bool(calls)
        and ended is not None
        and ended.complete
        and ended.finish_reason in ("tool_calls", "stop")
    )


def _no_tools(collector: Collector, calls: list[dict[str, Any]]) -> None:
    names = ", ".join(call["name"] for call in calls)
    collector.stop(
        "tool_calls",
        f"The model answered with tool calls ({names}) but this request named no tools, "
        "so nothing was run. Pass the functions with --tools (tools=[...]), or ask again.",
        "unrequested_tool_calls",
    )


def _too_many_rounds(collector: Collector, calls: list[dict[str, Any]], limit: int) -> None:
    names = ", ".join(call["name"] for call in calls)
    collector.stop(
        "tool_calls",
        f"The model asked for more tool calls ({names}) after {limit} rounds; stopped "
        "without running them. Allow more with %config GLMMagics.max_tool_rounds = N "
        "(or max_tool_rounds=N), or ask for fewer steps.",
        "max_tool_rounds",
    )


def _answer_tools(
    toolbox: Toolbox,
    calls: list[dict[str, Any]],
    collector: Collector,
    view: View | None,
    stop: threading.Event | None,
) -> list[dict[str, Any]] | None:
    """Run the calls of one reply; the assistant message and one ``tool`` message per call.

    Only names in ``toolbox`` can run. Arguments that were not a JSON object go
    back in the history as ``{}`` (the tool message quotes what was sent): a
    server that parses the history would refuse the whole request otherwise.
    Returns None when ``stop`` was set.
    """
    records: list[ToolCall] = []
    for call in calls:
        if stop is not None and stop.is_set():
            collector.interrupted()
            return None
        call_id = call["id"] or f"call_{len(collector.calls)}"
        _emit(ToolCallStarted(call["name"], call["arguments"]), collector, view)
        with _TOOL_LOCK:
            record = toolbox.call(call_id, call["name"], call["arguments"])
        records.append(record)
        _emit(ToolCallDone(record), collector, view)
    history = [
        {
            "id": record.id,
            "type": "function",
            "function": {
                "name": record.name,
                "arguments": call["arguments"]
                if isinstance(record.arguments, dict) and call["arguments"].strip()
                else "{}",
            },
        }
        for call, record in zip(calls, records, strict=True)
    ]
    assistant = {"role": "assistant", "content": "".join(collector.answer), "tool_calls": history}
    replies = [{"role": "tool", "tool_call_id": r.id, "content": r.result} for r in records]
    return [assistant, *replies]


def complete_prompt(
    prompt: str,
    options: Options,
    settings: Settings,
    *,
    display: str | None = None,
    keep: bool = True,
    history: list[dict[str, Any]] | None = None,
    tags: dict[str, Any] | None = None,
) -> GLMResult:
    """Check, send and show one prompt; ``display`` overrides the settings' view mode.

    ``history`` is a conversation's earlier messages (see :mod:`glm_magic.chats`);
    ``tags`` go to the store with the run.
    """
    model = options.model or settings.model
    request = build_request(prompt, model, options, history)
    settings.api_key()
    wants_cache(request, settings)
    mode = display or settings.display
    note = structured.thinking_note(request) if mode != "none" else None
    if note and structured.once(note):
        print(f"[{note}]")
    view = choose_view(mode, model, settings.update_interval)
    return run(request, settings, view, prompt, keep=keep, tags=tags)
