"""Shared fixtures: a real InteractiveShell with the extension, pointed at glm_magic.testing.

The fake provider comes from our own pytest plugin (the ``glm_server``
fixture, registered as a ``pytest11`` entry point), exactly as users get it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from IPython.core.interactiveshell import InteractiveShell

from glm_magic.runner import forget_served_models
from glm_magic.settings import session_key
from glm_magic.testing.kernel import KernelSession


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here and in the processes the tests start.

    A shell starts background jobs (``pytest &``, some CI runners) with SIGINT
    ignored, and children inherit that; the interrupt tests would then test
    nothing.
    """
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session", autouse=True)
def private_store(tmp_path_factory) -> Iterator[None]:
    """Tests never write to the user's real store: GLM_MAGIC_HOME is a temporary folder.

    Set in ``os.environ``, so the kernels the tests start inherit it too.
    """
    before = os.environ.get("GLM_MAGIC_HOME")
    os.environ["GLM_MAGIC_HOME"] = str(tmp_path_factory.mktemp("glm-magic-home"))
    os.environ.pop("GLM_MAGIC_LOG", None)
    yield
    if before is None:
        del os.environ["GLM_MAGIC_HOME"]
    else:
        os.environ["GLM_MAGIC_HOME"] = before


@pytest.fixture
def store_home(tmp_path, monkeypatch):
    """A fresh, empty store of its own for one test; the folder it lives in."""
    home = tmp_path / "home"
    monkeypatch.setenv("GLM_MAGIC_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "glm_magic")
    return shell


@pytest.fixture
def ip(shell, glm_server, monkeypatch):
    """The shell, talking to a fresh fake DashScope, with fast retries."""
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", glm_server.base_url)
    monkeypatch.setenv("GLM_MAGIC_API_KEY", glm_server.api_key)
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("GLM_MAGIC_MODEL", raising=False)
    magics = shell.magics_manager.registry["GLMMagics"]
    magics.retry_backoff = 0.01
    magics.display = "auto"
    magics.model = ""
    magics.base_url = ""
    magics.log = True
    magics.cache = False
    magics.prices = {}
    magics.provider = ""
    monkeypatch.delenv("GLM_MAGIC_PROVIDER", raising=False)
    session_key.value = None
    forget_served_models()
    yield shell
    for name in [n for n in shell.user_ns if n.startswith("_glm") or n.startswith("r_")]:
        del shell.user_ns[name]


@pytest.fixture
def on_provider(ip, glm_provider, monkeypatch):
    """The shell pointed at ``glm_provider`` (a fake in some dialect), that provider chosen."""
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", glm_provider.base_url)
    monkeypatch.setenv("GLM_MAGIC_PROVIDER", glm_provider.dialect.name)
    return glm_provider


def run(shell: InteractiveShell, source: str):
    """Run a cell as a user would; returns IPython's ExecutionResult."""
    return shell.run_cell(source, store_history=True)


@pytest.fixture(scope="module")
def kernel(glm_server_session):
    """A real ipykernel with the extension loaded, talking to the session's fake provider."""
    env = {
        "GLM_MAGIC_BASE_URL": glm_server_session.base_url,
        "GLM_MAGIC_API_KEY": glm_server_session.api_key,
    }
    with KernelSession(env) as session:
        assert session.execute("%load_ext glm_magic").ok
        yield session


@contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Press Ctrl-C (a real SIGINT to the main thread) ``seconds`` into the block."""
    main = threading.main_thread().ident
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


BLOCKER = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Blocked())
"""


def python_without(blocked: tuple[str, ...], code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where the ``blocked`` packages cannot be imported,
    as on a machine that never installed them; ``env`` is added to the environment."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=set(blocked)) + code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
