"""One run: a checked request through the client, into a view and a result.

The magic and the Python API both end here, so they behave the same. An
interrupt is caught here (wherever it lands: in the socket read or in the
view) and turned into a result that keeps the partial text.
"""

from __future__ import annotations

from .client import get_client
from .request import Options, Request, build_request
from .result import Collector, GLMResult
from .settings import Settings
from .views import View, choose_view


def run(
    request: Request, settings: Settings, view: View | None, prompt: str = "", *, keep: bool = True
) -> GLMResult:
    """Stream ``request`` into ``view``; ``keep`` leaves the static rendering in place."""
    collector = Collector(request.model, prompt)
    events = None
    try:
        client = get_client(settings.base_url, settings.api_key(), timeout=settings.timeout)
        events = client.stream(request, settings.retry)
        for event in events:
            collector.add(event)
            if view is not None:
                view.on_event(event)
    except KeyboardInterrupt:
        collector.interrupted()
    finally:
        if events is not None:
            events.close()
    result = collector.result()
    if view is not None:
        view.finish(result, keep=keep)
    return result


def complete_prompt(
    prompt: str,
    options: Options,
    settings: Settings,
    *,
    display: str | None = None,
    keep: bool = True,
) -> GLMResult:
    """Check, send and show one prompt; ``display`` overrides the settings' view mode."""
    model = options.model or settings.model
    request = build_request(prompt, model, options)
    settings.api_key()
    view = choose_view(display or settings.display, model, settings.update_interval)
    return run(request, settings, view, prompt, keep=keep)
