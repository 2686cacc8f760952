"""Background runs (``--bg``): the cell returns at once while the reply streams on.

A background run is the same run as a cell's (``runner.run``, the same view
and result), on a thread of its own with a stop event: the cell returns a
:class:`~glm_magic.result.RunningResult` at once, which becomes the final
result when the stream ends. Several can run at once; :data:`JOBS` holds the
running ones for ``%glm jobs`` and ``%glm stop``.

The thread runs in a copy of the starting cell's context. ipykernel 7 keeps
the parent message (which cell an output belongs to) in context variables,
and a plain thread would fall back to whichever cell runs at that moment:
the live view's text would then land in a later cell. (ipykernel 7.0 broke
display from threads altogether; 7.1 restored it.)

A background run's Stop button is an ordinary widget button: its cell has
returned, so the kernel reads the click between cells (while another cell
runs, after it). The kernel's interrupt (■) belongs to the cell running in
the foreground and does not stop background runs; ``%glm stop`` does.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .events import AnswerDelta, Event, Started, ThinkingDelta, UsageReport
from .result import GLMResult, RunningResult
from .wording import text_table

if TYPE_CHECKING:
    from .request import Request
    from .settings import Settings
    from .views import View

#: How long ``%glm stop`` waits for a stopped run to close its stream and settle.
STOP_GRACE = 2.0


@dataclass
class Job:
    """One running background run, and what ``%glm jobs`` shows of it."""

    name: str
    model: str
    result: RunningResult
    stop: threading.Event
    started: float = field(default_factory=time.monotonic)
    tokens: int = 0
    earlier_tokens: int = 0
    pieces: int = 0
    thread: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def shown_tokens(self) -> str:
        """The provider's count when it has sent one, else ``~`` and the pieces so far."""
        return f"{self.tokens:,}" if self.tokens else f"~{self.pieces:,}"


JOBS: dict[int, Job] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


class _Counting:
    """The view a background run streams into: counts tokens for ``%glm jobs``, passes on."""

    def __init__(self, job: Job, view: View | None) -> None:
        self.job = job
        self.view = view

    def on_event(self, event: Event) -> None:
        job = self.job
        if isinstance(event, ThinkingDelta | AnswerDelta):
            job.pieces += 1
        elif isinstance(event, UsageReport):
            job.tokens = job.earlier_tokens + event.usage.completion_tokens
        elif isinstance(event, Started):
            job.earlier_tokens = job.tokens
        if self.view is not None:
            self.view.on_event(event)

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        if self.view is not None:
            self.view.finish(result, keep=keep)


def start(
    run: Callable[..., GLMResult],
    request: Request,
    settings: Settings,
    view: View | None,
    prompt: str,
    *,
    name: str,
    stop: threading.Event,
    then: Callable[[GLMResult], None] | None = None,
) -> RunningResult:
    """Start ``run(request, settings, view, prompt, stop=stop)`` in the background.

    ``name`` is the variable the notebook keeps the result in (``-o NAME`` or
    ``_glm``); ``then`` runs on the thread with the final result (a
    conversation records its turn there).
    """
    result = RunningResult(request.model, prompt, name)
    job = Job(name, request.model, result, stop)
    counting = _Counting(job, view)
    with _lock:
        key = next(_ids)
        JOBS[key] = job

    def work() -> None:
        try:
            final = run(request, settings, counting, prompt, stop=stop)
        except BaseException as exc:  # a thread's failure must still settle its result
            final = GLMResult(
                model=request.model,
                prompt=prompt,
                finish_reason="error",
                error=f"{type(exc).__name__}: {exc}",
                error_code="internal",
            )
        try:
            if then is not None:
                then(final)
        finally:
            with _lock:
                JOBS.pop(key, None)
            result.settle(final)

    context = contextvars.copy_context()
    job.thread = threading.Thread(target=context.run, args=(work,), name="glm-bg", daemon=True)
    job.thread.start()
    return result


def running() -> list[Job]:
    with _lock:
        return list(JOBS.values())


def jobs_table() -> str:
    """``%glm jobs``: the running background runs."""
    jobs = running()
    if not jobs:
        return "No background runs."
    rows = [("name", "model", "elapsed", "tokens")]
    rows += [(j.name, j.model, f"{j.elapsed:.1f} s", j.shown_tokens) for j in jobs]
    return text_table(rows, right=(2, 3))


def stop(target: object | None = None) -> list[Job]:
    """Stop the run whose result is ``target`` (None: all of them); the jobs stopped.

    Waits a moment for each to close its stream, so what the caller reads
    next is the settled, interrupted result.
    """
    jobs = [j for j in running() if target is None or j.result is target]
    for job in jobs:
        job.stop.set()
    deadline = time.monotonic() + STOP_GRACE
    for job in jobs:
        if job.thread is not None:
            job.thread.join(max(0.0, deadline - time.monotonic()))
    return jobs
