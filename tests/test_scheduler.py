"""Pacing a batch under an account's limits, against the fake provider enforcing them.

The fake refuses, like Model Studio, a request over RPM/60 a second or a
token over TPM/60 a second (``FakeDashScope.enforce``); the limits here are
real provider-sized ones (600 RPM, hundreds of thousands of TPM) over a
handful of items, so each test takes a second or two.
"""

from __future__ import annotations

import time

import pytest

import glm_magic
from glm_magic.pacing import Pace, Pacer, known_limits
from glm_magic.testing import FakeProvider, Reply
from glm_magic.views.progress import BatchProgress, progress_line


def arrivals(server) -> list[float]:
    return sorted(r.time for r in server.requests)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def limited(server, **limits) -> None:
    """Import openai with a first batch, then enforce ``limits`` on a clean server."""
    glm_magic.map(["warm up"])
    server.reset()
    server.enforce(**limits)


def test_rpm_spreads_requests_evenly_and_the_provider_refuses_none(ip, glm_server):
    limited(glm_server, rpm=600)
    batch = glm_magic.map([f"q{i}" for i in range(8)], concurrency=8, rpm=600)
    assert batch.counts()["done"] == 8 and glm_server.rate_limited == 0
    times = arrivals(glm_server)
    assert len(times) == 8
    assert min(gaps(times)) > 0.02, "one request every 0.1 s, never a burst"
    assert times[-1] - times[0] == pytest.approx(0.7, abs=0.25)
    assert "Paced under 600 RPM." in batch.summary()


def test_without_pacing_the_same_burst_is_refused(ip, glm_server):
    limited(glm_server, rpm=600)  # ten a second
    batch = glm_magic.map([f"q{i}" for i in range(16)], concurrency=16)
    assert glm_server.rate_limited > 0 and batch.rate_limited > 0


def test_tpm_paces_large_prompts_by_their_tokens(ip, glm_server):
    limited(glm_server, tpm=240_000)  # 4,000 tokens a second
    prompts = [f"Summarise {i}: " + "lorem ipsum " * 700 for i in range(4)]  # ~2,100 tokens
    glm_server.queue(*(Reply(answer="A short summary.") for _ in prompts))
    batch = glm_magic.map(prompts, concurrency=4, tpm=240_000, thinking=False, max_tokens=40)
    assert batch.counts()["done"] == 4 and glm_server.rate_limited == 0
    times = arrivals(glm_server)
    # Each charges about 2,900 tokens (a generous prompt estimate plus max_tokens, below the
    # 1,000-token prior): the first goes at once; the rest follow at 4,000 tokens a second.
    assert times[-1] - times[0] > 0.8
    glm_server.reset()
    glm_server.enforce(tpm=240_000)
    glm_server.queue(*(Reply(answer="A short summary.") for _ in prompts))
    unpaced = glm_magic.map(prompts, concurrency=4, thinking=False, max_tokens=40)
    assert glm_server.rate_limited > 0 and unpaced.rate_limited > 0


def test_a_429_with_rate_limit_headers_pauses_every_sender(ip, glm_server):
    limited(glm_server, rpm=60)  # one a second, and 429s that say nothing more
    glm_magic.map(["a", "b", "c"], concurrency=3)
    storm = glm_server.rate_limited
    limited(glm_server, rpm=60, headers=True)  # now the 429 says when to come back
    batch = glm_magic.map(["a", "b", "c"], concurrency=3)
    assert batch.counts()["done"] == 3
    assert glm_server.rate_limited <= 3 < storm, "everyone waited for the reset"
    times = arrivals(glm_server)
    assert times[-1] - times[0] > 1.8, "the third item went two resets later"


@pytest.mark.parametrize(
    ("dialect", "code", "message"),
    [
        ("dashscope", "limit_requests", "Requests rate limit exceeded, please try again later."),
        ("zhipu", "1302", "High concurrency usage of this API, please reduce concurrency"),
    ],
)
def test_the_fake_refuses_over_its_limit_in_its_dialect(dialect, code, message):
    import httpx

    with FakeProvider(dialect=dialect, rpm=60) as server:  # one request a second
        url = server.base_url + "/chat/completions"
        body = {"model": "glm-5", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        auth = {"Authorization": f"Bearer {server.api_key}"}
        first = httpx.post(url, json=body, headers=auth)
        second = httpx.post(url, json=body, headers=auth)
    assert first.status_code == 200 and second.status_code == 429
    error = second.json()["error"]
    assert (str(error["code"]), error["message"]) == (code, message)
    assert server.rate_limited == 1


def test_a_429_halves_the_pace_and_retry_after_pauses_it():
    now = [100.0]
    pacer = Pacer(600, None, clock=lambda: now[0])
    first, epoch = pacer.reserve(0)
    second, _ = pacer.reserve(0)
    assert (first, second) == (100.0, pytest.approx(100.1))
    pacer.answered(429, {"Retry-After": "2"}, epoch)
    pacer.answered(429, {}, epoch)  # the same wave: cut once
    assert pacer.factor == 0.5 and pacer.refusals == 2
    third, _ = pacer.reserve(0)
    fourth, _ = pacer.reserve(0)
    assert third == pytest.approx(102.0) and fourth == pytest.approx(102.2)
    assert pacer.pace().bound == "RPM" and pacer.pace().rpm == 300
    for _ in range(30):
        pacer.answered(200, {}, 1)
    assert pacer.factor == 1.0, "successes bring the pace back"


def test_exhausted_windows_in_headers_wait_for_their_reset():
    now = [0.0]
    pacer = Pacer(None, None, clock=lambda: now[0])
    pacer.answered(
        200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30s"}, 0
    )
    assert pacer.reserve(0)[0] == pytest.approx(60.0), "capped at a minute"
    pacer = Pacer(None, None, clock=lambda: now[0])
    pacer.answered(
        200, {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "250ms"}, 0
    )
    assert pacer.reserve(0)[0] == pytest.approx(0.25)


def test_tokens_charged_beyond_the_reply_are_given_back():
    now = [0.0]
    pacer = Pacer(None, 60_000, clock=lambda: now[0])  # 1,000 tokens a second
    assert pacer.reserve(3_000)[0] == 0.0
    assert pacer.reserve(1_000)[0] == pytest.approx(2.5), "the first took three seconds' worth"
    pacer.refund(3_500)
    assert pacer.reserve(1_000)[0] == pytest.approx(0.0)


def test_published_limits_are_the_defaults_in_their_region_only():
    beijing = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    glm5 = known_limits("dashscope", beijing, "glm-5")
    assert (glm5.rpm, glm5.tpm) == (500, 1_000_000) and glm5.source.startswith("https://")
    assert known_limits("dashscope", beijing, "glm-4.5-air").rpm == 60
    workspace = "https://ws1.cn-beijing.maas.aliyuncs.com/compatible-mode/v1"
    assert known_limits("dashscope", workspace, "glm-5") == glm5
    assert known_limits("dashscope", beijing, "glm-4.6") is None, "unknown stays unknown"
    intl = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
    assert known_limits("dashscope", intl, "glm-5") is None, "another region's limits"
    assert known_limits("openrouter", "https://openrouter.ai/api/v1", "glm-5") is None


def test_the_progress_line_shows_the_pace_and_what_bounds_it():
    p = BatchProgress(300, done=40, running=4, limit=16, concurrency=16, elapsed=4.0)
    p.pace = Pace(600, None, 598, "RPM")
    line = progress_line(p)
    assert "pace 598/min (limit 600 RPM) · bound by RPM" in line
    p.pace = Pace(600, 1_000_000, 240, "concurrency")
    assert "limit 600 RPM, 1,000,000 TPM) · bound by concurrency (-j 16)" in progress_line(p)
    assert "cost unknown" not in progress_line(p), "nothing priced yet, nothing said"
    p.cost, p.currency = 0.0123, "CNY"
    assert "out tokens · ¥0.0123 ·" in progress_line(p)
    p.cost = None
    assert "out tokens · cost unknown ·" in progress_line(p)


def test_a_tight_tpm_paces_by_the_likely_reply_not_the_longest_one(ip, glm_server):
    # 60,000 TPM is 1,000 tokens a second. Charged the longest reply glm-5 may give
    # (32,768 thinking + 50 answer), each request after the first would wait half a
    # minute; charged the likely reply (1,000 tokens, then what replies measured),
    # the six take a few seconds, and the provider enforcing that TPM refuses none.
    limited(glm_server, tpm=60_000)
    started = time.monotonic()
    batch = glm_magic.map([f"q{i}" for i in range(6)], concurrency=4, tpm=60_000, max_tokens=50)
    took = time.monotonic() - started
    assert batch.counts()["done"] == 6 and glm_server.rate_limited == 0
    assert took < 15, f"six short items took {took:.1f} s at 60,000 TPM"
    assert arrivals(glm_server)[1] - arrivals(glm_server)[0] > 0.3, "still paced by TPM"


def test_a_request_dearer_than_a_minute_still_goes_and_the_next_waits_out_the_debt():
    now = [0.0]
    pacer = Pacer(None, 600, clock=lambda: now[0])  # 10 tokens a second
    assert pacer.reserve(5_000)[0] == 0.0, "dearer than the whole minute, sent at once"
    at, _ = pacer.reserve(100)
    assert at == pytest.approx(500 - 0.5), "the next waits out the 5,000-token debt"
    pacer.refund(4_900)  # the reply used 100 of the 5,000 charged
    now[0] = 15.0
    assert pacer.reserve(100)[0] == pytest.approx(20 - 0.5), (
        "settled: only the two requests' 200 real tokens (20 s) are owed"
    )
    assert pacer.pace().bound == "TPM" and pacer.pace().per_call == 100
