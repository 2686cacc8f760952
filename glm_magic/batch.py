"""One prompt per item, many items at once: ``glm_magic.map`` and ``%%glm --each``.

This module holds what a user touches: the ``BatchResult`` (a list of
``GLMResult`` in input order, with the answers in the input's shape), filling
the template per item, the dry-run plan, and the entry points. The threads
that run the items are in :mod:`glm_magic.scheduler`.

Memory: results are plain ``GLMResult`` dataclasses. No widget per item, and
no SDK or HTTP object outlives the item it served.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import journal, prices
from .errors import GLMUsageError
from .events import Usage
from .interpolate import Row, interpolate
from .pacing import OutputEstimate, Pacer, known_limits, limits_text
from .request import Options, build_request, message_tokens
from .result import GLMResult
from .runner import model_for
from .scheduler import BatchRun, succeeded
from .settings import Settings
from .summaries import DEFAULT_BUDGET
from .views import check_display
from .views.progress import duration
from .wording import count

DEFAULT_CONCURRENCY = 8


class BatchResult(list):
    """The results of a batch, one ``GLMResult`` per item, in input order.

    It is a list, so ``batch[3].answer`` and ``for r in batch`` work. It also
    remembers what it needs to turn the answers back into the input's shape
    (``to_series``, ``to_frame``, ``output``) and to run again only the items
    that did not succeed (``%%glm --resume NAME``, :func:`resume`): the model,
    the options and, in each result, the prompt that was sent. It holds no
    client, connection or key.
    """

    def __init__(
        self,
        results: Iterable[GLMResult],
        *,
        model: str,
        options: Options,
        base_url: str | None = None,
        max_tool_rounds: int | None = None,
        kind: str = "list",
        index: Any = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        name: str | None = None,
    ) -> None:
        super().__init__(results)
        #: The notebook variable holding the batch (``-o NAME``, else ``_glm``), for
        #: the summary's ``%glm --resume NAME``; None from the Python API.
        self.name = name
        self.model = model
        self.options = options
        self.base_url = base_url
        self.max_tool_rounds = max_tool_rounds
        self.kind = kind
        self.index = index
        self.concurrency = concurrency
        self.wall_time = 0.0
        self.rate_limited = 0
        self.lowest_concurrency = concurrency
        self.interrupted = False
        #: The pacing asked for (None: ``%config``'s, else the provider's), and the one kept.
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.pace: Limits | None = None
        #: Its id in the store's journal (None: not journaled), see :mod:`glm_magic.journal`.
        self.journal: str | None = None

    @property
    def results(self) -> list[GLMResult]:
        return list(self)

    @property
    def structured(self) -> bool:
        """True when the items asked for JSON (``--json`` / ``--schema``)."""
        return self.options.json or self.options.schema is not None

    @property
    def labels(self) -> list[Any]:
        """Each item's label: its index label for a Series or DataFrame, else its position."""
        return list(self.index) if self.index is not None else list(range(len(self)))

    @property
    def answers(self) -> list[str | None]:
        """Each answer, or None for an item that did not succeed."""
        return [r.answer if succeeded(r) else None for r in self]

    @property
    def data(self) -> list[Any]:
        """Each parsed JSON value (``--json`` / ``--schema``), or None."""
        return [r.data if succeeded(r) else None for r in self]

    @property
    def pending(self) -> list[int]:
        """Positions of the items that did not succeed: what a resume runs again."""
        return [i for i, r in enumerate(self) if not succeeded(r)]

    @property
    def failed(self) -> list[tuple[Any, GLMResult]]:
        """``(label, result)`` for each item that failed (interrupted ones are not failures).

        Pairs rather than a dict: an index can repeat a label.
        """
        return [
            (label, r)
            for label, r in zip(self.labels, self, strict=True)
            if not succeeded(r) and r.finish_reason != "interrupted"
        ]

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self:
            total = total + r.usage
        return total

    @property
    def cost(self) -> prices.Cost:
        """What the items that used tokens cost; unknown if any of them has no known price."""
        return prices.total([prices.Cost(r.cost, r.currency) for r in self if r.usage.total_tokens])

    def to_series(self) -> Any:
        """The answers as a pandas Series aligned with the input's index (None where failed)."""
        pd = _pandas("to_series")

        return pd.Series(self.answers, index=self.index, name="answer", dtype=object)

    def to_frame(self) -> Any:
        """One row per item, aligned with the input's index.

        With ``--json`` / ``--schema`` the columns are the fields of each JSON
        object (a pydantic instance is dumped to a dict; any other JSON value
        goes in a ``value`` column); otherwise a single ``answer`` column.
        Items that did not succeed are rows of missing values.
        """
        pd = _pandas("to_frame")

        if not self.structured:
            return self.to_series().to_frame()
        rows = [_record(value) for value in self.data]
        return pd.DataFrame(rows, index=self.index)

    def output(self) -> Any:
        """What ``%%glm --each`` returns: the answers (or JSON values) in the input's shape.

        A list for a list input, a Series (a DataFrame with ``--json``) aligned
        with the index of a Series or DataFrame input.
        """
        if self.kind == "list":
            return self.data if self.structured else self.answers
        return self.to_frame() if self.structured else self.to_series()

    def counts(self) -> Counter[str]:
        """How many items ``done``, ``failed`` and ``interrupted``."""
        counts: Counter[str] = Counter(done=0, failed=0, interrupted=0)
        for r in self:
            if succeeded(r):
                counts["done"] += 1
            elif r.finish_reason == "interrupted":
                counts["interrupted"] += 1
            else:
                counts["failed"] += 1
        return counts

    def failure_groups(self) -> list[tuple[str, int, str, Any]]:
        """Failures by error code: (code, count, one message, first label), most first."""
        groups: dict[str, list[Any]] = {}
        for label, r in self.failed:
            code = r.error_code or r.finish_reason
            groups.setdefault(code, [0, r.error or r.finish_reason, label])[0] += 1
        ordered = sorted(groups.items(), key=lambda kv: -kv[1][0])
        return [(code, n, message, label) for code, (n, message, label) in ordered]

    def summary(self) -> str:
        """A few plain lines: counts, tokens, time, and why items failed."""
        return "\n".join(self._summary_lines(markdown=False))

    def _summary_lines(self, *, markdown: bool) -> list[str]:
        c = self.counts()
        u = self.usage
        head = f"{self.model} · {len(self):,} items: {c['done']:,} done"
        if c["failed"]:
            head += f", {c['failed']:,} failed"
        if c["interrupted"]:
            head += f", {c['interrupted']:,} interrupted"
        head += f" · {u.prompt_tokens:,} in / {u.completion_tokens:,} out tokens"
        if u.total_tokens:
            head += f" · {self.cost}"
        head += f" · {self.wall_time:.1f} s, {self.concurrency} at a time"
        lines = [f"**{head}**" if markdown else head]
        pace = self.pace
        if pace is not None and (pace.rpm or pace.tpm):
            lines.append(f"Paced under {limits_text(pace.rpm, pace.tpm)}.")
        if self.rate_limited:
            lines.append(
                f"Rate limited {self.rate_limited:,} times: slowed down to "
                f"{self.lowest_concurrency} at a time, then back up."
            )
        bullet = "- " if markdown else "  "
        if c["failed"]:
            lines.append("Failed, by error code:")
            for code, n, message, label in self.failure_groups():
                text = f"{n:,} × {code}: {message} (first: item {label!r})"
                lines.append(bullet + (_md_escape(text) if markdown else text))
        if c["failed"] or c["interrupted"]:
            unfinished = c["failed"] + c["interrupted"]
            again = f"%glm --resume {self.name}" if self.name else "glm_magic.resume(batch)"
            lines.append(
                ("`.failed` has the failed results. " if c["failed"] else "")
                + f"`{again}` runs {count(unfinished, 'unfinished item')} again."
            )
        return lines

    def bundle(self) -> dict[str, str]:
        return {"text/markdown": self._repr_markdown_(), "text/plain": self.summary()}

    def __repr__(self) -> str:
        c = self.counts()
        return (
            f"<BatchResult {self.model}: {len(self)} items, {c['done']} done, "
            f"{c['failed']} failed, {c['interrupted']} interrupted>"
        )

    def _repr_markdown_(self) -> str:
        return "\n\n".join(self._summary_lines(markdown=True))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())


def _pandas(method: str) -> Any:
    """pandas, for the methods that build its objects; it is no dependency of glm-magic."""
    try:
        import pandas
    except ImportError:
        msg = f"BatchResult.{method}() needs pandas, which is not installed: pip install pandas"
        raise ModuleNotFoundError(msg, name="pandas") from None
    return pandas


def _record(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value if isinstance(value, dict) else {"value": value}


def _md_escape(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


# -- inputs -----------------------------------------------------------------------------


@dataclass
class Items:
    """What ``--each`` iterates over: the values, and the shape to give the answers back in."""

    values: list[Any]
    labels: list[Any]
    kind: str
    index: Any = None


def items_of(value: Any, source: str = "--each") -> Items:
    """The items of a list, tuple, pandas Series (values) or DataFrame (rows)."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        rows = [row for _, row in value.iterrows()]
        return Items(rows, list(value.index), "frame", value.index)
    if pandas is not None and isinstance(value, pandas.Series):
        return Items(list(value.array), list(value.index), "series", value.index)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return Items(list(value), list(range(len(value))), "list")
    msg = (
        f"{source} needs a list, a tuple, a pandas Series or a DataFrame; "
        f"it got {type(value).__name__}."
    )
    raise GLMUsageError(msg)


def fill(
    template: str,
    items: Items,
    namespace: dict[str, Any],
    *,
    budget: int = DEFAULT_BUDGET,
    notes: list[str] | None = None,
) -> list[str]:
    """The prompt for each item: ``{item}``, ``{index}`` and, for DataFrame rows, ``{row.col}``.

    The namespace is copied once and the three names are rebound per item, so
    a large notebook namespace is not copied thousands of times. ``budget``
    and ``notes`` are :func:`~glm_magic.interpolate.interpolate`'s.
    """
    scope = dict(namespace)
    prompts = []
    for label, value in zip(items.labels, items.values, strict=True):
        scope["item"] = value
        scope["index"] = label
        if items.kind == "frame":
            scope["row"] = Row(value)
        try:
            prompts.append(interpolate(template, scope, budget=budget, notes=notes))
        except GLMUsageError as exc:
            msg = f"Item {label!r}: {exc}"
            raise GLMUsageError(msg) from None
    return prompts


# -- dry run ----------------------------------------------------------------------------


@dataclass
class BatchPlan:
    """What a batch would send, and how long and how many tokens it would take (``--dry-run``).

    Without a sample, input tokens are estimated from the text (see
    :func:`glm_magic.request.estimate_tokens`: a generous guess, not the
    provider's tokenizer) and output tokens are only bounded: from nothing up
    to the longest reply the options allow; the time assumes the output the
    pacer charges before it has measured any (``paced_output_per_call``, see
    :class:`glm_magic.pacing.OutputEstimate`). With a sample (``--sample K``),
    K items were really sent: their measured tokens correct the input
    estimate and give the output per call, and their durations give the time,
    as a range from the sample's smallest to its largest. The time also
    respects the pace the batch would be allowed (RPM, TPM, concurrency). The
    cost comes from :mod:`glm_magic.prices` for the endpoint and model (and
    ``%config GLMMagics.prices``); where no price is known it says "cost
    unknown", never a guess.
    """

    calls: int
    model: str
    input_tokens: int
    max_output_per_call: int | None
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: int | None = None
    tpm: int | None = None
    limits_source: str = ""
    max_calls: int | None = None
    sample: list[GLMResult] = field(default_factory=list)
    sample_estimate: int = 0
    base_url: str = ""
    provider: str = ""
    price_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: The output per call the pacer charges until replies are measured.
    paced_output_per_call: int = 0

    @property
    def max_total(self) -> int | None:
        if self.max_output_per_call is None:
            return None
        return self.input_tokens + self.calls * self.max_output_per_call

    @property
    def measured(self) -> list[GLMResult]:
        """The sampled items that succeeded (the others measure nothing)."""
        return [r for r in self.sample if succeeded(r)]

    def tokens(self) -> tuple[int, int | None, int | None]:
        """(input, lowest output, highest output) for the whole batch; None where unknown."""
        measured = self.measured
        if not measured:
            if self.max_output_per_call is None:
                return self.input_tokens, 0, None
            return self.input_tokens, 0, self.calls * self.max_output_per_call
        estimated = sum(r.usage.prompt_tokens for r in measured)
        ratio = estimated / self.sample_estimate if self.sample_estimate else 1.0
        outputs = [r.usage.completion_tokens for r in measured]
        return (
            round(self.input_tokens * ratio),
            self.calls * min(outputs),
            self.calls * max(outputs),
        )

    def cost(self) -> str:
        """The batch's cost as a range (``¥0.12 to ¥3.40``), or ``cost unknown``."""
        source, low, high = self.tokens()
        if high is None or not self.calls:
            return prices.cost_text(None, None)
        ends = [
            prices.estimate(
                self.provider,
                self.base_url,
                self.model,
                source // self.calls,
                out // self.calls,
                self.price_overrides,
            )
            for out in (low or 0, high)
        ]
        if any(c.amount is None for c in ends):
            return prices.cost_text(None, None)
        cheap, dear = (str(prices.Cost(c.amount * self.calls, c.currency)) for c in ends)
        return cheap if cheap == dear else f"{cheap} to {dear}"

    def seconds(self, tokens: int, latency: float) -> tuple[float, str]:
        """The time the whole batch takes at ``latency`` per call, and what bounds it."""
        bounds = [(self.calls * latency / self.concurrency, f"concurrency (-j {self.concurrency})")]
        if self.rpm:
            bounds.append((self.calls / self.rpm * 60, f"{self.rpm:,} RPM"))
        if self.tpm:
            bounds.append((tokens / self.tpm * 60, f"{self.tpm:,} TPM"))
        return max(bounds)

    def __str__(self) -> str:
        sent = len(self.sample)
        if sent:
            head = (
                f"Dry run: sent {count(sent, 'sample item')} of {self.calls:,} to {self.model} "
                f"({len(self.measured)} succeeded); the rest was not sent."
            )
        else:
            head = f"Dry run, nothing sent: {self.calls:,} calls to {self.model}."
        lines = [head]
        if sent and not self.measured:
            lines.append("No sample item succeeded, so nothing was measured:")
            lines += [f"  {r.error}" for r in self.sample[:3] if r.error]
        source, low, high = self.tokens()
        measured = self.measured
        if measured:
            per_in = [r.usage.prompt_tokens for r in measured]
            per_out = [r.usage.completion_tokens for r in measured]
            times = [r.total_time for r in measured]
            lines.append(
                f"Per call in the sample: {_span(per_in)} input tokens, "
                f"{_span(per_out)} output tokens, {_span(times, '{:.1f}')} s."
            )
            lines.append(f"Input: about {source:,} tokens (the estimate, corrected by the sample).")
            lines.append(f"Output: {_between(low, high)} tokens (the sample's range per call).")
        else:
            lines.append(f"Input: about {source:,} tokens (estimated from the text).")
            if high is None:
                lines.append("Output: unknown until answered (no known limit for this model).")
            else:
                lines.append(
                    "Output: unknown until answered; "
                    f"at most {self.max_output_per_call:,} per call, "
                    f"paced at about {self.paced_output_per_call:,} until replies are measured."
                )
        total = (
            _between(source + (low or 0), source + high)
            if high is not None
            else f"{source + (low or 0):,}+"
        )
        lines.append(f"Total: {total} tokens; {self.cost()}.")
        lines.append(self._time_line(source, low, high))
        if self.max_calls and self.calls > self.max_calls:
            lines.append(
                f"Over --max-calls {self.max_calls:,}: a real run would be refused; "
                f"raise it with --max-calls {self.calls} (max_calls={self.calls})."
            )
        if not sent:
            lines.append("Measure tokens and time on a few items: --dry-run --sample 3.")
        return "\n".join(lines)

    def _time_line(self, source: int, low: int | None, high: int | None) -> str:
        allowed = limits_text(self.rpm, self.tpm) or "no rate limit known"
        origin = f" ({self.limits_source})" if self.limits_source else ""
        measured = self.measured
        if measured:
            times = [r.total_time for r in measured]
            fast, _ = self.seconds(source + (low or 0), min(times))
            slow, bound = self.seconds(source + (high or 0), max(times))
            spread = duration(fast)
            if duration(slow) != spread:
                spread += f" to {duration(slow)}"
            return f"Time: {spread} at {allowed}{origin}, -j {self.concurrency} (bound by {bound})."
        fast, bound = self.seconds(source + self.calls * self.paced_output_per_call, 0.0)
        if fast <= 0:
            return f"Time: unknown without a sample ({allowed})."
        return f"Time: at least {duration(fast)} at {allowed}{origin} (bound by {bound})."


def _between(low: int, high: int) -> str:
    """``1,200`` or ``1,200 to 3,400``."""
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _span(values: Sequence[float], form: str = "{:,}") -> str:
    low, high = min(values), max(values)
    return form.format(low) if low == high else f"{form.format(low)}-{form.format(high)}"


def plan(
    prompts: Sequence[str],
    options: Options,
    model: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    pace: Limits | None = None,
    max_calls: int | None = None,
    settings: Settings | None = None,
) -> BatchPlan:
    """Count calls and input tokens for ``prompts``; checks every prompt like a real run
    (against the provider's catalogue, DashScope's by default).

    ``settings`` give the provider, and the endpoint and ``%config`` prices the cost is
    looked up with.
    """
    provider = settings.provider if settings else None
    requests = [build_request(prompt, model, options, provider=provider) for prompt in prompts]
    pace = pace or Limits(None, None, "")
    max_reply = requests[0].max_reply if requests else options.max_tokens
    return BatchPlan(
        len(prompts),
        model,
        sum(message_tokens(r.messages) for r in requests),
        max_reply,
        concurrency=concurrency,
        rpm=pace.rpm,
        tpm=pace.tpm,
        limits_source=pace.source,
        max_calls=max_calls,
        base_url=settings.base_url if settings else "",
        provider=settings.provider.name if settings else "",
        price_overrides=settings.prices if settings else {},
        paced_output_per_call=OutputEstimate().per_call(max_reply),
    )


def estimate(
    prompts: Sequence[str],
    options: Options,
    settings: Settings,
    *,
    sample: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rpm: int | None = None,
    tpm: int | None = None,
    max_calls: int | None = None,
) -> BatchPlan:
    """``--dry-run``: the plan for ``prompts``; with ``sample=K``, K items spread over
    the batch are really sent (at the batch's pace) and measured."""
    model = model_for(options, settings)
    pace = limits(settings, model, rpm, tpm)
    cap = max_calls if max_calls is not None else settings.max_calls
    result = plan(
        prompts,
        options,
        model,
        concurrency=concurrency,
        pace=pace,
        max_calls=cap,
        settings=settings,
    )
    if sample is None or not prompts:
        return result
    _check_sample(sample)
    k = min(sample, len(prompts))
    chosen = sorted({i * len(prompts) // k for i in range(k)})
    picked = [prompts[i] for i in chosen]
    runs = start(
        picked, options, settings, concurrency=concurrency, rpm=rpm, tpm=tpm, max_calls=None
    )
    result.sample = list(runs)
    result.sample_estimate = sum(
        message_tokens(build_request(p, model, options, provider=settings.provider).messages)
        for p, r in zip(picked, runs, strict=True)
        if succeeded(r)
    )
    return result


def _check_sample(sample: Any) -> None:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        msg = f"--sample (sample=) must be a whole number of items, at least 1; got {sample!r}."
        raise GLMUsageError(msg)


# -- pacing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The pace a batch keeps: requests and tokens per minute (None: no bound), and whence."""

    rpm: int | None
    tpm: int | None
    source: str


def limits(settings: Settings, model: str, rpm: int | None, tpm: int | None) -> Limits:
    """The limits in force: the call's, else ``%config``'s, else the provider's published ones."""
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            msg = f"--{name} ({name}=) must be a whole number, at least 1; got {value!r}."
            raise GLMUsageError(msg)
    known = known_limits(settings.provider.name, settings.base_url, model)
    rpm = rpm or settings.rpm or (known.rpm if known else None)
    tpm = tpm or settings.tpm or (known.tpm if known else None)
    source = f"{model}'s published limits, {known.source}" if known else ""
    return Limits(rpm, tpm, source)


def check_cap(plan: BatchPlan, cap: int | None) -> None:
    """Refuse, before anything is sent, a batch of more calls than ``cap``."""
    if cap is None or plan.calls <= cap:
        return
    source, _, high = plan.tokens()
    output = (
        f"up to {high:,} output tokens ({plan.max_output_per_call:,} per call at most)"
        if high is not None and plan.max_output_per_call is not None
        else "output tokens unknown until answered"
    )
    msg = (
        f"This batch is {plan.calls:,} calls to {plan.model}, more than --max-calls {cap:,}; "
        f"nothing was sent. Estimated: about {source:,} input tokens and {output}; "
        f"{plan.cost()}. To run it, raise the cap: --max-calls {plan.calls} (max_calls="
        f"{plan.calls}, or %config GLMMagics.max_calls = {plan.calls}); see what it would "
        "take first with --dry-run --sample 3."
    )
    raise GLMUsageError(msg)


# -- running ----------------------------------------------------------------------------


def _check_concurrency(concurrency: int) -> None:
    if not isinstance(concurrency, int) or concurrency < 1:
        msg = f"The concurrency (-j) must be a whole number of at least 1; got {concurrency!r}."
        raise GLMUsageError(msg)


def start(
    prompts: Sequence[str],
    options: Options,
    settings: Settings,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    display: str = "none",
    show: int = 0,
    base_url: str | None = None,
    max_tool_rounds: int | None = None,
    items: Items | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    max_calls: int | None = None,
    name: str | None = None,
) -> BatchResult:
    """Check everything, then run every prompt; the magic and :func:`map` both end here.

    ``base_url`` and ``max_tool_rounds`` are the ones asked for (None: the
    settings'), kept on the result so that a resume uses them again, like
    ``rpm`` and ``tpm`` (None: ``%config``, else the provider's published
    limits). A batch of more than ``max_calls`` calls (None: ``%config``'s
    cap) is refused before anything is sent. The batch is journaled in the
    store under ``name`` (the cell's ``-o NAME``), so ``--resume NAME`` finds
    it after a restart; the summary names it
    too (``%glm --resume NAME``).
    """
    _check_concurrency(concurrency)
    model = model_for(options, settings)
    for label, prompt in zip(items.labels if items else range(len(prompts)), prompts, strict=True):
        if not prompt.strip():
            msg = f"The prompt for item {label!r} is empty; nothing was sent."
            raise GLMUsageError(msg)
    pace = limits(settings, model, rpm, tpm)
    cap = max_calls if max_calls is not None else settings.max_calls
    if cap is not None and len(prompts) > cap:
        counted = plan(
            prompts, options, model, concurrency=concurrency, pace=pace, settings=settings
        )
        check_cap(counted, cap)
    if prompts:
        note = build_request(prompts[0], model, options, provider=settings.provider).thinking_note()
        settings.api_key()
        if note and display != "none":
            print(f"[{note}]")
    placeholders = [
        GLMResult(model=model, prompt=p, finish_reason="interrupted", error="Not run yet.")
        for p in prompts
    ]
    batch = BatchResult(
        placeholders,
        model=model,
        options=options,
        base_url=base_url,
        max_tool_rounds=max_tool_rounds,
        kind=items.kind if items else "list",
        index=items.index if items else None,
        concurrency=concurrency,
        name=name,
    )
    batch.rpm, batch.tpm = rpm, tpm
    journal.begin(batch, name, settings)
    return rerun(batch, settings, concurrency=concurrency, display=display, show=show)


def rerun(
    batch: BatchResult,
    settings: Settings,
    *,
    concurrency: int | None = None,
    display: str = "none",
    show: int = 0,
) -> BatchResult:
    """Run the items of ``batch`` that did not succeed (all of a new one), in place."""
    concurrency = concurrency or batch.concurrency
    _check_concurrency(concurrency)
    positions = batch.pending
    if positions:
        settings.api_key()
    batch.interrupted = False
    batch.concurrency = concurrency
    pace = limits(settings, batch.model, batch.rpm, batch.tpm)
    batch.pace = pace
    BatchRun(
        batch,
        positions,
        settings,
        concurrency=concurrency,
        display=display,
        show=show,
        pacer=Pacer(pace.rpm, pace.tpm),
    ).go()
    return batch


def resume_stored(
    value: Any,
    name: str,
    *,
    concurrency: int | None = None,
    dry_run: bool = False,
    quiet: bool = False,
    display: str = "none",
    show: int = 0,
) -> BatchResult | None:
    """``%%glm --resume NAME``, where ``value`` is what ``NAME`` holds in the notebook.

    When ``NAME`` holds no batch (a new kernel, after a restart or a crash),
    the newest batch journaled under that name is taken from the store, with
    the items that finished. Runs the unfinished items again and returns the
    batch; with ``dry_run``, prints what that would send and returns None.
    """
    if not isinstance(value, BatchResult):
        value = journal.load(name)
    if value is None:
        msg = (
            f"--resume {name}: that is not a batch result, and the store has no batch of "
            "that name; use the name a `%%glm --each ... -o NAME` cell stored (or `_glm`)."
        )
        raise GLMUsageError(msg)
    if dry_run:
        pending = [value[i].prompt for i in value.pending]
        print(plan(pending, value.options, value.model, settings=_settings(value)))
        return None
    if not value.pending and not quiet:
        print(f"Nothing to resume: every item of {name} succeeded.")
    value.name = name
    return rerun(value, _settings(value), concurrency=concurrency, display=display, show=show)


def map(
    prompts: Iterable[str],
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    display: str = "none",
    show: int = 0,
    max_tool_rounds: int | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    max_calls: int | None = None,
    dry_run: bool = False,
    sample: int | None = None,
    **options: Any,
) -> BatchResult | BatchPlan:
    """Send each prompt, ``concurrency`` at a time; one ``GLMResult`` per prompt, in order.

    ``options`` are :func:`glm_magic.complete`'s (``model``, ``thinking``,
    ``temperature``, ``system``, ``json``, ``schema``, ``tools``...), and
    ``max_tool_rounds`` too, applied to every call. ``display="auto"`` shows
    a progress bar (widgets in a notebook, a text line elsewhere); ``show=N``
    also streams the first N replies. Failures never raise: each result
    carries its own error, and the returned :class:`BatchResult` summarises
    them. An interrupt stops the batch and raises ``GLMInterrupted`` (a
    ``KeyboardInterrupt``) whose ``.result`` is the batch with what finished;
    :func:`resume` runs the rest.

    ``rpm`` / ``tpm`` keep the batch under that many requests / tokens a
    minute, spread evenly (None: ``%config GLMMagics.rpm``/``tpm``, else the
    provider's published limits for the model, else no pacing). A batch of
    more than ``max_calls`` prompts (None: ``%config GLMMagics.max_calls``,
    1,000) is refused before anything is sent. ``dry_run=True`` returns a
    :class:`BatchPlan` instead of sending; with ``sample=K`` it sends K
    prompts spread over the batch and extrapolates tokens and time from them.
    """
    from . import options as spec
    from .api import API_ARGUMENTS, current_settings

    check_display(display, "map")
    opts, connection = spec.from_api(options, "map", also=("concurrency", "show", *API_ARGUMENTS))
    prompts = list(prompts)
    if not all(isinstance(p, str) for p in prompts):
        msg = "map() needs prompts as text (str); format each item into a prompt first."
        raise GLMUsageError(msg)
    settings = current_settings(model=opts.model, max_tool_rounds=max_tool_rounds, **connection)
    if sample is not None and not dry_run:
        msg = "sample=K measures a batch before running it: use it with dry_run=True."
        raise GLMUsageError(msg)
    if dry_run:
        _check_concurrency(concurrency)
        return estimate(
            prompts,
            opts,
            settings,
            sample=sample,
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            max_calls=max_calls,
        )
    return start(
        prompts,
        opts,
        settings,
        concurrency=concurrency,
        display=display,
        show=show,
        base_url=connection.get("base_url"),
        max_tool_rounds=max_tool_rounds,
        rpm=rpm,
        tpm=tpm,
        max_calls=max_calls,
    )


def resume(
    batch: BatchResult, concurrency: int | None = None, *, display: str = "none", show: int = 0
) -> BatchResult:
    """Run again, in place, the items of ``batch`` that failed or were interrupted."""
    check_display(display, "resume")
    return rerun(batch, _settings(batch), concurrency=concurrency, display=display, show=show)


def _settings(batch: BatchResult) -> Settings:
    """The settings for running ``batch`` again: its model, endpoint and tool rounds."""
    from .api import current_settings

    return current_settings(
        model=batch.model, base_url=batch.base_url, max_tool_rounds=batch.max_tool_rounds
    )
