"""A local fake of the GLM providers for testing code that calls GLM.

``FakeDashScope`` is a real HTTP server on 127.0.0.1 that speaks Alibaba Cloud
Model Studio's compatible-mode wire format, so the official ``openai`` SDK can
be pointed at it unchanged; ``FakeProvider(dialect=...)`` speaks Zhipu's,
Z.ai's, OpenRouter's or vLLM's instead. Standard library only; importing this
package does not import ``openai``. Run ``python -m glm_magic.testing`` to
serve it from a terminal, or use the ``glm_server`` pytest fixture
(``glm_provider`` for the other dialects).
"""

from .dialects import DIALECTS
from .server import (
    Canned,
    FakeDashScope,
    FakeProvider,
    Fault,
    RecordedRequest,
    Reply,
    default_reply,
)

__all__ = [
    "DIALECTS",
    "Canned",
    "FakeDashScope",
    "FakeProvider",
    "Fault",
    "RecordedRequest",
    "Reply",
    "default_reply",
]
