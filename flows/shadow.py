"""The shadow analysis: judge a window of shadow traffic and recommend go or no-go."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prefect import flow

from tasks.shadow import analyse_window, decide_go_no_go, publish_report
from waterfall.runtime import get_runtime
from waterfall.shadow_analysis import comparison_rows
from waterfall.shadow_verdict import GO


@flow(name="shadow-analysis")
def shadow_analysis(
    start: datetime | None = None, end: datetime | None = None, days: float = 7.0
) -> dict[str, Any]:
    """Compare both configs on the window's paired searches and recommend.

    Without `end` the window ends now; without `start` it covers `days` days.
    """
    end = end or get_runtime().clock.now()
    start = start or end - timedelta(days=days)
    analysis = analyse_window(start, end)
    verdict = decide_go_no_go(analysis)
    report_path = publish_report(analysis, verdict)
    return {
        **verdict.to_dict(),
        "go": verdict.verdict == GO,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "ab_pairs": analysis.ab_pairs,
        "aa_pairs": analysis.aa_pairs,
        "incomplete_shadows": analysis.incomplete,
        "comparisons": comparison_rows(analysis),
        "spend": analysis.spend,
        "projection": analysis.projection,
        "report_path": report_path,
    }
