"""The static rendering of a finished result.

This is what stays in the notebook file once the live widgets are gone: plain
Markdown (with one collapsed ``<details>`` block for the thinking) and a
text/plain twin, so nbconvert, GitHub and a reopened notebook show the reply
without a widget manager.

No icons: an emoji needs an emoji font, which many systems lack (Debian's
Chromium draws an empty box), so tool calls and problems are labelled in words.
The thinking sits in a ``<blockquote>``, which every Markdown viewer sets off
from the text around it, and which JupyterLab draws with its theme's own
colours (``--jp-border-color2``, ``--jp-layout-color2``): it stays readable in
the dark theme, where a fixed colour or opacity is not.

It reads results through :class:`Shown`, the fields it needs, rather than
importing the result type, so results can render themselves without an
import circle.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Protocol

from .wording import count

if TYPE_CHECKING:
    from .events import ToolCall, Usage

PLAIN_ANSWER_CHARS = 1000
CALL_PREVIEW_CHARS = 200


class Shown(Protocol):
    """What a rendering reads of a result (:class:`glm_magic.result.GLMResult` has it all)."""

    answer: str
    thinking: str
    model: str
    usage: Usage
    finish_reason: str
    complete: bool
    error: str | None
    time_to_first_token: float | None
    total_time: float
    data: Any
    tool_calls: list[ToolCall]
    cost: float | None
    currency: str | None
    cached: bool


def usage_line(result: Shown) -> str:
    """``glm-4.6 · 12 in / 340 out (200 thinking) · ¥0.0048 · 3.1 s · ...``.

    A result replayed from the store says "cached" where the timings would be:
    nothing was sent, and it cost nothing.
    """
    from .prices import cost_text

    u = result.usage
    parts = [result.model or "?"]
    if u.estimated:  # an interrupted stream: counted from the text, not reported
        parts.append(f"~{u.prompt_tokens:,} in / ~{u.completion_tokens:,} out (estimated)")
    else:
        parts.append(f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out")
    if u.reasoning_tokens:
        parts[-1] += f" ({u.reasoning_tokens:,} thinking)"
    if result.cached:
        parts.append("cached: nothing sent")
    else:
        parts.append(cost_text(result.cost, result.currency))
        parts.append(f"{result.total_time:.1f} s")
        if result.time_to_first_token is not None:
            parts.append(f"first token {result.time_to_first_token:.2f} s")
    parts.append(result.finish_reason)
    return " · ".join(parts)


def problem_line(result: Shown) -> str | None:
    """One sentence for a result that did not end normally, else None.

    A complete reply can still carry an error: JSON that did not parse or
    did not match the schema (see :mod:`glm_magic.structured`).
    """
    if result.complete and result.finish_reason != "length":
        return result.error
    if result.complete:
        return "The answer was cut off at the token limit (finish_reason 'length')."
    return result.error or f"The reply did not finish ({result.finish_reason})."


def markdown(result: Shown) -> str:
    blocks: list[str] = []
    if result.thinking:
        words = count(len(result.thinking.split()), "word")
        body = html.escape(result.thinking.strip()).replace("\n", "<br>\n")
        blocks.append(
            f"<details><summary>Thinking ({words})</summary>\n\n"
            f"<blockquote>\n{body}\n</blockquote>\n\n</details>"
        )
    for call in result.tool_calls:
        blocks.append(f"> Tool call: <code>{html.escape(call_text(call))}</code>")
    if result.answer:
        answer = result.answer.strip()
        if result.data is not None and answer.startswith(("{", "[")):
            answer = f"```json\n{answer}\n```"
        blocks.append(answer)
    problem = problem_line(result)
    if problem:
        blocks.append(f"> **{html.escape(problem)}**")
    blocks.append(f"<sub>{html.escape(usage_line(result))}</sub>")
    return "\n\n".join(blocks)


def plain(result: Shown) -> str:
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


def bundle(result: Shown) -> dict[str, str]:
    return {"text/markdown": markdown(result), "text/plain": plain(result)}


def status_bundle(result: Shown) -> dict[str, str]:
    """Just the usage line: what a live view becomes when the result is shown below it."""
    line = usage_line(result)
    return {"text/markdown": f"<sub>{html.escape(line)}</sub>", "text/plain": f"[{line}]"}


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
