"""Face enrollment: a folder per person into the collection and the faces table.

``IndexFaces`` with ``MaxFaces=1`` and the AUTO quality filter indexes the
largest good face of each photo; photos with no face or several faces are
reported (https://docs.aws.amazon.com/rekognition/latest/APIReference/API_IndexFaces.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.imaging import FACES, ImageError, check_image
from shared.layout import FACES_BY_PERSON_INDEX as BY_PERSON_INDEX

from tools.models.lifecycle import StageResources, ToolError

EXTERNAL_ID = re.compile(r"[^a-zA-Z0-9_.\-:]")


@dataclass
class EnrollReport:
    indexed: list[tuple[str, str, str]] = field(default_factory=list)  # person, photo, face id
    problems: list[tuple[str, str]] = field(default_factory=list)  # photo, reason


def enroll(rekognition: Any, dynamodb: Any, resources: StageResources, root: Path) -> EnrollReport:
    """Index one face per photo of ``root/<person>/<photo>``; record face id -> person."""
    people = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not people:
        raise ToolError(f"{root} has no person folders; expected <person>/<photo>.jpg")
    report = EnrollReport()
    for person_dir in people:
        person = person_dir.name
        for photo in sorted(p for p in person_dir.iterdir() if p.is_file()):
            relative = photo.relative_to(root).as_posix()
            data = photo.read_bytes()
            try:
                check_image(data, FACES)
            except ImageError as exc:
                report.problems.append((relative, str(exc)))
                continue
            response = rekognition.index_faces(
                CollectionId=resources.collection_id,
                Image={"Bytes": data},
                ExternalImageId=EXTERNAL_ID.sub("_", person)[:255],
                MaxFaces=1,
                QualityFilter="AUTO",
                DetectionAttributes=["DEFAULT"],
            )
            records = response.get("FaceRecords", [])
            unindexed = response.get("UnindexedFaces", [])
            if not records:
                reasons = sorted({r for u in unindexed for r in u.get("Reasons", [])})
                report.problems.append(
                    (relative, "no usable face" + (f" ({', '.join(reasons)})" if reasons else ""))
                )
                continue
            face_id = records[0]["Face"]["FaceId"]
            if any("EXCEEDS_MAX_FACES" in u.get("Reasons", []) for u in unindexed):
                report.problems.append((relative, "several faces: only the largest was indexed"))
            dynamodb.put_item(
                TableName=resources.faces_table,
                Item={
                    "face_id": {"S": face_id},
                    "person_id": {"S": person},
                    "photo": {"S": relative},
                },
            )
            report.indexed.append((person, relative, face_id))
    return report


def list_people(dynamodb: Any, resources: StageResources) -> dict[str, list[str]]:
    """person -> face ids, from the faces table."""
    people: dict[str, list[str]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=resources.faces_table):
        for item in page.get("Items", []):
            people.setdefault(item["person_id"]["S"], []).append(item["face_id"]["S"])
    return {person: sorted(ids) for person, ids in sorted(people.items())}


def remove_person(
    rekognition: Any, dynamodb: Any, resources: StageResources, person: str
) -> list[str]:
    """Delete a person's faces from the collection and the table. :returns: face ids removed."""
    items = dynamodb.query(
        TableName=resources.faces_table,
        IndexName=BY_PERSON_INDEX,
        KeyConditionExpression="person_id = :p",
        ExpressionAttributeValues={":p": {"S": person}},
    ).get("Items", [])
    face_ids = [item["face_id"]["S"] for item in items]
    if not face_ids:
        raise ToolError(f"no faces enrolled for {person!r}; see 'faces list'")
    rekognition.delete_faces(CollectionId=resources.collection_id, FaceIds=face_ids)
    for face_id in face_ids:
        dynamodb.delete_item(TableName=resources.faces_table, Key={"face_id": {"S": face_id}})
    return face_ids
