"""Tokens used in this session, per model, against each model's free quota.

Every run (cell, ``%glm`` line, ``glm_magic.complete``) ends in the runner,
which records its usage here, so ``%glm usage`` sees all of them. The provider
only reports usage per request; the account's remaining free quota lives in
the Model Studio console, so this ledger can only say what this process spent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .events import Usage
from .models import model_info
from .wording import text_table

if TYPE_CHECKING:
    from .result import GLMResult


@dataclass
class ModelUsage:
    runs: int = 0
    usage: Usage = field(default_factory=Usage)


LEDGER: dict[str, ModelUsage] = {}
_lock = threading.Lock()


def record(result: GLMResult) -> None:
    """Add one finished run; failed and interrupted runs count what the provider reported.

    Batch workers finish runs on several threads at once, hence the lock.
    """
    with _lock:
        entry = LEDGER.setdefault(result.model or "?", ModelUsage())
        entry.runs += 1
        entry.usage += result.usage


def usage_table() -> str:
    """The ledger as aligned plain text, for ``%glm usage``."""
    with _lock:
        entries = sorted((model, e.runs, e.usage) for model, e in LEDGER.items())
    if not entries:
        return "No GLM calls in this session yet."
    header = ("model", "runs", "prompt", "completion", "thinking", "total", "free quota left")
    rows = [header]
    for model, runs, u in entries:
        info = model_info(model)
        if info is None:
            left = "-"
        else:
            remaining = max(info.free_tokens - u.total_tokens, 0)
            used = u.total_tokens / info.free_tokens
            left = f"{remaining:,} of {info.free_tokens:,} ({used:.2%} used)"
        counts = (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.total_tokens)
        rows.append((model, f"{runs:,}", *(f"{n:,}" for n in counts), left))
    note = (
        "This session only: thinking is part of completion and billed as output. The free "
        "quota is per account and model; the Model Studio console shows what is really left."
    )
    return f"{text_table(rows, right=range(1, len(header) - 1))}\n\n{note}"
