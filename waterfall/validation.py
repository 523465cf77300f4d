"""Validation of waterfall configs: every problem at once, each with its fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

from waterfall.catalog import WaterfallSpec
from waterfall.errors import ConfigProblem, ConfigValidationError


def find_problems(
    spec: WaterfallSpec,
    vendors_active: Mapping[str, bool],
    existing_names: Collection[str] = (),
    creating: bool = False,
) -> list[ConfigProblem]:
    """List every problem of a waterfall config against the vendor catalog.

    vendors_active maps each known vendor name to whether it is active.
    existing_names matters only when creating: a new config needs a new name.
    """
    problems: list[ConfigProblem] = []
    if creating and spec.name in existing_names:
        problems.append(
            ConfigProblem(
                spec.name,
                "config_name",
                spec.name,
                "a config with this name exists",
                "choose another name, or update the existing config",
            )
        )
    if not spec.entries:
        problems.append(
            ConfigProblem(
                spec.name,
                "vendors",
                [],
                "the config has no vendors",
                "list at least one vendor",
            )
        )
    problems += _position_problems(spec)
    problems += _vendor_problems(spec, vendors_active)
    return problems


def _position_problems(spec: WaterfallSpec) -> list[ConfigProblem]:
    problems = []
    positions = [entry.position for entry in spec.entries]
    for position, count in sorted(Counter(positions).items()):
        if count > 1:
            problems.append(
                ConfigProblem(
                    spec.name,
                    "position",
                    position,
                    f"position {position} is used {count} times",
                    "give each vendor its own position",
                )
            )
    for position in sorted(p for p in set(positions) if p < 1):
        problems.append(
            ConfigProblem(
                spec.name,
                "position",
                position,
                "positions start at 1",
                "number positions 1..N",
            )
        )
    expected = set(range(1, len(set(positions)) + 1))
    for position in sorted(expected - set(positions)):
        problems.append(
            ConfigProblem(
                spec.name,
                "position",
                position,
                f"position {position} is missing",
                f"positions must run 1..{len(expected)} without gaps",
            )
        )
    return problems


def _vendor_problems(
    spec: WaterfallSpec, vendors_active: Mapping[str, bool]
) -> list[ConfigProblem]:
    problems = []
    known = ", ".join(sorted(vendors_active)) or "none"
    for vendor, count in Counter(entry.vendor for entry in spec.entries).items():
        if count > 1:
            problems.append(
                ConfigProblem(
                    spec.name,
                    "vendor",
                    vendor,
                    f"vendor appears {count} times",
                    "list each vendor once",
                )
            )
    for entry in spec.entries:
        if entry.vendor not in vendors_active:
            problems.append(
                ConfigProblem(
                    spec.name,
                    f"position {entry.position}",
                    entry.vendor,
                    "vendor not found in the catalog",
                    f"use one of: {known}, or add it to config/vendors.yaml",
                )
            )
        elif not vendors_active[entry.vendor]:
            problems.append(
                ConfigProblem(
                    spec.name,
                    f"position {entry.position}",
                    entry.vendor,
                    "vendor is inactive",
                    "activate the vendor or remove it from the config",
                )
            )
    return problems


def validate(
    spec: WaterfallSpec,
    vendors_active: Mapping[str, bool],
    existing_names: Collection[str] = (),
    creating: bool = False,
) -> None:
    """Raise ConfigValidationError listing every problem, if there is any."""
    problems = find_problems(spec, vendors_active, existing_names, creating)
    if problems:
        raise ConfigValidationError(problems)
