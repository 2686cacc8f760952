"""What the store adds to a run: one write when it ends, and nothing per token.

The write is timed directly: ``store.record`` of a realistic run (a 2,000
character prompt, 8,000 characters of thinking, a 4,000 character answer)
into a store that already holds some runs, and the cache lookup that
``--cache`` adds before a request. The store is never called while a reply
streams (the runner writes once, after the last event), so its cost per token
is zero by construction; the last row checks it: a reply of thousands of
streamed tokens through the fake provider leaves exactly one row.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .common import environment, median, percentile, row

TARGET_MS = 2.0


def run(quick: bool = False) -> list[dict]:
    from glm_magic import store
    from glm_magic.events import Usage
    from glm_magic.request import Options, build_request
    from glm_magic.result import GLMResult
    from glm_magic.settings import Settings

    runs = 50 if quick else 500
    with tempfile.TemporaryDirectory() as folder, environment(GLM_MAGIC_HOME=folder):
        settings = Settings(base_url="https://dashscope.aliyuncs.com/compatible-mode/v1")
        writes, lookups = [], []
        for i in range(runs):
            prompt = f"Question {i}: " + "words of the prompt " * 100
            request = build_request(prompt, "glm-4.6", Options(temperature=0.5))
            result = GLMResult(
                answer="an answer " * 400,
                thinking="some thinking " * 570,
                model="glm-4.6",
                usage=Usage(600, 3000, 3600, 2000),
                finish_reason="stop",
                complete=True,
                prompt=prompt,
                provider="dashscope",
            )
            started = time.perf_counter()
            store.record(result, request, settings)
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.cached(request, settings)
            lookups.append(time.perf_counter() - started)
        store.current().close()  # checkpoints the write-ahead log into the file
        size = Path(store.current().path).stat().st_size
    writes_ms = [w * 1000 for w in writes[1:]]  # the first one opens and creates the file
    lookups_ms = [w * 1000 for w in lookups[1:]]
    mean = sum(writes_ms) / len(writes_ms)
    return [
        row(
            "store: write per run, mean (median, p95, max)",
            f"{mean:.2f} ms ({median(writes_ms):.2f}, {percentile(writes_ms, 95):.2f}, "
            f"{max(writes_ms):.0f})",
            f"<= {TARGET_MS:g} ms",
            mean <= TARGET_MS,
            f"{runs} runs of ~14 kB text; the max is a WAL checkpoint (one per ~230 runs)",
        ),
        row(
            "store: --cache lookup, median",
            f"{median(lookups_ms):.2f} ms",
            f"<= {TARGET_MS:g} ms",
            median(lookups_ms) <= TARGET_MS,
            "sha256 of the request, one indexed query",
        ),
        row("store: file size per run", f"{size / runs / 1024:.1f} kB", note="text + FTS index"),
        rows_per_streamed_run(quick),
    ]


def rows_per_streamed_run(quick: bool) -> dict:
    """Stream one long reply through the fake provider; count the rows it left."""
    import glm_magic
    from glm_magic import store
    from glm_magic.testing import FakeDashScope, Reply

    tokens = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as folder, FakeDashScope() as server:
        server.queue(Reply(answer="word " * tokens, chunk_chars=5))
        with environment(GLM_MAGIC_HOME=folder, GLM_MAGIC_API_KEY=server.api_key):
            glm_magic.complete("Write at length.", base_url=server.base_url)
            (count,) = store.current().rows("SELECT COUNT(*) FROM runs")[0]
            store.current().close()
    return row(
        "store: rows written for one streamed reply",
        f"{count} for {tokens:,} chunks",
        "1",
        count == 1,
        "nothing per token: one write when the run ends",
    )
