"""Measurement 7: what the first ``%%glm`` cell costs before its request leaves, next to the second.

A fresh kernel loads the extension, the user takes a moment (``THINK`` seconds,
much less than anyone needs to type a prompt), then runs two ``%%glm`` cells.
For each, the overhead is the time from the kernel starting the cell (the date
of its ``execute_input`` message) to the fake server receiving the request
(the server's clock; same machine, same clock). The first cell used to pay for
importing ``openai`` and ``ipywidgets`` and building the HTTP client; the
warm-up started by ``%load_ext`` does that while the user types.
"""

from __future__ import annotations

import time

from .common import PROMPT, checked, kernel_and_server, median, row

THINK = 2.0
RUNS = {False: 5, True: 1}
TARGET_MS = 50


def overheads() -> tuple[float, float]:
    """Cell start to request received, in seconds, for the first and the second cell."""
    with kernel_and_server() as (kernel, server):
        time.sleep(THINK)
        spent = []
        for _ in range(2):
            server.reset()
            run = checked(kernel, f"%%glm\n{PROMPT}")
            (started,) = run.of("execute_input")
            spent.append(server.requests[0].time - started.sent)
        return spent[0], spent[1]


def run(quick: bool = False) -> list[dict]:
    firsts, seconds = [], []
    for _ in range(RUNS[quick]):
        first, second = overheads()
        firsts.append(first * 1000)
        seconds.append(second * 1000)
    first, second = median(firsts), median(seconds)
    return [
        row(
            "first cell: start to request sent, 1st / 2nd %%glm cell",
            f"{first:.0f} ms / {second:.0f} ms",
            f"1st <= {TARGET_MS} ms",
            first <= TARGET_MS,
            f"medians of {len(firsts)} fresh kernels, {THINK:g} s after %load_ext; "
            "time at the fake server minus the cell's execute_input date",
        )
    ]
