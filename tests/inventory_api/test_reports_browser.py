"""The HTML PII report in a real headless Chromium: served by a real ``apicensus serve`` on data
from the real analyzer, fetched with a key, opened as a file:// page (the page itself loads
nothing), screenshotted, printed to PDF and its DOM dumped. The screenshot path is printed (``pytest -s``)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze, auth, serving

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)",
)

# Bar colours of the first two bars (reports._PALETTE): the charts must actually be painted.
BAR_COLOURS = {(0x25, 0x63, 0xEB), (0xDC, 0x26, 0x26)}


@pytest.fixture(scope="module")
def served(pg_url: str, keys: dict[str, str]) -> Iterator[str]:
    """Analyse the sample captures, then ``apicensus serve`` on a free port: its base URL."""
    analyze(pg_url, *SAMPLE_PCAPS)
    with serving(pg_url) as (base, _proc):
        yield base


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """A minimal PNG decoder (8-bit RGB/RGBA, non-interlaced): width, height, rows, bytes/pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def test_report_renders_in_headless_chromium(served: str, keys: dict[str, str], tmp_path: Path) -> None:
    response = httpx.get(
        f"{served}/api/v1/reports/pii", params={"format": "html"}, headers=auth(keys["viewer"])
    )
    assert response.status_code == 200, response.text
    page = tmp_path / "report.html"
    page.write_text(response.text, encoding="utf-8")
    url = page.as_uri()

    # The DOM as Chromium built it: two charts with bars, a findings table per service.
    dumped = _chromium(tmp_path, "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")[-2000:]
    dom = dumped.stdout.decode("utf-8")
    svgs = re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)
    assert len(svgs) == 2
    assert all(len(re.findall(r'<rect class="bar"', svg)) >= 2 for svg in svgs)
    assert len(re.findall(r'<table class="service-findings">', dom)) >= 3
    assert "<h1>PII exposure report</h1>" in dom and "fields carrying PII" in dom

    shot = tmp_path / "report.png"
    ran = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", url)
    assert ran.returncode == 0, ran.stderr.decode(errors="replace")[-2000:]
    print(f"\nreport screenshot: {shot}")
    assert shot.exists() and shot.stat().st_size > 20_000
    width, height, rows, bpp = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    colours = {row[x : x + 3] for row in rows[::4] for x in range(0, width * bpp, bpp * 4)}
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert {bytes(c) for c in BAR_COLOURS} <= colours, "the bar charts were not painted"
    # Mostly a white page with dark text on it.
    white = sum(row.count(b"\xff\xff\xff") for row in rows[::50])
    assert white > 0.3 * width * len(rows[::50])

    # Printable: Chromium's print path (the @media print styles) gives a PDF of a few pages.
    pdf = tmp_path / "report.pdf"
    printed = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url)
    assert printed.returncode == 0, printed.stderr.decode(errors="replace")[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 2
    print(f"report PDF: {pdf}")
