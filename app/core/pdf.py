"""Printable documents (notices, receipts, the process control slip) as PDF with correct Vietnamese diacritics.

fpdf2 with DejaVu Sans embedded (free licence: app/core/fonts/LICENSE-DejaVu.txt); the core PDF fonts have no
Vietnamese glyphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

FONTS = Path(__file__).with_name("fonts")
NATIONAL_HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")


def _start(*, issuer: str, title: str, subtitle: str | None, landscape: bool = False) -> FPDF:
    """A new document with the forms' head: the issuing agency, the national motto, the title (and form number)."""
    pdf = FPDF(orientation="L" if landscape else "P", format="A4")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.set_creator("dvc-service")
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(width, 5, issuer.upper(), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 6, NATIONAL_HEADER[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(width, 6, NATIONAL_HEADER[1], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(width, 7, title.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    if subtitle:
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width, 6, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    return pdf


def _fields(pdf: FPDF, fields: Sequence[tuple[str, str]]) -> None:
    for label, value in fields:
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(60, 6, f"{label}:")
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(pdf.epw - 60, 6, value or "-", new_x="LMARGIN", new_y="NEXT")


def _footer(pdf: FPDF, footer: str | None) -> None:
    if footer:
        pdf.ln(6)
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(pdf.epw, 5, footer, new_x="LMARGIN", new_y="NEXT")


def render_document(*, issuer: str, title: str, subtitle: str | None = None,
                    fields: Sequence[tuple[str, str]] = (), paragraphs: Sequence[str] = (),
                    items: Sequence[str] = (), footer: str | None = None) -> bytes:
    """One A4 page (or more) in the shape of the Circular 01/2018/TT-VPCP forms: header, title, fields, text."""
    pdf = _start(issuer=issuer, title=title, subtitle=subtitle)
    width = pdf.epw
    _fields(pdf, fields)
    if paragraphs:
        pdf.ln(3)
    for paragraph in paragraphs:
        pdf.multi_cell(width, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for number, item in enumerate(items, start=1):
        pdf.multi_cell(width, 6, f"{number}. {item}", new_x="LMARGIN", new_y="NEXT")
    _footer(pdf, footer)
    return bytes(pdf.output())


def render_table_document(*, issuer: str, title: str, subtitle: str | None = None,
                          fields: Sequence[tuple[str, str]] = (), headings: Sequence[str],
                          rows: Sequence[Sequence[str]], col_widths: Sequence[float] | None = None,
                          footer: str | None = None) -> bytes:
    """A landscape A4 form whose body is a table (form 05, the process control slip): the forms' head, fields,
    then one table row per entry, its headings repeated on every page, cells wrapped."""
    pdf = _start(issuer=issuer, title=title, subtitle=subtitle, landscape=True)
    _fields(pdf, fields)
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 8)
    with pdf.table(col_widths=tuple(col_widths) if col_widths else None, text_align="LEFT", line_height=4.5,
                   headings_style=FontFace(emphasis="BOLD"), repeat_headings=1, padding=1) as table:
        for cells in (headings, *rows):
            row = table.row()
            for value in cells:
                row.cell(value or "-")
    _footer(pdf, footer)
    return bytes(pdf.output())
