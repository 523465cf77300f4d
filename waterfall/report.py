"""Human-readable summaries: the approval form text and the demo report."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from waterfall.metrics import config_metrics, load_window, records, vendor_metrics
from waterfall.rollout import StageView
from waterfall.runtime import Runtime
from waterfall.store import repository as repo


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _verdict_word(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[passed]


def approval_description(stage: StageView, evaluation: dict[str, Any]) -> str:
    """Markdown shown above the approve/reject form in the Prefect UI."""
    gate = evaluation.get("gate") or {}
    lines = [
        f"## Rollout step {stage.percentage:g}%: "
        f"gate {evaluation.get('verdict', 'n/a')}",
        f"Window {stage.window_start:%Y-%m-%d %H:%M} to "
        f"{stage.window_end:%Y-%m-%d %H:%M} UTC. {gate.get('reason', '')}",
        "",
        *_config_lines(evaluation.get("metrics") or {}),
        "| check | estimate | 95% interval | compared value | threshold | result "
        "| gating |",
        "|---|---|---|---|---|---|---|",
    ]
    for check in gate.get("checks", []):
        interval = (
            f"[{_fmt(check.get('ci_low'))}, {_fmt(check.get('ci_high'))}]"
            if check.get("ci_low") is not None
            else ""
        )
        lines.append(
            f"| {check['name']} | {_fmt(check.get('observed'))} | {interval} | "
            f"{_fmt(check.get('compared_value'))} | {_fmt(check.get('threshold'))} | "
            f"{_verdict_word(check.get('passed'))} | "
            f"{'yes' if check.get('gating') else 'observe only'} |"
        )
    sizes = ", ".join(f"{k} {v}" for k, v in (gate.get("sample_sizes") or {}).items())
    lines += [
        "",
        f"Sample sizes: {sizes or 'n/a'}.",
        "Approve to keep this percentage and allow the next step. "
        "Reject to roll back to 0%.",
    ]
    return "\n".join(lines)


_CONFIG_COLUMNS = [
    ("searches", "searches"),
    ("staleness_mean_days", "staleness (days)"),
    ("accuracy", "accuracy"),
    ("first_hit_issue_rate", "first-hit issue rate"),
    ("cost_per_search", "cost per search (USD)"),
    ("latency_p95_ms", "p95 latency (ms)"),
]


def _config_lines(metrics: dict[str, Any]) -> list[str]:
    rows = metrics.get("configs") or []
    if not rows:
        return []
    header = "| config | " + " | ".join(label for _, label in _CONFIG_COLUMNS) + " |"
    lines = [header, "|---" * (len(_CONFIG_COLUMNS) + 1) + "|"]
    for row in rows:
        cells = " | ".join(_fmt(row.get(key)) for key, _ in _CONFIG_COLUMNS)
        lines.append(f"| {row.get('config_name')} | {cells} |")
    return [*lines, ""]


@dataclass
class DemoReport:
    """The before/after comparison and the per-step record of a demo run."""

    summary: pd.DataFrame
    steps: pd.DataFrame
    notes: list[str]
    markdown_path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def render_text(self) -> str:
        """Return the report as plain-text tables for the terminal."""
        parts = [
            "",
            "Before (standard) and after (optimized), all traffic of the demo:",
            self.summary.to_string(index=False),
            "",
            "Rollout steps:",
            self.steps.to_string(index=False),
        ]
        parts += ["", *[f"note: {note}" for note in self.notes]]
        return "\n".join(parts)


def build_demo_report(
    runtime: Runtime,
    start: datetime,
    outcomes: list[dict[str, Any]],
    output: Path,
    approvals: list[dict[str, Any]],
    shadow: dict[str, Any] | None = None,
) -> DemoReport:
    """Measure both configs over the whole demo and write report.md and report.json."""
    plan = runtime.plan
    now = runtime.clock.now()
    window = load_window(runtime.store, start, now, as_of=now)
    configs = config_metrics(window, plan)
    vendors = vendor_metrics(window, plan)
    summary, notes = _summary_table(configs, vendors, plan)
    if shadow is not None:
        notes.insert(0, _shadow_note(shadow))
    steps = _steps_table(runtime)
    report = DemoReport(summary, steps, notes, output / "report.md")
    report.data = {
        "window": {"start": start.isoformat(), "end": now.isoformat()},
        "summary": json.loads(summary.to_json(orient="records")),
        "configs": records(configs.reset_index()),
        "steps": json.loads(steps.to_json(orient="records")),
        "gate_results": [o.get("gate") for o in outcomes if o.get("gate")],
        "outcomes": outcomes,
        "approvals": approvals,
        "shadow_analysis": shadow,
        "notes": notes,
    }
    (output / "report.json").write_text(json.dumps(report.data, indent=2, default=str))
    report.markdown_path.write_text(_markdown(report))
    return report


def _summary_table(
    configs: pd.DataFrame, vendors: pd.DataFrame, plan: Any
) -> tuple[pd.DataFrame, list[str]]:
    control = configs.loc[plan.control_config]
    treatment = configs.loc[plan.treatment_config]
    targets = plan.targets
    cost_change = treatment["cost_per_search"] / control["cost_per_search"] - 1
    latency_ratio = treatment["latency_p95_ms"] / control["latency_p95_ms"]
    max_latency = plan.threshold("p95_latency", "max_ratio")
    rows = [
        (
            "staleness (days)",
            control["staleness_mean_days"],
            treatment["staleness_mean_days"],
            f"< {targets.staleness_days_max:g}",
            treatment["staleness_mean_days"] < targets.staleness_days_max,
        ),
        (
            "contact accuracy",
            control["accuracy"],
            treatment["accuracy"],
            f"> {targets.accuracy_min:.0%}",
            treatment["accuracy"] > targets.accuracy_min,
        ),
        (
            "first-hit issue rate",
            control["first_hit_issue_rate"],
            treatment["first_hit_issue_rate"],
            f"< {targets.first_hit_issue_rate_max:.0%}",
            treatment["first_hit_issue_rate"] < targets.first_hit_issue_rate_max,
        ),
        (
            "cost per search (USD)",
            control["cost_per_search"],
            treatment["cost_per_search"],
            f"change < +{targets.cost_increase_max:.0%}",
            cost_change < targets.cost_increase_max,
        ),
        (
            "p95 latency (ms)",
            control["latency_p95_ms"],
            treatment["latency_p95_ms"],
            f"<= {max_latency:.2f} x standard",
            latency_ratio <= max_latency,
        ),
        ("searches", control["searches"], treatment["searches"], "", None),
    ]
    table = pd.DataFrame(
        [
            {
                "metric": name,
                "standard": _cell(name, before),
                "optimized": _cell(name, after),
                "change": _change(name, before, after),
                "target": target,
                "result": _result_word(met),
            }
            for name, before, after, target, met in rows
        ]
    )
    return table, _notes(treatment, vendors, plan)


def _shadow_note(shadow: dict[str, Any]) -> str:
    spend = shadow["spend"]
    return (
        f"shadow week before the first step: the shadow analysis recommended "
        f"{shadow['verdict'].upper()} ({shadow['reason']}) on {shadow['ab_pairs']} "
        f"paired searches and {shadow['aa_pairs']} A/A pairs; shadow spend "
        f"{spend['shadow_cost']:.2f} USD, {spend['shadow_calls_reused']} calls "
        f"reused saving {spend['shadow_cost_saved']:.2f} USD; "
        f"report {shadow['report_path']}"
    )


def _result_word(met: bool | None) -> str:
    if met is None:
        return ""
    return "pass" if met else "FAIL"


def _cell(name: str, value: float) -> str:
    if "accuracy" in name or "rate" in name:
        return f"{value:.1%}"
    if "cost" in name:
        return f"{value:.3f}"
    if name == "searches":
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _change(name: str, before: float, after: float) -> str:
    if "accuracy" in name or "rate" in name:
        # From the rounded figures, so that the column adds up as printed.
        points = round(after * 100, 1) - round(before * 100, 1)
        return f"{points:+.1f} pts"
    if name == "searches":
        return ""
    return f"{after / before - 1:+.1%}"


def _notes(treatment: pd.Series, vendors: pd.DataFrame, plan: Any) -> list[str]:
    forecast = plan.threshold("cost_per_search", "forecast_usd")
    ratio = plan.threshold("cost_per_search", "max_ratio_to_forecast")
    notes = [
        "p95 latency is wall time against the simulator, whose vendor latencies "
        "are scaled down so the demo runs in minutes; compare the two columns, "
        "not the absolute values",
        f"the cost target above is the business goal against standard; each "
        f"step's gate checks cost per search against the forecast instead "
        f"({forecast:.2f} USD, at most {ratio:g} times that)",
        "at 100 % no subject is on standard, so that step compares against the "
        "standard arm of the previous step's window and its split test is n/a",
    ]
    if not plan.is_gating("first_hit_issue_rate"):
        notes.append(
            "the first-hit issue rate is observe-only in the rollout plan "
            "(gates.first_hit_issue_rate.gating: false): it is reported at every "
            "step but does not block one"
        )
    target = plan.targets.first_hit_issue_rate_max
    if treatment["first_hit_issue_rate"] >= target:
        first = _first_vendor_quality(vendors, plan)
        if first is not None:
            notes.append(
                f"first-hit issue rate target {target:.0%} not met: '{first[0]}' "
                f"answers most searches of '{plan.treatment_config}' and has an "
                f"issue rate of {first[1]:.1f}% on its own, so this order cannot "
                "go below about that rate"
            )
    return notes


def _first_vendor_quality(vendors: pd.DataFrame, plan: Any) -> tuple[str, float] | None:
    frame = vendors.reset_index()
    rows = frame[(frame["config_name"] == plan.treatment_config) & (frame["hits"] > 0)]
    if rows.empty:
        return None
    top = rows.sort_values("hits", ascending=False).iloc[0]
    return str(top["vendor"]), float(top["quality_score"])


def _steps_table(runtime: Runtime) -> pd.DataFrame:
    rows = []
    with runtime.store.session() as session:
        for stage in repo.stages(session, runtime.plan.rollout_name):
            gate = stage.gate_results or {}
            srm: dict[str, Any] = next(
                (c for c in gate.get("checks", []) if c["name"] == "sample_ratio"), {}
            )
            sizes = gate.get("sample_sizes", {})
            full = stage.percentage >= 100  # its control arm is the previous window's
            searches = sizes.get("treatment_searches", 0)
            if not full:
                searches += sizes.get("control_searches", 0)
            rows.append(
                {
                    "step": f"{stage.percentage:g}%",
                    "window": f"{stage.window_start:%m-%d} to {stage.window_end:%m-%d}",
                    "searches": searches,
                    "optimized share": _share(srm.get("observed"), stage.percentage),
                    "SRM p-value": "n/a" if full else _fmt(srm.get("compared_value")),
                    "gate": stage.gate_verdict or "-",
                    "status": stage.status,
                    "approver": stage.approver or "-",
                }
            )
    return pd.DataFrame(rows)


def _share(observed: float | None, target: float) -> str:
    """Format the observed share of subjects on the treatment beside its target."""
    if observed is None:
        return "n/a"
    return f"{observed:.1%} (target {target:g}%)"


def _markdown(report: DemoReport) -> str:
    lines = [
        "# Waterfall rollout demo report",
        "",
        "## Before (standard) and after (optimized)",
        "",
        report.summary.to_markdown(index=False),
        "",
        "## Rollout steps",
        "",
        report.steps.to_markdown(index=False),
        "",
        "## Notes",
        "",
    ]
    lines += [f"- {note}" for note in report.notes]
    lines += ["", "Gate results of every evaluation are in report.json."]
    return "\n".join(lines) + "\n"
