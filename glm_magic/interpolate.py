"""Fill ``{name}`` and ``{expression}`` in a prompt from the notebook's namespace.

Like IPython's ``{}`` expansion in ``!`` commands, but strict: a name that does
not exist, or braces that are not a placeholder at all (a dict literal, JSON),
stop the cell with a message that says what to do, instead of sending a
half-filled prompt. ``$`` is left alone, since prompts talk about prices.

Values go in as :mod:`glm_magic.summaries` renders them: a DataFrame as a
summary, long text cut to the budget. A conversion (``{x!s}``, ``{x!r}``) or
a format spec sends exactly that text instead. ``{_glm_last_error}`` is the
traceback of the last exception raised in a cell, unless the notebook
defines that name itself.

A placeholder whose value is a function or a method is refused: ``{row.product}``
on a pandas row is ``Series.prod`` unless the row is wrapped in :class:`Row`,
and a prompt with ``<bound method ...>`` in it is a silent waste of a call.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import GLMUsageError
from .summaries import DEFAULT_BUDGET, last_error, summarize

LITERAL_HINT = (
    "If the braces are meant literally (code, JSON), add --raw to the %%glm line "
    "or double them: {{ and }}."
)
OPENERS = {"(": ")", "[": "]", "{": "}"}


def interpolate(
    template: str,
    namespace: dict[str, Any],
    *,
    budget: int = DEFAULT_BUDGET,
    notes: list[str] | None = None,
) -> str:
    """``template`` with its placeholders filled; each value takes at most ``budget`` characters.

    Text that had to be cut is reported in ``notes`` (when given), so the
    user can be told what the model did not see.
    """
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        brace = _next_brace(template, i)
        out.append(template[i:brace])
        if brace == n:
            break
        pair = template[brace : brace + 2]
        if pair in ("{{", "}}"):
            out.append(pair[0])
            i = brace + 2
        elif pair[0] == "}":
            msg = f"The prompt has a '}}' with no matching '{{'. {LITERAL_HINT}"
            raise GLMUsageError(msg)
        else:
            end = _closing(template, brace)
            if end is None:
                snippet = template[brace : brace + 40]
                msg = f"The prompt has a '{{' that is never closed: {snippet!r}. {LITERAL_HINT}"
                raise GLMUsageError(msg)
            out.append(_fill(template[brace + 1 : end], namespace, budget, notes))
            i = end + 1
    return "".join(out)


def _next_brace(text: str, start: int) -> int:
    positions = [p for p in (text.find("{", start), text.find("}", start)) if p != -1]
    return min(positions) if positions else len(text)


def _closing(text: str, start: int) -> int | None:
    """Index of the '}' that closes the '{' at ``start``, skipping brackets and strings."""
    stack: list[str] = []
    quote: str | None = None
    i = start + 1
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in OPENERS:
            stack.append(OPENERS[c])
        elif c in ")]}":
            if not stack:
                return i if c == "}" else None
            if stack.pop() != c:
                return None
        i += 1
    return None


def _fill(field: str, namespace: dict[str, Any], budget: int, notes: list[str] | None) -> str:
    expression, conversion, spec = _split_field(field)
    try:
        value = eval(expression, namespace, _Lazy(namespace))
    except GLMUsageError:
        raise
    except NameError as exc:
        name = getattr(exc, "name", None) or expression.strip()
        msg = (
            f"The prompt uses {{{field}}}, but there is no variable named {name!r} in the "
            f"notebook. Define it in a cell above. {LITERAL_HINT}"
        )
        raise GLMUsageError(msg) from None
    except Exception as exc:
        msg = (
            f"The prompt placeholder {{{field}}} failed: {type(exc).__name__}: {exc}. "
            f"Fix the expression. {LITERAL_HINT}"
        )
        raise GLMUsageError(msg) from None
    if isinstance(value, Row):
        value = value.series
    if inspect.isroutine(value):
        _refuse_routine(field, expression, value)
    if conversion == "r":
        value = repr(value)
    elif conversion == "a":
        value = ascii(value)
    elif conversion == "s":
        value = str(value)
    plain = conversion or spec
    if notes is not None and isinstance(value, str) and len(value) > budget and not plain:
        notes.append(
            f"{{{field}}} is {len(value):,} characters, cut to {budget:,} for the prompt "
            f"(GLMMagics.value_budget); {{{field}!s}} sends all of it."
        )
    try:
        return format(value, spec) if plain else summarize(value, budget)
    except (TypeError, ValueError) as exc:
        msg = f"The prompt placeholder {{{field}}} refuses its format: {exc}. {LITERAL_HINT}"
        raise GLMUsageError(msg) from None


def _refuse_routine(field: str, expression: str, value: Any) -> None:
    """Stop the cell: ``{field}`` is a function or method, almost always a mistaken attribute."""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or "?"
    kind = "method" if inspect.ismethod(value) or "." in name else "function"
    base, dot, attribute = expression.strip().rpartition(".")
    if dot and attribute.isidentifier():
        hint = (
            f"If {attribute!r} is a column, write {{{base}[{attribute!r}]}}; "
            f"to send what the {kind} returns, call it: {{{expression.strip()}()}}."
        )
    else:
        hint = f"To send what it returns, call it: {{{expression.strip()}()}}."
    msg = (
        f"The prompt placeholder {{{field}}} is the {kind} {name}, not a value, so the "
        f"prompt would say '<bound method ...>'. {hint} Nothing was sent."
    )
    raise GLMUsageError(msg)


class Row:
    """A DataFrame row for ``{row.col}``: a column always wins over a pandas attribute.

    A pandas Series answers ``row.product`` with its ``prod`` method and
    ``row.name`` with the index label, even when the frame has columns of those
    names. Here an attribute that names a column is that column's value; any
    other attribute (and ``row["col"]``, ``{row}``) is the Series' own.
    """

    __slots__ = ("series",)

    def __init__(self, series: Any) -> None:
        self.series = series

    def __getattr__(self, name: str) -> Any:
        if name == "series":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        series = self.series
        if name in series.index:
            return series[name]
        return getattr(series, name)

    def __getitem__(self, key: Any) -> Any:
        return self.series[key]

    def __str__(self) -> str:
        return str(self.series)

    def __repr__(self) -> str:
        return repr(self.series)


def _split_field(field: str) -> tuple[str, str | None, str]:
    """Split ``expr!r:spec`` into its parts, trying the whole field as an expression first."""
    if not field.strip():
        msg = f"The prompt has empty braces {{}}. Put a variable name inside. {LITERAL_HINT}"
        raise GLMUsageError(msg)
    if _is_expression(field):
        return field, None, ""
    for k, c in enumerate(field):
        if c in "!:" and _is_expression(field[:k]) and not _is_literal(field[:k]):
            rest = field[k:]
            if rest[0] == "!" and len(rest) >= 2 and rest[1] in "rsa":
                if len(rest) == 2:
                    return field[:k], rest[1], ""
                if rest[2] == ":":
                    return field[:k], rest[1], rest[3:]
            elif rest[0] == ":":
                return field[:k], None, rest[1:]
    msg = f"The prompt has braces that are not a placeholder: {{{field}}}. {LITERAL_HINT}"
    raise GLMUsageError(msg)


def _is_expression(text: str) -> bool:
    try:
        compile(text.strip(), "<prompt>", "eval")
    except SyntaxError:
        return False
    return bool(text.strip())


def _is_literal(text: str) -> bool:
    """A constant before ':' (``{"a": 1}``) is a dict or JSON, not a placeholder."""
    return isinstance(ast.parse(text.strip(), mode="eval").body, ast.Constant)


class _Lazy(Mapping[str, Any]):
    """Names that exist only when a prompt uses them and the notebook does not define them.

    Passed to ``eval`` as locals, which are looked up before the namespace:
    every other name (and a user's own ``_glm_last_error``) falls through to it.
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def __getitem__(self, name: str) -> Any:
        if name != "_glm_last_error" or name in self.namespace:
            raise KeyError(name)
        text = last_error.text
        if text is None:
            msg = (
                "The prompt uses {_glm_last_error}, but no cell has raised an error yet "
                "in this session."
            )
            raise GLMUsageError(msg)
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
