"""`chargeback export` as a user runs it: what it prints, and one clear line for every mistake."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from chargeback.cli import app, main
from tests.export_support import PERIOD, SAMPLE_CONFIG, sample  # noqa: F401 - sample is a fixture


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chargeback", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_prints_the_files_then_says_unchanged(sample, tmp_path):  # noqa: F811
    args = ["export", "-p", PERIOD, "--to", "finance", "--out", str(tmp_path), "--config", str(SAMPLE_CONFIG),
            "--data-dir", str(sample.data_dir)]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert f"finance {PERIOD}: new version v1" in first.stdout
    assert f"bill-{PERIOD}.csv" in first.stdout and "manifest.json" in first.stdout
    assert "CUR version 20261103T054500Z-v2" in first.stdout
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "unchanged: v1 already holds it" in again.stdout


def test_help_explains_each_format():
    text = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).stdout
    for word in ("finance", "focus", "billing-conductor", "FOCUS 1.2", "CreateCustomLineItem", "manifest.json"):
        assert word in text, word


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13", "--to", "finance"], "period '2026-13' is not YYYY-MM"),
        (["--period", PERIOD, "--to", "pdf"], "unknown export format 'pdf'; use one of: billing-conductor, focus"),
        (["--period", PERIOD, "--to", "focus", "--apply"], "--apply only applies to --to billing-conductor"),
        (["--period", "2026-09", "--to", "finance"], "no costs for period 2026-09"),
        (["--period", PERIOD, "--to", "billing-conductor"], "needs [export.billing_conductor] billing_group_arn"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(sample, tmp_path, monkeypatch, capsys, args, message):  # noqa: F811
    code, out, err = run_main(
        monkeypatch, capsys, "export", *args, "--out", str(tmp_path), "--config", str(SAMPLE_CONFIG),
        "--data-dir", str(sample.data_dir),
    )  # fmt: skip
    assert code == 2, err
    assert message in " ".join(err.split()), err
    assert err.startswith("error:") and "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing written"


def test_no_warehouse_names_the_file(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, "export", "-p", PERIOD, "--to", "finance", "--data-dir",
                            str(tmp_path / "empty"))  # fmt: skip
    assert code == 2 and "warehouse.duckdb: no warehouse yet" in err
