"""The ``<Stage>-Web`` stack: the quick-test page on CloudFront and S3."""
