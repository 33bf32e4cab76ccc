"""Printable documents (notices, receipts) as PDF with correct Vietnamese diacritics.

fpdf2 with DejaVu Sans embedded (free licence: app/core/fonts/LICENSE-DejaVu.txt); the core PDF fonts have no
Vietnamese glyphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

FONTS = Path(__file__).with_name("fonts")
NATIONAL_HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")


def render_document(*, issuer: str, title: str, subtitle: str | None = None,
                    fields: Sequence[tuple[str, str]] = (), paragraphs: Sequence[str] = (),
                    items: Sequence[str] = (), footer: str | None = None) -> bytes:
    """One A4 page (or more) in the shape of the Circular 01/2018/TT-VPCP forms: header, title, fields, text."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.set_creator("dvc-service")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
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
    for label, value in fields:
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(60, 6, f"{label}:")
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width - 60, 6, value or "-", new_x="LMARGIN", new_y="NEXT")
    if paragraphs:
        pdf.ln(3)
    for paragraph in paragraphs:
        pdf.multi_cell(width, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for number, item in enumerate(items, start=1):
        pdf.multi_cell(width, 6, f"{number}. {item}", new_x="LMARGIN", new_y="NEXT")
    if footer:
        pdf.ln(6)
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(width, 5, footer, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
