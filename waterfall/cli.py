"""The `waterfall` command line."""

from __future__ import annotations

import asyncio
import getpass
import importlib
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from waterfall.errors import ConfigValidationError, InvalidRequestError, WaterfallError
from waterfall.runtime import command_runtime
from waterfall.settings import Settings


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class _LazyGroup(click.Group):
    """A group that imports its heavier subcommand groups only when one is run.

    `waterfall rollout rollback` must take effect fast, so it should not load
    Redis, uvicorn or Slack code it never uses.
    """

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self._lazy:
            return super().get_command(ctx, name)
        module, attribute = self._lazy[name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(
    cls=_LazyGroup,
    lazy={
        "alerts": "waterfall.alerts.commands:alerts",
        "breaker": "waterfall.breaker.commands:breaker",
        "maintenance": "waterfall.alerts.commands:maintenance",
        "shadow": "waterfall.shadow_commands:shadow",
        "slack": "waterfall.slack.cli:slack",
    },
)
def main() -> None:
    """Run and watch the waterfall rollout."""


@main.command()
def init() -> None:
    """Create the schema and load config/ into the store (safe to repeat)."""
    from waterfall.bootstrap import init_store

    runtime = command_runtime(create=True)
    summary = init_store(
        runtime.store, runtime.settings.config_dir, runtime.clock.now()
    )
    click.echo(
        f"store ready: {summary.vendors} vendors, "
        f"configs {', '.join(summary.configs)}; "
        f"rollout '{summary.rollout_name}' at {summary.percentage:g}%"
    )


@main.group()
def config() -> None:
    """Waterfall config files."""


@config.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Vendor catalog YAML to check against (default: config/vendors.yaml).",
)
def config_validate(file: Path, catalog: Path | None) -> None:
    """List every problem of the waterfalls in FILE; exit 1 if there is any.

    A file that cannot be read as YAML exits 2.
    """
    from waterfall.catalog import load_vendor_catalog, read_waterfalls, read_yaml
    from waterfall.validation import find_problems

    catalog = catalog or Settings().config_dir / "vendors.yaml"
    active = {spec.name: spec.is_active for spec in load_vendor_catalog(catalog)}
    specs, problems = read_waterfalls(read_yaml(file), str(file))
    problems += [p for spec in specs for p in find_problems(spec, active)]
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{file}: valid")


@main.group()
def rollout() -> None:
    """Rollout percentage and history."""


@rollout.command("status")
def rollout_status() -> None:
    """Show the percentage, the latest changes and the stages."""
    from waterfall.store import repository as repo

    runtime = command_runtime()
    name = runtime.plan.rollout_name
    with runtime.store.session() as session:
        state = repo.get_state(session, name)
        history = repo.rollout_history(session, name, limit=10)
        stages = repo.stages(session, name)
        current = 0 if state is None else state.percentage
        click.echo(
            f"rollout '{name}': {current:g}% of subjects on "
            f"'{runtime.plan.treatment_config}', the rest on "
            f"'{runtime.plan.control_config}'"
        )
        for change in history:
            old = (
                "-" if change.old_percentage is None else f"{change.old_percentage:g}%"
            )
            click.echo(
                f"  {change.changed_at:%Y-%m-%d %H:%M} {old} -> "
                f"{change.new_percentage:g}% by {change.changed_by}: {change.reason}"
            )
        for stage in stages:
            click.echo(
                f"  stage {stage.percentage:g}%: {stage.status}, gate "
                f"{stage.gate_verdict or '-'}, decision {stage.decision or '-'} "
                f"by {stage.approver or '-'}"
            )


@rollout.command("set")
@click.argument("percentage", type=click.FloatRange(0, 100))
@click.option(
    "--reason", required=True, help="Why the percentage changes; kept in history."
)
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who makes the change.",
)
def rollout_set(percentage: float, reason: str, actor: str) -> None:
    """Set the share of subjects (0-100 %) on the treatment config."""
    from waterfall.rollout import set_percentage

    runtime = command_runtime()
    old = set_percentage(
        runtime.store,
        runtime.plan.rollout_name,
        percentage,
        actor,
        reason,
        runtime.clock.now(),
    )
    click.echo(f"rollout '{runtime.plan.rollout_name}': {old}% -> {percentage:g}%")


@rollout.command("rollback")
@click.option("--reason", required=True, help="Why the rollout goes back to 0 %.")
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who rolls back; kept in history.",
)
def rollout_rollback(reason: str, actor: str) -> None:
    """Send every subject back to the control config now.

    The 0 % write comes first and applies to the next search. Then paused
    step runs are ended and the Slack channel gets a notice.
    """
    from waterfall.rollback import roll_back_everything

    runtime = command_runtime()
    result = roll_back_everything(runtime, actor, reason, release=_release_runs)
    click.echo(
        f"rollout '{runtime.plan.rollout_name}' at 0% "
        f"(written in {result.write_s * 1000:.0f} ms); "
        f"{len(result.closed)} open stage(s) closed"
    )


def _release_runs(closed: list[Any], actor: str, reason: str) -> None:
    # Prefect is imported only when a closed stage has a run to release, so a
    # rollback without waiting steps never pays for the import.
    if not any(stage.flow_run_id for stage in closed):
        return
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # Without a server URL Prefect would start a throwaway server of its
        # own, which has none of the waiting runs and takes seconds.
        click.echo(
            "note: PREFECT_API_URL is not set, so waiting step runs were not "
            "ended; each finds its step rolled back when it wakes",
            err=True,
        )
        return
    from tasks.control import release_waiting_runs

    release_waiting_runs(closed, actor, reason)


@main.command()
@click.argument("subject_id", metavar="SUBJECT_ID")
def route(subject_id: str) -> None:
    """Print the bucket and config a subject gets at the current percentage."""
    from waterfall.routing import normalise_subject
    from waterfall.routing import route as route_subject
    from waterfall.store import repository as repo

    runtime = command_runtime()
    with runtime.store.session() as session:
        percentage = repo.get_percentage(session, runtime.plan.rollout_name)
    subject_id = normalise_subject(subject_id)
    decision = route_subject(runtime.plan.rollout_name, subject_id, percentage)
    _echo_json(decision.__dict__)


@main.command()
@click.option("--subject", required=True, help="User or session id used for routing.")
@click.option(
    "--first-name", required=True, help="Candidate's first name (never logged)."
)
@click.option(
    "--last-name", required=True, help="Candidate's last name (never logged)."
)
@click.option("--company", required=True, help="Candidate's company name or domain.")
@click.option("--title", default="", help="Candidate's job title, optional.")
@click.option("--country", default="", help="Candidate's country code, optional.")
def search(
    subject: str,
    first_name: str,
    last_name: str,
    company: str,
    title: str,
    country: str,
) -> None:
    """Run one search against the configured vendors and print it as JSON."""
    from waterfall.service import run_single_search

    runtime = command_runtime()
    output = asyncio.run(
        run_single_search(
            runtime, subject, first_name, last_name, company, title, country
        )
    )
    _echo_json(output)


@main.command()
@click.option(
    "--days",
    type=click.FloatRange(0, 3650, min_open=True),
    default=7.0,
    show_default=True,
    help="Length of the window, ending now, in days.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def metrics(days: float, as_json: bool) -> None:
    """Compute the metrics of both configs over the last DAYS days."""
    from waterfall.metrics import (
        config_metrics,
        load_window,
        metrics_json,
        spend_summary,
    )

    runtime = command_runtime()
    end = runtime.clock.now()
    start = end - timedelta(days=days)
    window = load_window(runtime.store, start, end, as_of=end)
    spend = spend_summary(runtime.store, start, end)
    if as_json:
        _echo_json(metrics_json(window, runtime.plan) | {"spend": spend})
    else:
        click.echo(config_metrics(window, runtime.plan).to_string())
        click.echo(spend_line(spend))


def spend_line(spend: dict[str, Any]) -> str:
    return (
        f"vendor spend: primary {spend['primary_cost']:.2f} USD over "
        f"{spend['primary_executions']} searches; shadow "
        f"{spend['shadow_cost']:.2f} USD over {spend['shadow_executions']} runs, "
        f"{spend['shadow_calls_reused']} calls reused from primaries saving "
        f"{spend['shadow_cost_saved']:.2f} USD"
    )


@main.group()
def vendors() -> None:
    """Run the vendor simulator."""


@vendors.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    type=int,
    default=8700,
    show_default=True,
    help="TCP port to listen on; the catalog's base URLs use 8700.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Simulator seed (default: WATERFALL_SIMULATOR_SEED, else 7).",
)
@click.option(
    "--latency-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Factor on the profiled vendor latencies.",
)
def vendors_serve(host: str, port: int, seed: int | None, latency_scale: float) -> None:
    """Serve all six simulated vendors over HTTP until interrupted."""
    from vendors.simulator.server import run_simulator

    settings = Settings()
    run_simulator(
        settings.config_dir / "simulator_profiles.yaml",
        settings.simulator_seed if seed is None else seed,
        host,
        port,
        latency_scale,
    )


@main.group()
def outcomes() -> None:
    """Contact feedback (bounces, invalid phones)."""


@outcomes.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--quarantine",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON-lines file for rejected rows, rewritten on each run "
    "(default: FILE with the suffix .quarantine.jsonl).",
)
def outcomes_ingest(file: Path, quarantine: Path | None) -> None:
    """Ingest a JSON-lines feedback file; bad rows are quarantined with their reason."""
    from waterfall.outcomes import ingest_file

    target = quarantine or file.with_suffix(".quarantine.jsonl")
    if target.resolve() == file.resolve():
        raise InvalidRequestError(
            f"--quarantine {target} is the input file itself, which would be "
            "overwritten before it is read: give another path"
        )
    runtime = command_runtime()
    report = ingest_file(runtime.store, file, runtime.clock.now(), target)
    click.echo(
        f"accepted {report.accepted}, duplicates {report.duplicates}, "
        f"quarantined {len(report.quarantined)}"
        + (f" (see {target})" if report.quarantined else "")
    )


@main.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path(".waterfall/demo"),
    show_default=True,
    help="Folder for the store, logs and report.",
)
@click.option(
    "--users",
    type=int,
    default=2000,
    show_default=True,
    help="Simulated recruiters; each is routed by its id.",
)
@click.option(
    "--searches-per-user-per-day",
    type=float,
    default=0.5,
    show_default=True,
    help="Mean searches per recruiter per simulated day.",
)
def demo(output: Path, users: int, searches_per_user_per_day: float) -> None:
    """Run the whole rollout on simulated traffic and print before/after figures."""
    from flows.demo import DemoOptions, run_demo

    run_demo(DemoOptions(output, users, searches_per_user_per_day))


def run() -> None:
    """Run the CLI, turning project and store errors into a message and exit code."""
    install_sigterm_exit()
    try:
        main(standalone_mode=True)
    except ConfigValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except ValidationError as exc:
        click.echo(f"error: {_settings_message(exc)}", err=True)
        sys.exit(2)
    except WaterfallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (
        OperationalError,
        ProgrammingError,
        ArgumentError,
        NoSuchModuleError,
    ) as exc:
        click.echo(f"error: {_store_message(exc)}", err=True)
        sys.exit(2)


def _settings_message(exc: ValidationError) -> str:
    """Name each invalid setting by its environment variable, value and rule."""
    if exc.title != Settings.__name__:
        return str(exc)
    problems = [
        f"WATERFALL_{'_'.join(str(part) for part in error['loc']).upper()}="
        f"{str(error.get('input'))[:60]!r}: {error['msg']}"
        for error in exc.errors()
    ]
    return (
        "invalid setting(s): " + "; ".join(problems) + ". Fix the variable or unset it"
    )


def install_sigterm_exit() -> None:
    """Turn SIGTERM into a normal exit, so that atexit handlers still run."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


def _store_message(exc: Exception) -> str:
    url = Settings().database_url
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return (
        f"the store at WATERFALL_DATABASE_URL={_without_password(url)} failed: "
        f"{detail}. "
        "Check the URL and that the database exists, then run `waterfall init`"
    )


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)
