"""The dossier as the teams' documents: the PDF and the DOCX open, carry the national heading, the
numbered sections, the tables and the figures of the JSON, and the PDF's first page renders.

`SOCPIPE_UPDATE_DOCS=1` also writes the rendered first page to `docs/dossier/dossier-page1.png`
(the picture in the README); without it the test renders into a temporary folder only.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader

from api.auth.deps import Role
from tests.inspections.conftest import ROOT, ClientFor
from tests.inspections.scenario import Scenario

SECTIONS = [
    "I. THÔNG TIN CHUNG",
    "II. HỆ THỐNG THÔNG TIN VÀ CẤP ĐỘ AN TOÀN",
    "III. MỨC ĐỘ GIÁM SÁT",
    "IV. CẢNH BÁO AN TOÀN THÔNG TIN",
    "V. DẤU HIỆU THEO DANH MỤC KIỂM TRA (VN-01 ĐẾN VN-12)",
    "VI. SỰ CỐ VÀ THỜI GIAN XỬ LÝ",
    "VII. KẾT QUẢ KHẮC PHỤC TỒN TẠI, HẠN CHẾ CÁC LẦN KIỂM TRA TRƯỚC",
    "VIII. MÁY TÍNH CHƯA CÓ PHÒNG CHỐNG MÃ ĐỘC TẬP TRUNG",
    "IX. CHỨNG CỨ THU THẬP TẠI ĐƠN VỊ",
]
PNG = ROOT / "docs" / "dossier" / "dossier-page1.png"


def _params(scenario: Scenario) -> dict[str, str]:
    return {"from": (scenario.today - timedelta(days=10)).isoformat(), "to": scenario.today.isoformat()}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_pdf_has_the_layout_sections_and_figures(
    scenario: Scenario, client_for: ClientFor, tmp_path: Path
) -> None:
    police = client_for("pa05", Role.POLICE)
    resp = police.get("/api/v1/units/so-yte/dossier.pdf", params=_params(scenario))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    first, last = scenario.today - timedelta(days=10), scenario.today
    assert f'filename="ho-so-so-yte-{first:%Y%m%d}-{last:%Y%m%d}.pdf"' in resp.headers["content-disposition"]

    reader = PdfReader(io.BytesIO(resp.content))
    assert reader.metadata is not None and reader.metadata.title == "Hồ sơ đơn vị: Sở Y tế"
    text = _flat("\n".join(page.extract_text() for page in reader.pages))
    page1 = _flat(reader.pages[0].extract_text())
    for heading in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TIỂU BAN AN NINH MẠNG",
    ):
        assert heading in page1
    assert "Số: 12/KH-TBANM" in page1 and "Ninh Bình, ngày" in page1 and "HỒ SƠ ĐƠN VỊ" in page1
    assert f"(từ ngày {first:%d/%m/%Y} đến ngày {last:%d/%m/%Y})" in page1
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    # Figures as the JSON has them, in Vietnamese number format.
    assert "Hệ thống thông tin được giám sát 1/2 50,0%" in text
    assert "Máy tính có phòng chống mã độc tập trung 1/3 33,3%" in text
    assert "Tổng số cảnh báo trong kỳ: 3 (từ dữ liệu giám sát: 3; từ chứng cứ thu thập tại đơn vị: 0)" in text
    assert (
        "khắc phục đúng hạn: 1; khắc phục quá hạn: 1; quá hạn chưa khắc phục: 1; đang trong thời hạn: 1"
        in text
    )
    assert "2/3 máy tính được theo dõi" in text
    assert "netsh advfirewall set allprofiles state off" in text
    assert "Nơi nhận:" in text and "NGƯỜI LẬP" in text and "Pa05" in text  # signed by who compiled it

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("pdftoppm missing in CI: add poppler-utils to deploy/local/debian-packages.txt")
        pytest.skip("pdftoppm (poppler-utils) not installed")
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(resp.content)
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(tmp_path / "page1"),
        ],
        check=True,
        timeout=60,
    )
    png = tmp_path / "page1.png"
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert 655 <= width <= 665 and abs(height / width - 2**0.5) < 0.01  # A4 at 80 dpi
    if os.environ.get("SOCPIPE_UPDATE_DOCS") == "1":
        PNG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, PNG)


def test_docx_has_the_layout_sections_and_figures(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    resp = insp.get("/api/v1/units/so-yte/dossier.docx", params=_params(scenario))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    doc = Document(io.BytesIO(resp.content))
    assert doc.core_properties.title == "Hồ sơ đơn vị: Sở Y tế"
    paragraphs = [p.text for p in doc.paragraphs if p.text.strip()]
    assert [p for p in paragraphs if p in SECTIONS] == SECTIONS
    assert "HỒ SƠ ĐƠN VỊ" in paragraphs
    heading = doc.tables[0].rows[0].cells
    assert heading[0].text.splitlines()[:2] == ["UBND TỈNH NINH BÌNH", "TIỂU BAN AN NINH MẠNG"]
    assert heading[1].text.splitlines()[:2] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    ]
    tables = {t.rows[0].cells[0].text: t for t in doc.tables[1:]}
    coverage = [[c.text for c in row.cells] for row in tables["Chỉ tiêu"].rows[1:]]
    assert ["Hệ thống thông tin được giám sát", "1/2", "50,0%"] in coverage
    systems = [[c.text for c in row.cells] for row in tables["TT"].rows[1:]]
    assert systems[0][:4] == ["1", "Cổng thông tin Sở Y tế", "3", "Đã phê duyệt"]
    assert systems[1][3] == "Đã đề xuất, chưa phê duyệt"
    checklist = {row.cells[0].text: row.cells[2].text for row in tables["Mã"].rows[1:]}
    assert checklist["VN-02"] == "1 (0)" and checklist["VN-03"] == "0 (0)" and len(checklist) == 12
    findings = [[c.text for c in row.cells] for row in tables["Biên bản"].rows[1:]]
    assert sorted(r[5] for r in findings) == sorted(
        ["Khắc phục đúng hạn", "Khắc phục quá hạn", "Quá hạn, chưa khắc phục", "Trong thời hạn khắc phục"]
    )
    signature = doc.tables[-1].rows[0].cells
    assert signature[0].text.startswith("Nơi nhận:") and "NGƯỜI LẬP" in signature[1].text
    assert "Insp-Yte" in signature[1].text


def test_bidirectional_controls_are_neutralised_in_both_documents(
    scenario: Scenario, client_for: ClientFor
) -> None:
    """Issue 14: a right-to-left override in a unit's name reached the PDF and the DOCX verbatim,
    where it reorders what the team reads and signs ("Sở Y tế \u202efdp.exe" shows as "exe.pdf")."""
    hostile = "Sở Y tế \u202efdp.exe\u202c \u2067x\u2069\u200f\u061c"
    registry = scenario.store.load_registry()
    units = [u.model_copy(update={"name": hostile}) if u.id == "so-yte" else u for u in registry.units]
    scenario.store.save_registry(registry.model_copy(update={"units": units}))
    police = client_for("pa05", Role.POLICE)
    pdf = police.get("/api/v1/units/so-yte/dossier.pdf", params=_params(scenario))
    docx = police.get("/api/v1/units/so-yte/dossier.docx", params=_params(scenario))
    assert pdf.status_code == 200 and docx.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.content))
    pdf_text = "\n".join(page.extract_text() for page in reader.pages) + str(reader.metadata.title)
    doc = Document(io.BytesIO(docx.content))
    docx_text = "\n".join(
        [p.text for p in doc.paragraphs]
        + [c.text for t in doc.tables for row in t.rows for c in row.cells]
        + [doc.core_properties.title]
    )
    bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    for text in (pdf_text, docx_text):
        assert not any(ch in text for ch in bidi)
        assert "<U+202E>fdp.exe" in _flat(text)  # shown, not obeyed
