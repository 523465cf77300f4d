"""Load the YAML files in config/: vendor catalog, waterfalls and rollout plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from waterfall.errors import ConfigError


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


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, naming the file in any error."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found: check the path") from exc
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
            specs.append(VendorSpec(**row))
        except TypeError as exc:
            raise ConfigError(f"{path}: vendors[{index}] is invalid: {exc}") from exc
    return specs


def parse_waterfalls(data: dict[str, Any], source: str) -> list[WaterfallSpec]:
    """Parse the 'waterfalls' list; positions are implicit (list order) or explicit.

    An entry is either a vendor name, positioned by its place in the list, or a
    mapping {position: N, vendor: NAME}, which lets a file state positions that
    validation then checks for gaps and duplicates.
    """
    rows = data.get("waterfalls")
    if not isinstance(rows, list):
        raise ConfigError(f"{source}: missing 'waterfalls' list")
    specs = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or "name" not in row or "vendors" not in row:
            raise ConfigError(
                f"{source}: waterfalls[{index}] needs 'name' and 'vendors' "
                f"(a list of vendor names), got {row!r}"
            )
        specs.append(WaterfallSpec(str(row["name"]), _parse_entries(row, source)))
    return specs


def _parse_entries(row: dict[str, Any], source: str) -> tuple[WaterfallEntry, ...]:
    entries = []
    for index, item in enumerate(row["vendors"] or [], start=1):
        if isinstance(item, dict):
            try:
                entries.append(
                    WaterfallEntry(int(item["position"]), str(item["vendor"]))
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{source}: waterfall '{row['name']}' entry {item!r} needs an "
                    f"integer 'position' and a 'vendor' name"
                ) from exc
        else:
            entries.append(WaterfallEntry(index, str(item)))
    return tuple(entries)


def load_waterfalls(path: Path) -> list[WaterfallSpec]:
    """Load a waterfalls file such as config/waterfalls.yaml."""
    return parse_waterfalls(read_yaml(path), str(path))
