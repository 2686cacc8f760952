"""Staying under a provider's rate limits: requests and tokens per minute, spread evenly.

Accounts have published limits per model (DashScope's glm-5: 500 requests and
1,000,000 tokens a minute), and the provider also enforces them per second
(RPM/60 and TPM/60), so a batch that sends a minute's worth at once is refused
even though the minute's total is fine. :class:`Pacer` therefore spaces
requests evenly: each request is given the next free moment under every known
bound (a GCRA, the "virtual scheduling" form of a token bucket), and the
worker thread sleeps until then. Tokens are charged when a request is sent,
at what it will likely cost (:class:`OutputEstimate`: the prompt's estimate
plus the reply the batch's finished items measured, a prior before any has),
and the difference is settled when the reply's usage is known, so the pace
follows real consumption. Charging the longest reply allowed instead (tens of
thousands of tokens for a thinking model) would hold a batch to a fraction of
its TPM; a reply longer than charged leaves the bucket in debt, which the next
requests wait out. A request dearer than the whole bucket still goes when the
bucket has room: it never waits for a moment that cannot come.

A 429 still slows the pace down (halving it, at most once per wave of
requests; successes bring it back), and rate-limit headers are honoured:
``Retry-After`` pauses every sender, and an exhausted window
(``x-ratelimit-remaining-requests: 0`` or OpenRouter's ``X-RateLimit-Remaining: 0``)
waits for its reset. Which provider sends what (checked 2026-12):

- DashScope / Model Studio documents no rate-limit headers; its 429 says which
  bound was hit in the message ("Requests rate limit exceeded" = RPM,
  "Allocated quota exceeded" = TPM), and it enforces RPS = RPM/60 and
  TPS = TPM/60 too (https://help.aliyun.com/en/model-studio/rate-limit).
- Zhipu limits concurrency, not RPM (error code 1302), and documents no
  headers (https://docs.bigmodel.cn/cn/api/rate-limit).
- OpenRouter puts ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (epoch milliseconds) on its 429 responses
  (https://openrouter.ai/docs/api_reference/limits).
- OpenAI-style servers send ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``.

This module knows nothing of HTTP beyond a headers mapping: the client calls a
:class:`Gate` before each attempt and after each answer, so flow control has
its own channel and never rides on the events a view draws.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

#: The pace never falls below this share of the configured limits after 429s.
SLOWEST = 1 / 16
#: Each answer that was not a 429 gives back this share of the configured pace.
RECOVERY = 0.02
#: How long a ``Retry-After`` or a reset may pause a batch at most.
MAX_PAUSE = 60.0
#: The window (seconds) over which the progress view measures the pace.
WINDOW = 10.0
#: The tokens a request may go ahead by, in seconds of TPM: half the one second's worth
#: the provider allows (TPS = TPM/60), so a request never reaches an empty bucket.
TOKEN_BURST = 0.5
#: The output tokens one reply is assumed to take until the batch has measured some: a
#: typical reasoning reply (a few hundred thinking tokens and an answer), not the longest
#: one allowed; bounded by that longest (``--max-tokens`` bounds the answer).
PRIOR_OUTPUT = 1_000


class OutputEstimate:
    """The output tokens a batch charges each request for: measured, else a prior.

    The mean output of the batch's finished replies (once one has finished),
    else :data:`PRIOR_OUTPUT`; never more than the longest reply the options
    allow. The pacer and ``--dry-run`` both use it, so the time a dry run
    gives is the time the pacer keeps. Thread-safe.
    """

    def __init__(self, prior: int = PRIOR_OUTPUT) -> None:
        self.prior = prior
        self._total = 0
        self._count = 0
        self._lock = threading.Lock()

    def per_call(self, max_reply: int | None) -> int:
        """The output to charge a request whose reply may bill at most ``max_reply``."""
        with self._lock:
            guess = round(self._total / self._count) if self._count else self.prior
        return guess if max_reply is None else min(guess, max_reply)

    def learn(self, output: int) -> None:
        """A reply finished with ``output`` output tokens (thinking included)."""
        with self._lock:
            self._total += output
            self._count += 1


@dataclass(frozen=True)
class RateLimit:
    """A provider's published limits for one model; None where no public source says."""

    rpm: int | None
    tpm: int | None
    source: str
    checked: str
    #: The hosts (a leading dot: a host suffix) of the region the figures are for.
    hosts: tuple[str, ...] = ()

    def holds_at(self, base_url: str) -> bool:
        host = (urlsplit(base_url).hostname or "").lower()
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.hosts)


_GLM5_CARD = "https://help.aliyun.com/zh/model-studio/glm-9"
_AIR_CARD = "https://help.aliyun.com/zh/model-studio/glm-4-5-air"
#: DashScope's model cards give the figures for China (Beijing): its endpoint and workspaces.
_BEIJING = ("dashscope.aliyuncs.com", ".cn-beijing.maas.aliyuncs.com")

#: Published limits by (provider, model); other regions, providers and models are unknown.
LIMITS: dict[tuple[str, str], RateLimit] = {
    ("dashscope", "glm-5"): RateLimit(500, 1_000_000, _GLM5_CARD, "2026-12-01", _BEIJING),
    ("dashscope", "glm-4.5-air"): RateLimit(60, 1_000_000, _AIR_CARD, "2026-12-01", _BEIJING),
}


def known_limits(provider: str, base_url: str, model: str) -> RateLimit | None:
    """The published limits for ``model`` at ``provider``'s ``base_url``, or None (no pacing
    by default): a figure holds only in the region it was published for."""
    known = LIMITS.get((provider, model))
    return known if known is not None and known.holds_at(base_url) else None


def limits_text(rpm: float | None, tpm: float | None) -> str:
    """``600 RPM, 1,000,000 TPM``; only the bounds that are set; empty when none is."""
    parts = [f"{rpm:,.0f} RPM" if rpm else "", f"{tpm:,.0f} TPM" if tpm else ""]
    return ", ".join(p for p in parts if p)


class Gate(Protocol):
    """What the client asks before each HTTP attempt and tells after each answer."""

    def before_send(self, stop: threading.Event | None) -> bool:
        """Wait until this attempt may go; False when ``stop`` was set meanwhile."""

    def answered(self, status: int, headers: Mapping[str, str]) -> None:
        """The response's status and headers arrived (success or refusal)."""


@dataclass
class Pace:
    """What the progress view shows: the allowed pace, the pace measured, and the bound."""

    rpm: float | None
    tpm: float | None
    measured: float
    bound: str
    #: The tokens the last request was charged (what a TPM bound spaces requests by).
    per_call: int = 0


class Pacer:
    """Even spacing under requests- and tokens-per-minute bounds, shared by a batch's workers.

    Each bound keeps a theoretical arrival time (``tat``): the moment its
    bucket is full again. A request may go at ``max(now, tat - burst)``;
    sending it pushes ``tat`` by its cost over the rate. Requests get no
    burst (one every 60/RPM seconds, as RPS = RPM/60 asks); tokens may burst
    :data:`TOKEN_BURST` seconds' worth, and a request dearer than that goes
    once the bucket is back to that level, leaving it in debt. Thread-safe;
    ``clock`` is for tests.
    """

    def __init__(
        self,
        rpm: float | None,
        tpm: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.clock = clock
        self.factor = 1.0
        self.epoch = 0
        self.refusals = 0
        self.bound = "concurrency"
        self.per_call = 0
        now = clock()
        self._tat_requests = self._tat_tokens = now
        self._paused_until = now
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def shown(self) -> bool:
        """Worth a place on the progress line: limits are set, or the provider refused."""
        return bool(self.rpm or self.tpm or self.refusals)

    def reserve(self, tokens: int) -> tuple[float, int]:
        """Book the next moment a request of ``tokens`` may go; (that moment, epoch)."""
        with self._lock:
            now = self.clock()
            at, self.bound, self.per_call = now, "concurrency", tokens
            if self._paused_until > at:
                at, self.bound = self._paused_until, "Retry-After"
            if self.rpm and self._tat_requests > at:
                at, self.bound = self._tat_requests, "RPM"
            tps = self.tpm / 60 * self.factor if self.tpm else None
            if tps and self._tat_tokens - TOKEN_BURST > at:
                at, self.bound = self._tat_tokens - TOKEN_BURST, "TPM"
            if self.rpm:
                self._tat_requests = max(self._tat_requests, at) + 60 / (self.rpm * self.factor)
            if tps:
                self._tat_tokens = max(self._tat_tokens, at) + tokens / tps
            self._sent.append(at)
            while self._sent[0] < now - WINDOW:
                self._sent.popleft()
            return at, self.epoch

    def admit(self, tokens: int, stop: threading.Event | None = None) -> int | None:
        """Wait for the moment :meth:`reserve` booked; the epoch, or None once stopped."""
        at, epoch = self.reserve(tokens)
        delay = at - self.clock()
        if delay > 0:
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                return None
        return epoch

    def refund(self, tokens: int) -> None:
        """Give back tokens charged but not used (negative: the reply used more than charged)."""
        if self.tpm and tokens:
            with self._lock:
                self._tat_tokens -= tokens / (self.tpm / 60 * self.factor)

    def answered(self, status: int, headers: Mapping[str, str], epoch: int) -> None:
        """Learn from one answer: a 429 slows down; headers may pause every sender."""
        wait = _header_wait(headers, status)
        with self._lock:
            now = self.clock()
            if wait:
                self._paused_until = max(self._paused_until, now + min(wait, MAX_PAUSE))
            if status == 429:
                self.refusals += 1
                if epoch == self.epoch:
                    self.factor = max(SLOWEST, self.factor / 2)
                    self.epoch += 1
            elif self.factor < 1.0:
                self.factor = min(1.0, self.factor + RECOVERY)

    def pace(self) -> Pace:
        """A snapshot for the progress view."""
        with self._lock:
            now = self.clock()
            while self._sent and self._sent[0] < now - WINDOW:
                self._sent.popleft()
            recent = [t for t in self._sent if t <= now]
            span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
            measured = (len(recent) - 1) / span * 60 if span > 0 else 0.0
            rpm = self.rpm * self.factor if self.rpm else None
            tpm = self.tpm * self.factor if self.tpm else None
            return Pace(rpm, tpm, measured, self.bound, self.per_call)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: str | None) -> float | None:
    """A wait written as seconds, an HTTP date, ``1m30s``/``250ms``, or an epoch time."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number > 1e11:  # epoch milliseconds (OpenRouter's X-RateLimit-Reset)
            return number / 1000 - time.time()
        if number > 1e9:  # epoch seconds
            return number - time.time()
        return number
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        return sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _header_wait(headers: Mapping[str, str], status: int) -> float | None:
    """How long every sender should wait, from the answer's headers (None: no need)."""
    lower = {k.lower(): v for k, v in headers.items()}
    waits = []
    if status == 429:
        waits.append(_seconds(lower.get("retry-after")))
    for remaining, reset in (
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ):
        left = lower.get(remaining)
        if left is not None and left.strip() in ("0", "0.0"):
            waits.append(_seconds(lower.get(reset)))
    found = [w for w in waits if w is not None and w > 0]
    return max(found) if found else None
