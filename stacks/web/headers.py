"""The quick-test page's Content-Security-Policy, shared by CloudFront and the local preview.

Pure Python (no CDK import) so that ``tools.web_preview`` and the browser
tests serve the page under the same policy CloudFront sends.
"""

from __future__ import annotations

from collections.abc import Iterable


def content_security_policy(
    connect_sources: Iterable[str], *, upgrade_insecure: bool, image_sources: Iterable[str] = ()
) -> str:
    """The page's policy: its own scripts and styles only, no frames, no inline code.

    :param connect_sources: origins ``fetch`` may reach besides the page's own
        (Cognito's token endpoint, the uploads bucket), e.g.
        ``https://cognito-idp.eu-west-1.amazonaws.com``.
    :param upgrade_insecure: add ``upgrade-insecure-requests`` (HTTPS deployments).
    :param image_sources: origins images may come from besides the page's own
        (the training bucket, whose presigned GETs show the review queue's photos).
    :returns: the header value.
    """
    connect = " ".join(["'self'", *connect_sources])
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(["img-src 'self' blob: data:", *image_sources]),
        f"connect-src {connect}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
    if upgrade_insecure:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)
