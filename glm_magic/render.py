"""The static rendering of a finished result.

This is what stays in the notebook file once the live widgets are gone: plain
Markdown (with one collapsed ``<details>`` block for the thinking) and a
text/plain twin, so nbconvert, GitHub and a reopened notebook show the reply
without a widget manager.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result import GLMResult

PLAIN_ANSWER_CHARS = 1000


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
    """One sentence for a result that did not end normally, else None."""
    if result.complete and result.finish_reason != "length":
        return None
    if result.complete:
        return "The answer was cut off at the token limit (finish_reason 'length')."
    return result.error or f"The reply did not finish ({result.finish_reason})."


def markdown(result: GLMResult) -> str:
    blocks: list[str] = []
    if result.thinking:
        words = len(result.thinking.split())
        body = html.escape(result.thinking.strip()).replace("\n", "<br>\n")
        blocks.append(
            f"<details><summary>Thinking ({words:,} words)</summary>\n\n"
            f"<div style='opacity:0.75'>\n{body}\n</div>\n\n</details>"
        )
    for call in result.tool_calls:
        blocks.append(f"> 🔧 {html.escape(_call_text(call))}")
    if result.answer:
        blocks.append(result.answer.strip())
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
        words = len(result.thinking.split())
        blocks.append(f"[thinking: {words:,} words, in .thinking]")
    for call in result.tool_calls:
        blocks.append(f"Tool call: {_call_text(call)}")
    answer = result.answer.strip()
    if len(answer) > PLAIN_ANSWER_CHARS:
        rest = len(answer) - PLAIN_ANSWER_CHARS
        answer = f"{answer[:PLAIN_ANSWER_CHARS]}... [{rest:,} more characters in .answer]"
    blocks.append(answer)
    problem = problem_line(result)
    if problem:
        blocks.append(f"! {problem}")
    blocks.append(f"[{usage_line(result)}]")
    return "\n\n".join(blocks)


def bundle(result: GLMResult) -> dict[str, str]:
    return {"text/markdown": markdown(result), "text/plain": plain(result)}


def _call_text(call: object) -> str:
    if isinstance(call, dict):
        return f"{call.get('name')}({call.get('arguments', '')}) -> {call.get('result', '')}"
    return str(call)
