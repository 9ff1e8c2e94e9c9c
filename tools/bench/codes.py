"""``python -m tools.bench.codes``: how well and how fast the code reader reads, side by side.

Prints, from one run on this machine:

* the decode rate per format and kind of damage, on
  ``len(SAMPLES) x len(DEGRADATIONS) x SEEDS`` generated photos (10 formats
  x 5 kinds x 4 seeds = 200, ``tools.bench.code_images``: drawn by segno,
  python-barcode or ZXing's writer, pasted on a cover-like background, damaged
  within seeded ranges, saved as JPEG). A photo counts as read when the
  right text is among the answer's codes; a wrong text read from it is
  counted apart (``misreads``);
* p50/p95 time per photo of :func:`inference_api.codes.read_barcodes` plus
  the JPEG decode (``greyscale``), in ms, on this machine's CPU (Lambda's
  arm64 at 1,024 MB is a different CPU: the figure is relative);
* the layer's size (unzipped, and zipped as CDK uploads it; Lambda allows
  250 MB unzipped with all layers:
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
* cold import of ``inference_api.codes_handler`` (the code reader's entry
  point) and of ``inference_api.handler`` (the labels function's, which must
  stay within 1.5x of bare boto3) against a bare ``import boto3``, measured
  the way ``tools.bench.api`` does; the decoder's libraries come from this
  machine's wheels, which stand in for the layer's arm64 ones.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
import zipfile
from pathlib import Path

SEEDS = 4


def decode_rates() -> tuple[dict[tuple[str, str], tuple[int, int]], list[float]]:
    """(format, damage) -> (read right, misreads) out of :data:`SEEDS`; and every photo's time."""
    from inference_api import codes

    from tools.bench import code_images as ci

    rates: dict[tuple[str, str], tuple[int, int]] = {}
    times: list[float] = []
    for fmt, content in ci.SAMPLES.items():
        for kind in ci.DEGRADATIONS:
            right = wrong = 0
            for seed in range(SEEDS):
                photo = ci.degraded_photo(fmt, kind, seed)
                start = time.perf_counter()
                found = codes.read_barcodes(codes.greyscale(photo))
                times.append(time.perf_counter() - start)
                texts = [c["text"] for c in found]
                right += content in texts
                wrong += any(text != content for text in texts)
            rates[(fmt, kind)] = (right, wrong)
    return rates, times


def layer_sizes() -> tuple[float, float]:
    """MB of the built layer, unzipped and zipped (deflate, as the asset is uploaded)."""
    from stacks.native_layer import build

    folder = build("codes")
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != ".fingerprint"]
    unzipped = sum(p.stat().st_size for p in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return unzipped / 1e6, len(buffer.getvalue()) / 1e6


def main() -> int:
    sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "lambda")]
    from tools.bench import code_images as ci
    from tools.bench.api import IMPORT_RUNS, import_seconds

    rates, times = decode_rates()
    kinds = list(ci.DEGRADATIONS)
    print(f"Code reader: decode rate on {len(times)} generated damaged photos ({SEEDS} per cell)")
    print(f"  {'format':<14}" + "".join(f"{k:>13}" for k in kinds) + f"{'all':>8}")
    for fmt in ci.SAMPLES:
        cells = [rates[(fmt, k)][0] for k in kinds]
        row = "".join(f"{c:>10}/{SEEDS:<2}" for c in cells)
        print(f"  {fmt:<14}{row}{100 * sum(cells) / (SEEDS * len(kinds)):>7.0f}%")
    total = sum(r for r, _ in rates.values())
    misreads = sum(w for _, w in rates.values())
    print(
        f"  read right: {total}/{len(times)} ({100 * total / len(times):.0f}%); "
        f"photos with a wrong text among the answers: {misreads}"
    )
    ordered = sorted(times)
    p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"  time per photo (JPEG decode + read): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )
    unzipped, zipped = layer_sizes()
    print(
        f"Layer 'codes' (arm64, CPython 3.14): {unzipped:.1f} MB unzipped, {zipped:.1f} MB zipped"
    )
    boto3_runs, reader_runs, api_runs = [], [], []
    for _ in range(IMPORT_RUNS):
        boto3_runs.append(import_seconds("boto3"))
        reader_runs.append(import_seconds("inference_api.codes_handler"))
        api_runs.append(import_seconds("inference_api.handler"))
    bare = statistics.median(boto3_runs)
    reader, api = statistics.median(reader_runs), statistics.median(api_runs)
    print(
        f"Cold import (median of {IMPORT_RUNS}, interleaved): boto3 {bare * 1000:.0f} ms, "
        f"code reader {reader * 1000:.0f} ms ({reader / bare:.2f}x), "
        f"labels function {api * 1000:.0f} ms ({api / bare:.2f}x; target at most 1.5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
