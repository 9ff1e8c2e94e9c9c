"""People in the face collection as Rekognition user vectors: enroll, list, remove, migrate.

A person is one ``UserId`` (:func:`shared.people.user_id` of the folder's name)
with up to 100 faces associated (Rekognition's limit per user:
https://docs.aws.amazon.com/rekognition/latest/APIReference/API_AssociateFaces.html).

**Enroll** ``FOLDER/<person>/<photo>``, per photo:

1. the face APIs' image limits (5 MB, 80 px; ``shared.imaging.FACES``);
2. ``DetectFaces`` with ``FACE_OCCLUDED``: exactly one face, at least
   :data:`MIN_FACE_PX` px, sharp and lit enough (:data:`MIN_SHARPNESS`,
   :data:`BRIGHTNESS`), facing the camera (:data:`MAX_POSE_DEGREES`), not
   occluded;
3. ``IndexFaces`` (``MaxFaces=1``, ``QualityFilter=AUTO``, ``ExternalImageId``
   the SHA-256 of the photo, so a re-run knows it: *already enrolled*);

then per person ``CreateUser`` once and ``AssociateFaces`` in batches of 100,
every ``UnsuccessfulFaceAssociations`` entry reported with its reasons.
Nothing is silently dropped; a re-run skips what is done.

The faces table keeps our record of each enrolled photo (face id, person,
photo, user id): the API does not read it (the user id names the person);
``remove`` deletes it with the user and the faces, and ``migrate`` reads it to
turn the old per-face enrollment into users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.imaging import FACES, ImageError, check_image
from shared.layout import FACES_BY_PERSON_INDEX
from shared.paging import pages, plain_call
from shared.people import PersonNameError, person_name, user_id

from tools.aws import ToolError
from tools.models.lifecycle import StageResources

MAX_FACES_PER_USER = 100
"""AssociateFaces: at most 100 face ids per call and 100 faces per user."""
MIN_FACE_PX = 80
"""The project's minimum face size for enrollment, in pixels of the face's box (Rekognition
detects faces from about 40 px, https://docs.aws.amazon.com/rekognition/latest/dg/limits.html;
an enrolled face is what every later search is compared with)."""
MIN_SHARPNESS = 10.0
"""``Quality.Sharpness`` (0-100) under which a photo is too blurred to enroll."""
BRIGHTNESS = (10.0, 95.0)
"""``Quality.Brightness`` (0-100) outside which a photo is too dark or too bright."""
MAX_POSE_DEGREES = 45.0
"""``Pose`` yaw or pitch beyond which the face is turned too far away."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


@dataclass
class Report:
    """What enroll did: per photo, enrolled or why not; per person, the counts."""

    enrolled: list[tuple[str, str]] = field(default_factory=list)  # person, photo
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # person, photo, reason

    def summary(self) -> dict[str, dict[str, int]]:
        people: dict[str, dict[str, int]] = {}
        for person, _ in self.enrolled:
            people.setdefault(person, {"enrolled": 0, "skipped": 0})["enrolled"] += 1
        for person, _, _ in self.skipped:
            people.setdefault(person, {"enrolled": 0, "skipped": 0})["skipped"] += 1
        return dict(sorted(people.items()))


def photo_key(data: bytes) -> str:
    """The ``ExternalImageId`` of a photo: ``sha256:<hex>`` (its pattern allows ``:``)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _items(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """The ``key`` entries of every page of a Rekognition list call (``NextToken``)."""
    for page in pages(plain_call, client, operation, "NextToken", "NextToken", **params):
        yield from page.get(key, [])


def collection_faces(rekognition: Any, collection: str) -> dict[str, dict[str, Any]]:
    """Every face of the collection by its ``ExternalImageId`` (ListFaces, all pages)."""
    return {
        face.get("ExternalImageId", face["FaceId"]): face
        for face in _items(
            rekognition, "list_faces", "Faces", CollectionId=collection, MaxResults=4096
        )
    }


def users(rekognition: Any, collection: str) -> list[str]:
    """The collection's user ids (ListUsers, all pages)."""
    return [
        u["UserId"]
        for u in _items(rekognition, "list_users", "Users", CollectionId=collection, MaxResults=500)
    ]


def quality_problem(detail: dict[str, Any], width: int, height: int) -> str | None:
    """Why a detected face is not good enough to enroll, or None."""
    box = detail["BoundingBox"]
    size = min(box["Width"] * width, box["Height"] * height)
    if size < MIN_FACE_PX:
        return f"face too small: {size:.0f} px, at least {MIN_FACE_PX} px"
    quality = detail.get("Quality", {})
    if quality.get("Sharpness", 100.0) < MIN_SHARPNESS:
        return f"blurred: sharpness {quality['Sharpness']:.0f} < {MIN_SHARPNESS:g}"
    brightness = quality.get("Brightness", 50.0)
    if not BRIGHTNESS[0] <= brightness <= BRIGHTNESS[1]:
        return f"too dark or too bright: brightness {brightness:.0f}"
    pose = detail.get("Pose", {})
    if max(abs(pose.get("Yaw", 0.0)), abs(pose.get("Pitch", 0.0))) > MAX_POSE_DEGREES:
        return f"turned away: yaw {pose.get('Yaw', 0):.0f}, pitch {pose.get('Pitch', 0):.0f}"
    occluded = detail.get("FaceOccluded", {})
    if occluded.get("Value") and occluded.get("Confidence", 0) >= 50:
        return "occluded (a hand, a mask, hair across the face)"
    return None


def _photos(root: Path) -> list[tuple[str, list[Path]]]:
    people = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not people:
        raise ToolError(f"{root} has no person folders; expected <person>/<photo>.jpg")
    return [
        (
            folder.name,
            sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ),
        )
        for folder in people
    ]


def enroll(
    rekognition: Any,
    dynamodb: Any,
    resources: StageResources,
    root: Path,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda items: items,
) -> Report:
    """Enroll ``root/<person>/<photo>`` (module docstring); safe to run again."""
    collection = resources.collection_id
    report = Report()
    known = collection_faces(rekognition, collection)
    existing = set(users(rekognition, collection))
    folders = _photos(root)
    for person, photos in progress(folders):
        try:
            user = user_id(person)
        except PersonNameError as exc:
            report.skipped.extend((person, p.name, str(exc)) for p in photos)
            continue
        if user not in existing:
            rekognition.create_user(CollectionId=collection, UserId=user)
            existing.add(user)
        to_associate: list[tuple[str, str]] = []  # face id, photo
        for photo in photos:
            relative = photo.relative_to(root).as_posix()
            reason, face_id = _enroll_photo(rekognition, collection, photo, user, known)
            if reason is not None:
                report.skipped.append((person, relative, reason))
            elif face_id is not None:
                to_associate.append((face_id, relative))
        associated = _associate(rekognition, collection, user, person, to_associate, report)
        for face_id, relative in associated:
            dynamodb.put_item(
                TableName=resources.faces_table,
                Item={
                    "face_id": {"S": face_id},
                    "person_id": {"S": person},
                    "user_id": {"S": user},
                    "photo": {"S": relative},
                },
            )
            report.enrolled.append((person, relative))
    return report


def _enroll_photo(
    rekognition: Any, collection: str, photo: Path, user: str, known: dict[str, dict[str, Any]]
) -> tuple[str | None, str | None]:
    """(why not, None) or (None, a face id to associate); (None, None) when done already."""
    data = photo.read_bytes()
    try:
        info = check_image(data, FACES)
    except ImageError as exc:
        return str(exc), None
    key = photo_key(data)
    if key in known:
        face = known[key]
        if face.get("UserId") == user:
            return "already enrolled", None
        if face.get("UserId"):
            return f"already enrolled as {person_name(face['UserId'])}", None
        return None, str(face["FaceId"])  # indexed by a run that stopped: associate it now
    detected = rekognition.detect_faces(
        Image={"Bytes": data}, Attributes=["DEFAULT", "FACE_OCCLUDED"]
    ).get("FaceDetails", [])
    if not detected:
        return "no face", None
    if len(detected) > 1:
        return f"several faces ({len(detected)}): one person per photo", None
    problem = quality_problem(detected[0], info.width, info.height)
    if problem:
        return problem, None
    indexed = rekognition.index_faces(
        CollectionId=collection,
        Image={"Bytes": data},
        ExternalImageId=key,
        MaxFaces=1,
        QualityFilter="AUTO",
        DetectionAttributes=["DEFAULT"],
    )
    records = indexed.get("FaceRecords", [])
    if not records:
        reasons = sorted({r for u in indexed.get("UnindexedFaces", []) for r in u["Reasons"]})
        return "refused by Rekognition's quality filter: " + (", ".join(reasons) or "?"), None
    face_id = str(records[0]["Face"]["FaceId"])
    known[key] = {"FaceId": face_id, "ExternalImageId": key}
    return None, face_id


def _associate(
    rekognition: Any,
    collection: str,
    user: str,
    person: str,
    faces: list[tuple[str, str]],
    report: Report,
) -> list[tuple[str, str]]:
    """AssociateFaces in batches of :data:`MAX_FACES_PER_USER`; every refusal reported."""
    done: list[tuple[str, str]] = []
    photo_of = dict(faces)
    for start in range(0, len(faces), MAX_FACES_PER_USER):
        batch = [face_id for face_id, _ in faces[start : start + MAX_FACES_PER_USER]]
        try:
            answer = rekognition.associate_faces(
                CollectionId=collection, UserId=user, FaceIds=batch
            )
        except Exception as exc:
            from botocore.exceptions import ClientError

            if not isinstance(exc, ClientError):
                raise
            if exc.response.get("Error", {}).get("Code") != "ServiceQuotaExceededException":
                raise
            full = f"the person has {MAX_FACES_PER_USER} faces, Rekognition's limit per user"
            report.skipped.extend((person, photo_of[f], full) for f in batch)
            continue
        failed = {
            f["FaceId"]: ", ".join(f.get("Reasons", []))
            for f in answer.get("UnsuccessfulFaceAssociations", [])
        }
        for face_id in batch:
            if face_id in failed:
                report.skipped.append(
                    (person, photo_of[face_id], f"not associated: {failed[face_id]}")
                )
            else:
                done.append((face_id, photo_of[face_id]))
    return done


def list_people(rekognition: Any, resources: StageResources) -> dict[str, int]:
    """Person name -> faces associated, from the collection (ListUsers, ListFaces)."""
    people: dict[str, int] = {}
    for user in users(rekognition, resources.collection_id):
        faces = list(
            _items(
                rekognition,
                "list_faces",
                "Faces",
                CollectionId=resources.collection_id,
                UserId=user,
                MaxResults=4096,
            )
        )
        people[person_name(user)] = len(faces)
    return dict(sorted(people.items()))


@dataclass(frozen=True)
class Removal:
    """What remove deleted, and what reading back found left (all empty: nothing)."""

    faces: list[str]
    records: int
    left_faces: list[str]
    left_user: bool
    left_records: int

    @property
    def complete(self) -> bool:
        return not self.left_faces and not self.left_user and not self.left_records


def _records(dynamodb: Any, resources: StageResources, person: str) -> list[str]:
    items = dynamodb.query(
        TableName=resources.faces_table,
        IndexName=FACES_BY_PERSON_INDEX,
        KeyConditionExpression="person_id = :p",
        ExpressionAttributeValues={":p": {"S": person}},
    ).get("Items", [])
    return [item["face_id"]["S"] for item in items]


def remove_person(
    rekognition: Any, dynamodb: Any, resources: StageResources, person: str
) -> Removal:
    """The right to be forgotten: the user (DeleteUser disassociates its faces), the faces
    (DeleteFaces refuses faces still associated: ``ASSOCIATED_TO_AN_EXISTING_USER``) and
    every record of ours deleted, then read back to prove nothing is left.

    :raises ToolError: nobody of that name is enrolled.
    """
    collection = resources.collection_id
    user = user_id(person)
    exists = user in users(rekognition, collection)
    faces = (
        [
            f["FaceId"]
            for f in _items(
                rekognition,
                "list_faces",
                "Faces",
                CollectionId=collection,
                UserId=user,
                MaxResults=4096,
            )
        ]
        if exists
        else []
    )
    records = _records(dynamodb, resources, person)
    if not exists and not records:
        raise ToolError(f"nobody named {person!r} is enrolled; see 'python -m tools.faces list'")
    faces = sorted(set(faces) | set(records))
    if exists:  # first: DeleteFaces refuses faces still associated to a user
        rekognition.delete_user(CollectionId=collection, UserId=user)
    for start in range(0, len(faces), 4096):
        rekognition.delete_faces(CollectionId=collection, FaceIds=faces[start : start + 4096])
    for face_id in records:
        dynamodb.delete_item(TableName=resources.faces_table, Key={"face_id": {"S": face_id}})
    still = rekognition.list_faces(CollectionId=collection, FaceIds=faces) if faces else {}
    left_faces = [f["FaceId"] for f in still.get("Faces", [])]
    return Removal(
        faces=faces,
        records=len(records),
        left_faces=left_faces,
        left_user=user in users(rekognition, collection),
        left_records=len(_records(dynamodb, resources, person)),
    )


def migrate(rekognition: Any, dynamodb: Any, resources: StageResources) -> Report:
    """Turn the old enrollment (faces table: face id -> person) into users: CreateUser per
    person, AssociateFaces of their faces; the table's items get their ``user_id``."""
    by_person: dict[str, list[tuple[str, str]]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=resources.faces_table):
        for item in page.get("Items", []):
            by_person.setdefault(item["person_id"]["S"], []).append(
                (item["face_id"]["S"], item.get("photo", {}).get("S", item["face_id"]["S"]))
            )
    existing = set(users(rekognition, resources.collection_id))
    report = Report()
    for person, faces in sorted(by_person.items()):
        try:
            user = user_id(person)
        except PersonNameError as exc:
            report.skipped.extend((person, photo, str(exc)) for _, photo in faces)
            continue
        if user not in existing:
            rekognition.create_user(CollectionId=resources.collection_id, UserId=user)
        for face_id, photo in _associate(
            rekognition, resources.collection_id, user, person, faces, report
        ):
            dynamodb.update_item(
                TableName=resources.faces_table,
                Key={"face_id": {"S": face_id}},
                UpdateExpression="SET user_id = :u",
                ExpressionAttributeValues={":u": {"S": user}},
            )
            report.enrolled.append((person, photo))
    return report
