"""cfn-lint over every synthesized template: no error, no unlisted warning.

Ignored checks live in .cfnlintrc.yaml, each with its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Synth

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def cfn_lint(templates: list[str]) -> subprocess.CompletedProcess[str]:
    """cfn-lint over ``templates`` with the project's .cfnlintrc.yaml."""
    return subprocess.run(
        [str(CFN_LINT), "--format", "parseable", "--", *templates],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_templates_pass_cfn_lint(synth: Synth) -> None:
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
    assert len(templates) >= 2

    result = cfn_lint(templates)

    assert result.returncode == 0, result.stdout + result.stderr
