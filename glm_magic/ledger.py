"""Tokens and cost per provider and model asked for: this session, today and all time.

Every run (cell, ``%glm`` line, ``glm_magic.complete``, batch item) ends in
the runner, which counts it here in memory and writes it to the store. This
session's counts come from memory, so ``%glm usage`` works with the store off;
today's and all time come from the store, so they survive restarts and
include the other kernels. Replays from the cache cost nothing and are not
counted. The provider reports usage per request only; the account's
remaining free quota lives in the provider's console, so the quota column
can only say what was spent through this package.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .catalogue import model_info
from .prices import Cost, total
from .wording import count, text_table

if TYPE_CHECKING:
    from .result import GLMResult
    from .settings import Settings


@dataclass
class Tally:
    """Runs, tokens and cost of one provider and model over some period."""

    provider: str
    model: str
    runs: int = 0
    prompt: int = 0
    completion: int = 0
    thinking: int = 0
    tokens: int = 0
    cost: Cost | None = None
    #: Runs whose tokens were estimated (interrupted before the provider's usage).
    estimated: int = 0

    def add(
        self, runs: int, prompt: int, completion: int, thinking: int, tokens: int, cost: Cost
    ) -> None:
        self.runs += runs
        self.prompt += prompt
        self.completion += completion
        self.thinking += thinking
        self.tokens += tokens
        self.cost = cost if self.cost is None else total([self.cost, cost])


LEDGER: dict[tuple[str, str], Tally] = {}
_lock = threading.Lock()


def record(result: GLMResult, asked: str) -> None:
    """Add one finished run; failed and interrupted runs count what the provider reported.

    The run counts for the model ``asked`` for: a stream that names a dated
    snapshot (``glm-5-0401`` for ``-m glm-5``) draws on that model's free
    quota. Batch workers finish runs on several threads at once, hence the lock.
    """
    if result.cached:
        return
    provider, model = result.provider or "?", asked or result.model or "?"
    u = result.usage
    with _lock:
        tally = LEDGER.setdefault((provider, model), Tally(provider, model))
        cost = Cost(result.cost, result.currency)
        tally.add(1, u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.total_tokens, cost)
        tally.estimated += u.estimated


def stored(since: float | None = None) -> list[Tally]:
    """Tallies from the store since a time (None: all time); raises StoreUnavailable."""
    from .store import current

    where = "cached = 0" + (" AND time >= ?" if since is not None else "")
    rows = current().rows(
        "SELECT provider, COALESCE(requested, model) AS asked, currency, COUNT(*), "
        "SUM(prompt_tokens), SUM(completion_tokens), SUM(reasoning_tokens), "
        "SUM(total_tokens), SUM(cost), SUM(cost IS NULL) "
        f"FROM runs WHERE {where} GROUP BY provider, asked, currency",
        (since,) if since is not None else (),
    )
    tallies: dict[tuple[str, str], Tally] = {}
    for provider, model, currency, runs, p, c, r, t, amount, unknown in rows:
        key = (provider or "?", model or "?")
        tally = tallies.setdefault(key, Tally(*key))
        cost = Cost(None, None) if unknown else Cost(amount or 0.0, currency)
        tally.add(runs, p or 0, c or 0, r or 0, t or 0, cost)
    return sorted(tallies.values(), key=lambda t: (t.provider, t.model))


def usage_report(settings: Settings) -> str:
    """``%glm usage``: this session, today and all time, against the free quota."""
    from .store import StoreUnavailable

    with _lock:
        session = sorted(
            (Tally(**vars(t)) for t in LEDGER.values()), key=lambda t: (t.provider, t.model)
        )
    sections = [("This session", session)]
    all_time: list[Tally] = []
    note = ""
    if settings.log:
        try:
            midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
            sections.append(("Today", stored(midnight)))
            all_time = stored()
            sections.append(("All time", all_time))
        except StoreUnavailable as exc:
            note = f"The store cannot be read ({exc}): this session only."
    else:
        note = "The store is off (GLMMagics.log = False or GLM_MAGIC_LOG=0): this session only."
    if not any(tallies for _, tallies in sections):
        return "\n\n".join(filter(None, ["No GLM calls yet.", note]))
    used = {(t.provider, t.model): t.tokens for t in all_time or session}
    blocks = [f"{title}\n{_table(tallies, used)}" for title, tallies in sections if tallies]
    blocks.append(
        "Thinking is part of completion and billed as output. The free quota (DashScope: "
        "1,000,000 tokens per model for new users) is per account; the Model Studio console "
        "shows what is really left." + (f" {note}" if note else "")
    )
    if estimated := sum(t.estimated for t in session):
        blocks.append(
            f"~ This session's counts include {count(estimated, 'interrupted run')} whose "
            "tokens are estimated from the text: a stream cut short sends no usage, but "
            "the provider bills what it streamed."
        )
    return "\n\n".join(blocks)


def _table(tallies: list[Tally], used: dict[tuple[str, str], int]) -> str:
    header = (
        "provider",
        "model",
        "runs",
        "prompt",
        "completion",
        "thinking",
        "total",
        "cost",
        "free quota left",
    )
    rows = [header]
    for t in tallies:
        info = model_info(t.model) if t.provider == "dashscope" else None
        if info is None:
            left = "-"
        else:
            spent = used.get((t.provider, t.model), t.tokens)
            remaining = max(info.free_tokens - spent, 0)
            left = f"{remaining:,} of {info.free_tokens:,} ({spent / info.free_tokens:.2%} used)"
        counts = (t.runs, t.prompt, t.completion, t.thinking, t.tokens)
        cost = str(t.cost or "")
        shown = [f"{n:,}" for n in counts]
        if t.estimated:  # some of these runs were interrupted: their tokens are estimates
            shown = [shown[0], *(f"~{n}" for n in shown[1:])]
        rows.append((t.provider, t.model, *shown, cost, left))
    return text_table(rows, right=range(2, len(header) - 1))
