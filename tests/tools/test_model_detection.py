"""Detection exports into Ground Truth manifests: every format, every problem, the round trip.

Each export is written here to its format's specification, for the same photo: one
``qr`` box at left 10, top 20, 100 x 50 px on a 320 x 240 image.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.support.api_events import image_bytes
from tools.aws import ToolError
from tools.models import __main__ as cli
from tools.models import detection
from tools.models.detection import Annotated, AnnotationError, Box

QR = Box("qr", 10, 20, 100, 50)


def images(tmp_path: Path, *names: str, width: int = 320, height: int = 240) -> Path:
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(image_bytes(width, height))
    return folder


def coco(tmp_path: Path, boxes: list[list[float]] | None = None, category: int = 1) -> Path:
    path = tmp_path / "coco.json"
    bboxes: list[list[float]] = boxes if boxes is not None else [[10, 20, 100, 50]]
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.jpg", "width": 320, "height": 240}],
                "annotations": [
                    {"id": i + 1, "image_id": 1, "category_id": category, "bbox": bbox,
                     "area": bbox[2] * bbox[3], "iscrowd": 0}
                    for i, bbox in enumerate(bboxes)
                ],
                "categories": [{"id": 1, "name": "qr"}, {"id": 2, "name": "barcode"}],
            }
        )
    )  # fmt: skip
    return path


def voc(tmp_path: Path) -> Path:
    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "a.xml").write_text(
        "<annotation><folder>images</folder><filename>a.jpg</filename>"
        "<size><width>320</width><height>240</height><depth>3</depth></size>"
        "<object><name>qr</name><pose>Unspecified</pose><truncated>0</truncated>"
        "<difficult>0</difficult><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>110</xmax>"
        "<ymax>70</ymax></bndbox></object></annotation>"
    )
    return folder


def yolo(tmp_path: Path, line: str = "0 0.1875 0.1875 0.3125 0.2083333") -> Path:
    folder = tmp_path / "yolo"
    folder.mkdir()
    (folder / "a.txt").write_text(line + "\n")
    (folder / "classes.txt").write_text("qr\nbarcode\n")
    return folder


def cvat(tmp_path: Path) -> Path:
    path = tmp_path / "annotations.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>'
        '<image id="0" name="a.jpg" width="320" height="240">'
        '<box label="qr" occluded="0" source="manual" xtl="10" ytl="20" xbr="110" ybr="70" '
        'z_order="0"/>'
        "</image></annotations>"
    )
    return path


def label_studio(tmp_path: Path) -> Path:
    path = tmp_path / "project.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": 7,
                    "data": {"image": "/data/upload/1/a.jpg"},
                    "annotations": [
                        {
                            "id": 1,
                            "result": [
                                {
                                    "id": "r1",
                                    "type": "rectanglelabels",
                                    "from_name": "label",
                                    "to_name": "image",
                                    "original_width": 320,
                                    "original_height": 240,
                                    "image_rotation": 0,
                                    "value": {
                                        "x": 3.125,
                                        "y": 100 * 20 / 240,
                                        "width": 31.25,
                                        "height": 100 * 50 / 240,
                                        "rotation": 0,
                                        "rectanglelabels": ["qr"],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        )
    )
    return path


EXPORTS = {"coco": coco, "voc": voc, "yolo": yolo, "cvat": cvat, "label-studio": label_studio}


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_every_format_gives_the_same_box_and_is_detected(tmp_path: Path, fmt: str) -> None:
    folder = images(tmp_path, "a.jpg")
    export = EXPORTS[fmt](tmp_path)

    assert detection.detect_format(export) == fmt
    found, _ = detection.read(export, folder)

    [image] = found
    assert (image.image, image.width, image.height) == ("a.jpg", 320, 240)
    [box] = image.boxes
    assert box.label == "qr"
    assert (box.left, box.top, box.width, box.height) == pytest.approx((10, 20, 100, 50), abs=0.01)


def test_manifest_lines_are_the_documented_ground_truth_shape(tmp_path: Path) -> None:
    image = Annotated("a.jpg", 320, 240, [QR, Box("barcode", 200, 100, 60.4, 30.6)])

    [line] = detection.manifest_lines(
        [image], ["barcode", "qr"], "s3://bucket/images", "2026-12-01T00:00:00", "my job"
    )

    record = json.loads(line)
    assert set(record) == {"source-ref", "bounding-box", "bounding-box-metadata"}
    assert record["source-ref"] == "s3://bucket/images/a.jpg"
    assert record["bounding-box"] == {
        "image_size": [{"width": 320, "height": 240, "depth": 3}],
        "annotations": [
            {"class_id": 1, "left": 10, "top": 20, "width": 100, "height": 50},
            {"class_id": 0, "left": 200, "top": 100, "width": 60, "height": 31},
        ],
    }
    assert record["bounding-box-metadata"] == {
        "objects": [{"confidence": 1}, {"confidence": 1}],
        "class-map": {"0": "barcode", "1": "qr"},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2026-12-01T00:00:00",
        "job-name": "my job",
    }


def test_a_manifest_read_back_gives_the_same_boxes() -> None:
    written = [
        Annotated("a.jpg", 320, 240, [QR, Box("barcode", 200, 100, 60, 30)]),
        Annotated("b.png", 640, 480, []),
    ]

    lines = detection.manifest_lines(written, ["barcode", "qr"], "s3://b/p/", "2026-12-01T00:00:00")

    assert detection.read_manifest(lines) == written


def problems_of(tmp_path: Path, image: Annotated, classes: list[str] | None = None) -> list[str]:
    folder = images(tmp_path, "a.jpg")
    other = Annotated("keep.jpg", 320, 240, [QR])
    (folder / "keep.jpg").write_bytes(image_bytes(320, 240))
    _, problems, _ = detection.validate([image, other], folder, "export.json", classes)
    # The bad box first; an image left with no box is then also said to be a negative.
    return [str(p) for p in problems if "kept as a negative" not in str(p)]


@pytest.mark.parametrize(
    ("box", "says"),
    [
        (Box("qr", 300, 20, 100, 50), "export.json: a.jpg, box 1: outside the 320x240 image"),
        (Box("qr", -5, 20, 100, 50), "box 1: outside the 320x240 image (left -5"),
        (Box("qr", 10, 20, 0, 50), "box 1: zero area (0 x 50 px)"),
        (Box("qr", 10, 20, 100, -3), "box 1: zero area"),
    ],
)
def test_bad_boxes_are_reported_with_their_file_and_box(
    tmp_path: Path, box: Box, says: str
) -> None:
    [problem] = problems_of(tmp_path, Annotated("a.jpg", 320, 240, [box]))
    assert says in problem


def test_an_unknown_class_is_reported(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, Annotated("a.jpg", 320, 240, [Box("5", 1, 1, 9, 9)]), ["qr"])
    assert "box 1: unknown class '5'; known: qr" in problem


def test_an_image_without_boxes_is_kept_as_a_negative_and_said_so(tmp_path: Path) -> None:
    folder = images(tmp_path, "a.jpg", "keep.jpg")

    kept, problems, labels = detection.validate(
        [Annotated("a.jpg", 320, 240, []), Annotated("keep.jpg", 320, 240, [QR])], folder, "x"
    )

    assert [k.image for k in kept] == ["a.jpg", "keep.jpg"]
    assert [str(p) for p in problems] == ["x: a.jpg: no box: kept as a negative (allowed: 0 boxes)"]
    assert labels == ["qr"]


def test_more_than_50_boxes_leave_the_image_out_citing_custom_labels(tmp_path: Path) -> None:
    many = [Box("qr", i * 5, 10, 4, 4) for i in range(51)]
    [problem] = problems_of(tmp_path, Annotated("a.jpg", 320, 240, many))
    assert "51 boxes; Custom Labels takes at most 50 labels per image" in problem


def test_images_missing_or_over_the_training_limits_are_reported(tmp_path: Path) -> None:
    folder = images(tmp_path, "small.jpg", width=50, height=50)
    (folder / "keep.jpg").write_bytes(image_bytes(320, 240))

    kept, problems, _ = detection.validate(
        [
            Annotated("gone.jpg", 320, 240, [QR]),
            Annotated("small.jpg", 50, 50, [Box("qr", 1, 1, 10, 10)]),
            Annotated("keep.jpg", 320, 240, [QR]),
        ],
        folder,
        "x",
    )

    said = [str(p) for p in problems]
    assert [k.image for k in kept] == ["keep.jpg"]
    assert said[0].startswith("x: gone.jpg: no such image")
    assert "64 px" in said[1]


def test_an_export_with_no_usable_box_makes_no_manifest(tmp_path: Path) -> None:
    folder = images(tmp_path, "a.jpg")

    with pytest.raises(AnnotationError, match="at least 1 label"):
        detection.validate([Annotated("a.jpg", 320, 240, [Box("qr", 0, 0, 0, 0)])], folder, "x")


def test_a_folder_mixing_voc_and_yolo_is_refused(tmp_path: Path) -> None:
    folder = voc(tmp_path)
    (folder / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n")

    with pytest.raises(AnnotationError, match="mixes Pascal VOC XML"):
        detection.detect_format(folder)


def test_yolo_needs_its_class_list(tmp_path: Path) -> None:
    folder = yolo(tmp_path)
    (folder / "classes.txt").unlink()

    with pytest.raises(AnnotationError, match=r"classes\.txt, obj\.names or data\.yaml"):
        detection.read(folder, images(tmp_path, "a.jpg"))


def test_a_yolo_class_index_past_the_list_is_unknown(tmp_path: Path) -> None:
    folder = images(tmp_path, "a.jpg")
    export = yolo(tmp_path, "5 0.5 0.5 0.1 0.1")

    (folder / "b.jpg").write_bytes(image_bytes(320, 240))

    found, classes = detection.read(export, folder)
    _, problems, _ = detection.validate(
        [*found, Annotated("b.jpg", 320, 240, [QR])], folder, "y", classes
    )

    assert "unknown class '5'; known: barcode, qr" in str(problems[0])


def test_the_split_is_by_image_and_deterministic() -> None:
    many = [Annotated(f"{i:03}.jpg", 320, 240, [QR]) for i in range(10)]

    train, test = detection.split(many, 0.2)
    again = detection.split(list(reversed(many)), 0.2)

    assert len(test) == 2
    assert len(train) == 8
    assert {a.image for a in test} == {a.image for a in again[1]}
    assert not {a.image for a in train} & {a.image for a in test}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.run(cli._parser().parse_args(["manifest", *argv]), session=None, out=out)
    return code, out.getvalue()


def test_the_command_writes_train_and_test_manifests_and_reports_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = images(tmp_path, "a.jpg", "b.jpg", "c.jpg")
    export = coco(tmp_path, [[10, 20, 100, 50], [300, 20, 100, 50]])
    out = tmp_path / "train.manifest"

    code, printed = run(
        str(folder), "--annotations", str(export), "--s3-prefix", "s3://b/qr",
        "--out", str(out), "--test-split", "0.5",
    )  # fmt: skip

    assert code == 0
    assert "labels: qr; 1 problem(s) reported" in printed
    assert "box 2: outside the 320x240 image" in capsys.readouterr().err
    lines = (
        out.read_text().splitlines() + out.with_suffix(".test.manifest").read_text().splitlines()
    )
    [record] = [json.loads(line) for line in lines]
    assert record["bounding-box"]["annotations"] == [
        {"class_id": 0, "left": 10, "top": 20, "width": 100, "height": 50}
    ]


def test_the_command_refuses_label_folders_beside_annotations(tmp_path: Path) -> None:
    folder = images(tmp_path, "a.jpg")
    (folder / "with_qr").mkdir()
    (folder / "with_qr" / "b.jpg").write_bytes(image_bytes(320, 240))

    with pytest.raises(ToolError, match=r"mixes layouts: it has label folders \(with_qr\)"):
        run(str(folder), "--annotations", str(coco(tmp_path)), "--s3-prefix", "s3://b/p",
            "--out", str(tmp_path / "m"))  # fmt: skip
