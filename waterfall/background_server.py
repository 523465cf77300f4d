"""Serve an ASGI app with uvicorn on a background thread, bound to a fixed host.

The vendor simulator, the Slack endpoint and the mock of Slack's Web API all
run this way in tests and in the demo.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

START_TIMEOUT_S = 5.0


class BackgroundServer:
    """One ASGI app under uvicorn on a daemon thread; port 0 picks a free port."""

    def __init__(
        self,
        app: Any,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        graceful_shutdown_s: float = 0.5,
    ) -> None:
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        self._graceful_shutdown_s = graceful_shutdown_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the running server, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._thread is not None

    def start(self) -> None:
        """Bind the socket, start uvicorn and wait until it accepts requests."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already running at {self.base_url}")
        # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections
        # (it checks sock.proto); without it, Nagle and delayed ACK add ~40 ms.
        self._socket = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=self._graceful_shutdown_s,  # type: ignore[arg-type]
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._server is not None and self._thread is not None
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not start on {self.base_url} within "
                    f"{START_TIMEOUT_S} s; see the uvicorn log above"
                )
            time.sleep(0.005)

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread and release the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
