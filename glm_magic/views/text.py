"""Plain text on stdout: terminal IPython, or a kernel without widgets."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..events import (
    AnswerDelta,
    Ended,
    Event,
    Retrying,
    ThinkingDelta,
    ToolCallDone,
    ToolCallStarted,
)
from ..render import call_text, problem_line, usage_line
from . import Coalescer

if TYPE_CHECKING:
    from ..result import GLMResult

HEADINGS = {"thinking": "Thinking:\n", "answer": "Answer:\n"}


class TextView:
    def __init__(self, model: str, interval: float) -> None:
        self.model = model
        self.coalescer = Coalescer(interval)
        self.last: str | None = None

    def on_event(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            self._write(self.coalescer.add("thinking", event.text))
        elif isinstance(event, AnswerDelta):
            self._write(self.coalescer.add("answer", event.text))
        elif isinstance(event, Retrying):
            self._write(self.coalescer.take())
            print(f"[retry {event.attempt} in {event.delay:.1f} s: {event.reason}]", flush=True)
        elif isinstance(event, Ended | ToolCallStarted):
            self._write(self.coalescer.take())
        elif isinstance(event, ToolCallDone):
            sys.stdout.write(f"{self._gap('tools')}Tool call: {call_text(event.call)}\n")
            sys.stdout.flush()

    def _gap(self, section: str | None) -> str:
        """What goes before text of ``section``: a blank line between sections.

        A heading is repeated when a pane comes back after tool calls.
        """
        last, self.last = self.last, section
        if section == last and section is not None:
            return ""
        lead = "" if last is None else "\n" if last == "tools" else "\n\n"
        return lead + HEADINGS.get(section or "", "")

    def _write(self, chunk: tuple[str, str] | None) -> None:
        if chunk is None:
            return
        pane, text = chunk
        sys.stdout.write(self._gap(pane) + text)
        sys.stdout.flush()

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        self._write(self.coalescer.take())
        tail = self._gap(None)
        problem = problem_line(result)
        if problem:
            tail += f"! {problem}\n"
        sys.stdout.write(f"{tail}[{usage_line(result)}]\n")
        sys.stdout.flush()
