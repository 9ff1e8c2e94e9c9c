"""Ground Truth object-detection manifests: the lines Custom Labels trains a detector on.

The format ("Object localization in manifest files", Custom Labels developer guide)::

    {"source-ref": "s3://bucket/images/IMG_1186.png",
     "bounding-box": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                      "annotations": [{"class_id": 1, "top": 251, "left": 399,
                                       "width": 155, "height": 101}]},
     "bounding-box-metadata": {"objects": [{"confidence": 1}],
                               "class-map": {"1": "Echo Dot"},
                               "type": "groundtruth/object-detection",
                               "human-annotated": "yes",
                               "creation-date": "2013-11-18T02:53:27",
                               "job-name": "my job"}}

Pure code, shared by the retraining workflow (confirmed feedback with boxes) and
``tools.models manifest --annotations`` (exports of labelling tools).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

ATTRIBUTE = "bounding-box"
MAX_BOXES_PER_IMAGE = 50
"""Custom Labels' "maximum number of labels per image is 50": a detection image's labels are
its boxes."""


class DetectionManifestError(ValueError):
    """Lines that are not an object-detection manifest; the message says why."""


@dataclass(frozen=True)
class Box:
    """One object: its label and its box in pixels (left, top, width, height)."""

    label: str
    left: float
    top: float
    width: float
    height: float


@dataclass
class Annotated:
    """One image and its boxes (``image`` relative to the images folder)."""

    image: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)


def manifest_lines(
    annotated: Iterable[Annotated],
    labels: list[str],
    s3_prefix: str,
    creation_date: str,
    job_name: str = "labeling-job/bounding-box",
) -> list[str]:
    """Ground Truth object-detection lines (module docstring), boxes in whole pixels."""
    prefix = s3_prefix.rstrip("/") + "/"
    class_id = {label: i for i, label in enumerate(labels)}
    lines = []
    for image in annotated:
        used = sorted({class_id[b.label] for b in image.boxes})
        lines.append(
            json.dumps(
                {
                    # An image already named by its whole S3 URL keeps it.
                    "source-ref": image.image
                    if image.image.startswith("s3://")
                    else prefix + image.image,
                    ATTRIBUTE: {
                        "image_size": [{"width": image.width, "height": image.height, "depth": 3}],
                        "annotations": [
                            {
                                "class_id": class_id[b.label],
                                "left": round(max(0.0, b.left)),
                                "top": round(max(0.0, b.top)),
                                "width": round(b.width),
                                "height": round(b.height),
                            }
                            for b in image.boxes
                        ],
                    },
                    f"{ATTRIBUTE}-metadata": {
                        "objects": [{"confidence": 1} for _ in image.boxes],
                        "class-map": {str(i): labels[i] for i in used},
                        "type": "groundtruth/object-detection",
                        "human-annotated": "yes",
                        "creation-date": creation_date,
                        "job-name": job_name,
                    },
                },
                ensure_ascii=False,
                sort_keys=True,
            )
        )
    return lines


def read_manifest(lines: Iterable[str]) -> list[Annotated]:
    """The images and boxes of Ground Truth object-detection lines (the round trip)."""
    found = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        box_attribute = next(
            k for k in record if k not in {"source-ref"} and not k.endswith("-metadata")
        )
        boxes = record[box_attribute]
        classes = record[f"{box_attribute}-metadata"]["class-map"]
        [size] = boxes["image_size"]
        found.append(
            Annotated(
                image=record["source-ref"].rsplit("/", 1)[-1],
                width=size["width"],
                height=size["height"],
                boxes=[
                    Box(classes[str(a["class_id"])], a["left"], a["top"], a["width"], a["height"])
                    for a in boxes["annotations"]
                ],
            )
        )
    return found


def split(
    annotated: list[Annotated], test_fraction: float, seed: int = 42
) -> tuple[list[Annotated], list[Annotated]]:
    """Train and test by image: the ``test_fraction`` of images whose ``sha256(seed/name)``
    sorts first (at least one each when there are two or more images)."""
    if not 0 < test_fraction < 1:
        raise DetectionManifestError(f"--test-split must be between 0 and 1, got {test_fraction}")
    ordered = sorted(
        annotated, key=lambda a: hashlib.sha256(f"{seed}/{a.image}".encode()).hexdigest()
    )
    count = min(len(ordered) - 1, max(1, round(len(ordered) * test_fraction)))
    test = {a.image for a in ordered[:count]}
    return [a for a in annotated if a.image not in test], [a for a in annotated if a.image in test]


def from_feedback(
    key: str, label_boxes: list[dict[str, object]], width: int, height: int
) -> Annotated:
    """A confirmed feedback item's boxes (ratios of the photo) in pixels of its
    ``width`` x ``height``; ``key`` is the photo's key in the training bucket."""
    return Annotated(
        image=key,
        width=width,
        height=height,
        boxes=[
            Box(
                str(b["label"]),
                float(b["left"]) * width,  # type: ignore[arg-type]
                float(b["top"]) * height,  # type: ignore[arg-type]
                float(b["width"]) * width,  # type: ignore[arg-type]
                float(b["height"]) * height,  # type: ignore[arg-type]
            )
            for b in label_boxes
        ],
    )
