"""Benchmarks ``make bench`` prints (ratios measured side by side in one run), and their inputs.

* ``api``: the inference API handler's overhead and cold import;
* ``codes``: the code reader's decode rate, latency, layer size and cold import;
* ``page``: the page's photo preparation in the browser;
* ``code_images``: generated photos of codes (also read by the tests);
* ``events``: API Gateway events and a Lambda context to invoke handlers with.
"""
