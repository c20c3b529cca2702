"""Payload and reconnaissance rules: injection (per subtype) and scanner.

injection: every request's values through the signature registry (``injection.scan``); one event
per subtype, actor, endpoint and window, counting the attempts.

scanner: per client address and window, distinct paths answered 404 (or matching no endpoint),
distinct well-known probe paths (``/.env``, ``/.git/config``, ``/wp-login.php``, ...), and
security-tool user agents. A health probe hitting one path, or a client with a broken link, stays
below the distinct-path thresholds.
"""

from __future__ import annotations

import re
from typing import Any

from analyzer.detect.context import Seen
from analyzer.detect.injection import scan
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

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        agent = x.request_header("user-agent") or ""
        tool = _agent_tool(agent)
        missing = x.status == 404 or (x.template is None and x.status is not None and x.status >= 400)
        # A probe path answered 2xx/3xx is served: the application lives there (/solr/<core>/...,
        # /cgi-bin/<app>/...). Distinct probes are distinct well-known prefixes, not distinct paths
        # under one prefix (a sweep of one prefix is what the 404 count sees).
        known = PROBE_PATHS.match(x.path) if x.status is None or x.status >= 400 else None
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
        return self.table.to_state(lambda v: v.to_state(), list)

    def load_state(self, data: Any) -> None:
        self.table = LruTable.from_state(data, self.settings.max_window_keys, _Probe.from_state, lambda k: (k[0], k[1], k[2]))
