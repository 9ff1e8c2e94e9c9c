"""The model pointer: one item, read and written in one place, every write conditional.

DynamoDB's conditional writes are played out for real with moto (two writers
race; the second is refused with ``ConditionalCheckFailedException``, as the
DynamoDB API reference documents for PutItem).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws
from shared import pointer

TABLE = "usage"
V1 = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1"
V2 = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v2/2"
V3 = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v3/3"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "project_version_arn", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "project_version_arn", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_nothing_promoted_reads_as_no_version(dynamodb: Any) -> None:
    assert pointer.read(dynamodb.get_item, TABLE) == pointer.Pointer(arn=None)


def test_a_first_promotion_is_read_back_with_its_labels_and_f1(dynamodb: Any) -> None:
    pointer.write(
        dynamodb.put_item,
        TABLE,
        V1,
        expected=None,
        promoted_by="alice",
        f1=0.91234,
        labels=["qr", "book", "qr"],
        now=lambda: NOW,
    )

    item = dynamodb.get_item(TableName=TABLE, Key=pointer.KEY)["Item"]
    assert pointer.read(dynamodb.get_item, TABLE) == pointer.Pointer(
        arn=V1, labels=frozenset({"book", "qr"}), f1=0.9123, promoted_by="alice"
    )
    assert item["labels"] == {"SS": ["book", "qr"]}
    assert item["promoted_at"] == {"S": "2026-12-01T09:30:00+00:00"}
    assert item["forced"] == {"BOOL": False}


def test_a_promotion_replaces_the_version_it_read(dynamodb: Any) -> None:
    pointer.write(dynamodb.put_item, TABLE, V1, expected=None, promoted_by="alice")
    pointer.write(dynamodb.put_item, TABLE, V2, expected=V1, promoted_by="workflow")

    assert pointer.read(dynamodb.get_item, TABLE).arn == V2


def test_of_two_racing_promotions_only_the_first_lands(dynamodb: Any) -> None:
    pointer.write(dynamodb.put_item, TABLE, V1, expected=None, promoted_by="alice")
    read_by_both = pointer.read(dynamodb.get_item, TABLE).arn

    pointer.write(dynamodb.put_item, TABLE, V2, expected=read_by_both, promoted_by="workflow")
    with pytest.raises(pointer.PointerChangedError, match="no longer names"):
        pointer.write(dynamodb.put_item, TABLE, V3, expected=read_by_both, promoted_by="bob")

    assert pointer.read(dynamodb.get_item, TABLE).arn == V2


def test_a_first_promotion_loses_to_one_that_landed_meanwhile(dynamodb: Any) -> None:
    pointer.write(dynamodb.put_item, TABLE, V1, expected=None, promoted_by="alice")

    with pytest.raises(pointer.PointerChangedError):
        pointer.write(dynamodb.put_item, TABLE, V2, expected=None, promoted_by="bob")


def test_a_retried_promotion_whose_first_write_landed_succeeds(dynamodb: Any) -> None:
    """The answer of the first write was lost; the retry finds its own value, and lands."""
    pointer.write(dynamodb.put_item, TABLE, V2, expected=None, promoted_by="w")

    pointer.write(dynamodb.put_item, TABLE, V2, expected=None, promoted_by="w")
    pointer.write(dynamodb.put_item, TABLE, V2, expected=V1, promoted_by="w")

    assert pointer.read(dynamodb.get_item, TABLE).arn == V2


@pytest.mark.parametrize(
    ("code", "status"),
    [("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500)],
)
def test_other_dynamodb_errors_reach_the_caller_unchanged(code: str, status: int) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "put_item", service_error_code=code, http_status_code=status, service_message="x"
        )
        with pytest.raises(ClientError) as raised:
            pointer.write(client.put_item, TABLE, V1, expected=None, promoted_by="alice")

    assert raised.value.response["Error"]["Code"] == code


def test_a_timeout_reaches_the_caller_unchanged() -> None:
    def put_item(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(ReadTimeoutError):
        pointer.write(put_item, TABLE, V1, expected=None, promoted_by="alice")


def test_the_conditional_write_is_what_dynamodb_is_asked() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_item",
            {},
            {
                "TableName": TABLE,
                "Item": {
                    "project_version_arn": {"S": "active"},
                    "active_project_version_arn": {"S": V2},
                    "promoted_at": {"S": "2026-12-01T09:30:00+00:00"},
                    "promoted_by": {"S": "retraining workflow"},
                    "forced": {"BOOL": False},
                },
                "ConditionExpression": "active_project_version_arn = :before OR "
                "active_project_version_arn = :arn",
                "ExpressionAttributeValues": {":before": {"S": V1}, ":arn": {"S": V2}},
            },
        )
        pointer.write(
            client.put_item,
            TABLE,
            V2,
            expected=V1,
            promoted_by="retraining workflow",
            now=lambda: NOW,
        )
        stubber.assert_no_pending_responses()
