"""Benchmark: how long the quick-test page takes to prepare and send phone photos.

Runs the built page in Debian's headless Chromium against the offline
preview (``tools.web_preview``) and times, per photo size, from choosing the
file to the presigned upload arriving at the server (decode with EXIF
orientation, shrink, JPEG re-encode until within 4 MB, upload over loopback),
plus the JavaScript heap the page holds afterwards. Figures only; no
pass/fail. Photo-like images (smooth gradients) and noise (JPEG's worst case,
forcing several re-encodes) are measured side by side.

Usage: ``python -m tools.bench.page`` (``make bench`` runs it).
"""

from __future__ import annotations

import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from tools.web_preview import PreviewServer

SIZES = ((4032, 3024), (6000, 4000), (8160, 6120))
"""12 MP (most phones), 24 MP, 50 MP (the largest phone sensors' full resolution)."""
RUNS = 3


def _photo(width: int, height: int, kind: str) -> bytes:
    if kind == "noise":
        image = Image.effect_noise((width, height), 80).convert("RGB")
    else:
        gradient = Image.linear_gradient("L").resize((width, height))
        image = Image.merge(
            "RGB",
            (gradient, gradient.rotate(90), gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


NO_CHROMIUM = (
    "The page benchmark drives Debian's Chromium through Playwright (no browser download), "
    "and it is not installed. Install it with: sudo apt-get install chromium fonts-noto-cjk"
)


def find_chromium() -> str | None:
    """Debian's Chromium, on PATH or at /usr/bin/chromium; None when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def main() -> int:
    chromium = find_chromium()
    if chromium is None:
        print(NO_CHROMIUM, file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    print("Quick-test page: choose photo -> upload received (headless Chromium, loopback)")
    columns = ("file MB", "sent px", "sent MB", "p50 ms", "max ms", "JS heap MB")
    widths = (9, 13, 9, 9, 9, 12)
    print(f"{'photo':<24}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    with (
        tempfile.TemporaryDirectory() as folder,
        PreviewServer() as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(server.origin + "/")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("#user-name:not(:empty)")
        for width, height in SIZES:
            for kind in ("photo-like", "noise"):
                path = Path(folder) / f"{width}x{height}-{kind}.jpg"
                path.write_bytes(_photo(width, height, kind))
                timings = []
                for _ in range(RUNS):
                    server.uploads.clear()
                    start = time.perf_counter()
                    page.set_input_files("#file", files=[path])
                    while not server.uploads:
                        time.sleep(0.005)
                    timings.append((time.perf_counter() - start) * 1000)
                    page.wait_for_selector("#results:not([hidden])")
                [sent] = server.uploads.values()
                sent_size = Image.open(io.BytesIO(sent)).size
                heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
                print(
                    f"{f'{width}x{height} {kind}':<24}{path.stat().st_size / 2**20:>9.1f}"
                    f"{f'{sent_size[0]}x{sent_size[1]}':>13}{len(sent) / 2**20:>9.2f}"
                    f"{statistics.median(timings):>9.0f}{max(timings):>9.0f}{heap / 2**20:>12.1f}"
                )
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
