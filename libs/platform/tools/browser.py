"""Headless Chromium (Debian's package, installed by `make browser`) for printing a document to
PDF: the same browser the dashboard test drives, no browser download."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class NoBrowser(RuntimeError):
    pass


def run_chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Chromium headless with a throw-away profile (concurrent runs do not share one)."""
    browser = chromium()
    if browser is None:
        raise NoBrowser("chromium is not installed (make browser installs Debian's package)")
    with tempfile.TemporaryDirectory(prefix="tsunagu-chromium-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def print_pdf(html: Path, pdf: Path) -> None:
    """Print an HTML file to PDF (A4, as its print stylesheet says), without header or footer."""
    run_chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri())
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        raise RuntimeError(f"chromium did not print {html} to {pdf}")
