"""Closed-form expected metrics of the simulator's profiles, used to tune them.

The model matches vendors/simulator/app.py. A vendor has a record for a candidate
with probability hit_rate, independently of other vendors. Every call fails on
its own with probability error_rate, and an error falls through like a miss. A record
is "decayed" with probability decay_rate, and the email-bounce and phone-invalid
probabilities depend on that state, which correlates the two within a profile.
Staleness is gamma distributed and independent of decay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scipy.special import gammaincc

from vendors.simulator.profiles import VendorProfile


def stale_share(profile: VendorProfile, limit_days: float) -> float:
    """Return P(staleness > limit_days) under the vendor's gamma distribution."""
    staleness = profile.staleness
    return float(gammaincc(staleness.shape, limit_days / staleness.scale_days))


def contact_issue_share(profile: VendorProfile) -> float:
    """Return P(bounced email or invalid phone) for one returned profile."""
    coverage = profile.phone_coverage

    def bad(email_bad: float, phone_bad: float) -> float:
        return 1.0 - (1.0 - email_bad) * (1.0 - coverage * phone_bad)

    decayed = bad(profile.email_bounce.decayed, profile.phone_invalid.decayed)
    fresh = bad(profile.email_bounce.fresh, profile.phone_invalid.fresh)
    return profile.decay_rate * decayed + (1.0 - profile.decay_rate) * fresh


def vendor_metrics(profile: VendorProfile, limit_days: float = 365.0) -> dict:
    """Return the expected per-profile figures of one vendor."""
    stale = stale_share(profile, limit_days)
    issue = 1.0 - (1.0 - stale) * (1.0 - contact_issue_share(profile))
    return {
        "quality_score": 100.0 * issue,
        "staleness_days": profile.staleness.mean_days,
        "email_bounce_rate": profile.email_bounce.rate(profile.decay_rate),
        "phone_invalid_rate": profile.phone_invalid.rate(profile.decay_rate),
        "stale_share": stale,
        "answer_rate": profile.hit_rate * (1.0 - profile.error_rate),
    }


def _position_shares(profiles: Sequence[VendorProfile]) -> list[float]:
    """Return P(position i returns the first hit) for each position of the order."""
    shares = []
    reach = 1.0
    for profile in profiles:
        answer = profile.hit_rate * (1.0 - profile.error_rate)
        shares.append(reach * answer)
        reach *= 1.0 - answer
    return shares


def _attempt_shares(profiles: Sequence[VendorProfile]) -> list[float]:
    """Return P(position i is called) for each position of the order."""
    reached = []
    reach = 1.0
    for profile in profiles:
        reached.append(reach)
        reach *= 1.0 - profile.hit_rate * (1.0 - profile.error_rate)
    return reached


def expected_metrics(
    profiles: Mapping[str, VendorProfile],
    order: Sequence[str],
    staleness_limit_days: float = 365.0,
    costs: Mapping[str, float] | None = None,
) -> dict:
    """Return the expected waterfall metrics of an order of vendors.

    Keys: answered_share, position_shares (by vendor, over all searches),
    staleness_days, contact_accuracy and first_hit_issue_rate (all three over
    searches that returned a profile), cost_per_search when costs are given,
    and vendors (vendor_metrics by name).
    """
    ordered = [profiles[name] for name in order]
    shares = _position_shares(ordered)
    answered = sum(shares)
    per_vendor = {p.name: vendor_metrics(p, staleness_limit_days) for p in ordered}
    good_points = 0.0
    all_points = 0.0
    for profile, share in zip(ordered, shares, strict=True):
        metrics = per_vendor[profile.name]
        good_email = 1.0 - metrics["email_bounce_rate"]
        good_phone = profile.phone_coverage * (1.0 - metrics["phone_invalid_rate"])
        good_points += share * (good_email + good_phone)
        all_points += share * (1.0 + profile.phone_coverage)
    result = {
        "answered_share": answered,
        "position_shares": {p.name: s for p, s in zip(ordered, shares, strict=True)},
        "staleness_days": _weighted(ordered, shares, per_vendor, "staleness_days"),
        "contact_accuracy": good_points / all_points if all_points else 0.0,
        "first_hit_issue_rate": _weighted(ordered, shares, per_vendor, "quality_score")
        / 100.0,
        "vendors": per_vendor,
    }
    if costs is not None:
        reached = _attempt_shares(ordered)
        result["cost_per_search"] = sum(
            costs[p.name] * r for p, r in zip(ordered, reached, strict=True)
        )
    return result


def _weighted(ordered, shares, per_vendor, key: str) -> float:
    """Return the share-weighted mean of one vendor figure over searches with a hit."""
    total = sum(shares)
    if not total:
        return 0.0
    pairs = zip(ordered, shares, strict=True)
    return sum(per_vendor[p.name][key] * s for p, s in pairs) / total
