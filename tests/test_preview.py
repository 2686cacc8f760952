"""``--show-prompt``: the request exactly as the SDK would send it, without sending it.

"Exactly" is checked against the real thing: the same request sent through
the real openai SDK to the fake server, whose received JSON body must equal
the preview's.
"""

from __future__ import annotations

import json

import glm_magic
from glm_magic.api import current_settings
from glm_magic.preview import sent_body, show, show_prompt
from glm_magic.request import Options, build_request


def preview_body(text: str) -> dict:
    return json.loads(text[text.index("\n") + 1 : text.rindex("\n")])


def test_the_preview_is_the_body_the_server_receives(glm_env):
    options = {"system": "Be brief.", "temperature": 0.2, "thinking": False, "top_k": 5}
    request = build_request("Name a prime.", "glm-4.6", Options.from_api(options, "complete"))
    text = show(request, glm_env.base_url)
    assert text.startswith(f"POST {glm_env.base_url}/chat/completions\n")
    assert preview_body(text) == sent_body(request)

    glm_magic.complete("Name a prime.", model="glm-4.6", **options)
    assert glm_env.requests[-1].body == sent_body(request)
    assert sent_body(request)["enable_thinking"] is False, "extra_body goes to the top level"
    assert glm_env.api_key not in text


def test_a_conversation_shows_its_earlier_turns_and_nothing_is_sent(glm_env):
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]
    settings = current_settings()
    text = show_prompt("And now?", Options(max_tokens=50), settings, history)
    body = preview_body(text)
    assert body["messages"] == [*history, {"role": "user", "content": "And now?"}]
    assert body["max_tokens"] == 50 and body["model"] == settings.model
    assert glm_env.requests == []
