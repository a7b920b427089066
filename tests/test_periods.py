"""One period parser (chargeback.core.periods) for every command: a month that is not YYYY-MM is named, with
exit 2, by each command that takes --period, before anything is read."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import pytest

from chargeback.cli import main
from chargeback.core import periods
from chargeback.core.errors import ChargebackError
from tests.export_support import PERIOD, SAMPLE_CONFIG, sample  # noqa: F401 - sample is a fixture


@pytest.mark.parametrize("text", ["2026-10", "1999-01", "2026-12"])
def test_a_month_is_accepted_as_it_is(text):
    assert periods.parse_period(text) == text


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "October 2026", "", "2026-10-01"])
def test_anything_else_is_named_with_the_form_expected(text):
    with pytest.raises(ChargebackError) as error:
        periods.parse_period(text, "--period")
    assert str(error.value) == f"--period {text!r} is not YYYY-MM (for example 2026-10)"


def test_month_arithmetic_across_years_and_leap_days():
    assert periods.next_period("2026-12") == "2027-01" and periods.previous_period("2027-01") == "2026-12"
    assert periods.next_period("2026-10") == "2026-11" and periods.previous_period("2026-10") == "2026-09"
    assert [periods.days_in(p) for p in ("2026-10", "2026-11", "2027-02", "2028-02")] == [31, 30, 28, 29]
    assert periods.start("2026-10") == datetime(2026, 10, 1, tzinfo=UTC)
    assert periods.end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert periods.first_day("2026-02") == date(2026, 2, 1)
    assert periods.of(datetime(2026, 10, 31, 23, 59, tzinfo=UTC)) == "2026-10"
    assert periods.of(date(2026, 11, 1)) == "2026-11"
    assert periods.between(datetime(2026, 9, 15, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)) == [
        "2026-09",
        "2026-10",
    ]
    assert periods.between(datetime(2026, 9, 15, tzinfo=UTC), datetime(2026, 11, 1, 0, 1, tzinfo=UTC)) == [
        "2026-09",
        "2026-10",
        "2026-11",
    ]


COMMANDS = [
    ["bill", "--period"],
    ["rightsize", "--period"],
    ["quotas", "--period"],
    ["capacity", "--period"],
    ["export", "--to", "finance", "--period"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_names_a_bad_period(command, sample, monkeypatch, capsys):  # noqa: F811
    """`rightsize -p 2026-13` used to answer "no pod-hours in that month": every command now says what is wrong
    with the period itself, on one line, and exits 2."""
    args = [*command, "2026-13", "--config", str(SAMPLE_CONFIG), "--data-dir", str(sample.data_dir)]
    monkeypatch.setattr(sys, "argv", ["chargeback", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2
    assert "period '2026-13' is not YYYY-MM (for example 2026-10)" in err and "Traceback" not in err


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_reads_a_good_period(command, sample, monkeypatch, capsys, tmp_path):  # noqa: F811
    args = [*command, PERIOD, "--config", str(SAMPLE_CONFIG), "--data-dir", str(sample.data_dir)]
    if command[0] == "export":
        args += ["--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["chargeback", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0, capsys.readouterr().err
