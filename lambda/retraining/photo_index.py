"""The photo index's builder: every labelled photo embedded once, nothing embedded twice.

``tools.models index`` (a person, with a progress bar and the cost printed
first) and the retraining workflow's ``RefreshIndex`` step (after confirmed
feedback joined the training data) both run :func:`plan` then :func:`build`.

* **Which photos**: the base images under the dataset prefix (one folder per
  label, :func:`retraining.manifest.label_for`) and every confirmed feedback
  item, each with its ``split``: ``test`` for the images the retraining
  workflow's hash-ordered split (:func:`retraining.manifest.stable_split`,
  seed 42) holds out, else ``train``. ``tools.models evaluate`` votes with the
  ``train`` ones only.
* **Incremental**: a photo whose vector key (:func:`shared.embeddings.vector_key`
  of its S3 key) is in the index with the same ETag, label and split is
  skipped; a changed one is embedded again; vectors of photos that are gone are
  deleted.
* **Idempotent and resumable**: keys are derived from the photo, so writing
  one twice replaces it; vectors are written every :data:`BATCH` photos, so a
  run stopped halfway keeps what it wrote and the next run embeds only the rest.
* **Limits**: a photo over the model's pixels (Titan G1: 2,048 px a side) is
  shrunk with Pillow before embedding (the function gets the project's native
  layer); a photo the model cannot take is reported as skipped, never dropped
  silently.

PutVectors takes 1 to 500 vectors per call and DeleteVectors 1 to 500 keys
(the S3 Vectors API reference); ListVectors pages with ``nextToken``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.embeddings import EmbeddingModel, vector_key
from shared.imaging import ImageError, read_header
from shared.paging import pages, plain_call

from retraining import manifest

BATCH = 50
"""Photos embedded between two PutVectors calls (a failure loses at most this many)."""
MAX_KEYS_PER_CALL = 500
SPLIT_SEED = 42
"""The retraining workflow's split seed (``retraining.steps.prepare_data``)."""

Call = Callable[..., Any]
"""``call(client, operation, **params)``: how AWS is called (the workflow's retrying
:func:`retraining.steps.call`, or a plain call)."""


@dataclass(frozen=True)
class Photo:
    """A labelled photo in the training bucket."""

    s3_key: str
    label: str
    split: str
    etag: str

    @property
    def metadata(self) -> dict[str, str]:
        return {"label": self.label, "split": self.split, "s3_key": self.s3_key, "etag": self.etag}


@dataclass(frozen=True)
class Plan:
    """What a build will do: photos to embed, how many are already indexed, stale keys."""

    to_embed: list[Photo]
    unchanged: int
    stale: list[str]

    def cost_usd(self, model: EmbeddingModel) -> float:
        """What embedding :attr:`to_embed` costs at the model's on-demand price."""
        return len(self.to_embed) * model.usd_per_image


@dataclass
class Result:
    """What a build did."""

    embedded: int = 0
    shrunk: int = 0
    deleted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(S3 key, reason) of each photo left out."""
    complete: bool = True
    """False when the build stopped early (``should_stop``): run it again to go on."""


def _with_splits(labelled: dict[str, tuple[str, str]], test_fraction: float) -> list[Photo]:
    """``{key: (label, etag)}`` as photos, with the workflow's train/test split per label
    (a label with one photo has it in ``train``)."""
    images = [manifest.Labelled(key, label) for key, (label, _) in sorted(labelled.items())]
    test: set[str] = set()
    by_label: dict[str, list[manifest.Labelled]] = {}
    for image in images:
        by_label.setdefault(image.label, []).append(image)
    for members in by_label.values():
        if len(members) >= 2:
            test |= {i.path for i in manifest.stable_split(members, test_fraction, SPLIT_SEED)[1]}
    return [
        Photo(i.path, i.label, "test" if i.path in test else "train", labelled[i.path][1])
        for i in images
    ]


def labelled_photos(
    s3: Any,
    bucket: str,
    dataset_prefix: str,
    confirmed: Iterable[tuple[str, str]] = (),
    test_fraction: float = 0.2,
    call: Call = plain_call,
) -> tuple[list[Photo], list[tuple[str, str]]]:
    """The photos to index: images under ``dataset_prefix`` (label from the folder) and
    the ``confirmed`` feedback items' ``(training_key, label)``.

    :returns: the photos (sorted by key) and (key, reason) of the files left out (not an
        image, no label folder, feedback copy missing).
    """
    base = dataset_prefix.rstrip("/") + "/"
    etags: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    for prefix in (base, *sorted({key.rsplit("/", 2)[0] + "/" for key, _ in confirmed})):
        for page in pages(
            call,
            s3,
            "list_objects_v2",
            "NextContinuationToken",
            "ContinuationToken",
            Bucket=bucket,
            Prefix=prefix,
        ):
            for obj in page.get("Contents", []):
                etags[obj["Key"]] = obj["ETag"].strip('"')
    labelled: dict[str, tuple[str, str]] = {}
    for key in sorted(k for k in etags if k.startswith(base)):
        relative = key[len(base) :]
        if relative.endswith("/") or relative.rsplit("/", 1)[-1].startswith("."):
            continue
        if not relative.lower().endswith(tuple(manifest.IMAGE_SUFFIXES)):
            skipped.append((key, "not a .jpg, .jpeg or .png file"))
            continue
        label = manifest.label_for(relative)
        if label is None:
            skipped.append((key, "image at the root has no label folder"))
            continue
        labelled[key] = (label, etags[key])
    for key, label in confirmed:
        if key not in etags:
            skipped.append((key, "confirmed feedback whose photo is not in the training bucket"))
            continue
        labelled[key] = (label, etags[key])
    return _with_splits(labelled, test_fraction), skipped


def indexed(s3vectors: Any, index_arn: str, call: Call = plain_call) -> dict[str, dict[str, Any]]:
    """Every vector key in the index with its metadata (ListVectors, all pages)."""
    found: dict[str, dict[str, Any]] = {}
    for page in pages(
        call,
        s3vectors,
        "list_vectors",
        "nextToken",
        "nextToken",
        indexArn=index_arn,
        returnMetadata=True,
    ):
        for vector in page.get("vectors", []):
            found[vector["key"]] = vector.get("metadata") or {}
    return found


def plan(photos: list[Photo], index: dict[str, dict[str, Any]]) -> Plan:
    """Photos not indexed as they are now (new, or changed ETag, label or split), and the
    keys of indexed vectors whose photo is gone."""
    wanted = {vector_key(p.s3_key): p for p in photos}
    to_embed = [p for key, p in wanted.items() if index.get(key) != p.metadata]
    stale = sorted(set(index) - set(wanted))
    return Plan(to_embed, len(wanted) - len(to_embed), stale)


def _shrunk(data: bytes, max_side: int) -> bytes:
    """A JPEG of ``data`` whose longest side is ``max_side`` (Pillow, lazily imported)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
        image.thumbnail((max_side, max_side))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        return out.getvalue()


def build(
    s3: Any,
    bedrock: Any,
    s3vectors: Any,
    *,
    bucket: str,
    index_arn: str,
    model: EmbeddingModel,
    work: Plan,
    call: Call = plain_call,
    on_photo: Callable[[Photo], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Result:
    """Embed :attr:`Plan.to_embed` and write the vectors (every :data:`BATCH`), then delete
    :attr:`Plan.stale`.

    AWS errors propagate (through ``call``): what was written stays, and the next run
    continues from there. ``should_stop`` (asked before each photo) ends the build early
    with what it wrote; :attr:`Result.complete` is then False.
    """
    result = Result()
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            call(s3vectors, "put_vectors", indexArn=index_arn, vectors=list(pending))
            result.embedded += len(pending)
            pending.clear()

    def embed(photo: Photo) -> None:
        data: bytes = call(s3, "get_object", Bucket=bucket, Key=photo.s3_key)["Body"].read()
        try:
            info = read_header(data)
            if model.max_side is not None and max(info.width, info.height) > model.max_side:
                data = _shrunk(data, model.max_side)
                info = read_header(data)
                result.shrunk += 1
        except (ImageError, OSError) as exc:
            result.skipped.append((photo.s3_key, f"not a readable JPEG or PNG: {exc}"))
            return
        if len(data) > model.max_bytes:
            result.skipped.append((photo.s3_key, f"over {model.max_bytes} bytes for the model"))
            return
        answer = call(
            bedrock,
            "invoke_model",
            modelId=model.model_id,
            body=model.request_body(data, info.format),
            contentType="application/json",
            accept="application/json",
        )
        try:
            vector = model.vector(answer["body"].read())
        except ValueError as exc:
            result.skipped.append((photo.s3_key, str(exc)))
            return
        pending.append(
            {
                "key": vector_key(photo.s3_key),
                "data": {"float32": vector},
                "metadata": photo.metadata,
            }
        )
        if len(pending) >= BATCH:
            flush()

    for photo in work.to_embed:
        if should_stop():
            flush()
            result.complete = False
            return result
        embed(photo)
        if on_photo is not None:
            on_photo(photo)
    flush()
    for start in range(0, len(work.stale), MAX_KEYS_PER_CALL):
        keys = work.stale[start : start + MAX_KEYS_PER_CALL]
        call(s3vectors, "delete_vectors", indexArn=index_arn, keys=keys)
        result.deleted += len(keys)
    return result
