"""From the text after ``%%glm`` / ``%glm`` to checked arguments, and the values they name.

The arguments themselves come from the option spec (:mod:`glm_magic.options`);
this module turns a line into them: it splits a ``%glm`` line into options and
a free-text prompt, tells a ``%glm`` command from a prompt, refuses what does
not fit together (with a "did you mean" for a mistyped flag), and looks up the
notebook values that ``--each``, ``--schema`` and ``--tools`` name. Mistakes
are IPython ``UsageError``s (one paragraph, no traceback) or ``GLMUsageError``s
the magic turns into one.
"""

from __future__ import annotations

import argparse
import inspect
import keyword
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument_group, kwds
from IPython.utils.process import arg_split

from . import options as spec
from .errors import GLMUsageError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``%%glm?`` as plain text: IPython's formatter writes reStructuredText
    (a ``::`` literal block before the usage line, ``<F,G>`` around placeholders)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(inspect.cleandoc(text), width, indent)

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: %")


def with_options(**parser: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a magic every option of the spec, in help sections by group.

    ``parser`` goes to the argument parser (``epilog=`` text after the options).
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        decorators: list[Any] = [kwds(formatter_class=HelpFormatter, **parser)]
        for title, arguments in spec.arguments():
            decorators += [argument_group(title), *arguments]
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return decorate


def parse(parser: argparse.ArgumentParser, line: str) -> Any:
    """The checked arguments of the options on ``line``."""
    from .chats import valid_name

    try:
        # posix=True: quotes group words and are dropped, so -s 'Be brief.' sends
        # Be brief. (IPython's parse_argstring keeps the quotes in the value).
        words = arg_split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"Could not read the options {line!r}: {exc}.") from None
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        hint = unknown_flag_hint(parser, words)
        raise UsageError(f"{exc}.{hint} `%%glm?` lists the options.") from None
    try:
        spec.check_ranges(vars(args))
    except GLMUsageError as exc:
        raise UsageError(str(exc)) from None
    if args.out is not None and not (args.out.isidentifier() and not keyword.iskeyword(args.out)):
        msg = f"-o/--out needs a valid Python variable name; {args.out!r} is not one."
        raise UsageError(msg)
    if args.chat is not None and not valid_name(args.chat):
        msg = f"-c/--chat needs a one-word name (letters, digits, _ . -); {args.chat!r} is not."
        raise UsageError(msg)
    if args.last is not None and args.chat is None:
        msg = "--last N sends the last N turns of a conversation: it needs -c NAME."
        raise UsageError(msg)
    return args


def unknown_flag_hint(parser: argparse.ArgumentParser, words: list[str]) -> str:
    """`` Did you mean --temperature?`` for the first word on the line that is no option."""
    try:
        _, extra = parser.parse_known_args(words)
    except UsageError:
        return ""
    flags = [flag for option in spec.SPEC for flag in option.flags if flag.startswith("--")]
    for word in extra:
        if word.startswith("-"):
            return spec.suggest(word.split("=", 1)[0], flags)
    return ""


def is_batch(args: Any) -> bool:
    """True for a batch run; options that do not fit the kind of run are refused.

    --resume NAME sends the prompts and options stored in NAME, so it only
    takes what says how to run them. --raw with --each would send the same
    unfilled prompt for every item. Batch-only options need a batch.
    """
    given = spec.given(args)
    if args.resume is not None:
        ignored = [
            o.written(getattr(args, o.name))
            for o in given
            if o.name != "resume" and not o.with_resume
        ]
        if ignored:
            takes = ", ".join(o.flags[0] for o in spec.SPEC if o.with_resume)
            msg = (
                f"--resume NAME runs the unfinished items of NAME again with the prompts and "
                f"options they were first sent with (the cell text is not read either), so it "
                f"takes only {takes}; remove {', '.join(ignored)}."
            )
            raise UsageError(msg)
        return True
    if args.each is not None:
        if args.chat:
            raise UsageError("-c/--chat cannot be combined with --each or --resume.")
        if args.bg:
            msg = (
                "--bg runs one prompt in the background; a batch (--each) runs in the "
                "foreground, with its progress and Stop button. Drop --bg."
            )
            raise UsageError(msg)
        if args.raw:
            msg = (
                "--raw sends the prompt as written, so --each would send the same prompt for "
                "every item. Drop --raw, and double the braces meant literally: {{ and }}."
            )
            raise UsageError(msg)
        return True
    used = [o.written(getattr(args, o.name)) for o in given if o.batch_only]
    if used:
        msg = f"{', '.join(used)} only apply to a batch: add --each EXPR (or --resume NAME)."
        raise UsageError(msg)
    return False


def find_command(
    line: str, commands: Mapping[str, Callable[..., Any]]
) -> tuple[Callable[..., Any], list[str]] | None:
    """The ``%glm`` command on ``line`` and its arguments, or None when it is a prompt.

    A line is a command when its first word is one and the words after it fit
    the command's parameters (after the first, the magics object): ``%glm
    models`` is the table, ``%glm models of the atom`` a question, ``%glm
    history NAME`` a history (an unknown NAME is an error that lists the chats,
    since a one-word prompt after "history" is far rarer than a mistyped name).
    ``%glm -- history of Rome`` is always a prompt. A command that takes any
    words (``log``) takes every line that starts with its name.
    """
    name, _, rest = line.strip().partition(" ")
    handler = commands.get(name)
    if handler is None:
        return None
    try:
        words = arg_split(rest, posix=True) if rest.strip() else []
    except ValueError:
        return None
    params = list(inspect.signature(handler).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return handler, words  # it reads its own words (``%glm log -n 5 Paris``)
    required = sum(p.default is p.empty for p in params)
    return (handler, words) if required <= len(words) <= len(params) else None


def near_command(line: str, commands: Mapping[str, Callable[..., Any]]) -> str | None:
    """The command a one-word ``%glm`` line is a typo of (``modles``: ``models``), or None.

    Such a line would otherwise go to the model as a one-word prompt and cost
    a request.
    """
    word = line.strip()
    if not word or word.startswith("-") or len(word.split()) > 1 or word in commands:
        return None
    import difflib

    close = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.75)
    return close[0] if close else None


def split_line(line: str) -> tuple[str, str]:
    """Split ``%glm`` text into leading options and the prompt, kept exactly as typed.

    The prompt is free text (apostrophes, braces, dashes), so it never goes
    through shell-style splitting; only the leading options do.
    """
    takes_value = {flag for option in spec.SPEC if option.takes_value for flag in option.flags}
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n or line[i] != "-":
            break
        end = _token_end(line, i)
        word = line[i:end]
        i = end
        if word.split("=", 1)[0] in takes_value and "=" not in word:
            while i < n and line[i].isspace():
                i += 1
            i = _token_end(line, i)
    return line[:i], line[i:].strip()


def _token_end(line: str, i: int) -> int:
    """End of the shell-style word at ``i`` (a quoted word ends at its closing quote)."""
    quote = None
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c.isspace():
            break
        i += 1
    return i


# -- the notebook values options name ---------------------------------------------


def each_value(expression: str, ns: dict[str, Any]) -> Any:
    """The value of ``--each EXPR``, evaluated in the notebook's namespace."""
    try:
        return eval(expression, ns)
    except Exception as exc:
        msg = (
            f"--each {expression}: {type(exc).__name__}: {exc}. Fix the expression; "
            "one with quotes or spaces must itself be quoted, as in "
            "--each \"['a', 'b']\", or name a variable."
        )
        raise GLMUsageError(msg) from None


def schema_value(name: str | None, ns: Mapping[str, Any]) -> Any:
    """The value ``--schema NAME`` names; checked for its kind when the request is built."""
    if name is None:
        return None
    if name not in ns:
        msg = (
            f"--schema {name}: there is no variable named {name!r} in the notebook. "
            "Define a pydantic model class or a JSON-schema dict in a cell above."
        )
        raise GLMUsageError(msg)
    return ns[name]


def tool_values(specs: list[str] | None, ns: Mapping[str, Any]) -> dict[str, Any] | None:
    """``--tools f,g``: the named notebook functions, under the names the model sees."""
    if not specs:
        return None
    tools: dict[str, Any] = {}
    for name in (n.strip() for names in specs for n in names.split(",")):
        if not name:
            continue
        if name not in ns:
            msg = (
                f"--tools {name}: there is no function named {name!r} in the notebook. "
                f"Define it in a cell above (def {name}(...): ...)."
            )
            raise GLMUsageError(msg)
        value = ns[name]
        if not callable(value):
            kind = type(value).__name__
            msg = f"--tools {name}: {name!r} is not a function (its type is {kind})."
            raise GLMUsageError(msg)
        tools[name] = value
    if not tools:
        raise GLMUsageError("--tools needs function names, e.g. --tools lookup,plot.")
    return tools
