"""The live answer as Markdown: finished blocks go out once, only the open block is redrawn.

The answer must look while it streams as it will once it is done (the same
renderer, font and layout), and what crosses the wire must still grow
linearly with the text. Re-sending the whole answer as Markdown on every
update is quadratic (benchmarks/RESULTS.md: 671 MB for 99 KB). So the answer
is cut into Markdown blocks at blank lines outside code fences: a finished
block cannot change any more and goes out once, as ``display_data`` appended
to an ``Output`` widget, and only the block still being written is redrawn,
by setting a second ``Output`` widget's ``outputs`` (one ``comm_msg``; the
ipywidgets front end clears that area and renders the new output).

An open block can grow long: a big table or code fence, or a paragraph with
no blank line. Redrawing it at every update would be quadratic again, so
past :data:`FREE` characters a redraw must be paid for: every new character
earns :data:`CREDIT` characters of redraw, and a redraw costs the block's
size. Redraws of one block then send at most ``CREDIT`` times its text. Where
Markdown allows it without changing what is drawn, a long block is cut
instead: a paragraph at the end of a sentence (or a space), a list before a
new item. A table or code fence is never cut.

:class:`Blocks` only cuts text; :class:`AnswerPane` owns the widgets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .closing import close

#: An open block up to this size is redrawn at every update, like streamed text would be.
FREE = 1024
#: Past FREE, each new character pays for this many characters of redraw.
CREDIT = 2
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])[ \t]")
SENTENCE_END = re.compile(r"[.!?。！？][)\"'”’]*[ \t]+")


@dataclass
class Blocks:
    """Cuts a growing Markdown text into finished blocks and the open one.

    ``add`` returns the text of the blocks it finishes (possibly several,
    joined; possibly none: ""), and ``open`` is the rest. What ``add`` and
    ``finish`` return, joined, is the whole text: nothing is lost or doubled.
    Only the open block is kept, so a long answer costs no copying.
    """

    open: str = ""
    scanned: int = 0
    fence: str | None = None
    blank: bool = False

    def add(self, piece: str) -> str:
        self.open += piece
        return self._cut()

    def finish(self) -> str:
        """Everything not yet given out: the open block, now finished too."""
        rest, self.open, self.scanned, self.blank = self.open, "", 0, False
        return rest

    def _cut(self) -> str:
        """Scan the complete lines not seen yet; return the blocks they finish."""
        text = self.open
        end = 0
        while True:
            newline = text.find("\n", self.scanned)
            line = text[self.scanned : newline if newline != -1 else len(text)]
            if newline == -1:
                # The line being written: a character at the margin after a blank
                # line already starts a new block.
                if self.fence is None and self.blank and line[:1].strip():
                    end = self.scanned
                break
            start, self.scanned = self.scanned, newline + 1
            if self.fence is not None:
                if line.strip().startswith(self.fence) and not line.strip(self.fence[0]).strip():
                    self.fence = None
                continue
            if not line.strip():
                self.blank = True
                continue
            if self.blank and not line[:1].isspace():
                end = start  # a blank line, then a new block at the margin
            elif start - end > FREE and LIST_ITEM.match(line):
                end = start  # a long list: a new item starts a new part
            self.blank = False
            opened = FENCE.match(line)
            if opened:
                self.fence = opened.group(1)
        if end == 0 and self.fence is None and len(text) > FREE:
            end = _paragraph_cut(text)
        finished, self.open, self.scanned = text[:end], text[end:], self.scanned - end
        return finished


def _paragraph_cut(text: str) -> int:
    """Where a long paragraph can be cut without changing its inline Markdown, or 0.

    ``text`` must be one plain paragraph (no table, heading, quote, list or
    HTML), and the cut leaves every inline marker closed in the first part.
    """
    first = text.lstrip()[:1]
    if first in "|#>-*+`~<$" or LIST_ITEM.match(text) or "\n|" in text:
        return 0
    cuts = [m.end() for m in SENTENCE_END.finditer(text)]
    if not cuts:
        cuts = [m.end() for m in re.finditer(r"[ \t]+", text)]
    for cut in reversed(cuts):
        if cut < len(text) and _balanced(text[:cut]):
            return cut
    return 0


def _balanced(text: str) -> bool:
    """No inline code, emphasis, link or math left open in ``text``."""
    if text.count("`") % 2 or text.count("$") % 2:
        return False
    if text.count("**") % 2 or text.count("__") % 2:
        return False
    return text.count("[") == text.count("]") and text.count("(") == text.count(")")


def markdown_output(text: str) -> dict[str, Any]:
    """One output as nbformat holds it, for an ``Output`` widget's ``outputs``."""
    return {"output_type": "display_data", "data": {"text/markdown": text}, "metadata": {}}


class AnswerPane:
    """Two ``Output`` widgets, one above the other: finished blocks appended, the open one
    redrawn. The view places both (``widgets``) in its box.

    ``write`` is called by the view with coalesced text at most once per
    update interval, while ``done`` is capturing (the view manages captures);
    it returns how many messages it sent, so the view can keep the message
    rate in bounds.
    """

    def __init__(self, layout: Any) -> None:
        import ipywidgets as w

        self.blocks = Blocks()
        self.done = w.Output(layout=layout)
        self.open = w.Output(layout=layout)
        self.widgets = (self.done, self.open)
        self.shown = ""
        self.credit = 0

    def write(self, text: str, *, final: bool = False, flush: bool = False) -> int:
        """Add ``text``; send finished blocks and redraw the open block if it is due.

        ``final`` sends the open block as finished too (before a tool runs);
        ``flush`` redraws it whatever it costs (the last write of a reply).
        """
        finished = self.blocks.add(text) if text else ""
        if final:
            finished += self.blocks.finish()
        sent = 0
        if finished.strip():
            self._append(finished)
            sent += 1
        open_text = self.blocks.open
        self.credit += CREDIT * len(text)
        if open_text != self.shown and (flush or self._due(open_text, finished)):
            self._redraw(open_text)
            sent += 1
        return sent

    def _due(self, open_text: str, finished: str) -> bool:
        if finished or len(open_text) <= FREE:
            return True
        return self.credit >= len(open_text)

    def _append(self, text: str) -> None:
        """Display ``text``: the view has ``done`` capturing, so it lands there.

        Markdown alone, with no text/plain twin: the widget is gone once the
        reply ends, so no other front end ever needs one.
        """
        from IPython.display import publish_display_data

        publish_display_data({"text/markdown": text})

    def _redraw(self, text: str) -> None:
        self.shown = text
        self.credit = max(0, self.credit - len(text))
        self.open.outputs = (markdown_output(text),) if text.strip() else ()

    def close(self) -> None:
        close(*self.widgets)
