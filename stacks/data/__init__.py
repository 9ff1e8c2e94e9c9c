"""The ``<Stage>-Data`` stack: what holds data (kept apart from what can be rebuilt)."""
