"""A local fake of Alibaba Cloud Model Studio (DashScope) for testing code that calls GLM.

``FakeDashScope`` is a real HTTP server on 127.0.0.1 that speaks the
compatible-mode wire format, so the official ``openai`` SDK can be pointed at
it unchanged. Standard library only; importing this package does not import
``openai``. Run ``python -m glm_magic.testing`` to serve it from a terminal, or
use the ``glm_server`` pytest fixture.
"""

from .server import FakeDashScope, Fault, RecordedRequest, Reply, default_reply

__all__ = ["FakeDashScope", "Fault", "RecordedRequest", "Reply", "default_reply"]
