"""How a reply is shown while it streams, chosen for where the kernel runs.

Views receive events and a finished result; they never see HTTP. Both live
views coalesce deltas and write only what is new, at most once per
``interval``, so what reaches the front end grows linearly with the text
whatever the token rate.
"""

from __future__ import annotations

import os
import threading
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

    def spent(self, messages: int) -> None:
        """A write that cost ``messages`` front-end messages counts as that many writes.

        The Markdown answer pane may send a finished block and a redraw at
        once; holding the next write back keeps the message rate in bounds.
        """
        if messages > 1:
            self.last_write += self.interval * (messages - 1)

    def take(self, now: float | None = None) -> tuple[str, str] | None:
        """Everything pending, as (pane, text); None when there is nothing."""
        if not self.pending or self.pane is None:
            return None
        self.last_write = now if now is not None else time.monotonic()
        text = "".join(self.pending)
        self.pending.clear()
        self.size = 0
        return self.pane, text


def front_end() -> str:
    """Who shows this kernel's output: ``"widgets"``, ``"headless"`` or ``"text"``.

    ``"text"``: no kernel (terminal IPython, a script), or no ipywidgets.
    ``"headless"``: a kernel driven by nbclient (papermill, ``nbconvert --execute``):
    nobody watches while it runs and the notebook is saved at the end, so
    widgets would only leave dead models in ``metadata.widgets`` and a widget
    manager script in the HTML export. A notebook front end is told apart by
    what it sends and how its kernel was started: JupyterLab and Notebook 7 put
    the cell's id in each ``execute_request``'s metadata (``cellId``; JupyterLab
    4.6 ``CodeCell.execute``), and a Jupyter server starts its kernels with
    ``JPY_SESSION_NAME`` set to the notebook's path (jupyter_server 2
    ``SessionManager``; it covers consoles, which send no cell id). nbclient
    0.11 sends plain execute requests to a kernel it started itself.
    ``"widgets"``: otherwise, in a kernel with ipywidgets.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return "text"
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None) if shell is not None else None
    if kernel is None:
        return "text"
    parent = kernel.get_parent() or {}
    if "cellId" not in parent.get("metadata", {}) and not os.environ.get("JPY_SESSION_NAME"):
        return "headless"
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return "text"
    return "widgets"


DISPLAYS = ("auto", "widgets", "text", "none")


def check_display(display: Any, caller: str) -> None:
    """Refuse a display the Python API was given that no view answers to."""
    if display not in DISPLAYS:
        choices = ", ".join(repr(d) for d in DISPLAYS)
        msg = f"{caller}() display must be one of {choices}; got {display!r}."
        raise GLMUsageError(msg)


def choose_view(
    mode: str, model: str, interval: float, stop: threading.Event | None = None
) -> View | None:
    """The live view for ``mode`` (``auto``, ``widgets``, ``text`` or ``none``).

    ``auto`` asks :func:`front_end`: widgets for a notebook front end, the
    static rendering alone for a headless run, plain text elsewhere. ``stop``
    is a background run's stop event, which the widget view's Stop button sets.
    """
    if mode == "none":
        return None
    where = front_end() if mode == "auto" else mode
    if where == "widgets":
        from .live import WidgetView

        return WidgetView(model, interval, stop)
    if where == "headless":
        return StaticView()
    from .text import TextView

    return TextView(model, interval)


class StaticView:
    """Headless runs: nothing live, the static rendering once the reply ends."""

    def on_event(self, event: Event) -> None:
        """Nobody is watching: the events only make the result."""

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        from IPython.display import display

        from ..render import bundle, status_bundle

        display(bundle(result) if keep else status_bundle(result), raw=True)
