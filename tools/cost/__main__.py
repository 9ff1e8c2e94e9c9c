"""``python -m tools.cost``: see :mod:`tools.cost.cli`."""

from tools.cost.cli import main

raise SystemExit(main())
