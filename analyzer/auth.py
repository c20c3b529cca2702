"""Did a request carry credentials? Per exchange, from headers and query parameters only.

An endpoint is *unauthenticated* when it served a 2xx to a request that carried none of these.
We err towards "credentials present" for anything that looks like a key or session, because a
false "unauthenticated" is what sends people chasing; a value is never inspected beyond emptiness.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Header names (lower-case, any "x-" prefix removed) that carry API keys or tokens.
_KEY_HEADER_RE = re.compile(
    r"^(?:[a-z0-9]+-)*(?:api-?key|apikey|api-?token|auth-?token|access-?token|session-?token|"
    r"security-?token|id-?token|refresh-?token|token|auth|jwt|secret|client-?secret|session-?id|"
    r"csrf-?token-auth)$"
)
# Cookie names that identify a session or carry a token (analytics cookies such as _ga do not).
_SESSION_COOKIE_RE = re.compile(
    r"sess|^sid$|_sid$|sessid|token|auth|jwt|login|remember|identity|^connect\.sid$|^laravel_|^rack\.|"
    r"^_?[a-z0-9]*_session$|^user(?:_?id)?$|^access|^refresh|^id_token",
    re.IGNORECASE,
)
# Query parameter names that carry API keys or tokens.
_KEY_QUERY_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "access_token",
        "auth_token",
        "authtoken",
        "token",
        "id_token",
        "jwt",
        "session",
        "sessionid",
        "session_id",
        "sid",
        "client_secret",
        "x-api-key",
        "x_api_key",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "sig",
    }
)

SCHEME_NONE = "none"


# Verdicts per lower-cased name: real traffic repeats a few dozen header and cookie names, so
# the regexes run once per name instead of once per header (bounded: cleared when large).
_header_verdicts: dict[str, bool] = {}
_cookie_verdicts: dict[str, bool] = {}
_MEMO_LIMIT = 10_000


def _header_key_name(name: str) -> bool:
    verdict = _header_verdicts.get(name)
    if verdict is None:
        bare = name[2:] if name.startswith("x-") else name
        verdict = name not in _IGNORED_HEADERS and bool(_KEY_HEADER_RE.match(bare))
        if len(_header_verdicts) >= _MEMO_LIMIT:
            _header_verdicts.clear()
        _header_verdicts[name] = verdict
    return verdict


def _session_cookie(name: str) -> bool:
    verdict = _cookie_verdicts.get(name)
    if verdict is None:
        verdict = bool(_SESSION_COOKIE_RE.search(name))
        if len(_cookie_verdicts) >= _MEMO_LIMIT:
            _cookie_verdicts.clear()
        _cookie_verdicts[name] = verdict
    return verdict


def _cookie_names(value: str) -> Iterable[str]:
    for part in value.split(";"):
        name, sep, cookie_value = part.partition("=")
        if sep and cookie_value.strip():
            yield name.strip()


def credential_schemes(
    request_headers: Iterable[tuple[str, str]] | Iterable[list[str]],
    query_names: Iterable[str] = (),
) -> list[str]:
    """Kinds of credentials the request carried, e.g. ``["bearer"]``; empty when none.

    Kinds: the Authorization scheme lower-cased (bearer, basic, digest, negotiate, aws4-hmac-sha256,
    ...), ``cookie`` (a session-like cookie), ``api-key-header``, ``api-key-query``.
    """
    schemes: list[str] = []
    for header in request_headers:
        name, value = header[0], header[1]
        lname = name.lower()
        value = value.strip()
        if not value:
            continue
        if lname == "authorization":
            scheme = value.split(None, 1)[0].lower() if " " in value else "token"
            schemes.append(scheme.replace("\x00", "")[:32] or "token")
        elif lname == "cookie":
            if any(_session_cookie(n) for n in _cookie_names(value)):
                schemes.append("cookie")
        elif _header_key_name(lname):
            schemes.append("api-key-header")
    for qname in query_names:
        if qname.lower() in _KEY_QUERY_NAMES:
            schemes.append("api-key-query")
            break
    # Stable, de-duplicated order keeps aggregation keys small.
    return sorted(set(schemes))


# Headers that match the key pattern by name but are not credentials.
_IGNORED_HEADERS = frozenset(
    {"x-csrf-token", "x-xsrf-token", "csrf-token", "x-request-id", "x-auth-request-redirect"}
)
