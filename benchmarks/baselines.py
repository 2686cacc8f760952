"""The alternatives %%glm is compared with; imported and run inside the benchmark kernel.

Each consumes the same stream with the plain openai SDK, as a notebook user or
another notebook LLM tool would write it. They are yardsticks, not product
code: no retries, no error handling.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from typing import Any


@cache
def _client() -> Any:
    """One SDK client per kernel, like glm_magic's, so both reuse a pooled connection."""
    import openai

    return openai.OpenAI(
        base_url=os.environ["GLM_MAGIC_BASE_URL"],
        api_key=os.environ["GLM_MAGIC_API_KEY"],
        max_retries=0,
    )


def _open(prompt: str) -> Any:
    return _client().chat.completions.create(
        model="glm-4.6",
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"enable_thinking": True},
    )


def bare_loop(prompt: str) -> tuple[str, str]:
    """The least any code can do: read the stream and keep the text. Shows nothing."""
    thinking: list[str] = []
    answer: list[str] = []
    for chunk in _open(prompt):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning = getattr(delta, "reasoning_content", None)
        if reasoning:
            thinking.append(reasoning)
        if delta.content:
            answer.append(delta.content)
    return "".join(thinking), "".join(answer)


def _deltas(prompt: str) -> Iterator[tuple[str, str]]:
    for chunk in _open(prompt):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning = getattr(delta, "reasoning_content", None)
        if reasoning:
            yield "thinking", reasoning
        if delta.content:
            yield "answer", delta.content


def naive_widgets(prompt: str) -> None:
    """A Textarea per pane whose whole ``value`` is set on every token.

    Every token resends the pane's text so far, so traffic grows with the
    square of the reply.
    """
    import ipywidgets as widgets
    from IPython.display import display

    panes = {"thinking": widgets.Textarea(), "answer": widgets.Textarea()}
    display(widgets.VBox(list(panes.values())))
    for pane, text in _deltas(prompt):
        panes[pane].value += text


def display_updates(prompt: str) -> None:
    """``DisplayHandle.update(Markdown(text so far))`` per token, one display per pane.

    The pattern many notebook LLM helpers use: no widgets, but again the whole
    text on every token.
    """
    from IPython.display import Markdown, display

    texts = {"thinking": "", "answer": ""}
    handles: dict[str, Any] = {}
    for pane, text in _deltas(prompt):
        texts[pane] += text
        if pane in handles:
            handles[pane].update(Markdown(texts[pane]))
        else:
            handles[pane] = display(Markdown(texts[pane]), display_id=True)
