"""The ``<Stage>-Service`` stack: API, functions, IoT rules, cost guard, retraining, analytics."""
