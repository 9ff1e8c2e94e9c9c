"""What the model costs: the cost guard's policies replayed on request traces.

* ``cli`` (``python -m tools.cost``): ``simulate``, ``bench``, ``plot``;
* ``simulator``: the replay (the guard's decisions minute by minute on a trace);
* ``plot``: the week picture in ``docs/cost/``;
* ``traces`` (``python -m tools.cost.traces``): regenerates ``assets/traces/``.
"""
