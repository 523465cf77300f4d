"""Run the simulator app with uvicorn, in a background thread or in the foreground."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from vendors.simulator.app import FaultBoard, create_app
from vendors.simulator.profiles import VendorProfile, load_profiles
from waterfall.background_server import BackgroundServer
from waterfall.clock import Clock, SystemClock
from waterfall.logging import get_logger

log = get_logger("vendors.simulator.server")

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
        self._server = BackgroundServer(
            self.app,
            "simulator",
            host,
            port,
            graceful_shutdown_s=GRACEFUL_SHUTDOWN_S,
        )

    @property
    def host(self) -> str:
        """Interface the server listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """Port the server listens on (the chosen one after start with port 0)."""
        return self._server.port

    @property
    def base_url(self) -> str:
        """Root URL of the running server, e.g. http://127.0.0.1:54321."""
        return self._server.base_url

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
        """Start uvicorn on a background thread and wait until it accepts requests."""
        self.app.state.simulator.stopping = False
        self._server.start()
        log.info("simulator.started", url=self.base_url, seed=self.seed)
        return self

    def stop(self) -> None:
        """Stop uvicorn; requests still hanging on a timeout fault are cut off."""
        self.app.state.simulator.stopping = True
        self._server.stop()
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
