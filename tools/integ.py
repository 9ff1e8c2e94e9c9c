"""``python -m tools.integ``: run the integration test against a real account (``make integ``).

Deploys ``tests/integ/integ_phone_api.py`` (the ``integ`` stage's three
stacks and the assertion stack of ``aws-cdk.integ-tests-alpha``) with the
project's pinned CDK CLI, reads every assertion's result from the deployed
outputs (``AssertionResults*``: ``{"status": "success"}`` or ``{"status":
"fail", "message": ...}``), then destroys everything, also after a failure
(``--keep`` leaves the stacks for inspection). Exit 0 only when every
assertion passed; 2 without AWS credentials; 1 otherwise.

Why not ``@aws-cdk/integ-runner``: its newest release on npm (2.197.10)
bundles cloud assembly schema 53 and refuses the schema-55 assemblies of
aws-cdk-lib 2.275 (``AssemblyVersionMismatch``). The assertion constructs
are the same; this runner does what integ-runner's deploy/assert/destroy
does, and ``tests/integ/test_integ_snapshot.py`` is its offline snapshot check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools import ROOT
from tools import aws as aws_credentials

APP = f"{sys.executable} tests/integ/integ_phone_api.py"
OUTDIR = ROOT / "cdk.out.integ"


def assertion_results(outputs: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[bool, str]]:
    """``{output name: (passed, message)}`` for every assertion output of every stack.

    A result that is not the JSON the assertion provider writes counts as failed.
    """
    results: dict[str, tuple[bool, str]] = {}
    for stack, values in outputs.items():
        for name, value in values.items():
            if not name.startswith("AssertionResults"):
                continue
            try:
                parsed = json.loads(value)
            except (TypeError, ValueError):
                parsed = None
            passed = isinstance(parsed, dict) and parsed.get("status") == "success"
            message = parsed.get("message", "") if isinstance(parsed, dict) else str(value)
            results[f"{stack}.{name}"] = (passed, str(message))
    return results


def _cdk(*args: str) -> int:
    command = ["cdk", *args, "--app", APP, "--output", str(OUTDIR)]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.integ", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="do not destroy the stacks afterwards")
    args = parser.parse_args(argv)
    problem = aws_credentials.problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    outputs_file = OUTDIR / "outputs.json"
    outputs_file.unlink(missing_ok=True)
    try:
        deployed = _cdk(
            "deploy",
            "--all",
            "--require-approval",
            "never",
            "--outputs-file",
            str(outputs_file),
        )
        return _report(deployed, outputs_file)
    finally:
        if not args.keep:
            _cdk("destroy", "--all", "--force")


def _report(deployed: int, outputs_file: Path) -> int:
    if deployed != 0:
        print("integration test: the deployment failed (see above)", file=sys.stderr)
        return 1
    outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
    results = assertion_results(outputs)
    if not results:
        print("integration test: no assertion results were deployed", file=sys.stderr)
        return 1
    for name, (passed, message) in sorted(results.items()):
        print(f"{'PASS' if passed else 'FAIL'}  {name}  {message}")
    failed = [name for name, (passed, _) in results.items() if not passed]
    print(f"{len(results) - len(failed)} of {len(results)} assertions passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
