#!/usr/bin/env python3
"""Screenshot the HTML report in headless Chromium, to look at it as a user would.

Usage::

    python3 tools/screenshot_report.py [REPORT_DIR] [--page cex/NAME.html] [--out DIR]

Renders ``REPORT_DIR/index.html`` (default ``reports/``) and one
counterexample page (default: the first deadlock page, else the first page)
into PNGs under ``--out`` (default ``build/screenshots``), and prints their
paths. Needs Debian's ``chromium`` (``apt-get install -y chromium``); exits 2
when it is missing. The browser runs offline-only flags: the report must not
need the network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def screenshot(exe: str, page: Path, png: Path, size: str = "1280,2000") -> Path:
    """Render ``page`` (a local HTML file) into ``png`` with headless Chromium."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qmpmodel-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
               page.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {page}")
    return png


def pick_page(report: Path) -> Path:
    pages = sorted((report / "cex").glob("*.html"))
    if not pages:
        raise FileNotFoundError(f"no counterexample pages under {report / 'cex'}")
    deadlocks = [p for p in pages if p.name.endswith(".no-deadlock.html")]
    return (deadlocks or pages)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", nargs="?", default="reports")
    ap.add_argument("--page", help="counterexample page, relative to the report directory")
    ap.add_argument("--out", default="build/screenshots")
    args = ap.parse_args(argv)
    exe = chromium()
    if exe is None:
        print("screenshot_report: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    report, out = Path(args.report), Path(args.out)
    page = report / args.page if args.page else pick_page(report)
    shots = [screenshot(exe, report / "index.html", out / "index.png"),
             screenshot(exe, page, out / f"{page.stem}.png")]
    for s in shots:
        print(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
