"""Which headers PII detection scans: the standard library only, so the pipeline can thin
exchange records before sending them to the PII worker without importing presidio."""

from __future__ import annotations

from typing import Any

# Headers that never carry PII worth reporting (or carry dates / hashes / ids that look like it).
SKIP_HEADERS = frozenset(
    [
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "accept-charset",
        "accept-ranges",
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-disposition",
        "content-range",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "cache-control",
        "pragma",
        "date",
        "expires",
        "last-modified",
        "etag",
        "if-none-match",
        "if-match",
        "if-modified-since",
        "if-unmodified-since",
        "vary",
        "server",
        "x-powered-by",
        "upgrade",
        "te",
        "trailer",
        "range",
        "age",
        "via",
        "strict-transport-security",
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "x-xss-protection",
        "referrer-policy",
        "permissions-policy",
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-request-method",
        "access-control-request-headers",
        "origin",
        "alt-svc",
        "x-request-id",
        "x-correlation-id",
        "request-id",
        "traceparent",
        "tracestate",
        "x-amzn-trace-id",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-cache",
        "x-cache-hits",
        "x-served-by",
        "x-timer",
        "x-runtime",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "dnt",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "sec-fetch-user",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "upgrade-insecure-requests",
        "priority",
    ]
)


def scanned_headers(headers: list[Any] | tuple[Any, ...]) -> list[Any]:
    """The pairs of a well-formed header list (pairs of strings) that PII detection looks at:
    those it scans (not in ``SKIP_HEADERS``, non-empty value) and every Content-Type (it picks
    the body parser). ``PiiDetector.detect_exchange`` finds the same things in the result."""
    out = []
    for item in headers:
        name = item[0].lower()
        if name == "content-type" or (item[1] and name not in SKIP_HEADERS):
            out.append(item)
    return out
