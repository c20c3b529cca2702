"""A generated pcap for the wiring tests: a small shop API with users learning their own orders,
one identity walking other users' orders (BOLA), one address sending SQL injection.

Frames come from ``devtools.synth`` (one TCP connection per exchange); everything is
deterministic, so two runs write the same bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.synth import PcapWriter, TcpFlow

HOST = "shop.example"
T0 = 1_772_460_000.0  # 2026-03-02 14:00 UTC
SERVER = ("192.0.2.80", 80)
USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
ATTACKER = "mallory"
ATTACKER_IP = "198.51.100.66"
INJECTOR_IP = "203.0.113.9"
# Response e-mail addresses (raw PII: never stored, only counted per actor).
PLANTED_EMAIL_DOMAIN = "example.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"iss": "https://id.shop.example", "sub": sub, "iat": int(T0), "exp": int(T0) + 3600}).encode())
    return f"{header}.{claims}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


@dataclass(slots=True)
class Exchange:
    ts: float
    client: tuple[str, int]
    method: str
    target: str
    status: int
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    response: object = None

    def request_bytes(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {HOST}", "User-Agent: shop-app/2.1"]
        lines += [f"{k}: {v}" for k, v in self.request_headers]
        if self.body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def response_bytes(self) -> bytes:
        payload = json.dumps(self.response).encode() if self.response is not None else b""
        reason = {200: "OK", 201: "Created", 401: "Unauthorized", 404: "Not Found"}.get(self.status, "OK")
        head = (
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload


def _orders_of(index: int) -> list[int]:
    return [1000 + index * 10 + k for k in range(4)]


def exchanges(*, attack: bool = True, rounds: int = 3) -> list[Exchange]:
    """Benign users listing and opening their own orders (``rounds`` times); then (``attack``)
    the BOLA walk and the injection. Ordered by time."""
    out: list[Exchange] = []
    ts = T0
    port = 40000
    for rnd in range(rounds):
        for index, user in enumerate(USERS):
            ip = f"10.1.0.{index + 10}"
            auth = [("Authorization", f"Bearer {jwt(user)}")]
            mine = _orders_of(index)
            port += 1
            ts += 1.0
            out.append(
                Exchange(ts, (ip, port), "GET", "/api/orders", 200, auth,
                         response=[{"id": o, "total": 10 + o % 7, "email": f"{user}@{PLANTED_EMAIL_DOMAIN}"} for o in mine])
            )
            for order in mine[rnd % 3:rnd % 3 + 2]:
                port += 1
                ts += 1.0
                out.append(Exchange(ts, (ip, port), "GET", f"/api/orders/{order}", 200, auth,
                                    response={"id": order, "total": 10 + order % 7, "email": f"{user}@{PLANTED_EMAIL_DOMAIN}"}))
            port += 1
            ts += 1.0
            out.append(Exchange(ts, (ip, port), "GET", f"/api/search?q={user}+books", 200, auth, response={"hits": []}))
    if attack:
        auth = [("Authorization", f"Bearer {jwt(ATTACKER)}")]
        own = 2000
        port += 1
        ts += 5.0
        out.append(Exchange(ts, (ATTACKER_IP, port), "GET", "/api/orders", 200, auth, response=[{"id": own, "total": 3}]))
        # Orders that other users' responses handed out, never the attacker's.
        for index in range(len(USERS)):
            victim = _orders_of(index)[3]
            port += 1
            ts += 30.0  # slow, human-paced
            out.append(Exchange(ts, (ATTACKER_IP, port), "GET", f"/api/orders/{victim}", 200, auth,
                                response={"id": victim, "total": 10 + victim % 7,
                                          "email": f"{USERS[index]}@{PLANTED_EMAIL_DOMAIN}"}))
        for payload in ("%27%20OR%201%3D1--", "1%27%20UNION%20SELECT%20password%20FROM%20users--"):
            port += 1
            ts += 2.0
            out.append(Exchange(ts, (INJECTOR_IP, port), "GET", f"/api/search?q={payload}", 200, response={"hits": []}))
    return out


def write_capture(path: Path, *, attack: bool = True, only: list[Exchange] | None = None) -> Path:
    """One TCP connection per exchange (``only``, else :func:`exchanges`), as a classic pcap."""
    with PcapWriter(path) as writer:
        for i, x in enumerate(only if only is not None else exchanges(attack=attack)):
            flow = TcpFlow(x.client, SERVER, client_isn=10_000 + i * 7919, server_isn=50_000 + i * 104729)
            frames: list[tuple[float, bytes]] = []
            t = x.ts
            for frame in (flow.syn(), flow.syn_ack(), flow.ack(True)):
                frames.append((t, frame))
                t += 0.0001
            for from_client, payload in ((True, x.request_bytes()), (False, x.response_bytes())):
                frame = flow.data(from_client, 0, payload, psh=True)
                flow.advance(from_client, len(payload))
                frames.append((t, frame))
                t += 0.001
                frames.append((t, flow.ack(not from_client)))
                t += 0.0001
            for frame in (flow.fin(True), flow.fin(False), flow.ack(True)):
                frames.append((t, frame))
                t += 0.0001
            for when, frame in frames:
                writer.write(when, frame)
    return path


def attacker_token() -> str:
    return jwt(ATTACKER)


def records(*, attack: bool = True) -> list[dict[str, Any]]:
    """The same exchanges as sensor records (``Exchange.to_dict()`` form), for in-process ingest."""
    from tests.conftest import make_exchange

    out = []
    for i, x in enumerate(exchanges(attack=attack)):
        record = make_exchange(
            method=x.method, target=x.target, host=HOST, status=x.status, ts=x.ts,
            client=f"{x.client[0]}:{x.client[1]}", server=f"{SERVER[0]}:{SERVER[1]}",
            request_headers=x.request_headers, request_body=x.body or None,
            response_body=json.dumps(x.response) if x.response is not None else None, uid=f"wiring-{i:05d}",
        )
        out.append(record)
    return out
