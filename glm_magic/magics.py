"""``%%glm`` and ``%glm``: parse, check, interpolate, then hand over to the runner.

The options are declared with IPython's ``magic_arguments`` so ``%%glm?``
prints real help, and settings are traitlets on ``GLMMagics`` so
``%config GLMMagics.model = "glm-4.5"`` works like any IPython setting.
"""

from __future__ import annotations

import ast
import getpass
import keyword
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Enum, Float, Int, Unicode

from .client import RetryPolicy
from .errors import GLMUsageError
from .interpolate import interpolate
from .models import CHINA_ENDPOINT, DEFAULT_MODEL, models_table
from .request import Options
from .result import GLMResult
from .runner import complete_prompt
from .settings import Settings, pick, session_key

OPTIONS = [
    argument("-m", "--model", help="Model id (default: glm-4.6); unknown ids pass through."),
    argument(
        "--thinking",
        dest="thinking",
        action="store_true",
        default=None,
        help="Turn thinking on (enable_thinking); the GLM default.",
    ),
    argument(
        "--no-thinking",
        dest="thinking",
        action="store_false",
        default=None,
        help="Turn thinking off: faster, cheaper, answer only.",
    ),
    argument("-t", "--temperature", type=float, help="Sampling temperature, 0 <= X < 2."),
    argument("--top-p", type=float, help="Nucleus sampling, 0 < X <= 1."),
    argument("--top-k", type=int, help="Sample from the K most likely tokens (K >= 0)."),
    argument("--max-tokens", type=int, help="Longest answer, at most the model's max answer."),
    argument("--seed", type=int, help="Seed for repeatable sampling."),
    argument("--stop", action="append", help="Stop text; repeat for several."),
    argument("-s", "--system", help="System prompt (quote it if it has spaces)."),
    argument("-o", "--out", help="Also store the result in this variable."),
    argument("--quiet", action="store_true", help="No live display; the result is stored."),
    argument("--raw", action="store_true", help="Send the prompt as written: no {} filling."),
    argument("--base-url", help="OpenAI-compatible endpoint for this cell."),
]


def with_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        func = option(func)
    return func


@magics_class
class GLMMagics(Magics):
    """GLM reasoning models in the notebook: ``%%glm`` cells and ``%glm`` commands."""

    model = Unicode(
        "",
        help="Model used when a cell names none. Empty: $GLM_MAGIC_MODEL, else glm-4.6.",
    ).tag(config=True)
    base_url = Unicode(
        "",
        help="OpenAI-compatible endpoint. Empty: $GLM_MAGIC_BASE_URL, else DashScope (China).",
    ).tag(config=True)
    timeout = Float(300.0, help="Seconds to wait for the next piece of a reply.").tag(config=True)
    max_retries = Int(
        3, help="Times a request refused with 429/5xx, or cut before its first token, is resent."
    ).tag(config=True)
    retry_backoff = Float(
        0.5, help="First wait between retries in seconds; doubles each time (Retry-After wins)."
    ).tag(config=True)
    update_interval = Float(
        0.08,
        help="Shortest time between two live text updates (0.08 s: at most 12.5 per second).",
    ).tag(config=True)
    display = Enum(
        ["auto", "widgets", "text"],
        "auto",
        help="Live view: widgets in a kernel with ipywidgets, else text ('auto'), or forced.",
    ).tag(config=True)

    def settings(self, *, model: str | None = None, base_url: str | None = None) -> Settings:
        return Settings(
            model=pick(model, self.model, "GLM_MAGIC_MODEL", DEFAULT_MODEL),
            base_url=pick(base_url, self.base_url, "GLM_MAGIC_BASE_URL", CHINA_ENDPOINT),
            timeout=self.timeout,
            retry=RetryPolicy(attempts=self.max_retries, backoff=self.retry_backoff),
            update_interval=self.update_interval,
            display=self.display,
        )

    @magic_arguments(name="%glm")
    @with_options
    @cell_magic("glm")
    def glm_cell(self, line: str, cell: str) -> None:
        """Send the cell to a GLM model; thinking and answer stream live.

        The cell body is the prompt. ``{name}`` and ``{expression}`` are filled
        in from the notebook (``{{`` and ``}}`` are literal braces; ``--raw``
        turns filling off). The result is stored in ``_glm`` (and in ``-o NAME``):
        ``str(_glm)`` is the answer, ``_glm.thinking`` the thinking, ``_glm.usage``
        the tokens.
        """
        args = self._parse(self.glm_cell, line)
        self._run(cell, args)

    @magic_arguments(name="glm")
    @argument("prompt", nargs="*", help="The prompt, or one of: models, config, key.")
    @with_options
    @line_magic("glm")
    def glm_line(self, line: str) -> GLMResult | None:
        """One-shot prompt, or a command.

        ``%glm PROMPT`` sends one prompt and returns the result (``x = %glm ...``).
        ``%glm models`` shows the model table, ``%glm config`` the effective
        settings (key masked), ``%glm key`` asks for the API key.
        """
        command = line.strip()
        if command in COMMANDS:
            COMMANDS[command](self)
            return None
        options, prompt = split_line(line)
        args = self._parse(self.glm_line, options)
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
        try:
            # posix=True: quotes group words and are dropped, so -s 'Be brief.' sends
            # Be brief. (IPython's parse_argstring keeps the quotes in the value).
            args = func.parser.parse_args(arg_split(line, posix=True))
        except ValueError as exc:
            raise UsageError(f"Could not read the options {line!r}: {exc}.") from None
        except UsageError as exc:
            raise UsageError(f"{exc}. `%%glm?` lists the options.") from None
        if args.out is not None and not (
            args.out.isidentifier() and not keyword.iskeyword(args.out)
        ):
            msg = f"-o/--out needs a valid Python variable name; {args.out!r} is not one."
            raise UsageError(msg)
        return args

    def _run(self, text: str, args: Any, *, keep: bool = True) -> GLMResult:
        try:
            text = text.strip()
            prompt = text if args.raw else interpolate(text, self.shell.user_ns)
            options = Options(
                model=args.model,
                thinking=args.thinking,
                temperature=args.temperature,
                top_p=args.top_p,
                top_k=args.top_k,
                max_tokens=args.max_tokens,
                seed=args.seed,
                stop=args.stop,
                system=args.system,
            )
            settings = self.settings(model=args.model, base_url=args.base_url)
            result = complete_prompt(
                prompt, options, settings, display="none" if args.quiet else None, keep=keep
            )
        except GLMUsageError as exc:
            raise UsageError(str(exc)) from None
        self.shell.user_ns["_glm"] = result
        if args.out:
            self.shell.user_ns[args.out] = result
        if args.quiet and result.error:
            print(f"glm: {result.error}", file=sys.stderr)
        return result

    def show_models(self) -> None:
        print(models_table())

    def show_config(self) -> None:
        described = self.settings().describe()
        width = max(map(len, described))
        for name, value in described.items():
            print(f"{name.ljust(width)}  {value}")

    def ask_key(self) -> None:
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


COMMANDS: dict[str, Callable[[GLMMagics], None]] = {
    "models": GLMMagics.show_models,
    "config": GLMMagics.show_config,
    "key": GLMMagics.ask_key,
}


def split_line(line: str) -> tuple[str, str]:
    """Split ``%glm`` text into leading options and the prompt, kept exactly as typed.

    The prompt is free text (apostrophes, braces, dashes), so it never goes
    through shell-style splitting; only the leading options do.
    """
    takes_value = {
        name
        for option in OPTIONS
        for name in option.args
        if option.kwds.get("action") not in ("store_true", "store_false")
    }
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
