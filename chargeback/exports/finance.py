"""The finance CSV: the bill exactly as `chargeback bill --format csv` prints it."""

from __future__ import annotations

from chargeback.exports.writer import ExportFile
from chargeback.reports.bill import Bill


def render(bill: Bill) -> ExportFile:
    return ExportFile(f"bill-{bill.period}.csv", bill.to_csv().encode(), len(bill.lines))
