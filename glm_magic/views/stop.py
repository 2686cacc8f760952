"""The Stop control of the live views: a button that works while its cell is still running.

A widget's click reaches the kernel as a comm message on the shell channel,
and a kernel busy with a cell reads that channel only when the cell ends
(measured with JupyterLab 4.6, ipykernel 7.4 and ipywidgets 8.1: a click at
2 s was handled at 20 s). So the button of a running cell does not talk to
the kernel at all: it asks the Jupyter server to interrupt the kernel, the
request the toolbar's ■ sends (``POST /api/kernels/<id>/interrupt``, with
the ``_xsrf`` cookie as JupyterLab's ``ServerConnection`` sends it). The
kernel then gets SIGINT like for ■, the runner closes the stream and the
cell ends as interrupted.

The button is plain HTML in an ``HTML`` widget, whose view sets
``innerHTML`` (ipywidgets 8.1 ``HTMLView.update``): its ``onclick``
attribute runs in the page, in JupyterLab and Notebook 7 alike, without a
front-end extension to build or install. The page's ``jupyter-config-data``
gives the server's base URL (and its token, when the page has one). The
kernel id comes from the kernel's connection file, which a Jupyter server
names ``kernel-<id>.json``; without one there is no button (the toolbar's
■ still works).

A ``--bg`` run's cell has returned, so the kernel reads comm messages
again: its button is an ordinary ``Button`` whose click sets the run's stop
event, which stops that run alone.
"""

from __future__ import annotations

import html
import os
import re
import threading
from typing import Any

#: Runs in the page when the button is clicked; KERNEL is replaced by the kernel id.
INTERRUPT_JS = """(async (button) => {
  button.disabled = true;
  button.textContent = 'Stopping…';
  const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
  const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
  const headers = {};
  if (xsrf) headers['X-XSRFToken'] = decodeURIComponent(xsrf);
  if (config.token) headers['Authorization'] = 'token ' + config.token;
  const url = config.baseUrl + 'api/kernels/KERNEL/interrupt';
  const reply = await fetch(url, {method: 'POST', headers, credentials: 'same-origin'});
  if (!reply.ok) button.textContent = 'Stop failed (' + reply.status + '): use ■';
})(this)"""

STYLE = (
    "padding:0 0.8em;border:1px solid var(--jp-border-color1,#999);border-radius:2px;"
    "background:var(--jp-layout-color1,#fff);color:var(--jp-ui-font-color1,#000);cursor:pointer"
)


def kernel_id() -> str | None:
    """The id a Jupyter server knows this kernel by, or None outside a server's kernel."""
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
    except (ImportError, RuntimeError, AttributeError):
        return None
    found = re.fullmatch(r"kernel-([0-9A-Za-z-]+)\.json", name)
    return found.group(1) if found else None


def interrupt_button_html(kernel: str) -> str:
    """The button that asks the server to interrupt ``kernel``."""
    script = html.escape(INTERRUPT_JS.replace("KERNEL", kernel), quote=True)
    return (
        f'<button class="glm-stop" title="Stop: interrupt the kernel, keep what arrived" '
        f'style="{STYLE}" onclick="{script}">■ Stop</button>'
    )


def stop_widget(layout: Any, stop: threading.Event | None = None) -> Any:
    """The Stop control, or None when this kernel cannot be stopped from the page.

    With ``stop`` (a ``--bg`` run), a ``Button`` that sets it; otherwise an
    ``HTML`` button that interrupts the kernel through the server.
    """
    import ipywidgets as w

    if stop is not None:
        button = w.Button(description="■ Stop", tooltip="Stop this background run", layout=layout)
        button.on_click(lambda _: stop.set())
        return button
    kernel = kernel_id()
    if kernel is None:
        return None
    return w.HTML(interrupt_button_html(kernel), layout=layout)
