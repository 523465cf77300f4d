"""Load the YAML files in config/: vendor catalog, waterfalls and rollout plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vendors.wire import WIRES
from waterfall.errors import ConfigError, ConfigProblem, ConfigValidationError


@dataclass(frozen=True)
class VendorSpec:
    """A vendor as the catalog describes it."""

    name: str
    base_url: str
    wire: str
    cost_per_call: float
    timeout_s: float
    is_active: bool = True


@dataclass(frozen=True)
class WaterfallEntry:
    """One position of a waterfall definition as written in a file."""

    position: int
    vendor: str


@dataclass(frozen=True)
class WaterfallSpec:
    """A named waterfall: vendors by position."""

    name: str
    entries: tuple[WaterfallEntry, ...]

    @property
    def vendor_names(self) -> list[str]:
        return [
            entry.vendor for entry in sorted(self.entries, key=lambda e: e.position)
        ]


MAX_CONFIG_BYTES = (
    1_000_000  # config files are hand-written; anything larger is a mistake
)


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that rejects anchors and aliases.

    Hand-written config has no use for them, and a few nested aliases can
    expand to gigabytes (the "billion laughs" pattern).
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1
            raise yaml.YAMLError(f"YAML aliases are not allowed (alias at line {line})")
        return super().compose_node(parent, index)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, naming the file in any error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found: check the path") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config path {path} is a folder: pass a YAML file") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} has {len(raw):,} bytes; the maximum is "
            f"{MAX_CONFIG_BYTES:,}: split it or check that it is the right file"
        )
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping at the top level")
    return data


def load_vendor_catalog(path: Path) -> list[VendorSpec]:
    """Load config/vendors.yaml."""
    rows = read_yaml(path).get("vendors")
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: missing 'vendors' list")
    specs = []
    for index, row in enumerate(rows):
        try:
            spec = VendorSpec(**row)
        except TypeError as exc:
            raise ConfigError(f"{path}: vendors[{index}] is invalid: {exc}") from exc
        if spec.wire not in WIRES:
            raise ConfigError(
                f"{path}: vendor '{spec.name}' has unknown wire {spec.wire!r}: "
                f"use one of {', '.join(sorted(WIRES))}"
            )
        specs.append(spec)
    return specs


def parse_waterfalls(data: dict[str, Any], source: str) -> list[WaterfallSpec]:
    """Parse the 'waterfalls' list, raising ConfigValidationError on any problem."""
    specs, problems = read_waterfalls(data, source)
    if problems:
        raise ConfigValidationError(problems)
    return specs


def read_waterfalls(
    data: dict[str, Any], source: str
) -> tuple[list[WaterfallSpec], list[ConfigProblem]]:
    """Parse the 'waterfalls' list; return the configs and every structural problem.

    An entry is either a vendor name, positioned by its place in the list, or a
    mapping {position: N, vendor: NAME}, which lets a file state positions that
    validation then checks for gaps and duplicates.
    """
    rows = data.get("waterfalls")
    if not isinstance(rows, list):
        fix = "add a 'waterfalls' list of {name, vendors} mappings"
        return [], [ConfigProblem(source, "waterfalls", rows, "must be a list", fix)]
    specs: list[WaterfallSpec] = []
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        spec = _read_row(row, f"waterfalls[{index}]", problems)
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(
                ConfigProblem(
                    spec.name,
                    "name",
                    spec.name,
                    "the name is used twice in this file",
                    "give each config its own name",
                )
            )
        seen.add(spec.name)
        specs.append(spec)
    return specs, problems


def _read_row(
    row: Any, where: str, problems: list[ConfigProblem]
) -> WaterfallSpec | None:
    if not isinstance(row, dict):
        problems.append(
            ConfigProblem(
                where,
                "entry",
                row,
                "must be a mapping",
                "write it as {name: ..., vendors: [...]}",
            )
        )
        return None
    name, vendors = row.get("name"), row.get("vendors")
    if not isinstance(name, str) or not name.strip():
        problems.append(
            ConfigProblem(
                where,
                "name",
                name,
                "must be a non-empty string",
                "name the config, e.g. name: optimized",
            )
        )
        return None
    if not isinstance(vendors, list):
        problems.append(
            ConfigProblem(
                name,
                "vendors",
                vendors,
                "must be a list",
                "list the vendor names in waterfall order",
            )
        )
        return None
    entries = [
        _read_entry(name, index, item, problems)
        for index, item in enumerate(vendors, start=1)
    ]
    return WaterfallSpec(name, tuple(e for e in entries if e is not None))


def _read_entry(
    name: str, index: int, item: Any, problems: list[ConfigProblem]
) -> WaterfallEntry | None:
    if isinstance(item, str) and item.strip():
        return WaterfallEntry(index, item)
    if isinstance(item, dict):
        position, vendor = item.get("position"), item.get("vendor")
        if (
            isinstance(position, int)
            and not isinstance(position, bool)
            and (isinstance(vendor, str) and vendor.strip())
        ):
            return WaterfallEntry(position, vendor)
    problems.append(
        ConfigProblem(
            name,
            f"vendors[{index}]",
            item,
            "must be a vendor name or {position: integer, vendor: name}",
            "write the vendor's name, or an integer position and a vendor name",
        )
    )
    return None


def load_waterfalls(path: Path) -> list[WaterfallSpec]:
    """Load a waterfalls file such as config/waterfalls.yaml."""
    return parse_waterfalls(read_yaml(path), str(path))
