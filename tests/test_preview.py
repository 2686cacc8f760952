"""``--show-prompt``: the request exactly as the SDK would send it, without sending it.

"Exactly" is checked against the real thing: the same request sent through
the real openai SDK to the fake server, whose received JSON body must equal
the preview's.
"""

from __future__ import annotations

import json

from conftest import run

import glm_magic
from glm_magic.api import current_settings
from glm_magic.options import from_api
from glm_magic.preview import sent_body, show, show_prompt
from glm_magic.request import Options, build_request


def preview_body(text: str) -> dict:
    """The JSON between the ``POST`` line and the closing note."""
    return json.loads(text[text.index("\n") + 1 : text.rindex("}") + 1])


def test_the_preview_is_the_body_the_server_receives(glm_env):
    options = {"system": "Be brief.", "temperature": 0.2, "thinking": False, "top_k": 5}
    request = build_request("Name a prime.", "glm-4.6", from_api(options, "complete")[0])
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


def test_show_prompt_in_a_cell_prints_the_request_and_sends_nothing(ip, glm_server, capsys):
    ip.user_ns["pp_city"] = "Lyon"
    before = ip.user_ns.get("_glm")
    run(ip, "%%glm --show-prompt -s 'Be brief.' -t 0.2\nWhere is {pp_city}?")
    out = capsys.readouterr().out
    body = preview_body(out.strip())
    assert out.startswith(f"POST {glm_server.base_url}/chat/completions\n")
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is Lyon?"},
    ]
    assert body["temperature"] == 0.2 and body["stream"] is True
    assert glm_server.api_key not in out
    assert glm_server.requests == [] and ip.user_ns.get("_glm") is before


def test_show_prompt_with_each_prints_the_first_request_and_counts_the_rest(ip, glm_server, capsys):
    ip.user_ns["pp_words"] = ["sun", "rain", "snow"]
    run(ip, "%%glm --show-prompt --each pp_words\nRhyme with {item}")
    out = capsys.readouterr().out
    assert '"content": "Rhyme with sun"' in out and "rain" not in out
    assert "[and 2 more like it, one per item of --each pp_words]" in out
    assert glm_server.requests == []


def test_show_prompt_in_a_conversation_shows_the_earlier_turns(ip, glm_server, capsys):
    run(ip, "%%glm -c pp_talk -s 'Be brief.'\nHi")
    glm_server.reset()
    capsys.readouterr()
    run(ip, "%%glm -c pp_talk --show-prompt\nAnd then?")
    messages = preview_body(capsys.readouterr().out.strip())["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Be brief." and messages[-1]["content"] == "And then?"
    assert glm_server.requests == []
    run(ip, "%glm reset pp_talk")
