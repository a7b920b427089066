"""The Prometheus alerting rules of deploy/prometheus/: valid for Debian's ``promtool check rules``, and their
unit tests (``chargeback-rules.test.yaml``: firing and not firing, a budget on one cluster only, the ``for``
duration, the annotations as rendered) passing ``promtool test rules``; and those unit tests catch a rule that
is wrong."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.prometheus_server import MISSING_BINARIES, binaries

RULES_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = RULES_DIR / "chargeback-rules.yaml"
UNIT_TESTS = RULES_DIR / "chargeback-rules.test.yaml"
# The alerts chargeback's own delivery sends (chargeback/exports/alerts.py): the same names and severities.
ALERTS = {
    "ChargebackBudgetForecastExceeded": "warning",
    "ChargebackBudgetExceeded": "critical",
    "ChargebackCostAnomaly": "warning",
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    try:
        _, tool = binaries()
    except RuntimeError:
        pytest.fail(MISSING_BINARIES)
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_are_valid():
    done = promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 3 rules found" in done.stdout


def test_the_rules_pass_their_unit_tests():
    done = promtool("test", "rules", UNIT_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_are_the_alerts_chargeback_sends():
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"]: rule["labels"]["severity"] for rule in rules} == ALERTS
    for rule in rules:
        assert set(rule["annotations"]) == {"summary", "description", "dashboard"}


@pytest.mark.parametrize(
    ("wrong", "change"),
    [
        ("no `for`", ("        for: 1h\n", "")),
        (
            "budgets matched across clusters",
            (
                "chargeback_tenant_forecast > chargeback_tenant_budget",
                "chargeback_tenant_forecast > ignoring (cluster) group_left chargeback_tenant_budget",
            ),
        ),
        (
            "at the budget counts as over",
            (
                "chargeback_tenant_cost_to_date > chargeback_tenant_budget",
                "chargeback_tenant_cost_to_date >= chargeback_tenant_budget - 1",
            ),
        ),
        (
            "every score alerts",
            ("chargeback_cost_anomaly_score and chargeback_cost_anomalous == 1", "chargeback_cost_anomaly_score"),
        ),
    ],
)
def test_the_unit_tests_catch_a_wrong_rule(tmp_path, wrong, change):
    """Each mutant of the rules fails the unit tests: they test what they claim to."""
    old, new = change
    text = RULES.read_text()
    assert old in text
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    done = promtool("test", "rules", tmp_path / UNIT_TESTS.name)
    assert done.returncode != 0, f"the unit tests pass with {wrong}"
    assert "FAILED" in done.stdout + done.stderr
