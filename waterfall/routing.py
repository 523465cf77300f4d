"""Deterministic hash routing of subjects to the two waterfall configs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

STANDARD = "standard"
OPTIMIZED = "optimized"

# 2**64 buckets mapped onto [0, 100): fine enough that any percentage with two
# decimals splits subjects exactly as requested, up to hash uniformity.
_HASH_SPACE = float(2**64)


def bucket(salt: str, subject_id: str) -> float:
    """Map (salt, subject id) to a stable number in [0, 100).

    blake2b is keyed by the salt, so two rollouts with different names assign
    subjects independently; it is stable across processes and Python versions,
    unlike the built-in hash().
    """
    digest = hashlib.blake2b(
        subject_id.encode(), digest_size=8, key=salt.encode()[:64]
    ).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE * 100.0


@dataclass(frozen=True)
class RouteDecision:
    """Which config a subject gets, and why."""

    subject_id: str
    bucket: float
    percentage: float
    config_name: str
    reason: str


def route(salt: str, subject_id: str, percentage: float) -> RouteDecision:
    """Put the subject on "optimized" when its bucket is below the percentage.

    Raising the percentage only adds subjects: a bucket below p stays below
    any larger p, so nobody moves back to "standard".
    """
    if not 0 <= percentage <= 100:
        raise ValueError(f"rollout percentage {percentage} is outside 0..100")
    subject_bucket = bucket(salt, subject_id)
    if subject_bucket < percentage:
        config, reason = (
            OPTIMIZED,
            f"bucket {subject_bucket:.2f} < rollout {percentage:g}%",
        )
    else:
        config, reason = (
            STANDARD,
            f"bucket {subject_bucket:.2f} >= rollout {percentage:g}%",
        )
    return RouteDecision(subject_id, subject_bucket, percentage, config, reason)
