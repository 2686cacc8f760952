"""Pytest fixtures for testing code that talks to GLM on DashScope.

Registered as the ``glm_magic`` pytest11 plugin, so installing glm-magic makes
the fixtures available in any test suite:

.. code-block:: python

    def test_my_notebook_helper(glm_server):
        glm_server.queue(Reply(thinking="...", answer="42"))
        client = openai.OpenAI(base_url=glm_server.base_url, api_key=glm_server.api_key)
        ...

``glm_provider`` is the same for any dialect: parametrize it indirectly,

.. code-block:: python

    @pytest.mark.parametrize("glm_provider", ["zhipu", "vllm"], indirect=True)
    def test_both(glm_provider): ...

One server is started per test session (per dialect) (binding a port and a thread per test
would cost more than the tests themselves); each test gets it reset: empty
queue, no recorded requests, zeroed counters, ``default_latency`` back to 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeDashScope, FakeProvider


@pytest.fixture(scope="session")
def glm_server_session() -> Iterator[FakeDashScope]:
    """The session's shared server. Prefer ``glm_server``, which resets it per test."""
    with FakeDashScope() as server:
        yield server


@pytest.fixture
def glm_server(glm_server_session: FakeDashScope) -> Iterator[FakeDashScope]:
    """A started ``FakeDashScope`` with a clean queue, request log and counters."""
    glm_server_session.reset()
    yield glm_server_session
    glm_server_session.reset()


@pytest.fixture
def glm_env(glm_server: FakeDashScope, monkeypatch: pytest.MonkeyPatch) -> FakeDashScope:
    """``glm_server``, with ``GLM_MAGIC_BASE_URL`` and ``GLM_MAGIC_API_KEY`` pointing at it."""
    monkeypatch.setenv("GLM_MAGIC_BASE_URL", glm_server.base_url)
    monkeypatch.setenv("GLM_MAGIC_API_KEY", glm_server.api_key)
    return glm_server


@pytest.fixture(scope="session")
def glm_providers_session() -> Iterator[dict[str, FakeProvider]]:
    """The session's servers by dialect, started on first use. Prefer ``glm_provider``."""
    servers: dict[str, FakeProvider] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def glm_provider(
    glm_providers_session: dict[str, FakeProvider], request: pytest.FixtureRequest
) -> Iterator[FakeProvider]:
    """A started ``FakeProvider`` in the dialect given as the (indirect) parameter,
    default ``"dashscope"``, reset like ``glm_server``."""
    name = getattr(request, "param", "dashscope")
    server = glm_providers_session.get(name)
    if server is None:
        server = glm_providers_session[name] = FakeProvider(dialect=name).start()
    server.reset()
    yield server
    server.reset()
