"""A real Jupyter kernel, driven over ZeroMQ, that records what it sends to the front end.

What a notebook user feels (a browser choking on a long reply, a saved file
full of widget models) is decided by the iopub messages the kernel sends. This
harness runs cells in a real ipykernel through ``jupyter_client`` and keeps
every iopub message of a cell with its size and send time, so tests and
benchmarks can measure traffic and update rates instead of assuming them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

UPDATE_TYPES = frozenset({"stream", "comm_msg", "display_data", "update_display_data"})


@dataclass
class Message:
    msg_type: str
    sent: float
    size: int
    content: dict[str, Any]


@dataclass
class CellRun:
    """The iopub traffic of one executed cell."""

    messages: list[Message] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reply.get("status") == "ok"

    def of(self, *types: str) -> list[Message]:
        return [m for m in self.messages if m.msg_type in types]

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.messages)

    def updates(self) -> list[Message]:
        """Messages that change what the front end shows."""
        return [m for m in self.messages if m.msg_type in UPDATE_TYPES]

    def peak_rate(self, window: float = 1.0) -> int:
        """The most updates sent within any ``window`` seconds."""
        times = sorted(m.sent for m in self.updates())
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] > window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def markdown(self) -> str:
        """The Markdown a live view showed: what ``display_data`` messages appended,
        then what each ``Output`` widget was last set to (``outputs`` in a ``comm_msg``).

        The final static rendering (``update_display_data``) is not part of it.
        """
        appended: list[str] = []
        latest: dict[str, str] = {}
        for m in self.messages:
            if m.msg_type == "display_data":
                appended.append(m.content["data"].get("text/markdown", ""))
            elif m.msg_type == "comm_msg":
                outputs = m.content["data"].get("state", {}).get("outputs")
                if outputs is not None:
                    latest[m.content["comm_id"]] = "".join(
                        o.get("data", {}).get("text/markdown", "") for o in outputs
                    )
        return "".join(appended) + "".join(latest.values())

    def text(self, name: str = "stdout") -> str:
        return "".join(m.content["text"] for m in self.of("stream") if m.content["name"] == name)


class KernelSession:
    """A python3 kernel with extra environment variables; close() when done.

    ``execute`` sends each cell with a cell id in the request's metadata, as
    JupyterLab and Notebook 7 do, so the kernel knows a notebook front end is
    watching; ``cell_ids=False`` drives it as nbclient (papermill, nbconvert) does.
    """

    def __init__(
        self, env: dict[str, str] | None = None, *, cwd: str | None = None, cell_ids: bool = True
    ) -> None:
        import zmq
        from jupyter_client.manager import KernelManager

        self.cell_ids = cell_ids

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, **(env or {})}, cwd=cwd)
        self.client = self.manager.client()
        # ZeroMQ's default high-water mark (1,000 queued messages) silently drops iopub
        # messages when a cell sends faster than this process reads; a recorder must not.
        self.client.context.setsockopt(zmq.RCVHWM, 0)
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(
        self, code: str, timeout: float = 120.0, *, metadata: dict[str, Any] | None = None
    ) -> CellRun:
        """Run ``code``; ``metadata`` goes in the ``execute_request`` as a front end's would.

        JupyterLab, for one, sends ``{"cellId": ...}`` there, and so does this
        session unless it was made with ``cell_ids=False``.
        """
        run = CellRun()
        msg_id = self.submit(code, metadata=metadata)
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            run.messages.append(_record(msg))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        run.reply = self.reply_to(msg_id, timeout)["content"]
        return run

    def submit(self, code: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Send ``code`` for execution without waiting, as a Run All queues cells; its msg id."""
        if metadata is None and self.cell_ids:
            metadata = {"cellId": str(uuid.uuid4())}
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = self.client.session.msg("execute_request", content, metadata=metadata or {})
        self.client.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def reply_to(self, msg_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """The shell reply to ``msg_id``, skipping replies to earlier requests."""
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def replies(self, msg_ids: list[str], timeout: float = 120.0) -> list[dict[str, Any]]:
        """The shell replies to several queued requests, in the order of ``msg_ids``."""
        found: dict[str, dict[str, Any]] = {}
        while len(found) < len(msg_ids):
            reply = self.client.get_shell_msg(timeout=timeout)
            parent = reply["parent_header"].get("msg_id")
            if parent in msg_ids:
                found[parent] = reply
        return [found[msg_id] for msg_id in msg_ids]

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _record(msg: dict[str, Any]) -> Message:
    """Size the message as the wire carries it: the four JSON frames plus buffers."""
    frames = (msg["header"], msg["parent_header"], msg["metadata"], msg["content"])
    size = sum(len(json.dumps(f, default=str).encode()) for f in frames)
    size += sum(len(b) for b in msg.get("buffers", []))
    date = msg["header"].get("date")
    sent = date.timestamp() if isinstance(date, datetime) else 0.0
    return Message(msg["msg_type"], sent, size, msg["content"])
