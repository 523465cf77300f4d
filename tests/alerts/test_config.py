"""config/alerts.yaml: loading, validation messages, and the schedules built
from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.serve import build_deployments
from waterfall.alerts.config import load_alert_config
from waterfall.errors import ConfigError
from waterfall.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "config" / "alerts.yaml"


def write(tmp_path: Path, change: dict[str, object], rule: str = "cost") -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    data["rules"][rule].update(change)
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class TestAlertConfig:
    def test_shipped_config_has_the_agreed_rules(self) -> None:
        rules = load_alert_config(SHIPPED).rules
        assert rules.cost.max_ratio_to_forecast == 1.5
        assert rules.vendor_errors.max_error_rate == 0.10
        assert rules.vendor_errors.severity == "critical"
        assert rules.latency.max_increase == 0.20
        assert rules.data_quality.min_accuracy == 0.75
        assert rules.breaker.severity == "critical"

    @pytest.mark.parametrize(
        ("rule", "change", "expected"),
        [
            ("cost", {"severity": "loud"}, "rules.cost.severity='loud' is invalid"),
            (
                "vendor_errors",
                {"max_error_rate": 3},
                "rules.vendor_errors.max_error_rate=3 is invalid",
            ),
            ("latency", {"cron": "every day"}, "Fix: write five cron fields"),
            ("cost", {"channel": "alerts"}, "Fix: name a Slack channel"),
            ("breaker", {"cron": "* * * * *"}, "rules.breaker.cron is not a known"),
        ],
    )
    def test_bad_value_names_field_and_fix(
        self, tmp_path: Path, rule: str, change: dict[str, object], expected: str
    ) -> None:
        with pytest.raises(ConfigError, match="problem") as raised:
            load_alert_config(write(tmp_path, change, rule))
        assert expected in str(raised.value)

    def test_missing_rule_is_named(self, tmp_path: Path) -> None:
        data = yaml.safe_load(SHIPPED.read_text())
        del data["rules"]["latency"]
        path = tmp_path / "alerts.yaml"
        path.write_text(yaml.safe_dump(data))

        with pytest.raises(ConfigError, match="rules.latency is missing"):
            load_alert_config(path)


class TestAlertDeployments:
    def test_each_flow_runs_on_its_rule_cron(self) -> None:
        rules = load_alert_config(SHIPPED).rules
        crons = {
            d.flow_name: d.schedules[0].schedule.cron
            for d in build_deployments()
            if d.flow_name.startswith("alert-")
        }
        assert crons == {
            "alert-cost": rules.cost.cron,
            "alert-vendor-errors": rules.vendor_errors.cron,
            "alert-latency": rules.latency.cron,
            "alert-data-quality": rules.data_quality.cron,
        }

    def test_work_pool_file_uses_the_same_crons(self) -> None:
        deployed = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
        crons = {
            d["entrypoint"].split(":")[1]: d["schedules"][0]["cron"]
            for d in deployed["deployments"]
            if d["entrypoint"].startswith("flows/alerts.py")
        }
        served = {
            d.flow_name.replace("-", "_"): d.schedules[0].schedule.cron
            for d in build_deployments()
            if d.flow_name.startswith("alert-")
        }
        assert crons == served
