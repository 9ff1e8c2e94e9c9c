"""``python -m tools.devices``: see :mod:`tools.devices.register`."""

from tools.devices.register import main

raise SystemExit(main())
