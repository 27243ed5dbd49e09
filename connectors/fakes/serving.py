"""Serve an ASGI app on loopback in a thread: the local fakes, the tests and the demo
all use this. The socket is bound before uvicorn starts, so no other process can take
the port in between."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve_in_thread(
    app, lifespan: str = "on", name: str = "server", host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run `app` under uvicorn until the block ends; yields its base URL."""
    sock = bound_socket(host, port)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
