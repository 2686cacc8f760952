"""``%%glm`` and ``%glm``: IPython's glue over the Python API.

Parsing lives in :mod:`glm_magic.parsing`, the options in
:mod:`glm_magic.options`, the ``%glm`` subcommands in
:mod:`glm_magic.commands`, conversations in :mod:`glm_magic.chats`; this
module reads the notebook (its namespace, ``%config``), hands over to the
runner, and stores results where the user asked. Settings are traitlets on
``GLMMagics`` (made from the spec), so ``%config GLMMagics.model = "glm-4.5"``
works like any IPython setting and refuses a value out of range.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets.config import Configurable

from . import commands, warmup
from . import options as spec
from .errors import GLMInterrupted, GLMUsageError
from .parsing import (
    each_value,
    find_command,
    is_batch,
    near_command,
    parse,
    schema_value,
    split_line,
    tool_values,
    with_options,
)

# %load_ext imports this module and nothing heavier (benchmarks: <= 30 ms): the
# modules that do the work are imported by the methods that use them.
if TYPE_CHECKING:
    from .options import Options
    from .result import GLMResult
    from .settings import Settings


#: The ``%config GLMMagics.<name>`` traits, made from the spec's settings table.
GLMSettings = type("GLMSettings", (Configurable,), spec.traits())


class KernelUsageError(UsageError):
    """A ``UsageError`` that leaves an error output, for kernels.

    IPython prints a plain ``UsageError`` to stderr and sends no error output,
    so papermill, which reads a failed cell's error from its outputs, reports
    an empty message. This subclass takes IPython's traceback path instead,
    where ``_render_traceback_`` is the same single line: a notebook shows the
    same paragraph, and headless runs carry the message in the cell's error.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


def usage_errors_shown(magic: Callable[..., Any]) -> Callable[..., Any]:
    """Make a magic's ``UsageError`` a :class:`KernelUsageError` when it runs in a kernel."""

    @functools.wraps(magic)
    def shown(self: Magics, *args: str) -> Any:
        try:
            return magic(self, *args)
        except UsageError as exc:
            if type(exc) is UsageError and getattr(self.shell, "kernel", None) is not None:
                raise KernelUsageError(str(exc)) from None
            raise

    return shown


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
    @with_options()
    @cell_magic("glm")
    @usage_errors_shown
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
        args = parse(self.glm_cell.parser, line)
        if is_batch(args):
            return self._batch(cell, args)
        self._run(cell, args)

    @magic_arguments(name="glm")
    @argument("prompt", nargs="*", help="The prompt, or one of the commands below.")
    @with_options(epilog=commands.help_text())
    @line_magic("glm")
    @usage_errors_shown
    def glm_line(self, line: str) -> Any:
        """One-shot prompt, or a command.

        %glm PROMPT sends one prompt and returns the result (x = %glm ...);
        the options are the cell's (%%glm?). %glm -- history of Rome sends a
        prompt that starts like a command.
        """
        warmup.wait()
        command = find_command(line, commands.COMMANDS)
        if command is not None:
            handler, words = command
            try:
                handler(self, *words)
            except GLMUsageError as exc:
                hint = f" To send it as a prompt instead: `%glm -- {line.strip()}`."
                raise UsageError(f"{exc}{hint if words else ''}") from None
            return None
        if (near := near_command(line, commands.COMMANDS)) is not None:
            word = line.strip()
            msg = (
                f"`%glm {word}` is no command: did you mean `%glm {near}`? "
                f"To send {word!r} as a prompt: `%glm -- {word}`."
            )
            raise UsageError(msg)
        options, prompt = split_line(line)
        args = parse(self.glm_line.parser, options)
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

    def _run(self, text: str, args: Any, *, keep: bool = True) -> GLMResult | None:
        """One prompt; None (and nothing sent) with --show-prompt."""
        from .cells import cell_runs
        from .chats import Chat
        from .interpolate import interpolate
        from .runner import complete_prompt

        ns = self.shell.user_ns
        try:
            text = text.strip()
            notes: list[str] = []
            prompt = (
                text if args.raw else interpolate(text, ns, budget=self.value_budget, notes=notes)
            )
            options = self._options(args)
            settings = self.settings(args)
            if not args.quiet:
                for note in notes:
                    print(f"[{note}]")
            key = cell_runs.key() if args.chat else ""
            if args.show_prompt:
                print(self._request_text(prompt, options, settings, args, key))
                return None
            display = "none" if args.quiet else None
            if args.bg:
                return self._background(prompt, options, settings, args, key, shown=not keep)
            interrupted = None
            try:
                if args.chat:
                    result = Chat(args.chat).reply(
                        prompt,
                        options,
                        settings,
                        key=key,
                        last=args.last,
                        display=display,
                        keep=keep,
                    )
                else:
                    result = complete_prompt(prompt, options, settings, display=display, keep=keep)
            except GLMInterrupted as exc:
                interrupted, result = exc, exc.result
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        ns["_glm"] = result
        if args.out:
            ns[args.out] = result
        if args.quiet and result.error:
            print(f"glm: {result.error}", file=sys.stderr)
        if interrupted is not None:
            raise interrupted.kept_in(kept_in(args.out)) from None
        if args.code and result.code:
            self.shell.set_next_input(result.code)
        return result

    def _request_text(
        self, prompt: str, options: Options, settings: Settings, args: Any, key: str
    ) -> str:
        """What --show-prompt prints: the request, with a conversation's earlier turns."""
        from .chats import Chat
        from .preview import show_prompt

        history = None
        if args.chat:
            turn = Chat(args.chat).pending(prompt, options, settings, key=key, last=args.last)
            history = turn.history
        return show_prompt(prompt, options, settings, history)

    def _background(
        self, prompt: str, options: Options, settings: Settings, args: Any, key: str, *, shown: bool
    ) -> GLMResult | None:
        """``--bg``: start the run on its own thread; its running result is stored now.

        A ``%glm --bg`` line that ends its cell returns None: IPython would show
        the returned result, and showing it means waiting for it.
        """
        from . import chats, jobs, runner

        turn = None
        if args.chat:
            turn = chats.Chat(args.chat).begin(prompt, options, settings, key=key, last=args.last)
        stop = threading.Event()
        request, view = runner.prepare(
            prompt,
            options,
            settings,
            display="none" if args.quiet else None,
            history=turn.history if turn is not None else None,
            stop=stop,
        )

        def then(final: GLMResult) -> None:
            if turn is not None:
                chats.end(turn, final)
                chats.RUNNING.pop(args.chat, None)
            if args.quiet and final.error:
                print(f"glm: {final.error}", file=sys.stderr)

        name = args.out or "_glm"
        result = jobs.start(
            runner.run, request, settings, view, prompt, name=name, stop=stop, then=then
        )
        if turn is not None:
            chats.RUNNING[args.chat] = result
        self.shell.user_ns["_glm"] = result
        if args.out:
            self.shell.user_ns[args.out] = result
        return None if shown else result

    def _batch(self, text: str, args: Any) -> Any:
        """``--each`` / ``--resume``: one request per item; the answers in the input's shape."""
        from . import batch
        from .preview import show_prompt

        ns = self.shell.user_ns
        display_mode = "none" if args.quiet else self.display
        show = args.show or 0
        interrupted = None
        try:
            if args.resume is not None:
                try:
                    result = batch.resume_stored(
                        ns.get(args.resume),
                        args.resume,
                        concurrency=args.jobs,
                        dry_run=args.dry_run,
                        quiet=args.quiet,
                        display=display_mode,
                        show=show,
                    )
                except GLMInterrupted as exc:
                    interrupted, result = exc, exc.result
                if result is None:
                    return None
            else:
                options = self._options(args)
                items = batch.items_of(each_value(args.each, ns), f"--each {args.each}")
                notes: list[str] = []
                prompts = batch.fill(text.strip(), items, ns, budget=self.value_budget, notes=notes)
                settings = self.settings(args)
                jobs = batch.DEFAULT_CONCURRENCY if args.jobs is None else args.jobs
                pacing = {"rpm": args.rpm, "tpm": args.tpm, "max_calls": args.max_calls}
                if args.sample is not None and not args.dry_run:
                    msg = "--sample K measures a batch before running it: add --dry-run."
                    raise GLMUsageError(msg)
                if args.show_prompt:
                    print(show_prompt(prompts[0], options, settings))
                    rest = len(prompts) - 1
                    if rest:
                        print(f"[and {rest:,} more like it, one per item of --each {args.each}]")
                    return None
                if args.dry_run:
                    plan = batch.estimate(
                        prompts, options, settings, sample=args.sample, concurrency=jobs, **pacing
                    )
                    print(plan)
                    return None
                if not args.quiet:
                    for note in dict.fromkeys(notes):
                        print(f"[{note}]")
                try:
                    result = batch.start(
                        prompts,
                        options,
                        settings,
                        concurrency=jobs,
                        display=display_mode,
                        show=show,
                        base_url=args.base_url,
                        items=items,
                        name=args.out or "_glm",
                        **pacing,
                    )
                except GLMInterrupted as exc:
                    interrupted, result = exc, exc.result
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        ns["_glm"] = result
        for name in (args.out, args.resume):
            if name:
                ns[name] = result
        if interrupted is not None:
            raise interrupted.kept_in(kept_in(args.out or args.resume)) from None
        failed = len(result.failed)
        if args.quiet and failed:
            print(f"glm: {failed} of {len(result)} items failed; see .failed", file=sys.stderr)
        return result.output()

    def _options(self, args: Any) -> Options:
        """The request options of a cell's parsed arguments, for one prompt or a batch."""
        ns = self.shell.user_ns
        schema, tools = schema_value(args.schema, ns), tool_values(args.tools, ns)
        return spec.Options.from_kwargs({**vars(args), "schema": schema, "tools": tools})[0]


# `%%glm?` prints the help without a "File: .../magics.py" line, which would be saved
# into notebooks: IPython's inspector prints the file it finds by following
# __wrapped__ (oinspect.find_file), and finds none here.
GLMMagics.glm_cell.__wrapped__ = None
GLMMagics.glm_line.__wrapped__ = None


def kept_in(name: str | None) -> str:
    """Where a cell stored its result, for the message that ends an interrupted cell."""
    return f"{name} (and _glm)" if name else "_glm"
