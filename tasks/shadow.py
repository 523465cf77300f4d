"""Tasks of the shadow analysis: measure the window, decide, publish the report."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from waterfall.runtime import get_runtime
from waterfall.shadow_analysis import ShadowAnalysis, analyse_shadow_window
from waterfall.shadow_report import render_html, render_markdown
from waterfall.shadow_verdict import ShadowVerdict, decide, load_criteria

# The analysis reads live data, so no task here may be served from cache.


@task(name="analyse-shadow-window", cache_policy=NO_CACHE)
def analyse_window(start: datetime, end: datetime) -> ShadowAnalysis:
    """Pair the window's shadow executions and compare the two configs."""
    runtime = get_runtime()
    criteria = load_criteria(runtime.settings.config_dir / "shadow_analysis.yaml")
    return analyse_shadow_window(
        runtime.store,
        runtime.plan,
        start,
        end,
        as_of=runtime.clock.now(),
        level=criteria.confidence_level,
        resamples=criteria.bootstrap_resamples,
        projection_days=criteria.projection_days,
    )


@task(name="decide-go-no-go", cache_policy=NO_CACHE)
def decide_go_no_go(analysis: ShadowAnalysis) -> ShadowVerdict:
    """Run the go/no-go suite on the analysis."""
    settings = get_runtime().settings
    return decide(analysis, load_criteria(settings.config_dir / "shadow_analysis.yaml"))


@task(name="publish-shadow-report", cache_policy=NO_CACHE)
def publish_report(analysis: ShadowAnalysis, verdict: ShadowVerdict) -> str:
    """Write the HTML report and attach the Markdown one to the flow run."""
    folder = get_runtime().settings.shadow_report_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shadow-analysis-{analysis.end:%Y%m%dT%H%M%S}.html"
    path.write_text(render_html(analysis, verdict), encoding="utf-8")
    create_markdown_artifact(
        markdown=render_markdown(analysis, verdict),
        key="shadow-analysis",
        description=f"Shadow analysis: {verdict.verdict}",
    )
    return str(path)
