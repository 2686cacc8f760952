"""Closing a view's widgets while the front end may still be writing to them.

JupyterLab's Output widget sends its outputs back to the kernel after every
message it captures (ipywidgets 8.1 ``OutputModel.add``: ``set("outputs")``
then ``save_changes()``), and a busy kernel reads those only after the cell.
So when a view closes its widgets as the reply ends, the last few updates
are still on their way, and the kernel's comm manager logs ``No such comm:
<id>`` for each (``comm`` 0.2 ``CommManager.get_comm``). ipykernel sends
that log line to the front end as output of no cell, so JupyterLab's log
console collected about one per pane per cell.

Those updates carry nothing anyone needs: the widget is gone and the cell
shows the static rendering. The views close their widgets through
:func:`close`, which remembers the comm ids, and a filter on the ``Comm``
logger drops "No such comm" for those ids only; any other comm's warning is
still logged.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

#: Comm ids closed by a view; the oldest are forgotten (their echoes arrived long ago).
REMEMBERED = 10_000
_closed: deque[str] = deque(maxlen=REMEMBERED)
_closed_set: set[str] = set()


class ClosedByAView(logging.Filter):
    """Drops ``No such comm: <id>`` for comms a view closed itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.msg == "No such comm: %s"
            and isinstance(record.args, tuple)
            and record.args[:1] != ()
            and record.args[0] in _closed_set
        )


_FILTER = ClosedByAView()


def close(*widgets: Any) -> None:
    """Close ``widgets`` (None ones skipped), remembering their comms as closed on purpose."""
    logger = logging.getLogger("Comm")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    for widget in widgets:
        if widget is None:
            continue
        comm = getattr(widget, "comm", None)
        if comm is not None:
            if len(_closed) == REMEMBERED:
                _closed_set.discard(_closed[0])
            _closed.append(comm.comm_id)
            _closed_set.add(comm.comm_id)
        widget.close()
