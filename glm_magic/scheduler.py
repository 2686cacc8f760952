"""Many requests at once on worker threads: the machinery under ``glm_magic.batch``.

Threads, not ``AsyncOpenAI``. A notebook cell runs inside the kernel's
already-running asyncio loop, where ``asyncio.run()`` raises ("cannot be called
from a running event loop") and awaiting on that loop from synchronous magic
code is not possible either. Worker threads over the synchronous client have
neither problem, and each item goes through exactly the path a single cell
takes (``runner.run`` over ``Client.stream``), with its retries, error
reporting and JSON handling. A worker spends most of its time waiting on its
socket; the CPU that remains (the openai SDK building each request and parsing
each chunk, a few milliseconds per call) is what keeps a batch above its ideal
time (see ``benchmarks/bench_batch.py``). The workers share one client whose
connection pool is capped at their number, so the batch never holds more
sockets than it has workers; it is kept for the next batch of that size, as
building a client costs a third of a second.

The main thread only waits, draws the progress view and catches the
interrupt: a KeyboardInterrupt is delivered to it alone, so it sets a stop
event that every worker checks between two events of its stream, closing
the stream (and its HTTP response) at once; once the batch is summed up it
raises ``GLMInterrupted`` with the batch, so the cell ends as interrupted.

Rate limits: with known limits (``--rpm``/``--tpm``, or the provider's
published ones, see :mod:`glm_magic.pacing`) every HTTP attempt waits for its
turn under them, spread evenly. A 429 halves the number of requests allowed in
flight (at most once per wave of requests, as TCP cuts its window) and slows
the pace; each run of successes as long as the limit raises it by one, up to
the concurrency asked for. An item whose retries all met 429 goes back to the
end of the queue instead of failing. All of that goes through each item's
:class:`_ItemGate`, which the client asks before every attempt and tells every
answer: flow control never rides on the events the views draw.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from . import journal, runner
from .client import Client, get_client
from .errors import GLMInterrupted
from .events import AnswerDelta, Event, ThinkingDelta
from .pacing import OutputEstimate, Pacer
from .request import Options, build_request, message_tokens
from .result import GLMResult
from .settings import Settings
from .views import View, choose_view
from .views.progress import BatchProgress, ProgressView, choose_progress

#: How often the main thread wakes to draw progress and pass on ``--show`` events.
TICK = 0.05
#: How long an interrupted batch waits for its workers to close their streams.
GRACE = 1.0
#: How many times an item refused with 429 after all its retries goes back in the queue.
MAX_REQUEUES = 3


def succeeded(result: GLMResult) -> bool:
    """Ended normally and, for ``--json``/``--schema``, parsed: nothing to run again."""
    return result.complete and result.error is None


class AdaptiveLimit:
    """How many requests may be in flight: additive increase, multiplicative decrease.

    ``rate_limited(epoch)`` halves the limit, but only for a request that
    started after the last cut: the other requests of the same wave met the
    same overload and must not cut it again. ``release(success=True)`` counts
    successes; a run as long as the current limit raises it by one.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = self.limit = self.lowest = maximum
        self.active = 0
        self.epoch = 0
        self.successes = 0
        self.refusals = 0
        self.stopped = False
        self._cond = threading.Condition()

    def acquire(self) -> int | None:
        """Wait for a free slot; returns the current epoch, or None once stopped."""
        with self._cond:
            while self.active >= self.limit and not self.stopped:
                self._cond.wait()
            if self.stopped:
                return None
            self.active += 1
            return self.epoch

    def release(self, *, success: bool) -> None:
        with self._cond:
            self.active -= 1
            if success:
                self.successes += 1
                if self.successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self.successes = 0
            self._cond.notify_all()

    def rate_limited(self, epoch: int) -> None:
        with self._cond:
            self.refusals += 1
            if epoch == self.epoch:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self.epoch += 1
                self.successes = 0

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


class Batch(Protocol):
    """What a run needs of the batch it fills (``glm_magic.batch.BatchResult``)."""

    model: str
    options: Options
    interrupted: bool
    wall_time: float
    rate_limited: int
    lowest_concurrency: int

    def __getitem__(self, position: Any) -> Any: ...

    def __setitem__(self, position: Any, result: Any) -> None: ...

    def bundle(self) -> dict[str, str]: ...


class _ItemGate:
    """One item's flow control, asked by the client before each attempt (see ``pacing.Gate``).

    Holds the item's slot under the adaptive concurrency limit while its
    request is out, and books each attempt's moment with the batch's pacer.
    A 429 cuts both; the slot is given up while the retry waits, so other
    items' requests are not held behind it.
    """

    def __init__(self, run: BatchRun, tokens: int) -> None:
        self.run = run
        self.tokens = tokens
        self.slot: int | None = None
        self.pace_epoch = 0
        self.charged = 0
        self.last_status: int | None = None

    def before_send(self, stop: threading.Event | None) -> bool:
        if self.slot is None:
            self.slot = self.run.limit.acquire()
            if self.slot is None:
                return False
        epoch = self.run.pacer.admit(self.tokens, stop)
        if epoch is None:
            return False
        self.pace_epoch = epoch
        self.charged += self.tokens
        return True

    def answered(self, status: int, headers: Mapping[str, str]) -> None:
        self.last_status = status
        self.run.pacer.answered(status, headers, self.pace_epoch)
        if status == 429 and self.slot is not None:
            self.run.limit.rate_limited(self.slot)
            self.run.limit.release(success=False)
            self.slot = None

    def done(self, result: GLMResult) -> None:
        """Free the slot; settle the charge with what the reply used; learn its output."""
        if self.slot is not None:
            self.run.limit.release(success=result.complete)
            self.slot = None
        used = result.usage.total_tokens
        if used or not (result.answer or result.thinking):
            self.run.pacer.refund(self.charged - used)
        if used:
            self.run.output.learn(result.usage.completion_tokens)


class _Worker:
    """One thread: takes positions from the queue and runs them; also the view of its item.

    As a view it only counts tokens and passes a ``--show`` item's events on.
    Only this thread writes its counters; the main thread reads them to draw
    progress, so counting needs no lock.
    """

    def __init__(self, owner: BatchRun) -> None:
        self.owner = owner
        self.position: int | None = None
        self.live_tokens = 0
        self.thread = threading.Thread(target=self.work, name="glm-batch-worker", daemon=True)

    def work(self) -> None:
        r = self.owner
        try:
            while not r.stop.is_set():
                position = r.next_position()
                if position is None:
                    return
                self.position, self.live_tokens = position, 0
                result, gate = r.run_one(position, self)
                self.position = None
                if gate.last_status == 429 and result.error and r.requeue(position):
                    continue
                r.deliver(position, result)
        finally:
            self.position = None
            r.worker_exited()

    # the View protocol, for runner.run

    def on_event(self, event: Event) -> None:
        r = self.owner
        if isinstance(event, (ThinkingDelta, AnswerDelta)):
            # The per-token path: count it, pass it on only for a --show item.
            self.live_tokens += 1
            if r.shown and self.position in r.shown:
                r.shown[self.position].put(event)
            return
        if self.position in r.shown:
            r.shown[self.position].put(event)

    def finish(self, result: GLMResult, *, keep: bool = True) -> None:
        """Nothing to draw: the main thread shows progress and ``--show`` items."""


class BatchRun:
    """One pass over some positions of a ``BatchResult``: threads, limit, progress, interrupt."""

    def __init__(
        self,
        batch: Batch,
        positions: list[int],
        settings: Settings,
        *,
        concurrency: int,
        display: str,
        show: int,
        pacer: Pacer | None = None,
    ) -> None:
        """``pacer`` spaces the requests (None: only headers and 429s pause them)."""
        self.batch = batch
        self.settings = settings
        self.display = display
        self.queue = deque(positions)
        self.requeues: Counter[int] = Counter()
        self.positions = positions
        self.stop = threading.Event()
        self.all_done = threading.Event()
        self.limit = AdaptiveLimit(concurrency)
        self.pacer = pacer or Pacer(None, None)
        self.output = OutputEstimate()
        self.lock = threading.Lock()
        self.delivered: set[int] = set()
        self.closed = False
        self.progress = BatchProgress(len(positions), concurrency=concurrency)
        shown = positions[:show] if display != "none" else []
        self.shown: dict[int, SimpleQueue[Event]] = {p: SimpleQueue() for p in shown}
        self.client: Client | None = None
        self.workers = [_Worker(self) for _ in range(min(concurrency, len(positions)))]
        self.alive = 0

    # called from the workers

    def next_position(self) -> int | None:
        try:
            return self.queue.popleft()
        except IndexError:
            return None

    def requeue(self, position: int) -> bool:
        if self.requeues[position] >= MAX_REQUEUES:
            return False
        self.requeues[position] += 1
        self.queue.append(position)
        return True

    def run_one(self, position: int, worker: _Worker) -> tuple[GLMResult, _ItemGate]:
        """Run one item; its result, and the gate that paced it (what it saw of 429s)."""
        prompt = self.batch[position].prompt
        gate = _ItemGate(self, 0)
        try:
            request = build_request(
                prompt, self.batch.model, self.batch.options, provider=self.settings.provider
            )
            gate.tokens = message_tokens(request.messages) + self.output.per_call(request.max_reply)
            result = runner.run(
                request,
                self.settings,
                worker,
                prompt,
                client=self.client,
                stop=self.stop,
                gate=gate,
                tags=journal.tags(self.batch, position),
            )
        except Exception as exc:  # one item's surprise must not lose the others
            message = f"{type(exc).__name__}: {exc}"
            result = _failure(self.batch, position, message, "batch_error")
        gate.done(result)
        return result, gate

    def deliver(self, position: int, result: GLMResult) -> None:
        with self.lock:
            if self.closed:
                return
            self.batch[position] = result
            self.delivered.add(position)
            p = self.progress
            if succeeded(result):
                p.done += 1
            else:
                p.failed += 1
            p.tokens_in += result.usage.prompt_tokens
            p.tokens_out += result.usage.completion_tokens
            if result.usage.total_tokens and p.cost is not None:
                if result.cost is None or p.currency not in (None, result.currency):
                    p.cost = None
                else:
                    p.cost += result.cost
                    p.currency = result.currency
        if position in self.shown:
            self.shown[position].put(_Delivered(result))

    def worker_exited(self) -> None:
        with self.lock:
            self.alive -= 1
            last = self.alive == 0
        if last:
            self.all_done.set()

    # the main thread

    def go(self) -> None:
        if not self.positions:
            return
        started = time.monotonic()
        shown = list(self.shown)
        view: ProgressView | None = None
        live: View | None = None
        try:
            self.client = get_client(
                self.settings.base_url,
                self.settings.api_key(),
                timeout=self.settings.timeout,
                max_connections=len(self.workers),
            )
            view = choose_progress(self.display, self.batch.model)
            for worker in self.workers:
                with self.lock:
                    self.alive += 1
                worker.thread.start()
            while True:
                finished = self.all_done.wait(TICK)
                while shown:
                    if live is None:
                        if view is not None:
                            view.pause()
                        interval = self.settings.update_interval
                        live = choose_view(self.display, self.batch.model, interval)
                    if not self._pump(shown[0], live):
                        break
                    shown.pop(0)
                    live = None
                if view is not None:
                    if not shown:
                        view.resume()
                    view.update(self._snapshot(started))
                if finished:
                    break
        except KeyboardInterrupt:
            self.batch.interrupted = True
            self.stop.set()
            self.limit.stop()
            with contextlib.suppress(KeyboardInterrupt):
                if self.alive:
                    self.all_done.wait(GRACE)
        finally:
            self._close(started)
            if live is not None and shown:
                live.finish(self.batch[shown[0]])
            if view is not None:
                view.finish(self.batch.bundle())
        if self.batch.interrupted:
            raise GLMInterrupted(self.batch)

    def _pump(self, position: int, live: View | None) -> bool:
        """Pass the queued events of a shown item to its view; True once it is finished."""
        events = self.shown[position]
        while True:
            try:
                event = events.get_nowait()
            except Empty:
                return False
            if isinstance(event, _Delivered):
                if live is not None:
                    live.finish(event.result)
                return True
            if live is not None:
                live.on_event(event)

    def _snapshot(self, started: float) -> BatchProgress:
        with self.lock:
            p = replace(self.progress)
        busy = [w for w in self.workers if w.position is not None]
        p.running = self.limit.active
        p.tokens_out += sum(w.live_tokens for w in busy)
        p.elapsed = time.monotonic() - started
        p.limit = self.limit.limit
        if self.pacer.shown:
            p.pace = self.pacer.pace()
        return p

    def _close(self, started: float) -> None:
        """Stop taking results; whatever did not arrive is marked interrupted."""
        with self.lock:
            self.closed = True
            missing = [p for p in self.positions if p not in self.delivered]
        for position in missing:
            self.batch[position] = _failure(
                self.batch,
                position,
                "Interrupted by the user before this item finished; it was not kept.",
                "interrupted",
                finish_reason="interrupted",
            )
        self.batch.wall_time += time.monotonic() - started
        self.batch.rate_limited += self.limit.refusals
        self.batch.lowest_concurrency = min(self.batch.lowest_concurrency, self.limit.lowest)


@dataclass(frozen=True)
class _Delivered:
    """The end marker of a shown item's event queue."""

    result: GLMResult


def _failure(
    batch: Batch,
    position: int,
    message: str,
    code: str,
    *,
    finish_reason: str = "error",
) -> GLMResult:
    return GLMResult(
        model=batch.model,
        prompt=batch[position].prompt,
        finish_reason=finish_reason,
        complete=False,
        error=message,
        error_code=code,
    )
