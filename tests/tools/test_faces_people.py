"""``tools.faces``: enrollment as user vectors, list, remove (read back), migrate.

Rekognition is botocore's ``Stubber``: CreateUser, AssociateFaces (partial failures in
``UnsuccessfulFaceAssociations``), DeleteUser, DeleteFaces, ListUsers and ListFaces in
their exact request shapes; the faces table is moto's DynamoDB.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests.support.api_events import image_bytes
from tests.tools.test_model_tools import RESOURCES, Session
from tools.faces import __main__ as cli
from tools.faces import people
from tools.models import lifecycle
from tools.models.lifecycle import ToolError

REGION = "ap-northeast-1"
COLLECTION = RESOURCES.collection_id
HANAKO = "n:5cfldznnsa"  # 花子 (shared.people.user_id)


def face(left: float = 0.3, width: float = 0.4, **extra: Any) -> dict[str, Any]:
    detail = {
        "BoundingBox": {"Left": left, "Top": 0.2, "Width": width, "Height": 0.5},
        "Confidence": 99.9,
        "Quality": {"Sharpness": 80.0, "Brightness": 60.0},
        "Pose": {"Yaw": 3.0, "Pitch": -2.0, "Roll": 0.0},
        "FaceOccluded": {"Value": False, "Confidence": 99.0},
    }
    detail.update(extra)
    return detail


class Aws:
    def __init__(self, rekognition: Any, stub: Stubber, dynamodb: Any) -> None:
        self.rekognition, self.stub, self.dynamodb = rekognition, stub, dynamodb

    def listed(
        self, faces: list[dict[str, Any]] | None = None, users: list[str] | None = None
    ) -> None:
        self.stub.add_response(
            "list_faces",
            {"Faces": faces or [], "FaceModelVersion": "7.0"},
            {"CollectionId": COLLECTION, "MaxResults": 4096},
        )
        self.list_users(users or [])

    def list_users(self, users: list[str]) -> None:
        self.stub.add_response(
            "list_users",
            {"Users": [{"UserId": u, "UserStatus": "ACTIVE"} for u in users]},
            {"CollectionId": COLLECTION, "MaxResults": 500},
        )

    def detect(self, data: bytes, *details: dict[str, Any]) -> None:
        self.stub.add_response(
            "detect_faces",
            {"FaceDetails": list(details)},
            {"Image": {"Bytes": data}, "Attributes": ["DEFAULT", "FACE_OCCLUDED"]},
        )

    def index(self, data: bytes, face_id: str | None, reasons: list[str] | None = None) -> None:
        answer: dict[str, Any] = (
            {"FaceRecords": [{"Face": {"FaceId": face_id}}]}
            if face_id
            else {"FaceRecords": [], "UnindexedFaces": [{"Reasons": reasons or []}]}
        )
        self.stub.add_response(
            "index_faces",
            answer,
            {
                "CollectionId": COLLECTION,
                "Image": {"Bytes": data},
                "ExternalImageId": people.photo_key(data),
                "MaxFaces": 1,
                "QualityFilter": "AUTO",
                "DetectionAttributes": ["DEFAULT"],
            },
        )

    def records(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName="faces")["Items"]  # type: ignore[no-any-return]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="faces",
            KeySchema=[{"AttributeName": "face_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "face_id", "AttributeType": "S"},
                {"AttributeName": "person_id", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-person",
                    "KeySchema": [
                        {"AttributeName": "person_id", "KeyType": "HASH"},
                        {"AttributeName": "face_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        rekognition = boto3.client("rekognition", region_name=REGION)
        with Stubber(rekognition) as stub:
            yield Aws(rekognition, stub, dynamodb)
            stub.assert_no_pending_responses()


def photo(folder: Path, name: str, width: int = 640, height: int = 480, shade: int = 0) -> bytes:
    data = image_bytes(width + shade, height)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return data


def test_enrollment_reports_every_rejection_and_associates_the_rest(
    aws: Aws, tmp_path: Path
) -> None:
    hanako = tmp_path / "花子"
    good = [photo(hanako, f"{i}.jpg", shade=i) for i in range(2)]
    done = photo(hanako, "done.jpg", shade=9)
    none = photo(hanako, "nobody.jpg", shade=10)
    group = photo(hanako, "group.jpg", shade=11)
    small = photo(hanako, "small.jpg", shade=12)
    blurred = photo(hanako, "blurred.jpg", shade=13)
    masked = photo(hanako, "masked.jpg", shade=14)
    turned = photo(hanako, "turned.jpg", shade=15)
    refused = photo(hanako, "refused.jpg", shade=16)
    photo(hanako, "tiny.jpg", width=60, height=60)  # under the face APIs' 80 px
    other = photo(hanako, "other.jpg", shade=17)
    lost = photo(hanako, "lost.jpg", shade=18)
    known = [
        {"FaceId": "f-done", "ExternalImageId": people.photo_key(done), "UserId": HANAKO},
        {"FaceId": "f-other", "ExternalImageId": people.photo_key(other), "UserId": "taro"},
        # Indexed by a run that stopped before AssociateFaces: associated now, not re-indexed.
        {"FaceId": "f-lost", "ExternalImageId": people.photo_key(lost)},
    ]
    aws.listed(known, users=["taro"])
    aws.stub.add_response("create_user", {}, {"CollectionId": COLLECTION, "UserId": HANAKO})
    # Photos in name order: 0, 1, blurred, done, group, lost, masked, nobody, other, ...
    aws.detect(good[0], face())
    aws.index(good[0], "f-0")
    aws.detect(good[1], face())
    aws.index(good[1], "f-1")
    aws.detect(blurred, face(Quality={"Sharpness": 3.0, "Brightness": 60.0}))
    aws.detect(group, face(), face(left=0.0, width=0.2))
    aws.detect(masked, face(FaceOccluded={"Value": True, "Confidence": 93.0}))
    aws.detect(none)
    aws.detect(refused, face())
    aws.index(refused, None, ["LOW_SHARPNESS"])
    aws.detect(small, face(width=0.05))  # 32 px wide
    aws.detect(turned, face(Pose={"Yaw": 70.0, "Pitch": 0.0, "Roll": 0.0}))
    aws.stub.add_response(
        "associate_faces",
        {
            "AssociatedFaces": [{"FaceId": "f-0"}, {"FaceId": "f-lost"}],
            "UnsuccessfulFaceAssociations": [
                {
                    "FaceId": "f-1",
                    "UserId": HANAKO,
                    "Confidence": 41.0,
                    "Reasons": ["LOW_MATCH_CONFIDENCE"],
                }
            ],
            "UserStatus": "UPDATING",
        },
        {"CollectionId": COLLECTION, "UserId": HANAKO, "FaceIds": ["f-0", "f-1", "f-lost"]},
    )

    report = people.enroll(aws.rekognition, aws.dynamodb, RESOURCES, tmp_path)

    reasons = {p.split("/")[-1]: r for _, p, r in report.skipped}
    assert reasons["1.jpg"] == "not associated: LOW_MATCH_CONFIDENCE"
    assert reasons["blurred.jpg"].startswith("blurred")
    assert reasons["done.jpg"] == "already enrolled"
    assert reasons["group.jpg"].startswith("several faces (2)")
    assert reasons["masked.jpg"].startswith("occluded")
    assert reasons["nobody.jpg"] == "no face"
    assert reasons["other.jpg"] == "already enrolled as taro"
    assert reasons["refused.jpg"] == "refused by Rekognition's quality filter: LOW_SHARPNESS"
    assert reasons["small.jpg"].startswith("face too small: 33 px")  # 5% of 652 px
    assert "80 px" in reasons["tiny.jpg"]
    assert reasons["turned.jpg"].startswith("turned away")
    assert sorted(p for _, p in report.enrolled) == ["花子/0.jpg", "花子/lost.jpg"]
    assert report.summary() == {"花子": {"enrolled": 2, "skipped": 11}}
    records = {r["face_id"]["S"]: r for r in aws.records()}
    assert set(records) == {"f-0", "f-lost"}
    assert records["f-0"]["person_id"]["S"] == "花子"
    assert records["f-0"]["user_id"]["S"] == HANAKO


def test_a_second_run_changes_nothing(aws: Aws, tmp_path: Path) -> None:
    data = photo(tmp_path / "taro", "1.jpg")
    aws.listed(
        [{"FaceId": "f-1", "ExternalImageId": people.photo_key(data), "UserId": "taro"}],
        users=["taro"],
    )

    report = people.enroll(aws.rekognition, aws.dynamodb, RESOURCES, tmp_path)

    assert report.enrolled == []
    assert report.skipped == [("taro", "taro/1.jpg", "already enrolled")]


def test_a_person_past_100_faces_is_reported_per_photo(aws: Aws, tmp_path: Path) -> None:
    data = photo(tmp_path / "taro", "101.jpg")
    aws.listed(users=["taro"])
    aws.detect(data, face())
    aws.index(data, "f-101")
    aws.stub.add_client_error(
        "associate_faces", "ServiceQuotaExceededException", "user has 100 faces", 400
    )

    report = people.enroll(aws.rekognition, aws.dynamodb, RESOURCES, tmp_path)

    [(_, _, reason)] = report.skipped
    assert "100 faces" in reason


def test_list_names_people_from_their_user_ids(aws: Aws) -> None:
    aws.list_users(["taro", HANAKO])
    for user, count in (("taro", 2), (HANAKO, 1)):
        aws.stub.add_response(
            "list_faces",
            {"Faces": [{"FaceId": f"{user}-{i}"} for i in range(count)]},
            {"CollectionId": COLLECTION, "UserId": user, "MaxResults": 4096},
        )

    assert people.list_people(aws.rekognition, RESOURCES) == {"taro": 2, "花子": 1}


def test_remove_deletes_the_user_its_faces_and_our_records_and_reads_back(aws: Aws) -> None:
    for face_id in ("f-1", "f-2"):
        aws.dynamodb.put_item(
            TableName="faces",
            Item={"face_id": {"S": face_id}, "person_id": {"S": "花子"}, "user_id": {"S": HANAKO}},
        )
    aws.dynamodb.put_item(
        TableName="faces", Item={"face_id": {"S": "f-9"}, "person_id": {"S": "taro"}}
    )
    aws.list_users([HANAKO, "taro"])
    aws.stub.add_response(
        "list_faces",
        {"Faces": [{"FaceId": "f-1"}, {"FaceId": "f-2"}]},
        {"CollectionId": COLLECTION, "UserId": HANAKO, "MaxResults": 4096},
    )
    aws.stub.add_response("delete_user", {}, {"CollectionId": COLLECTION, "UserId": HANAKO})
    aws.stub.add_response(
        "delete_faces",
        {"DeletedFaces": ["f-1", "f-2"]},
        {"CollectionId": COLLECTION, "FaceIds": ["f-1", "f-2"]},
    )
    aws.stub.add_response(
        "list_faces", {"Faces": []}, {"CollectionId": COLLECTION, "FaceIds": ["f-1", "f-2"]}
    )
    aws.list_users(["taro"])

    removal = people.remove_person(aws.rekognition, aws.dynamodb, RESOURCES, "花子")

    assert removal.complete
    assert (removal.faces, removal.records) == (["f-1", "f-2"], 2)
    assert [r["face_id"]["S"] for r in aws.records()] == ["f-9"]  # taro's record stays


def test_remove_says_when_reading_back_finds_something_left(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.list_users(["taro"])
    aws.stub.add_response(
        "list_faces",
        {"Faces": [{"FaceId": "f-1"}]},
        {"CollectionId": COLLECTION, "UserId": "taro", "MaxResults": 4096},
    )
    aws.stub.add_response("delete_user", {})
    aws.stub.add_response(
        "delete_faces",
        {"UnsuccessfulFaceDeletions": [{"FaceId": "f-1", "Reasons": ["FACE_NOT_FOUND"]}]},
    )
    aws.stub.add_response("list_faces", {"Faces": [{"FaceId": "f-1"}]})
    aws.list_users([])

    monkeypatch.setattr(lifecycle, "stage_resources", lambda *_: RESOURCES)
    session = Session(rekognition=aws.rekognition, dynamodb=aws.dynamodb, cloudformation=None)
    out = io.StringIO()

    code = cli.run(cli._parser().parse_args(["remove", "taro"]), session, out)

    assert code == 3
    assert "removed taro: 1 face(s)" in out.getvalue()


def test_removing_nobody_is_a_clear_error(aws: Aws) -> None:
    aws.list_users([])

    with pytest.raises(ToolError, match="nobody named 'ken' is enrolled"):
        people.remove_person(aws.rekognition, aws.dynamodb, RESOURCES, "ken")


def test_migrate_makes_users_from_the_old_face_records(aws: Aws) -> None:
    for face_id, person in (("f-1", "taro"), ("f-2", "taro"), ("f-3", "花子")):
        aws.dynamodb.put_item(
            TableName="faces",
            Item={
                "face_id": {"S": face_id},
                "person_id": {"S": person},
                "photo": {"S": f"{person}/{face_id}.jpg"},
            },
        )
    aws.list_users(["taro"])  # a run that stopped after taro's user
    aws.stub.add_response(
        "associate_faces",
        {"AssociatedFaces": [{"FaceId": "f-1"}, {"FaceId": "f-2"}]},
        {"CollectionId": COLLECTION, "UserId": "taro", "FaceIds": ["f-1", "f-2"]},
    )
    aws.stub.add_response("create_user", {}, {"CollectionId": COLLECTION, "UserId": HANAKO})
    aws.stub.add_response(
        "associate_faces",
        {"AssociatedFaces": [{"FaceId": "f-3"}]},
        {"CollectionId": COLLECTION, "UserId": HANAKO, "FaceIds": ["f-3"]},
    )

    report = people.migrate(aws.rekognition, aws.dynamodb, RESOURCES)

    assert report.summary() == {
        "taro": {"enrolled": 2, "skipped": 0},
        "花子": {"enrolled": 1, "skipped": 0},
    }
    users = {r["face_id"]["S"]: r["user_id"]["S"] for r in aws.records()}
    assert users == {"f-1": "taro", "f-2": "taro", "f-3": HANAKO}
