"""Printable labels: A4 sheets of 3 x 8 labels (70 x 37 mm), each with the claim code as
a QR code (drawn as vector squares, crisp at any printer resolution) and the device
name, validity and batch in text."""

from __future__ import annotations

from collections.abc import Iterable

import segno
from fpdf import FPDF

COLUMNS, ROWS = 3, 8
LABEL_W, LABEL_H = 70.0, 37.0
QR_SIZE = 33.0  # mm, quiet zone included
TOP = (297.0 - ROWS * LABEL_H) / 2


def _latin1(text: str) -> str:
    """The built-in PDF fonts speak Latin-1 only; anything else prints as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _draw_qr(pdf: FPDF, data: str, x: float, y: float, size: float) -> None:
    qr = segno.make(data, error="m", micro=False)
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
    module = size / len(rows)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):  # one rectangle per horizontal run of dark modules
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")


def labels_pdf(labels: Iterable[tuple[str, str]], valid_until: str, batch: str, profile: str) -> bytes:
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("GridLinks Hub")
    pdf.set_title(_latin1(f"Claim labels {batch}"))
    pdf.set_fill_color(0, 0, 0)
    per_page = COLUMNS * ROWS
    for i, (name, code) in enumerate(labels):
        if i % per_page == 0:
            pdf.add_page()
        x = (i % COLUMNS) * LABEL_W
        y = TOP + ((i % per_page) // COLUMNS) * LABEL_H
        _draw_qr(pdf, code, x + 2, y + 2, QR_SIZE)
        text_x, text_w = x + QR_SIZE + 3, LABEL_W - QR_SIZE - 6
        pdf.set_xy(text_x, y + 5)
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(text_w, 4, _latin1(name), max_line_height=4, new_x="LEFT", new_y="NEXT")
        pdf.set_font("Helvetica", "", 7)
        for line in ("Scan to claim", f"valid until {valid_until}", f"profile {profile}", f"batch {batch}"):
            pdf.set_x(text_x)
            pdf.cell(text_w, 3.5, _latin1(line)[:40], new_x="LEFT", new_y="NEXT")
    return bytes(pdf.output())
