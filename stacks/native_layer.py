"""Native Python wheels for Lambda (arm64, CPython 3.14), installed without Docker.

A Lambda layer of compiled libraries must hold the wheels of the function's
runtime and architecture, not the build machine's. ``pip`` fetches exactly
those when told the target platform, so the layer builds on any machine that
reaches PyPI (a laptop on x86_64, CI, CodeBuild), with no Docker:

    pip install --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \\
        --implementation cp --python-version 3.14 --only-binary=:all: \\
        --target build/layers/<name>/python -r requirements-<name>-layer.txt

Lambda puts a layer's ``python/`` folder on ``sys.path``
(https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html). The Python
3.14 runtime runs on Amazon Linux 2023 (glibc 2.34), so ``manylinux_2_28``
wheels load there.

The build is cached: a stamp holds the hash of the requirements and the
platform flags, and a synth reuses the folder while they are unchanged.
``make layers`` (run by ``make synth``) builds it ahead; a synth that finds it
missing builds it itself, so every way of synthesizing works.

    python -m stacks.native_layer          # build (or reuse) every layer
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "build" / "layers"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.14"
"""The runtime of every project function (``stacks.building_blocks``)."""
LAYERS = {"codes": ROOT / "requirements-codes-layer.txt"}
"""Layer name -> its pinned requirements."""


class LayerBuildError(RuntimeError):
    """pip could not install a layer's wheels for Lambda's platform."""


def pip_command(requirements: Path, target: Path) -> list[str]:
    """The pip call that installs ``requirements`` for Lambda into ``target``."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]


def _fingerprint(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(" ".join(pip_command(Path("r"), Path("t"))[3:]).encode())
    return digest.hexdigest()


def build(name: str) -> Path:
    """The layer folder (holding ``python/``) of ``name``, built or reused.

    :raises LayerBuildError: pip failed (no network, a version not on PyPI
        for Lambda's platform); the message holds pip's command and output.
    """
    requirements = LAYERS[name]
    folder = BUILD_ROOT / name
    stamp = folder / ".fingerprint"
    fingerprint = _fingerprint(requirements)
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return folder
    staging = BUILD_ROOT / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = pip_command(requirements, staging / "python")
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LayerBuildError(
            f"layer {name!r}: pip could not install {requirements.name} for Lambda "
            f"(arm64, CPython {PYTHON_VERSION}); ran {' '.join(command)}\n"
            f"{result.stdout}{result.stderr}"
        )
    for cache in (staging / "python").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    (staging / ".fingerprint").write_text(fingerprint)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def main() -> int:
    for name in LAYERS:
        try:
            folder = build(name)
        except LayerBuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"layer {name}: {folder.relative_to(ROOT)} ({size / 1e6:.1f} MB unzipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
