"""Walk an Amazon States Language definition with stubbed task outcomes, and record the path.

Step Functions Local is a download from AWS (not a registry this project can
install from offline), so the retraining workflow's definition is run here
instead, by the rules of the Amazon States Language
(https://states-language.net/spec.html) for what the definition uses:

* ``Task``: the outcome comes from the test (a result, or an error name);
  ``Retry`` (each retrier counts its own attempts, ``MaxAttempts`` default
  3, ``States.ALL`` matches every error) then ``Catch`` (first matching
  catcher; the error object ``{"Error", "Cause"}`` goes to its
  ``ResultPath``); an error neither retried nor caught fails the execution;
* ``Choice``: ``BooleanEquals``, ``StringEquals``, ``IsPresent``, ``Not``,
  ``And``, ``Or``; ``Default`` when nothing matches (none: ``States.NoChoiceMatched``);
* ``Wait``, ``Pass`` (no change), ``Succeed``, ``Fail``;
* ``ResultPath``: ``$.a.b`` sets, ``null`` discards, absent replaces the state.

Waits take no time and task payloads are not built: the walk checks the path
the machine takes, which is what the definition decides.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """A task's stubbed error: ``error`` is the Step Functions error name."""

    error: str
    cause: str = "stubbed"


Outcome = dict[str, Any] | Failure | None
"""A task's stubbed answer: its result, a :class:`Failure`, or None (an empty result)."""


@dataclass
class Execution:
    status: str = "RUNNING"
    path: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def definition_from_template(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The state machine's definition, with CloudFormation tokens as ``<Ref:Id>`` text."""
    body = template["Resources"][logical_id]["Properties"]["DefinitionString"]
    if isinstance(body, str):
        return json.loads(body)  # type: ignore[no-any-return]
    separator, parts = body["Fn::Join"]

    def text(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"<Ref:{part['Ref']}>"
        if "Fn::GetAtt" in part:
            return f"<GetAtt:{'.'.join(part['Fn::GetAtt'])}>"
        return f"<{next(iter(part))}>"

    return json.loads(separator.join(text(part) for part in parts))  # type: ignore[no-any-return]


def _get(data: Any, path: str) -> Any:
    if path == "$":
        return data
    for part in path.removeprefix("$.").split("."):
        if not isinstance(data, dict) or part not in data:
            raise KeyError(path)
        data = data[part]
    return data


def _set(data: dict[str, Any], path: str | None, value: Any, *, absent: bool) -> dict[str, Any]:
    if absent or path == "$":
        return value if isinstance(value, dict) else {"value": value}
    if path is None:  # "ResultPath": null keeps the input
        return data
    result = copy.deepcopy(data)
    target = result
    *parents, last = path.removeprefix("$.").split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return result


def _matches(rule: dict[str, Any], data: dict[str, Any]) -> bool:
    if "Not" in rule:
        return not _matches(rule["Not"], data)
    if "And" in rule:
        return all(_matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, data) for r in rule["Or"])
    try:
        value = _get(data, rule["Variable"])
    except KeyError:
        return rule.get("IsPresent") is False
    if "IsPresent" in rule:
        return bool(rule["IsPresent"])
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    raise NotImplementedError(f"Choice rule {rule}")


def _error_matches(names: list[str], error: str) -> bool:
    return "States.ALL" in names or error in names


def run(
    definition: dict[str, Any],
    outcome: Callable[[str, int], Outcome],
    state_input: dict[str, Any] | None = None,
    max_steps: int = 500,
) -> Execution:
    """Run ``definition`` from ``StartAt``.

    :param outcome: ``(task state name, its nth invocation, from 1) -> Outcome``.
    :returns: the execution: ``status`` SUCCEEDED or FAILED, every state entered
        in order (a retried task once per attempt), the final state data and error.
    """
    execution = Execution(state=dict(state_input or {}))
    states = definition["States"]
    name: str | None = definition["StartAt"]
    calls: dict[str, int] = {}
    while name is not None:
        if len(execution.path) >= max_steps:
            raise RuntimeError(f"no end after {max_steps} states: {execution.path[-10:]}")
        state = states[name]
        execution.path.append(name)
        kind = state["Type"]
        if kind == "Succeed":
            execution.status = "SUCCEEDED"
            return execution
        if kind == "Fail":
            execution.status, execution.error = "FAILED", state.get("Error", "States.Fail")
            return execution
        if kind == "Choice":
            name = next(
                (c["Next"] for c in state["Choices"] if _matches(c, execution.state)),
                state.get("Default"),
            )
            if name is None:
                execution.status, execution.error = "FAILED", "States.NoChoiceMatched"
                return execution
            continue
        if kind in {"Wait", "Pass"}:
            name = None if state.get("End") else state["Next"]
            continue
        if kind != "Task":
            raise NotImplementedError(kind)
        attempts = [0] * len(state.get("Retry", []))
        while True:
            calls[name] = calls.get(name, 0) + 1
            result = outcome(name, calls[name])
            if not isinstance(result, Failure):
                execution.state = _set(
                    execution.state,
                    state.get("ResultPath"),
                    result or {},
                    absent="ResultPath" not in state,
                )
                name = None if state.get("End") else state["Next"]
                break
            retrier = next(
                (
                    i
                    for i, r in enumerate(state.get("Retry", []))
                    if _error_matches(r["ErrorEquals"], result.error)
                ),
                None,
            )
            if retrier is not None and attempts[retrier] < state["Retry"][retrier].get(
                "MaxAttempts", 3
            ):
                attempts[retrier] += 1
                execution.path.append(f"{name} (retry)")
                continue
            catcher = next(
                (
                    c
                    for c in state.get("Catch", [])
                    if _error_matches(c["ErrorEquals"], result.error)
                ),
                None,
            )
            if catcher is None:
                execution.status, execution.error = "FAILED", result.error
                return execution
            error = {"Error": result.error, "Cause": result.cause}
            execution.state = _set(
                execution.state,
                catcher.get("ResultPath", "$"),
                error,
                absent="ResultPath" not in catcher,
            )
            name = catcher["Next"]
            break
    execution.status = "SUCCEEDED"
    return execution
