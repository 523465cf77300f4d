"""Run the simulator app with uvicorn, in a background thread or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from vendors.simulator.app import FaultBoard, create_app
from vendors.simulator.profiles import VendorProfile, load_profiles
from waterfall.clock import Clock, SystemClock
from waterfall.logging import get_logger

log = get_logger("vendors.simulator.server")

START_TIMEOUT_S = 5.0
# Requests still hanging (timeout faults) are cut off after this on stop.
GRACEFUL_SHUTDOWN_S = 0.5


class SimulatorServer:
    """The vendor simulator served by uvicorn on a background thread.

    Use as a context manager, or call start() and stop(). With port=0 the
    operating system picks a free port, which `base_url` then contains.
    """

    def __init__(
        self,
        profiles: dict[str, VendorProfile],
        seed: int,
        clock: Clock,
        latency_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.profiles = profiles
        self.seed = seed
        self.app = create_app(profiles, seed, clock, latency_scale)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the running server, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> FaultBoard:
        """The server's runtime fault board."""
        return self.app.state.simulator.faults

    def set_fault(self, vendor: str, mode: str | None, rate: float = 1.0) -> None:
        """Inject a fault into `rate` of the vendor's calls; mode None clears it."""
        if vendor not in self.profiles:
            raise KeyError(
                f"vendor {vendor!r} not found; use one of {list(self.profiles)}"
            )
        self.faults.set(vendor, mode, rate)
        log.info("simulator.fault_changed", vendor=vendor, mode=mode, rate=rate)

    def clear_faults(self) -> None:
        """Remove every runtime fault."""
        self.faults.clear()

    def start(self) -> SimulatorServer:
        """Bind the socket, start uvicorn and wait until it accepts requests."""
        if self._thread is not None:
            raise RuntimeError(f"simulator already running at {self.base_url}")
        self.app.state.simulator.stopping = False
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
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,  # type: ignore[arg-type]
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()
        log.info("simulator.started", url=self.base_url, seed=self.seed)
        return self

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._server is not None and self._thread is not None
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"simulator did not start on {self.base_url} within "
                    f"{START_TIMEOUT_S} s; see the uvicorn log above"
                )
            time.sleep(0.005)

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread and release the socket."""
        self.app.state.simulator.stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        log.info("simulator.stopped", url=self.base_url)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_simulator(
    profiles_path: str | Path,
    seed: int,
    host: str = "127.0.0.1",
    port: int = 8700,
    latency_scale: float = 1.0,
) -> None:
    """Serve the simulator in the foreground until interrupted (Ctrl-C)."""
    profiles = load_profiles(profiles_path)
    app = create_app(profiles, seed, SystemClock(), latency_scale)
    log.info(
        "simulator.serving",
        url=f"http://{host}:{port}",
        seed=seed,
        vendors=list(profiles),
    )
    # No access log: request lines carry candidates' names in query strings.
    uvicorn.run(
        app, host=host, port=port, log_level="info", lifespan="off", access_log=False
    )
