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


def test_the_live_token_count_is_estimated_from_text_then_the_providers(ip):
    from glm_magic.events import AnswerDelta, Ended, ThinkingDelta, Usage, UsageReport
    from glm_magic.views.live import WidgetView

    view = WidgetView("glm-4.6", interval=0.0)
    thinking, answer = "Let me see. " * 60, "The answer is a long one. " * 40
    # Chunks of a few characters: counting chunks said 342 where the provider said 533.
    for piece in [thinking[i : i + 4] for i in range(0, len(thinking), 4)]:
        view.on_event(ThinkingDelta(piece))
    for piece in [answer[i : i + 4] for i in range(0, len(answer), 4)]:
        view.on_event(AnswerDelta(piece))
    view.on_event(Ended("stop", True))
    view._refresh(time.monotonic())
    provider = (len(thinking) + len(answer) + 3) // 4
    estimate = int(view.status.value.split("~")[1].split()[0].replace(",", ""))
    assert abs(estimate - provider) <= provider * 0.05, (estimate, provider)
    view.on_event(UsageReport(Usage(completion_tokens=provider)))
    view._refresh(time.monotonic())
    assert f" {provider:,} tokens" in view.status.value and "~" not in view.status.value
    view.done.set()  # stops the status clock; finish() is the kernel tests' business
