"""Payload and reconnaissance rules: injection (per subtype) and scanner.

injection: every request's values through the signature registry (``injection.scan``); one event
per subtype, actor, endpoint and window, counting the attempts.

scanner: per client address and window, distinct paths answered 404 (or matching no endpoint),
distinct well-known probe paths (``/.env``, ``/.git/config``, ``/wp-login.php``, ...), and
security-tool user agents. A health probe hitting one path, or a client with a broken link, stays
below the distinct-path thresholds. Hosts that answer unknown paths 200 with one catch-all page (a
single-page app's index.html) are learned: that page counts as a 404.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from analyzer.detect.context import Seen
from analyzer.detect.injection import scan
from analyzer.detect.model import DetectExchange
from analyzer.detect.rules.base import Hasher, Rule, Sink, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import DistinctCounter, LruTable, window_start

SCANNER_AGENTS = re.compile(
    r"nikto|sqlmap|nmap|nessus|openvas|nuclei|masscan|zgrab|dirbuster|gobuster|feroxbuster|ffuf|wfuzz|"
    r"wpscan|acunetix|netsparker|arachni|havij|w3af|appscan|webinspect|qualys|burp(?:suite)?|zap/|owasp zap|"
    r"whatweb|skipfish|jaeles|dirsearch|commix|xsstrike|nosqlmap|joomscan|droopescan|httpx - open-source|"
    r"fuzz faster|wapiti|vega/|paros|grabber|sqlninja|metasploit|hydra|medusa",
    re.IGNORECASE,
)
PROBE_PATHS = re.compile(
    r"^/(?:\.env|\.git/(?:config|head)|\.svn/|\.hg/|\.ds_store|\.htaccess|\.htpasswd|wp-login\.php|wp-admin|"
    r"wp-config\.php|xmlrpc\.php|phpmyadmin|pma|myadmin|adminer(?:\.php)?|phpinfo\.php|info\.php|server-status|"
    r"server-info|cgi-bin/|actuator(?:/env|/heapdump)?|console|manager/html|jmx-console|web-console|solr/|"
    r"\.aws/|config\.json|config\.php|backup(?:\.zip|\.tar\.gz|\.sql)?|db\.sql|dump\.sql|vendor/phpunit|"
    r"owa/|autodiscover|boaform|hnap1|shell\.php|cmd\.php|elmah\.axd|trace\.axd|\.well-known/security\.txt|"
    r"telescope|_profiler|debug/default/view|druid/|nacos/|jenkins|script|\.vscode/|\.idea/|"
    r"api/v1/pods|v2/_catalog|storage/logs|_ignition/|remote/login|sslvpn|dana-na)",
    re.IGNORECASE,
)


SOFT_404_PATHS = 20  # distinct unmatched paths served one 2xx body: the host's catch-all page
MAX_BODIES = 4096  # (host, body digest) pairs remembered for that

_TOOLS: dict[str, str | None] = {}  # user agent -> security tool named in it (bounded memo)


def _agent_tool(agent: str) -> str | None:
    if agent in _TOOLS:
        return _TOOLS[agent]
    match = SCANNER_AGENTS.search(agent)
    if len(_TOOLS) >= 10_000:
        _TOOLS.clear()
    tool = _TOOLS[agent] = match.group(0).lower() if match else None
    return tool


class InjectionRule(Rule):
    kind = "injection"
    severity = "high"
    title = "Injection attempt"

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        super().__init__(settings, hasher)
        self.window = settings.injection_window

    def observe(self, seen: Seen, sink: Sink) -> None:
        for hit in scan(seen.x, self.settings.max_body_bytes, parsed_json=seen.request_json):
            status = seen.x.status
            self.hit(
                seen,
                sink,
                subtype=hit.subtype,
                # Answered 2xx with an error-free response: the attempt may have worked.
                severity="critical" if hit.subtype in ("jndi", "cmd_injection") else "high",
                title=f"Injection attempt ({hit.subtype})",
                evidence={
                    "signature": hit.signature,
                    "location": hit.location,
                    "field": hit.field,
                    "snippet": hit.snippet,
                    "status": status,
                },
            )


class _Probe:
    __slots__ = ("missing", "probes", "requests")

    def __init__(self) -> None:
        self.missing = DistinctCounter()
        self.probes = DistinctCounter()
        self.requests = 0

    def to_state(self) -> list[Any]:
        return [self.missing.to_state(), self.probes.to_state(), self.requests]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Probe:
        probe = cls()
        probe.missing = DistinctCounter.from_state(data[0])
        probe.probes = DistinctCounter.from_state(data[1])
        probe.requests = data[2]
        return probe


class ScannerRule(Rule):
    kind = "scanner"
    severity = "medium"
    title = "Scanner: bursts of nonexistent or well-known probe paths, or a security tool"

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        super().__init__(settings, hasher)
        self.window = settings.scanner_window
        self.table: LruTable[tuple[str, str, float], _Probe] = LruTable(settings.max_window_keys)
        # (host, digest of a 2xx body served for unmatched paths) -> distinct such paths
        self.bodies: LruTable[tuple[str, bytes], DistinctCounter] = LruTable(MAX_BODIES)

    def _catch_all(self, x: DetectExchange) -> bool:
        """An unmatched path answered 2xx with the host's catch-all page: the same body served for
        ``SOFT_404_PATHS`` distinct unmatched paths (a single-page app's index.html, a "not found"
        page with status 200). For such a host that answer is a 404 by another name."""
        if x.template is not None or x.status is None or not 200 <= x.status < 300 or not x.response_body:
            return False
        digest = hashlib.blake2b(x.response_body[:4096], digest_size=8).digest()
        paths = self.bodies.setdefault((x.host, digest), DistinctCounter)
        paths.add(self.hash(x.path))
        return paths.count() >= SOFT_404_PATHS

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        agent = x.request_header("user-agent") or ""
        tool = _agent_tool(agent)
        soft = self._catch_all(x)
        missing = x.status == 404 or (x.template is None and x.status is not None and x.status >= 400) or soft
        # A probe path answered 2xx/3xx is served: the application lives there (/solr/<core>/...,
        # /cgi-bin/<app>/...) -- unless the answer is the host's catch-all page. Distinct probes are
        # distinct well-known prefixes, not distinct paths under one prefix (a sweep of one prefix is
        # what the 404 count sees).
        known = PROBE_PATHS.match(x.path) if x.status is None or x.status >= 400 or soft else None
        if not (tool or missing or known):
            return
        key = (seen.actor.ip, x.host, window_start(x.ts, self.window))
        state = self.table.setdefault(key, _Probe)
        state.requests += 1
        if missing:
            state.missing.add(self.hash(x.path))
        if known is not None:
            state.probes.add(self.hash(known.group(0).lower()))
        s = self.settings
        subtype = None
        if tool:
            subtype = "tool"
        elif state.probes.count() >= s.scanner_min_known_paths:
            subtype = "probe_paths"
        elif state.missing.count() >= s.scanner_min_404_paths:
            subtype = "nonexistent_paths"
        if subtype is None:
            return
        self.hit(
            seen,
            sink,
            subtype=subtype,
            any_endpoint=True,  # one event per client and host, not per probed path
            evidence={
                "nonexistent_paths": state.missing.count(),
                "probe_paths": state.probes.count(),
                "requests": state.requests,
                "tool": tool,
            },
        )

    def expire(self, watermark: float, sink: Sink) -> None:
        for key, _ in self.table.items():
            if expired(key[2], self.window, watermark, self.settings.lateness):
                self.table.pop(key)

    def to_state(self) -> Any:
        return {
            "probes": self.table.to_state(lambda v: v.to_state(), list),
            "bodies": self.bodies.to_state(lambda c: c.to_state(), lambda k: [k[0], k[1].hex()]),
        }

    def load_state(self, data: Any) -> None:
        if isinstance(data, list):  # a state saved before catch-all pages were kept
            data = {"probes": data, "bodies": [0, []]}
        self.table = LruTable.from_state(data["probes"], self.settings.max_window_keys, _Probe.from_state, lambda k: (k[0], k[1], k[2]))
        self.bodies = LruTable.from_state(data["bodies"], MAX_BODIES, DistinctCounter.from_state, lambda k: (k[0], bytes.fromhex(k[1])))
