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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import structured
from .errors import GLMUsageError
from .events import Usage
from .interpolate import Row, interpolate
from .models import model_info
from .request import Options, build_request, message_tokens
from .result import GLMResult
from .scheduler import BatchRun, succeeded
from .settings import Settings
from .summaries import DEFAULT_BUDGET
from .views import check_display
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
    ) -> None:
        super().__init__(results)
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

    def to_series(self) -> Any:
        """The answers as a pandas Series aligned with the input's index (None where failed)."""
        import pandas as pd

        return pd.Series(self.answers, index=self.index, name="answer", dtype=object)

    def to_frame(self) -> Any:
        """One row per item, aligned with the input's index.

        With ``--json`` / ``--schema`` the columns are the fields of each JSON
        object (a pydantic instance is dumped to a dict; any other JSON value
        goes in a ``value`` column); otherwise a single ``answer`` column.
        Items that did not succeed are rows of missing values.
        """
        import pandas as pd

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
        head += (
            f" · {u.prompt_tokens:,} in / {u.completion_tokens:,} out tokens"
            f" · {self.wall_time:.1f} s, {self.concurrency} at a time"
        )
        lines = [f"**{head}**" if markdown else head]
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
            lines.append(
                ("`.failed` has the failed results. " if c["failed"] else "")
                + f"`%glm --resume NAME` runs {count(unfinished, 'unfinished item')} again."
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
    """What a batch would send, counted without sending it (``--dry-run``).

    Input tokens are estimated from the text (see :func:`glm_magic.request.estimate_tokens`:
    a generous guess, not the provider's tokenizer). Output tokens cannot be
    known before the model answers, so they are a range: from nothing up to
    the longest reply the options allow (``--max-tokens`` or the model's max
    answer, plus its max thinking when thinking is on). No price table is
    built in (prices change and differ by region and tier), so the cost is
    shown as tokens against the model's free quota.
    """

    calls: int
    model: str
    input_tokens: int
    max_output_per_call: int | None

    @property
    def max_total(self) -> int | None:
        if self.max_output_per_call is None:
            return None
        return self.input_tokens + self.calls * self.max_output_per_call

    def __str__(self) -> str:
        lines = [
            f"Dry run, nothing sent: {self.calls:,} calls to {self.model}.",
            f"Input: about {self.input_tokens:,} tokens (estimated from the text).",
        ]
        free = model_info(self.model).free_tokens if model_info(self.model) else None
        if self.max_total is None:
            lines.append("Output: unknown until answered (no known limit for this model).")
            return "\n".join(lines)
        lines.append(
            f"Output: unknown until answered; at most {self.max_output_per_call:,} per call."
        )
        low, high = self.input_tokens, self.max_total
        lines.append(f"Total: between {low:,} and {high:,} tokens.")
        if free:
            lines.append(
                f"Against the {free:,} free tokens of {self.model}: "
                f"{low / free:.2%} to {high / free:.2%} (no price table is built in)."
            )
        return "\n".join(lines)


def plan(prompts: Sequence[str], options: Options, model: str) -> BatchPlan:
    """Count calls and input tokens for ``prompts``; checks every prompt like a real run."""
    input_tokens = sum(
        message_tokens(build_request(prompt, model, options).messages) for prompt in prompts
    )
    info = model_info(model)
    if info is None:
        per_call = options.max_tokens
    else:
        thinking = build_request(prompts[0], model, options).thinking if prompts else False
        per_call = (options.max_tokens or info.max_answer) + (info.max_thinking if thinking else 0)
    return BatchPlan(len(prompts), model, input_tokens, per_call)


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
) -> BatchResult:
    """Check everything, then run every prompt; the magic and :func:`map` both end here.

    ``base_url`` and ``max_tool_rounds`` are the ones asked for (None: the
    settings'), kept on the result so that a resume uses them again.
    """
    _check_concurrency(concurrency)
    model = options.model or settings.model
    for label, prompt in zip(items.labels if items else range(len(prompts)), prompts, strict=True):
        if not prompt.strip():
            msg = f"The prompt for item {label!r} is empty; nothing was sent."
            raise GLMUsageError(msg)
    if prompts:
        note = structured.thinking_note(build_request(prompts[0], model, options))
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
    )
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
    BatchRun(batch, positions, settings, concurrency=concurrency, display=display, show=show).go()
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

    Runs the unfinished items again and returns the batch; with ``dry_run``,
    prints what that would send and returns None.
    """
    if not isinstance(value, BatchResult):
        msg = (
            f"--resume {name}: that is not a batch result; use the name "
            "a `%%glm --each ... -o NAME` cell stored (or `_glm`)."
        )
        raise GLMUsageError(msg)
    if dry_run:
        print(plan([value[i].prompt for i in value.pending], value.options, value.model))
        return None
    if not value.pending and not quiet:
        print(f"Nothing to resume: every item of {name} succeeded.")
    return rerun(value, _settings(value), concurrency=concurrency, display=display, show=show)


def map(
    prompts: Iterable[str],
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    display: str = "none",
    show: int = 0,
    max_tool_rounds: int | None = None,
    **options: Any,
) -> BatchResult:
    """Send each prompt, ``concurrency`` at a time; one ``GLMResult`` per prompt, in order.

    ``options`` are :func:`glm_magic.complete`'s (``model``, ``thinking``,
    ``temperature``, ``system``, ``json``, ``schema``, ``tools``...), and
    ``max_tool_rounds`` too, applied to every call. ``display="auto"`` shows
    a progress bar (widgets in a notebook, a text line elsewhere); ``show=N``
    also streams the first N replies. Failures never raise: each result
    carries its own error, and the returned :class:`BatchResult` summarises
    them. A KeyboardInterrupt stops the batch and returns what finished;
    :func:`resume` runs the rest.
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
    return start(
        prompts,
        opts,
        settings,
        concurrency=concurrency,
        display=display,
        show=show,
        base_url=connection.get("base_url"),
        max_tool_rounds=max_tool_rounds,
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
