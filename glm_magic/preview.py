"""What ``--show-prompt`` prints: the request exactly as it would go out, and nothing sent.

A prompt filled from notebook values (``{df}``, a conversation's earlier
turns, a schema, tool specs) is hard to picture. This shows the HTTP request
the openai SDK would make for it: the URL and the JSON body, with the
non-OpenAI parameters (``extra_body``) merged in where the SDK merges them,
at the top level. Headers are left out, so the API key never appears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .request import Options, build_request

if TYPE_CHECKING:
    from .request import Request
    from .settings import Settings

FOOTER = "(headers not shown, so the API key never is; nothing was sent)"


def sent_body(request: Request) -> dict[str, Any]:
    """The JSON object the SDK sends for ``request``."""
    body = dict(request.body())
    extra = body.pop("extra_body", None) or {}
    return {**body, **extra}


def show(request: Request, base_url: str) -> str:
    """``POST <url>`` and the body, pretty-printed, as ``--show-prompt`` prints them."""
    url = f"{base_url.rstrip('/')}/chat/completions"
    text = json.dumps(sent_body(request), indent=2, ensure_ascii=False, default=str)
    return f"POST {url}\n{text}\n{FOOTER}"


def show_prompt(
    prompt: str,
    options: Options,
    settings: Settings,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """What ``--show-prompt`` prints for a prompt: checked like a real run, never sent.

    The same checks as sending (options, model limits, the input size) apply,
    so a prompt that would be refused is refused here too; no key is needed.
    """
    model = options.model or settings.model
    return show(build_request(prompt, model, options, history), settings.base_url)
