"""The static rendering of a finished result.

This is what stays in the notebook file once the live widgets are gone: plain
Markdown (with one collapsed ``<details>`` block for the thinking) and a
text/plain twin, so nbconvert, GitHub and a reopened notebook show the reply
without a widget manager.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import ToolCall
    from .result import GLMResult

PLAIN_ANSWER_CHARS = 1000
CALL_PREVIEW_CHARS = 200


def usage_line(result: GLMResult) -> str:
    u = result.usage
    parts = [result.model or "?"]
    parts.append(f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out")
    if u.reasoning_tokens:
        parts[-1] += f" ({u.reasoning_tokens:,} thinking)"
    parts.append(f"{result.total_time:.1f} s")
    if result.time_to_first_token is not None:
        parts.append(f"first token {result.time_to_first_token:.2f} s")
    parts.append(result.finish_reason)
    return " · ".join(parts)


def problem_line(result: GLMResult) -> str | None:
    """One sentence for a result that did not end normally, else None.

    A complete reply can still carry an error: JSON that did not parse or
    did not match the schema (see :mod:`glm_magic.structured`).
    """
    if result.complete and result.finish_reason != "length":
        return result.error
    if result.complete:
        return "The answer was cut off at the token limit (finish_reason 'length')."
    return result.error or f"The reply did not finish ({result.finish_reason})."


def markdown(result: GLMResult) -> str:
    blocks: list[str] = []
    if result.thinking:
        words = count(len(result.thinking.split()), "word")
        body = html.escape(result.thinking.strip()).replace("\n", "<br>\n")
        blocks.append(
            f"<details><summary>Thinking ({words})</summary>\n\n"
            f"<div style='opacity:0.75'>\n{body}\n</div>\n\n</details>"
        )
    for call in result.tool_calls:
        blocks.append(f"> 🔧 <code>{html.escape(call_text(call))}</code>")
    if result.answer:
        answer = result.answer.strip()
        if result.data is not None and answer.startswith(("{", "[")):
            answer = f"```json\n{answer}\n```"
        blocks.append(answer)
    problem = problem_line(result)
    if problem:
        blocks.append(f"> ⚠️ **{html.escape(problem)}**")
    blocks.append(f"<sub>{html.escape(usage_line(result))}</sub>")
    return "\n\n".join(blocks)


def plain(result: GLMResult) -> str:
    """The text/plain twin, for viewers that cannot show Markdown.

    It is short on purpose: every front end receives both twins, the Markdown
    already carries the whole text, and the result object keeps it in full.
    """
    blocks: list[str] = []
    if result.thinking:
        words = count(len(result.thinking.split()), "word")
        blocks.append(f"[thinking: {words}, in .thinking]")
    for call in result.tool_calls:
        blocks.append(f"Tool call: {call_text(call)}")
    answer = result.answer.strip()
    if len(answer) > PLAIN_ANSWER_CHARS:
        rest = len(answer) - PLAIN_ANSWER_CHARS
        answer = f"{answer[:PLAIN_ANSWER_CHARS]}... [{rest:,} more characters in .answer]"
    if answer:
        blocks.append(answer)
    problem = problem_line(result)
    if problem:
        blocks.append(f"! {problem}")
    blocks.append(f"[{usage_line(result)}]")
    return "\n\n".join(blocks)


def bundle(result: GLMResult) -> dict[str, str]:
    return {"text/markdown": markdown(result), "text/plain": plain(result)}


def status_bundle(result: GLMResult) -> dict[str, str]:
    """Just the usage line: what a live view becomes when the result is shown below it."""
    line = usage_line(result)
    return {"text/markdown": f"<sub>{html.escape(line)}</sub>", "text/plain": f"[{line}]"}


def count(n: int, noun: str) -> str:
    """``1 turn``, ``3 turns``: a number with its noun, plural unless it is one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def call_text(call: ToolCall, width: int = CALL_PREVIEW_CHARS) -> str:
    """One line per tool call: ``name(args) -> result (0.12 s)``, both parts shortened.

    The full arguments and result stay on ``result.tool_calls``.
    """
    if isinstance(call.arguments, dict):
        args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    else:
        args = call.arguments
    result = _one_line(call.result, width)
    return f"{call.name}({_one_line(args, width)}) -> {result} ({call.seconds:.2f} s)"


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def text_table(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """Rows of text as aligned columns, for the ``%glm`` commands that print tables.

    The first row is the header, underlined with dashes; the columns whose
    positions are in ``right`` (numbers) are aligned right, the others left.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
