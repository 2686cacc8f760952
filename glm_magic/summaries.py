"""What a notebook value reads like inside a prompt.

``{df}`` should tell the model what the data is (shape, column types, null
counts, per-column statistics, rows from all over the table) without pasting
a million rows into the request, so DataFrames, Series and numpy arrays
become compact summaries, and any value whose text is longer than the
budget is cut, with a note of what was left out. The model reads the note;
the user can always send the whole text with ``{x!s}``.

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
MAX_COLUMNS = 20
MAX_CELL = 40
#: Statistics are worth their room only if at least this many rows still fit beside them.
MIN_ROWS = 5
#: Most common values listed per text column.
TOP_VALUES = 5
#: A frame of more cells than this is never rendered whole (it could not fit a budget).
WHOLE_CELLS = 20_000


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
    """What the model needs to know of a table, within ``budget`` characters.

    A frame that fits is shown whole. Otherwise the model gets, in this order:
    shape, dtypes and null counts; per-column statistics (``describe()`` for
    numbers, distinct and most common values for the rest); then as many rows
    as still fit, spread evenly from the first to the last, so a question
    about trends over 200 rows sees the whole range, not its head. A last line
    says what the table leaves out.
    """
    rows, columns = frame.shape
    shown = list(frame.columns[:MAX_COLUMNS])
    head = _heading(frame, shown, series)
    table = _table(frame, shown, range(rows)) if rows * len(shown) <= WHOLE_CELLS else None
    if table is not None:
        text = "\n".join([*head, *table, *_left_out(0, columns - len(shown))])
        if len(text) <= budget:
            return text
    stats = _statistics(frame, shown)
    for extra in (stats, stats[:1], []):
        lead = [*head, *extra, "Rows:"] if extra else head
        fitted = _fit_rows(frame, shown, lead, budget)
        if fitted is not None and (fitted[1] >= min(rows, MIN_ROWS) or not extra):
            return fitted[0]
    return cut("\n".join([*head, *stats]), budget)


def _heading(frame: Any, shown: list[Any], series: Any) -> list[str]:
    rows, columns = frame.shape
    if series is not None:
        name = f" {_cell(series.name)!r}" if series.name is not None else ""
        nulls = _nulls(int(series.isna().sum()))
        return [f"pandas Series{name}: {rows:,} values, dtype {series.dtype}{nulls}"]
    counts = frame[shown].isna().sum()
    dtypes = ", ".join(
        f"{_cell(c)} ({frame.dtypes.iloc[i]}{_nulls(int(counts.iloc[i]))})"
        for i, c in enumerate(shown)
    )
    more = f", and {columns - len(shown):,} more" if columns > len(shown) else ""
    return [
        f"pandas DataFrame: {rows:,} rows x {columns:,} columns",
        f"Columns (dtype): {dtypes}{more}",
    ]


def _nulls(n: int) -> str:
    return f", {n:,} null" if n == 1 else f", {n:,} nulls" if n else ""


def _statistics(frame: Any, shown: list[Any]) -> list[str]:
    """``describe()`` of the numeric columns as a table, then a line per other column.

    Two statistics blocks, so that when the budget is short the numbers
    (first) can be kept without the rest.
    """
    numeric = [i for i, c in enumerate(shown) if _is_numeric(frame.iloc[:, i])]
    blocks: list[str] = []
    if numeric:
        described = frame.iloc[:, numeric].describe()
        header = ["statistic", *(_cell(shown[i]) for i in numeric)]
        lines = ["Numeric columns:", _row(header), _row(["---"] * len(header))]
        for stat, values in zip(
            described.index, described.itertuples(index=False, name=None), strict=True
        ):
            lines.append(_row([str(stat), *(_cell(v) for v in values)]))
        blocks.append("\n".join(lines))
    others = [
        _top_values(shown[i], frame.iloc[:, i]) for i in range(len(shown)) if i not in numeric
    ]
    others = [line for line in others if line]
    if others:
        blocks.append("\n".join(["Other columns (distinct values; most common, with counts):"]))
        blocks[-1] += "\n" + "\n".join(others)
    return blocks


def _is_numeric(column: Any) -> bool:
    return column.dtype.kind in "iuf"


def _top_values(name: Any, column: Any) -> str | None:
    try:
        counts = column.value_counts()
    except TypeError:  # unhashable cells (lists, dicts)
        return None
    if counts.empty:
        return f"- {_cell(name)}: no values"
    if int(counts.iloc[0]) == 1:
        return f"- {_cell(name)}: {len(counts):,} distinct, none repeated"
    top = ", ".join(f"{_cell(v)} ({int(n):,})" for v, n in counts.head(TOP_VALUES).items())
    return f"- {_cell(name)}: {len(counts):,} distinct; {top}"


def _fit_rows(frame: Any, shown: list[Any], lead: list[str], budget: int) -> tuple[str, int] | None:
    """``lead`` then the most evenly spaced rows that fit in ``budget``, and how many."""
    rows, columns = frame.shape
    best: tuple[str, int] | None = None
    low, high = 0, rows
    while low <= high:
        n = (low + high) // 2
        picked = _spread(rows, n)
        note = _left_out(rows - n, columns - len(shown), spread=0 < n < rows)
        text = "\n".join([*lead, *_table(frame, shown, picked), *note])
        if len(text) <= budget:
            best, low = (text, n), n + 1
        else:
            high = n - 1
    return best


def _spread(total: int, n: int) -> list[int]:
    """``n`` positions out of ``total``, evenly spaced, first and last included."""
    if n >= total:
        return list(range(total))
    if n <= 1:
        return list(range(n))
    return sorted({round(i * (total - 1) / (n - 1)) for i in range(n)})


def _table(frame: Any, shown: list[Any], positions: Any) -> list[str]:
    header = [_cell(frame.index.name or ""), *(_cell(c) for c in shown)]
    part = frame.iloc[list(positions), : len(shown)]
    return [
        _row(header),
        _row(["---"] * len(header)),
        *(
            _row([_cell(i), *(_cell(v) for v in values)])
            for i, values in zip(part.index, part.itertuples(index=False, name=None), strict=True)
        ),
    ]


def _left_out(rows: int, columns: int, *, spread: bool = False) -> list[str]:
    parts = [f"{n:,} more {what}" for n, what in ((rows, "rows"), (columns, "columns")) if n]
    if not parts:
        return []
    how = "; the rows shown are spread evenly over all of them" if spread else ""
    return [f"[{' and '.join(parts)} not shown{how}]"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    text = " ".join(_text(value).split()).replace("|", "\\|")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _text(value: Any) -> str:
    """A value as pandas prints it: floats to ``display.precision`` digits (378.1, not
    378.09999999999997), missing values as NaN."""
    if not isinstance(value, float) and type(value).__name__ not in ("float32", "float16"):
        return str(value)
    number = float(value)
    if number != number:
        return "NaN"
    pandas = sys.modules.get("pandas")
    digits = pandas.get_option("display.precision") if pandas is not None else 6
    rounded = round(number, digits)
    if rounded == 0 and number != 0:
        return f"{number:.{digits}g}"
    return repr(rounded)


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
