"""The shadow analysis report: Markdown for Prefect, HTML with SVG charts.

Charts are drawn with matplotlib's object API (Figure and the SVG canvas,
no pyplot), so rendering keeps no global state and is safe in a worker.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

import pandas as pd
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from waterfall.shadow_analysis import ShadowAnalysis, comparison_rows
from waterfall.shadow_verdict import GO, NO_GO, ShadowVerdict


def _number(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "USD":
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _significant(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def _signed(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "share":
        return f"{value * 100:+.1f} pts"
    if unit == "USD":
        return f"{value:+.4f}"
    return f"{value:+,.1f}"


# ---------------------------------------------------------------- tables


def comparison_table(analysis: ShadowAnalysis) -> pd.DataFrame:
    """Build one row per metric: both configs, the difference, its interval, noise."""
    rows = []
    for row in comparison_rows(analysis):
        unit = row["unit"]
        noise = row["aa_noise"]
        rows.append(
            {
                "metric": row["label"],
                analysis.control_config: _number(row[analysis.control_config], unit),
                analysis.treatment_config: _number(
                    row[analysis.treatment_config], unit
                ),
                "difference": _signed(row["difference"], unit),
                "95% interval": (
                    f"[{_signed(row['ci_low'], unit)}, {_signed(row['ci_high'], unit)}]"
                ),
                "A/A noise": "n/a" if noise is None else f"±{_signed(noise, unit)[1:]}",
            }
        )
    return pd.DataFrame(rows)


def checks_table(verdict: ShadowVerdict) -> pd.DataFrame:
    """Build one row per go/no-go check with its compared value and threshold."""
    words = {True: "pass", False: "FAIL", None: "n/a"}
    return pd.DataFrame(
        [
            {
                "check": check.name,
                "compared value": _significant(check.compared_value),
                "threshold": f"{check.threshold:g}",
                "result": words[check.passed],
                "detail": check.detail,
            }
            for check in verdict.checks
        ]
    )


def vendor_table(analysis: ShadowAnalysis) -> pd.DataFrame:
    """Build per-vendor error and success rates and projected calls, both configs."""
    frame = analysis.vendors
    if frame.empty:
        return pd.DataFrame()
    wide = frame.pivot(
        index="vendor",
        columns="config_name",
        values=["error_rate", "success_rate", "projected_monthly_calls"],
    )
    control, treatment = analysis.control_config, analysis.treatment_config
    rows = []
    for vendor, row in wide.iterrows():
        before = row[("projected_monthly_calls", control)]
        after = row[("projected_monthly_calls", treatment)]
        rows.append(
            {
                "vendor": vendor,
                f"error rate {control}": _number(row[("error_rate", control)], "share"),
                f"error rate {treatment}": _number(
                    row[("error_rate", treatment)], "share"
                ),
                f"success rate {control}": _number(
                    row[("success_rate", control)], "share"
                ),
                f"success rate {treatment}": _number(
                    row[("success_rate", treatment)], "share"
                ),
                f"calls/month {control}": _number(before),
                f"calls/month {treatment}": _number(after),
                "change": _volume_change(before, after),
            }
        )
    return pd.DataFrame(rows)


def _volume_change(before: float, after: float) -> str:
    if not before or math.isnan(before) or math.isnan(after):
        return "n/a"
    ratio = after / before
    if ratio >= 1:
        return f"{ratio:.2f}x the calls"
    return f"{1 - ratio:.0%} fewer calls"


def spend_lines(analysis: ShadowAnalysis) -> list[str]:
    """Describe shadow spend, savings from reuse and the projected spend."""
    spend, projection = analysis.spend, analysis.projection
    days = projection["days"]
    return [
        f"Primary vendor spend in the window: {spend['primary_cost']:.2f} USD.",
        f"Shadow vendor spend (billed apart): {spend['shadow_cost']:.2f} USD for "
        f"{spend['shadow_calls']} calls; {spend['shadow_calls_reused']} calls reused "
        f"the primary's response and saved {spend['shadow_cost_saved']:.2f} USD.",
        f"Projected over {days:g} days at the window's rate "
        f"({_number(projection['searches'])} searches): "
        f"{analysis.control_config} {projection['control_spend']:,.2f} USD, "
        f"{analysis.treatment_config} {projection['treatment_spend']:,.2f} USD.",
    ]


# ---------------------------------------------------------------- Markdown


def summary_lines(analysis: ShadowAnalysis, verdict: ShadowVerdict) -> list[str]:
    """Write the executive summary: verdict, sample and headline differences."""
    word = {GO: "GO", NO_GO: "NO-GO"}.get(verdict.verdict, verdict.verdict.upper())
    lines = [
        f"**Recommendation: {word}** ({verdict.reason}).",
        "",
        f"Window {analysis.start:%Y-%m-%d %H:%M} to {analysis.end:%Y-%m-%d %H:%M} "
        f"UTC: {analysis.ab_pairs} A/B pairs ({analysis.control_config} and "
        f"{analysis.treatment_config} on the same searches), {analysis.aa_pairs} "
        f"A/A pairs, {analysis.incomplete} of {analysis.shadowed} shadow runs "
        "incomplete.",
    ]
    for metric in ("staleness", "accuracy", "first_hit_issue_rate", "cost_per_search"):
        comparison = analysis.comparisons[metric]
        interval = comparison.difference
        lines.append(
            f"- {comparison.label}: {_number(comparison.control, comparison.unit)} → "
            f"{_number(comparison.treatment, comparison.unit)} "
            f"({_signed(interval.estimate, comparison.unit)}, 95% interval "
            f"{_signed(interval.low, comparison.unit)} to "
            f"{_signed(interval.high, comparison.unit)})"
        )
    return lines


def render_markdown(analysis: ShadowAnalysis, verdict: ShadowVerdict) -> str:
    """Render the whole report as Markdown."""
    lines = [
        "# Shadow analysis",
        "",
        "## Executive summary",
        "",
        *summary_lines(analysis, verdict),
        "",
    ]
    if verdict.failed:
        lines += ["## Failed checks", ""]
        lines += [f"- **{item['name']}**: {item['detail']}" for item in verdict.failed]
        lines.append("")
    lines += [
        "## Checks",
        "",
        checks_table(verdict).to_markdown(index=False),
        "",
        "## Comparison on the same searches",
        "",
        comparison_table(analysis).to_markdown(index=False),
        "",
        "Accuracy and first-hit issue rate are estimates: shadow results get no "
        "feedback, so each profile is scored with its vendor's rate on primary "
        "searches. A/A noise is the largest difference two runs of one config "
        "showed at the same confidence.",
        "",
        "## Vendors",
        "",
        vendor_table(analysis).to_markdown(index=False),
        "",
        "## Spend",
        "",
        *[f"- {line}" for line in spend_lines(analysis)],
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _grouped_bars(
    frame: pd.DataFrame, index: str, value: str, title: str, ylabel: str
) -> str:
    figure = Figure(figsize=(7, 3.2))
    axes = figure.add_subplot()
    if not frame.empty:
        wide = frame.pivot(index=index, columns="config_name", values=value)
        wide.plot.bar(ax=axes, rot=0)
        axes.legend(title="config")
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    figure.tight_layout()
    return _svg(figure)


def _latency_chart(analysis: ShadowAnalysis) -> str:
    rows = [
        {"quantile": c.label, "config_name": config, "ms": value}
        for c in analysis.comparisons.values()
        if c.unit == "ms"
        for config, value in (
            (analysis.control_config, c.control),
            (analysis.treatment_config, c.treatment),
        )
    ]
    return _grouped_bars(
        pd.DataFrame(rows), "quantile", "ms", "Search latency", "milliseconds"
    )


def charts(analysis: ShadowAnalysis) -> list[str]:
    """Return the report's charts as inline SVG documents."""
    return [
        _grouped_bars(
            analysis.positions,
            "position",
            "hit_share",
            "Share of searches answered at each position",
            "share of searches",
        ),
        _latency_chart(analysis),
        _grouped_bars(
            analysis.vendors,
            "vendor",
            "projected_monthly_calls",
            f"Projected calls per vendor over {analysis.projection['days']:g} days",
            "calls",
        ),
    ]


def render_html(analysis: ShadowAnalysis, verdict: ShadowVerdict) -> str:
    """Render the whole report as one self-contained HTML page."""
    summary = "".join(
        f"<p>{html.escape(line)}</p>" for line in summary_lines(analysis, verdict)
    )
    failed = "".join(
        f"<li><b>{html.escape(item['name'])}</b>: {html.escape(item['detail'])}</li>"
        for item in verdict.failed
    )
    spend = "".join(f"<li>{html.escape(line)}</li>" for line in spend_lines(analysis))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>Shadow analysis</title><style>body{font-family:sans-serif;"
        "max-width:60rem;margin:2rem auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2rem .5rem}</style></head><body>",
        "<h1>Shadow analysis</h1><h2>Executive summary</h2>",
        summary.replace("**", ""),
        f"<h2>Failed checks</h2><ul>{failed}</ul>" if failed else "",
        "<h2>Checks</h2>",
        checks_table(verdict).to_html(index=False),
        "<h2>Comparison on the same searches</h2>",
        comparison_table(analysis).to_html(index=False),
        "<h2>Charts</h2>",
        *charts(analysis),
        "<h2>Vendors</h2>",
        vendor_table(analysis).to_html(index=False),
        f"<h2>Spend</h2><ul>{spend}</ul>",
        "</body></html>",
    ]
    return "\n".join(parts)
