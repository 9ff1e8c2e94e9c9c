"""Provisional answers in the templates: the photo index, IAM scopes, settings, config checks.

cdk.json's dev stage has ``provisional.enabled`` (Titan G1), prod has not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from shared.embeddings import INDEX_NAME, TITAN

from stacks.config import ConfigError, load_stage_configs
from tests.conftest import Synth, resources_of_type
from tests.infra.test_config import error_for, stages_with


def api_function(template: dict[str, Any]) -> dict[str, Any]:
    functions: list[dict[str, Any]] = [
        f["Properties"]
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "inference_api.handler.lambda_handler"
    ]
    [function] = functions
    return function


def api_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for key, policy in resources_of_type(template, "AWS::IAM::Policy").items()
        if key.startswith("InferenceApiFunctionRoleDefaultPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_dev_has_an_encrypted_cosine_index_of_the_models_dimension(synth: Synth) -> None:
    data = synth.template_json("Dev-Data")
    [bucket] = resources_of_type(data, "AWS::S3Vectors::VectorBucket").values()
    [index] = resources_of_type(data, "AWS::S3Vectors::Index").values()

    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}
    props = index["Properties"]
    assert (props["IndexName"], props["Dimension"], props["DistanceMetric"]) == (
        INDEX_NAME,
        TITAN.dimension,
        "cosine",
    )
    assert props["DataType"] == "float32"
    assert props["MetadataConfiguration"]["NonFilterableMetadataKeys"] == ["s3_key", "etag"]
    assert "PhotoIndexArn" in data["Outputs"]
    # dev destroys its data; the index goes with the stack.
    assert index["DeletionPolicy"] == "Delete"


def test_a_deploy_to_a_region_without_the_model_fails_at_once(synth: Synth) -> None:
    rule = synth.template_json("Dev-Data")["Rules"]["EmbeddingModelRegion"]
    [assertion] = rule["Assertions"]

    assert assertion["Assert"]["Fn::Contains"][0] == list(TITAN.regions)
    assert TITAN.model_id in assertion["AssertDescription"]


def test_prod_without_provisional_has_no_index_and_no_bedrock_grant(synth: Synth) -> None:
    data = synth.template_json("Prod-Data")
    service = synth.template_json("Prod-Service")

    assert not resources_of_type(data, "AWS::S3Vectors::Index")
    assert "EmbeddingModelRegion" not in data.get("Rules", {})
    granted = {a for s in api_statements(service) for a in actions(s)}
    assert not {a for a in granted if a.startswith(("bedrock:", "s3vectors:"))}
    env = api_function(service)["Environment"]["Variables"]
    assert (env["PROVISIONAL_ENABLED"], env["PHOTO_INDEX_ARN"]) == ("false", "")


def test_bedrock_is_granted_on_the_one_foundation_model_only(synth: Synth) -> None:
    statements = api_statements(synth.template_json("Dev-Service"))
    [invoke] = [s for s in statements if "bedrock:InvokeModel" in actions(s)]

    assert actions(invoke) == ["bedrock:InvokeModel"]
    parts = invoke["Resource"]["Fn::Join"][1]
    assert parts[-1] == f"::foundation-model/{TITAN.model_id}"
    assert ":bedrock:" in parts


def test_the_index_is_queried_and_read_not_written_by_the_api(synth: Synth) -> None:
    statements = api_statements(synth.template_json("Dev-Service"))
    [vectors] = [s for s in statements if any(a.startswith("s3vectors:") for a in actions(s))]

    assert sorted(actions(vectors)) == ["s3vectors:GetVectors", "s3vectors:QueryVectors"]
    assert vectors["Resource"]["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttPhotoIndex"
    )


def test_thumbnails_are_read_only_under_datasets(synth: Synth) -> None:
    statements = api_statements(synth.template_json("Dev-Service"))
    gets = [s for s in statements if actions(s) == ["s3:GetObject"]]

    assert [json.dumps(s["Resource"]).endswith('/datasets/*"]]}') for s in gets] == [True]


def test_the_function_gets_the_stages_provisional_settings(synth: Synth) -> None:
    env = api_function(synth.template_json("Dev-Service"))["Environment"]["Variables"]

    assert env["PROVISIONAL_ENABLED"] == "true"
    assert (env["PROVISIONAL_K"], env["PROVISIONAL_MIN_SIMILARITY"]) == ("5", "0.6")
    assert env["EMBEDDING_MODEL"] == "titan-multimodal-g1"
    assert env["PHOTO_INDEX_ARN"]["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttPhotoIndex"
    )
    # dev: auto_start_on_demand "sustained", 2 minutes of requests within 10
    assert (env["SUSTAINED_MINUTES_WITH_REQUESTS"], env["SUSTAINED_WITHIN_MINUTES"]) == ("2", "10")


def test_a_pinned_region_without_the_model_fails_synth_naming_the_key() -> None:
    message = error_for(stages_with(region="ap-northeast-1", provisional={"enabled": True}), "dev")

    assert "provisional.embedding_model" in message
    assert "ap-northeast-1" in message
    assert "us-east-1" in message


def test_a_pinned_region_with_the_model_passes() -> None:
    [dev] = load_stage_configs(
        stages_with(region="eu-west-1", provisional={"enabled": True}), "dev"
    )
    assert dev.provisional.enabled


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"provisional": {"enabled": True, "k": 0}}, "stages.dev.provisional.k"),
        ({"provisional": {"min_similarity": 0}}, "stages.dev.provisional.min_similarity"),
        ({"provisional": {"embedding_model": "clip"}}, "stages.dev.provisional.embedding_model"),
        ({"auto_start_on_demand": "sometimes"}, "stages.dev.auto_start_on_demand"),
        (
            {"sustained_demand": {"minutes_with_requests": 20, "within_minutes": 10}},
            "cannot be more than within_minutes",
        ),
    ],
)
def test_bad_provisional_settings_fail_clearly(settings: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        load_stage_configs(stages_with(**settings), "dev")
