"""From options and a prompt to one checked chat-completions request.

Every limit is checked here, before a connection is opened, against the
catalogue's facts for the model on the chosen provider; a value the provider
would refuse becomes a ``GLMUsageError`` that says what to change. The size
of messages is estimated here too, without a tokenizer: conversations check
it against the model's max input, and a batch ``--dry-run`` counts it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from . import providers
from .catalogue import model_info
from .errors import GLMUsageError
from .options import SPEC, Options, check_ranges
from .providers import Provider
from .structured import check, instruct, wants_json
from .tokens import CJK
from .tools import Toolbox

MESSAGE_OVERHEAD = 4


def _default_provider() -> Provider:
    return providers.get(providers.DEFAULT)


#: Said when JSON mode turned thinking off because the provider refuses the two together.
JSON_THINKING_NOTE = (
    "JSON mode: thinking is off for this call ({title} refuses JSON output while "
    "thinking); add --thinking to send it anyway."
)


@dataclass
class Request:
    model: str
    messages: list[dict[str, Any]]
    options: Options = field(default_factory=Options)
    tools: Toolbox | None = None
    provider: Provider = field(default_factory=_default_provider)

    @property
    def info(self) -> Any:
        """The catalogue's facts for this model on this provider (None: unknown)."""
        return model_info(self.model, self.provider.name)

    @property
    def json_mode(self) -> bool:
        """Whether ``response_format`` asks for JSON: the answer is wanted as JSON and
        the model has JSON mode (unknown counts as yes). Without it (glm-5 on
        DashScope has none), the prompt alone asks for JSON (see
        :func:`glm_magic.structured.instruct`) and the reply is parsed the same way."""
        info = self.info
        return wants_json(self.options) and not (info and info.json_mode is False)

    @property
    def sent_thinking(self) -> bool | None:
        """The thinking switch this request sends, in the provider's form (None: none)."""
        info = self.info
        return self.provider.thinking_to_send(
            self.options.thinking, self.json_mode, info.thinking if info else None
        )

    @property
    def thinking(self) -> bool:
        """Whether the reply will think: what is sent, else the model's default (on)."""
        sent = self.sent_thinking
        if sent is not None:
            return sent
        info = self.info
        return info.thinking if info else True

    def thinking_note(self) -> str | None:
        """Why this request does not think although the model would, if that is so.

        Only JSON mode turns thinking off unasked, on a provider that refuses
        JSON while thinking.
        """
        if self.options.thinking is None and self.json_mode and not self.thinking:
            return JSON_THINKING_NOTE.format(title=self.provider.title)
        return None

    @property
    def max_reply(self) -> int | None:
        """The most tokens one reply may bill: the answer's limit plus, thinking, the thinking's.

        ``--max-tokens`` bounds the answer; a model we know nothing about has no
        bound unless it was given (None).
        """
        info = self.info
        if info is None or info.max_answer is None:
            return self.options.max_tokens
        answer = self.options.max_tokens or info.max_answer
        return answer + ((info.max_thinking or 0) if self.thinking else 0)

    def body(self) -> dict[str, Any]:
        """Keyword arguments for ``client.chat.completions.create``.

        Options placed in the ``body`` (see :mod:`glm_magic.options`) go under
        their own names; the thinking switch and the ``extra`` ones (``top_k``,
        ``repetition_penalty``) are not OpenAI parameters, so they travel in
        ``extra_body``, in the form the provider reads. Unset options are left
        out so the provider's own defaults apply.
        """
        o = self.options
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        extras: dict[str, Any] = {}
        for option in SPEC:
            value = getattr(o, option.name, None)
            if option.place in ("body", "extra") and value is not None:
                (body if option.place == "body" else extras)[option.name] = value
        extra = self.provider.extra_body(self.sent_thinking, extras)
        if extra:
            body["extra_body"] = extra
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        if self.tools is not None:
            body["tools"] = self.tools.specs()
        return body


def check_options(model: str, o: Options, provider: str = providers.DEFAULT) -> None:
    """Refuse values the provider would refuse, naming the option and the range.

    The ranges come from the option spec; the model's own limits from its
    catalogue entry on ``provider`` (none where the catalogue has no figure).
    """
    info = model_info(model, provider)
    check_ranges(vars(o))
    limit = info.max_answer if info else None
    if limit and o.max_tokens is not None and o.max_tokens > limit:
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
    provider: Provider | None = None,
) -> Request:
    """The request for ``prompt`` to ``provider`` (default: DashScope); ``history``
    holds earlier messages of a conversation.

    They go between the system prompt and the new user message, in order.
    """
    provider = provider or _default_provider()
    if not prompt.strip():
        _bad("The prompt is empty: write it in the cell, below the %%glm line (or after %glm).")
    check_options(model, options, provider.name)
    messages: list[dict[str, Any]] = []
    if options.system:
        messages.append({"role": "system", "content": options.system})
    messages.extend(history or [])
    info = model_info(model, provider.name)
    json_mode = not (info and info.json_mode is False)
    messages.append({"role": "user", "content": instruct(prompt, options, json_mode=json_mode)})
    _check_input_size(model, messages, provider.name)
    tools = Toolbox.of(options.tools) if options.tools else None
    return Request(model, messages, options, tools, provider)


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


def _check_input_size(model: str, messages: list[dict[str, Any]], provider: str) -> None:
    info = model_info(model, provider)
    if info is None or info.max_input is None:
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
