"""A tenant's statement as a PDF (fpdf2, its core Helvetica font): layout only, every figure from the
``Statement`` (``chargeback.reports.statement``), amounts as ``chargeback bill`` prints them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from chargeback.reports.statement import Statement, Table

METHOD_DOC = "docs/method.md"
WIDTH = 180.0  # A4 less 15 mm margins, in mm
ROW = 5.6  # a table row's height, mm
GREY, RULE, BAR = (90, 90, 90), (200, 200, 200), (52, 101, 164)


def money(amount: Decimal) -> str:
    """As `chargeback bill` prints amounts: thousands separators, two decimals."""
    return f"{amount:,.2f}"


def latin(text: str) -> str:
    """The core fonts' character set (Latin-1): anything else shows as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, statement: Statement):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.statement = statement
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 7.5)
        self.set_text_color(*GREY)
        s = self.statement
        self.cell(WIDTH / 2, 5, latin(f"Cost statement {s.tenant} {s.period}"), align="L")
        self.cell(WIDTH / 2, 5, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def render(statement: Statement, generated_at: datetime) -> bytes:
    """The statement's PDF; ``generated_at`` is printed in its header and is its creation date."""
    pdf = _Document(statement)
    pdf.set_title(latin(f"Cost statement {statement.tenant} {statement.period}"))
    pdf.set_author("chargeback")
    pdf.set_creator("chargeback statement")
    pdf.set_creation_date(generated_at)
    pdf.add_page()
    _header(pdf, statement, generated_at)
    cur = statement.currency
    _section(pdf, "Summary", "The parts of the total, as the bill shows them.", len(statement.summary.rows))
    _table(
        pdf,
        ("part", f"amount ({cur})"),
        [(r.label, money(r.amount)) for r in statement.summary.rows],
        ("total", money(statement.summary.total)),
        (130, 50),
    )
    _section(
        pdf, "Namespaces", "Each namespace's compute, idle share, storage and network; then the rest of the total."
    )
    _amount_table(pdf, "namespace", statement.namespaces, cur)
    _section(
        pdf,
        "Top workloads",
        "The largest workloads by compute, idle share, storage and network.",
        len(statement.workloads.rows),
    )
    _table(
        pdf,
        ("workload", "kind", f"amount ({cur})"),
        [(r.label, r.note, money(r.amount)) for r in statement.workloads.rows],
        ("total", "", money(statement.workloads.total)),
        (105, 35, 40),
    )
    _section(
        pdf,
        "Spark jobs",
        f"EMR on EKS job runs: {statement.job_runs}. Their pods' cost and EMR charges, already within the tables"
        " above.",
        len(statement.jobs.rows),
    )
    if statement.jobs.rows:
        _table(
            pdf,
            ("job", "job run id", f"amount ({cur})"),
            [(r.label, r.note, money(r.amount)) for r in statement.jobs.rows],
            ("Spark jobs total", "", money(statement.jobs.total)),
            (80, 60, 40),
        )
    else:
        _text(pdf, "No Spark job runs this month.")
    _trend(pdf, statement)
    _method(pdf, statement)
    _adjustments(pdf, statement)
    return bytes(pdf.output())


def _header(pdf: FPDF, s: Statement, generated_at: datetime) -> None:
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(WIDTH, 9, latin(f"Cost statement: {s.tenant}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    facts = [
        ("Tenant", s.tenant),
        ("Period", s.period + (f" (closed {s.closed_at})" if s.closed_at else "")),
        ("Cluster(s)", ", ".join(s.clusters) or "none"),
        ("Currency", s.currency),
        ("Generated", generated_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Figures built", s.built_at or "unknown"),
        ("Method", s.method_line),
    ]
    for key, value in facts:
        pdf.set_text_color(*GREY)
        pdf.cell(30, 4.8, key)
        pdf.set_text_color(0, 0, 0)
        pdf.multi_cell(WIDTH - 30, 4.8, latin(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(WIDTH - 60, 8, "Total", border="TB")
    pdf.cell(60, 8, f"{money(s.total)} {s.currency}", border="TB", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _section(pdf: FPDF, title: str, caption: str, rows: int = 1) -> None:
    """A heading and its caption, on the page of what follows (``rows``: the table's rows) when that fits on one."""
    follows = min((rows + 2) * ROW, pdf.eph / 2)
    if pdf.will_page_break(6 + 5 + 5 + follows):  # a heading is never left alone at the foot of a page
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(WIDTH, 6, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(WIDTH, 4, latin(caption), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1)


def _text(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(WIDTH, 4.6, latin(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut to fit a cell of ``width`` (with its padding), ending in '...' when cut."""
    text = latin(text)
    room = width - 2 * pdf.c_margin
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "...") > room:
        text = text[:-1]
    return text + "..."


def _row(pdf: FPDF, cells: Sequence[str], widths: Sequence[float], border: str | int = 0) -> None:
    if pdf.will_page_break(ROW):
        pdf.add_page()
    for i, (text, width) in enumerate(zip(cells, widths, strict=True)):
        last = i == len(cells) - 1
        pdf.cell(
            width,
            ROW,
            _fit(pdf, text, width),
            border=border,
            align="R" if last else "L",  # the amount, always last, right-aligned
            new_x=XPos.LMARGIN if last else XPos.RIGHT,
            new_y=YPos.NEXT if last else YPos.TOP,
        )


def _table(
    pdf: FPDF,
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    total: Sequence[str] | None,
    widths: Sequence[float],
) -> None:
    height = (len(rows) + 2) * ROW
    if pdf.will_page_break(height) and height < pdf.eph:  # a table that fits on a page is not split
        pdf.add_page()
    pdf.set_draw_color(*RULE)
    pdf.set_font("Helvetica", "B", 8.5)
    _row(pdf, headings, widths, border="B")
    pdf.set_font("Helvetica", "", 9)
    for cells in rows:
        _row(pdf, cells, widths, border="B")
    pdf.set_draw_color(0, 0, 0)
    if total is not None:
        pdf.set_font("Helvetica", "B", 9)
        _row(pdf, total, widths, border="T")


def _amount_table(pdf: FPDF, what: str, table: Table, currency: str) -> None:
    rows = [(r.label, money(r.amount)) for r in table.rows]
    _table(pdf, (what, f"amount ({currency})"), rows, ("total", money(table.total)), (130, 50))


def _trend(pdf: FPDF, s: Statement) -> None:
    months = len(s.trend)
    _section(pdf, "Trend", f"The tenant's total in the last {months} month(s) the warehouse has, as billed.", months)
    _table(pdf, ("month", f"total ({s.currency})"), [(p, money(a)) for p, a in s.trend], None, (130, 50))
    chart = 38.0
    if pdf.will_page_break(chart + 17):
        pdf.add_page()
    top = pdf.get_y() + 9
    highest = max((a for _, a in s.trend), default=Decimal(0)) or Decimal(1)
    slot = WIDTH / max(months, 6)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, top + chart, pdf.l_margin + WIDTH, top + chart)
    for i, (period, amount) in enumerate(s.trend):
        height = float(max(amount, Decimal(0)) / highest) * chart
        x = pdf.l_margin + i * slot + slot * 0.2
        pdf.set_fill_color(*BAR)
        if height:
            pdf.rect(x, top + chart - height, slot * 0.6, height, style="F")
        pdf.set_xy(x - slot * 0.2, top + chart - height - 4.5)
        pdf.cell(slot, 4, money(amount), align="C")
        pdf.set_xy(x - slot * 0.2, top + chart + 1)
        pdf.cell(slot, 4, period, align="C")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, top + chart + 6)


def _method(pdf: FPDF, s: Statement) -> None:
    _section(pdf, "Method", f"How the amounts were allocated; {METHOD_DOC} describes the method in full.")
    pdf.set_font("Helvetica", "B", 9)
    pdf.multi_cell(WIDTH, 4.6, latin(s.method_line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for sentence in s.method_words:
        _text(pdf, sentence)


def _adjustments(pdf: FPDF, s: Statement) -> None:
    _section(pdf, "Adjustments from closed months", "Corrections of earlier, closed months booked in this month.")
    if not s.adjustments:
        _text(pdf, "None.")
        return
    rows = [
        (c.closed_period, ", ".join(f"{part} {money(v)}" for part, v in c.parts.items()), money(c.amount))
        for c in s.adjustments
    ]
    total = sum((c.amount for c in s.adjustments), Decimal("0.00"))
    _table(
        pdf,
        ("closed month", "by part", f"amount ({s.currency})"),
        rows,
        ("adjustments", "", money(total)),
        (35, 105, 40),
    )
