"""Simulated vendor behaviour, loaded and validated from YAML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from waterfall.errors import ConfigError

WIRES = ("vendor_d", "vendor_b", "vendor_a", "vendor_c", "cognism", "vendor_e")
ERROR_KINDS = ("server_error", "rate_limited", "malformed", "timeout")


@dataclass(frozen=True)
class Staleness:
    """Gamma distribution of days since a record was last verified."""

    mean_days: float
    shape: float

    @property
    def scale_days(self) -> float:
        """Gamma scale parameter theta, so that mean = shape * theta."""
        return self.mean_days / self.shape


@dataclass(frozen=True)
class Latency:
    """Lognormal distribution of response time, fixed by its median and p95."""

    median_ms: float
    p95_ms: float

    @property
    def sigma(self) -> float:
        """Lognormal sigma; 1.6449 is the standard normal 95th percentile."""
        return math.log(self.p95_ms / self.median_ms) / 1.6448536269514722


@dataclass(frozen=True)
class ContactDecay:
    """Probabilities that a contact point is bad, for decayed and fresh records."""

    decayed: float
    fresh: float

    def rate(self, decay_rate: float) -> float:
        """Return the share of bad contact points over all records."""
        return decay_rate * self.decayed + (1.0 - decay_rate) * self.fresh


@dataclass(frozen=True)
class VendorProfile:
    """Behaviour of one simulated vendor: coverage, data quality, latency, errors."""

    name: str
    wire: str
    hit_rate: float
    phone_coverage: float
    decay_rate: float
    email_bounce: ContactDecay
    phone_invalid: ContactDecay
    staleness: Staleness
    latency: Latency
    error_rates: dict[str, float] = field(default_factory=dict)
    hang_s: float = 3.0

    @property
    def error_rate(self) -> float:
        """Return the share of calls that fail on their own, without a fault."""
        return sum(self.error_rates.values())


class _Problems:
    """Collects every validation problem so one run reports them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, vendor: str, field_name: str, value: object, fix: str) -> None:
        """Record one invalid value with the fix."""
        self.lines.append(
            f"vendor '{vendor}': {field_name}={value!r} is invalid; {fix}"
        )

    def raise_if_any(self) -> None:
        """Raise ConfigError listing every problem, if there is one."""
        if self.lines:
            body = "\n".join(f"  - {line}" for line in self.lines)
            raise ConfigError(f"{len(self.lines)} problem(s) in {self.path}:\n{body}")


def _number(
    problems: _Problems,
    vendor: str,
    raw: dict[str, Any],
    key: str,
    low: float,
    high: float,
    default: float | None = None,
) -> float:
    """Read raw[key] as a number in [low, high], recording a problem otherwise."""
    value = raw.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not low <= float(value) <= high:  # type: ignore[arg-type]
        problems.add(vendor, key, value, f"set a number from {low} to {high}")
        return low if default is None else default
    return float(value)  # type: ignore[arg-type]


def _section(problems: _Problems, vendor: str, raw: dict, key: str) -> dict:
    """Return the mapping raw[key], recording a problem when it is not a mapping."""
    value = raw.get(key)
    if not isinstance(value, dict):
        problems.add(vendor, key, value, "set a mapping (see the other vendors)")
        return {}
    return value


def _decay(problems: _Problems, vendor: str, raw: dict, key: str) -> ContactDecay:
    section = _section(problems, vendor, raw, key)
    return ContactDecay(
        decayed=_number(problems, vendor, section, "decayed", 0.0, 1.0),
        fresh=_number(problems, vendor, section, "fresh", 0.0, 1.0),
    )


def _staleness(problems: _Problems, vendor: str, raw: dict) -> Staleness:
    section = _section(problems, vendor, raw, "staleness")
    return Staleness(
        mean_days=_number(problems, vendor, section, "mean_days", 0.01, 20_000.0),
        shape=_number(problems, vendor, section, "shape", 0.05, 1_000.0),
    )


def _latency(problems: _Problems, vendor: str, raw: dict) -> Latency:
    section = _section(problems, vendor, raw, "latency")
    median = _number(problems, vendor, section, "median_ms", 0.1, 60_000.0)
    p95 = _number(problems, vendor, section, "p95_ms", 0.1, 120_000.0)
    if p95 <= median:
        problems.add(vendor, "latency.p95_ms", p95, f"set it above median_ms={median}")
        p95 = median * 2
    return Latency(median_ms=median, p95_ms=p95)


def _error_rates(problems: _Problems, vendor: str, raw: dict) -> dict[str, float]:
    section = raw.get("errors", {})
    if not isinstance(section, dict):
        problems.add(vendor, "errors", section, "set a mapping of error kind to rate")
        return {}
    for kind in section:
        if kind not in ERROR_KINDS:
            problems.add(vendor, f"errors.{kind}", section[kind], f"use {ERROR_KINDS}")
    rates = {
        k: _number(problems, vendor, section, k, 0.0, 1.0, 0.0) for k in ERROR_KINDS
    }
    if sum(rates.values()) > 1.0:
        problems.add(vendor, "errors", rates, "make the rates sum to at most 1")
    return rates


def _profile(problems: _Problems, name: str, raw: object) -> VendorProfile | None:
    if not isinstance(raw, dict):
        problems.add(name, "(profile)", raw, "set a mapping of profile fields")
        return None
    wire = raw.get("wire")
    if wire not in WIRES:
        problems.add(name, "wire", wire, f"use one of {', '.join(WIRES)}")
    return VendorProfile(
        name=name,
        wire=str(wire),
        hit_rate=_number(problems, name, raw, "hit_rate", 0.0, 1.0),
        phone_coverage=_number(problems, name, raw, "phone_coverage", 0.0, 1.0),
        decay_rate=_number(problems, name, raw, "decay_rate", 0.0, 1.0),
        email_bounce=_decay(problems, name, raw, "email_bounce"),
        phone_invalid=_decay(problems, name, raw, "phone_invalid"),
        staleness=_staleness(problems, name, raw),
        latency=_latency(problems, name, raw),
        error_rates=_error_rates(problems, name, raw),
        hang_s=_number(problems, name, raw, "hang_s", 0.0, 600.0, 3.0),
    )


def parse_profiles(document: object, path: Path) -> dict[str, VendorProfile]:
    """Validate a parsed YAML document and return its profiles by vendor name."""
    problems = _Problems(path)
    vendors = document.get("vendors") if isinstance(document, dict) else None
    if not isinstance(vendors, dict) or not vendors:
        problems.add("*", "vendors", vendors, "set a mapping of vendor name to profile")
        problems.raise_if_any()
    assert isinstance(vendors, dict)  # raise_if_any raised otherwise
    profiles = {}
    for name, raw in vendors.items():
        profile = _profile(problems, str(name), raw)
        if profile is not None:
            profiles[str(name)] = profile
    wires = [p.wire for p in profiles.values()]
    for wire in {w for w in wires if wires.count(w) > 1}:
        problems.add("*", "wire", wire, "give each vendor its own wire")
    problems.raise_if_any()
    return profiles


def load_profiles(path: str | Path) -> dict[str, VendorProfile]:
    """Load simulator profiles from YAML; raise ConfigError naming each bad value."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read simulator profiles {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"simulator profiles {path} are not valid YAML: {exc}"
        ) from exc
    return parse_profiles(document, path)
