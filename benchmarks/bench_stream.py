"""Measurements 1-4: front-end traffic, update rate, freshness and kernel CPU of ``%%glm``.

Everything runs in one real kernel against one FakeDashScope, and every figure
is a ratio or a delay taken in the same run as its yardstick:

* traffic and update rate come from the iopub messages the kernel sent
  (``KernelSession`` records each one with its wire size and header date),
  for ``%%glm`` and for the two baselines in ``benchmarks/baselines.py`` fed
  the same long unpaced stream;
* kernel CPU is ``time.process_time()`` in the kernel (all its threads, so the
  iopub thread's work counts) around the cell, ``%%glm`` against a bare SDK
  loop, alternated and compared pair by pair;
* freshness pairs the wall-clock time the server wrote each chunk with the
  date of the first message that puts its last character on screen.

``%%glm`` shows the thinking as stream messages and the answer as Markdown:
finished blocks as ``display_data``, the open block as the ``outputs`` of an
``Output`` widget (:mod:`glm_magic.views.markdown`). :func:`shown` follows
both, so every figure counts what the user sees, whichever way it travels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glm_magic.testing import FakeDashScope
from glm_magic.testing.kernel import CellRun, KernelSession

from .common import (
    PROMPT,
    Stream,
    checked,
    kernel_and_server,
    kernel_cpu,
    median,
    peak_rate,
    percentile,
    row,
)

FAST = {False: Stream(8000, 4000), True: Stream(300, 150)}
# Freshness needs streams the kernel keeps up with, so that a chunk's send time is also
# its arrival time: one well above GLM's real speed (tens of tokens/s), one at about it.
# Each entry: (stream, runs).
PACED = {
    False: [(Stream(1000, 500, delay=0.002), 3), (Stream(120, 60, delay=0.02), 1)],
    True: [(Stream(150, 75, delay=0.002), 1)],
}
REPEATS = {False: 9, True: 1}

GLM_CELL = f"%%glm\n{PROMPT}"
BARE_CELL = f"_bench_bare = baselines.bare_loop({PROMPT!r})"
BASELINES = {
    "widget value set per token": (f"baselines.naive_widgets({PROMPT!r})", ("comm_msg",)),
    "update_display per token": (
        f"baselines.display_updates({PROMPT!r})",
        ("update_display_data",),
    ),
}
NOT_SHOWN = frozenset({"status", "execute_input"})
#: What carries %%glm's text: see :func:`shown`.
GLM_TEXT = ("stream", "display_data", "comm_msg")


@dataclass
class Timeline:
    """One paced stream: when text left the server and when the kernel sent it on."""

    sent: list[tuple[float, int]] = field(default_factory=list)
    shown: list[tuple[float, int]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)


@dataclass
class Paced:
    """The runs of one paced stream, for freshness."""

    stream: Stream
    timelines: list[Timeline]
    rates: list[int]

    def delay(self, q: float) -> float:
        """The median over runs of the ``q``-th percentile delay, in ms."""
        return median([percentile(t.delays, q) for t in self.timelines]) * 1000

    @property
    def chunks_per_second(self) -> float:
        sent = self.timelines[0].sent
        return (len(sent) - 1) / (sent[-1][0] - sent[0][0])


@dataclass
class Measured:
    rows: list[dict]
    plotted: Paced


def run(quick: bool = False) -> list[dict]:
    return measure(quick).rows


def measure(quick: bool = False) -> Measured:
    fast = FAST[quick]
    with kernel_and_server() as (kernel, server):
        warm_up(kernel, server)
        ours, bare_cpu = glm_against_bare(kernel, server, fast, REPEATS[quick])
        baselines = {
            name: baseline(kernel, server, fast, code, kind)
            for name, (code, kind) in BASELINES.items()
        }
        paced = [freshness(kernel, server, stream, runs) for stream, runs in PACED[quick]]
    return Measured(report(quick, fast, ours, bare_cpu, baselines, paced), paced[0])


def freshness(kernel: KernelSession, server: FakeDashScope, stream: Stream, runs: int) -> Paced:
    measured = Paced(stream, [], [])
    for _ in range(runs):
        server.reset()
        server.record_sends = True
        server.queue(stream.reply())
        run = checked(kernel, GLM_CELL)
        measured.timelines.append(timeline(server.sends, run, stream))
        measured.rates.append(streaming_rate(run, GLM_TEXT))
    server.reset()
    return measured


def warm_up(kernel: KernelSession, server: FakeDashScope) -> None:
    """First use imports openai and ipywidgets and opens a connection: not what we measure."""
    small = Stream(20, 10)
    for code in (GLM_CELL, BARE_CELL, *(code for code, _ in BASELINES.values())):
        server.queue(small.reply())
        checked(kernel, code)


@dataclass
class Traffic:
    ratio: float
    rate: int
    cpu: float
    messages: int
    megabytes: float


def traffic(run: CellRun, stream: Stream, kind: tuple[str, ...], cpu: float) -> Traffic:
    return Traffic(
        ratio=run.total_bytes / len(stream.text.encode()),
        rate=streaming_rate(run, kind),
        cpu=cpu,
        messages=len([m for m in run.messages if m.msg_type not in NOT_SHOWN]),
        megabytes=run.total_bytes / 1e6,
    )


def glm_against_bare(
    kernel: KernelSession, server: FakeDashScope, stream: Stream, repeats: int
) -> tuple[list[Traffic], list[float]]:
    """``%%glm`` and the bare loop in alternating order; returns our runs and the bare CPU."""
    ours: list[Traffic] = []
    bare: list[float] = []
    for i in range(repeats):
        order = (GLM_CELL, BARE_CELL) if i % 2 == 0 else (BARE_CELL, GLM_CELL)
        for code in order:
            server.queue(stream.reply())
            run, cpu = kernel_cpu(kernel, code)
            if code == BARE_CELL:
                bare.append(cpu)
                continue
            check_shown(run, stream)
            ours.append(traffic(run, stream, GLM_TEXT, cpu))
    return ours, bare


def baseline(
    kernel: KernelSession, server: FakeDashScope, stream: Stream, code: str, kind: tuple[str, ...]
) -> Traffic:
    """One run is enough: a per-token baseline's traffic does not depend on timing."""
    server.queue(stream.reply())
    run, cpu = kernel_cpu(kernel, code)
    return traffic(run, stream, kind, cpu)


def streaming_rate(run: CellRun, kind: tuple[str, ...]) -> int:
    """Peak front-end messages in any 1 s window between the first and last text update."""
    ours = kind == GLM_TEXT
    text_times = [t for t, _ in shown(run)] if ours else [m.sent for m in run.of(*kind)]
    first, last = min(text_times), max(text_times)
    times = [m.sent for m in run.messages if m.msg_type not in NOT_SHOWN]
    return peak_rate([t for t in times if first <= t <= last])


def timeline(sends: list, run: CellRun, stream: Stream) -> Timeline:
    """Each chunk's delay: from the server writing it to the kernel sending the stream
    message that completes it. Both clocks are this machine's wall clock."""
    check_shown(run, stream)
    line = Timeline()
    total = 0
    for sent_at, chunk in sends:
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices or []:
            delta = choice.get("delta") or {}
            piece = (delta.get("reasoning_content") or "") + (delta.get("content") or "")
            if piece:
                total += len(piece)
                line.sent.append((sent_at, total))
    line.shown = shown(run)
    j = 0
    for sent_at, end in line.sent:
        while line.shown[j][1] < end:
            j += 1
        line.delays.append(line.shown[j][0] - sent_at)
    return line


def check_shown(run: CellRun, stream: Stream) -> None:
    """The final flush happened: the panes showed exactly the streamed text."""
    if run.text() != stream.thinking or run.markdown() != stream.answer:
        msg = "%%glm did not show exactly the streamed text (a missing final flush?)"
        raise AssertionError(msg)


def shown(run: CellRun) -> list[tuple[float, int]]:
    """For each message that shows text, when it was sent and how many characters of
    the reply (thinking, then answer) are on screen after it.

    Thinking arrives as stream messages; answer blocks as ``display_data`` appended
    for good, and the open block as an ``Output`` widget's ``outputs``, which a
    redraw replaces (and an append makes stale, until the redraw that follows it).
    """
    points: list[tuple[float, int]] = []
    streamed = appended = open_block = 0
    for m in run.messages:
        if m.msg_type == "stream":
            streamed += len(m.content["text"])
        elif m.msg_type == "display_data" and "text/markdown" in m.content["data"]:
            appended += len(m.content["data"]["text/markdown"])
            open_block = 0
        elif m.msg_type == "comm_msg" and "outputs" in m.content["data"].get("state", {}):
            outputs = m.content["data"]["state"]["outputs"]
            open_block = sum(len(o["data"].get("text/markdown", "")) for o in outputs)
        else:
            continue
        points.append((m.sent, streamed + appended + open_block))
    return points


def report(
    quick: bool,
    fast: Stream,
    ours: list[Traffic],
    bare_cpu: list[float],
    baselines: dict[str, Traffic],
    paced: list[Paced],
) -> list[dict]:
    judge = None if quick else True
    short = "quick mode: the stream is too short for this target (fixed costs dominate)"
    ratio = median([t.ratio for t in ours])
    rate = max(t.rate for t in ours)
    cpu = median([t.cpu / b for t, b in zip(ours, bare_cpu, strict=True)])
    bare = median(bare_cpu)
    best = min(t.cpu for t in ours) / min(bare_cpu)
    rows = [
        row(
            "traffic: %%glm, iopub bytes / text bytes",
            f"{ratio:.2f}x",
            "<= 3x",
            ratio <= 3 if judge else None,
            f"{fast.describe()}; {median([t.megabytes for t in ours]):.2f} MB in "
            f"{ours[0].messages} messages" + ("" if judge else f"; {short}"),
        ),
    ]
    for name, t in baselines.items():
        rows.append(
            row(
                f"traffic: {name}",
                f"{t.ratio:,.0f}x",
                note=f"same stream; {t.megabytes:,.0f} MB in {t.messages:,} messages",
            )
        )
    rows.append(
        row(
            "update rate: %%glm, messages/s (peak 1 s)",
            f"{rate}/s",
            "<= 20/s",
            rate <= 20,
            "unpaced stream; paced streams: "
            + ", ".join(f"{max(p.rates)}/s at {p.chunks_per_second:,.0f} chunks/s" for p in paced)
            + "; final flush: shown text == streamed text",
        )
    )
    for name, t in baselines.items():
        rows.append(row(f"update rate: {name}", f"{t.rate:,}/s"))
    for p in paced:
        speed = f"{p.chunks_per_second:,.0f} chunks/s"
        worst = max(max(t.delays) for t in p.timelines) * 1000
        rows += [
            row(
                f"freshness: %%glm at {speed}, chunk sent -> update sent, p50",
                f"{p.delay(50):.0f} ms",
                note=f"{p.stream.describe()}; median of {len(p.timelines)} run(s)",
            ),
            row(
                f"freshness: %%glm at {speed}, p95",
                f"{p.delay(95):.0f} ms",
                "<= 100 ms",
                p.delay(95) <= 100,
                f"max {worst:.0f} ms",
            ),
        ]
    rows += [
        row(
            "kernel CPU: %%glm / bare SDK loop",
            f"{cpu:.2f}x",
            "<= 1.15x",
            cpu <= 1.15 if judge else None,
            f"median of {len(ours)} alternating pair(s) (best/best {best:.2f}x); "
            f"bare loop {bare:.2f} s" + ("" if judge else f"; {short}"),
        ),
    ]
    for name, t in baselines.items():
        rows.append(row(f"kernel CPU: {name} / bare", f"{t.cpu / bare:.1f}x"))
    return rows
