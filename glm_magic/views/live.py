"""The ipywidgets view: status line, collapsible Thinking pane, tool calls, Answer pane.

Thinking and tool calls reach their panes as stdout deltas written while an
``Output`` widget is capturing: the front end appends each stream message to
the pane, so every character crosses the wire once. Setting a widget's
``value`` to the growing text would resend all of it on every update
(quadratic traffic). The answer is Markdown, rendered while it streams by the
same renderer as the final rendering (:mod:`glm_magic.views.markdown`: each
finished block is sent once, only the open one is redrawn). The capture is
entered and left by hand rather than with ``with``, because
``Output.__exit__`` swallows exceptions under IPython and an interrupt must
reach the runner.

The thinking pane is the Accordion's content, framed in the theme's own
border colours, so it stays apart from the answer in light and dark themes.
The status line counts tokens estimated from the text until the provider's
count arrives, so the live count agrees with the final one.

When the reply ends, the display is replaced by the static rendering and the
widgets are closed, so the saved notebook holds Markdown, not widget models.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from ..events import (
    AnswerDelta,
    Ended,
    Event,
    Retrying,
    Started,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReport,
)
from ..render import bundle, call_text, status_bundle
from ..tokens import TokenGuess
from . import Coalescer
from .closing import close
from .markdown import AnswerPane
from .stop import stop_widget

if TYPE_CHECKING:
    from ..result import GLMResult

STATUS_INTERVAL = 0.5


class WidgetView:
    """The live view; ``stop`` is a ``--bg`` run's stop event (see :mod:`.stop`)."""

    def __init__(self, model: str, interval: float, stop: threading.Event | None = None) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.model = model
        self.coalescer = Coalescer(interval)
        self.started = time.monotonic()
        self.phase = "connecting"
        self.guess = TokenGuess()
        self.tokens: int | None = None
        self.earlier_tokens = 0
        self.last_status = 0.0
        self.used: set[str] = set()
        self.resumed: set[str] = set()

        # One Layout for every widget, and panes made when first written: each
        # widget model costs a comm_open and a comm_close on the wire.
        self.layout = w.Layout()
        self.status = w.HTML(self._status_html(), layout=self.layout)
        self.answer = AnswerPane(self.layout)
        self.thinking: Any = None
        self.thinking_box: Any = None
        self.tools: Any = None
        self.stop = stop_widget(self.layout, stop)
        self.header = (
            w.HBox([self.status, self.stop], layout=self.layout) if self.stop else self.status
        )
        self.box = w.VBox([self.header, *self.answer.widgets], layout=self.layout)
        self.capturing: Any = None
        self.handle = display(self.box, display_id=True)
        self.done = threading.Event()
        threading.Thread(target=self._tick, name="glm-status", daemon=True).start()

    def _tick(self) -> None:
        """Keep the status line's clock moving while nothing arrives (waiting for
        the first token, a tool running): the stream itself refreshes it otherwise."""
        while not self.done.wait(STATUS_INTERVAL):
            now = time.monotonic()
            if now - self.last_status >= STATUS_INTERVAL:
                self._refresh(now)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            if self.phase != "thinking":
                self._phase("thinking")
            self._write(self.coalescer.add("thinking", event.text))
        elif isinstance(event, AnswerDelta):
            if self.phase != "answering":
                # Shown with the next status refresh (within STATUS_INTERVAL): the switch
                # to the answer is already the busiest moment on the wire.
                self.phase = "answering"
            self._write(self.coalescer.add("answer", event.text))
        elif isinstance(event, UsageReport):
            self.tokens = self.earlier_tokens + event.usage.completion_tokens
        elif isinstance(event, Started):
            self.earlier_tokens = self._tokens()[0]
            self.tokens = None
            self.guess = TokenGuess()
            self._phase("waiting for the first token")
        elif isinstance(event, ToolCallDelta):
            if event.name:
                self._phase(f"asking for {event.name}")
        elif isinstance(event, ToolCallStarted):
            # The tool runs with nothing capturing, so its own prints go to the cell.
            self._write(self.coalescer.take())
            if self.answer.blocks.open:
                self._capture(self.answer.done)
                self.coalescer.spent(self.answer.write("", final=True))
            self._release()
            self._phase(f"running {event.name}")
        elif isinstance(event, ToolCallDone):
            self.resumed = self.used - {"tools"}
            self._write(("tools", f"Tool call: {call_text(event.call)}\n"))
            self._release()
        elif isinstance(event, Retrying):
            self._phase(f"retry {event.attempt} in {event.delay:.1f} s ({event.reason})")
        elif isinstance(event, Ended):
            self._write(self.coalescer.take())

    def _write(self, chunk: tuple[str, str] | None) -> None:
        if chunk is None:
            return
        pane, text = chunk
        if pane in self.resumed:
            self.resumed.discard(pane)
            text = "\n\n" + text
        self.used.add(pane)
        if pane != "tools":
            self.guess.add(text)
        self._capture(self._pane(pane))
        if pane == "answer":
            self.coalescer.spent(self.answer.write(text))
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        now = time.monotonic()
        if now - self.last_status >= STATUS_INTERVAL:
            self._refresh(now)

    def _capture(self, target: Any) -> None:
        if self.capturing is not target:
            self._release()
            target.__enter__()
            self.capturing = target

    def _pane(self, name: str) -> Any:
        """The Output widget for ``name``, made on first use: a reply without thinking
        or tools costs no widget for them."""
        if name == "answer":
            return self.answer.done
        import ipywidgets as w

        if name == "thinking" and self.thinking is None:
            self.thinking = w.Output(layout=self.layout)
            self.thinking_box = w.Accordion(
                children=[self.thinking],
                titles=("Thinking",),
                selected_index=0,
                layout=self.layout,
            )
        elif name == "tools" and self.tools is None:
            self.tools = w.Output(layout=self.layout)
        else:
            return self.thinking if name == "thinking" else self.tools
        order = (self.header, self.thinking_box, self.tools, *self.answer.widgets)
        self.box.children = tuple(part for part in order if part is not None)
        return self.thinking if name == "thinking" else self.tools

    def _release(self) -> None:
        if self.capturing is not None:
            self.capturing.__exit__(None, None, None)
            self.capturing = None

    def _phase(self, phase: str) -> None:
        self.phase = phase
        self._refresh(time.monotonic())

    def _refresh(self, now: float) -> None:
        self.last_status = now
        self.status.value = self._status_html(now)

    def _tokens(self) -> tuple[int, bool]:
        """Output tokens so far and whether that is the provider's count (else a guess)."""
        if self.tokens is not None:
            return self.tokens, True
        return self.earlier_tokens + self.guess.tokens, False

    def _status_html(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        tokens, exact = self._tokens()
        rate = f" · {tokens / elapsed:,.0f} tok/s" if elapsed > 0 and tokens else ""
        approx = "" if exact else "~"
        return (
            f"<code>{html.escape(self.model)}</code> · <b>{html.escape(self.phase)}</b>"
            f" · {elapsed:.1f} s · {approx}{tokens:,} tokens{rate}"
        )

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        """Final flush, then swap the widgets for the static rendering (or for its
        usage line alone, when the caller displays the result itself)."""
        self.done.set()
        self._write(self.coalescer.take())
        self.answer.write("", flush=True)  # the open block as it ended, whatever it costs
        self._release()
        self.handle.update(bundle(result) if keep else status_bundle(result), raw=True)
        parts = (self.status.style, self.status, self.thinking, self.thinking_box, self.tools)
        stop = (self.stop.style, self.stop, self.header) if self.stop is not None else ()
        self.answer.close()
        close(*parts, *stop, self.box, self.layout)
