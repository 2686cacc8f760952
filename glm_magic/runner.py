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
from .catalogue import is_glm, models_of
from .client import Client, get_client
from .errors import GLMInterrupted, GLMUsageError, redact
from .events import (
    AnswerDelta,
    Ended,
    Event,
    Started,
    StreamError,
    ThinkingDelta,
    ToolCall,
    ToolCallDone,
    ToolCallStarted,
    Usage,
)
from .providers import ProviderError
from .request import Options, Request, build_request, estimate_tokens, message_tokens
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
    ``stop`` ends the run quietly; an interrupt of the thread running it
    (KeyboardInterrupt) raises ``GLMInterrupted`` once the result is complete.

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
    collector = Collector(request.model, prompt, request.provider.name)
    added: list[dict[str, Any]] = []
    signalled = False
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
        signalled = True
    except GLMUsageError:
        raise
    except Exception as exc:
        # A failure of ours or of the transport must not lose what arrived, nor
        # leave live widgets in the cell: the run ends like a provider error.
        key = key_source(settings.provider)[1]
        collector.stop("error", redact(f"{type(exc).__name__}: {exc}", key), "internal")
    if collector.ended is None or not collector.ended.complete:
        _estimate_usage(collector, request)
    result = collector.result()
    if _model_missing(request, collector.error):
        result.error = f"{result.error} {missing_model_hint(request.model, settings, client)}"
    if result.answer or result.complete:
        added.append({"role": "assistant", "content": result.answer})
    result.messages = added
    structured.finish(result, request.options)
    _price(result, settings, request.model)
    ledger.record(result, request.model)
    store.record(result, sent, settings, tags)
    if view is not None:
        view.finish(result, keep=keep)
    if signalled:
        raise GLMInterrupted(result)
    return result


def _estimate_usage(collector: Collector, request: Request) -> None:
    """An interrupted, dropped or failed reply ends before the provider's usage chunk,
    but it is billed for what it streamed: count its tokens from the text
    (``estimate_tokens``, on the generous side), marked ``estimated``. A round whose
    usage arrived keeps it."""
    if collector.usage != Usage():
        return
    thinking, rest = collector.round_text()
    if not thinking and not rest:
        return
    prompt = message_tokens(request.messages)
    reasoning = estimate_tokens(thinking)
    completion = reasoning + estimate_tokens(rest)
    collector.usage = Usage(prompt, completion, prompt + completion, reasoning, estimated=True)


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


def _price(result: GLMResult, settings: Settings, asked: str) -> None:
    """The run's provider and cost, where the price is known (never guessed)."""
    result.provider = settings.provider.name
    models = (result.model, asked)
    cost = prices.cost_of(result.usage, result.provider, settings.base_url, models, settings.prices)
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


def _model_missing(request: Request, failure: StreamError | None) -> bool:
    if failure is None:
        return False
    error = ProviderError(failure.code, failure.message)
    return request.provider.model_missing(error, failure.status)


def missing_model_hint(model: str, settings: Settings, client: Client | None) -> str:
    """What to do when ``model`` is not served: the provider's GLM models, and
    where the default is changed."""
    served = served_models(settings, client)
    glms = [m for m in served if is_glm(m)] if served else []
    source = "it lists"
    if not glms:
        glms = [m.name for m in models_of(settings.provider.name)]
        source = "the catalogue knows"
    listed = ", ".join(glms[:12]) or "none"
    return (
        f"{model!r} is not served by {settings.provider.name}; GLM models {source}: {listed}. "
        "Choose one with -m NAME (model= in Python), or change the default with "
        "%config GLMMagics.model = 'NAME' or GLM_MAGIC_MODEL."
    )


_SERVED: dict[str, list[str]] = {}


def served_models(settings: Settings, client: Client | None = None) -> list[str] | None:
    """The model ids the provider's ``GET /models`` lists (None: it did not answer).

    Asked once per base URL in a session: the list changes on the provider's
    schedule, not between cells.
    """
    if settings.base_url in _SERVED:
        return _SERVED[settings.base_url]
    try:
        client = client or get_client(
            settings.base_url, settings.api_key(), timeout=settings.timeout
        )
        ids = client.model_ids()
    except Exception:
        return None
    _SERVED[settings.base_url] = ids
    return ids


def forget_served_models() -> None:
    """Ask the providers again next time (a new key, another server on the same URL)."""
    _SERVED.clear()


def model_for(options: Options, settings: Settings) -> str:
    """The model to send: the option, the settings', else (a self-hosted server
    with no default) the first one the server lists."""
    model = options.model or settings.model
    if model:
        return model
    served = served_models(settings)
    if not served:
        msg = (
            f"No model named, and {settings.base_url} did not list any (GET /models). "
            "Name one with -m NAME (model= in Python), %config GLMMagics.model or "
            "GLM_MAGIC_MODEL."
        )
        raise GLMUsageError(msg)
    return served[0]


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


def prepare(
    prompt: str,
    options: Options,
    settings: Settings,
    *,
    display: str | None = None,
    history: list[dict[str, Any]] | None = None,
    stop: threading.Event | None = None,
) -> tuple[Request, View | None]:
    """Check one prompt and open its view; ``display`` overrides the settings' view mode.

    ``history`` is a conversation's earlier messages (see :mod:`glm_magic.chats`);
    ``stop`` is a background run's stop event, for its view's Stop button.
    """
    model = model_for(options, settings)
    request = build_request(prompt, model, options, history, settings.provider)
    settings.api_key()
    wants_cache(request, settings)
    mode = display or settings.display
    note = request.thinking_note() if mode != "none" else None
    if note and structured.once(note):
        print(f"[{note}]")
    return request, choose_view(mode, model, settings.update_interval, stop)


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
    """Check, send and show one prompt (see :func:`prepare`); ``tags`` go to the store."""
    request, view = prepare(prompt, options, settings, display=display, history=history)
    return run(request, settings, view, prompt, keep=keep, tags=tags)
