"""The ``%glm`` subcommands (``%glm models``, ``%glm chats`` ...): one function each.

A subcommand is a function registered with :func:`command` under how it is
written (``"stop [NAME]"``: its name is the first word). It takes the
``GLMMagics`` object (for ``%config`` and the notebook's namespace) and then
the words typed after its name, one parameter per word; parameters with
defaults are optional words. Whether a line is a command or a prompt follows
from those parameters (``glm_magic.parsing.find_command``), and the ``%glm?``
help lists the commands as written, with the first line of their docstrings.
Adding a subcommand is one decorated function here::

    @command("stop [NAME]")
    def stop(magics: GLMMagics, name: str | None = None) -> None:
        \"\"\"Stop the --bg run stored in NAME, or all.\"\"\"
        ...

A mistake is a ``GLMUsageError`` (the magic shows it as one paragraph). The
modules that do the work are imported inside the functions: this module loads
with the extension.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import GLMUsageError

if TYPE_CHECKING:
    from .magics import GLMMagics

#: The commands by name, in the order ``%glm?`` lists them.
COMMANDS: dict[str, Callable[..., None]] = {}
#: How each is written, by name: ``history NAME``.
USAGE: dict[str, str] = {}


def command(written: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the decorated function as ``%glm`` + ``written`` (its first word is the name)."""

    def register(func: Callable[..., None]) -> Callable[..., None]:
        name = written.split()[0]
        COMMANDS[name] = func
        USAGE[name] = written
        return func

    return register


@command("models")
def show_models(magics: GLMMagics) -> None:
    """The model catalogue for the provider in force, merged with its GET /models."""
    from .listings import models_table
    from .runner import served_models

    settings = magics.settings()
    print(models_table(settings.provider.name, served_models(settings)))


@command("providers")
def show_providers(magics: GLMMagics) -> None:
    """The providers: base URL, key variable and whether it is set, thinking switch."""
    from .listings import providers_table

    print(providers_table(magics.settings().provider))


@command("config")
def show_config(magics: GLMMagics) -> None:
    """The settings in force (the key masked)."""
    described = magics.settings().describe()
    width = max(map(len, described))
    for name, value in described.items():
        print(f"{name.ljust(width)}  {value}")


@command("doctor")
def doctor(magics: GLMMagics) -> None:
    """Check the API key, the endpoint and the widget set-up; say what to fix."""
    from .doctor import diagnose, report

    settings = magics.settings()
    print(report(settings, diagnose(settings)))


@command("key")
def ask_key(magics: GLMMagics) -> None:
    """Ask for the API key; it is kept in memory only."""
    from IPython.core.error import StdinNotImplementedError

    from .settings import session_key

    try:
        typed = getpass.getpass("API key (kept in memory only): ")
    except StdinNotImplementedError:
        msg = (
            "This front end cannot prompt for input. Set GLM_MAGIC_API_KEY (or the "
            "provider's key variable, `%glm providers`) in the environment before "
            "starting Jupyter instead."
        )
        raise GLMUsageError(msg) from None
    typed = typed.strip()
    if not typed:
        raise GLMUsageError("No key entered; nothing changed.")
    session_key.value = typed
    print("Key set for this session (not saved anywhere).")


@command("usage")
def show_usage(magics: GLMMagics) -> None:
    """Tokens and cost per model: this session, today and all time."""
    from . import ledger

    print(ledger.usage_report(magics.settings()))


@command("log [-n N] [TEXT]")
def show_log(magics: GLMMagics, *words: str) -> None:
    """The last N stored runs (matching TEXT); --prune DAYS forgets older ones."""
    from IPython.display import display

    from . import logs

    shown = logs.command(list(words))
    if isinstance(shown, str):
        print(shown)
    else:
        display(shown)


@command("chats")
def show_chats(magics: GLMMagics) -> None:
    """The conversations: name, turns, tokens, model."""
    from . import chats

    print(chats.chats_table())


@command("history NAME")
def show_history(magics: GLMMagics, name: str | None = None) -> None:
    """A conversation, turn by turn."""
    from IPython.display import display

    from . import chats

    if name is None:
        known = ", ".join(chats.CHATS) or "none yet"
        raise GLMUsageError(f"Which chat? `%glm history NAME` (chats: {known}).")
    display(chats.history_bundle(chats.lookup(name)), raw=True)


@command("reset [NAME]")
def reset_chats(magics: GLMMagics, name: str | None = None) -> None:
    """Forget one conversation, or all."""
    from . import chats

    print(chats.reset(name))


@command("jobs")
def show_jobs(magics: GLMMagics) -> None:
    """The --bg runs still streaming: name, model, elapsed, tokens."""
    from . import jobs

    print(jobs.jobs_table())


@command("stop [NAME]")
def stop_jobs(magics: GLMMagics, name: str | None = None) -> None:
    """Stop the --bg run stored in NAME (its -o name, or _glm), or all of them."""
    from . import jobs

    ns = magics.shell.user_ns
    if name is not None and name not in ns:
        raise GLMUsageError(f"There is no variable named {name!r}; `%glm jobs` lists the runs.")
    stopped = jobs.stop(ns[name] if name is not None else None)
    if name is not None and not stopped:
        print(f"{name} is not running in the background; nothing to stop.")
        return
    print(f"Stopped: {', '.join(job.name for job in stopped) or 'nothing was running'}.")


@command("export NAME FILE.ipynb")
def export_chat(magics: GLMMagics, name: str | None = None, file: str | None = None) -> None:
    """Write a conversation as a notebook."""
    from . import chats
    from .wording import count

    if name is None or file is None:
        raise GLMUsageError("Usage: `%glm export NAME FILE.ipynb` (`%glm chats` lists names).")
    conversation = chats.lookup(name)
    written = chats.export_notebook(conversation, file)
    turns = count(len(conversation.turns), "turn")
    print(f"Wrote chat {name!r} ({turns}) to {written}")


def help_text() -> str:
    """The commands for ``%glm?``, each as written with the first line of its docstring."""
    width = max(map(len, USAGE.values()))
    lines = [
        f"%glm {USAGE[name].ljust(width)}  {(func.__doc__ or '').splitlines()[0]}"
        for name, func in COMMANDS.items()
    ]
    return "Commands:\n" + "\n".join(lines)
