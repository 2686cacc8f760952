"""Serve the fake provider from a terminal: ``python -m glm_magic.testing [--dialect NAME]``.

Handy for trying the magics in a real notebook without an API key or network:
export the two printed variables in the shell that starts Jupyter.
"""

from __future__ import annotations

import argparse
import signal
import threading

from .dialects import DIALECTS
from .server import DEFAULT_API_KEY, FakeProvider


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glm_magic.testing",
        description="Serve a fake GLM provider (DashScope unless --dialect) until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key the server accepts")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before the first byte of each answer"
    )
    parser.add_argument(
        "--dialect",
        choices=sorted(DIALECTS),
        default="dashscope",
        help="the provider to play (default dashscope)",
    )
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)

    server = FakeProvider(
        args.host,
        args.port,
        api_key=args.api_key,
        default_latency=args.latency,
        dialect=args.dialect,
    )
    server.start()
    try:
        print(f"Fake {args.dialect} serving at {server.base_url}", flush=True)
        print(f"Accepted API key: {server.api_key}", flush=True)
        print("To use it:", flush=True)
        print(f"  export GLM_MAGIC_BASE_URL={server.base_url}", flush=True)
        print(f"  export GLM_MAGIC_PROVIDER={args.dialect}", flush=True)
        print(f"  export GLM_MAGIC_API_KEY={server.api_key}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
