"""Every failure of SPEC section 6, against the fake DashScope server, through ``%%glm``.

The real openai SDK talks HTTP to ``glm_magic.testing.FakeDashScope``; faults
are scripted on the server. This module's server has a distinctive API key,
and every cell's output and every result is checked for it.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import interrupt_after, run

import glm_magic
from glm_magic import GLMUsageError, Usage
from glm_magic.testing import FakeDashScope, Fault, Reply

SECRET = "sk-secret-4f9c2a7e1b3d8e6a0c5f"


@pytest.fixture(scope="module")
def secret_server():
    with FakeDashScope(api_key=SECRET) as server:
        yield server


@pytest.fixture
def glm_server(secret_server):
    """Overrides the plugin's fixture: the same fake, but with a key we can search for."""
    secret_server.reset()
    yield secret_server
    secret_server.reset()


@pytest.fixture(autouse=True)
def key_never_shown(ip, capsys):
    """Whatever a test did, the key is in no output and in no stored result."""
    yield
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    for name, value in ip.user_ns.items():
        if name.startswith("_glm") or name.startswith("r_"):
            assert_keyless(value)


def assert_keyless(result) -> None:
    texts = [repr(result), str(result), str(result.error), result._repr_markdown_()]
    texts += [repr(value) for value in vars(result).values()]
    for text in texts:
        assert SECRET not in text


def cell(ip, capsys, source: str):
    """Run a cell; returns (stdout, stderr, the stored result), checked for key and traceback."""
    run(ip, source)
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "Traceback" not in out + err
    result = ip.user_ns.get("_glm")
    if result is not None:
        assert_keyless(result)
    return out, err, result


def assert_failed_with(result, server, code: str, message: str) -> None:
    assert result.complete is False
    assert result.finish_reason == "error"
    assert code in result.error
    assert message in result.error
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert chats[-1].request_id in result.error


# -- the provider refuses the request ----------------------------------------------


def test_wrong_key_shows_the_providers_code_message_and_request_id(
    ip, glm_server, capsys, monkeypatch
):
    monkeypatch.setenv("GLM_MAGIC_API_KEY", "sk-wrong-0000000000000000")
    out, err, result = cell(ip, capsys, "%%glm\nhi")
    assert_failed_with(result, glm_server, "invalid_api_key", "Incorrect API key provided")
    assert "401" in result.error
    assert result.error in out
    assert "sk-wrong-0000000000000000" not in out + err + repr(result)
    assert len(glm_server.requests) == 1  # not retried


def test_a_key_echoed_by_the_provider_is_masked(ip, glm_server, capsys):
    glm_server.queue(Fault("invalid_api_key", message=f"Incorrect API key provided: {SECRET}."))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert f"Incorrect API key provided: sk-...{SECRET[-4:]}." in result.error
    assert result.error in out


def test_unknown_model_shows_model_not_found(ip, glm_server, capsys):
    _, _, result = cell(ip, capsys, "%%glm -m glm-9\nhi")
    assert_failed_with(result, glm_server, "model_not_found", "Model not exist.")
    assert "404" in result.error
    assert [r.method for r in glm_server.requests] == ["POST", "GET"], "sent once, then GET /models"


@pytest.mark.parametrize(
    ("fault", "status", "code", "message"),
    [
        (
            "invalid_parameter",
            400,
            "invalid_parameter_error",
            "InternalError.Algo.InvalidParameter",
        ),
        ("data_inspection_failed", 400, "data_inspection_failed", "inappropriate content"),
        ("free_tier_only", 403, "AllocationQuota.FreeTierOnly", "free tier of the model"),
    ],
)
def test_a_refused_request_shows_code_message_and_request_id(
    ip, glm_server, capsys, fault, status, code, message
):
    glm_server.queue(Fault(fault))
    out, err, result = cell(ip, capsys, "%%glm\nhi")
    assert_failed_with(result, glm_server, code, message)
    assert str(status) in result.error
    assert result.error in out
    assert len(glm_server.requests) == 1
    assert (result.answer, result.thinking) == ("", "")
    _, _, result = cell(ip, capsys, "%%glm\nhi again")
    assert result.complete


def test_quiet_cells_report_failures_on_stderr(ip, glm_server, capsys):
    glm_server.queue(Fault("free_tier_only"))
    out, err, result = cell(ip, capsys, "%%glm --quiet\nhi")
    assert out == ""
    assert "AllocationQuota.FreeTierOnly" in err
    assert result.finish_reason == "error"


# -- retried: refusals and broken connections before the first token ------------------


def test_rate_limit_waits_as_told_then_succeeds(ip, glm_server, capsys):
    glm_server.queue(Fault("rate_limit", retry_after=0.3))
    started = time.monotonic()
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert time.monotonic() - started >= 0.3
    assert result.complete
    assert result.finish_reason == "stop"
    assert result.retries == 1
    first, second = glm_server.requests
    assert second.time - first.time >= 0.3
    assert "retry 1 in 0.3 s" in out
    assert "limit_requests" in out


def test_server_errors_are_retried_until_one_succeeds(ip, glm_server, capsys):
    glm_server.queue(Fault("server_error"), Fault("server_error"))
    _, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.complete
    assert result.retries == 2
    assert len(glm_server.requests) == 3
    assert "You said: hi" in result.answer


def test_rate_limit_beyond_max_retries_is_an_error(ip, glm_server, capsys):
    run(ip, "%config GLMMagics.max_retries = 2")
    try:
        glm_server.queue(*[Fault("rate_limit")] * 4)
        _, _, result = cell(ip, capsys, "%%glm\nhi")
    finally:
        run(ip, "%config GLMMagics.max_retries = 3")
    assert len(glm_server.requests) == 3  # the first try and two retries
    assert result.retries == 2
    assert_failed_with(result, glm_server, "limit_requests", "exceeded your current request limit")


def test_a_connection_dropped_before_any_response_is_retried(ip, glm_server, capsys):
    glm_server.queue(Fault("drop_before_first"))
    _, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.complete
    assert result.retries == 1
    assert len(glm_server.requests) == 2


def test_a_stream_dropped_before_its_first_token_is_retried(ip, glm_server, capsys):
    glm_server.queue(Fault("drop", after_chunks=0))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.complete
    assert result.retries == 1
    assert len(glm_server.requests) == 2
    assert out.count("Answer:") == 1


def test_streams_that_keep_ending_empty_end_incomplete_after_the_retries(ip, glm_server, capsys):
    glm_server.queue(*[Fault("no_finish", reply=Reply(answer=""))] * 4)
    _, _, result = cell(ip, capsys, "%%glm\nhi")
    assert (result.finish_reason, result.error_code, result.retries) == (
        "incomplete",
        "incomplete",
        3,
    )
    assert len(glm_server.requests) == 4


# -- not retried: a stream that broke after its first token -------------------------

ANSWER = "alpha beta gamma delta epsilon"


def test_a_dropped_stream_keeps_the_partial_answer_and_says_so(ip, glm_server, capsys):
    glm_server.queue(Fault("drop", after_chunks=3, reply=Reply(answer=ANSWER)))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.answer == ANSWER[:12]
    assert result.complete is False
    assert result.finish_reason == "incomplete"
    assert result.error
    assert result.error in out
    assert "incomplete" in out
    assert len(glm_server.requests) == 1


def test_a_stream_without_finish_reason_is_incomplete(ip, glm_server, capsys):
    glm_server.queue(Fault("no_finish", reply=Reply(thinking="Let me see.", answer=ANSWER)))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert (result.thinking, result.answer) == ("Let me see.", ANSWER)
    assert result.complete is False
    assert result.finish_reason == "incomplete"
    assert "no finish_reason" in result.error
    assert result.error in out
    assert len(glm_server.requests) == 1


def test_an_error_inside_the_stream_keeps_the_partial_text(ip, glm_server, capsys):
    glm_server.queue(
        Fault("stream_error", after_chunks=4, reply=Reply(thinking="abcdefgh", answer=ANSWER))
    )
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.thinking == "abcdefgh"
    assert result.answer == ANSWER[:8]
    assert result.complete is False
    assert result.finish_reason == "error"
    assert "data_inspection_failed" in result.error
    assert "Output data may contain inappropriate content." in result.error
    assert glm_server.requests[-1].request_id in result.error
    assert result.error in out
    assert len(glm_server.requests) == 1


def test_thinking_sent_as_reasoning_is_read_too(ip, glm_server, capsys):
    """client.py reads ``delta.reasoning`` when ``reasoning_content`` is absent (vLLM)."""
    glm_server.reasoning_field = "reasoning"
    glm_server.queue(Reply(thinking="Thinking, vLLM style.", answer="Same answer."))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.thinking == "Thinking, vLLM style."
    assert result.answer == "Same answer."
    assert "Thinking:\nThinking, vLLM style." in out


# -- what a finished reply carries -----------------------------------------------------


def test_usage_with_reasoning_tokens_is_on_the_result_and_shown(ip, glm_server, capsys):
    usage = {
        "prompt_tokens": 11,
        "completion_tokens": 30,
        "total_tokens": 41,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    glm_server.queue(Reply(thinking="think " * 10, answer="ok", usage=usage))
    out, _, result = cell(ip, capsys, "%%glm\nhi")
    assert result.usage == Usage(
        prompt_tokens=11, completion_tokens=30, total_tokens=41, reasoning_tokens=20
    )
    assert "11 in / 30 out (20 thinking)" in out


def test_length_finish_is_complete_but_flagged(ip, glm_server, capsys):
    glm_server.queue(Reply(answer="cut sh", finish_reason="length"))
    out, _, result = cell(ip, capsys, "%%glm --max-tokens 2\nhi")
    assert result.complete is True
    assert result.finish_reason == "length"
    assert "token limit" in out


# -- interrupt ----------------------------------------------------------------------


def test_interrupting_a_slow_stream_keeps_the_partial_answer_and_closes_the_connection(
    ip, glm_server, capsys
):
    cell(ip, capsys, "%%glm --quiet\nwarm up")  # the first request imports openai
    glm_server.reset()
    glm_server.queue(Reply(thinking="hmm " * 5, answer="word " * 200, chunk_chars=5, delay=0.05))
    started = time.monotonic()
    with interrupt_after(0.5):
        out, _, result = cell(ip, capsys, "%%glm\nTalk for a while.")
    assert time.monotonic() - started < 3  # the 10 s stream was cut short
    assert "KeyboardInterrupt: Stopped; the partial result is kept in _glm." in out
    assert result.finish_reason == "interrupted"
    assert result.complete is False
    assert result.answer.startswith("word word")
    assert result.thinking == "hmm " * 5
    assert "Interrupted" in out
    assert glm_server.wait_for_disconnect(timeout=2)

    _, _, result = cell(ip, capsys, "%%glm\nStill there?")
    assert result.complete
    assert "Still there?" in result.answer


# -- many cells -------------------------------------------------------------------------


def wait_until(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_hundred_cells_do_not_grow_threads_or_connections(ip, capsys, monkeypatch):
    with FakeDashScope(api_key=SECRET) as server:
        monkeypatch.setenv("GLM_MAGIC_BASE_URL", server.base_url)
        for _ in range(3):
            cell(ip, capsys, "%%glm --quiet\nwarm up")
        # An SDK that reads each stream to its end keeps one connection for reuse.
        assert wait_until(lambda: server.open_connections <= 1)
        threads = threading.active_count()
        server.reset()
        for i in range(100):
            run(ip, f"%%glm --quiet\nnumber {i}")
            assert ip.user_ns["_glm"].complete
        out, err = capsys.readouterr()
        assert (out, err) == ("", "")
        assert len(server.requests) == 100
        assert server.max_open_connections <= 2
        assert wait_until(lambda: server.open_connections <= 1)
        assert wait_until(lambda: threading.active_count() <= threads)


# -- the Python API behaves the same ------------------------------------------------------


def test_one_reply_after_another_reuses_one_connection(ip, glm_server):
    results = [glm_magic.complete(f"question {i}") for i in range(3)]
    assert all(r.complete for r in results) and len(glm_server.requests) == 3
    assert glm_server.total_connections <= 1, "a finished stream leaves its connection reusable"


def test_a_stream_stopped_early_still_closes_its_connection(ip, glm_server, capsys):
    glm_server.queue(Reply(answer="word " * 400, chunk_chars=5, delay=0.01))
    with interrupt_after(0.3), pytest.raises(KeyboardInterrupt) as stopped:
        glm_magic.complete("Talk a while.")
    assert isinstance(stopped.value, glm_magic.GLMInterrupted)
    result = stopped.value.result
    assert result.finish_reason == "interrupted"
    assert glm_server.wait_for_disconnect(2), "the server saw the connection go"
    assert glm_magic.complete("Again.").complete


def test_complete_returns_failures_as_results(ip, glm_server):
    glm_server.queue(Fault("data_inspection_failed"))
    result = glm_magic.complete("hi")
    assert_failed_with(result, glm_server, "data_inspection_failed", "inappropriate content")
    assert_keyless(result)


def test_complete_raises_for_mistakes_before_sending(ip, glm_server):
    with pytest.raises(GLMUsageError, match="--temperature"):
        glm_magic.complete("hi", temperature=2)
    with pytest.raises(TypeError, match="colour"):
        glm_magic.complete("hi", colour="red")
    assert glm_server.requests == []
    result = glm_magic.complete("hi", model="glm-4.5", stop="END", top_k=3)
    assert result.complete
    sent = glm_server.requests[-1].body
    assert (sent["model"], sent["stop"], sent["top_k"]) == ("glm-4.5", ["END"], 3)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"colour": "red"}, "unknown options: colour"),
        ({"temperature": "hot"}, "temperature must be a number; got 'hot'"),
        ({"temperature": True}, "temperature must be a number"),
        ({"max_tokens": "10"}, "max_tokens must be a whole number"),
        ({"top_k": 2.5}, "top_k must be a whole number"),
        ({"stop": 5}, "stop must be text or a list of text"),
        ({"thinking": "yes"}, "thinking must be True or False"),
        ({"system": 3}, "system must be text"),
        ({"display": "fancy"}, "display must be one of 'auto', 'widgets', 'text', 'none'"),
        ({"base_url": "dashscope.aliyuncs.com"}, "is not an http:// or https:// URL"),
        ({"max_tool_rounds": -1}, "max_tool_rounds must be a whole number, 0 or more"),
    ],
)
def test_every_bad_argument_to_complete_is_a_usage_error_before_sending(
    ip, glm_server, arguments, says
):
    with pytest.raises(GLMUsageError, match=re.escape(says)):
        glm_magic.complete("hi", **arguments)
    assert glm_server.requests == []


def test_a_base_url_that_is_no_url_is_refused_wherever_it_comes_from(
    ip, glm_server, capsys, monkeypatch
):
    result = ip.run_cell("%%glm --base-url localhost:8000/v1\nhi")
    assert "'localhost:8000/v1' (from --base-url (base_url=)) is not an http" in str(
        result.error_in_exec
    )
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", "dashscope.aliyuncs.com/compatible-mode/v1")
    result = ip.run_cell("%%glm\nhi")
    assert "(from GLM_MAGIC_BASE_URL)" in str(result.error_in_exec)
    assert "Traceback" not in "".join(capsys.readouterr())
    assert glm_server.requests == []


def test_a_key_pasted_with_a_trailing_carriage_return_still_works(ip, glm_server, monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_API_KEY", SECRET + "\r\n")
    result = glm_magic.complete("hi")
    assert result.complete and result.error is None


def test_a_key_with_characters_no_header_can_carry_is_refused_before_sending(
    ip, glm_server, monkeypatch
):
    monkeypatch.setenv("GLM_MAGIC_API_KEY", SECRET + "é")
    with pytest.raises(GLMUsageError, match="GLM_MAGIC_API_KEY has characters"):
        glm_magic.complete("hi")
    assert not glm_server.requests


def test_the_shared_client_cache_never_holds_the_key_itself(ip, glm_server):
    from glm_magic import client

    glm_magic.complete("hi")
    assert client._clients
    assert SECRET not in repr(client._clients)


# -- servers that answer in ways DashScope does not ------------------------------------


@contextmanager
def answering(status: int, content_type: str, body: object):
    """A bare HTTP server that answers every request with one fixed response."""
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_sent_as_json_with_status_200_is_shown_not_retried(ip):
    error = {
        "error": {"message": "Quota exhausted.", "code": "quota_exceeded"},
        "request_id": "r-9",
    }
    with answering(200, "application/json", error) as url:
        result = glm_magic.complete("hi", base_url=url)
    assert (result.finish_reason, result.complete, result.retries) == ("error", False, 0)
    assert result.error == "[quota_exceeded] Quota exhausted. (request id r-9)"


def test_a_server_that_does_not_stream_is_named_as_the_cause(ip):
    completion = {"choices": [{"message": {"role": "assistant", "content": "Hi"}}]}
    with answering(200, "application/json", completion) as url:
        result = glm_magic.complete("hi", base_url=url)
    assert result.error_code == "not_streamed" and "instead of a stream of events" in result.error


def test_an_error_body_that_is_only_text_is_shown(ip):
    with answering(400, "application/json", {"error": "model is loading"}) as url:
        result = glm_magic.complete("hi", base_url=url, model="local")
    assert result.error == "HTTP 400 model is loading"


def test_only_a_stream_closed_right_after_its_done_line_is_read_to_the_end():
    from glm_magic.connections import FinishingStream, httpx

    class Body(httpx.SyncByteStream):
        def __init__(self, *chunks: bytes) -> None:
            self.chunks, self.read, self.closed = chunks, 0, False

        def __iter__(self):
            for chunk in self.chunks:
                self.read += 1
                yield chunk

        def close(self) -> None:
            self.closed = True

    finished = Body(b'data: {"x": 1}\n\n', b"data: [DONE]\n\n", b"")
    quoted = Body(b'data: {"content": "data: [DONE]"}\n\n', b"data: more\n\n", b"")
    ours, theirs = socket.socketpair()
    for body, stop_after in ((finished, 2), (quoted, 1)):
        stream = FinishingStream(body, ours)
        for i, _ in enumerate(stream, 1):
            if i == stop_after:
                break
        stream.close()
        assert body.closed
    assert finished.read == 3, "the rest of a finished stream is read, so the connection is reused"
    assert quoted.read == 1, "an answer quoting [DONE] is not taken for the end"
    ours.close()
    theirs.close()


def the_sdk_reads_streams_to_their_end(server) -> bool:
    """openai 1.x read a stream to its end after ``[DONE]`` itself (and so hangs, with
    or without glm_magic, on a server that never ends the body); later SDKs stop."""
    import openai

    plain = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    for _ in range(2):
        messages = [{"role": "user", "content": "hi"}]
        list(plain.chat.completions.create(model="glm-4.6", messages=messages, stream=True))
    plain.close()
    return server.total_connections == 1


def test_a_server_that_never_ends_a_finished_stream_delays_it_half_a_second_at_most(ip, glm_server):
    if the_sdk_reads_streams_to_their_end(glm_server):
        pytest.skip("this openai SDK reads every stream to its end itself")
    chunk = {"choices": [{"index": 0, "delta": {"content": "Done."}, "finish_reason": "stop"}]}
    events = [f"data: {json.dumps(chunk)}\n\n", "data: [DONE]\n\n"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e.encode()) for e in events)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.rfile.read(length)
            self.wfile.write(head + body)  # and never the last, empty chunk
            self.rfile.read()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        started = time.monotonic()
        result = glm_magic.complete("hi", base_url=url, model="local")
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert (result.answer, result.complete) == ("Done.", True)
    assert took < 0.5 + 1.5


def test_an_unreachable_endpoint_names_the_url_and_the_retries(ip, capsys):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    _, _, result = cell(ip, capsys, f"%%glm --base-url {url}\nhi")
    assert result.error_code == "connection_error"
    assert result.retries == 3
    assert f"Could not reach {url}/chat/completions (gave up after 3 retries)" in result.error
