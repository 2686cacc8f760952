"""``%glm doctor`` and ``glm-magic doctor``: what stands between this set-up and a reply.

Each check ends ``ok``, ``warn``, ``FAIL`` or ``?`` (cannot tell from here)
and, when it is not ok, says what to do. The endpoint is asked once, with
``GET /models`` (no retries, nothing billed); a 401 from a DashScope region is
tried against the other regions with the same key, since a key works in the
region it was made in only, and the user is told which endpoint takes it.
The widget check looks at what is installed in this environment: the front
end may run in another one, and then it can only say so.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import __version__
from .errors import GLMUsageError, mask_key
from .settings import key_source

if TYPE_CHECKING:
    from .events import StreamError
    from .providers import Provider
    from .settings import Settings

#: DashScope's regional endpoints. "The API keys for the Singapore and Beijing regions
#: are different": https://www.alibabacloud.com/help/en/model-studio/model-calling-in-sub-workspace
#: (read 2026-12-01); the regions and hosts: https://help.aliyun.com/en/model-studio/regions/
#: and https://help.aliyun.com/en/model-studio/glm (read 2026-12-01).
DASHSCOPE_REGIONS = {
    "China (Beijing)": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "Singapore": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "US (Virginia)": "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
}
#: Seconds the endpoint has to answer: a check, not a request worth waiting for.
TIMEOUT = 10.0
LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "unknown": "?"}


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, warn, fail or unknown; ``fix`` says what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""


def diagnose(
    settings: Settings, *, regions: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> list[Check]:
    """Every check for ``settings``; ``regions`` (name: base URL) are where else a refused
    key is tried (default: the other DashScope regions when the base URL is one of them)."""
    if regions is None:
        regions = DASHSCOPE_REGIONS if settings.base_url in DASHSCOPE_REGIONS.values() else {}
    key_check, key = _key(settings)
    return [key_check, *_endpoint(settings, key, regions, timeout), _widgets()]


def report(settings: Settings, checks: list[Check]) -> str:
    """The checks as aligned text, each failure followed by its fix."""
    versions = ", ".join(f"{n} {_version(n) or 'missing'}" for n in ("openai", "ipywidgets"))
    lines = [
        f"glm-magic {__version__} doctor (Python {platform.python_version()}, {versions})",
        f"provider {settings.provider.name}, endpoint {settings.base_url}, "
        f"model {settings.model or '(the first the server lists)'}",
        "",
    ]
    width = max(len(c.name) for c in checks)
    for check in checks:
        lines.append(f"{LABELS[check.status]:<5} {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<5} {'':<{width}}  -> {check.fix}")
    problems = sum(c.status == "fail" for c in checks)
    things = "1 thing" if problems == 1 else f"{problems} things"
    lines += ["", f"{things} to fix (see -> above)." if problems else "All good."]
    return "\n".join(lines)


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def _key(settings: Settings) -> tuple[Check, str | None]:
    provider = settings.provider
    source, key = key_source(provider)
    if not key and not provider.key_required:
        return Check("API key", "ok", f"none set; {provider.title} needs none"), settings.api_key()
    if not key:
        fix = (
            f"export {provider.key_variable}=... (or GLM_MAGIC_API_KEY) before starting "
            "Jupyter, or run %glm key in the notebook."
        )
        return Check("API key", "fail", "not set", fix), None
    try:
        settings.api_key()
    except GLMUsageError as exc:
        return Check("API key", "fail", f"{mask_key(key)} from {source}", str(exc)), None
    return Check("API key", "ok", f"{mask_key(key)} from {source}"), key


def _endpoint(
    settings: Settings, key: str | None, regions: dict[str, str], timeout: float
) -> list[Check]:
    url = f"{settings.base_url.rstrip('/')}/models"
    if key is None:
        return [Check("endpoint", "unknown", f"{url} not asked: no usable key")]
    ids, error = _listed(settings.base_url, key, settings.provider, timeout)
    if error is None:
        assert ids is not None
        found = Check("endpoint", "ok", f"{url} answers and takes the key ({len(ids)} models)")
        if not settings.model or settings.model in ids:
            return [found, Check("model", "ok", f"{settings.model} is listed")]
        fix = "%glm models lists what it serves; choose one with -m or %config GLMMagics.model."
        return [found, Check("model", "warn", f"{settings.model} is not listed there", fix)]
    if error.status in (401, 403):
        return [_refused(url, error, key, settings, regions, timeout)]
    if error.status == 404:
        fix = (
            "Check that the base URL is the API root (for DashScope it ends in "
            "/compatible-mode/v1); if it is, a small %%glm cell will test the key."
        )
        return [Check("endpoint", "warn", f"{url}: HTTP 404, no model list here", fix)]
    if error.status is not None:
        fix = "Try again in a minute; if it persists, the provider's status page will say why."
        return [Check("endpoint", "warn", f"{url}: {error.describe()}", fix)]
    fix = (
        "Check the base URL (GLM_MAGIC_BASE_URL or %config GLMMagics.base_url) and that this "
        "machine can reach it (network, VPN, HTTPS_PROXY)."
    )
    return [Check("endpoint", "fail", f"{url} did not answer: {error.message}", fix)]


def _refused(
    url: str,
    error: StreamError,
    key: str,
    settings: Settings,
    regions: dict[str, str],
    timeout: float,
) -> Check:
    """A refused key; the region whose endpoint takes it, if there is one."""
    base_url = settings.base_url
    detail = f"{url} refused the key: {error.describe()}"
    for region, other in regions.items():
        if other.rstrip("/") == base_url.rstrip("/"):
            continue
        ids, other_error = _listed(other, key, settings.provider, timeout)
        if other_error is None:
            fix = (
                f"This key is from the {region} region, whose endpoint is {other}: "
                f"export GLM_MAGIC_BASE_URL={other} (or %config GLMMagics.base_url = "
                f"'{other}'), or make a key in the region of {urlsplit(base_url).hostname}."
            )
            return Check("endpoint", "fail", detail, fix)
    tried = f" (also refused by {', '.join(r for r in regions)})" if regions else ""
    fix = (
        f"Copy the key again from the provider's console{tried}; a key works only in the "
        "region (and workspace) it was created in."
    )
    return Check("endpoint", "fail", detail, fix)


def _listed(
    base_url: str, key: str, provider: Provider, timeout: float
) -> tuple[list[str] | None, StreamError | None]:
    from .client import Client

    client = Client(base_url, key, timeout=timeout)
    try:
        return client.listed_models(provider)
    finally:
        client.close()


def _widgets() -> Check:
    """ipywidgets here, and the JupyterLab extension that draws them where that can be seen."""
    widgets, lab, extension = map(_version, ("ipywidgets", "jupyterlab", "jupyterlab_widgets"))
    if widgets is None:
        fix = "pip install ipywidgets (meanwhile replies stream as plain text)."
        return Check("widgets", "fail", "ipywidgets is not installed", fix)
    if extension is not None and int(extension.split(".")[0]) < 3:
        fix = "pip install -U 'jupyterlab_widgets>=3' where JupyterLab runs, then reload the page."
        detail = f"ipywidgets {widgets} needs jupyterlab_widgets 3, found {extension}"
        return Check("widgets", "fail", detail, fix)
    if extension is not None:
        where = f"JupyterLab {lab} here" if lab else "for JupyterLab / Notebook 7"
        detail = f"ipywidgets {widgets}, jupyterlab_widgets {extension} ({where})"
        return Check("widgets", "ok", detail)
    if lab is not None:
        fix = "pip install jupyterlab_widgets in this environment, then restart JupyterLab."
        detail = f"JupyterLab {lab} is here without jupyterlab_widgets: widgets will not draw"
        return Check("widgets", "fail", detail, fix)
    fix = (
        "If widgets do not draw, install jupyterlab_widgets where JupyterLab or Notebook runs "
        "(VS Code brings its own), or use %config GLMMagics.display = 'text'."
    )
    return Check("widgets", "unknown", f"ipywidgets {widgets}; the front end is elsewhere", fix)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
