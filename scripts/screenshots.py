"""Regenerate the screenshots in docs/ (docs/*.png) after `make demo`, with headless Chromium.

    make demo && .venv/bin/python scripts/screenshots.py

docs/report.png: the top of reports/latest/report.html at 1400 px (the alert panels), scaled to
1000 px; docs/report-phone.png: the same page at 390 px; docs/alert.png: the newest firing alert
as `make demo` prints it when Slack is not configured (the Slack message carries the same
window, numbers, headlines and SQL).
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image

from sentinel.alerts.evidence import render_text
from sentinel.db.engine import get_engine

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE = """<!doctype html><meta charset="utf-8"><style>body {{ margin: 0; background: #1f2933; }}
pre {{ color: #e4e7eb; font: 13px/1.45 "DejaVu Sans Mono", monospace; padding: 18px 22px;
margin: 0; white-space: pre-wrap; }}</style><pre>{text}</pre>"""


def shoot(chromium: str, url: str, png: Path, width: int, height: int) -> Image.Image:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{height}", url], check=True,
                       capture_output=True, timeout=180)
    return Image.open(png).convert("RGB")


def save_small(image: Image.Image, path: Path, width: int) -> None:
    """Scaled to ``width`` and reduced to a 128-colour palette: a small PNG that stays sharp."""
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("reports/latest/report.html"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("error: no chromium on PATH; install it with `apt-get install chromium`")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        url = args.report.resolve().as_uri()
        save_small(shoot(chromium, url, shot, 1400, 1500), args.out / "report.png", 1000)
        save_small(shoot(chromium, url, shot, 390, 1600), args.out / "report-phone.png", 390)
        with get_engine().connect() as conn:
            payload = conn.scalar(sa.text(
                "SELECT d.payload FROM alert_delivery d JOIN alert a ON a.id = d.alert_id "
                "WHERE d.kind = 'firing' ORDER BY (a.segment_kind = 'all') DESC, d.id DESC "
                "LIMIT 1"))
        if payload is None:
            raise SystemExit("error: no firing alert in the database; run `make demo` first")
        page = Path(tmp) / "alert.html"
        page.write_text(PAGE.format(text=html.escape(render_text(payload))), encoding="utf-8")
        image = shoot(chromium, page.as_uri(), shot, 1000, 700)
        pixels = np.asarray(image)
        last = np.flatnonzero((pixels != pixels[0, 0]).any(axis=(1, 2)))[-1]  # the text's end
        save_small(image.crop((0, 0, image.width, min(image.height, int(last) + 20))),
                   args.out / "alert.png", 1000)
    for name in ("report.png", "report-phone.png", "alert.png"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
