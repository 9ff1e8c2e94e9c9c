"""``POST /v1/faces/search`` (the face collection) and ``/v1/faces/analyze`` (DetectFaces)."""

from __future__ import annotations

from typing import Any

from shared.imaging import FACES

from inference_api.calls import Clients, Settings, aws
from inference_api.errors import ApiError, throttled
from inference_api.images import bounding_box, rekognition_image

LARGEST_FACE_NOTE = (
    "SearchFacesByImage searches only the largest face in the image; "
    "searched_face is the face that was searched."
)
NO_FACE = "there are no faces in the image"
"""SearchFacesByImage's message when the photo holds no face (matched in AWS's message,
not in the operation's name, which holds "face" too)."""
BATCH_GET_ATTEMPTS = 3
"""BatchGetItem rounds for UnprocessedKeys before the answer is 429 (never a silent drop)."""


def search_faces(
    settings: Settings,
    clients: Clients,
    user_id: str,
    image: Any,
    max_faces: int,
    threshold: float,
) -> dict[str, Any]:
    """SearchFacesByImage, each match named through the faces table."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    try:
        response = aws(
            clients,
            "rekognition",
            "search_faces_by_image",
            CollectionId=settings.collection_id,
            Image=rekognition_input,
            MaxFaces=max_faces,
            FaceMatchThreshold=threshold,
        )
    except ApiError as exc:
        # No face in the image: InvalidParameterException "There are no faces in the image.
        # Should be at least 1." Any other invalid parameter is an image problem (400).
        if exc.aws_code == "InvalidParameterException" and NO_FACE in (exc.cause or "").lower():
            return {"note": LARGEST_FACE_NOTE, "searched_face": None, "matches": []}
        raise
    matches = response.get("FaceMatches", [])
    people = _people(settings, clients, [m["Face"]["FaceId"] for m in matches])
    return {
        "note": LARGEST_FACE_NOTE,
        "searched_face": {
            "bounding_box": bounding_box(response.get("SearchedFaceBoundingBox")),
            "confidence": response.get("SearchedFaceConfidence"),
        },
        "matches": [
            {
                "person_id": people.get(m["Face"]["FaceId"]),
                "face_id": m["Face"]["FaceId"],
                "similarity": m["Similarity"],
            }
            for m in sorted(matches, key=lambda m: -m["Similarity"])
        ],
    }


def _people(settings: Settings, clients: Clients, face_ids: list[str]) -> dict[str, str]:
    """face_id -> person_id through BatchGetItem (at most 100 keys, MaxFaces caps it).

    ``UnprocessedKeys`` (DynamoDB's partial answer under throttling) are asked
    again up to :data:`BATCH_GET_ATTEMPTS` rounds in all, then the answer is
    429: a match is never returned nameless because a read was throttled.
    """
    people: dict[str, str] = {}
    if not face_ids:
        return people
    keys = [{"face_id": {"S": face_id}} for face_id in dict.fromkeys(face_ids)][:100]
    request: dict[str, Any] = {
        settings.faces_table: {"Keys": keys, "ProjectionExpression": "face_id, person_id"}
    }
    for _ in range(BATCH_GET_ATTEMPTS):
        response = aws(clients, "dynamodb", "batch_get_item", RequestItems=request)
        for item in response.get("Responses", {}).get(settings.faces_table, []):
            if "person_id" in item:
                people[item["face_id"]["S"]] = item["person_id"]["S"]
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return people
    raise throttled(
        f"batch_get_item: UnprocessedKeys after {BATCH_GET_ATTEMPTS} rounds", "UnprocessedKeys"
    )


def analyze_faces(settings: Settings, clients: Clients, user_id: str, image: Any) -> dict[str, Any]:
    """DetectFaces with every attribute (age range, emotions, ...)."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    response = aws(
        clients, "rekognition", "detect_faces", Image=rekognition_input, Attributes=["ALL"]
    )
    return {
        "faces": [
            {
                "bounding_box": bounding_box(face.get("BoundingBox")),
                "confidence": face.get("Confidence"),
                "age_range": {"low": face["AgeRange"]["Low"], "high": face["AgeRange"]["High"]}
                if "AgeRange" in face
                else None,
                "emotions": [
                    {"type": e["Type"], "confidence": e["Confidence"]}
                    for e in sorted(face.get("Emotions", []), key=lambda e: -e["Confidence"])
                ],
                "smile": face.get("Smile", {}).get("Value"),
                "eyeglasses": face.get("Eyeglasses", {}).get("Value"),
            }
            for face in response.get("FaceDetails", [])
        ]
    }
