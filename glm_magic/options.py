"""The one option spec: every ``%%glm`` option and ``%config GLMMagics`` setting, declared once.

Everything else is made from the two tables below:

- ``%%glm`` / ``%glm`` arguments, in help sections by group (:func:`arguments`);
- the Python API's checks of names, types and ranges (:func:`from_api`), with a
  "did you mean" for a misspelt name (:func:`suggest`);
- the :class:`Options` dataclass that carries the request options to
  ``glm_magic.request`` (every option whose ``place`` is not local or settings);
- the range checks shared by the cell and the API (:func:`check_ranges`);
- ``%config GLMMagics.<name>`` traits that refuse out-of-range values (:func:`traits`);
- the README's option table (:func:`readme_table`; ``python -m glm_magic.options
  README.md`` rewrites it there, and a test fails when README.md drifts from it).

Adding an option is one :class:`Option` entry in :data:`SPEC`, for example::

    Option("cache", ("--cache", "--no-cache"), "switch", "output",
           "Reuse a stored complete result of the identical request."),
    Option("rpm", ("--rpm",), "whole", "batch", "Batch: at most N requests a minute.",
           metavar="N", low=Bound(1), batch_only=True, api=False),

then ``python -m glm_magic.options README.md``. Read it where it is used: a
cell's parsed arguments carry it under its ``name`` (``args.rpm``); an option
with ``place="body"`` or ``"extra"`` is sent by ``request.Request.body`` with
no other change; a ``"settings"`` option goes to ``settings.resolve`` by name;
an ``api=True`` option is accepted (and checked) by ``complete``, ``map`` and
``Chat.send``. The fields:

- ``kind``: ``text``, ``number``, ``whole``, ``flag`` (``--json``: True when
  given), ``switch`` (two flags, on and off: ``--thinking`` / ``--no-thinking``;
  None when neither is given), ``texts`` (repeatable; the API also takes one
  text), ``name`` and ``names`` (the cell names notebook variables, the API
  takes the values themselves);
- ``group``: the help section (:data:`GROUPS`); ``low`` / ``high`` / ``choices``:
  what values are allowed, checked for the cell and the API alike;
- ``batch_only``: refused without ``--each`` / ``--resume``; ``with_resume``:
  taken by ``--resume NAME`` (which refuses the rest);
- ``place``: where it goes (:data:`PLACES`); ``const``: the value of the flag
  given alone (``--sample`` is ``--sample 3``).

A ``%config GLMMagics.<name>`` setting is one :class:`Setting` entry in
:data:`SETTINGS`; a ``%glm`` subcommand is one function in ``glm_magic.commands``.

This module is imported by ``%load_ext``: standard library only (and
traitlets, which IPython has already loaded), nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from . import defaults
from .errors import GLMUsageError, UnknownOptionError

#: Help sections, in the order ``%%glm?`` and the README show them.
GROUPS = {
    "model": "Model",
    "sampling": "Sampling",
    "prompt": "Prompt",
    "output": "Output",
    "conversation": "Conversation",
    "batch": "Batch (--each, --resume)",
    "connection": "Connection",
}

#: Where an option goes. body: an OpenAI parameter, sent under its name;
#: extra: a parameter OpenAI does not define, sent in the provider's extras;
#: request: shapes the request in its own way (model, thinking, messages, JSON
#: mode, tools); settings: chooses the connection (``settings.resolve``);
#: local: how the notebook runs the cell, never sent.
PLACES = ("body", "extra", "request", "settings", "local")
SENT = ("body", "extra", "request")

KINDS = {
    # kind: (what the API takes, in words; the Python type of the value)
    "text": ("text", "str"),
    "number": ("a number", "float"),
    "whole": ("a whole number", "int"),
    "flag": ("True or False", "bool"),
    "switch": ("True or False", "bool"),
    "texts": ("text or a list of text", "list[str]"),
    "name": ("a value", "Any"),
    "names": ("a list of values", "Any"),
}


@dataclass(frozen=True)
class Bound:
    """One end of a range; ``open`` when the value itself is not allowed."""

    value: float
    open: bool = False


@dataclass(frozen=True)
class Option:
    """One ``%%glm`` option: how it is written, what it takes, where it goes."""

    name: str
    flags: tuple[str, ...]
    kind: str
    group: str
    help: str
    metavar: str | None = None
    low: Bound | None = None
    high: Bound | None = None
    choices: tuple[str, ...] = ()
    batch_only: bool = False
    with_resume: bool = False
    api: bool = True
    place: str = "local"
    #: The value of a flag given without one (``--sample`` alone is ``--sample 3``).
    const: Any = None

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert self.group in GROUPS, self.group
        assert self.place in PLACES, self.place
        assert len(self.flags) == 2 if self.kind == "switch" else len(self.flags) >= 1

    @property
    def flag(self) -> str:
        """The long flag, the one messages name (``--temperature``)."""
        return next(f for f in self.flags if f.startswith("--"))

    def written(self, value: Any) -> str:
        """The flag that gives ``value``: the first one, or a switch's off flag for False."""
        return self.flags[1] if self.kind == "switch" and value is False else self.flags[0]

    @property
    def takes_value(self) -> bool:
        return self.kind not in ("flag", "switch")

    @property
    def default(self) -> Any:
        return False if self.kind == "flag" else None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option's range or choices, or None."""
        if self.choices and value not in self.choices:
            return f"{self.flag} must be one of {', '.join(self.choices)}; got {value!r}."
        if isinstance(value, int | float) and not _within(value, self.low, self.high):
            return f"{self.flag} must be {describe_range(self.low, self.high)}; got {value}."
        return None


def _within(value: float, low: Bound | None, high: Bound | None) -> bool:
    if low is not None and (value < low.value or (low.open and value == low.value)):
        return False
    return high is None or not (value > high.value or (high.open and value == high.value))


def describe_range(low: Bound | None, high: Bound | None) -> str:
    """A range in words: ``at least 0 and below 2``, ``0 or more``, ``above 0``."""
    parts = []
    if low is not None:
        number = _number(low.value)
        parts.append(
            f"above {number}"
            if low.open
            else f"{number} or more"
            if high is None and low.value == 0
            else f"at least {number}"
        )
    if high is not None:
        parts.append(f"{'below' if high.open else 'at most'} {_number(high.value)}")
    return " and ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else str(int(value))


SPEC: tuple[Option, ...] = (
    # -- model
    Option(
        "model",
        ("-m", "--model"),
        "text",
        "model",
        "Model id (default: %config GLMMagics.model, else $GLM_MAGIC_MODEL, else the "
        "provider's default); ids the catalogue does not know are sent unchecked.",
        metavar="NAME",
        place="request",
    ),
    Option(
        "thinking",
        ("--thinking", "--no-thinking"),
        "switch",
        "model",
        "Thinking on or off (off: faster, cheaper, answer only); default: the model's.",
        place="request",
    ),
    # -- sampling
    Option(
        "temperature",
        ("-t", "--temperature"),
        "number",
        "sampling",
        "Sampling temperature.",
        metavar="X",
        low=Bound(0),
        high=Bound(2, open=True),
        place="body",
    ),
    Option(
        "top_p",
        ("--top-p",),
        "number",
        "sampling",
        "Nucleus sampling: the smallest set of tokens whose probability adds up to X.",
        metavar="X",
        low=Bound(0, open=True),
        high=Bound(1),
        place="body",
    ),
    Option(
        "top_k",
        ("--top-k",),
        "whole",
        "sampling",
        "Sample from the N most likely tokens.",
        metavar="N",
        low=Bound(0),
        place="extra",
    ),
    Option(
        "max_tokens",
        ("--max-tokens",),
        "whole",
        "sampling",
        "Longest answer in tokens, at most the model's max answer.",
        metavar="N",
        low=Bound(1),
        place="body",
    ),
    Option(
        "seed",
        ("--seed",),
        "whole",
        "sampling",
        "Seed for repeatable sampling.",
        metavar="N",
        low=Bound(0),
        high=Bound(2**31, open=True),
        place="body",
    ),
    Option(
        "stop",
        ("--stop",),
        "texts",
        "sampling",
        "Stop when the answer reaches this text; repeat the option for several.",
        metavar="TEXT",
        place="body",
    ),
    Option(
        "repetition_penalty",
        ("--repetition-penalty",),
        "number",
        "sampling",
        "Above 1 makes repeating words less likely; 1 is neutral.",
        metavar="X",
        low=Bound(0, open=True),
        place="extra",
    ),
    # -- prompt
    Option(
        "system",
        ("-s", "--system"),
        "text",
        "prompt",
        "System prompt (quote it when it has spaces).",
        metavar="TEXT",
        place="request",
    ),
    Option(
        "tools",
        ("--tools",),
        "names",
        "prompt",
        "Let the model call these notebook functions (comma-separated names); "
        "the Python API takes a list of functions or a {name: function} dict.",
        metavar="F,G",
        place="request",
    ),
    Option(
        "raw",
        ("--raw",),
        "flag",
        "prompt",
        "Send the prompt as written: no {} filling (not with --each).",
        api=False,
    ),
    Option(
        "show_prompt",
        ("--show-prompt",),
        "flag",
        "prompt",
        "Print the request exactly as it would be sent (URL, messages, parameters; "
        "never the key) and send nothing.",
        api=False,
    ),
    # -- output
    Option(
        "json",
        ("--json",),
        "flag",
        "output",
        "Ask for a JSON object, parsed into .data (thinking off unless --thinking).",
        place="request",
    ),
    Option(
        "schema",
        ("--schema",),
        "name",
        "output",
        "A pydantic model class or JSON-schema dict in the notebook: .data is the "
        "validated value (the Python API takes the class or dict itself).",
        metavar="NAME",
        place="request",
    ),
    Option(
        "code",
        ("--code",),
        "flag",
        "output",
        "Ask for Python code: .code holds it, offered as the next cell (not run).",
        place="request",
    ),
    Option(
        "cache",
        ("--cache", "--no-cache"),
        "switch",
        "output",
        "Replay the stored result of an identical request that completed, sending "
        "nothing; --no-cache sends anyway (default: %config GLMMagics.cache).",
        place="request",
    ),
    Option(
        "out",
        ("-o", "--out"),
        "text",
        "output",
        "Also store the result in this variable.",
        metavar="NAME",
        with_resume=True,
        api=False,
    ),
    Option(
        "quiet",
        ("--quiet",),
        "flag",
        "output",
        "No live display; the result is still stored.",
        with_resume=True,
        api=False,
    ),
    Option(
        "bg",
        ("--bg",),
        "flag",
        "output",
        "Run in the background: the cell returns at once, the view keeps streaming, and "
        "the result in _glm (and -o NAME) fills in; reading it waits for the end. "
        "%glm jobs lists the running ones, %glm stop [NAME] stops them.",
        api=False,
    ),
    # -- conversation
    Option(
        "chat",
        ("-c", "--chat"),
        "text",
        "conversation",
        "Continue (or start) conversation NAME; without it a cell is stateless.",
        metavar="NAME",
        api=False,
    ),
    Option(
        "last",
        ("--last",),
        "whole",
        "conversation",
        "With -c: send only the last N turns of the conversation.",
        metavar="N",
        low=Bound(0),
        api=False,
    ),
    # -- batch
    Option(
        "each",
        ("--each",),
        "text",
        "batch",
        "Run the prompt once per item of a list, Series or DataFrame ({item}, {index}, "
        "{row.col}); the cell returns the answers in the input's shape.",
        metavar="EXPR",
        api=False,
    ),
    Option(
        "jobs",
        ("-j", "--jobs"),
        "whole",
        "batch",
        "Send N requests at a time (default 8).",
        metavar="N",
        low=Bound(1),
        batch_only=True,
        with_resume=True,
        api=False,
    ),
    Option(
        "resume",
        ("--resume",),
        "text",
        "batch",
        "Run again only the unfinished items of the batch result NAME, with their own "
        "prompts and options.",
        metavar="NAME",
        api=False,
    ),
    Option(
        "dry_run",
        ("--dry-run",),
        "flag",
        "batch",
        "Send nothing: count the calls and estimate the tokens.",
        batch_only=True,
        with_resume=True,
        api=False,
    ),
    Option(
        "sample",
        ("--sample",),
        "whole",
        "batch",
        f"With --dry-run: really send K items (default {defaults.SAMPLE}) spread over the "
        "batch, and extrapolate calls, tokens, cost and time from what they used.",
        metavar="K",
        low=Bound(1),
        batch_only=True,
        api=False,
        const=defaults.SAMPLE,
    ),
    Option(
        "rpm",
        ("--rpm",),
        "whole",
        "batch",
        "Stay under N requests a minute, spread evenly (providers also limit each second: "
        "N/60). Default: %config GLMMagics.rpm, else the provider's published limit for "
        "the model, else none.",
        metavar="N",
        low=Bound(1),
        batch_only=True,
        api=False,
    ),
    Option(
        "tpm",
        ("--tpm",),
        "whole",
        "batch",
        "Stay under N tokens a minute: each request counts its prompt's estimate plus the "
        "output the batch's finished replies averaged (1,000 before any, never more than "
        "the longest reply allowed), settled with its real usage. Default: "
        "%config GLMMagics.tpm, else the provider's published limit, else none.",
        metavar="N",
        low=Bound(1),
        batch_only=True,
        api=False,
    ),
    Option(
        "max_calls",
        ("--max-calls",),
        "whole",
        "batch",
        f"Refuse, before sending anything, a batch of more than N calls (default "
        f"%config GLMMagics.max_calls, {defaults.MAX_CALLS:,}).",
        metavar="N",
        low=Bound(1),
        batch_only=True,
        api=False,
    ),
    Option(
        "show",
        ("--show",),
        "whole",
        "batch",
        "Stream the first N replies live.",
        metavar="N",
        low=Bound(0),
        batch_only=True,
        with_resume=True,
        api=False,
    ),
    # -- connection
    Option(
        "provider",
        ("--provider",),
        "text",
        "connection",
        "The provider to send this cell to.",
        metavar="NAME",
        choices=("dashscope", "zhipu", "zai", "openrouter", "vllm"),
        place="settings",
    ),
    Option(
        "base_url",
        ("--base-url",),
        "text",
        "connection",
        "OpenAI-compatible endpoint for this cell.",
        metavar="URL",
        place="settings",
    ),
)

BY_NAME = {option.name: option for option in SPEC}
BY_FLAG = {flag: option for option in SPEC for flag in option.flags}
assert len(BY_NAME) == len(SPEC) and len(BY_FLAG) == sum(len(o.flags) for o in SPEC)


class _OptionsMethods:
    """What :class:`Options` can do beyond holding values."""

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Split keyword arguments into the request options and the rest (for the caller)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        mine = {k: v for k, v in kwargs.items() if k in names}
        return cls(**mine), {k: v for k, v in kwargs.items() if k not in names}


#: The options a request carries, made from :data:`SPEC` (every option sent in some form).
Options = make_dataclass(
    "Options",
    [
        (o.name, f"{KINDS[o.kind][1]} | None", field(default=o.default))
        for o in SPEC
        if o.place in SENT
    ],
    bases=(_OptionsMethods,),
    namespace={
        "__doc__": "The request options shared by the magic and the Python API "
        "(made from glm_magic.options.SPEC).",
        "__module__": __name__,
    },
)


# -- checks -----------------------------------------------------------------------


def check_ranges(values: Mapping[str, Any]) -> None:
    """Refuse a value outside its option's range or choices (None: not given)."""
    for name, value in values.items():
        option = BY_NAME.get(name)
        if option is not None and value is not None and (problem := option.problem(value)):
            raise GLMUsageError(problem)


def suggest(word: str, candidates: list[str]) -> str:
    """`` Did you mean X?`` for the candidate closest to ``word``, else an empty string."""
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" Did you mean {close[0]}?" if close else ""


def from_api(
    kwargs: Mapping[str, Any], caller: str, *, also: tuple[str, ...] = ()
) -> tuple[Any, dict[str, Any]]:
    """A Python API call's options: the request :class:`Options` and the settings ones.

    A misspelt name or a value of the wrong type or range raises before
    anything is sent, as the magic's parser would: a ``GLMUsageError`` and,
    for a name that is not an option, also the ``TypeError`` Python raises
    for an unknown keyword argument. ``also`` names the caller's own keyword
    arguments, for the list in that message. ``stop="END"`` is short for
    ``stop=["END"]``.
    """
    taken = [o.name for o in SPEC if o.api]
    unknown = sorted(set(kwargs) - set(taken))
    if unknown:
        hint = suggest(unknown[0], taken + list(also)) if len(unknown) == 1 else ""
        msg = (
            f"{caller}() got unknown options: {', '.join(unknown)}.{hint} "
            f"Options: {', '.join(sorted(taken + list(also)))}."
        )
        raise UnknownOptionError(msg)
    values = dict(kwargs)
    if isinstance(values.get("stop"), str):
        values["stop"] = [values["stop"]]
    for name, value in values.items():
        option = BY_NAME[name]
        if value is not None and not _is(value, option.kind):
            msg = f"{caller}() option {name} must be {KINDS[option.kind][0]}; got {value!r}."
            raise GLMUsageError(msg)
    check_ranges(values)
    options, rest = Options.from_kwargs(values)
    return options, rest


def _is(value: Any, kind: str) -> bool:
    """Whether ``value`` is of the ``kind`` (a bool is no number)."""
    if kind == "text":
        return isinstance(value, str)
    if kind in ("flag", "switch"):
        return isinstance(value, bool)
    if kind in ("name", "names"):
        return True
    if isinstance(value, bool):
        return False
    if kind == "number":
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == "whole":
        return isinstance(value, int)
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def given(args: Any) -> list[Option]:
    """The options set on a parsed cell line (a switch given either way counts)."""
    return [o for o in SPEC if getattr(args, o.name) not in (None, False) or _switched_off(o, args)]


def _switched_off(option: Option, args: Any) -> bool:
    return option.kind == "switch" and getattr(args, option.name) is False


# -- the magic's arguments --------------------------------------------------------


def arguments() -> list[tuple[str, list[Any]]]:
    """``magic_arguments`` decorators for every option, as (group title, decorators)."""
    from IPython.core.magic_arguments import argument

    sections = []
    for group, title in GROUPS.items():
        decorators = []
        for o in (o for o in SPEC if o.group == group):
            help = o.help + _range_note(o)
            if o.choices:
                help += f" One of: {', '.join(o.choices)}."
            help = help.replace("%", "%%")  # argparse fills in %(default)s and the like
            if o.kind == "switch":
                on, off = o.flags
                decorators.append(
                    argument(on, dest=o.name, action="store_true", default=None, help=help)
                )
                decorators.append(
                    argument(
                        off, dest=o.name, action="store_false", default=None, help=f"See {on}."
                    )
                )
                continue
            kwargs: dict[str, Any] = {"dest": o.name, "help": help}
            if o.kind == "flag":
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = o.metavar
                if o.kind in ("texts", "names"):
                    kwargs["action"] = "append"
                elif o.kind in ("number", "whole"):
                    kwargs["type"] = float if o.kind == "number" else int
                if o.const is not None:
                    kwargs.update(nargs="?", const=o.const)
            decorators.append(argument(*o.flags, **kwargs))
        sections.append((title, decorators))
    return sections


# -- %config GLMMagics.<name> ------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One ``%config GLMMagics.<name>`` setting: its type, default, range and help."""

    name: str
    kind: str
    default: Any
    help: str
    low: Bound | None = None
    high: Bound | None = None
    choices: tuple[str, ...] = ()
    #: A check of its own, for a kind ranges cannot describe: the problem, or None.
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        if self.check is not None:
            return self.check(value)
        if isinstance(value, int | float) and not _within(value, self.low, self.high):
            range_ = describe_range(self.low, self.high)
            return f"GLMMagics.{self.name} must be {range_}; got {value!r}."
        return None


def _price_problem(value: Any) -> str | None:
    """What is wrong with ``%config GLMMagics.prices`` (see :mod:`glm_magic.prices`)."""
    from .prices import check_overrides

    try:
        check_overrides(value)
    except GLMUsageError as exc:
        return str(exc)
    return None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        "text",
        "",
        "Model used when a cell names none. Empty: $GLM_MAGIC_MODEL, else the provider's default.",
    ),
    Setting(
        "provider",
        "text",
        "",
        "Provider: dashscope, zhipu, zai, openrouter or vllm (`%glm providers`). Empty: "
        "$GLM_MAGIC_PROVIDER, else the one the base URL's host names, else dashscope.",
        choices=("", "dashscope", "zhipu", "zai", "openrouter", "vllm"),
    ),
    Setting(
        "base_url",
        "text",
        "",
        "OpenAI-compatible endpoint. Empty: $GLM_MAGIC_BASE_URL, else the provider's own.",
    ),
    Setting(
        "timeout",
        "number",
        defaults.TIMEOUT,
        "Seconds to wait for the next piece of a reply.",
        low=Bound(0, open=True),
    ),
    Setting(
        "max_retries",
        "whole",
        defaults.MAX_RETRIES,
        "Times a request refused with 429/5xx, or cut before its first token, is resent.",
        low=Bound(0),
    ),
    Setting(
        "retry_backoff",
        "number",
        defaults.RETRY_BACKOFF,
        "First wait between retries in seconds; doubles each time (Retry-After wins).",
        low=Bound(0),
    ),
    Setting(
        "update_interval",
        "number",
        defaults.UPDATE_INTERVAL,
        "Shortest time between two live text updates (0.08 s: with the status line, "
        "at most 20 messages per second). Below 0.08 s, text is also batched by size, "
        "and shown at the latest 0.08 s after it arrives.",
        low=Bound(0),
    ),
    Setting(
        "value_budget",
        "whole",
        defaults.VALUE_BUDGET,
        "Most characters one {value} adds to a prompt: DataFrames, Series and arrays "
        "become summaries, long text and lists are cut, with a note of what was left "
        "out. {x!s} and {x!r} send the whole text.",
        low=Bound(200),
    ),
    Setting(
        "max_tool_rounds",
        "whole",
        defaults.MAX_TOOL_ROUNDS,
        "With --tools: most rounds of function calls before the model must answer.",
        low=Bound(0),
    ),
    Setting(
        "rpm",
        "whole",
        0,
        "Batch: at most this many requests a minute, spread evenly. 0: the provider's "
        "published limit for the model where one is known, else no pacing.",
        low=Bound(0),
    ),
    Setting(
        "tpm",
        "whole",
        0,
        "Batch: at most this many tokens a minute (prompt estimate plus the average output "
        "measured, settled with real usage). 0: the provider's published limit, if known.",
        low=Bound(0),
    ),
    Setting(
        "max_calls",
        "whole",
        defaults.MAX_CALLS,
        "Batch: refuse, before sending anything, a batch of more calls than this (0: no cap).",
        low=Bound(0),
    ),
    Setting(
        "display",
        "text",
        "auto",
        "Live view: widgets in a kernel with ipywidgets, else text ('auto'), or forced.",
        choices=("auto", "widgets", "text"),
    ),
    Setting(
        "log",
        "flag",
        True,
        "Write every run to the local store ($GLM_MAGIC_HOME, else the user data folder): "
        "%glm log, %glm usage, --cache and --resume after a restart read it. "
        "GLM_MAGIC_LOG=0 also turns it off.",
    ),
    Setting(
        "cache",
        "flag",
        False,
        "Replay the stored result of an identical request that completed instead of "
        "sending it (as --cache on every cell; --no-cache sends anyway).",
    ),
    Setting(
        "prices",
        "mapping",
        {},
        "Prices that add to or replace the built-in ones, per million tokens: "
        '{"glm-4.6": {"input": 0.6, "output": 2.2, "currency": "USD"}} '
        '(a key "zai:glm-4.6" applies to one provider).',
        check=_price_problem,
    ),
)


def traits() -> dict[str, Any]:
    """The ``%config`` traits of :data:`SETTINGS`, and one validator that checks their ranges.

    traitlets checks the type (``%config GLMMagics.timeout = "x"`` is refused);
    the validator refuses a value out of range, and ``%config`` prints its
    message.
    """
    from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, validate

    made: dict[str, Any] = {}
    for s in SETTINGS:
        if s.choices:
            trait = Enum(list(s.choices), s.default, help=s.help)
        else:
            kinds = {"text": Unicode, "number": Float, "whole": Int, "flag": Bool, "mapping": Dict}
            trait = kinds[s.kind](s.default, help=s.help)
        made[s.name] = trait.tag(config=True)
    by_name = {s.name: s for s in SETTINGS}

    def _check(self: Any, proposal: Any) -> Any:
        problem = by_name[proposal.trait.name].problem(proposal.value)
        if problem:
            raise TraitError(problem)
        return proposal.value

    made["_check_setting"] = validate(*by_name)(_check)
    return made


# -- README ----------------------------------------------------------------------


def readme_table() -> str:
    """The README's option table, in groups, from :data:`SPEC`."""
    rows = ["| option | meaning |", "|---|---|"]
    for group, title in GROUPS.items():
        rows.append(f"| **{title}** | |")
        for o in (o for o in SPEC if o.group == group):
            rows.append(f"| {_readme_flags(o)} | {_readme_help(o)} |")
    return "\n".join(rows)


def _readme_flags(o: Option) -> str:
    if o.kind == "switch":
        return " / ".join(f"`{f}`" for f in o.flags)
    metavar = f"[{o.metavar}]" if o.const is not None else o.metavar
    written = ", ".join(o.flags) + (f" {metavar}" if metavar else "")
    return f"`{written}`"


def _range_note(o: Option) -> str:
    """`` X: at least 0 and below 2.`` for an option with a range."""
    return f" {o.metavar}: {describe_range(o.low, o.high)}." if o.low or o.high else ""


def _readme_help(o: Option) -> str:
    text = (o.help + _range_note(o)).replace("|", "\\|")
    if o.choices:
        text += f" One of {', '.join(f'`{c}`' for c in o.choices)}."
    if not o.api:
        text += " (Cell only.)"
    return text


README_START = (
    "<!-- option table: made by `python -m glm_magic.options README.md`; edit options.py -->"
)
README_END = "<!-- end of option table -->"


def with_readme_table(readme: str) -> str:
    """``readme`` with the text between the option table's markers made from the spec."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not (start and end):
        msg = f"README has no option table markers: {README_START} ... {README_END}"
        raise ValueError(msg)
    return f"{head}{start}\n{readme_table()}\n{end}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(with_readme_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(readme_table())
