"""Real servers on loopback for tests (the same helper the fakes and the demo use)."""

from connectors.fakes.serving import bound_socket, serve_in_thread

__all__ = ["bound_socket", "serve_in_thread"]
