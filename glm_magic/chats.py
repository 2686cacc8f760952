"""Conversations: ``%%glm -c NAME`` and ``glm_magic.chat(NAME)``, in memory and in the store.

The magic and Python hold the same conversations: ``chat("talk").send(...)``
continues what ``%%glm -c talk`` started, and both go through
:meth:`Chat.reply`. Every turn's run is also written to the store (tagged with
the chat and the cell it came from), so after a restart a chat not in memory
is rebuilt from there: ``%glm history NAME`` shows it and ``-c NAME``
continues it. ``%glm reset`` is remembered in the store too.

A conversation is a list of turns, each a prompt and the result that answered
it. What goes back to the model as history is the prompt and the answer (with
the tool-call messages of a tool run, in order), never the thinking: GLM's
thinking is for the turn it was produced in, and sending it back would only
cost input tokens.

Which cell a turn came from, so that re-running a cell replaces its turn and
everything after it instead of appending a duplicate:

- The cell id IPython gives the cell (``run_cell(cell_id=...)``; ipykernel
  passes on the ``cellId`` that JupyterLab and Notebook 7 put in the
  ``execute_request`` metadata, and VS Code the cell's document URI).
- Otherwise (terminal IPython; nbclient 0.11 and papermill, which send no
  metadata with ``execute_request``), each run is a cell of its own and its
  turn is appended: two cells with the same text ("Continue.") are two turns,
  and nothing there could tell them from one cell run twice. The output says
  so whenever a turn is replaced.

Several ``%glm -c`` calls in one cell execution are told apart by their order.

Failed and interrupted turns: a reply that failed (provider error, dropped
stream, nothing but an error) is not added and the conversation is left as it
was, even when the cell was a re-run: the user did not choose that outcome and
running the cell again should retry the same question from the same place. An
interrupted reply with some answer is kept, marked partial (``finish_reason``
``"interrupted"``, shown in ``%glm history`` and exports): the user stopped it
on purpose, has read it, and a next turn such as "go on" needs it. An
interrupted reply with no answer yet is dropped like a failure.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalogue import model_info
from .errors import GLMInterrupted, GLMUsageError
from .render import markdown, plain
from .request import message_tokens
from .wording import count, text_table

if TYPE_CHECKING:
    from .options import Options
    from .result import GLMResult
    from .settings import Settings

NAME = re.compile(r"[\w.-]+")
HISTORY_PROMPT_CHARS = 2000


@dataclass
class Turn:
    """One prompt and the result that answered it.

    ``key`` says which cell the turn came from; ``system`` is the system prompt
    in force for this turn (set with ``-s`` here or on an earlier turn).
    """

    key: str
    prompt: str
    result: GLMResult
    system: str | None = None

    def messages(self) -> list[dict[str, Any]]:
        """The turn as history: the prompt, then what the run added, never the thinking."""
        added = self.result.messages or [{"role": "assistant", "content": self.result.answer}]
        return [{"role": "user", "content": self.prompt}, *added]


@dataclass
class Conversation:
    name: str
    turns: list[Turn] = field(default_factory=list)

    @property
    def system(self) -> str | None:
        return self.turns[-1].system if self.turns else None

    @property
    def model(self) -> str:
        return self.turns[-1].result.model if self.turns else ""

    def tokens(self) -> int:
        """Estimated input tokens of the whole conversation as the next turn would send it."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return message_tokens(system + [m for t in self.turns for m in t.messages()])

    def index(self, key: str) -> int | None:
        return next((i for i, t in enumerate(self.turns) if t.key == key), None)


CHATS: dict[str, Conversation] = {}
#: A conversation's turn still streaming in the background (``--bg -c NAME``), by chat name.
RUNNING: dict[str, Any] = {}


def restored(name: str) -> Conversation | None:
    """Chat ``name`` in memory, else rebuilt from the turns the store kept (after a restart).

    The stored runs are replayed with the rules of :meth:`PendingTurn.finish`:
    a run from a cell that was already a turn replaces it and what followed,
    failed replies are skipped.
    """
    if name not in CHATS:
        from .store import chat_runs

        rebuild(chat_runs(name))
    return CHATS.get(name)


def rebuild(rows: list[Any]) -> None:
    """Conversations from stored runs (oldest first), for the chats not in memory."""
    from .store import result_of

    rebuilt: dict[str, Conversation] = {}
    for row in rows:
        if row["chat"] in CHATS:
            continue
        result = result_of(row)
        system = json.loads(row["options"] or "{}").get("system")
        turn = PendingTurn(row["chat"], row["chat_key"] or "", row["prompt"], system, [])
        conversation = rebuilt.setdefault(row["chat"], Conversation(row["chat"]))
        turn.replaces = conversation.index(turn.key)
        turn.add(conversation, result)
    CHATS.update({name: c for name, c in rebuilt.items() if c.turns})


@dataclass
class PendingTurn:
    """A turn on its way: the history to send, and what to do with the reply.

    Nothing in the conversation changes until ``finish`` sees the result.
    """

    name: str
    key: str
    prompt: str
    system: str | None
    history: list[dict[str, Any]]
    replaces: int | None = None

    @property
    def tags(self) -> dict[str, str]:
        """What the store keeps with the turn's run, so the chat can be rebuilt from it."""
        return {"chat": self.name, "chat_key": self.key}

    def notice(self) -> str | None:
        """One line for the output when this run replaces earlier turns."""
        if self.replaces is None:
            return None
        conversation = CHATS[self.name]
        later = len(conversation.turns) - self.replaces - 1
        after = f" and the {count(later, 'turn')} after it" if later else ""
        return (
            f"Chat {self.name!r}: this cell was turn {self.replaces + 1}; "
            f"this reply replaces that turn{after}."
        )

    def finish(self, result: GLMResult) -> str | None:
        """Add the reply to the conversation (see the module docstring); a line if not added."""
        conversation = CHATS.setdefault(self.name, Conversation(self.name))
        if not self.add(conversation, result):
            if not conversation.turns:
                del CHATS[self.name]
            kept = "; the earlier turns are kept" if self.replaces is not None else ""
            return (
                f"Chat {self.name!r} unchanged: the reply did not complete, "
                f"so it was not added{kept}."
            )
        if result.finish_reason == "interrupted":
            n = len(conversation.turns)
            return f"Chat {self.name!r}: the interrupted reply is kept as turn {n}, marked partial."
        return None

    def add(self, conversation: Conversation, result: GLMResult) -> bool:
        """Add the reply to ``conversation`` if it counts as a turn; True when added."""
        interrupted = result.finish_reason == "interrupted"
        if not (result.complete or (interrupted and result.answer)):
            return False
        if self.replaces is not None:
            del conversation.turns[self.replaces :]
        conversation.turns.append(Turn(self.key, self.prompt, result, self.system))
        return True


def prepare(
    name: str,
    key: str,
    prompt: str,
    *,
    model: str,
    system: str | None = None,
    last: int | None = None,
    provider: str = "dashscope",
) -> PendingTurn:
    """The next turn of chat ``name``, checked against ``model``'s max input.

    ``system`` (from ``-s``) replaces the conversation's system prompt from
    this turn on; None keeps the one in force. ``last`` sends only that many
    earlier turns. Raises ``GLMUsageError`` when the estimate is over the
    limit: no turn is ever dropped without the user asking.
    """
    conversation = restored(name) or Conversation(name)
    replaces = conversation.index(key)
    earlier = conversation.turns[:replaces]
    if system is None:
        system = earlier[-1].system if earlier else None
    sent = earlier if last is None else earlier[max(len(earlier) - last, 0) :] if last else []
    history = [m for turn in sent for m in turn.messages()]
    _check_size(name, model, prompt, system, sent, provider)
    return PendingTurn(name, key, prompt, system, history, replaces)


def _check_size(
    name: str, model: str, prompt: str, system: str | None, sent: list[Turn], provider: str
) -> None:
    info = model_info(model, provider)
    if info is None or info.max_input is None:
        return
    base = message_tokens(
        ([{"role": "system", "content": system}] if system else [])
        + [{"role": "user", "content": prompt}]
    )
    sizes = [message_tokens(turn.messages()) for turn in sent]
    total = base + sum(sizes)
    if total <= info.max_input:
        return
    head = (
        f"Chat {name!r} is too long for {model}: this turn would send about {total:,} tokens "
        f"(estimated), {total - info.max_input:,} over its max input of {info.max_input:,}. "
        "Nothing was sent."
    )
    if base > info.max_input:
        msg = f"{head} The prompt (with the system prompt) alone is about {base:,}: shorten it."
        raise GLMUsageError(msg)
    fit, budget = 0, info.max_input - base
    for size in reversed(sizes):
        if size > budget:
            break
        budget -= size
        fit += 1
    fewer = (
        f"send fewer earlier turns with --last {fit} (the last {count(fit, 'turn')} of "
        f"{len(sent)} fit)"
        if fit
        else "send it without earlier turns with --last 0"
    )
    msg = f"{head} To trim: {fewer}, or start over with `%glm reset {name}`."
    raise GLMUsageError(msg)


def valid_name(name: str) -> bool:
    """One word (letters, digits, ``_ . -``), so ``%glm history NAME`` can name it."""
    return NAME.fullmatch(name) is not None


def lookup(name: str) -> Conversation:
    """The conversation called ``name``, or a usage error that lists the ones there are."""
    conversation = restored(name)
    if conversation is not None:
        return conversation
    known = ", ".join(sorted(CHATS)) or "none yet; start one with %%glm -c NAME"
    msg = f"No chat named {name!r} (chats: {known})."
    raise GLMUsageError(msg)


def reset(name: str | None = None) -> str:
    """Forget chat ``name`` (every chat when None), in memory and in the store (so a
    restart does not bring it back); returns what to tell the user."""
    from .store import chat_runs, forget_chats

    if name is not None:
        turns = len(lookup(name).turns)
        del CHATS[name]
        forget_chats([name])
        return f"Chat {name!r} cleared ({count(turns, 'turn')})."
    rebuild(chat_runs())
    if not CHATS:
        return "No chats to clear."
    turns = sum(len(c.turns) for c in CHATS.values())
    message = f"Cleared {len(CHATS)} chats ({count(turns, 'turn')})."
    forget_chats(list(CHATS))
    CHATS.clear()
    return message


class Chat:
    """A conversation from Python: ``glm_magic.chat(name)``, the same one ``-c NAME`` continues.

    ``send`` adds a turn; ``messages`` is what the next turn sends before its
    prompt (the system prompt, then each turn's prompt and reply, never the
    thinking); ``reset`` forgets the turns.
    """

    def __init__(self, name: str) -> None:
        if not (isinstance(name, str) and valid_name(name)):
            msg = f"A chat needs a one-word name (letters, digits, _ . -); {name!r} is not one."
            raise GLMUsageError(msg)
        self.name = name

    def __repr__(self) -> str:
        conversation = restored(self.name)
        turns = len(conversation.turns) if conversation else 0
        return f"<Chat {self.name!r}: {count(turns, 'turn')}>"

    @property
    def messages(self) -> list[dict[str, Any]]:
        conversation = restored(self.name)
        if conversation is None:
            return []
        system = conversation.system
        head = [{"role": "system", "content": system}] if system else []
        return head + [m for turn in conversation.turns for m in turn.messages()]

    def reset(self) -> None:
        from .store import forget_chats

        CHATS.pop(self.name, None)
        forget_chats([self.name])

    def send(
        self,
        prompt: str,
        *,
        last: int | None = None,
        display: str = "none",
        max_tool_rounds: int | None = None,
        **options: Any,
    ) -> GLMResult:
        """Send ``prompt`` as the next turn and return its result, as ``complete`` does.

        ``options`` are ``complete``'s; ``system`` sets the system prompt from
        this turn on. ``last=N`` sends only the last N earlier turns. A failed
        reply is not added (see the module docstring). In a notebook front end
        that sends cell ids, running the same cell again replaces its turn, as
        for ``%%glm -c``.
        """
        from . import options as spec
        from .api import API_ARGUMENTS, current_settings
        from .cells import cell_runs
        from .views import check_display

        if not isinstance(prompt, str):
            msg = f"send() needs the prompt as text (str); got {type(prompt).__name__}."
            raise GLMUsageError(msg)
        check_display(display, "send")
        opts, connection = spec.from_api(options, "send", also=("last", *API_ARGUMENTS))
        if last is not None and not (isinstance(last, int) and not isinstance(last, bool)):
            raise GLMUsageError(f"send() option last must be a whole number; got {last!r}.")
        spec.check_ranges({"last": last})
        settings = current_settings(model=opts.model, max_tool_rounds=max_tool_rounds, **connection)
        key = cell_runs.key()
        return self.reply(prompt, opts, settings, key=key, last=last, display=display)

    def reply(
        self,
        prompt: str,
        options: Options,
        settings: Settings,
        *,
        key: str,
        last: int | None = None,
        display: str | None = None,
        keep: bool = True,
    ) -> GLMResult:
        """One turn, for ``send`` and ``%%glm -c NAME``: checked, sent, added if it completed.

        ``key`` says which cell the turn comes from (``cells.cell_runs.key``);
        ``options.system`` (None: the one in force) becomes the conversation's
        system prompt from this turn on. Notices (a replaced turn, a reply not
        added) are printed.
        """
        from .runner import complete_prompt

        turn = self.begin(prompt, options, settings, key=key, last=last)
        try:
            result = complete_prompt(
                prompt,
                options,
                settings,
                display=display,
                keep=keep,
                history=turn.history,
                tags=turn.tags,
            )
        except GLMInterrupted as exc:  # an interrupted reply is kept, marked partial
            end(turn, exc.result)
            raise
        end(turn, result)
        return result

    def begin(
        self, prompt: str, options: Options, settings: Settings, *, key: str, last: int | None
    ) -> PendingTurn:
        """The next turn, prepared and announced; :func:`end` adds its result.

        ``reply`` sends it at once; a ``--bg`` cell sends it in the background.
        A turn still streaming in the background comes first: the next turn
        waits for it, so it is sent with that reply in its history, as it would
        be cell by cell.
        """
        running = RUNNING.get(self.name)
        if running is not None and not running.done:
            print(f"[chat {self.name!r}: waiting for its background turn to finish]")
            running.wait()
        turn = self.pending(prompt, options, settings, key=key, last=last)
        if notice := turn.notice():
            print(notice)
        return turn

    def pending(
        self, prompt: str, options: Options, settings: Settings, *, key: str, last: int | None
    ) -> PendingTurn:
        """The next turn as it would be sent, quietly (``--show-prompt`` shows it);
        ``options.system`` becomes the system prompt in force."""
        turn = prepare(
            self.name,
            key,
            prompt,
            model=options.model or settings.model,
            system=options.system,
            last=last,
            provider=settings.provider.name,
        )
        options.system = turn.system
        return turn


def end(turn: PendingTurn, result: GLMResult) -> None:
    """Add ``result`` to the conversation as ``turn`` (if it may be), saying what happened."""
    if notice := turn.finish(result):
        print(notice)


def chat(name: str) -> Chat:
    """The conversation called ``name`` (started by its first ``send``), as ``-c NAME`` uses it."""
    return Chat(name)


# -- showing and exporting ----------------------------------------------------


def chats_table() -> str:
    """All conversations as aligned plain text, for ``%glm chats`` (the stored ones too)."""
    from .store import chat_runs

    rebuild(chat_runs())
    if not CHATS:
        return "No conversations yet. Start one with %%glm -c NAME."
    header = ("chat", "turns", "tokens (est.)", "model")
    rows = [header] + [
        (c.name, str(len(c.turns)), f"{c.tokens():,}", c.model) for c in CHATS.values()
    ]
    return text_table(rows)


def history_bundle(conversation: Conversation) -> dict[str, str]:
    """``%glm history``: Markdown (thinking collapsed) and a plain-text twin."""
    c = conversation
    title = f"{count(len(c.turns), 'turn')}, about {c.tokens():,} tokens, {c.model}"
    md = [f"### Chat `{c.name}`: {title}"]
    text = [f"Chat {c.name!r}: {title}"]
    system: str | None = None
    for i, turn in enumerate(c.turns, 1):
        prompt = _shorten(turn.prompt)
        md.append("---")
        if turn.system != system:
            system = turn.system
            said = html.escape(_shorten(system)) if system else "(none)"
            md.append(f"*System prompt from here on:* {said}")
            text.append(f"System prompt from here on: {system or '(none)'}")
        md.append(
            f"**You** (turn {i})\n\n" + "\n".join(f"> {line}" for line in prompt.splitlines())
        )
        md.append(markdown(turn.result))
        text.append(f"--- You (turn {i}):\n{prompt}\n--- GLM:\n{plain(turn.result)}")
    return {"text/markdown": "\n\n".join(md), "text/plain": "\n\n".join(text)}


def export_notebook(conversation: Conversation, path: str | Path) -> Path:
    """Write the conversation as a notebook; returns the absolute path written.

    Markdown cells: a title, then one cell per prompt and one per reply (the
    static rendering: thinking in ``<details>``, tool calls, answer, usage
    line), with role, model and usage in each cell's ``glm_magic`` metadata.
    An existing file is only overwritten if it is an earlier export, so a typo
    cannot replace the notebook being worked on.
    """
    import nbformat
    from nbformat import v4

    target = Path(path).expanduser().resolve()
    if target.suffix != ".ipynb":
        msg = f"Export to a .ipynb file; {str(path)!r} is not one."
        raise GLMUsageError(msg)
    if target.exists() and not _is_export(target):
        msg = (
            f"{target} exists and is not a glm-magic export; choose another file name "
            "(nothing was written)."
        )
        raise GLMUsageError(msg)
    c = conversation
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cells = [
        v4.new_markdown_cell(
            f"# Chat `{c.name}`\n\nExported from glm-magic on {now}: "
            f"{count(len(c.turns), 'turn')}, about {c.tokens():,} tokens, last model {c.model}."
        )
    ]
    system: str | None = None
    for i, turn in enumerate(c.turns, 1):
        said = f"**You** (turn {i})\n\n{turn.prompt}"
        if turn.system != system:
            system = turn.system
            said = f"*System prompt from here on:* {system or '(none)'}\n\n{said}"
        cells.append(
            v4.new_markdown_cell(
                said, metadata={"glm_magic": {"role": "user", "turn": i, "system": turn.system}}
            )
        )
        r = turn.result
        meta = {
            "role": "assistant",
            "turn": i,
            "model": r.model,
            "usage": asdict(r.usage),
            "finish_reason": r.finish_reason,
            "complete": r.complete,
        }
        cells.append(v4.new_markdown_cell(markdown(r), metadata={"glm_magic": meta}))
    nb = v4.new_notebook(cells=cells, metadata={"glm_magic": {"chat": c.name, "exported": now}})
    nbformat.validate(nb)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return target


def _is_export(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "chat" in data.get("metadata", {}).get("glm_magic", {})


# -- helpers ------------------------------------------------------------------


def _shorten(text: str) -> str:
    if len(text) <= HISTORY_PROMPT_CHARS:
        return text
    rest = len(text) - HISTORY_PROMPT_CHARS
    return f"{text[:HISTORY_PROMPT_CHARS]}... [{rest:,} more characters]"
