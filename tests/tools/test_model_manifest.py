"""Manifest building on generated image trees, in both layouts of DESIGN.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.api_events import image_bytes
from tools.models import __main__ as cli
from tools.models import manifest
from tools.models.manifest import ManifestError

GOLDEN_LINE = {
    "source-ref": "s3://training-bucket/datasets/qr/with_qr/001.png",
    "imgrec-classification": 0,
    "imgrec-classification-metadata": {
        "confidence": 1,
        "job-name": "labeling-job/imgrec-classification",
        "class-name": "with_qr",
        "human-annotated": "yes",
        "creation-date": "2026-01-01T00:00:00.000",
        "type": "groundtruth/image-classification",
    },
}


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def qr_tree(tmp_path: Path) -> Path:
    png = image_bytes(200, 200, "PNG")
    return tree(
        tmp_path / "qr",
        {
            "with_qr/001.png": png,
            "with_qr/002.png": png,
            "with_qr/003.png": png,
            "without_qr/001.png": png,
            "without_qr/002.jpg": image_bytes(300, 200),
            "without_qr/003.png": png,
            "stray.png": png,  # at the root: no label
            "with_qr/notes.txt": b"hello",
            "with_qr/broken.jpg": b"\xff\xd8\xff\xe0 truncated",
            "without_qr/anim.png": image_bytes(100, 100, "GIF"),  # a GIF named .png
            "without_qr/tiny.png": image_bytes(32, 32, "PNG"),
            "without_qr/huge.jpg": b"\xff\xd8" + b"\x00" * (15 * 1024 * 1024 + 1),
        },
    )


def build(root: Path) -> manifest.ManifestResult:
    paths, read = manifest.scan_local(root)
    return manifest.collect(paths, read)


def test_plain_layout_labels_by_folder_and_reports_every_skip(qr_tree: Path) -> None:
    result = build(qr_tree)

    assert result.labels == ["with_qr", "without_qr"]
    assert [i.path for i in result.images] == [
        "with_qr/001.png",
        "with_qr/002.png",
        "with_qr/003.png",
        "without_qr/001.png",
        "without_qr/002.jpg",
        "without_qr/003.png",
    ]
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons["stray.png"] == "image at the root has no label folder"
    assert reasons["with_qr/notes.txt"] == "not a .jpg, .jpeg or .png file"
    assert "JPEG" in reasons["with_qr/broken.jpg"]
    assert "GIF" in reasons["without_qr/anim.png"]
    assert "at least 64 px" in reasons["without_qr/tiny.png"]
    assert "at most 15728640 bytes" in reasons["without_qr/huge.jpg"]


def test_numbered_layout_takes_the_label_after_the_first_dot(tmp_path: Path) -> None:
    jpg = image_bytes(120, 160)
    root = tree(
        tmp_path / "books",
        {
            "001.ISBN479804573X/001_0001.jpg": jpg,
            "001.ISBN479804573X/001_0002.jpg": jpg,
            "002.ISBN4003101014/002_0001.jpg": jpg,
            "010.v1.2.edition/010_0001.jpg": jpg,
        },
    )

    result = build(root)

    assert result.labels == ["ISBN4003101014", "ISBN479804573X", "v1.2.edition"]


def test_unicode_labels_are_kept(tmp_path: Path) -> None:
    png = image_bytes(100, 100, "PNG")
    root = tree(tmp_path / "u", {"本/1.png": png, "雑誌/1.png": png})

    result = build(root)
    lines = manifest.manifest_lines(
        result.images, result.labels, "s3://b/p", "2026-01-01T00:00:00.000"
    )

    assert result.labels == ["本", "雑誌"]
    assert json.loads(lines[0])["imgrec-classification-metadata"]["class-name"] == "本"
    assert "本" in lines[0]  # written as UTF-8, not \\u escapes


def test_a_lone_label_is_refused_with_what_to_do(tmp_path: Path) -> None:
    root = tree(tmp_path / "one", {"with_qr/1.png": image_bytes(100, 100, "PNG")})

    with pytest.raises(ManifestError, match=r"at least 2 labels .* found 1 \(with_qr\)"):
        build(root)


def test_a_folder_of_loose_images_matches_no_layout(tmp_path: Path) -> None:
    root = tree(tmp_path / "flat", {"a.png": image_bytes(100, 100, "PNG")})

    with pytest.raises(ManifestError, match="one folder per label"):
        build(root)


def test_golden_line_in_ground_truth_classification_format(qr_tree: Path) -> None:
    result = build(qr_tree)

    lines = manifest.manifest_lines(
        result.images,
        result.labels,
        "s3://training-bucket/datasets/qr/",
        manifest.DEFAULT_CREATION_DATE,
    )

    assert json.loads(lines[0]) == GOLDEN_LINE | {
        "source-ref": "s3://training-bucket/datasets/qr/with_qr/001.png"
    }
    assert len(lines) == 6
    assert {json.loads(line)["imgrec-classification"] for line in lines} == {0, 1}


def test_cli_output_is_byte_for_byte_deterministic(qr_tree: Path, tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.manifest"
        code = cli.main(
            [
                "manifest",
                str(qr_tree),
                "--s3-prefix",
                "s3://b/qr",
                "--out",
                str(out),
                "--test-split",
                "0.34",
            ]
        )
        assert code == 0
        outputs.append((out.read_bytes(), out.with_suffix(".test.manifest").read_bytes()))

    assert outputs[0] == outputs[1]
    train, test = (len(b.splitlines()) for b in outputs[0])
    assert (train, test) == (4, 2)  # one test image per label


def test_split_keeps_every_label_in_both_sets(qr_tree: Path) -> None:
    result = build(qr_tree)

    train, test = manifest.split(result.images, 0.5, seed=7)

    assert {i.label for i in train} == {i.label for i in test} == set(result.labels)
    assert sorted(i.path for i in train + test) == [i.path for i in result.images]


def test_split_refuses_a_label_with_one_image(tmp_path: Path) -> None:
    png = image_bytes(100, 100, "PNG")
    root = tree(tmp_path / "s", {"a/1.png": png, "a/2.png": png, "b/1.png": png})

    with pytest.raises(ManifestError, match="label 'b' has 1 image"):
        manifest.split(build(root).images, 0.2, seed=1)


def test_cli_reports_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "manifest",
            str(tmp_path / "nope"),
            "--s3-prefix",
            "s3://b/p",
            "--out",
            str(tmp_path / "m"),
        ]
    )

    assert code == 1
    assert "is not a folder" in capsys.readouterr().err


def _images(label: str, count: int, start: int = 0) -> list[manifest.Labelled]:
    return [manifest.Labelled(f"{label}/{n:04}.jpg", label) for n in range(start, start + count)]


def test_stable_split_keeps_the_test_set_when_images_are_added() -> None:
    """What the retraining workflow relies on to compare versions on the same test images."""
    before = _images("with_qr", 50) + _images("without_qr", 50)
    after = before + _images("with_qr", 5, start=50)  # feedback adds five with_qr photos

    _, test_before = manifest.stable_split(before, 0.2, seed=42)
    _, test_after = manifest.stable_split(after, 0.2, seed=42)
    _, shuffled_after = manifest.split(after, 0.2, seed=42)
    _, shuffled_before = manifest.split(before, 0.2, seed=42)

    kept = set(test_before) & set(test_after)
    assert len(test_after) == 21  # round(55 * 0.2) + 10
    assert len(kept) >= 19  # at most one with_qr test image displaced by a newcomer
    assert {i for i in test_before if i.label == "without_qr"} == {
        i for i in test_after if i.label == "without_qr"
    }, "one label's new images never move another label's test images"
    # The seeded shuffle reshuffles everything after the label that grew (its RNG is shared).
    assert len(set(shuffled_before) & set(shuffled_after)) < len(kept)


def test_stable_split_does_not_depend_on_the_order_images_come_in() -> None:
    images = _images("a", 30) + _images("b", 12)

    assert manifest.stable_split(images, 0.25, 7) == manifest.stable_split(images[::-1], 0.25, 7)
    assert manifest.stable_split(images, 0.25, 7) != manifest.stable_split(images, 0.25, 8)
