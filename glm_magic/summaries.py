"""What a notebook value reads like inside a prompt.

``{df}`` should tell the model what the data is (shape, column types, the
first rows) without pasting a million rows into the request, so DataFrames,
Series and numpy arrays become compact summaries, and any value whose text is
longer than the budget is cut, with a note of what was left out. The model
reads the note; the user can always send the whole text with ``{x!s}``.

pandas and numpy are never imported here: a value can only be a DataFrame or
an array if the user already imported the library, so ``sys.modules`` says
which checks are worth making.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from . import defaults

DEFAULT_BUDGET = defaults.VALUE_BUDGET
MAX_ROWS = 20
MAX_COLUMNS = 20
MAX_CELL = 40


def summarize(value: Any, budget: int = DEFAULT_BUDGET) -> str:
    """``value`` as prompt text of at most ``budget`` characters."""
    pandas = sys.modules.get("pandas")
    numpy = sys.modules.get("numpy")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return frame_summary(value, budget)
    if pandas is not None and isinstance(value, pandas.Series):
        return frame_summary(value.to_frame(), budget, series=value)
    if numpy is not None and isinstance(value, numpy.ndarray):
        return cut(f"numpy array, shape {value.shape}, dtype {value.dtype}:\n{value}", budget)
    if isinstance(value, list | tuple | set | frozenset | dict):
        return collection_summary(value, budget)
    return cut(str(value), budget)


def cut(text: str, budget: int) -> str:
    """``text`` within ``budget``: its start, a note of what was left out, and its end.

    The end is kept too because that is where a log or a traceback says
    what finally happened.
    """
    if len(text) <= budget:
        return text
    keep = max(0, budget - len(_cut_note(len(text), len(text))))
    tail = keep // 4
    head = keep - tail
    return text[:head] + _cut_note(len(text) - keep, len(text)) + text[len(text) - tail :]


def _cut_note(left_out: int, total: int) -> str:
    return f"\n[... {left_out:,} of {total:,} characters left out here ...]\n"


def frame_summary(frame: Any, budget: int, series: Any = None) -> str:
    """Shape, dtypes and the first rows as a Markdown table, within ``budget``.

    As many of the first rows as fit are shown; a last line says what the
    table leaves out (rows, columns), so the model knows it sees a part.
    """
    rows, columns = frame.shape
    shown = list(frame.columns[:MAX_COLUMNS])
    if series is not None:
        name = f" {_cell(series.name)!r}" if series.name is not None else ""
        head = [f"pandas Series{name}: {rows:,} values, dtype {series.dtype}"]
    else:
        dtypes = ", ".join(f"{_cell(c)} ({frame.dtypes[c]})" for c in shown)
        more = f", and {columns - len(shown):,} more" if columns > len(shown) else ""
        head = [
            f"pandas DataFrame: {rows:,} rows x {columns:,} columns",
            f"Columns (dtype): {dtypes}{more}",
        ]
    header = [_cell(frame.index.name or ""), *(_cell(c) for c in shown)]
    head += [_row(header), _row(["---"] * len(header))]
    part = frame.iloc[:MAX_ROWS][shown]
    body = [
        _row([_cell(i), *(_cell(v) for v in values)])
        for i, values in zip(part.index, part.itertuples(index=False, name=None), strict=True)
    ]
    for n in range(len(body), -1, -1):
        text = "\n".join([*head, *body[:n], *_left_out(rows - n, columns - len(shown))])
        if len(text) <= budget:
            return text
    return cut(text, budget)


def _left_out(rows: int, columns: int) -> list[str]:
    parts = [f"{n:,} more {what}" for n, what in ((rows, "rows"), (columns, "columns")) if n]
    return [f"[{' and '.join(parts)} not shown]"] if parts else []


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def collection_summary(value: Any, budget: int) -> str:
    """The value's text if it fits, else its first items that fit and how many follow."""
    text = str(value)
    if len(text) <= budget:
        return text
    if isinstance(value, dict):
        items = [f"{k!r}: {v!r}" for k, v in value.items()]
    else:
        items = [repr(v) for v in value]
    kind = type(value).__name__
    opening, closing = "{}" if isinstance(value, dict | set | frozenset) else "[]"
    note = f"\n[{kind} of {len(items):,} items; {len(items):,} more left out]"
    room = budget - len(note) - len("[, ...]")
    shown: list[str] = []
    for item in items:
        room -= len(item) + 2
        if room < 0:
            break
        shown.append(item)
    note = f"\n[{kind} of {len(items):,} items; {len(items) - len(shown):,} more left out]"
    return cut(f"{opening}{', '.join(shown)}, ...{closing}{note}", budget)


class ErrorMemory:
    """The last exception raised by a cell, as text, for ``{_glm_last_error}``.

    A ``post_run_cell`` hook rather than ``sys.last_value``: IPython stores a
    magic's ``UsageError`` there too, so one mistyped ``%%glm`` cell would
    replace the error the user wanted explained. The traceback is formatted
    when the error happens and only the text is kept: the exception would keep
    every frame of its traceback alive, with their locals (DataFrames, models)
    for the rest of the session.
    """

    def __init__(self) -> None:
        self.text: str | None = None

    def __call__(self, result: Any) -> None:
        from IPython.core.error import UsageError

        error = result.error_before_exec or result.error_in_exec
        if error is not None and not isinstance(error, UsageError):
            self.text = format_error(error)


def format_error(error: BaseException) -> str:
    """The traceback as plain text, without IPython's own frames."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("IPython."):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


last_error = ErrorMemory()
