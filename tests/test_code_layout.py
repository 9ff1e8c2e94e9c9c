"""The code's layout holds: no import cycles, function packages apart, one definition per fact.

Imports are read from the source (``ast``), lazy ones inside functions
included, so a cycle hidden behind a function-level import counts too.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Synth, resources_of_type

LAMBDA = ROOT / "lambda"
FUNCTION_PACKAGES = ("inference_api", "cost_guard", "retraining")
SHARED = "shared"


def _modules(root: Path, prefix: str = "") -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([p for p in [prefix, *parts] if p])] = path
    return found


def _imports(name: str, path: Path) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a ``from x import y`` of a submodule
    counts as importing ``x.y``)."""
    return {
        name: {target for target in _imports(name, path) if target in modules} - {name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_modules(package: str) -> dict[str, Path]:
    return {k: v for k, v in _modules(LAMBDA).items() if k.split(".")[0] == package}


LAMBDA_MODULES = _modules(LAMBDA)
PROJECT_MODULES = {
    **_modules(ROOT / "stacks", "stacks"),
    **_modules(ROOT / "tools", "tools"),
    **LAMBDA_MODULES,
    "app": ROOT / "app.py",
}


@functools.cache
def project_graph() -> dict[str, set[str]]:
    """The project's import graph (lambda/, stacks/, tools/, app.py), read once per run."""
    return import_graph(PROJECT_MODULES)


# --- the checker itself ------------------------------------------------------------------


def test_the_checker_finds_a_cycle_and_a_lazy_import(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from pkg.a import x\n")
    (tmp_path / "pkg" / "c.py").write_text("from . import a\n")

    graph = import_graph(_modules(tmp_path))

    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert graph["pkg.c"] == {"pkg", "pkg.a"}


# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["lambda", "stacks", "tools"])
def test_no_import_cycle(root: str) -> None:
    graph = project_graph()
    inside = [
        c for c in cycles(graph) if any(PROJECT_MODULES[m].is_relative_to(ROOT / root) for m in c)
    ]

    assert inside == []


@pytest.mark.parametrize("package", FUNCTION_PACKAGES)
def test_a_function_package_imports_no_other_function_package(package: str) -> None:
    graph = project_graph()
    others = set(FUNCTION_PACKAGES) - {package}

    crossing = {
        (name, target)
        for name in _package_modules(package)
        for target in graph[name]
        if target.split(".")[0] in others
    }

    assert crossing == set()


def test_the_shared_package_imports_no_function_package() -> None:
    graph = project_graph()

    crossing = {
        (name, target)
        for name in _package_modules(SHARED)
        for target in graph[name]
        if target.split(".")[0] != SHARED
    }

    assert crossing == set()


def test_every_lambda_package_is_a_function_or_shared() -> None:
    packages = {p.name for p in LAMBDA.iterdir() if (p / "__init__.py").exists()}

    assert packages == {*FUNCTION_PACKAGES, SHARED}


@pytest.mark.parametrize("root", ["tools", "stacks", "lambda"])
def test_nothing_outside_tests_imports_tests(root: str) -> None:
    importers = {
        str(path.relative_to(ROOT))
        for path in (ROOT / root).rglob("*.py")
        if "__pycache__" not in path.parts
        for target in _imports("x", path)
        if target == "tests" or target.startswith("tests.")
    }

    assert importers == set()


# --- one definition per fact ---------------------------------------------------------------


def _created_routes(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every API Gateway method but CORS preflights, paths rebuilt from
    each resource's ``PathPart`` and ``ParentId``."""
    resources = resources_of_type(template, "AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"].get("Ref")
        return (path(parent) if parent in resources else "") + "/" + str(props["PathPart"])

    return {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]["Ref"]))
        for m in resources_of_type(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    }


def test_the_schema_describes_exactly_the_routes_the_stack_creates(synth: Synth) -> None:
    from inference_api.schema import ROUTES as DESCRIBED
    from shared.routes import ROUTES

    created = _created_routes(synth.template_json("Dev-Service"))

    assert sorted((r.method, r.path) for r in DESCRIBED) == sorted(ROUTES)
    assert created == set(ROUTES)


def _function_variables(synth: Synth, handler: str) -> list[set[str]]:
    template = synth.template_json("Dev-Service")
    return [
        set(f["Properties"]["Environment"]["Variables"])
        - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
        - {"POWERTOOLS_TRACER_CAPTURE_RESPONSE", "ALLOWED_ORIGINS"}
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == handler
    ]


@pytest.mark.parametrize(
    ("handler", "settings"),
    [
        ("inference_api.handler.lambda_handler", "inference_api.calls:Settings"),
        ("inference_api.codes_handler.lambda_handler", "inference_api.codes:CodesSettings"),
        ("retraining.handler.preflight", "retraining.steps:Settings"),
        ("retraining.handler.promote", "retraining.steps:Settings"),
    ],
)
def test_a_function_reads_exactly_the_variables_its_stack_sets(
    synth: Synth, handler: str, settings: str
) -> None:
    import importlib

    from shared.environment import variables

    module, _, name = settings.partition(":")
    [set_by_stack] = _function_variables(synth, handler)

    assert set_by_stack == variables(getattr(importlib.import_module(module), name))


def test_the_stacks_read_the_layout_the_functions_use(synth: Synth) -> None:
    """The prefixes and index names the functions use are the ones the grants name."""
    from shared import layout

    service = str(synth.template_json("Dev-Service"))
    data = str(synth.template_json("Dev-Data"))

    for prefix in (
        layout.UPLOADS_PREFIX,
        layout.FEEDBACK_PREFIX,
        layout.MANIFEST_PREFIX,
        layout.REKOGNITION_OUTPUT_PREFIX,
        layout.DATASETS_PREFIX,
    ):
        assert f"/{prefix}*" in service, prefix
    assert f"/index/{layout.FEEDBACK_BY_STATUS_INDEX}" in service
    assert f"'IndexName': '{layout.FEEDBACK_BY_STATUS_INDEX}'" in data
    assert f"'IndexName': '{layout.FACES_BY_PERSON_INDEX}'" in data
    assert f"'GroupName': '{layout.REVIEWERS_GROUP}'" in data


def test_no_module_outside_shared_spells_a_prefix_or_index_name() -> None:
    """Each is written once, in ``lambda/shared/layout.py`` (docstrings and comments aside)."""
    from shared import layout

    facts = {
        layout.FEEDBACK_PREFIX,
        layout.MANIFEST_PREFIX,
        layout.REKOGNITION_OUTPUT_PREFIX,
        layout.FEEDBACK_BY_STATUS_INDEX,
        layout.FACES_BY_PERSON_INDEX,
    }
    spelled = set()
    for name, path in PROJECT_MODULES.items():
        if name.startswith(SHARED):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and id(node) not in docstrings
                and node.value in facts
            ):
                spelled.add((name, node.value))

    assert spelled == set()
