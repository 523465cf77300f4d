"""A local HTTP simulator of the six contact-data vendors and the ESP feedback."""

from vendors.simulator.app import FAULT_MODES, create_app
from vendors.simulator.profiles import VendorProfile, load_profiles
from vendors.simulator.server import SimulatorServer, run_simulator

__all__ = [
    "FAULT_MODES",
    "SimulatorServer",
    "VendorProfile",
    "create_app",
    "load_profiles",
    "run_simulator",
]
