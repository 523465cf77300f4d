"""Run the vendor simulator in a child process.

In one process the simulator and the searches share the GIL, which halves
the demo's throughput on two cores. The child reads simulated time from a
SharedClock, and faults are switched through the simulator's HTTP control
endpoint, so the parent needs no shared objects beyond the clock.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from vendors.simulator.profiles import load_profiles
from vendors.simulator.server import SimulatorServer
from waterfall.clock import SharedClock
from waterfall.logging import configure_logging

START_TIMEOUT_S = 30.0


def _serve(
    profiles_path: str,
    seed: int,
    clock: SharedClock,
    latency_scale: float,
    hang_s: float | None,
    ports: Any,
    stop: Any,
) -> None:
    # The child's routine events would interleave with the parent's progress.
    configure_logging("WARNING")
    profiles = load_profiles(profiles_path)
    if hang_s is not None:
        profiles = {name: replace(p, hang_s=hang_s) for name, p in profiles.items()}
    with SimulatorServer(profiles, seed, clock, latency_scale) as server:
        ports.put(server.port)
        stop.wait()


class SimulatorProcess:
    """The simulator on 127.0.0.1 in a child process; a context manager."""

    def __init__(
        self,
        profiles_path: Path,
        seed: int,
        clock: SharedClock,
        latency_scale: float = 1.0,
        hang_s: float | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve,
            args=(
                str(profiles_path),
                seed,
                clock,
                latency_scale,
                hang_s,
                self._ports,
                self._stop,
            ),
            name="vendor-simulator",
            daemon=True,
        )
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the running simulator."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SimulatorProcess:
        """Start the child and wait until it serves."""
        self._process.start()
        self.port = self._ports.get(timeout=START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """Stop the child; kill it if it does not exit in time."""
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def set_fault(self, vendor: str, mode: str | None, rate: float = 1.0) -> None:
        """Inject a fault into `rate` of a vendor's calls; mode None clears it."""
        response = httpx.post(
            f"{self.base_url}/_control/faults/{vendor}",
            json={"mode": mode, "rate": rate},
        )
        response.raise_for_status()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
