"""``%glm log`` and ``glm_magic.log()``: the stored runs, newest first, searchable.

Records are plain dicts, so ``pd.DataFrame(glm_magic.log(100))`` is a table
of runs; the list they come in renders itself as an HTML table in a notebook
(with a text/plain twin elsewhere). Search uses SQLite's full-text index
(FTS5) over prompts and answers where the SQLite build has it, else a plain
substring match.
"""

from __future__ import annotations

import html
import json
import time
from datetime import datetime
from typing import Any

from .errors import GLMUsageError
from .prices import cost_text
from .wording import text_table

#: The columns of a record, in order.
FIELDS = (
    "id", "time", "notebook", "cell", "provider", "model", "prompt", "answer", "thinking",
    "prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens", "cost",
    "currency", "finish_reason", "error_code", "error", "cached", "total_time", "options",
    "chat", "batch", "item",
)  # fmt: skip
PREVIEW = 60


class LogRecords(list):
    """Stored runs as dicts, newest first; shown as a table, convertible to a DataFrame."""

    def __init__(self, records: list[dict[str, Any]], search: str | None = None) -> None:
        super().__init__(records)
        self.search = search

    def _title(self) -> str:
        what = f" matching {self.search!r}" if self.search else ""
        return f"{len(self)} stored runs{what}, newest first"

    def _rows(self) -> list[tuple[str, ...]]:
        rows = []
        for r in self:
            tokens = f"{r['prompt_tokens'] or 0:,} / {r['completion_tokens'] or 0:,}"
            cost = "cached" if r["cached"] else cost_text(r["cost"], r["currency"])
            rows.append(
                (
                    r["time"].strftime("%Y-%m-%d %H:%M"),
                    r["model"] or "?",
                    _short(r["prompt"]),
                    _short(r["answer"])
                    if r["finish_reason"] != "error"
                    else f"! {r['error_code']}",
                    tokens,
                    cost,
                )
            )
        return rows

    HEADER = ("time", "model", "prompt", "answer", "tokens in / out", "cost")

    def __repr__(self) -> str:
        if not self:
            return _empty(self.search)
        return f"{self._title()}\n{text_table([self.HEADER, *self._rows()])}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        if not self:
            return f"<p>{html.escape(_empty(self.search))}</p>"
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in row)
            + "</tr>"
            for row in self._rows()
        )
        return (
            f"<p><b>{html.escape(self._title())}</b></p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


def _empty(search: str | None) -> str:
    if search:
        return f"No stored run matches {search!r}."
    return "No runs stored yet."


def log(n: int = 20, search: str | None = None) -> LogRecords:
    """The last ``n`` stored runs, newest first; with ``search``, those whose prompt or
    answer holds every word of it. Raises ``GLMUsageError`` when the store cannot be
    read. Runs stored before the store was switched off are still listed."""
    from .store import StoreUnavailable, current

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise GLMUsageError(f"log() needs n as a whole number of at least 1; got {n!r}.")
    if search is not None and not isinstance(search, str):
        raise GLMUsageError(f"log() needs search as text; got {type(search).__name__}.")
    store = current()
    if not store.path.exists():
        return LogRecords([], search)
    try:
        rows = _query(store, n, (search or "").strip() or None)
    except StoreUnavailable as exc:
        raise GLMUsageError(f"The store {store.path} cannot be read: {exc}.") from None
    return LogRecords([_record(row) for row in rows], search)


def _query(store: Any, n: int, search: str | None) -> list[Any]:
    columns = ", ".join(f"runs.{f}" for f in FIELDS)
    if search is None:
        return store.rows(f"SELECT {columns} FROM runs ORDER BY runs.id DESC LIMIT ?", (n,))
    store.rows("SELECT 1")  # opens the file, so ``store.fts`` is known
    if store.fts:
        phrase = " ".join('"' + word.replace('"', '""') + '"' for word in search.split())
        return store.rows(
            f"SELECT {columns} FROM runs_fts JOIN runs ON runs.id = runs_fts.rowid "
            "WHERE runs_fts MATCH ? ORDER BY runs.id DESC LIMIT ?",
            (phrase, n),
        )
    like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return store.rows(
        f"SELECT {columns} FROM runs WHERE runs.prompt LIKE ? ESCAPE '\\' "
        "OR runs.answer LIKE ? ESCAPE '\\' ORDER BY runs.id DESC LIMIT ?",
        (like, like, n),
    )


def _record(row: Any) -> dict[str, Any]:
    record = {name: row[name] for name in FIELDS}
    record["time"] = datetime.fromtimestamp(row["time"])
    record["cached"] = bool(row["cached"])
    record["options"] = json.loads(row["options"] or "{}")
    return record


def prune(days: float) -> int:
    """Delete the runs older than ``days`` days (and batches with them); returns how many."""
    from .store import StoreUnavailable, current

    cutoff = time.time() - days * 86_400
    store = current()
    try:
        removed = store.execute("DELETE FROM runs WHERE time < ?", (cutoff,))
        store.execute("DELETE FROM batches WHERE time < ?", (cutoff,))
    except StoreUnavailable as exc:
        raise GLMUsageError(f"The store {store.path} cannot be pruned: {exc}.") from None
    return removed


USAGE = "Usage: `%glm log [-n N] [TEXT]` or `%glm log --prune DAYS`."


def command(words: list[str]) -> LogRecords | str:
    """``%glm log`` words: ``-n N``, ``--prune DAYS``, and the search text."""
    n, search, i = 20, [], 0
    while i < len(words):
        word = words[i]
        if word in ("-n", "--prune"):
            if i + 1 >= len(words):
                raise GLMUsageError(f"{word} needs a number. {USAGE}")
            value = words[i + 1]
            if word == "--prune":
                if len(words) != 2:
                    raise GLMUsageError(f"--prune takes only DAYS. {USAGE}")
                return _prune_words(value)
            if not value.isdigit() or int(value) < 1:
                raise GLMUsageError(f"-n needs a whole number of at least 1; got {value!r}.")
            n = int(value)
            i += 2
        else:
            search.append(word)
            i += 1
    return log(n, " ".join(search) or None)


def _prune_words(value: str) -> str:
    try:
        days = float(value)
    except ValueError:
        days = -1.0
    if not days >= 0:
        raise GLMUsageError(f"--prune needs a number of days, 0 or more; got {value!r}.")
    removed = prune(days)
    return f"Removed {removed:,} stored runs older than {days:g} days."
