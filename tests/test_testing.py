"""Tests of glm_magic.testing: the fake DashScope server, through the real openai SDK.

Where the SDK hides the wire (chunk framing, headers, what happens after
``[DONE]``), raw ``http.client`` is used instead. No mocks: every test talks to
a real server on a real socket.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from glm_magic.testing import FakeDashScope, Fault, Reply, pytest_plugin

pytest_plugins = ["pytester"]

# Our own fixtures, taken from the plugin module directly: this works whether or
# not the installed ``glm_magic`` pytest11 entry point has registered them too.
glm_server_session = pytest_plugin.glm_server_session
glm_server = pytest_plugin.glm_server

ROOT = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "Hello there"}]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def client(glm_server: FakeDashScope):
    with openai.OpenAI(
        base_url=glm_server.base_url, api_key=glm_server.api_key, max_retries=0
    ) as sdk_client:
        yield sdk_client


def stream(client: openai.OpenAI, messages=USER, **kwargs: Any):
    kwargs.setdefault("model", "glm-4.6")
    return client.chat.completions.create(messages=messages, stream=True, **kwargs)


def collect(chunks) -> dict[str, Any]:
    """Reassemble a list of ChatCompletionChunk objects the way a client would."""
    out: dict[str, Any] = {"thinking": "", "answer": "", "finish": [], "usage": None, "calls": {}}
    for chunk in chunks:
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            out["thinking"] += (delta.model_extra or {}).get("reasoning_content") or ""
            out["answer"] += delta.content or ""
            if choice.finish_reason:
                out["finish"].append(choice.finish_reason)
            for call in delta.tool_calls or []:
                entry = out["calls"].setdefault(call.index, {"ids": [], "name": "", "args": ""})
                entry["ids"].append(call.id)
                entry["name"] += (call.function.name or "") if call.function else ""
                entry["args"] += (call.function.arguments or "") if call.function else ""
    return out


def raw_post(server: FakeDashScope, body: dict[str, Any], *, path: str | None = None):
    """POST with http.client and return (response, body bytes): the wire without the SDK."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(
        "POST",
        path or "/compatible-mode/v1/chat/completions",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def idle(server: FakeDashScope) -> FakeDashScope:
    """Wait until earlier tests' connections are gone, then zero the counters.

    Connection counts are exact only if no client from a previous test is still
    being torn down on the server side.
    """
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    server.reset()
    return server


def sse_payloads(data: bytes) -> list[str]:
    events = data.decode("utf-8").split("\n\n")
    assert events[-1] == "", "the body must end with a blank line"
    assert all(event.startswith("data: ") for event in events[:-1])
    return [event[len("data: ") :] for event in events[:-1]]


# -- the happy path ------------------------------------------------------------


def test_thinking_answer_and_usage_chunks_through_the_sdk(glm_server, client):
    glm_server.queue(Reply(thinking="I think, therefore...", answer="Hello, world!"))
    response = stream(client, stream_options={"include_usage": True})
    chunks = list(response)
    got = collect(chunks)

    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None
    assert first.model_extra["reasoning_content"] == ""
    assert got["thinking"] == "I think, therefore..."
    assert got["answer"] == "Hello, world!"
    assert got["finish"] == ["stop"]
    # Every text chunk carries at most chunk_chars (4) characters.
    for chunk in chunks[1:-2]:
        delta = chunk.choices[0].delta
        assert len((delta.content or "") + (delta.model_extra.get("reasoning_content") or "")) <= 4
    assert chunks[-1].choices == []
    usage = got["usage"]
    assert usage.completion_tokens_details.reasoning_tokens == 6  # 21 chars / 4, rounded up
    assert usage.completion_tokens == 6 + 4
    assert usage.prompt_tokens == 3  # "Hello there": 11 chars
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"glm-4.6"}
    assert UUID.match(response.response.headers["x-request-id"])


def test_wire_bytes_match_the_provider(glm_server):
    glm_server.queue(Reply(thinking="想一想", answer="你好，世界", chunk_chars=2))
    body = {"model": "glm-4.5", "messages": USER, "stream": True}
    response, data = raw_post(glm_server, body)

    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Type").startswith("text/event-stream")
    assert UUID.match(response.getheader("x-request-id"))
    assert "你好".encode() in data and b"\\u" not in data  # ensure_ascii=False, like the provider
    payloads = sse_payloads(data)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert list(chunks[0]) == [
        "choices",
        "object",
        "usage",
        "created",
        "system_fingerprint",
        "model",
        "id",
    ]
    assert chunks[0]["choices"] == [
        {
            "delta": {"content": None, "role": "assistant", "reasoning_content": ""},
            "index": 0,
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert chunks[1]["choices"][0]["delta"] == {"content": None, "reasoning_content": "想一"}
    assert chunks[3]["choices"][0]["delta"] == {"content": "你好", "reasoning_content": None}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {"content": "", "reasoning_content": None}
    # No usage chunk unless stream_options.include_usage is set.
    assert all(c["choices"] and c["usage"] is None for c in chunks)


def test_unicode_is_cut_by_characters(glm_server, client):
    text = "你好，世界！这是一个中文回答，带 emoji 🎉。"
    glm_server.queue(Reply(answer=text, chunk_chars=3))
    chunks = list(stream(client))
    assert collect(chunks)["answer"] == text
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert all(len(p) <= 3 for p in pieces) and "".join(pieces) == text


def test_enable_thinking_false_drops_all_reasoning(glm_server, client):
    glm_server.queue(Reply(thinking="scripted thoughts", answer="Direct answer."))
    chunks = list(
        stream(
            client, extra_body={"enable_thinking": False}, stream_options={"include_usage": True}
        )
    )
    assert glm_server.last_request.body["enable_thinking"] is False
    for chunk in chunks:
        for choice in chunk.choices:
            assert "reasoning_content" not in (choice.delta.model_extra or {})
    got = collect(chunks)
    assert got["answer"] == "Direct answer." and got["thinking"] == ""
    assert got["usage"].completion_tokens_details.reasoning_tokens == 0
    assert chunks[0].choices[0].delta.content == ""


def test_reasoning_field_can_imitate_vllm(glm_server, client):
    glm_server.reasoning_field = "reasoning"
    glm_server.queue(Reply(thinking="hmm", answer="ok"))
    chunks = list(stream(client))
    extras = [c.choices[0].delta.model_extra or {} for c in chunks]
    assert "".join(e.get("reasoning") or "" for e in extras) == "hmm"
    assert not any("reasoning_content" in e for e in extras)
    glm_server.reset()
    assert glm_server.reasoning_field == "reasoning_content"


def test_default_reply_echoes_the_conversation(glm_server, client):
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    got = collect(stream(client, messages=history, model="glm-4.5-air"))
    assert got["thinking"].startswith("The user asks: What is my name?")
    assert "What is my name?" in got["answer"] and "4 messages" in got["answer"]
    # Deterministic: the same request gets the same text.
    again = collect(stream(client, messages=history, model="glm-4.5-air"))
    assert (again["thinking"], again["answer"]) == (got["thinking"], got["answer"])


def test_default_reply_is_json_when_json_is_asked_for(glm_server, client):
    messages = [{"role": "user", "content": "Give me JSON about 杭州 please " * 3}]
    got = collect(stream(client, messages=messages, response_format={"type": "json_object"}))
    assert json.loads(got["answer"]) == {"echo": messages[0]["content"][:50], "messages": 1}


def function_tool(name: str, description: str = "", **properties: dict) -> dict:
    """A tool entry as glm_magic sends it; every property is required."""
    parameters = {"type": "object", "properties": properties, "required": list(properties)}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


SALES_TOOLS = [
    function_tool("get_weather", "Today's weather in a city.", city={"type": "string"}),
    function_tool(
        "revenue_by",
        "Total revenue grouped by a column of the orders table.",
        column={"type": "string"},
        top={"type": "integer"},
        share={"type": "number"},
        descending={"type": "boolean"},
        regions={"type": "array", "items": {"type": "string"}},
        filters={"type": "object"},
        unit={"type": "string", "enum": ["CNY", "USD"]},
        note={"anyOf": [{"type": "string"}, {"type": "null"}]},
    ),
]


def test_default_reply_calls_the_tool_that_fits_the_question(glm_server, client):
    question = [{"role": "user", "content": "What is the total revenue by column region?"}]
    got = collect(stream(client, messages=question, tools=SALES_TOOLS))
    assert got["finish"] == ["tool_calls"] and got["answer"] == ""
    assert got["thinking"].endswith("I will call revenue_by.")
    (call,) = got["calls"].values()
    assert call["name"] == "revenue_by"
    assert json.loads(call["args"]) == {
        "column": "region",  # the word after the parameter's name in the question
        "top": 1,
        "share": 1.0,
        "descending": True,
        "regions": [],
        "filters": {},
        "unit": "CNY",
        "note": "example",
    }
    # Deterministic, and a tie (no shared words) goes to the first tool offered.
    again = collect(stream(client, messages=question, tools=SALES_TOOLS))
    assert json.loads(again["calls"][0]["args"]) == json.loads(call["args"])
    hello = collect(stream(client, tools=SALES_TOOLS))
    assert hello["calls"][0]["name"] == "get_weather"
    assert json.loads(hello["calls"][0]["args"]) == {"city": "example"}


def test_default_reply_answers_with_the_tool_results(glm_server, client):
    long_result = json.dumps({f"region {i}": i * 1000 for i in range(40)})
    messages = [
        {"role": "user", "content": "Revenue by column region, and the weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "revenue_by", "arguments": '{"column": "region"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "example"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": long_result},
        {"role": "tool", "tool_call_id": "call_2", "content": "Sunny"},
    ]
    got = collect(stream(client, messages=messages, tools=SALES_TOOLS))
    assert got["finish"] == ["stop"] and got["calls"] == {}
    assert got["answer"] == f"Tool results: revenue_by -> {long_result[:200]}; get_weather -> Sunny"

    # A new question in the same conversation calls a tool again.
    follow_up = [*messages, assistant_says(got["answer"]), user_says("And the weather?")]
    assert collect(stream(client, messages=follow_up, tools=SALES_TOOLS))["calls"]


def test_default_reply_without_tools_or_with_tool_choice_none_is_text(glm_server, client):
    for extra in ({}, {"tools": SALES_TOOLS, "tool_choice": "none"}):
        got = collect(stream(client, **extra))
        assert got["calls"] == {} and got["answer"] == "You said: Hello there (1 messages received)"


def assistant_says(text: str) -> dict:
    return {"role": "assistant", "content": text}


def user_says(text: str) -> dict:
    return {"role": "user", "content": text}


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("Three colours, please.", {}, "'messages' must contain the word 'json' in some form"),
        (
            "Three colours as JSON.",
            {"enable_thinking": True},
            "Json mode response is not supported when enable_thinking is true",
        ),
    ],
)
def test_json_mode_is_refused_like_the_provider_does(glm_server, client, content, extra, message):
    with pytest.raises(openai.BadRequestError) as info:
        stream(
            client,
            messages=[{"role": "user", "content": content}],
            response_format={"type": "json_object"},
            extra_body=extra,
        )
    assert message in info.value.body["message"]
    assert info.value.body["code"] == "invalid_parameter_error"


def test_requests_are_recorded(glm_server, client):
    list(stream(client, temperature=0.5, extra_body={"top_k": 20}))
    (request,) = glm_server.requests
    assert request.path == "/compatible-mode/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {glm_server.api_key}"
    assert request.body["messages"] == USER and request.body["top_k"] == 20
    assert request.body["stream"] is True and request.time <= time.time()


# -- tool calls ----------------------------------------------------------------


def test_tool_call_deltas_reassemble(glm_server, client):
    glm_server.queue(
        Reply(
            thinking="I need the weather.",
            tool_calls=[
                {"name": "get_weather", "arguments": {"city": "杭州", "days": 3}},
                {"name": "now", "arguments": "{}", "id": "call_fixed"},
            ],
            chunk_chars=5,
        )
    )
    got = collect(stream(client, tools=[{"type": "function", "function": {"name": "now"}}]))
    assert got["finish"] == ["tool_calls"]
    assert got["thinking"] == "I need the weather."
    first, second = got["calls"][0], got["calls"][1]
    assert re.fullmatch(r"call_[0-9a-f]{22}", first["ids"][0])
    assert set(first["ids"][1:]) == {""}  # later fragments carry an empty id, like the provider
    assert first["name"] == "get_weather"
    assert json.loads(first["args"]) == {"city": "杭州", "days": 3}
    assert second["ids"][0] == "call_fixed" and second["name"] == "now"
    assert json.loads(second["args"]) == {}


def test_tool_call_wire_shape(glm_server):
    glm_server.queue(Reply(tool_calls=[{"name": "f", "arguments": {"x": 1}}], chunk_chars=4))
    body = {"model": "glm-4.6", "messages": USER, "stream": True, "enable_thinking": False}
    _, data = raw_post(glm_server, body)
    chunks = [json.loads(p) for p in sse_payloads(data)[:-1]]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert calls[0]["function"] == {"name": "f", "arguments": ""}
    assert calls[0]["type"] == "function" and calls[0]["index"] == 0
    assert all(c["id"] == "" and list(c["function"]) == ["arguments"] for c in calls[1:])
    assert "".join(c["function"]["arguments"] for c in calls) == '{"x": 1}'
    assert chunks[-1]["choices"][0] == {
        "finish_reason": "tool_calls",
        "delta": {},
        "index": 0,
        "logprobs": None,
    }


# -- errors ----------------------------------------------------------------------

FAULT_ERRORS = [
    ("invalid_api_key", openai.AuthenticationError, 401, "invalid_api_key"),
    ("stream_required", openai.BadRequestError, 400, "invalid_parameter_error"),
    ("invalid_parameter", openai.BadRequestError, 400, "invalid_parameter_error"),
    ("data_inspection_failed", openai.BadRequestError, 400, "data_inspection_failed"),
    ("free_tier_only", openai.PermissionDeniedError, 403, "AllocationQuota.FreeTierOnly"),
    ("model_not_found", openai.NotFoundError, 404, "model_not_found"),
    ("rate_limit", openai.RateLimitError, 429, "limit_requests"),
    ("server_error", openai.InternalServerError, 500, "internal_error"),
]


@pytest.mark.parametrize(("kind", "exc_type", "status", "code"), FAULT_ERRORS)
def test_http_faults_raise_the_sdk_exception(glm_server, client, kind, exc_type, status, code):
    glm_server.queue(Fault(kind))
    with pytest.raises(exc_type) as info:
        stream(client)
    error = info.value
    assert error.status_code == status
    assert error.code == code
    body = error.response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] is None
    assert error.request_id == body["request_id"]  # the SDK reads the x-request-id header
    assert UUID.match(body["request_id"])
    assert glm_server.pending == 0


def test_fault_message_can_be_replaced(glm_server, client):
    glm_server.queue(Fault("invalid_parameter", message="<400> custom"))
    with pytest.raises(openai.BadRequestError) as info:
        stream(client)
    assert info.value.body["message"] == "<400> custom"


def test_rate_limit_sends_retry_after_and_the_sdk_honours_it(glm_server):
    glm_server.queue(Fault("rate_limit", retry_after=0.2))
    with (
        openai.OpenAI(
            base_url=glm_server.base_url, api_key=glm_server.api_key, max_retries=0
        ) as no_retry,
        pytest.raises(openai.RateLimitError) as info,
    ):
        stream(no_retry)
    assert info.value.response.headers["retry-after"] == "0.2"

    glm_server.queue(Fault("rate_limit", retry_after=0.2), Reply(answer="after the wait"))
    with openai.OpenAI(
        base_url=glm_server.base_url, api_key=glm_server.api_key, max_retries=1
    ) as retrying:
        started = time.monotonic()
        got = collect(stream(retrying))
    assert got["answer"] == "after the wait"
    assert time.monotonic() - started >= 0.2
    assert len(glm_server.requests) == 3


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "message"),
    [
        ({"model": "glm-5-nonexistent"}, openai.NotFoundError, "Model not exist."),
        ({"temperature": 2.0}, openai.BadRequestError, "Temperature should be in [0.0, 2.0)"),
        ({"temperature": -0.1}, openai.BadRequestError, "Temperature should be in [0.0, 2.0)"),
        ({"top_p": 0}, openai.BadRequestError, "Range of top_p should be (0.0, 1.0]"),
        ({"top_p": 1.5}, openai.BadRequestError, "Range of top_p should be (0.0, 1.0]"),
        ({"max_tokens": 16385}, openai.BadRequestError, "Range of max_tokens should be [1, 16384]"),
        ({"messages": []}, openai.BadRequestError, "[] is too short"),
    ],
)
def test_automatic_refusals_leave_the_queue_alone(glm_server, client, kwargs, exc_type, message):
    glm_server.queue(Reply(answer="kept for later"))
    with pytest.raises(exc_type) as info:
        stream(client, **{"messages": USER, **kwargs})
    assert message in info.value.body["message"]
    assert glm_server.pending == 1
    assert collect(stream(client))["answer"] == "kept for later"


def test_edge_values_are_accepted(glm_server, client):
    got = collect(stream(client, temperature=0, top_p=1, max_tokens=16384))
    assert got["finish"] == ["stop"]


def test_wrong_key_and_non_streamed_calls_are_refused(glm_server, client):
    with (
        openai.OpenAI(base_url=glm_server.base_url, api_key="sk-wrong", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        stream(bad)
    assert "Incorrect API key provided" in info.value.body["message"]

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="glm-4.6", messages=USER)
    assert info.value.body["message"].startswith("This model only support stream mode")


def test_other_paths_and_methods_get_json_errors(glm_server):
    response, data = raw_post(glm_server, {"x": 1}, path="/v1/chat/completions")
    assert response.status == 404 and json.loads(data)["error"]["code"] == "NotFound"
    assert UUID.match(response.getheader("x-request-id"))

    conn = http.client.HTTPConnection("127.0.0.1", glm_server.port, timeout=5)
    conn.request("GET", "/compatible-mode/v1/chat/completions")
    response = conn.getresponse()
    assert response.status == 405
    assert (
        json.loads(response.read())["error"]["message"] == "Request method 'GET' is not supported."
    )
    conn.close()


# -- streams that go wrong -----------------------------------------------------


def test_stream_error_raises_api_error_mid_iteration(glm_server, client):
    glm_server.queue(Fault("stream_error", after_chunks=2, reply=Reply(answer="abcdefghijkl")))
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream(client):
            seen.append(chunk)
    assert "Output data may contain inappropriate content." in info.value.message
    assert info.value.body["code"] == "data_inspection_failed"
    got = collect(seen)
    assert got["answer"] == "abcdefgh" and got["finish"] == []


def test_stream_error_on_the_wire(glm_server):
    glm_server.queue(Fault("stream_error", message="boom"))
    _, data = raw_post(glm_server, {"model": "glm-4.6", "messages": USER, "stream": True})
    payloads = sse_payloads(data)
    assert len(payloads) == 2  # the role chunk, then the error; no [DONE]
    assert json.loads(payloads[-1]) == {
        "error": {
            "message": "boom",
            "type": "data_inspection_failed",
            "param": None,
            "code": "data_inspection_failed",
        }
    }


def test_drop_cuts_the_stream_without_finish(glm_server, client):
    glm_server.queue(Fault("drop", after_chunks=2, reply=Reply(thinking="abcd", answer="efghij")))
    seen = []
    # openai >= 2 wraps the broken body in APIConnectionError; 1.x lets the HTTP library's through.
    transport = tuple(
        importlib.import_module(name).TransportError
        for name in ("httpx", "httpx2")
        if importlib.util.find_spec(name)
    )
    with pytest.raises((openai.APIConnectionError, *transport)):
        for chunk in stream(client, stream_options={"include_usage": True}):
            seen.append(chunk)
    got = collect(seen)
    assert (got["thinking"], got["answer"]) == ("abcd", "efgh")
    assert got["finish"] == [] and got["usage"] is None
    # The server hung up itself: that is not a client disconnect.
    assert glm_server.disconnects == 0


def test_drop_before_first_byte(glm_server, client):
    glm_server.queue(Fault("drop_before_first"))
    with pytest.raises(openai.APIConnectionError):
        stream(client)
    assert len(glm_server.requests) == 1
    # The server is fine afterwards.
    assert collect(stream(client))["finish"] == ["stop"]


def test_no_finish_ends_with_done_but_no_finish_reason(glm_server, client):
    glm_server.queue(Fault("no_finish", reply=Reply(answer="cut short")))
    got = collect(stream(client, stream_options={"include_usage": True}))
    assert got["answer"] == "cut short"
    assert got["finish"] == [] and got["usage"] is None

    glm_server.queue(Fault("no_finish", reply=Reply(answer="cut short")))
    body = {"model": "glm-4.6", "messages": USER, "stream": True}
    _, data = raw_post(glm_server, {**body, "stream_options": {"include_usage": True}})
    payloads = sse_payloads(data)
    assert payloads[-1] == "[DONE]"
    assert all(json.loads(p)["choices"][0]["finish_reason"] is None for p in payloads[:-1])


def test_fault_kinds_are_checked():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("nope")
    with pytest.raises(TypeError):
        FakeDashScope().queue("not a reply")  # type: ignore[arg-type]


# -- connections, concurrency, disconnects ---------------------------------------


def test_client_closing_mid_stream_is_counted_quietly(glm_server, client, capfd):
    list(stream(client))  # a stream read to the end is not a disconnect
    assert glm_server.disconnects == 0

    glm_server.queue(Reply(answer="x" * 400, chunk_chars=4, delay=0.005))
    response = stream(client)
    for _ in range(3):
        next(response)
    response.close()
    assert glm_server.wait_for_disconnect(timeout=5)
    assert glm_server.disconnects == 1
    assert collect(stream(client))["finish"] == ["stop"]  # and the server carries on
    assert capfd.readouterr().err == ""


def test_many_requests_reuse_one_keep_alive_connection(glm_server):
    idle(glm_server)
    conn = http.client.HTTPConnection("127.0.0.1", glm_server.port, timeout=5)
    headers = {"Authorization": f"Bearer {glm_server.api_key}"}
    body = json.dumps({"model": "glm-4.6", "messages": USER, "stream": True})
    for _ in range(20):
        conn.request("POST", "/compatible-mode/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        assert sse_payloads(response.read())[-1] == "[DONE]"
        assert glm_server.open_connections == 1
    conn.close()
    assert len(glm_server.requests) == 20
    assert glm_server.total_connections == 1 and glm_server.max_open_connections == 1


def test_the_sdk_reuses_its_connection_for_complete_bodies(glm_server, client):
    # JSON error bodies are read to the end, so the SDK's pool keeps the connection.
    # (A stream is closed at [DONE] before the chunked terminator is parsed, so the SDK
    # opens a new connection for each stream; that is the SDK's doing, not the server's.)
    idle(glm_server)
    for _ in range(20):
        glm_server.queue(Fault("rate_limit"))
        with pytest.raises(openai.RateLimitError):
            stream(client)
    assert glm_server.total_connections == 1
    assert glm_server.open_connections == 1 and glm_server.max_open_connections == 1


def test_concurrency_and_latency_are_tracked(glm_server, client):
    idle(glm_server).default_latency = 0.3
    barrier = threading.Barrier(5)
    answers: list[str] = []

    def ask(i: int) -> None:
        barrier.wait()
        answers.append(
            collect(stream(client, messages=[{"role": "user", "content": f"q{i}"}]))["answer"]
        )

    started = time.monotonic()
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - started
    assert len(answers) == 5
    assert 0.3 <= elapsed < 1.5  # answered side by side, not one after another
    assert glm_server.max_concurrent_streams == 5
    assert glm_server.max_open_connections == 5

    # The server may still be finishing a response the client has already read.
    deadline = time.monotonic() + 5
    while glm_server.active_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    glm_server.reset()
    assert glm_server.default_latency == 0.0
    assert glm_server.max_concurrent_streams == 0 and glm_server.requests == []


def test_first_delay_and_delay_pace_the_stream(glm_server, client):
    glm_server.queue(Reply(answer="abcdefgh", chunk_chars=4, first_delay=0.2, delay=0.1))
    started = time.monotonic()
    response = stream(client)
    next(response)
    first = time.monotonic() - started
    list(response)
    total = time.monotonic() - started
    assert first >= 0.2
    assert total >= 0.2 + 4 * 0.1  # two text chunks, finish and [DONE], each after a delay


def test_stop_closes_every_socket_and_joins_threads():
    server = FakeDashScope().start()
    port = server.port
    idle = socket.create_connection(("127.0.0.1", port))
    server.queue(Reply(answer="y" * 1000, delay=0.05))
    busy = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    busy.request(
        "POST",
        "/compatible-mode/v1/chat/completions",
        body=json.dumps({"model": "glm-4.6", "messages": USER, "stream": True}),
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    response = busy.getresponse()
    response.read1(10)
    deadline = time.monotonic() + 5
    while server.open_connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    idle.settimeout(2)
    assert idle.recv(1) == b""  # the server closed the idle keep-alive connection
    idle.close()
    busy.close()
    assert server.open_connections == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(f"FakeDashScope-{port}")]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    assert server.disconnects == 0  # stopping is not a client disconnect
    server.stop()  # stopping twice is harmless


# -- the pytest plugin and the command line ------------------------------------


def test_pytest_plugin_gives_each_test_a_clean_server(pytester):
    pytester.makepyfile(
        """
        import os

        import openai
        from glm_magic.testing import Fault, Reply

        def test_first(glm_server):
            glm_server.queue(Reply(answer="one"), Fault("server_error"))
            glm_server.default_latency = 0.01
            client = openai.OpenAI(
                base_url=glm_server.base_url, api_key=glm_server.api_key, max_retries=0
            )
            chunks = client.chat.completions.create(
                model="glm-4.6", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one"

        def test_second(glm_server):
            assert glm_server.pending == 0
            assert glm_server.requests == []
            assert glm_server.default_latency == 0.0

        def test_env(glm_env):
            assert os.environ["GLM_MAGIC_BASE_URL"] == glm_env.base_url
            assert os.environ["GLM_MAGIC_API_KEY"] == glm_env.api_key
        """
    )
    result = pytester.runpytest("-p", "no:glm_magic", "-p", "glm_magic.testing.pytest_plugin")
    result.assert_outcomes(passed=3)


def test_command_line_serves_until_interrupted():
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "glm_magic.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line.strip())
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert exports["GLM_MAGIC_API_KEY"] == "sk-glm-magic-test"
        base_url = exports["GLM_MAGIC_BASE_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/compatible-mode/v1", base_url)
        with openai.OpenAI(base_url=base_url, api_key="sk-glm-magic-test", max_retries=0) as sdk:
            chunks = sdk.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
            assert collect(chunks)["finish"] == ["stop"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_record_sends_keeps_when_each_chunk_left_for_latency_measurements(glm_server, client):
    assert glm_server.sends == [], "off by default: nothing is kept"
    glm_server.record_sends = True
    glm_server.queue(Reply(thinking="abcdefgh", answer="ijkl", chunk_chars=4, delay=0.02))
    started = time.time()
    list(stream(client))
    sends = glm_server.sends
    deltas = [c["choices"][0]["delta"] for _, c in sends if c.get("choices")]
    texts = [d.get("reasoning_content") or d.get("content") for d in deltas]
    assert [t for t in texts if t] == ["abcd", "efgh", "ijkl"]
    times = [t for t, _ in sends]
    assert started <= times[0] and times == sorted(times)
    assert times[-1] - times[0] >= 0.06, "each chunk is stamped as it is written, not all at once"
    glm_server.reset()
    assert glm_server.sends == [] and glm_server.record_sends is False


def test_a_connection_left_open_before_reset_is_not_counted_as_the_new_work(glm_server):
    before = glm_server.open_connections
    earlier = socket.create_connection(("127.0.0.1", glm_server.port))
    try:
        deadline = time.monotonic() + 5
        while glm_server.open_connections <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        glm_server.reset()
        fresh = http.client.HTTPConnection("127.0.0.1", glm_server.port, timeout=5)
        body = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
        fresh.request(
            "POST",
            "/compatible-mode/v1/chat/completions",
            json.dumps({**body, "stream": True}),
            {"Authorization": f"Bearer {glm_server.api_key}"},
        )
        fresh.getresponse().read()
        fresh.close()
        assert glm_server.max_open_connections == 1
    finally:
        earlier.close()


def test_sockets_the_client_closed_are_not_counted_as_held():
    from glm_magic.testing.server import _closed_by_peer

    pairs = [socket.socketpair() for _ in range(4)]
    quiet, peer_gone, closed_here, sent_more = (server_side for server_side, _ in pairs)
    pairs[1][1].close()
    closed_here.close()
    pairs[3][1].sendall(b"POST /next")
    try:
        assert _closed_by_peer([quiet, peer_gone, closed_here, sent_more]) == 2
    finally:
        for a, b in pairs:
            a.close()
            b.close()
