"""Plain text on stdout: terminal IPython, or a kernel without widgets."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..events import AnswerDelta, Ended, Event, Retrying, ThinkingDelta
from ..render import problem_line, usage_line
from . import Coalescer

if TYPE_CHECKING:
    from ..result import GLMResult

HEADINGS = {"thinking": "Thinking:\n", "answer": "Answer:\n"}


class TextView:
    def __init__(self, model: str, interval: float = 0.08) -> None:
        self.model = model
        self.coalescer = Coalescer(interval)
        self.shown: set[str] = set()

    def on_event(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            self._write(self.coalescer.add("thinking", event.text))
        elif isinstance(event, AnswerDelta):
            self._write(self.coalescer.add("answer", event.text))
        elif isinstance(event, Retrying):
            self._write(self.coalescer.take())
            print(f"[retry {event.attempt} in {event.delay:.1f} s: {event.reason}]", flush=True)
        elif isinstance(event, Ended):
            self._write(self.coalescer.take())

    def _write(self, chunk: tuple[str, str] | None) -> None:
        if chunk is None:
            return
        pane, text = chunk
        if pane not in self.shown:
            text = ("\n\n" if self.shown else "") + HEADINGS[pane] + text
            self.shown.add(pane)
        sys.stdout.write(text)
        sys.stdout.flush()

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        self._write(self.coalescer.take())
        tail = "\n\n" if self.shown else ""
        problem = problem_line(result)
        if problem:
            tail += f"! {problem}\n"
        sys.stdout.write(f"{tail}[{usage_line(result)}]\n")
        sys.stdout.flush()
