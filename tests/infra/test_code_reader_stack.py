"""The code reader in the <Stage>-Service template, and the layer it is packaged with.

The layer must hold Lambda's wheels (arm64, CPython 3.14), never this
machine's (x86_64, CPython 3.11): a function importing an x86_64 ``.so`` on
Graviton fails at its first request, which no template test would notice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks import native_layer
from tests.conftest import Synth, cdk_json_context, resources_of_type

ELF_MACHINE_AARCH64 = 183
"""``e_machine`` of an ELF file built for AArch64 (x86-64 is 62)."""


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::Lambda::Function")


def _code_reader(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, v)
        for k, v in _functions(template).items()
        if v["Properties"]["Handler"] == "inference_api.codes_handler.lambda_handler"
    ]
    return logical_id, function["Properties"]


def _policy_statements(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to ``function_id``'s role."""
    role = template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_the_code_reader_is_its_own_arm64_function_with_the_native_layer(
    service_template: dict[str, Any],
) -> None:
    _, props = _code_reader(service_template)
    api = next(
        v["Properties"]
        for v in _functions(service_template).values()
        if v["Properties"]["Handler"] == "inference_api.handler.lambda_handler"
    )
    [layer_id] = resources_of_type(service_template, "AWS::Lambda::LayerVersion")
    layer = service_template["Resources"][layer_id]["Properties"]

    assert props["Architectures"] == ["arm64"]
    assert props["Runtime"] == "python3.14"
    assert {"Ref": layer_id} in props["Layers"]
    assert {"Ref": layer_id} not in api["Layers"]  # the labels function never loads it
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert layer["CompatibleRuntimes"] == ["python3.14"]
    assert props["Timeout"] <= 29
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_the_codes_route_goes_to_the_code_reader_and_only_it(
    service_template: dict[str, Any],
) -> None:
    reader_id, _ = _code_reader(service_template)
    methods = resources_of_type(service_template, "AWS::ApiGateway::Method")
    reader_methods = [
        m
        for m in methods.values()
        if reader_id in json.dumps(m["Properties"].get("Integration", {}).get("Uri", ""))
    ]

    assert len(reader_methods) == 1
    [method] = reader_methods
    assert method["Properties"]["HttpMethod"] == "POST"
    assert method["Properties"]["AuthorizationType"] == "COGNITO_USER_POOLS"


def test_the_code_reader_may_read_uploads_and_detect_text_only_where_the_stage_says(
    service_template: dict[str, Any], stage: str
) -> None:
    reader_id, _ = _code_reader(service_template)
    statements = _policy_statements(service_template, reader_id)
    actions = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    fallback = cdk_json_context()["stages"][stage].get("codes", {}).get("text_fallback", False)

    assert "s3:GetObject" in actions
    assert ("rekognition:DetectText" in actions) == fallback
    assert not {a for a in actions if a.startswith(("dynamodb:", "s3:Put", "s3:Delete"))}
    assert not {
        a for a in actions if a.startswith("rekognition:") and a != "rekognition:DetectText"
    }
    [get] = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert json.dumps(get["Resource"]).endswith('/users/*"]]}')


def test_the_api_function_has_no_detect_text(service_template: dict[str, Any]) -> None:
    api_id = next(
        k
        for k, v in _functions(service_template).items()
        if v["Properties"]["Handler"] == "inference_api.handler.lambda_handler"
    )
    assert "rekognition:DetectText" not in json.dumps(_policy_statements(service_template, api_id))


# --- the layer's contents ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def layer_folder(synth: Synth) -> Path:
    """The folder the synthesized layer asset was made from (built by the session's synth)."""
    return native_layer.build("codes") / "python"


def _wheel_tags(folder: Path) -> dict[str, list[str]]:
    tags = {}
    for wheel in folder.glob("*.dist-info/WHEEL"):
        lines = wheel.read_text().splitlines()
        tags[wheel.parent.name] = [
            line.split(": ", 1)[1] for line in lines if line.startswith("Tag: ")
        ]
    return tags


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_every_wheel_in_the_layer_is_for_lambdas_platform(layer_folder: Path) -> None:
    tags = _wheel_tags(layer_folder)

    assert {name.split("-")[0] for name in tags} >= {"zxing_cpp", "pillow", "python_stdnum"}
    for name, wheel_tags in tags.items():
        assert wheel_tags, name
        for tag in wheel_tags:
            python, abi, platform = tag.split("-")
            assert platform == "any" or platform.endswith("aarch64"), (name, tag)
            assert "x86_64" not in platform, (name, tag)
            assert python in {"py3", "py2.py3", "cp314", "cp312"}, (name, tag)  # cp312-abi3
            assert abi in {"none", "abi3", "cp314"}, (name, tag)


def test_every_native_library_in_the_layer_is_aarch64_and_none_is_this_pythons(
    layer_folder: Path,
) -> None:
    libraries = [p for p in layer_folder.rglob("*.so*") if p.is_file()]

    assert any(p.name.startswith("zxingcpp") for p in libraries)
    assert any(p.name.startswith("_imaging.") for p in libraries)
    for library in libraries:
        assert _elf_machine(library) == ELF_MACHINE_AARCH64, library
        assert "x86_64" not in library.name, library
        assert "cpython-311" not in library.name, library


def test_the_elf_check_would_catch_this_machines_wheels() -> None:
    """The check above reads the ELF header: this machine's own zxingcpp (x86_64 here,
    whatever it is elsewhere) is told apart from Lambda's."""
    import platform

    import zxingcpp

    [own] = Path(zxingcpp.__file__).parent.glob("zxingcpp*.so")
    expected = ELF_MACHINE_AARCH64 if platform.machine() == "aarch64" else 62
    assert _elf_machine(own) == expected


@pytest.fixture
def probe_requirements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The requirements of a layer ``probe`` built under ``tmp_path`` (empty until written)."""
    requirements = tmp_path / "requirements.txt"
    monkeypatch.setattr(native_layer, "LAYERS", {"probe": requirements})
    monkeypatch.setattr(native_layer, "BUILD_ROOT", tmp_path / "layers")
    return requirements


def test_the_layer_is_rebuilt_when_its_requirements_change(probe_requirements: Path) -> None:
    requirements = probe_requirements
    requirements.write_text("python-stdnum==2.2\n")

    first = native_layer.build("probe")
    stamp = (first / ".fingerprint").read_text()
    assert native_layer.build("probe") == first  # reused while unchanged
    assert (first / ".fingerprint").read_text() == stamp
    requirements.write_text("python-stdnum==2.1\n")
    native_layer.build("probe")

    assert (first / ".fingerprint").read_text() != stamp
    assert [p.name for p in (first / "python").glob("*.dist-info")] == [
        "python_stdnum-2.1.dist-info"
    ]


def test_a_layer_pip_cannot_build_fails_synth_with_the_command(probe_requirements: Path) -> None:
    probe_requirements.write_text("zxing-cpp==0.0.0.0.1\n")

    with pytest.raises(native_layer.LayerBuildError, match="--platform manylinux2014_aarch64"):
        native_layer.build("probe")
