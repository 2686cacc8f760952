"""``%%glm`` and ``%glm``: parse, check, interpolate, then hand over to the runner.

The options are declared with IPython's ``magic_arguments`` so ``%%glm?``
prints real help, and settings are traitlets on ``GLMMagics`` so
``%config GLMMagics.model = "glm-4.5"`` works like any IPython setting.
"""

from __future__ import annotations

import argparse
import ast
import getpass
import inspect
import keyword
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, argument_group, kwds, magic_arguments
from IPython.display import display
from IPython.utils.process import arg_split
from traitlets.config import Configurable

from . import options as spec
from . import warmup
from .errors import GLMUsageError
from .models import models_table

# %load_ext imports this module and nothing heavier (benchmarks: <= 30 ms): the
# modules that do the work are imported by the methods that use them.
if TYPE_CHECKING:
    from .request import Options
    from .result import GLMResult
    from .settings import Settings


def with_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add every option of the spec to a magic, in help sections by group."""
    decorators: list[Any] = [kwds(formatter_class=HelpFormatter)]
    for title, arguments in spec.arguments():
        decorators += [argument_group(title), *arguments]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``%%glm?`` as plain text: IPython's formatter writes reStructuredText
    (a ``::`` literal block before the usage line, ``<F,G>`` around placeholders)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(inspect.cleandoc(text), width, indent)

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: %")


#: The ``%config GLMMagics.<name>`` traits, made from the spec's settings table.
GLMSettings = type("GLMSettings", (Configurable,), spec.traits())


@magics_class
class GLMMagics(GLMSettings, Magics):
    """GLM reasoning models in the notebook: ``%%glm`` cells and ``%glm`` commands."""

    def settings(self, args: Any = None) -> Settings:
        """The settings in force for a cell's parsed options, this ``%config`` applied."""
        from .settings import resolve

        if args is None:
            return resolve(config=self.trait_values(config=True))
        chosen = {o.name: getattr(args, o.name) for o in spec.SPEC if o.place == "settings"}
        return resolve(model=args.model, **chosen, config=self.trait_values(config=True))

    @magic_arguments(name="%glm")
    @with_options
    @cell_magic("glm")
    def glm_cell(self, line: str, cell: str) -> Any:
        """Send the cell to a GLM model; thinking and answer stream live.

        The cell body is the prompt. {name} and {expression} are filled in from
        the notebook ({{ and }} are literal braces; --raw turns filling off).
        {df} sends a DataFrame's summary, {_glm_last_error} the last traceback.
        The result is stored in _glm (and in -o NAME): str(_glm) is the answer,
        _glm.thinking the thinking, _glm.usage the tokens.

        Batch: --each EXPR runs the prompt once per item of a list, Series or
        DataFrame ({item}, {index}, {row.col}), -j N at a time, with a progress
        bar. The cell returns the answers in the input's shape (a list, or a
        Series on the input's index; a DataFrame with --json); _glm and -o NAME
        hold the BatchResult (.results, .failed, .summary()), which --resume NAME
        completes.
        """
        warmup.wait()
        args = self._parse(self.glm_cell, line)
        if is_batch(args):
            return self._batch(cell, args)
        self._run(cell, args)

    @magic_arguments(name="glm")
    @argument(
        "prompt",
        nargs="*",
        help=(
            "The prompt, or one of: models, config, key, usage, chats, history NAME, "
            "reset [NAME], export NAME FILE.ipynb."
        ),
    )
    @with_options
    @line_magic("glm")
    def glm_line(self, line: str) -> Any:
        """One-shot prompt, or a command.

        %glm PROMPT sends one prompt and returns the result (x = %glm ...).
        %glm models shows the model table, %glm config the effective settings
        (key masked), %glm key asks for the API key, %glm usage the tokens used
        this session. Conversations: %glm chats, %glm history NAME, %glm reset
        [NAME], %glm export NAME FILE.ipynb. %glm -- history of Rome sends a
        prompt that starts like a command.
        """
        warmup.wait()
        command = find_command(line)
        if command is not None:
            handler, words = command
            try:
                handler(self, *words)
            except GLMUsageError as exc:
                hint = f" To send it as a prompt instead: `%glm -- {line.strip()}`."
                raise UsageError(f"{exc}{hint if words else ''}") from None
            return None
        options, prompt = split_line(line)
        args = self._parse(self.glm_line, options)
        if is_batch(args):
            return self._batch(prompt, args)
        return self._run(prompt, args, keep=not self._shows_return_value(line))

    def _shows_return_value(self, line: str) -> bool:
        """True when this ``%glm`` line ends its cell, so IPython displays what it returns.

        The live view then steps aside at the end instead of leaving a second
        copy of the same rendering above ``Out[n]``.
        """
        history = self.shell.user_ns.get("In") or [""]
        try:
            body = ast.parse(history[-1]).body
        except SyntaxError:
            return False
        last = body[-1].value if body and isinstance(body[-1], ast.Expr) else None
        return (
            isinstance(last, ast.Call)
            and getattr(last.func, "attr", "") == "run_line_magic"
            and [getattr(a, "value", None) for a in last.args] == ["glm", line]
        )

    def _parse(self, func: Callable[..., Any], line: str) -> Any:
        from . import chats

        try:
            # posix=True: quotes group words and are dropped, so -s 'Be brief.' sends
            # Be brief. (IPython's parse_argstring keeps the quotes in the value).
            words = arg_split(line, posix=True)
        except ValueError as exc:
            raise UsageError(f"Could not read the options {line!r}: {exc}.") from None
        try:
            args = func.parser.parse_args(words)
        except UsageError as exc:
            hint = unknown_flag_hint(func.parser, words)
            raise UsageError(f"{exc}.{hint} `%%glm?` lists the options.") from None
        try:
            spec.check_ranges(vars(args))
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        if args.out is not None and not (
            args.out.isidentifier() and not keyword.iskeyword(args.out)
        ):
            msg = f"-o/--out needs a valid Python variable name; {args.out!r} is not one."
            raise UsageError(msg)
        if args.chat is not None and not chats.valid_name(args.chat):
            msg = f"-c/--chat needs a one-word name (letters, digits, _ . -); {args.chat!r} is not."
            raise UsageError(msg)
        if args.last is not None and args.chat is None:
            msg = "--last N sends the last N turns of a conversation: it needs -c NAME."
            raise UsageError(msg)
        return args

    def _run(self, text: str, args: Any, *, keep: bool = True) -> GLMResult:
        from . import chats
        from .cells import cell_runs
        from .interpolate import interpolate
        from .runner import complete_prompt

        try:
            text = text.strip()
            notes: list[str] = []
            prompt = (
                text
                if args.raw
                else interpolate(text, self.shell.user_ns, budget=self.value_budget, notes=notes)
            )
            options = self._options(args)
            settings = self.settings(args)
            turn = None
            if args.chat:
                key = cell_runs.key(text, vars(args))
                turn = chats.prepare(
                    args.chat, key, prompt, model=settings.model, system=args.system, last=args.last
                )
                options.system = turn.system
            if not args.quiet:
                for note in notes:
                    print(f"[{note}]")
            if turn is not None and turn.notice():
                print(turn.notice())
            result = complete_prompt(
                prompt,
                options,
                settings,
                display="none" if args.quiet else None,
                keep=keep,
                history=turn.history if turn else None,
            )
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        if turn is not None and (notice := turn.finish(result)):
            print(notice)
        self.shell.user_ns["_glm"] = result
        if args.out:
            self.shell.user_ns[args.out] = result
        if args.quiet and result.error:
            print(f"glm: {result.error}", file=sys.stderr)
        if args.code and result.code:
            self.shell.set_next_input(result.code)
        return result

    def _batch(self, text: str, args: Any) -> Any:
        """``--each`` / ``--resume``: one request per item; the answers in the input's shape."""
        from . import batch

        ns = self.shell.user_ns
        display_mode = "none" if args.quiet else self.display
        show = args.show or 0
        try:
            if args.resume is not None:
                result = batch.resume_stored(
                    ns.get(args.resume),
                    args.resume,
                    concurrency=args.jobs,
                    dry_run=args.dry_run,
                    quiet=args.quiet,
                    display=display_mode,
                    show=show,
                )
                if result is None:
                    return None
            else:
                options = self._options(args)
                items = batch.items_of(self._each(args.each), f"--each {args.each}")
                notes: list[str] = []
                prompts = batch.fill(text.strip(), items, ns, budget=self.value_budget, notes=notes)
                settings = self.settings(args)
                jobs = batch.DEFAULT_CONCURRENCY if args.jobs is None else args.jobs
                pacing = {"rpm": args.rpm, "tpm": args.tpm, "max_calls": args.max_calls}
                if args.sample is not None and not args.dry_run:
                    msg = "--sample K measures a batch before running it: add --dry-run."
                    raise GLMUsageError(msg)
                if args.dry_run:
                    plan = batch.estimate(
                        prompts, options, settings, sample=args.sample, concurrency=jobs, **pacing
                    )
                    print(plan)
                    return None
                if not args.quiet:
                    for note in dict.fromkeys(notes):
                        print(f"[{note}]")
                result = batch.start(
                    prompts,
                    options,
                    settings,
                    concurrency=jobs,
                    display=display_mode,
                    show=show,
                    base_url=args.base_url,
                    items=items,
                    **pacing,
                )
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        ns["_glm"] = result
        if args.out:
            ns[args.out] = result
        failed = len(result.failed)
        if args.quiet and failed:
            print(f"glm: {failed} of {len(result)} items failed; see .failed", file=sys.stderr)
        return result.output()

    def _options(self, args: Any) -> Options:
        """The request options of a cell's parsed arguments, for one prompt or a batch."""
        from .request import Options

        schema, tools = self._schema(args.schema), self._tools(args.tools)
        return Options.from_kwargs({**vars(args), "schema": schema, "tools": tools})[0]

    def _each(self, expression: str) -> Any:
        """The value of ``--each EXPR``, evaluated in the notebook's namespace."""
        try:
            return eval(expression, self.shell.user_ns)
        except Exception as exc:
            msg = (
                f"--each {expression}: {type(exc).__name__}: {exc}. Fix the expression; "
                "one with quotes or spaces must itself be quoted, as in "
                "--each \"['a', 'b']\", or name a variable."
            )
            raise GLMUsageError(msg) from None

    def _schema(self, name: str | None) -> Any:
        """The value ``--schema NAME`` names; checked for its kind when the request is built."""
        if name is None:
            return None
        if name not in self.shell.user_ns:
            msg = (
                f"--schema {name}: there is no variable named {name!r} in the notebook. "
                "Define a pydantic model class or a JSON-schema dict in a cell above."
            )
            raise GLMUsageError(msg)
        return self.shell.user_ns[name]

    def _tools(self, specs: list[str] | None) -> dict[str, Any] | None:
        """``--tools f,g``: the named notebook functions, under the names the model sees."""
        if not specs:
            return None
        tools: dict[str, Any] = {}
        for name in (n.strip() for names in specs for n in names.split(",")):
            if not name:
                continue
            if name not in self.shell.user_ns:
                msg = (
                    f"--tools {name}: there is no function named {name!r} in the notebook. "
                    f"Define it in a cell above (def {name}(...): ...)."
                )
                raise GLMUsageError(msg)
            value = self.shell.user_ns[name]
            if not callable(value):
                kind = type(value).__name__
                msg = f"--tools {name}: {name!r} is not a function (its type is {kind})."
                raise GLMUsageError(msg)
            tools[name] = value
        if not tools:
            raise GLMUsageError("--tools needs function names, e.g. --tools lookup,plot.")
        return tools

    def show_models(self) -> None:
        print(models_table())

    def show_config(self) -> None:
        described = self.settings().describe()
        width = max(map(len, described))
        for name, value in described.items():
            print(f"{name.ljust(width)}  {value}")

    def ask_key(self) -> None:
        from .settings import session_key

        try:
            key = getpass.getpass("DashScope API key (kept in memory only): ")
        except StdinNotImplementedError:
            msg = (
                "This front end cannot prompt for input. Set DASHSCOPE_API_KEY (or "
                "GLM_MAGIC_API_KEY) in the environment before starting Jupyter instead."
            )
            raise UsageError(msg) from None
        key = key.strip()
        if not key:
            raise UsageError("No key entered; nothing changed.")
        session_key.value = key
        print("Key set for this session (not saved anywhere).")

    def show_usage(self) -> None:
        from . import ledger

        print(ledger.usage_table())

    def show_chats(self) -> None:
        from . import chats

        print(chats.chats_table())

    def show_history(self, name: str | None = None) -> None:
        from . import chats

        if name is None:
            known = ", ".join(chats.CHATS) or "none yet"
            raise UsageError(f"Which chat? `%glm history NAME` (chats: {known}).")
        display(chats.history_bundle(chats.lookup(name)), raw=True)

    def reset_chats(self, name: str | None = None) -> None:
        from . import chats

        print(chats.reset(name))

    def export_chat(self, name: str | None = None, path: str | None = None) -> None:
        from . import chats
        from .wording import count

        if name is None or path is None:
            raise UsageError("Usage: `%glm export NAME FILE.ipynb` (`%glm chats` lists names).")
        conversation = chats.lookup(name)
        written = chats.export_notebook(conversation, path)
        turns = count(len(conversation.turns), "turn")
        print(f"Wrote chat {name!r} ({turns}) to {written}")


# `%%glm?` prints the help without a "File: .../magics.py" line, which would be saved
# into notebooks: IPython's inspector prints the file it finds by following
# __wrapped__ (oinspect.find_file), and finds none here.
GLMMagics.glm_cell.__wrapped__ = None
GLMMagics.glm_line.__wrapped__ = None


def unknown_flag_hint(parser: Any, words: list[str]) -> str:
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


COMMANDS: dict[str, Callable[..., None]] = {
    "models": GLMMagics.show_models,
    "config": GLMMagics.show_config,
    "key": GLMMagics.ask_key,
    "usage": GLMMagics.show_usage,
    "chats": GLMMagics.show_chats,
    "history": GLMMagics.show_history,
    "reset": GLMMagics.reset_chats,
    "export": GLMMagics.export_chat,
}


def find_command(line: str) -> tuple[Callable[..., None], list[str]] | None:
    """The ``%glm`` command on ``line`` and its arguments, or None when it is a prompt.

    A line is a command when its first word is one and the words after it fit
    the command's parameters: ``%glm models`` is the table, ``%glm models of
    the atom`` a question, ``%glm history NAME`` a history (an unknown NAME is
    an error that lists the chats, since a one-word prompt after "history" is
    far rarer than a mistyped name). ``%glm -- history of Rome`` is always a prompt.
    """
    name, _, rest = line.strip().partition(" ")
    handler = COMMANDS.get(name)
    if handler is None:
        return None
    try:
        words = arg_split(rest, posix=True) if rest.strip() else []
    except ValueError:
        return None
    params = list(inspect.signature(handler).parameters.values())[1:]
    required = sum(p.default is p.empty for p in params)
    return (handler, words) if required <= len(words) <= len(params) else None


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
