"""Which cell is running, so a re-run conversation cell replaces its own turn.

Loaded with the extension (it listens to every cell run), so it stays small:
the hashing is imported on the first chat call.
"""

from __future__ import annotations

from typing import Any


class CellRuns:
    """Which cell is running, told by IPython's ``pre_run_cell`` event.

    The event fires for every cell a shell runs, stored in the history or not,
    and carries the ``cell_id`` that ipykernel passes on from the front end.
    Several chat calls in one cell run are told apart by their order.
    """

    def __init__(self) -> None:
        self.cell_id: str | None = None
        self.counts: dict[str, int] = {}

    def pre_run_cell(self, info: Any) -> None:
        self.counts = {}
        cell_id = getattr(info, "cell_id", None)
        self.cell_id = str(cell_id) if cell_id else None

    def key(self, text: str, options: dict[str, Any]) -> str:
        """Which cell this call comes from (see ``glm_magic.chats`` for the rules)."""
        import hashlib
        import json

        if self.cell_id:
            identity = f"cell:{self.cell_id}"
        else:
            source = json.dumps([text, sorted(options.items())], default=str)
            identity = "source:" + hashlib.sha256(source.encode()).hexdigest()[:16]
        n = self.counts.get(identity, 0)
        self.counts[identity] = n + 1
        return f"{identity}#{n}"


cell_runs = CellRuns()
