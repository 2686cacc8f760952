"""The result of one run, and the collector that builds it from events.

A result is plain data: it holds text, usage, timings and what went wrong,
never a client, a response or a key, so it can be stored, pickled and shown
anywhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .events import (
    AnswerDelta,
    Ended,
    Event,
    Retrying,
    Started,
    StreamError,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallDone,
    Usage,
    UsageReport,
)


@dataclass(repr=False, eq=False)
class GLMResult:
    """What a ``%%glm`` cell or ``glm_magic.complete`` produced.

    ``str(result)`` is the answer, so a result drops into f-strings and
    ``print`` like text. ``complete`` is True only when the stream ended
    normally; otherwise ``finish_reason`` says why (``"interrupted"``,
    ``"incomplete"``, ``"error"``) and ``error`` says what happened.
    ``cost`` is in ``currency``; both are None when the price is unknown
    (see :mod:`glm_magic.prices`). ``cached`` is True for a result replayed
    from the store (``--cache``): nothing was sent, and it cost nothing.
    """

    answer: str = ""
    thinking: str = ""
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "incomplete"
    complete: bool = False
    error: str | None = None
    error_code: str | None = None
    request_id: str | None = None
    time_to_first_token: float | None = None
    total_time: float = 0.0
    retries: int = 0
    prompt: str = ""
    data: Any = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    provider: str | None = None
    cost: float | None = None
    currency: str | None = None
    cached: bool = False

    @property
    def done(self) -> bool:
        """False while a ``--bg`` run streams (see :class:`RunningResult`)."""
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a ``--bg`` run to end; True once it has (at once for a finished one)."""
        return True

    @property
    def text(self) -> str:
        return self.answer

    @property
    def timings(self) -> dict[str, float | None]:
        return {"time_to_first_token": self.time_to_first_token, "total": self.total_time}

    def __str__(self) -> str:
        return self.answer

    def __repr__(self) -> str:
        preview = self.answer if len(self.answer) <= 60 else self.answer[:57] + "..."
        state = self.finish_reason
        if not self.complete and state not in ("interrupted", "incomplete", "error"):
            state += ", incomplete"
        tokens = self.usage.total_tokens
        return f"<GLMResult {self.model} ({state}) {tokens} tokens: {preview!r}>"

    def _repr_markdown_(self) -> str:
        from .render import markdown

        return markdown(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


class RunningResult(GLMResult):
    """A ``--bg`` run's result while it streams: reading it waits for the end.

    Reading ``answer``, ``thinking``, ``data``, ``usage``, ``str()`` or any
    other part of the outcome blocks until the run ends (and says so on
    stdout), so a notebook run top to bottom reads the same values as one run
    cell by cell. ``done``, ``wait()``, ``model`` and ``prompt`` answer at
    once. When the run ends, :meth:`settle` copies the final result in and
    turns this object into a plain :class:`GLMResult`, the same object the
    notebook's variables already hold.
    """

    IMMEDIATE = frozenset({"done", "wait", "model", "prompt", "settle"})

    def __init__(self, model: str, prompt: str, label: str) -> None:
        super().__init__(model=model, prompt=prompt)
        self._finished = threading.Event()
        self._label = label

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in RunningResult.IMMEDIATE:
            return object.__getattribute__(self, name)
        try:
            finished = object.__getattribute__(self, "_finished")
        except AttributeError:  # settled meanwhile
            return object.__getattribute__(self, name)
        if not finished.is_set():
            label = object.__getattribute__(self, "_label")
            print(f"[waiting for the background run {label} to finish]", flush=True)
            finished.wait()
        return object.__getattribute__(self, name)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        try:
            finished = self._finished
        except AttributeError:
            return True
        return finished.wait(timeout)

    def __repr__(self) -> str:
        return f"<GLMResult {self.model} (running in the background as {self._label})>"

    def settle(self, final: GLMResult) -> None:
        """The run ended with ``final``: become it, then wake whoever waits."""
        finished = self._finished
        vars(self).update(vars(final))
        del self._finished, self._label
        self.__class__ = GLMResult
        finished.set()


class Collector:
    """Folds a stream of events into a ``GLMResult``.

    Text arrives as thousands of small deltas, so it is kept as lists of pieces:
    appending to a str per token would copy the whole reply each time. A piece
    of a few characters costs about 60 bytes as a str of its own, so the pieces
    are joined every ``COMPACT_AT``: a long reply then takes about its own size,
    not 15 times it (benchmarks/RESULTS.md).
    """

    def __init__(self, model: str, prompt: str = "", provider: str = "") -> None:
        self.model = model
        self.prompt = prompt
        self.provider = provider
        self.thinking: list[str] = []
        self.answer: list[str] = []
        self.tool_fragments: list[dict[str, Any]] = []
        self.calls: list[ToolCall] = []
        self.usage = Usage()
        self.earlier_usage = Usage()
        self.thinking_break = False
        #: How much of ``thinking`` came before this round (for :meth:`round_text`).
        self.thinking_mark = 0
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.retries = 0
        self.request_id: str | None = None
        self.error: StreamError | None = None
        self.ended: Ended | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            self._token()
            if self.thinking_break and self.thinking:
                self.thinking.append("\n\n")
            self.thinking_break = False
            _keep(self.thinking, event.text)
        elif isinstance(event, AnswerDelta):
            self._token()
            _keep(self.answer, event.text)
        elif isinstance(event, ToolCallDelta):
            self._token()
            slot = self._tool_slot(event)
            if event.id:
                slot["id"] = event.id
            if event.name:
                slot["name"] += event.name
            slot["arguments"].append(event.arguments)
        elif isinstance(event, ToolCallDone):
            self.calls.append(event.call)
        elif isinstance(event, UsageReport):
            self.usage = event.usage
        elif isinstance(event, Started):
            self.model = event.model or self.model
            self.request_id = event.request_id or self.request_id
        elif isinstance(event, Retrying):
            self.retries += 1
        elif isinstance(event, StreamError):
            self.error = event
            self.request_id = event.request_id or self.request_id
        elif isinstance(event, Ended):
            self.ended = event
            self.model = event.model or self.model

    def _token(self) -> None:
        if self.first_token is None:
            self.first_token = time.monotonic() - self.started

    def interrupted(self) -> None:
        """The user stopped the kernel: keep what arrived and say so."""
        self.error = StreamError(
            "Interrupted by the user; the partial reply is kept.", "interrupted"
        )
        self.ended = Ended("interrupted", False, self.error)

    def next_round(self) -> None:
        """The model's tool calls were answered; its next reply continues this result.

        Usage and thinking add up over the rounds; the answer is the last
        reply's (earlier rounds' text stays in the result's ``messages``).
        """
        self.earlier_usage = self.earlier_usage + self.usage
        self.usage = Usage()
        self.thinking[:] = ["".join(self.thinking)]
        self.thinking_mark = len(self.thinking[0])
        self.answer = []
        self.tool_fragments = []
        self.error = None
        self.ended = None
        self.thinking_break = True

    def stop(self, finish_reason: str, message: str, code: str) -> None:
        """End the run here, not normally, with ``message`` as the error."""
        self.error = StreamError(message, code)
        self.ended = Ended(finish_reason, False, self.error)

    def _tool_slot(self, event: ToolCallDelta) -> dict[str, Any]:
        """The call a fragment belongs to: the latest one at its index, unless the
        fragment brings a new id.

        Some OpenAI-compatible servers send parallel calls all at index 0, each
        starting with its own id; appending them by index alone would merge two
        calls into one with a doubled name.
        """
        for slot in reversed(self.tool_fragments):
            if slot["index"] == event.index:
                if not event.id or slot["id"] in (None, event.id):
                    return slot
                break
        slot = {"index": event.index, "id": None, "name": "", "arguments": []}
        self.tool_fragments.append(slot)
        return slot

    def round_text(self) -> tuple[str, str]:
        """This round's output so far: (thinking, answer and tool-call text)."""
        thinking = "".join(self.thinking)[self.thinking_mark :]
        calls = "".join(s["name"] + "".join(s["arguments"]) for s in self.tool_fragments)
        return thinking, "".join(self.answer) + calls

    def tool_calls(self) -> list[dict[str, Any]]:
        """Streamed tool-call fragments assembled into whole calls, in index order."""
        return [
            {"id": slot["id"], "name": slot["name"], "arguments": "".join(slot["arguments"])}
            for slot in sorted(self.tool_fragments, key=lambda slot: slot["index"])
        ]

    def result(self) -> GLMResult:
        ended = self.ended or Ended("incomplete", False, self.error)
        error = ended.error or self.error
        return GLMResult(
            answer="".join(self.answer),
            thinking="".join(self.thinking),
            model=self.model,
            provider=self.provider,
            usage=self.earlier_usage + self.usage,
            finish_reason=ended.finish_reason,
            complete=ended.complete,
            error=error.describe() if error else None,
            error_code=error.code if error else None,
            request_id=self.request_id,
            time_to_first_token=self.first_token,
            total_time=time.monotonic() - self.started,
            retries=self.retries,
            prompt=self.prompt,
            tool_calls=list(self.calls),
        )


COMPACT_AT = 4096


def _keep(pieces: list[str], text: str) -> None:
    pieces.append(text)
    if len(pieces) >= COMPACT_AT:
        pieces[:] = ["".join(pieces)]
