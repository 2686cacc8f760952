"""The progress of a batch: one live widget in a notebook, one text line elsewhere.

A batch shows counts, not answers: streaming hundreds of replies to the
screen would flood the front end. The main thread calls ``update`` many times
a second; the views draw at most every ``interval`` and only when the line
changed. When the batch ends, ``finish`` leaves a static summary (Markdown and
text/plain) in place of the widget, so a saved notebook shows it without a
widget manager.
"""

from __future__ import annotations

import html
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..pacing import limits_text
from ..prices import cost_text
from . import front_end
from .closing import close
from .stop import stop_widget

if TYPE_CHECKING:
    from ..pacing import Pace

#: Progress changes slowly; four updates a second is plenty.
INTERVAL = 0.25


@dataclass
class BatchProgress:
    """A snapshot of a running batch: plain numbers, drawn by the main thread.

    ``pace`` is the pacing in force (None for a batch without known limits).
    """

    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    elapsed: float = 0.0
    limit: int = 0
    concurrency: int = 0
    pace: Pace | None = None
    #: What the finished items cost: None once one of them has no known price.
    cost: float | None = 0.0
    currency: str | None = None

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Output tokens per second over the whole run."""
        return self.tokens_out / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far; None before the first item finishes."""
        if not self.finished:
            return None
        return self.elapsed / self.finished * (self.total - self.finished)


class ProgressView(Protocol):
    def update(self, progress: BatchProgress) -> None: ...

    def pause(self) -> None:
        """Another view is about to write (``--show``): stay out of its way."""

    def resume(self) -> None: ...

    def finish(self, bundle: dict[str, str]) -> None:
        """Leave the final summary (``text/markdown`` and ``text/plain``)."""


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_line(p: BatchProgress) -> str:
    """``37/200 · 35 done · 2 failed · 8 running · 1,234 in / 5,678 out tokens · ...``."""
    parts = [f"{p.finished:,}/{p.total:,}", f"{p.done:,} done"]
    if p.failed:
        parts.append(f"{p.failed:,} failed")
    parts.append(f"{p.running} running")
    if p.limit and p.limit < p.concurrency:
        parts[-1] += f" (rate limited: {p.limit} at a time)"
    if p.pace is not None:
        parts.append(pace_text(p.pace, p.limit))
    parts.append(f"{p.tokens_in:,} in / {p.tokens_out:,} out tokens")
    if p.cost is None or p.currency:
        parts.append(cost_text(p.cost, p.currency))
    parts.append(f"{p.rate:,.0f} tok/s")
    parts.append(duration(p.elapsed))
    eta = p.eta
    if eta is not None and p.finished < p.total:
        parts.append(f"ETA {duration(eta)}")
    return " · ".join(parts)


def pace_text(pace: Pace, limit: int) -> str:
    """``pace 598/min (limit 600 RPM, 1,000,000 TPM) · bound by RPM``; ``limit`` is -j now.

    Bound by TPM, it also says what one request is charged, since that (not a
    request count) is what spaces them: ``bound by TPM (about 1,050 tokens a call)``.
    """
    allowed = limits_text(pace.rpm, pace.tpm) or "none known"
    bound = f"concurrency (-j {limit})" if pace.bound == "concurrency" else pace.bound
    if pace.bound == "TPM" and pace.per_call:
        bound += f" (about {pace.per_call:,} tokens a call)"
    return f"pace {pace.measured:,.0f}/min (limit {allowed}) · bound by {bound}"


class WidgetProgress:
    """One ``HTML`` widget holding a ``<progress>`` bar and the line (small updates), and
    the Stop button under it when the page can interrupt the kernel."""

    def __init__(self, model: str, interval: float = INTERVAL) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.model = model
        self.interval = interval
        self.last = 0.0
        self.shown = ""
        self.widget = w.HTML(self._html(None))
        layout = self.widget.layout
        self.stop = stop_widget(layout)
        self.box = w.VBox([self.widget, self.stop], layout=layout) if self.stop else None
        self.handle = display(self.box or self.widget, display_id=True)

    def _html(self, p: BatchProgress | None) -> str:
        if p is None:
            return f"<code>{html.escape(self.model)}</code> · starting"
        return (
            f"<progress value='{p.finished}' max='{max(p.total, 1)}' "
            f"style='width:100%'></progress><br>"
            f"<code>{html.escape(self.model)}</code> · {html.escape(progress_line(p))}"
        )

    def update(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        text = self._html(progress)
        if text != self.shown:
            self.widget.value = self.shown = text
            self.last = now

    def pause(self) -> None:
        """The widget has its own place in the output; nothing to do."""

    def resume(self) -> None:
        """See :meth:`pause`."""

    def finish(self, bundle: dict[str, str]) -> None:
        self.handle.update(bundle, raw=True)
        parts = [self.widget.style, self.widget]
        if self.stop is not None and self.box is not None:
            parts += [self.stop.style, self.stop, self.box]
        close(*parts, self.widget.layout)


class TextProgress:
    """A line rewritten in place with ``\\r`` (terminal IPython, or a kernel without widgets)."""

    def __init__(self, model: str, interval: float = INTERVAL) -> None:
        self.model = model
        self.interval = interval
        self.last = 0.0
        self.line = ""
        self.open = False
        self.paused = False
        self.pending: BatchProgress | None = None

    def update(self, progress: BatchProgress) -> None:
        self.pending = progress
        now = time.monotonic()
        if not self.paused and now - self.last >= self.interval:
            self.last = now
            self._draw()

    def _draw(self) -> None:
        """Write the pending line over the last one, if it says something new."""
        if self.pending is None:
            return
        line = f"{self.model} · {progress_line(self.pending)}"
        self.pending = None
        if line == self.line and self.open:
            return
        sys.stdout.write("\r" + line.ljust(len(self.line) if self.open else 0))
        sys.stdout.flush()
        self.line = line
        self.open = True

    def pause(self) -> None:
        if self.open:
            sys.stdout.write("\n")
            self.open = False
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def finish(self, bundle: dict[str, str]) -> None:
        if not self.paused:
            self._draw()
        sys.stdout.write(("\n" if self.open else "") + bundle["text/plain"] + "\n")
        sys.stdout.flush()
        self.open = False


def choose_progress(mode: str, model: str) -> ProgressView | None:
    """The progress view for ``mode`` (``auto``, ``widgets``, ``text`` or ``none``)."""
    if mode == "none":
        return None
    where = front_end() if mode == "auto" else mode
    if where == "widgets":
        return WidgetProgress(model)
    if where == "headless":
        return StaticProgress()
    return TextProgress(model)


class StaticProgress:
    """Headless runs: no progress while nobody watches, the summary at the end."""

    def update(self, progress: BatchProgress) -> None:
        """Nothing to draw."""

    def pause(self) -> None:
        """Nothing is drawn."""

    def resume(self) -> None:
        """Nothing is drawn."""

    def finish(self, bundle: dict[str, str]) -> None:
        from IPython.display import display

        display(bundle, raw=True)
