"""``POST /v1/faces/search`` (everyone in the photo, as people) and ``/v1/faces/analyze``.

A person is a Rekognition **user vector** (``CreateUser`` + ``AssociateFaces``,
made by ``tools.faces enroll``); its ``UserId`` names the person
(:mod:`shared.people`), so a match is named with no table read. Served by the
faces function (``inference_api.faces_handler``), whose layer holds Pillow for
the crops (:mod:`inference_api.face_crops`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.imaging import FACES
from shared.people import person_name

from inference_api.calls import Clients, aws
from inference_api.errors import ApiError
from inference_api.images import bounding_box, read_upload, rekognition_image

MAX_SEARCHED_FACES = 10
"""Faces searched per photo at most, largest first: each is one SearchUsersByImage
call, billed per image (https://aws.amazon.com/rekognition/pricing/), made one after the
other within the function's time (larger faces beyond it are answered ``not_searched``)."""
NO_FACE = "there are no faces in the image"
"""Rekognition's message when an image holds no face (matched in AWS's message, not in the
operation's name, which holds "face" too)."""


@dataclass(frozen=True)
class FacesSettings:
    """What the faces function reads from its environment (set by its stack)."""

    collection_id: str
    uploads_bucket: str


def _photo(settings: FacesSettings, clients: Clients, user_id: str, image: Any) -> bytes:
    """The photo's bytes (decoded base64, or the caller's upload), checked against the
    face APIs' limits."""
    rekognition_input = rekognition_image(settings, clients, user_id, image, FACES)
    if "Bytes" in rekognition_input:
        data: bytes = rekognition_input["Bytes"]
        return data
    return read_upload(settings, clients, rekognition_input["S3Object"]["Name"], "image.s3_key")


def search_faces(
    settings: FacesSettings,
    clients: Clients,
    user_id: str,
    image: Any,
    max_faces: int,
    threshold: float,
) -> dict[str, Any]:
    """Everyone in the photo: DetectFaces, then SearchUsersByImage on each face's crop.

    :param max_faces: faces searched at most (1 to :data:`MAX_SEARCHED_FACES`), largest
        first; the others are answered with ``status: not_searched``.
    :param threshold: percent; a face whose best user is under it is ``unknown``.
    :returns: ``{"faces": [{bounding_box, confidence, status (matched | unknown |
        not_searched), person: {name, user_id, similarity} | None, reason}],
        "faces_found", "faces_searched"}``, largest face first. A photo with no face is
        ``faces: []``.
    """
    data = _photo(settings, clients, user_id, image)
    detected = aws(clients, "rekognition", "detect_faces", Image={"Bytes": data})
    details = sorted(
        detected.get("FaceDetails", []),
        key=lambda f: -(f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"]),
    )
    limit = min(max_faces, MAX_SEARCHED_FACES)
    from inference_api.face_crops import crops  # Pillow: only once there are faces

    try:
        cut = crops(data, [f["BoundingBox"] for f in details[:limit]]) if details else []
    except OSError:
        raise ApiError(
            400, "corrupt_image", "the image cannot be decoded to cut out its faces", "image"
        ) from None
    faces = []
    searched = 0
    for index, face in enumerate(details):
        answer: dict[str, Any] = {
            "bounding_box": bounding_box(face.get("BoundingBox")),
            "confidence": face.get("Confidence"),
            "status": "not_searched",
            "person": None,
            "reason": None,
        }
        faces.append(answer)
        if index >= limit:
            answer["reason"] = "over_limit"
            continue
        crop = cut[index]
        if crop.jpeg is None:
            answer["reason"] = crop.reason
            continue
        try:
            found = aws(
                clients,
                "rekognition",
                "search_users_by_image",
                CollectionId=settings.collection_id,
                Image={"Bytes": crop.jpeg},
                UserMatchThreshold=threshold,
                MaxUsers=1,
            )
        except ApiError as exc:
            if exc.aws_code == "InvalidParameterException" and NO_FACE in (exc.cause or "").lower():
                answer["reason"] = "unsearchable"  # the crop alone holds no detectable face
                continue
            if exc.aws_code == "DeadlineExceeded":
                answer["reason"] = "no_time_left"
                continue
            raise
        searched += 1
        matches = found.get("UserMatches", [])
        best = max(matches, key=lambda m: m["Similarity"], default=None)
        if best is None:
            answer["status"] = "unknown"
            continue
        user = best["User"]["UserId"]
        answer["status"] = "matched"
        answer["person"] = {
            "name": person_name(user),
            "user_id": user,
            "similarity": best["Similarity"],
        }
    return {"faces": faces, "faces_found": len(details), "faces_searched": searched}


def analyze_faces(
    settings: FacesSettings, clients: Clients, user_id: str, image: Any
) -> dict[str, Any]:
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
