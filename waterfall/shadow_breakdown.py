"""Per-vendor, per-position and spend breakdowns of a shadow-traffic window."""

from __future__ import annotations

import pandas as pd

from waterfall.metrics import ERROR_OUTCOMES, Window, vendor_error_rates


def vendor_table(
    window: Window, sides: dict[str, pd.DataFrame], monthly_searches: float
) -> pd.DataFrame:
    """Count calls, errors, hits and projected monthly calls per (config, vendor).

    `sides` maps each config to its executions in the A/B pairs. Reused
    calls count for the shadow's config, because that config would have
    made them on its own.
    """
    rows = []
    for config, side in sides.items():
        calls = window.calls[window.calls["execution_id"].isin(side["id"])]
        calls = calls[calls["outcome"] != "skipped"]
        grouped = calls.groupby("vendor")
        frame = pd.DataFrame(
            {
                "calls": grouped.size(),
                "errors": grouped["outcome"].agg(lambda o: int(_is_error(o).sum())),
                "hits": grouped["outcome"].agg(lambda o: int((o == "hit").sum())),
            }
        )
        frame["error_rate"] = frame["errors"] / frame["calls"]
        frame["success_rate"] = frame["hits"] / frame["calls"]
        per_search = frame["calls"] / max(len(side), 1)
        frame["projected_monthly_calls"] = per_search * monthly_searches
        frame["config_name"] = config
        rows.append(frame.reset_index())
    return pd.concat(rows, ignore_index=True)


def _is_error(outcomes: pd.Series) -> pd.Series:
    return outcomes.isin(ERROR_OUTCOMES)


def positions(sides: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Compute the share of A/B pairs that hit at each position, per config."""
    rows = []
    for config, side in sides.items():
        counts = side["position_hit"].dropna().astype(int).value_counts()
        for position, hits in counts.sort_index().items():
            rows.append(
                {
                    "config_name": config,
                    "position": int(position),
                    "hits": int(hits),
                    "hit_share": hits / max(len(side), 1),
                }
            )
    return pd.DataFrame(rows, columns=["config_name", "position", "hits", "hit_share"])


def worst_vendor(window: Window) -> tuple[str, float, int, int] | None:
    """Return the name, error rate, errors and calls of the worst vendor."""
    # Reused calls repeat a call already counted, so vendor health skips them.
    own = window.calls[window.calls["reused_from"].isna()]
    rates = vendor_error_rates(
        Window(
            window.start,
            window.end,
            window.as_of,
            True,
            window.executions,
            own,
            window.outcomes,
        )
    ).dropna(subset=["error_rate"])
    if rates.empty:
        return None
    worst = str(rates["error_rate"].idxmax())
    row = rates.loc[worst]
    return worst, float(row["error_rate"]), int(row["errors"]), int(row["calls"])


def spend(window: Window) -> dict[str, float]:
    """Sum primary and shadow spend, shadow calls and the calls they reused."""
    executions = window.executions
    shadow = executions[executions["is_shadow"]]
    primary = executions[~executions["is_shadow"]]
    reused = window.calls["reused_from"].notna()
    in_shadow = window.calls["execution_id"].isin(shadow["id"])
    return {
        "primary_cost": float(primary["cost"].sum()),
        "shadow_cost": float(shadow["cost"].sum()),
        "shadow_cost_saved": float(shadow["cost_saved"].sum()),
        "shadow_calls": int((~reused & in_shadow).sum()),
        "shadow_calls_reused": int(reused.sum()),
    }
