"""Benchmarks for glm_magic's streaming path, run side by side with the alternatives.

One command, from the repository root::

    python -m benchmarks            # the full table (a few minutes)
    python -m benchmarks --quick    # CI smoke: small streams, a few seconds

Everything runs against ``glm_magic.testing.FakeDashScope`` (a real local
HTTP server) and real ipykernel kernels driven over ZeroMQ
(``glm_magic.testing.kernel.KernelSession``), so the numbers are what a
notebook front end would receive. See ``benchmarks/RESULTS.md`` for the method
and the latest figures.
"""
