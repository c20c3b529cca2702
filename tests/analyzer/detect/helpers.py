"""Small builders for detection tests: exchanges, tokens, engines."""

from __future__ import annotations

import base64
import json
from typing import Any

from analyzer.detect.engine import DetectionEngine
from analyzer.detect.model import DetectExchange, Event
from analyzer.detect.settings import DetectSettings

SECRET = b"unit-test-secret"
T0 = 1_772_460_000.0


def settings(**overrides: Any) -> DetectSettings:
    return DetectSettings(secret=SECRET, **overrides)


def engine(**overrides: Any) -> DetectionEngine:
    return DetectionEngine(settings(**overrides))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any], alg: str = "HS256") -> str:
    return f"{b64(json.dumps({'alg': alg}).encode())}.{b64(json.dumps(claims).encode())}.c2ln"


def token(sub: str) -> str:
    return jwt({"iss": "https://id.example", "sub": sub, "iat": int(T0), "exp": int(T0) + 3600})


def ex(ts: float, path: str, status: int = 200, *, ip: str = "192.0.2.10", method: str = "GET", sub: str | None = None,
       query: str = "", template: str | None = None, params: tuple[tuple[str, str], ...] = (), body: Any = None,
       response: Any = None, pii: tuple[tuple[str, int], ...] = (), headers: tuple[tuple[str, str], ...] = (),
       response_headers: tuple[tuple[str, str], ...] = ()) -> DetectExchange:
    req = list(headers)
    if sub is not None:
        req.append(("Authorization", f"Bearer {token(sub)}"))
    request_body = b""
    if body is not None:
        request_body = body if isinstance(body, bytes) else json.dumps(body).encode()
        req.append(("Content-Type", "application/json"))
    return DetectExchange(
        ts=ts, client_ip=ip, host="api.example", method=method, path=path, query=query, status=status,
        template=template or path, path_params=params, request_headers=tuple(req), response_headers=response_headers,
        request_body=request_body, response_body=json.dumps(response).encode() if response is not None else b"",
        response_content_type="application/json" if response is not None else "", pii=pii,
    )


def events_of(e: DetectionEngine, kind: str | None = None) -> list[Event]:
    return [ev for ev in e.events() if kind is None or ev.type == kind]
