"""How a reply is shown while it streams, chosen for where the kernel runs.

Views receive events and a finished result; they never see HTTP. Both live
views coalesce deltas and write only what is new, at most once per
``interval``, so what reaches the front end grows linearly with the text
whatever the token rate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from .. import defaults
from ..errors import GLMUsageError

if TYPE_CHECKING:
    from ..events import Event
    from ..result import GLMResult


class View(Protocol):
    def on_event(self, event: Event) -> None: ...

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        """Final flush; with ``keep`` the static rendering stays in the output."""


class Coalescer:
    """Collects text deltas for one pane at a time and says when to write them.

    Every write costs a message envelope of about 500 bytes, whatever it
    carries, so writes are batched by size as well as by time: pending text
    goes out once it is ``batch`` characters long (but never sooner than
    ``interval`` after the last write), or once ``max_delay`` has passed, or
    when the pane changes, so thinking and answer never interleave out of
    order. A fast stream is then shown every ``interval`` in big pieces, a
    slow one every ``max_delay``. ``max_delay`` is what a token can wait
    before it is sent: 80 ms keeps the 95th percentile under 100 ms
    (benchmarks/RESULTS.md), so a slow stream still looks live.
    """

    def __init__(
        self, interval: float, batch: int = 1024, max_delay: float = defaults.MAX_DELAY
    ) -> None:
        self.interval = interval
        self.batch = batch
        self.max_delay = max(interval, max_delay)
        self.pane: str | None = None
        self.pending: list[str] = []
        self.size = 0
        self.last_write = 0.0

    def add(self, pane: str, text: str) -> tuple[str, str] | None:
        if pane != self.pane and self.pending:
            out = self.take()
            self.pane = pane
            self.pending.append(text)
            self.size = len(text)
            return out
        self.pane = pane
        self.pending.append(text)
        self.size += len(text)
        now = time.monotonic()
        since = now - self.last_write
        if since >= self.max_delay or (since >= self.interval and self.size >= self.batch):
            return self.take(now)
        return None

    def take(self, now: float | None = None) -> tuple[str, str] | None:
        """Everything pending, as (pane, text); None when there is nothing."""
        if not self.pending or self.pane is None:
            return None
        self.last_write = now if now is not None else time.monotonic()
        text = "".join(self.pending)
        self.pending.clear()
        self.size = 0
        return self.pane, text


def widgets_available() -> bool:
    """True in a kernel that can talk to a widget front end."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


DISPLAYS = ("auto", "widgets", "text", "none")


def check_display(display: Any, caller: str) -> None:
    """Refuse a display the Python API was given that no view answers to."""
    if display not in DISPLAYS:
        choices = ", ".join(repr(d) for d in DISPLAYS)
        msg = f"{caller}() display must be one of {choices}; got {display!r}."
        raise GLMUsageError(msg)


def choose_view(mode: str, model: str, interval: float) -> View | None:
    """The live view for ``mode`` (``auto``, ``widgets``, ``text`` or ``none``)."""
    if mode == "none":
        return None
    if mode == "widgets" or (mode == "auto" and widgets_available()):
        from .live import WidgetView

        return WidgetView(model, interval)
    from .text import TextView

    return TextView(model, interval)
