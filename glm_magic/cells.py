"""Which cell is running, so a re-run conversation cell replaces its own turn.

Loaded with the extension (it listens to every cell run), so it stays small.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any


class CellRuns:
    """Which cell is running, told by IPython's ``pre_run_cell`` event.

    The event fires for every cell a shell runs, stored in the history or not,
    and carries the ``cell_id`` that ipykernel passes on from the front end.
    Without one (terminal IPython; nbclient and papermill send none), nothing
    tells a re-run from another cell with the same text, so each run is a cell
    of its own and its turns are appended. Several chat calls in one cell run
    are told apart by their order. Run keys carry a per-process prefix, so a
    chat rebuilt from the store after a restart never mistakes an earlier
    session's run for one of this session's.
    """

    def __init__(self) -> None:
        self.cell_id: str | None = None
        self.counts: dict[str, int] = {}
        self._process = uuid.uuid4().hex[:12]
        self._runs = itertools.count(1)
        self._run = self._next_run()

    def pre_run_cell(self, info: Any) -> None:
        self.counts = {}
        cell_id = getattr(info, "cell_id", None)
        self.cell_id = str(cell_id) if cell_id else None
        self._run = self._next_run()

    def _next_run(self) -> str:
        return f"run:{self._process}:{next(self._runs)}"

    def key(self) -> str:
        """Which cell this call comes from (see ``glm_magic.chats`` for the rules)."""
        identity = f"cell:{self.cell_id}" if self.cell_id else self._run
        n = self.counts.get(identity, 0)
        self.counts[identity] = n + 1
        return f"{identity}#{n}"


cell_runs = CellRuns()
