"""Generated gRPC, GraphQL (over h2c) and WebSocket traffic with ground truth, and its score.

    .venv/bin/python -m bench.proto_traffic --messages 10000 --pcap /tmp/proto.pcap [--truth T.json]

Writes a pcap (real HTTP/2 from the ``h2`` library, hand-made WebSocket frames, TCP segments at
a 1460-byte MSS via ``devtools.synth.TcpFlow``) and scores ``sensor.proto``'s reading of it in the
same run, twice: through ``sensor.proto.replay`` and through the product (the real sensor's
connections and the analyzer's protocol views: ``score_sensor``): recall of gRPC calls with endpoint and status right, GraphQL operations with the
operation label right, and WebSocket messages with direction and payload right. Phase 2's floor
is >= 99.5% for each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Any

import h2.config
import h2.connection

from analyzer.protocols.graphql import extract_operations
from devtools.synth import PcapWriter, TcpFlow
from sensor.proto.grpc import grpc_call
from sensor.proto.h2 import H2Exchange
from sensor.proto.replay import iter_events
from sensor.proto.websocket import WsMessage

SERVICES = [("shop.v1.Orders", ["Get", "List", "Create"]), ("auth.Tokens", ["Issue", "Revoke"]),
            ("geo.v2.Places", ["Search"])]
GQL = [("query GetUser($id: ID!) { user(id: $id) { name email } }", "GetUser", "query GetUser"),
       ("mutation AddPost { addPost(title: \"x\") { id } }", "AddPost", "mutation AddPost"),
       ("{ products(first: 3) { sku price } }", None, "query {products}")]


def _pb(i: int) -> bytes:
    text = f"user{i}@example.com".encode()
    return b"\x08" + bytes([i % 128]) + b"\x12" + bytes([len(text)]) + text


class _Conn:
    def __init__(self, writer: PcapWriter, n: int, port: int, ts: float) -> None:
        self.flow = TcpFlow((f"10.1.{n // 250}.{n % 250 + 1}", 40000 + n % 20000), ("10.9.0.1", port),
                            client_isn=random.getrandbits(32), server_isn=random.getrandbits(32))
        self.writer = writer
        self.ts = ts
        self.off = [0, 0]
        self.client_port = 40000 + n % 20000
        for frame in (self.flow.syn(), self.flow.syn_ack(), self.flow.ack(True)):
            self._write(frame)

    def _write(self, frame: bytes) -> None:
        self.ts += 0.0001
        self.writer.write(self.ts, frame)

    def send(self, from_client: bool, data: bytes) -> None:
        side = 0 if from_client else 1
        for i in range(0, len(data), 1460):
            chunk = data[i: i + 1460]
            self._write(self.flow.data(from_client, self.off[side], chunk))
            self.off[side] += len(chunk)
            self.flow.advance(from_client, len(chunk))

    def close(self) -> None:
        self._write(self.flow.fin(True))
        self._write(self.flow.fin(False))


def _h2_pair() -> tuple[h2.connection.H2Connection, h2.connection.H2Connection]:
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    c.initiate_connection()
    s.initiate_connection()
    return c, s


def _pump(conn: _Conn, c: h2.connection.H2Connection, s: h2.connection.H2Connection) -> None:
    for _ in range(3):
        out = c.data_to_send()
        if out:
            conn.send(True, out)
            s.receive_data(out)
        out = s.data_to_send()
        if out:
            conn.send(False, out)
            c.receive_data(out)


def generate(path: str, messages: int, seed: int = 7) -> list[dict[str, Any]]:
    random.seed(seed)
    truth: list[dict[str, Any]] = []
    ts = 1_700_000_000.0
    n = 0
    with PcapWriter(path) as writer:
        while len(truth) < messages:
            kind = ("grpc", "graphql", "websocket")[n % 3]
            conn = _Conn(writer, n, {"grpc": 50051, "graphql": 8080, "websocket": 9000}[kind], ts)
            if kind == "websocket":
                conn.send(True, b"GET /live/feed HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
                                b"Sec-WebSocket-Version: 13\r\n\r\n")
                conn.send(False, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: x\r\n\r\n")
                for j in range(40):
                    from_client = j % 2 == 0
                    payload = json.dumps({"seq": j, "conn": n, "email": f"u{j}@example.com"}).encode()
                    key = random.getrandbits(32).to_bytes(4, "big")
                    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if from_client else payload
                    head = bytes([0x81, (0x80 if from_client else 0) | len(payload)])
                    conn.send(from_client, head + (key if from_client else b"") + masked)
                    truth.append({"kind": "websocket", "port": conn.client_port, "side": 0 if from_client else 1,
                                  "payload": payload.decode()})
            else:
                c, s = _h2_pair()
                _pump(conn, c, s)
                for _ in range(20):
                    sid = c.get_next_available_stream_id()
                    if kind == "grpc":
                        svc, methods = random.choice(SERVICES)
                        method = random.choice(methods)
                        status = random.choice([0, 0, 0, 5, 7, 14])
                        body = _pb(sid)
                        c.send_headers(sid, [(":method", "POST"), (":path", f"/{svc}/{method}"), (":scheme", "http"),
                                             (":authority", "grpc.test"), ("content-type", "application/grpc")])
                        c.send_data(sid, b"\x00" + len(body).to_bytes(4, "big") + body, end_stream=True)
                        _pump(conn, c, s)
                        s.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                        if status == 0:
                            s.send_data(sid, b"\x00" + len(body).to_bytes(4, "big") + body)
                        s.send_headers(sid, [("grpc-status", str(status))], end_stream=True)
                        truth.append({"kind": "grpc", "port": conn.client_port, "stream": sid,
                                      "endpoint": f"/{svc}/{method}", "status": status})
                    else:
                        doc, name, label = random.choice(GQL)
                        body = json.dumps({"query": doc, "operationName": name, "variables": {"id": str(sid)}}).encode()
                        c.send_headers(sid, [(":method", "POST"), (":path", "/graphql"), (":scheme", "http"),
                                             (":authority", "gql.test"), ("content-type", "application/json")])
                        c.send_data(sid, body, end_stream=True)
                        _pump(conn, c, s)
                        s.send_headers(sid, [(":status", "200"), ("content-type", "application/json")])
                        s.send_data(sid, b'{"data": {"ok": true}}', end_stream=True)
                        truth.append({"kind": "graphql", "port": conn.client_port, "stream": sid, "label": label,
                                      "status": 200})
                    _pump(conn, c, s)
            conn.close()
            ts = conn.ts
            n += 1
    return truth


def score(path: str, truth: list[dict[str, Any]]) -> dict[str, float]:
    seen_grpc: set[tuple[int, int, str, int | None]] = set()
    seen_gql: Counter[tuple[int, int, str, int | None]] = Counter()
    seen_ws: Counter[tuple[int, int, str]] = Counter()
    for ce in iter_events(path):
        port = ce.conn[1]
        ev = ce.event
        if isinstance(ev, H2Exchange):
            if ev.request_grpc is not None or ev.response_grpc is not None:
                call = grpc_call(ev)
                seen_grpc.add((port, ev.stream_id, call.endpoint or "", call.status))
            else:
                for op in extract_operations(ev.method, ev.path, ev.request_headers, ev.request_body.data):
                    seen_gql[(port, ev.stream_id, op.label, ev.status)] += 1
        elif isinstance(ev, WsMessage):
            seen_ws[(port, ev.side, ev.data.decode("utf-8", "replace"))] += 1
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for t in truth:
        total[t["kind"]] += 1
        if t["kind"] == "grpc":
            hits["grpc"] += (t["port"], t["stream"], t["endpoint"], t["status"]) in seen_grpc
        elif t["kind"] == "graphql":
            hits["graphql"] += seen_gql[(t["port"], t["stream"], t["label"], t["status"])] > 0
        else:
            key = (t["port"], t["side"], t["payload"])
            if seen_ws[key] > 0:
                seen_ws[key] -= 1
                hits["websocket"] += 1
    return {k: hits[k] / total[k] for k in total}


def score_sensor(path: str, truth: list[dict[str, Any]]) -> dict[str, float]:
    """The same recall, read the product's way: the real sensor (``iter_exchanges``: the seam in
    its connections, schema-2 records) and the analyzer's protocol views (the endpoint each
    message is counted under, the status it is counted with)."""
    from analyzer.observation import from_exchange
    from analyzer.protocols.views import expand
    from sensor.engine import iter_exchanges

    seen: Counter[tuple[Any, ...]] = Counter()
    for ex in iter_exchanges(path):
        obs = from_exchange(ex)
        port = int(ex.client.rsplit(":", 1)[1])
        for view in expand(obs):
            proto = view.proto or {}
            if view.protocol == "grpc":
                seen[("grpc", port, view.stream_id, view.endpoint, proto.get("grpc_status"))] += 1
            elif view.protocol == "websocket":
                side = 1 if (view.endpoint or "").endswith("#server") else 0
                body = view.response_body if side else view.request_body
                seen[("websocket", port, side, view.endpoint, body.data.decode("utf-8", "replace"))] += 1
            elif view.graphql is not None:
                seen[("graphql", port, view.stream_id, view.endpoint, view.status)] += 1
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for t in truth:
        kind = t["kind"]
        total[kind] += 1
        if kind == "grpc":
            key: tuple[Any, ...] = ("grpc", t["port"], t["stream"], t["endpoint"], t["status"])
        elif kind == "graphql":
            key = ("graphql", t["port"], t["stream"], f"/graphql#{t['label']}", t["status"])
        else:
            key = ("websocket", t["port"], t["side"], "/live/feed#" + ("server" if t["side"] else "client"),
                   t["payload"])
        if seen[key] > 0:
            seen[key] -= 1
            hits[kind] += 1
    return {k: hits[k] / total[k] for k in total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--pcap", default="/tmp/apicensus_proto_traffic.pcap")
    ap.add_argument("--truth")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    truth = generate(args.pcap, args.messages)
    t1 = time.perf_counter()
    if args.truth:
        with open(args.truth, "w") as f:
            json.dump(truth, f)
    recall = score(args.pcap, truth)
    t2 = time.perf_counter()
    product = score_sensor(args.pcap, truth)
    t3 = time.perf_counter()
    print(f"messages={len(truth)} pcap={args.pcap} bytes={os.path.getsize(args.pcap)} "
          f"generate={t1 - t0:.1f}s proto-replay={t2 - t1:.1f}s sensor+analyzer-views={t3 - t2:.1f}s")
    for kind in sorted(recall):
        print(f"  {kind:10s} recall {100 * recall[kind]:.2f}% (sensor.proto replay)  "
              f"{100 * product.get(kind, 0.0):.2f}% (sensor + analyzer: endpoint, status)")
    return 0 if all(r >= 0.995 for r in (*recall.values(), *product.values())) else 1


if __name__ == "__main__":
    sys.exit(main())
