"""Model lifecycle tools: ``python -m tools.models --help``.

Library modules (``manifest``, ``lifecycle``, ``faces``) hold the logic and
take boto3 clients as arguments; ``__main__`` is only the command line.
"""
