"""``python -m tools.bench.faces``: what cutting every face out of a group photo costs.

``POST /v1/faces/search`` answers a group photo with one DetectFaces call and one
SearchUsersByImage call per face, each on the face's crop made in the function
(:mod:`inference_api.face_crops`). The AWS calls cannot be timed offline; the crops
can. Prints, from one run on this machine (the Lambda's arm64 at 1,024 MB is another
CPU: the figures are relative): p50/p95 ms of :func:`inference_api.face_crops.crops`
for 1, 3 and 10 faces on a 2,048 px photo (what the page sends) and a 4,032 px one
(a 12 MP phone photo sent by a device), the JPEG decode included, and the crops'
bytes; and the Rekognition calls a photo costs (1 + faces searched).
"""

from __future__ import annotations

import io
import statistics
import time

from PIL import Image, ImageDraw

RUNS = 15


def photo(width: int, height: int, faces: int) -> tuple[bytes, list[dict[str, float]]]:
    """A JPEG with ``faces`` drawn ovals in a row, and their boxes as Rekognition gives them."""
    image = Image.new("RGB", (width, height), (90, 120, 150))
    draw = ImageDraw.Draw(image)
    boxes = []
    side = min(0.8 / faces, 0.25)
    for i in range(faces):
        left = 0.05 + i * (0.9 / faces)
        box = {"Left": left, "Top": 0.3, "Width": side, "Height": side * width / height}
        draw.ellipse(
            (left * width, 0.3 * height, (left + side) * width, 0.3 * height + side * width),
            fill=(236, 196, 160),
        )
        boxes.append(box)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue(), boxes


def main() -> int:
    from inference_api.face_crops import crops

    print("Face crops for SearchUsersByImage (Pillow, this machine; one run)")
    print(f"{'photo':<12}{'faces':>6}{'p50 ms':>9}{'p95 ms':>9}{'crop KB':>9}{'AWS calls':>11}")
    for width, height in ((2048, 1536), (4032, 3024)):
        for faces in (1, 3, 10):
            data, boxes = photo(width, height, faces)
            times = []
            made = []
            for _ in range(RUNS):
                start = time.perf_counter()
                made = crops(data, boxes)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            size = sum(len(c.jpeg or b"") for c in made) / max(1, len(made)) / 1024
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(
                f"{width}x{height:<7}{faces:>6}{statistics.median(times):>9.1f}{p95:>9.1f}"
                f"{size:>9.1f}{1 + faces:>11}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
