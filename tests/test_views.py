"""How live text is paced: every token shown within ~80 ms, the front end never flooded.

The real-kernel side of this (messages per second, bytes) is in test_kernel.py
and the benchmarks; here is the rule itself, on the clock.
"""

from __future__ import annotations

import time

from glm_magic.views import Coalescer


def test_the_first_token_shows_at_once_and_no_token_waits_longer_than_max_delay():
    pacer = Coalescer(interval=0.08)
    assert pacer.max_delay <= 0.085, "p95 freshness <= 100 ms needs writes every ~80 ms"
    assert pacer.add("thinking", "First") == ("thinking", "First")
    assert pacer.add("thinking", ", second") is None, "then held for a moment..."
    time.sleep(pacer.max_delay)
    assert pacer.add("thinking", ", third") == ("thinking", ", second, third"), "...not longer"


def test_a_fast_stream_goes_out_in_big_pieces_at_most_every_interval():
    pacer = Coalescer(interval=0.03)
    writes: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        if out := pacer.add("answer", "x" * 64):
            writes.append(out[1])
    assert 2 <= len(writes) <= 0.5 / 0.03 + 1, "at most one write per interval..."
    assert min(map(len, writes[1:])) >= pacer.batch, "...and only of big batches"


def test_the_answer_never_overtakes_pending_thinking():
    pacer = Coalescer(interval=0.08)
    pacer.add("thinking", "a")
    assert pacer.add("thinking", "b") is None
    assert pacer.add("answer", "C") == ("thinking", "b")
    assert pacer.take() == ("answer", "C")
    assert pacer.take() is None
