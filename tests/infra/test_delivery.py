"""The opt-in delivery pipeline: commit -> tests and synth -> dev -> approval -> prod."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, load_delivery_config, load_stage_configs
from stacks.delivery import SYNTH_COMMANDS, SYNTH_IMAGE
from tests.conftest import (
    DELIVERY,
    ROOT,
    STAGE_ENVS,
    Synth,
    cdk_json_context,
    delivery_context,
    resources_of_type,
    synthesize,
)
from tests.infra.test_cfn_lint import cfn_lint


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app as a multi-account team configures it, synthesized with every check on."""
    return synthesize(tmp_path_factory, "cdk.out.delivery", delivery_context())


@pytest.fixture(scope="module")
def template(delivery: Synth) -> dict[str, Any]:
    return delivery.template_json("Delivery")


def pipeline(template: dict[str, Any]) -> dict[str, Any]:
    [resource] = resources_of_type(template, "AWS::CodePipeline::Pipeline").values()
    properties: dict[str, Any] = resource["Properties"]
    return properties


def test_pipeline_runs_source_tests_self_mutation_dev_approval_prod(
    template: dict[str, Any],
) -> None:
    stages = pipeline(template)["Stages"]

    assert [s["Name"] for s in stages] == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "Dev",
        "Prod",
    ]
    dev, prod = stages[4], stages[5]
    assert all(a["ActionTypeId"]["Category"] == "Deploy" for a in dev["Actions"])
    approval = [a for a in prod["Actions"] if a["ActionTypeId"]["Category"] == "Approval"]
    assert len(approval) == 1
    first_deploy = min(
        a["RunOrder"] for a in prod["Actions"] if a["ActionTypeId"]["Category"] == "Deploy"
    )
    assert approval[0]["RunOrder"] < first_deploy


def test_source_is_the_repository_connection(template: dict[str, Any]) -> None:
    [source] = pipeline(template)["Stages"][0]["Actions"]

    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == DELIVERY["connection_arn"]
    assert source["Configuration"]["FullRepositoryId"] == DELIVERY["repository"]
    assert source["Configuration"]["BranchName"] == DELIVERY["branch"]


def test_synth_step_runs_the_readme_test_command_then_make_synth(
    template: dict[str, Any],
) -> None:
    projects = resources_of_type(template, "AWS::CodeBuild::Project")
    [synth] = [p for k, p in projects.items() if "BuildSynth" in k]
    buildspec = json.loads(synth["Properties"]["Source"]["BuildSpec"])

    assert buildspec["phases"]["build"]["commands"] == list(SYNTH_COMMANDS)
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
    assert synth["Properties"]["Environment"]["Image"] == SYNTH_IMAGE
    assert buildspec["artifacts"]["base-directory"] == "cdk.out"


def test_self_mutation_is_on(template: dict[str, Any]) -> None:
    [mutate] = pipeline(template)["Stages"][2]["Actions"]

    assert mutate["Name"] == "SelfMutate"
    assert mutate["ActionTypeId"]["Provider"] == "CodeBuild"


def test_each_stage_deploys_into_its_own_account_through_the_bootstrap_trust(
    template: dict[str, Any],
) -> None:
    stages = {s["Name"]: s for s in pipeline(template)["Stages"]}
    for name, (account, region) in STAGE_ENVS.items():
        deploys = [
            a
            for a in stages[name.capitalize()]["Actions"]
            if a["ActionTypeId"]["Category"] == "Deploy"
        ]
        text = json.dumps(deploys)
        assert f"cdk-hnb659fds-deploy-role-{account}-{region}" in text, name
        assert f"cdk-hnb659fds-cfn-exec-role-{account}-{region}" in text, name
        other = {a for n, (a, _) in STAGE_ENVS.items() if n != name}
        assert not any(f"deploy-role-{a}" in text for a in other), name


def test_stage_stacks_keep_their_names_in_the_pipeline(delivery: Synth) -> None:
    names = {
        artifact.stack_name
        for stage in delivery.assembly.nested_assemblies
        for artifact in stage.nested_assembly.stacks
    }

    assert names == {f"{p}-{k}" for p in ("Dev", "Prod") for k in ("Data", "Service", "Web")}


def test_artifacts_are_encrypted_with_a_rotated_key_and_access_logged(
    template: dict[str, Any],
) -> None:
    [key] = resources_of_type(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert any(s["Effect"] == "Deny" for s in key["Properties"]["KeyPolicy"]["Statement"])
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    [artifacts] = [b for k, b in buckets.items() if k.startswith("PipelineArtifactsBucket")]
    properties = artifacts["Properties"]
    assert (
        properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "aws:kms"
    )
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "artifacts/"


def test_pipeline_and_its_stage_templates_pass_cfn_lint(delivery: Synth) -> None:
    templates = [
        str(delivery.outdir / "Delivery.template.json"),
        *sorted(str(p) for p in Path(delivery.outdir).glob("assembly-Delivery-*/*.template.json")),
    ]
    assert len(templates) == 7

    result = cfn_lint(templates)

    assert result.returncode == 0, result.stdout + result.stderr


def test_without_delivery_config_there_is_no_pipeline(synth: Synth) -> None:
    assert "delivery" not in cdk_json_context()
    assert not (synth.outdir / "Delivery.template.json").exists()
    assert not list(synth.outdir.glob("assembly-*"))


def _stages() -> list[Any]:
    return load_stage_configs(delivery_context()["stages"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"connection_arn": "arn:aws:s3:::bucket"},
            "delivery.connection_arn: got 'arn:aws:s3:::bucket'",
        ),
        ({"repository": "no-owner"}, "delivery.repository: got 'no-owner'"),
        ({"stages": ["dev", "staging"]}, "'staging' is not a stage; defined: dev, prod"),
        ({"stages": ["dev", "dev"]}, "each stage at most once"),
        ({"colour": "blue"}, "delivery.colour: unknown key; allowed keys here: account, branch"),
        ({"account": None}, "delivery.account: got None"),
    ],
)
def test_bad_delivery_config_names_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_delivery_config({**DELIVERY, **change}, _stages())

    assert message in str(error.value)


def test_a_delivered_stage_must_pin_its_account_and_region() -> None:
    unpinned = load_stage_configs(cdk_json_context()["stages"])

    with pytest.raises(ConfigError) as error:
        load_delivery_config(DELIVERY, unpinned)

    assert "stages.dev: a delivered stage must set 'account' and 'region'" in str(error.value)
    assert "stages.prod:" in str(error.value)


def test_no_delivery_key_is_no_pipeline() -> None:
    assert load_delivery_config(None, _stages()) is None
