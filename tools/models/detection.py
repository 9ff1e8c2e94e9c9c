"""Bounding boxes from the tools people label with, into Ground Truth object-detection manifests.

Reads (with globox, https://github.com/laclouis5/globox, a converter library for
object-detection datasets):

* ``coco``: a COCO JSON file (``images``, ``annotations`` with ``bbox`` as
  ``[x, y, width, height]`` in pixels, ``categories``);
* ``voc``: a folder of Pascal VOC XML files (labelImg, CVAT's VOC export);
* ``yolo``: a folder of YOLO txt files (``class cx cy w h``, ratios) with the class list
  in ``classes.txt``, ``obj.names`` or ``data.yaml`` (``names``) beside them; image
  sizes are read from the images;
* ``cvat``: a CVAT for images 1.1 XML file;
* ``label-studio``: a Label Studio JSON export (tasks with ``annotations[].result[]``
  of type ``rectanglelabels``: ``x``, ``y``, ``width``, ``height`` in percent of
  ``original_width`` x ``original_height``; Label Studio's own converter lives in
  ``label-studio-sdk``, which would pull pandas and nltk into the tools, so its
  documented result format is mapped here onto globox's ``Annotation``).

Writes SageMaker Ground Truth object-detection lines
(:mod:`retraining.detection_manifest` has the format and the code the retraining
workflow shares).

Limits checked, each problem reported with its file and box (Custom Labels
"Guidelines and quotas": at most 250 unique labels per manifest, at most 50
labels per image, at least 0 boxes per image, at least 1 label per detection
dataset; the training image limits of ``shared.imaging.TRAINING``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retraining.detection_manifest import (
    ATTRIBUTE,
    MAX_BOXES_PER_IMAGE,
    Annotated,
    Box,
    manifest_lines,
    read_manifest,
    split,
)
from shared.imaging import TRAINING, ImageError, check_image

__all__ = [
    "ATTRIBUTE",
    "FORMATS",
    "Annotated",
    "AnnotationError",
    "Box",
    "Problem",
    "detect_format",
    "manifest_lines",
    "read",
    "read_manifest",
    "split",
    "validate",
]

FORMATS = ("coco", "voc", "yolo", "cvat", "label-studio")
MAX_LABELS_PER_MANIFEST = 250
YOLO_CLASS_FILES = ("classes.txt", "obj.names", "data.yaml")


class AnnotationError(ValueError):
    """The annotations cannot be read or make no manifest; the message says why."""


@dataclass(frozen=True)
class Problem:
    """Something wrong, named by the file it came from, the image and the box (1-based)."""

    source: str
    image: str
    box: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.image}" + (f", box {self.box}" if self.box else "")
        return f"{where}: {self.message}"


def detect_format(path: Path) -> str:
    """The export format of ``path`` (a file or a folder), from what it holds.

    :raises AnnotationError: nothing recognisable, or several formats mixed in one folder.
    """
    if path.is_file():
        if path.suffix.lower() == ".xml":
            return "cvat"
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and {"images", "annotations"} <= set(data):
                return "coco"
            if isinstance(data, list):
                return "label-studio"
        raise AnnotationError(
            f"{path}: not a COCO JSON, Label Studio JSON or CVAT XML file; say which with "
            "--annotation-format"
        )
    if not path.is_dir():
        raise AnnotationError(f"{path} does not exist")
    txts = [p for p in path.glob("*.txt") if p.name not in YOLO_CLASS_FILES]
    xmls = list(path.glob("*.xml"))
    if txts and xmls:
        raise AnnotationError(
            f"{path} mixes Pascal VOC XML ({len(xmls)} files) and YOLO txt ({len(txts)} files); "
            "keep one export per folder"
        )
    if xmls:
        return "voc"
    if txts:
        return "yolo"
    raise AnnotationError(f"{path} holds no .xml (Pascal VOC) or .txt (YOLO) annotation files")


def _yolo_classes(folder: Path) -> list[str]:
    for name in YOLO_CLASS_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name == "data.yaml":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip().startswith("names:"):
                    value = line.split(":", 1)[1].strip()
                    return [
                        v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()
                    ]
            continue
        return [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    raise AnnotationError(
        f"{folder}: a YOLO export needs its class list: classes.txt, obj.names or data.yaml"
    )


def _label_studio(path: Path) -> Any:
    from globox import Annotation, AnnotationSet, BoundingBox

    tasks = json.loads(path.read_text(encoding="utf-8"))

    def parse(task: dict[str, Any]) -> Annotation:
        image = str(task.get("data", {}).get("image", task.get("id", "?")))
        image = image.rsplit("/", 1)[-1].split("?")[0]
        results = [
            r
            for a in task.get("annotations", [])
            if not a.get("was_cancelled")
            for r in a.get("result", [])
            if r.get("type") == "rectanglelabels"
        ]
        size = (
            (int(results[0]["original_width"]), int(results[0]["original_height"]))
            if results
            else None
        )
        boxes = []
        for r in results:
            w, h = r["original_width"], r["original_height"]
            v = r["value"]
            left, top = v["x"] / 100 * w, v["y"] / 100 * h
            for label in v.get("rectanglelabels", []):
                boxes.append(
                    BoundingBox(
                        label=label,
                        xmin=left,
                        ymin=top,
                        xmax=left + v["width"] / 100 * w,
                        ymax=top + v["height"] / 100 * h,
                    )
                )
        return Annotation(image_id=image, image_size=size, boxes=boxes)

    return AnnotationSet.from_iter(parse, tasks if isinstance(tasks, list) else [])


def read(
    path: Path, images: Path, fmt: str | None = None
) -> tuple[list[Annotated], list[str] | None]:
    """Every image of the export with its boxes in pixels, sorted by image name, and the
    export's own class list when it has one (YOLO's: a class index past it is unknown).

    :raises AnnotationError: unreadable export, unknown format, missing class list.
    """
    from globox import AnnotationSet

    classes: list[str] | None = None
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise AnnotationError(f"--annotation-format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        if fmt == "coco":
            dataset = AnnotationSet.from_coco(path)
        elif fmt == "voc":
            dataset = AnnotationSet.from_pascal_voc(path)
        elif fmt == "cvat":
            dataset = AnnotationSet.from_cvat(path)
        elif fmt == "yolo":
            classes = _yolo_classes(path)
            suffix = next(
                (
                    p.suffix
                    for p in sorted(images.iterdir())
                    if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
                ),
                ".jpg",
            )
            # globox reads every .txt of the folder as boxes: the class list stays out.
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as labels_only:
                for txt in path.glob("*.txt"):
                    if txt.name not in YOLO_CLASS_FILES:
                        shutil.copy(txt, labels_only)
                dataset = AnnotationSet.from_yolo_v5(
                    labels_only, image_folder=images, image_extension=suffix
                )
            dataset = dataset.map_labels({str(i): name for i, name in enumerate(classes)})
        else:
            dataset = _label_studio(path)
    except AnnotationError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnnotationError(f"{path}: cannot read it as {fmt}: {exc}") from None
    found = []
    for annotation in dataset:
        width, height = annotation.image_size or (0, 0)
        found.append(
            Annotated(
                image=str(annotation.image_id),
                width=int(width),
                height=int(height),
                boxes=[
                    Box(b.label, b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin)
                    for b in annotation.boxes
                ],
            )
        )
    return sorted(found, key=lambda a: a.image), classes


def validate(
    annotated: list[Annotated], images: Path, source: str, classes: Iterable[str] | None = None
) -> tuple[list[Annotated], list[Problem], list[str]]:
    """Check every image and box; keep only what Custom Labels can train on.

    :param classes: the labels allowed (a YOLO class list, ``--labels``); None: any.
    :returns: the images kept (bad boxes dropped from them, and reported), every problem,
        and the labels of the manifest (sorted).
    :raises AnnotationError: no labelled box at all, or over 250 labels.
    """
    allowed = set(classes) if classes is not None else None
    kept: list[Annotated] = []
    problems: list[Problem] = []
    for image in annotated:
        path = images / image.image
        try:
            info = check_image(path.read_bytes(), TRAINING)
        except FileNotFoundError:
            problems.append(Problem(source, image.image, None, f"no such image in {images}"))
            continue
        except ImageError as exc:
            problems.append(Problem(source, image.image, None, str(exc)))
            continue
        if (image.width, image.height) != (info.width, info.height):
            if image.width and image.height:
                problems.append(
                    Problem(
                        source,
                        image.image,
                        None,
                        f"the export says {image.width}x{image.height} px, the image is "
                        f"{info.width}x{info.height}: boxes scaled to the image",
                    )
                )
                sx, sy = info.width / image.width, info.height / image.height
                image.boxes = [
                    Box(b.label, b.left * sx, b.top * sy, b.width * sx, b.height * sy)
                    for b in image.boxes
                ]
            image.width, image.height = info.width, info.height
        good = []
        for number, box in enumerate(image.boxes, start=1):
            problem = _box_problem(box, image, allowed)
            if problem:
                problems.append(Problem(source, image.image, number, problem))
            else:
                good.append(box)
        if len(good) > MAX_BOXES_PER_IMAGE:
            problems.append(
                Problem(
                    source,
                    image.image,
                    None,
                    f"{len(good)} boxes; Custom Labels takes at most {MAX_BOXES_PER_IMAGE} labels "
                    "per image: the image is left out",
                )
            )
            continue
        if not good:
            problems.append(
                Problem(source, image.image, None, "no box: kept as a negative (allowed: 0 boxes)")
            )
        kept.append(Annotated(image.image, image.width, image.height, good))
    labels = sorted({b.label for image in kept for b in image.boxes})
    if not labels:
        raise AnnotationError(
            "no usable box in the export: object detection needs at least 1 label"
        )
    if len(labels) > MAX_LABELS_PER_MANIFEST:
        raise AnnotationError(
            f"{len(labels)} labels; Custom Labels takes at most {MAX_LABELS_PER_MANIFEST} "
            "per manifest"
        )
    return kept, problems, labels


def _box_problem(box: Box, image: Annotated, allowed: set[str] | None) -> str | None:
    if allowed is not None and box.label not in allowed:
        return f"unknown class {box.label!r}; known: {', '.join(sorted(allowed))}"
    if box.width <= 0 or box.height <= 0:
        return f"zero area ({box.width:g} x {box.height:g} px)"
    right, bottom = box.left + box.width, box.top + box.height
    slack = 0.5  # half a pixel: exports round their corners
    if (
        box.left < -slack
        or box.top < -slack
        or right > image.width + slack
        or bottom > image.height + slack
    ):
        return (
            f"outside the {image.width}x{image.height} image (left {box.left:g}, top {box.top:g}, "
            f"right {right:g}, bottom {bottom:g})"
        )
    return None
