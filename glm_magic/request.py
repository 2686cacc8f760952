"""From options and a prompt to one checked chat-completions request.

Every limit is checked here, before a connection is opened, against the model
table; a value the provider would refuse becomes a ``GLMUsageError`` that says
what to change. The size of messages is estimated here too, without a
tokenizer: conversations check it against the model's max input, and a batch
``--dry-run`` counts it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import GLMUsageError
from .models import model_info
from .options import SPEC, Options, check_ranges
from .structured import check, instruct, wants_json
from .tools import Toolbox

CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]"
)
MESSAGE_OVERHEAD = 4


@dataclass
class Request:
    model: str
    messages: list[dict[str, Any]]
    options: Options = field(default_factory=Options)
    tools: Toolbox | None = None

    @property
    def thinking(self) -> bool:
        """Whether the reply will think: the explicit choice, else the model's default.

        JSON mode defaults to no thinking: DashScope refuses the two together
        (see :mod:`glm_magic.structured`).
        """
        if self.options.thinking is not None:
            return self.options.thinking
        if wants_json(self.options):
            return False
        info = model_info(self.model)
        return info.thinking if info else True

    @property
    def max_reply(self) -> int | None:
        """The most tokens one reply may bill: the answer's limit plus, thinking, the thinking's.

        ``--max-tokens`` bounds the answer; a model we know nothing about has no
        bound unless it was given (None).
        """
        info = model_info(self.model)
        if info is None:
            return self.options.max_tokens
        answer = self.options.max_tokens or info.max_answer
        return answer + (info.max_thinking if self.thinking else 0)

    def body(self) -> dict[str, Any]:
        """Keyword arguments for ``client.chat.completions.create``.

        Options placed in the ``body`` (see :mod:`glm_magic.options`) go under
        their own names; ``enable_thinking`` and the ``extra`` ones (``top_k``,
        ``repetition_penalty``) are not OpenAI parameters, so they travel in
        ``extra_body``. Unset options are left out so the provider's own
        defaults apply.
        """
        o = self.options
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        extra: dict[str, Any] = {}
        if o.thinking is not None or model_info(self.model) is not None:
            extra["enable_thinking"] = self.thinking
        for option in SPEC:
            value = getattr(o, option.name, None)
            if option.place in ("body", "extra") and value is not None:
                (body if option.place == "body" else extra)[option.name] = value
        if extra:
            body["extra_body"] = extra
        if wants_json(o):
            body["response_format"] = {"type": "json_object"}
        if self.tools is not None:
            body["tools"] = self.tools.specs()
        return body


def check_options(model: str, o: Options) -> None:
    """Refuse values the provider would refuse, naming the option and the range.

    The ranges come from the option spec; the model's own limits from its
    catalogue entry.
    """
    info = model_info(model)
    check_ranges(vars(o))
    if info and o.max_tokens is not None and o.max_tokens > info.max_answer:
        _bad(
            f"--max-tokens {o.max_tokens} is above {model}'s maximum answer length of "
            f"{info.max_answer:,} tokens; use {info.max_answer} or less."
        )
    if o.stop is not None and not all(isinstance(s, str) and s for s in o.stop):
        _bad("--stop needs non-empty text.")
    check(o)


def build_request(
    prompt: str,
    model: str,
    options: Options,
    history: list[dict[str, Any]] | None = None,
) -> Request:
    """The request for ``prompt``; ``history`` holds earlier messages of a conversation.

    They go between the system prompt and the new user message, in order.
    """
    if not prompt.strip():
        _bad("The prompt is empty: write it in the cell, below the %%glm line (or after %glm).")
    check_options(model, options)
    messages: list[dict[str, Any]] = []
    if options.system:
        messages.append({"role": "system", "content": options.system})
    messages.extend(history or [])
    messages.append({"role": "user", "content": instruct(prompt, options)})
    _check_input_size(model, messages)
    tools = Toolbox.of(options.tools) if options.tools else None
    return Request(model=model, messages=messages, options=options, tools=tools)


def estimate_tokens(text: str) -> int:
    """A cheap, deliberately generous guess at the tokens in ``text``.

    One token per CJK character, one per three other characters, rounded up.
    Tokenizers like GLM's average about four characters per English token and
    more than one Chinese character per token, so this overestimates: a
    conversation it lets through is not refused by the provider for its size.
    The price is that one which would barely have fit can be refused here;
    ``--last N`` then sends fewer turns.
    """
    cjk = len(CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


def message_tokens(messages: list[dict[str, Any]]) -> int:
    """The estimate for a list of chat messages, a few tokens per message for the roles."""
    total = 0
    for message in messages:
        text = message.get("content") or ""
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False)
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"], ensure_ascii=False)
        total += estimate_tokens(text) + MESSAGE_OVERHEAD
    return total


def least_tokens(text: str) -> int:
    """Fewer tokens than GLM's tokenizer makes of ordinary text: one per two CJK
    characters, one per six others.

    Used where a refusal cannot be worked around (one prompt, not a
    conversation's earlier turns), so only a prompt surely over the limit is
    refused here; one near it goes to the provider, which decides.
    """
    cjk = len(CJK.findall(text))
    return cjk // 2 + (len(text) - cjk) // 6


def _check_input_size(model: str, messages: list[dict[str, Any]]) -> None:
    info = model_info(model)
    if info is None:
        return
    text = "".join(m["content"] for m in messages if isinstance(m.get("content"), str))
    least = least_tokens(text)
    if least > info.max_input:
        _bad(
            f"The prompt is too long for {model}: {len(text):,} characters, at least "
            f"{least:,} tokens, over its max input of {info.max_input:,}. Nothing was "
            "sent. A value sent whole ({x!s}, {x!r}) is the usual cause: {x} sends a "
            "DataFrame's summary, and GLMMagics.value_budget caps what one value adds."
        )


def _bad(message: str) -> None:
    raise GLMUsageError(message)
