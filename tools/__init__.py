"""Command-line tools (``python -m tools.NAME``).

Lambda code lives in ``lambda/`` (the asset root the functions are packaged
from); tools reuse its pure modules, such as the cost guard's policy, so
``lambda/`` is put on the import path here.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LAMBDA = str(ROOT / "lambda")
if _LAMBDA not in sys.path:
    sys.path.insert(0, _LAMBDA)
