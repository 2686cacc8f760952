"""What every benchmark shares: result rows, statistics, test streams, a kernel with a server."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from glm_magic.testing import FakeDashScope, Reply
from glm_magic.testing.kernel import CellRun, KernelSession

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write at length."


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration, then put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def row(name: str, value: Any, target: str = "", ok: bool | None = None, note: str = "") -> dict:
    """One line of the table; ``ok`` is None where there is no target (or it cannot be judged)."""
    return {"name": name, "value": value, "target": target, "ok": ok, "note": note}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolated between the nearest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def peak_rate(times: list[float], window: float = 1.0) -> int:
    """The most events within any ``window`` seconds."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def words(n: int, word: str) -> str:
    return " ".join(f"{word}{i % 97}" for i in range(n))


@dataclass(frozen=True)
class Stream:
    """A scripted reply: ``thinking_words`` then ``answer_words``, about a token per chunk."""

    thinking_words: int
    answer_words: int
    delay: float = 0.0

    @property
    def thinking(self) -> str:
        return words(self.thinking_words, "think")

    @property
    def answer(self) -> str:
        return words(self.answer_words, "answer")

    @property
    def text(self) -> str:
        """Everything the user is shown, in order: the thinking, then the answer."""
        return self.thinking + self.answer

    def reply(self) -> Reply:
        return Reply(thinking=self.thinking, answer=self.answer, delay=self.delay)

    def describe(self) -> str:
        pace = f", a chunk every {self.delay * 1000:g} ms" if self.delay else ", unpaced"
        return f"{self.thinking_words:,} thinking + {self.answer_words:,} answer words{pace}"


@contextmanager
def kernel_and_server(**server_options: Any) -> Iterator[tuple[KernelSession, FakeDashScope]]:
    """A fake DashScope and a real kernel pointed at it, extension and baselines loaded."""
    with FakeDashScope(**server_options) as server:
        env = {
            "GLM_MAGIC_BASE_URL": server.base_url,
            "GLM_MAGIC_API_KEY": server.api_key,
            "GLM_MAGIC_MODEL": "glm-4.6",
        }
        with KernelSession(env, cwd=str(ROOT)) as kernel:
            checked(kernel, "%load_ext glm_magic\nimport benchmarks.baselines as baselines")
            yield kernel, server


def checked(kernel: KernelSession, code: str, timeout: float = 600.0) -> CellRun:
    """Run a cell; a failing cell stops the benchmark with the kernel's error."""
    run = kernel.execute(code, timeout=timeout)
    if not run.ok:
        reply = run.reply
        msg = f"cell failed: {code.splitlines()[0]!r}: {reply.get('ename')}: {reply.get('evalue')}"
        raise RuntimeError(msg)
    return run


def kernel_cpu(kernel: KernelSession, code: str) -> tuple[CellRun, float]:
    """Run ``code`` and return its run and the kernel's CPU seconds (all threads) for it."""
    checked(kernel, "import time as _bench_time; _bench_cpu = _bench_time.process_time()")
    run = checked(kernel, code)
    spent = checked(kernel, "print(_bench_time.process_time() - _bench_cpu)")
    return run, float(spent.text())


def machine() -> dict[str, str]:
    """Where the numbers were taken: they only mean something next to this."""
    from importlib.metadata import version

    def first(cmd: list[str], prefix: str = "") -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return "?"
        lines = [ln for ln in out.splitlines() if ln.startswith(prefix)]
        return lines[0].removeprefix(prefix).strip() if lines else "?"

    packages = ("ipykernel", "ipywidgets", "jupyter_client", "openai", "ipython", "pyzmq")
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": first(["lscpu"], "Model name:"),
        "nproc": first(["nproc"]),
        "memory": first(["free", "-h"], "Mem:").split()[0],
        "python": f"{platform.python_version()} ({sys.platform})",
        "packages": ", ".join(f"{p} {version(p)}" for p in packages),
    }
