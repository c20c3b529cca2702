"""Posture findings: properties of a service or endpoint, not of an actor (no window).

One event per (subtype, host, method, template), its count the exchanges that showed it:
JWT ``alg: none``/missing, no ``exp``, lifetime over 24 h, sensitive claims; Basic credentials
over cleartext; short or dictionary passwords accepted; credentials in the URL; guessable
(sequential) ids on endpoints that serve PII; CORS ``*`` with credentials or a reflected foreign
origin; verbose errors and stack traces; debug/admin/actuator/swagger endpoints served without
credentials; TRACE/TRACK answered; server version disclosure (per host).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from analyzer.auth import credential_schemes
from analyzer.detect.actors import credentials_of
from analyzer.detect.context import Seen, blinded_number, numeric_offset
from analyzer.detect.rules.base import Hasher, Rule, Sink
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import CappedSet, LruTable


def load_common_passwords() -> frozenset[str]:
    path = Path(__file__).resolve().parents[1] / "data" / "common_passwords.txt"
    return frozenset(
        line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")
    )


SENSITIVE_CLAIMS = frozenset(
    {"password", "pwd", "passwd", "secret", "client_secret", "ssn", "social_security_number", "credit_card",
     "card_number", "cc", "cvv", "iban", "account_number", "private_key", "api_key", "dob", "birthdate",
     "phone_number", "address", "national_id", "passport"}
)
URL_CREDENTIALS = frozenset(
    {"password", "passwd", "pwd", "pass", "secret", "client_secret", "api_key", "apikey", "api-key", "token",
     "access_token", "auth_token", "id_token", "refresh_token", "session", "sessionid", "jsessionid",
     "private_key", "key", "auth", "signature", "sig", "x-amz-signature"}
)
STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)|\bat [\w$.]+\([\w$]+\.java:\d+\)|Exception in thread \"|"
    r"\bat [\w.<>`]+\.\w+\(.*\) in .*:line \d+|System\.\w+Exception:|java\.lang\.\w+(?:Exception|Error)|"
    r"SQLSTATE\[|ORA-\d{5}|You have an error in your SQL syntax|Warning: mysqli?_|pg_query\(\)|"
    r"PHP (?:Fatal|Parse) error|Fatal error: .* on line \d+|panic: runtime error|goroutine \d+ \[running\]|"
    r"File \"[^\"]+\.py\", line \d+|\bnode_modules/[\w@./-]+\.js:\d+|at (?:Object|Module|process)\.\S+ \(.*:\d+:\d+\)|"
    r"ActionController::|ActiveRecord::\w+Error|Django Version:|Werkzeug Debugger|Whitelabel Error Page|"
    r"Microsoft OLE DB Provider|Unclosed quotation mark after the character string",
)
DEBUG_PATH = re.compile(
    r"^/(?:[\w.-]+/)*?(?:actuator(?:/(?!health|info)[\w.-]+)?|debug(?:/[\w.-]*)?|_debug|__debug__|"
    r"admin(?:istrator)?(?:/|$)|console|swagger(?:-ui)?(?:\.html|/|$)|swagger\.json|api-docs|v[23]/api-docs|"
    r"openapi\.(?:json|ya?ml)|graphiql|phpinfo\.php|server-status|heapdump|jolokia|env$|_profiler|"
    r"h2-console|druid|metrics/prometheus|trace$)",
    re.IGNORECASE,
)
# Every alternative of DEBUG_PATH contains one of these words: an ASCII path with none of them
# cannot match, and most paths have none (the full pattern tries ~30 alternatives at every
# segment). Non-ASCII paths go to the pattern itself (IGNORECASE folds e.g. U+017F to "s").
_DEBUG_WORDS = re.compile(
    r"actuator|debug|admin|console|swagger|api-docs|openapi\.|graphiql|phpinfo\.php|server-status|heapdump|"
    r"jolokia|env|_profiler|druid|metrics/prometheus|trace"
)


def debug_path(path: str) -> bool:
    """Whether ``path`` is a debug, admin or documentation endpoint (``DEBUG_PATH``)."""
    if path.isascii() and not _DEBUG_WORDS.search(path.lower()):
        return False
    return DEBUG_PATH.match(path) is not None


VERSION = re.compile(r"\d+\.\d+")
VERSION_HEADERS = frozenset({"server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version", "x-generator", "x-runtime-version"})
SEQUENTIAL_MIN_IDS = 20


def _new_ids() -> list[Any]:
    return [CappedSet(4096), None, None]


class PostureRule(Rule):
    kind = "posture"
    severity = "medium"
    title = "Posture finding"
    window = 0.0  # not windowed: one finding per endpoint

    def __init__(self, settings: DetectSettings, hasher: Hasher, common_passwords: frozenset[str]) -> None:
        super().__init__(settings, hasher)
        self.common_passwords = common_passwords
        # (host, method, template) -> [ids CappedSet, min, max] of blinded numeric ids on PII endpoints
        self.ids: LruTable[tuple[str, str, str], list[Any]] = LruTable(settings.max_window_keys)
        self.offset = numeric_offset(hasher)  # ids kept blinded (see blinded_number)

    def _finding(self, seen: Seen, sink: Sink, subtype: str, severity: str, title: str, evidence: dict[str, Any],
                 per_host: bool = False) -> None:
        self.hit(seen, sink, subtype=subtype, severity=severity, title=title, evidence=evidence, per_actor=False,
                 any_endpoint=per_host)

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        self._tokens(seen, sink)
        if seen.ok:
            names = [n for n, v in seen.query if v and n.lower() in URL_CREDENTIALS]
            if names:
                self._finding(seen, sink, "credentials_in_url", "high", "Credentials in the URL",
                              {"params": sorted(set(names))[:8]})
        self._ids(seen, sink)
        self._cors(seen, sink)
        if x.status is not None and x.status >= 400 and x.response_body:
            # (sliced only here: a copy of every response body, most of them 2xx, is not free)
            match = STACK_TRACE.search(x.response_body[:65536].decode("utf-8", "replace"))
            if match:
                self._finding(seen, sink, "verbose_error", "medium", "Verbose error or stack trace in responses",
                              {"status": x.status, "marker": match.group(0)[:40]})
        if (
            seen.ok
            and debug_path(x.path)
            and not credential_schemes(x.request_headers, (n for n, _v in seen.query))
        ):
            self._finding(seen, sink, "debug_endpoint_exposed", "high",
                          "Debug, admin or documentation endpoint served without credentials", {"status": x.status})
        if x.method in ("TRACE", "TRACK") and seen.ok:
            self._finding(seen, sink, "trace_enabled", "low", "TRACE/TRACK answered", {"status": x.status})
        for name, value in x.response_headers:
            lname = name.lower()
            if lname in VERSION_HEADERS and VERSION.search(value):
                self._finding(seen, sink, "server_version_disclosure", "low", "Server version disclosed",
                              {"header": lname, "value": value[:60]}, per_host=True)
                break

    def _tokens(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        jwt, basic = credentials_of(x, self.common_passwords)
        if jwt is not None:
            alg = (jwt.alg or "").lower()
            if alg in ("", "none"):
                self._finding(seen, sink, "jwt_alg_none", "critical", "JWT without a signature algorithm (alg none)",
                              {"alg": jwt.alg, "accepted": seen.ok})
            if jwt.exp is None:
                self._finding(seen, sink, "jwt_no_exp", "medium", "JWT without expiry (no exp claim)", {})
            else:
                issued = jwt.iat if jwt.iat is not None else x.ts
                lifetime = jwt.exp - issued
                if lifetime > 86_400:
                    self._finding(seen, sink, "jwt_long_lifetime", "low", "JWT lifetime over 24 hours",
                                  {"lifetime_hours": round(lifetime / 3600, 1)})
            sensitive = sorted(set(jwt.claim_names) & SENSITIVE_CLAIMS)
            if sensitive:
                self._finding(seen, sink, "jwt_sensitive_claims", "medium", "Sensitive data in JWT claims",
                              {"claims": sensitive})
        if basic is not None and x.cleartext:
            self._finding(seen, sink, "basic_auth_cleartext", "high", "Basic credentials sent in cleartext", {})
        weakness = basic.weakness if basic is not None else (seen.login.password_weakness if seen.login else None)
        if weakness is not None and seen.ok:
            self._finding(seen, sink, "weak_password", "high", "Weak password accepted", {"weakness": weakness})

    def _ids(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        if not x.pii or not seen.ok:
            return
        numbers = [n for n in (blinded_number(v, self.offset) for _name, v in seen.path_params) if n is not None]
        if not numbers:
            return
        entry = self.ids.setdefault((x.host, x.method, seen.template), _new_ids)
        for number in numbers:
            entry[0].add(number)
            entry[1] = number if entry[1] is None else min(entry[1], number)
            entry[2] = number if entry[2] is None else max(entry[2], number)
        distinct = len(entry[0])
        span = entry[2] - entry[1] + 1
        if distinct >= SEQUENTIAL_MIN_IDS and distinct >= 0.2 * span:
            self._finding(seen, sink, "sequential_ids_pii", "medium", "Guessable sequential ids on an endpoint serving PII",
                          {"distinct_ids": distinct, "id_range": span, "pii_types": sorted({t for t, _ in x.pii})})

    def _cors(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        allow = x.response_header("access-control-allow-origin")
        if not allow:
            return
        credentials = (x.response_header("access-control-allow-credentials") or "").strip().lower() == "true"
        origin = x.request_header("origin")
        if allow.strip() == "*" and credentials:
            self._finding(seen, sink, "cors_wildcard_credentials", "high", "CORS allows any origin with credentials", {})
        elif origin and allow.strip() == origin.strip() and origin.strip() != "null":
            origin_host = urlsplit(origin.strip()).hostname or ""
            own = x.host.split(":")[0]
            # Same site = same last two labels (a public-suffix list would be exact; none ships here).
            if origin_host and ".".join(origin_host.split(".")[-2:]) != ".".join(own.split(".")[-2:]):
                self._finding(seen, sink, "cors_reflected_origin", "high" if credentials else "medium",
                              "CORS reflects a foreign origin", {"credentials": credentials})

    def to_state(self) -> Any:
        return self.ids.to_state(lambda e: [e[0].to_state(), e[1], e[2]], list)

    def load_state(self, data: Any) -> None:
        self.ids = LruTable.from_state(
            data, self.settings.max_window_keys, lambda e: [CappedSet.from_state(e[0], 4096), e[1], e[2]],
            lambda k: (k[0], k[1], k[2]),
        )
