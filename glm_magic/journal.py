"""Batches that survive the kernel: each batch and each finished item, in the store.

When a batch starts, its definition goes in the store's ``batches`` table:
the name a cell stores it under (``-o NAME``, else ``_glm``; none for
``glm_magic.map`` and dry-run samples, which no name finds), the prompts,
and what a resume needs to send them the same way (options, model, endpoint,
pacing) and to give the answers back in the input's shape (the kind of input
and its index). Each item's run is written by the runner as it finishes,
tagged with the batch and its position, in its own committed transaction: a
crash or ``kill -9`` loses only the items that were in flight.

After a restart, ``%glm --resume NAME`` finds the newest batch of that name
(from this notebook first), rebuilds the ``BatchResult`` with the items that
succeeded and sends only the others.

The definition is pickled: options can hold a pydantic class and tool
functions, and an index can be any pandas index. Both are pickled by
reference, so a class or function defined in the notebook must be defined
again (run its cell) before a resume in a new kernel; if it cannot be found,
the resume says so. A definition that cannot be pickled at all (a lambda
among the tools) is journaled without it, and then cannot be resumed after a
restart (it still can in the same kernel).
"""

from __future__ import annotations

import json
import pickle
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import store
from .errors import GLMUsageError

if TYPE_CHECKING:
    from .batch import BatchResult
    from .settings import Settings


def begin(batch: BatchResult, name: str | None, settings: Settings) -> None:
    """Journal a new batch; sets ``batch.journal`` to its id. Never raises (one warning)."""
    if not settings.log:
        return
    try:
        definition: bytes | None = pickle.dumps(_definition(batch))
    except Exception:  # a lambda, a local class: not resumable after a restart
        definition = None
    journal = uuid.uuid4().hex
    row = {
        "id": journal,
        "name": name,
        "time": time.time(),
        "session": store.SESSION,
        "notebook": store.notebook_path(),
        "model": batch.model,
        "total": len(batch),
        "prompts": json.dumps([r.prompt for r in batch], ensure_ascii=False),
        "definition": definition,
    }
    try:
        store.current().insert("batches", row)
    except store.StoreUnavailable as exc:
        store.warn(str(exc), "this batch cannot be resumed after a restart")
        return
    batch.journal = journal


def _definition(batch: BatchResult) -> dict[str, Any]:
    return {
        "options": batch.options,
        "base_url": batch.base_url,
        "max_tool_rounds": batch.max_tool_rounds,
        "kind": batch.kind,
        "index": batch.index,
        "concurrency": batch.concurrency,
        "rpm": batch.rpm,
        "tpm": batch.tpm,
    }


def tags(batch: BatchResult, position: int) -> dict[str, Any] | None:
    """What the runner writes with an item's run, so a resume finds it."""
    return {"batch": batch.journal, "item": position} if batch.journal else None


def load(name: str) -> BatchResult | None:
    """The newest journaled batch called ``name``, with its finished items; None if none.

    Raises ``GLMUsageError`` when it is there but cannot be rebuilt.
    """
    from . import structured
    from .batch import BatchResult
    from .result import GLMResult

    target = store.current()
    if not target.path.exists():
        return None
    try:
        found = target.rows(
            "SELECT * FROM batches WHERE name = ? ORDER BY (notebook IS ?) DESC, time DESC LIMIT 1",
            (name, store.notebook_path()),
        )
        if not found:
            return None
        batch_row = found[0]
        finished = target.rows(
            "SELECT * FROM runs WHERE batch = ? AND complete = 1 AND error IS NULL ORDER BY id",
            (batch_row["id"],),
        )
    except store.StoreUnavailable as exc:
        raise GLMUsageError(f"--resume {name}: the store cannot be read ({exc}).") from None
    definition = _unpickle(name, batch_row["definition"])
    prompts = json.loads(batch_row["prompts"])
    results = [
        GLMResult(
            model=batch_row["model"],
            prompt=prompt,
            finish_reason="interrupted",
            error="Not finished before the kernel stopped.",
        )
        for prompt in prompts
    ]
    for row in finished:
        result = store.result_of(row)
        structured.finish(result, definition["options"])
        results[row["item"]] = result
    batch = BatchResult(
        results,
        model=batch_row["model"],
        options=definition["options"],
        base_url=definition["base_url"],
        max_tool_rounds=definition["max_tool_rounds"],
        kind=definition["kind"],
        index=definition["index"],
        concurrency=definition["concurrency"],
    )
    batch.rpm, batch.tpm = definition["rpm"], definition["tpm"]
    batch.journal = batch_row["id"]
    return batch


def _unpickle(name: str, definition: bytes | None) -> dict[str, Any]:
    if definition is None:
        msg = (
            f"--resume {name}: this batch's options (a tool or schema defined inline, "
            "such as a lambda) could not be stored, so it cannot be resumed after a "
            "restart. Run it again."
        )
        raise GLMUsageError(msg)
    try:
        return pickle.loads(definition)  # noqa: S301 - the user's own owner-only file
    except Exception as exc:
        msg = (
            f"--resume {name}: the batch's options name something this kernel does not "
            f"have yet ({type(exc).__name__}: {exc}). Run the cells that define its "
            "--schema class or --tools functions, then resume again."
        )
        raise GLMUsageError(msg) from None
