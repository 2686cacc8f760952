"""Measurement 6: peak memory a very long reply costs the kernel, against its text size.

Each side gets a fresh kernel, warmed up with a short reply (so imports and the
connection are paid before), then one long reply: ``%%glm`` with its live view,
and the bare SDK loop that only keeps the text. Growth is the kernel's peak RSS
during the long cell minus its RSS just before. The peak (``VmHWM``, what
``ru_maxrss`` reports) is reset first through ``/proc/self/clear_refs``, so the
import-time peak of the warm-up cannot hide the cell's: Linux only.
"""

from __future__ import annotations

from .bench_stream import BARE_CELL, GLM_CELL
from .common import Stream, checked, kernel_and_server, row

LONG = {False: Stream(66_000, 34_000), True: Stream(3_000, 1_500)}
STATUS = """
def _bench_kib(field):
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith(field))
"""
RESET = """
import gc
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
_bench_rss = _bench_kib("VmRSS:")
"""
PEAK = 'print(_bench_kib("VmHWM:") - _bench_rss)'


def growth(code: str, stream: Stream) -> int:
    """Bytes the kernel's peak RSS grew by while running ``code`` on ``stream``."""
    with kernel_and_server() as (kernel, server):
        server.queue(Stream(20, 10).reply())
        checked(kernel, code)
        checked(kernel, STATUS)
        checked(kernel, RESET)
        server.queue(stream.reply())
        checked(kernel, code)
        grown = int(checked(kernel, PEAK).text())
    return grown * 1024


def run(quick: bool = False) -> list[dict]:
    stream = LONG[quick]
    size = len(stream.text.encode())
    ours = growth(GLM_CELL, stream)
    bare = growth(BARE_CELL, stream)
    words = stream.thinking_words + stream.answer_words
    return [
        row(
            "memory: %%glm, peak RSS growth / text bytes",
            f"{ours / size:.1f}x",
            note=f"{words:,}-word reply ({size / 1e6:.2f} MB of text): +{ours / 1e6:.1f} MB"
            + ("; quick mode: too short, fixed costs dominate" if quick else ""),
        ),
        row(
            "memory: bare SDK loop, peak RSS growth / text bytes",
            f"{bare / size:.1f}x",
            note=f"same reply: +{bare / 1e6:.1f} MB",
        ),
    ]
