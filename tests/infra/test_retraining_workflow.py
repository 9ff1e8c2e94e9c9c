"""The retraining workflow as synthesized: its template, and its definition run state by state.

The definition is the one in the synthesized template (``tests/support/asl.py`` walks
it); each Lambda task's outcome is stubbed (success, each failure the step
raises, Lambda's own throttling), and the tests assert the path taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stacks.service.retraining import STEPS
from tests.conftest import logical_id, resources_of_type
from tests.support import asl

NOTIFICATIONS = ("NotifyFailure", "NotifyTrainingFailed", "NotifyPromoted", "NotifyNotPromoted")
INDEXED = {"dev"}
"""Stages with provisional answers (cdk.json): their workflow refreshes the photo index."""


def steps_of(stage: str) -> list[str]:
    """The step functions a stage's workflow has (RefreshIndex only with a photo index)."""
    return [s for s in STEPS if s != "RefreshIndex" or stage in INDEXED]


@pytest.fixture(scope="module")
def template(service_template: dict[str, Any]) -> dict[str, Any]:
    return service_template


@pytest.fixture(scope="module")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    machine = logical_id(template, "AWS::StepFunctions::StateMachine", "Retraining")
    return asl.definition_from_template(template, machine)


# --- the template ------------------------------------------------------------------------


def test_state_machine_is_standard_traced_logged_and_bounded(
    template: dict[str, Any], stage: str
) -> None:
    [machine] = resources_of_type(template, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]

    assert props["StateMachineName"] == f"imgrec-{stage}-retraining"
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_every_task_retries_and_catches_into_the_failure_notification(
    definition: dict[str, Any], stage: str
) -> None:
    states = definition["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    indexed = stage in INDEXED

    assert set(tasks) == {*steps_of(stage), *NOTIFICATIONS} | (
        {"NotifyIndexFailed"} if indexed else set()
    )
    assert definition["TimeoutSeconds"] == 3 * 24 * 3600
    for name in steps_of(stage):
        retried = {e for r in tasks[name]["Retry"] for e in r["ErrorEquals"]}
        assert "RetryableError" in retried, name
        assert "Lambda.TooManyRequestsException" in retried, name
        [catch] = tasks[name]["Catch"]
        # The photo index serves provisional answers: its failure is told, training goes on.
        expected = (
            ("NotifyIndexFailed", "$.index_failure")
            if name == "RefreshIndex"
            else ("NotifyFailure", "$.failure")
        )
        assert (catch["ErrorEquals"], catch["Next"], catch["ResultPath"]) == (
            ["States.ALL"],
            *expected,
        ), name
    if indexed:
        assert states["NotifyIndexFailed"]["Next"] == "WaitForDatasets"
    for name in NOTIFICATIONS:
        assert tasks[name]["Resource"].endswith(":states:::sns:publish"), name
        assert tasks[name]["Retry"], name
        if name != "NotifyFailure":
            assert tasks[name]["Catch"][0]["Next"] == "NotifyFailure", name
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_each_step_is_its_own_function_with_the_step_handler(
    template: dict[str, Any], stage: str
) -> None:
    functions = resources_of_type(template, "AWS::Lambda::Function")
    for step in steps_of(stage):
        handler, memory, timeout = STEPS[step]
        props = functions[logical_id(template, "AWS::Lambda::Function", f"Retraining{step}")][
            "Properties"
        ]
        assert (props["Handler"], props["MemorySize"], props["Timeout"]) == (
            handler,
            memory,
            timeout,
        )
        assert props["Environment"]["Variables"]["DATASET_PREFIX"] == "datasets/qr"


def test_the_schedule_starts_the_workflow_only_where_retraining_is_enabled(
    template: dict[str, Any], stage: str
) -> None:
    rule = template["Resources"][logical_id(template, "AWS::Events::Rule", "RetrainingSchedule")]
    props = rule["Properties"]

    assert props["State"] == {"dev": "DISABLED", "prod": "ENABLED"}[stage]
    assert (
        props["ScheduleExpression"]
        == {
            "dev": "rate(7 days)",
            "prod": "cron(0 18 ? * SAT *)",
        }[stage]
    )
    [target] = props["Targets"]
    assert target["Input"] == '{"force":false}'
    assert "DeadLetterConfig" in target


def _statements(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    policy = template["Resources"][logical_id(template, "AWS::IAM::Policy", prefix)]
    return policy["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_step_permissions_are_scoped_to_the_project_the_buckets_prefixes_and_the_index(
    template: dict[str, Any], stage: str
) -> None:
    star_allowed = {
        "rekognition:DescribeProjects",  # no resource type
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    for step in steps_of(stage):
        for statement in _statements(template, f"Retraining{step}FunctionRole"):
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            if "*" in resources:
                assert set(_actions(statement)) <= star_allowed, (step, statement)
            for action in _actions(statement):
                assert not action.endswith("*"), (step, action)
    prepare = _statements(template, "RetrainingPrepareDataFunctionRole")
    listing = next(s for s in prepare if _actions(s) == ["s3:ListBucket"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*"]}}
    text = str(prepare)
    assert "/feedback/*" in text
    assert "/manifests/retraining/*" in text
    assert "/users/" not in text
    promote = _statements(template, "RetrainingPromoteFunctionRole")
    assert any(_actions(s) == ["dynamodb:PutItem"] for s in promote)
    assert not any("rekognition:" in a for s in promote for a in _actions(s))


# --- the definition, run -------------------------------------------------------------------


def path_to_training(stage: str) -> list[str]:
    return [
        "Preflight",
        "EnoughFeedback?",
        "PrepareData",
        *(["RefreshIndex", "IndexComplete?"] if stage in INDEXED else []),
        "WaitForDatasets",
        "StartTraining",
        "DatasetsReady?",
    ]


def stub(**outcomes: Any) -> Callable[[str, int], asl.Outcome]:
    """Outcomes by state name: a value, or a list of values, one per invocation (the last
    repeats); tasks not named succeed with an empty result."""

    def outcome(name: str, call: int) -> asl.Outcome:
        value = outcomes.get(name)
        if isinstance(value, list):
            value = value[min(call, len(value)) - 1]
        return value

    return outcome


HAPPY = {
    "Preflight": {"train": True, "waiting": 25},
    "StartTraining": [{"ready": False}, {"ready": True, "version_name": "retrain-x"}],
    "TrainingStatus": [{"status": "TRAINING_IN_PROGRESS"}, {"status": "TRAINING_COMPLETED"}],
    "Evaluate": {"promote": True},
    "RefreshIndex": {"complete": True, "embedded": 3},
}


def test_too_little_feedback_ends_quietly(definition: dict[str, Any]) -> None:
    run = asl.run(definition, stub(Preflight={"train": False, "waiting": 3}), {"force": False})

    assert run.status == "SUCCEEDED"
    assert run.path == ["Preflight", "EnoughFeedback?", "NothingToDo"]


def test_a_better_model_is_trained_polled_evaluated_and_promoted(
    definition: dict[str, Any], stage: str
) -> None:
    run = asl.run(definition, stub(**HAPPY))

    assert run.status == "SUCCEEDED"
    assert run.path == [
        *path_to_training(stage),
        "WaitForDatasets",  # one dataset was still being built
        "StartTraining",
        "DatasetsReady?",
        "WaitForTraining",
        "TrainingStatus",
        "TrainingDone?",
        "WaitForTraining",  # polled again while TRAINING_IN_PROGRESS
        "TrainingStatus",
        "TrainingDone?",
        "Evaluate",
        "Better?",
        "Promote",
        "NotifyPromoted",
        "Promoted",
    ]
    assert run.state["training"]["version_name"] == "retrain-x"


def test_a_model_that_is_not_better_is_kept_out_and_said_so(definition: dict[str, Any]) -> None:
    run = asl.run(definition, stub(**{**HAPPY, "Evaluate": {"promote": False}}))

    assert run.status == "SUCCEEDED"
    assert run.path[-4:] == ["Evaluate", "Better?", "NotifyNotPromoted", "Kept"]
    assert "Promote" not in run.path


@pytest.mark.parametrize("status", ["TRAINING_FAILED", "DELETING", "MISSING"])
def test_a_failed_training_is_notified_and_fails(definition: dict[str, Any], status: str) -> None:
    run = asl.run(definition, stub(**{**HAPPY, "TrainingStatus": {"status": status}}))

    assert run.status == "FAILED"
    assert run.path[-4:] == ["TrainingStatus", "TrainingDone?", "NotifyTrainingFailed", "Failed"]


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ("Preflight", "WorkflowAlreadyRunningError"),
        ("Preflight", "TrainingAlreadyRunningError"),
        ("PrepareData", "ManifestError"),
        ("PrepareData", "ClientError"),
        ("StartTraining", "DatasetFailedError"),
        ("TrainingStatus", "ClientError"),
        ("Evaluate", "EvaluationMissingError"),
        ("Promote", "PointerChangedError"),
        ("Promote", "Sandbox.Timedout"),
        ("NotifyPromoted", "SNS.AuthorizationErrorException"),
    ],
)
def test_every_step_failure_is_notified_then_fails(
    definition: dict[str, Any], state: str, error: str
) -> None:
    run = asl.run(definition, stub(**{**HAPPY, state: asl.Failure(error, f"{error}: details")}))

    assert run.status == "FAILED"
    assert run.path[-2:] == ["NotifyFailure", "Failed"]
    assert run.state["failure"] == {"Error": error, "Cause": f"{error}: details"}
    # Not retried: retrying cannot fix these (except the SNS publish, retried 3 times).
    retries = run.path.count(f"{state} (retry)")
    assert retries == (3 if state.startswith("Notify") else 0)


def test_transient_aws_errors_are_retried_then_the_run_goes_on(definition: dict[str, Any]) -> None:
    flaky = asl.Failure("RetryableError", "describe_dataset: ThrottlingException (HTTP 400)")
    lambda_busy = asl.Failure("Lambda.TooManyRequestsException")
    run = asl.run(
        definition,
        stub(
            **{
                **HAPPY,
                "PrepareData": [flaky, flaky, lambda_busy, {"run": "x"}],
                "StartTraining": {"ready": True},
            }
        ),
    )

    assert run.status == "SUCCEEDED"
    assert run.path.count("PrepareData (retry)") == 3


def test_transient_errors_that_persist_end_in_the_failure_notification(
    definition: dict[str, Any],
) -> None:
    run = asl.run(
        definition, stub(**{**HAPPY, "Evaluate": asl.Failure("RetryableError", "throttled")})
    )

    assert run.status == "FAILED"
    assert run.path.count("Evaluate (retry)") == 4
    assert run.path[-2:] == ["NotifyFailure", "Failed"]


def test_the_failure_notification_itself_failing_still_fails_the_run(
    definition: dict[str, Any],
) -> None:
    run = asl.run(
        definition,
        stub(
            Preflight=asl.Failure("TrainingAlreadyRunningError"),
            NotifyFailure=asl.Failure("SNS.KMSAccessDeniedException"),
        ),
    )

    assert run.status == "FAILED"
    assert run.error == "SNS.KMSAccessDeniedException"


def test_the_steps_get_every_setting_their_handler_reads(
    template: dict[str, Any], stage: str
) -> None:
    from retraining.steps import Settings
    from shared import environment

    read = environment.variables(Settings)
    functions = resources_of_type(template, "AWS::Lambda::Function")

    assert len(read) == 14
    for step in steps_of(stage):
        props = functions[logical_id(template, "AWS::Lambda::Function", f"Retraining{step}")][
            "Properties"
        ]
        variables = props["Environment"]["Variables"]
        assert read <= set(variables), (step, read - set(variables))
        machine = variables["STATE_MACHINE_ARN"]["Fn::Join"][1]
        assert machine[-1] == f":stateMachine:imgrec-{stage}-retraining"


def test_the_index_is_refreshed_again_until_complete_then_training_goes_on(
    definition: dict[str, Any], stage: str
) -> None:
    if stage not in INDEXED:
        assert "RefreshIndex" not in definition["States"]
        return
    partial = {"complete": False, "embedded": 50}
    run = asl.run(
        definition,
        stub(**{**HAPPY, "RefreshIndex": [partial, partial, {"complete": True, "embedded": 7}]}),
    )

    assert run.status == "SUCCEEDED"
    assert run.path.count("RefreshIndex") == 3
    assert run.state["index"]["embedded"] == 7


def test_an_index_failure_is_told_and_training_goes_on(
    definition: dict[str, Any], stage: str
) -> None:
    if stage not in INDEXED:
        return
    denied = asl.Failure("ClientError", "InvokeModel: AccessDeniedException")
    run = asl.run(definition, stub(**{**HAPPY, "RefreshIndex": denied}))

    assert run.status == "SUCCEEDED"
    at = run.path.index("NotifyIndexFailed")
    assert run.path[at + 1] == "WaitForDatasets"
    assert run.state["index_failure"]["Error"] == "ClientError"
    assert run.path[-1] == "Promoted"
