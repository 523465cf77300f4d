"""Deterministic hash routing of subjects to the two waterfall configs."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from waterfall.errors import InvalidRequestError

STANDARD = "standard"
OPTIMIZED = "optimized"

# 2**64 buckets mapped onto [0, 100): fine enough that any percentage with two
# decimals splits subjects exactly as requested, up to hash uniformity.
_HASH_SPACE = float(2**64)


def bucket(salt: str, subject_id: str) -> float:
    """Map (salt, subject id) to a stable number in [0, 100).

    blake2b is keyed by the salt, so two rollouts with different names assign
    subjects independently. Unlike the built-in hash(), it gives the same value
    in every process and Python version.
    """
    digest = hashlib.blake2b(
        subject_id.encode(), digest_size=8, key=salt.encode()[:64]
    ).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE * 100.0


MAX_SUBJECT_CHARS = 128  # the width of search_executions.subject_id


def normalise_subject(subject_id: str) -> str:
    """Return the subject id in Unicode NFC, rejecting ids that cannot be routed.

    NFC makes the same id typed on two systems ("José" precomposed or with a
    combining accent) land in the same bucket.
    """
    normalised = unicodedata.normalize("NFC", subject_id.strip())
    if not normalised:
        raise InvalidRequestError("subject id is empty: pass the user or session id")
    if len(normalised) > MAX_SUBJECT_CHARS:
        raise InvalidRequestError(
            f"subject id has {len(normalised)} characters; the maximum is "
            f"{MAX_SUBJECT_CHARS}: pass the user or session id, not free text"
        )
    try:
        normalised.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            "subject id is not valid UTF-8 text: check the terminal's encoding"
        ) from exc
    return normalised


@dataclass(frozen=True)
class RouteDecision:
    """The config a subject is routed to, with the reason."""

    subject_id: str
    bucket: float
    percentage: float
    config_name: str
    reason: str


def route(salt: str, subject_id: str, percentage: float) -> RouteDecision:
    """Put the subject on "optimized" when its bucket is below the percentage.

    Raising the percentage only adds subjects: a bucket below p stays below
    any larger p, so no subject moves back to "standard".
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
