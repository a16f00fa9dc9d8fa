"""`mds serve --workers N`: N uvicorn processes, each listening on a SO_REUSEPORT socket of its own.

uvicorn's multi-process mode shares one listening socket, and the process that wakes first
accepts every pending connection: eight keep-alive clients mostly ended up on one process while
the other idled (bench/api.py). With a listener per process the kernel spreads connections over
them. The sockets are also made with IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted
connections; uvicorn's shared socket leaves the protocol at 0, and Nagle's algorithm then delays
each keep-alive response by ~40 ms on a plain asyncio loop (uvicorn issue #3149).
"""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from mds.observability import MULTIPROCESS_DIR


def run(app: str, workers: int, **options: Any) -> None:
    """`uvicorn.run(app, **options)`, with one listener per worker process when workers > 1."""
    if workers <= 1:
        uvicorn.run(app, **options)
        return
    config = uvicorn.Config(app, workers=workers, **options)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        # Bound here (so a taken port fails at once) but never listening: only the workers'
        # sockets accept, or the kernel would hand connections to a socket nobody serves.
        parent = _listener(family, (config.host, config.port))
    except OSError as exc:
        raise SystemExit(f"cannot bind {config.host}:{config.port}: {exc.strerror}") from None
    # Each worker counts its metrics into files here and `/metrics` sums them; a directory of
    # its own per run, since files left by an earlier run would be counted again.
    with tempfile.TemporaryDirectory(prefix="mds-metrics-") as metrics_dir:
        os.environ[MULTIPROCESS_DIR] = metrics_dir
        # uvicorn's supervisor pickles the socket into each worker it starts or restarts.
        Multiprocess(config, sockets=[parent]).run()


class _ReusePortSocket(socket.socket):
    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickled in the worker as a new socket on the same address, not a shared descriptor.
        return (_listener, (self.family, self.getsockname()[:2]))


def _listener(family: int, address: tuple[str, int]) -> socket.socket:
    sock = _ReusePortSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock
