"""Stage configuration: cdk.json's stages parse, and bad values fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from stacks.config import ConfigError, StageConfig, load_stage_configs, parse_stage
from tests.conftest import ROOT, cdk_json_context


def stages_with(**dev_settings: Any) -> dict[str, Any]:
    """cdk.json's stages with the dev stage's settings overridden."""
    stages: dict[str, Any] = json.loads(json.dumps(cdk_json_context()["stages"]))
    stages["dev"].update(dev_settings)
    return stages


def error_for(stages: Any, selected: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_stage_configs(stages, selected)
    return str(caught.value)


def test_cdk_json_defines_dev_and_prod() -> None:
    configs = load_stage_configs(cdk_json_context()["stages"])

    assert [c.name for c in configs] == ["dev", "prod"]
    dev, prod = configs
    assert dev.retain_data is False
    assert prod.retain_data is True
    assert prod.waf_enabled is True
    assert prod.keep_warm_windows[0].time_zone == "Asia/Tokyo"


def test_selecting_one_stage_returns_only_it() -> None:
    configs = load_stage_configs(cdk_json_context()["stages"], "prod")

    assert [c.name for c in configs] == ["prod"]


def test_defaults_are_safe_when_a_stage_sets_nothing() -> None:
    config = parse_stage("qa", {})

    assert config.retain_data is True  # keep data unless told otherwise
    assert config.self_sign_up_enabled is False
    assert config.idle_stop_minutes == 30
    assert config.account is None  # env-agnostic
    assert config.region is None
    assert config.stack_prefix == "Qa"


def test_unknown_stage_names_the_defined_ones() -> None:
    message = error_for(cdk_json_context()["stages"], "qa")

    assert "context key 'stage'" in message
    assert "'qa'" in message
    assert "dev, prod" in message


def test_negative_minutes_name_key_value_and_bound() -> None:
    message = error_for(stages_with(idle_stop_minutes=-5))

    assert (
        message
        == "stages.dev.idle_stop_minutes: got -5; Input should be greater than or equal to 5"
    )


def test_malformed_email_names_key_and_value() -> None:
    message = error_for(stages_with(notification_email="ops-at-example.com"))

    assert message.startswith("stages.dev.notification_email: got 'ops-at-example.com';")
    assert "email" in message.lower()


def test_unknown_key_lists_allowed_keys() -> None:
    message = error_for(stages_with(idle_minutes=10))

    assert message.startswith("stages.dev.idle_minutes: unknown key; allowed keys here: ")
    assert "idle_stop_minutes" in message


def test_unknown_nested_key_lists_that_objects_keys() -> None:
    message = error_for(stages_with(api_throttling={"rate": 5}))

    assert message == (
        "stages.dev.api_throttling.rate: unknown key; allowed keys here: burst_limit, rate_limit"
    )


def test_unknown_key_inside_keep_warm_window_lists_window_keys() -> None:
    window = {"days": ["Mon"], "start": "09:00", "end": "10:00", "tz": "UTC"}
    message = error_for(stages_with(keep_warm_windows=[window]))

    assert message == (
        "stages.dev.keep_warm_windows.0.tz: unknown key; allowed keys here: "
        "days, end, start, time_zone"
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"log_retention_days": 10},
            "stages.dev.log_retention_days: got 10; CloudWatch Logs accepts only 1, 3, 5, 7, 14,",
        ),
        (
            {"allowed_web_origins": ["https://example.com/app"]},
            "stages.dev.allowed_web_origins: got ['https://example.com/app']; "
            "'https://example.com/app' is not an origin",
        ),
        (
            {"keep_warm_windows": [{"days": ["Mon"], "start": "09:00", "end": "18:00",
                                    "time_zone": "Mars/Olympus"}]},
            "stages.dev.keep_warm_windows.0.time_zone: got 'Mars/Olympus'; unknown time zone",
        ),
        (
            {"keep_warm_windows": [{"days": ["Mon"], "start": "18:00", "end": "09:00"}]},
            "stages.dev.keep_warm_windows.0: got {",
        ),
        (
            {"keep_warm_windows": [{"days": ["Monday"], "start": "09:00", "end": "18:00"}]},
            "stages.dev.keep_warm_windows.0.days.0: got 'Monday'; Input should be 'Mon', 'Tue'",
        ),
        ({"account": "12345"}, "stages.dev.account: got '12345'; String should match pattern"),
        ({"retain_data": "sometimes"}, "stages.dev.retain_data: got 'sometimes'; Input should be"),
        (
            {"api_throttling": {"rate_limit": 0}},
            "stages.dev.api_throttling.rate_limit: got 0; Input should be greater than 0",
        ),
    ],
    ids=["log-retention", "origin-with-path", "time-zone", "window-order", "weekday",
         "account", "bool", "throttle"],
)  # fmt: skip
def test_bad_values_are_named(settings: dict[str, Any], expected: str) -> None:
    assert error_for(stages_with(**settings)).startswith(expected)


def test_every_bad_key_is_reported_at_once() -> None:
    message = error_for(stages_with(idle_stop_minutes=0, min_inference_units=0))

    assert len(message.splitlines()) == 2
    assert "stages.dev.idle_stop_minutes" in message
    assert "stages.dev.min_inference_units" in message


def test_missing_stages_context_explains_the_shape() -> None:
    assert error_for(None).startswith("context key 'stages': got None; expected an object")


def test_stage_that_is_not_an_object_is_rejected() -> None:
    assert error_for({"dev": 5}) == "stages.dev: got 5; expected an object of settings"


def test_invalid_stage_name_is_explained() -> None:
    message = error_for({"Dev_1": {}})

    assert message.startswith("stage name 'Dev_1' (a key under 'stages'): got 'Dev_1';")


def test_config_objects_are_immutable() -> None:
    config = parse_stage("dev", {})

    with pytest.raises(ValueError, match="frozen"):
        config.retain_data = False  # type: ignore[misc]
    assert isinstance(config, StageConfig)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"stage": "qa"}, "context key 'stage': got 'qa'; defined stages are dev, prod"),
        (
            {"stages": {"dev": {"idle_stop_minutes": -1}}},
            "stages.dev.idle_stop_minutes: got -1; Input should be greater than or equal to 5",
        ),
    ],
    ids=["unknown-stage", "negative-minutes"],
)
def test_app_py_stops_synth_with_the_message_and_no_traceback(
    context: dict[str, Any], expected: str, tmp_path: Any
) -> None:
    """Run app.py as the CDK CLI does (context in CDK_CONTEXT_JSON)."""
    full_context = {**cdk_json_context(), **context}
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(full_context),
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"policy": "magic"},
            "stages.dev.policy: got 'magic'; Input should be 'idle_timeout' or 'adaptive'",
        ),
        (
            {"billing": "hourly"},
            "stages.dev.billing: got 'hourly'; Input should be 'running' or 'from_start_request'",
        ),
        (
            {"adaptive": {"start_latency_minutes": 0}},
            "stages.dev.adaptive.start_latency_minutes: got 0",
        ),
        ({"adaptive": {"stop_probability": 0.7}}, "stages.dev.adaptive.stop_probability: got 0.7"),
        (
            {"adaptive": {"hunch": True}},
            "stages.dev.adaptive.hunch: unknown key; allowed keys here: catch_probability",
        ),
    ],
)
def test_adaptive_policy_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    assert message in error_for(stages_with(**settings))


def test_the_adaptive_policy_reaches_the_guard_with_its_parameters() -> None:
    [dev] = load_stage_configs(stages_with(adaptive={"weekly_pre_start": True}), "dev")

    raw = dev.policy_settings()

    assert raw["policy"] == "adaptive"
    assert raw["adaptive"]["weekly_pre_start"] is True
    assert raw["schedule_period_minutes"] == 5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"feedback": {"review_below_confidence": 120}},
            "stages.dev.feedback.review_below_confidence: got 120",
        ),
        (
            {"retraining": {"schedule": "every sunday"}},
            "stages.dev.retraining.schedule: got 'every sunday'",
        ),
        (
            {"retraining": {"schedule": "rate(0 days)"}},
            "stages.dev.retraining.schedule: got 'rate(0 days)'",
        ),
        (
            {"retraining": {"dataset_prefix": "photos/qr"}},
            "stages.dev.retraining.dataset_prefix: got 'photos/qr'",
        ),
        (
            {"retraining": {"test_fraction": 1}},
            "stages.dev.retraining.test_fraction: got 1",
        ),
        (
            {"retraining": {"auto": True}},
            "stages.dev.retraining.auto: unknown key; allowed keys here: base_manifest, "
            "dataset_prefix, enabled",
        ),
    ],
)
def test_feedback_and_retraining_settings_are_validated(
    settings: dict[str, Any], message: str
) -> None:
    assert message in error_for(stages_with(**settings))


def test_retraining_is_off_in_dev_and_weekly_in_prod() -> None:
    dev, prod = load_stage_configs(cdk_json_context()["stages"])

    assert dev.retraining.enabled is False
    assert prod.retraining.enabled is True
    assert prod.retraining.schedule == "cron(0 18 ? * SAT *)"
    assert prod.retraining.min_f1 >= dev.retraining.min_f1
    assert StageConfig(name="qa").retraining.enabled is False, "off unless a stage turns it on"
    assert 0 < dev.feedback.review_below_confidence < prod.feedback.review_below_confidence


def test_a_stage_pinned_to_a_region_without_custom_labels_is_refused() -> None:
    from stacks.config import ConfigError, load_stage_configs

    with pytest.raises(
        ConfigError,
        match=r"stages.dev.region: got 'sa-east-1'; Rekognition Custom Labels is not "
        r"available in sa-east-1; use one of us-east-1",
    ):
        load_stage_configs({"dev": {"region": "sa-east-1"}}, "dev")


def test_an_edge_web_acl_must_be_a_cloudfront_scope_acl_in_us_east_1() -> None:
    from stacks.config import ConfigError, load_stage_configs

    acl = "webacl/x/1234abcd-1234-1234-1234-1234567890ab"
    regional = f"arn:aws:wafv2:ap-northeast-1:123456789012:regional/{acl}"
    with pytest.raises(ConfigError, match=r"stages\.dev\.edge_web_acl_arn"):
        load_stage_configs({"dev": {"edge_web_acl_arn": regional}}, "dev")
    edge = (
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1234abcd-1234-1234-1234-1234567890ab"
    )
    [config] = load_stage_configs({"dev": {"edge_web_acl_arn": edge}}, "dev")
    assert config.edge_web_acl_arn == edge


def test_a_detection_stage_that_retrains_needs_its_base_manifest() -> None:
    message = error_for(
        stages_with(project_type="object_detection", retraining={"enabled": True}), "dev"
    )

    assert "retraining.base_manifest" in message
    assert "tools.models manifest --annotations" in message
    [dev] = load_stage_configs(
        stages_with(
            project_type="object_detection",
            retraining={"enabled": True, "base_manifest": "datasets/qr/train.manifest"},
        ),
        "dev",
    )
    assert dev.project_type == "object_detection"
