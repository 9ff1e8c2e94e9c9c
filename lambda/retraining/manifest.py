"""Build SageMaker Ground Truth classification manifests from a folder of images.

Rekognition Custom Labels reads training data through a manifest: one JSON
line per image, in the Ground Truth classification job output format
(https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/md-create-manifest-file-classification.html)::

    {"source-ref": "s3://bucket/prefix/with_qr/001.png",
     "imgrec-classification": 0,
     "imgrec-classification-metadata": {"confidence": 1, "class-name": "with_qr",
        "human-annotated": "yes", "creation-date": "...",
        "job-name": "labeling-job/imgrec-classification",
        "type": "groundtruth/image-classification"}}

Layouts accepted (DESIGN.md): plain ``<label>/<image>``, and numbered
Caltech-256 style ``001.ISBN479804573X/001_0001.jpg`` where the label is what
follows the first dot. Deeper folders take the top folder's label. Images at
the root have no label: they are reported, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from shared.imaging import TRAINING, ImageError, check_image

TRAINING_LIMITS = TRAINING
"""Training images: :data:`shared.imaging.TRAINING` (JPEG or PNG, up to 15 MB, 64-4096 px)."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
ATTRIBUTE = "imgrec-classification"
DEFAULT_CREATION_DATE = "2026-01-01T00:00:00.000"
NUMBERED_FOLDER = re.compile(r"^\d+\.(?P<label>.+)$")


class ManifestError(ValueError):
    """The folder cannot make a manifest (e.g. fewer than two labels); the message says why."""


@dataclass(frozen=True)
class Skipped:
    """A file left out of the manifest, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Labelled:
    """An image that goes into the manifest."""

    path: str
    label: str


@dataclass(frozen=True)
class ManifestResult:
    """What a folder yielded: labelled images (sorted by path), skipped files, labels."""

    images: list[Labelled]
    skipped: list[Skipped]
    labels: list[str]


def label_for(relative_path: str) -> str | None:
    """The label of an image from its path relative to the root, or None at the root."""
    parts = PurePosixPath(relative_path).parts
    if len(parts) < 2:
        return None
    folder = parts[0]
    numbered = NUMBERED_FOLDER.match(folder)
    return numbered.group("label") if numbered else folder


def collect(
    paths: Iterable[str],
    read: Callable[[str], bytes],
    label: Callable[[str], str | None] = label_for,
) -> ManifestResult:
    """Label and check every image path (relative, ``/``-separated).

    :param read: returns a file's bytes (local disk or S3), or at least its
        first bytes (the header) when sizes were checked before.
    :param label: a path's label (default :func:`label_for`, the top folder).
    :raises ManifestError: when fewer than two labels have a usable image.
    """
    images: list[Labelled] = []
    skipped: list[Skipped] = []
    for path in sorted(paths):
        if PurePosixPath(path).suffix.lower() not in IMAGE_SUFFIXES:
            if not PurePosixPath(path).name.startswith("."):
                skipped.append(Skipped(path, "not a .jpg, .jpeg or .png file"))
            continue
        name = label(path)
        if name is None:
            skipped.append(Skipped(path, "image at the root has no label folder"))
            continue
        try:
            check_image(read(path), TRAINING_LIMITS)
        except ImageError as exc:
            skipped.append(Skipped(path, str(exc)))
            continue
        images.append(Labelled(path, name))
    labels = sorted({image.label for image in images})
    if len(labels) < 2:
        found = ", ".join(labels) or "none"
        raise ManifestError(
            f"Custom Labels needs at least 2 labels with usable images; found {len(labels)} "
            f"({found}). Put images in one folder per label, e.g. with_qr/ and without_qr/."
        )
    return ManifestResult(images, skipped, labels)


def scan_local(root: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """Every file under ``root`` (relative POSIX paths) and a reader for them."""
    if not root.is_dir():
        raise ManifestError(f"{root} is not a folder")
    paths = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return paths, lambda relative: (root / relative).read_bytes()


def scan_s3(s3: Any, url: str) -> tuple[list[str], Callable[[str], bytes]]:
    """Every object under ``s3://bucket/prefix`` (paths relative to the prefix) and a reader."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    paths = [
        item["Key"][len(prefix) :]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    if not paths:
        raise ManifestError(f"{url} holds no objects")

    def read(relative: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=prefix + relative)["Body"].read()
        return body

    return paths, read


def manifest_lines(
    images: Iterable[Labelled], labels: list[str], s3_prefix: str, creation_date: str
) -> list[str]:
    """One JSON line per image; ``source-ref`` is ``s3_prefix`` + the relative path."""
    prefix = s3_prefix.rstrip("/") + "/"
    index = {label: i for i, label in enumerate(labels)}
    return [
        json.dumps(
            {
                "source-ref": prefix + image.path,
                ATTRIBUTE: index[image.label],
                f"{ATTRIBUTE}-metadata": {
                    "confidence": 1,
                    "job-name": f"labeling-job/{ATTRIBUTE}",
                    "class-name": image.label,
                    "human-annotated": "yes",
                    "creation-date": creation_date,
                    "type": "groundtruth/image-classification",
                },
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        for image in images
    ]


def stable_split(
    images: list[Labelled], test_fraction: float, seed: int
) -> tuple[list[Labelled], list[Labelled]]:
    """Like :func:`split`, but each label's test images are those whose
    ``sha256(seed/path)`` sorts first, so that a run with more images keeps
    (almost) the same test set: an image stays in it unless the label's test
    count is reached by images that sort before it, and one label's images never
    move another's. The retraining workflow uses it, so that the new and the
    active versions' F1 come from nearly the same test images.

    :raises ManifestError: as :func:`split`.
    """
    return split(images, test_fraction, seed, order=_hash_order(seed))


def _hash_order(seed: int) -> Callable[[list[Labelled]], list[Labelled]]:
    def order(members: list[Labelled]) -> list[Labelled]:
        return sorted(
            members, key=lambda i: hashlib.sha256(f"{seed}/{i.path}".encode()).hexdigest()
        )

    return order


def split(
    images: list[Labelled],
    test_fraction: float,
    seed: int,
    order: Callable[[list[Labelled]], list[Labelled]] | None = None,
) -> tuple[list[Labelled], list[Labelled]]:
    """Per label, a seeded ``test_fraction`` of images goes to the test set (at least one each).

    :param order: puts a label's images in the order the test set is taken from
        (default: a shuffle seeded once for the whole split).
    :raises ManifestError: when a label has too few images to give one to each set.
    """
    if not 0 < test_fraction < 1:
        raise ManifestError(
            f"--test-split must be between 0 and 1 (exclusive), got {test_fraction}"
        )
    rng = random.Random(seed)  # noqa: S311  (sampling, not security)
    train: list[Labelled] = []
    test: list[Labelled] = []
    by_label: dict[str, list[Labelled]] = {}
    for image in images:
        by_label.setdefault(image.label, []).append(image)
    for label, members in sorted(by_label.items()):
        if len(members) < 2:
            raise ManifestError(f"label {label!r} has 1 image; a train/test split needs at least 2")
        if order is None:
            shuffled = members[:]
            rng.shuffle(shuffled)
        else:
            shuffled = order(members)
        count = min(len(members) - 1, max(1, round(len(members) * test_fraction)))
        test.extend(shuffled[:count])
        train.extend(shuffled[count:])
    return sorted(train, key=lambda i: i.path), sorted(test, key=lambda i: i.path)
