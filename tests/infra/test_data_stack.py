"""The <Stage>-Data stack: the properties that matter, per stage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from shared.layout import REKOGNITION_OUTPUT_PREFIX

from tests.conftest import Synth, data_stack_name, logical_id, resources_of_type

BUCKETS = ("StorageAccessLogs", "StorageTraining", "StorageUploads", "StorageArchive")
DATA_TYPES = (
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Rekognition::Project",
    "AWS::Rekognition::Collection",
    "AWS::Cognito::UserPool",
)


@pytest.fixture(scope="module")
def template(synth: Synth, stage: str) -> dict[str, Any]:
    return synth.template_json(data_stack_name(stage))


def bucket_policy_statements(template: dict[str, Any], bucket_prefix: str) -> list[dict[str, Any]]:
    bucket_id = logical_id(template, "AWS::S3::Bucket", bucket_prefix)
    policies = [
        p
        for p in resources_of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert len(policies) == 1
    statements: list[dict[str, Any]] = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_data_service_and_web_stack_per_stage(synth: Synth) -> None:
    names = sorted(s.stack_name for s in synth.assembly.stacks)

    assert names == [
        f"{stage}-{kind}" for stage in ("Dev", "Prod") for kind in ("Data", "Service", "Web")
    ]


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_private_encrypted_and_ssl_only(
    template: dict[str, Any], bucket: str
) -> None:
    props = template["Resources"][logical_id(template, "AWS::S3::Bucket", bucket)]["Properties"]

    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    denies = [
        s
        for s in bucket_policy_statements(template, bucket)
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 1
    assert denies[0]["Action"] == "s3:*"
    assert denies[0]["Principal"] == {"AWS": "*"}


@pytest.mark.parametrize("bucket", BUCKETS[1:])
def test_data_buckets_log_to_the_access_log_bucket(template: dict[str, Any], bucket: str) -> None:
    props = template["Resources"][logical_id(template, "AWS::S3::Bucket", bucket)]["Properties"]
    log_bucket = logical_id(template, "AWS::S3::Bucket", "StorageAccessLogs")

    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_bucket}
    assert props["LoggingConfiguration"]["LogFilePrefix"].endswith("/")


def test_precious_buckets_are_versioned(template: dict[str, Any]) -> None:
    for bucket in ("StorageTraining", "StorageArchive"):
        props = template["Resources"][logical_id(template, "AWS::S3::Bucket", bucket)]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, bucket


def test_rekognition_policy_on_training_bucket_is_exactly_what_custom_labels_needs(
    template: dict[str, Any],
) -> None:
    training = logical_id(template, "AWS::S3::Bucket", "StorageTraining")
    allows = [
        s for s in bucket_policy_statements(template, "StorageTraining") if s["Effect"] == "Allow"
    ]
    rekognition = [s for s in allows if s["Principal"] == {"Service": "rekognition.amazonaws.com"}]
    by_sid = {s["Sid"]: s for s in rekognition}
    same_account = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": [training, "Arn"]}, "/*"]]}

    # Besides Rekognition, only CDK's auto-delete handler (dev) is allowed anything.
    others = [s for s in allows if s not in rekognition]
    assert all("AutoDeleteObjects" in json.dumps(s["Principal"]) for s in others)
    assert set(by_sid) == {
        "RekognitionReadBucket",
        "RekognitionReadObjects",
        "RekognitionWriteOutput",
    }
    assert by_sid["RekognitionReadBucket"]["Action"] == ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    assert by_sid["RekognitionReadBucket"]["Resource"] == {"Fn::GetAtt": [training, "Arn"]}
    assert by_sid["RekognitionReadBucket"]["Condition"] == {"StringEquals": same_account}
    assert sorted(by_sid["RekognitionReadObjects"]["Action"]) == [
        "s3:GetObject",
        "s3:GetObjectAcl",
        "s3:GetObjectTagging",
        "s3:GetObjectVersion",
    ]
    assert by_sid["RekognitionReadObjects"]["Resource"] == objects
    assert by_sid["RekognitionReadObjects"]["Condition"] == {"StringEquals": same_account}
    write = by_sid["RekognitionWriteOutput"]
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [training, "Arn"]}, f"/{REKOGNITION_OUTPUT_PREFIX}*"]]
    }
    assert write["Condition"] == {
        "StringEquals": {**same_account, "s3:x-amz-acl": "bucket-owner-full-control"}
    }


def test_uploads_expire(template: dict[str, Any], stage: str) -> None:
    props = template["Resources"][logical_id(template, "AWS::S3::Bucket", "StorageUploads")][
        "Properties"
    ]
    expiry = {"dev": 1, "prod": 7}[stage]

    rules = props["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in rules] == [expiry]
    # CORS belongs to <Stage>-Web (tests/infra/test_web_stack.py).
    assert "CorsConfiguration" not in props


def test_archive_moves_to_colder_storage(template: dict[str, Any]) -> None:
    props = template["Resources"][logical_id(template, "AWS::S3::Bucket", "StorageArchive")][
        "Properties"
    ]

    transitions = props["LifecycleConfiguration"]["Rules"][0]["Transitions"]
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in transitions] == [
        ("STANDARD_IA", 30),
        ("GLACIER_IR", 180),
    ]


@pytest.mark.parametrize(
    ("table", "keys", "ttl"),
    [
        (
            "TablesDeviceEvents",
            [("device_id", "HASH", "S"), ("timestamp", "RANGE", "N")],
            "expires_at",
        ),
        ("TablesModelUsage", [("project_version_arn", "HASH", "S")], None),
        ("TablesFaces", [("face_id", "HASH", "S")], None),
        ("TablesFeedback", [("feedback_id", "HASH", "S")], None),
    ],
)
def test_tables_keys_billing_and_recovery(
    template: dict[str, Any],
    stage: str,
    table: str,
    keys: list[tuple[str, str, str]],
    ttl: str | None,
) -> None:
    props = template["Resources"][logical_id(template, "AWS::DynamoDB::Table", table)]["Properties"]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}

    assert [
        (k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in props["KeySchema"]
    ] == keys
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is (stage == "prod")
    if ttl:
        assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props


def test_faces_are_indexed_by_person(synth: Synth, stage: str) -> None:
    synth.template(data_stack_name(stage)).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "face_id", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by-person",
                    "KeySchema": [
                        {"AttributeName": "person_id", "KeyType": "HASH"},
                        {"AttributeName": "face_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )


def test_rekognition_project_and_collection_are_named_per_stage(synth: Synth, stage: str) -> None:
    template = synth.template(data_stack_name(stage))

    template.resource_count_is("AWS::Rekognition::Project", 1)
    template.has_resource_properties(
        "AWS::Rekognition::Project", {"ProjectName": f"imgrec-{stage}-custom-labels"}
    )
    template.resource_count_is("AWS::Rekognition::Collection", 1)
    template.has_resource_properties(
        "AWS::Rekognition::Collection", {"CollectionId": f"imgrec-{stage}-faces"}
    )


def test_user_pool_is_admin_only_with_strong_passwords_and_mfa(synth: Synth, stage: str) -> None:
    template = synth.template(data_stack_name(stage))

    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                    "RequireUppercase": True,
                }
            },
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
            "DeletionProtection": "ACTIVE" if stage == "prod" else "INACTIVE",
        },
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED",
            "AllowedOAuthFlows": ["code"] if stage == "dev" else Match.absent(),
            "CallbackURLs": ["http://localhost:5173/"] if stage == "dev" else Match.absent(),
        },
    )


def test_prod_retains_every_data_resource_and_is_termination_protected(synth: Synth) -> None:
    template = synth.template_json("Prod-Data")

    for cfn_type in DATA_TYPES:
        found = resources_of_type(template, cfn_type)
        assert found, cfn_type
        for resource_id, resource in found.items():
            assert resource["DeletionPolicy"] == "Retain", resource_id
            assert resource["UpdateReplacePolicy"] == "Retain", resource_id
    assert resources_of_type(template, "Custom::S3AutoDeleteObjects") == {}
    assert synth.stack("Prod-Data").termination_protection is True


def test_dev_destroys_everything_and_empties_its_buckets(synth: Synth) -> None:
    template = synth.template_json("Dev-Data")

    for cfn_type in DATA_TYPES:
        for resource_id, resource in resources_of_type(template, cfn_type).items():
            assert resource["DeletionPolicy"] == "Delete", resource_id
    auto_delete = resources_of_type(template, "Custom::S3AutoDeleteObjects")
    emptied = sorted(r["Properties"]["BucketName"]["Ref"] for r in auto_delete.values())
    assert emptied == sorted(resources_of_type(template, "AWS::S3::Bucket"))
    assert not synth.stack("Dev-Data").termination_protection


def test_outputs_name_every_shared_resource(template: dict[str, Any], stage: str) -> None:
    # Besides these, CDK adds "PublishOutput..." outputs for the Service stack's
    # cross-stack references (Fn::GetStackOutput).
    named = {k for k in template["Outputs"] if not k.startswith("PublishOutput")}
    assert named == {
        "TrainingBucketName",
        "UploadsBucketName",
        "ArchiveBucketName",
        "AccessLogsBucketName",
        "DeviceEventsTableName",
        "ModelUsageTableName",
        "FacesTableName",
        "FeedbackTableName",
        "ProjectArn",
        "CollectionId",
        "UserPoolId",
        "UserPoolClientId",
    } | ({"PhotoIndexArn"} if stage == "dev" else set())  # dev has provisional answers
    assert all(template["Outputs"][k].get("Description") for k in named)


def test_stacks_are_environment_agnostic_by_default(synth: Synth, stage: str) -> None:
    environment = synth.stack(data_stack_name(stage)).environment

    assert environment.account == "unknown-account"
    assert environment.region == "unknown-region"


def test_resources_are_tagged_with_project_and_stage(synth: Synth, stage: str) -> None:
    synth.template(data_stack_name(stage)).all_resources_properties(
        "AWS::S3::Bucket",
        {
            "Tags": Match.array_with(
                [
                    {"Key": "project", "Value": "phone-image-recognition"},
                    {"Key": "stage", "Value": stage},
                ]
            )
        },
    )


def test_feedback_is_queryable_by_status_and_kept_in_prod(
    template: dict[str, Any], stage: str
) -> None:
    resource = template["Resources"][logical_id(template, "AWS::DynamoDB::Table", "TablesFeedback")]
    [index] = resource["Properties"]["GlobalSecondaryIndexes"]

    assert index["IndexName"] == "by-status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert resource["DeletionPolicy"] == {"dev": "Delete", "prod": "Retain"}[stage]


def test_reviewers_are_a_group_of_the_user_pool(template: dict[str, Any]) -> None:
    from shared.layout import REVIEWERS_GROUP

    [group] = resources_of_type(template, "AWS::Cognito::UserPoolGroup").values()

    assert group["Properties"]["GroupName"] == REVIEWERS_GROUP == "reviewers"
    assert group["Properties"]["UserPoolId"] == {
        "Ref": logical_id(template, "AWS::Cognito::UserPool", "IdentityUserPool")
    }
