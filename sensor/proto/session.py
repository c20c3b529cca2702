"""One connection's protocol seam: detect from the first bytes, then hand over to a parser.

``ProtoSession`` is what phase 2 puts behind the sensor's ``Connection``: it is fed the
reassembled bytes of both directions (raw sides: 0 is whoever sent the first packet seen),
buffers at most ``DECIDE_BYTES`` per side until ``detect`` decides, works out which side is the
client, and from then on forwards to one parser (HTTP/2, WebSocket after its upgrade, Dubbo,
TLS, whose decrypted bytes feed a nested session). Every event the parsers return comes out of
``feed``/``close`` unchanged, in order. HTTP/1 connections are left to the sensor's own parser:
the session says so (``protocol == HTTP1``) and drops their bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sensor.config import SensorConfig
from sensor.proto import detect as d
from sensor.proto.dubbo import DubboReader
from sensor.proto.events import CLIENT, SERVER, ConnectionParser
from sensor.proto.h2 import H2Reader
from sensor.proto.protobuf import DescriptorError, DescriptorRegistry
from sensor.proto.tls import KeyLog, TlsPlaintext, TlsReader
from sensor.proto.upgrade import HttpHead, UpgradeExchange, UpgradeHandshake
from sensor.proto.websocket import WebSocketReader
from sensor.records import Body

WELL_KNOWN_SERVER_PORTS = frozenset((80, 443, 8080, 8443, 3000, 5000, 8000, 8888, 9000, 50051, 20880))


@dataclass(frozen=True, slots=True)
class ProtoConfig:
    body_cap: int = 64 * 1024
    max_decoded: int = 32 * 1024 * 1024
    max_frame: int = 1 << 20  # HTTP/2 non-DATA frames, WebSocket/Dubbo messages held whole
    max_streams: int = 1024
    keylog: KeyLog | None = field(default=None, compare=False)


def proto_settings(cfg: SensorConfig) -> tuple[ProtoConfig, DescriptorRegistry | None]:
    """The sessions' settings from the sensor's (key log and descriptor set read once, here).

    A key log or descriptor file that cannot be read or parsed raises ``ValueError`` naming it."""
    keylog = None
    if cfg.tls_keylog:
        try:
            keylog = KeyLog.from_file(cfg.tls_keylog)
        except OSError as exc:
            raise ValueError(f"TLS key log {cfg.tls_keylog}: {exc.strerror or exc}") from exc
    registry = None
    if cfg.proto_descriptors:
        try:
            with open(cfg.proto_descriptors, "rb") as f:
                registry = DescriptorRegistry.from_bytes(f.read())
        except (OSError, DescriptorError) as exc:
            raise ValueError(f"protobuf descriptor set {cfg.proto_descriptors}: {exc}") from exc
    return ProtoConfig(body_cap=cfg.body_cap, max_decoded=cfg.max_decoded_bytes, max_frame=cfg.max_proto_frame,
                       max_streams=cfg.max_h2_streams, keylog=keylog), registry


@dataclass(frozen=True, slots=True)
class ProtocolDetected:
    protocol: str
    kind: str
    client_side: int  # raw side that is the client
    nested: bool = False  # inside a decrypted TLS session


@dataclass(frozen=True, slots=True)
class PlainBytes:
    """Bytes a nested (decrypted TLS) session leaves to the caller: HTTP/1, which the sensor's own
    parser reads. ``raw_side`` as fed (0 is whoever sent the first packet seen)."""

    raw_side: int
    data: bytes
    ts: float


class ProtoSession:
    def __init__(self, *, from_start: bool = True, ports: tuple[int, int] | None = None,
                 config: ProtoConfig | None = None, nested: bool = False) -> None:
        self.config = config or ProtoConfig()
        self.from_start = from_start
        self.ports = ports
        self.nested = nested
        self.protocol: str | None = None
        self.client_side: int | None = None
        self.parser: ConnectionParser | None = None
        self.handshake: UpgradeHandshake | None = None
        self.inner: ProtoSession | None = None  # the session inside decrypted TLS
        self.pending: list[list[tuple[bytes, float]]] = [[], []]
        self.pending_len = [0, 0]
        self.counters: Counter[str] = Counter()
        self._detected = ProtocolDetected(d.UNKNOWN, d.KIND_NONE, 0, nested)
        self._connect_prefix = b""

    # -- input -------------------------------------------------------------------------------
    def feed(self, raw_side: int, data: bytes, ts: float) -> list[object]:
        if not data:
            return []
        if self.protocol is None:
            return self._undecided(raw_side, data, ts)
        if self.parser is None and self.handshake is None:
            if self.nested and self.protocol == d.HTTP1:
                return [PlainBytes(raw_side, data, ts)]
            return []  # HTTP/1 or unknown: not ours
        side = self._side(raw_side)
        if self.handshake is not None:
            ex = self.handshake.feed(side, data, ts)
            return self._after_handshake(ex, ts) if ex is not None else []
        assert self.parser is not None
        return self._wrap(self.parser.feed(side, data, ts), ts)

    def feed_gap(self, raw_side: int, size: int, ts: float) -> list[object]:
        if self.parser is None:
            if self.protocol is None and self.pending_len[raw_side]:
                self.pending[raw_side].clear()  # what came before the hole cannot be the start
                self.pending_len[raw_side] = 0
            return []
        return self._wrap(self.parser.feed_gap(self._side(raw_side), size, ts), ts)

    def close(self, ts: float) -> list[object]:
        out: list[object] = []
        if self.protocol is None:
            self._decide(force=True)
            if self.protocol is not None:
                out.extend(self._replay())
        if self.parser is not None:
            out.extend(self._wrap(self.parser.close(ts), ts))
        if self.inner is not None:
            out.extend(self.inner.close(ts))
        return out

    # -- deciding ----------------------------------------------------------------------------
    def _undecided(self, raw_side: int, data: bytes, ts: float) -> list[object]:
        self.pending[raw_side].append((data, ts))
        self.pending_len[raw_side] += len(data)
        self._decide(force=False)
        if self.protocol is None:
            return []
        if self.protocol == d.UNKNOWN or (self.parser is None and self.handshake is None):
            if self.nested and self.protocol == d.HTTP1:
                return self._replay()  # handed back to the caller as PlainBytes, in order
            self.pending = [[], []]
            self.pending_len = [0, 0]
            return [self._detected] if self.protocol != d.UNKNOWN else []
        return self._replay()

    def _decide(self, *, force: bool) -> None:
        results: list[d.Detection | None] = [None, None]
        for raw_side in (0, 1):
            if self.pending_len[raw_side]:
                prefix = b"".join(p for p, _ in self.pending[raw_side])[: d.DECIDE_BYTES]
                results[raw_side] = d.detect(prefix)
        chosen: tuple[int, d.Detection] | None = None
        for raw_side in (0, 1):
            r = results[raw_side]
            if r is None or not r.known:
                continue
            if r.need_more and not force and self.pending_len[raw_side] < d.DECIDE_BYTES:
                return
            if chosen is None or (chosen[1].role == d.ROLE_UNKNOWN and r.role != d.ROLE_UNKNOWN):
                chosen = (raw_side, r)
        if chosen is None:
            if force or any(self.pending_len[s] >= d.DECIDE_BYTES or (
                    results[s] is not None and not results[s].need_more) for s in (0, 1)):  # type: ignore[union-attr]
                self.protocol = d.UNKNOWN
                self.counters["unknown_protocol"] += 1
            return
        raw_side, det = chosen
        if self.client_side is not None:
            pass  # known already (a CONNECT tunnel re-detecting its payload)
        elif det.role == d.ROLE_CLIENT:
            self.client_side = raw_side
        elif det.role == d.ROLE_SERVER:
            self.client_side = 1 - raw_side
        else:
            self.client_side = self._client_by_ports(raw_side)
        self._start(det)

    def _client_by_ports(self, raw_side: int) -> int:
        """Roles when the bytes do not say: the server is on the well-known or the lower port."""
        if self.ports is None:
            return 0
        p0, p1 = self.ports
        if (p0 in WELL_KNOWN_SERVER_PORTS) != (p1 in WELL_KNOWN_SERVER_PORTS):
            return 1 if p0 in WELL_KNOWN_SERVER_PORTS else 0
        return 1 if p0 < p1 else 0

    def _start(self, det: d.Detection) -> None:
        cfg = self.config
        self.protocol = det.protocol
        self.counters["protocol_" + det.protocol] += 1
        if det.protocol == d.H2C:
            if det.kind == d.KIND_H2C_UPGRADE:
                self.handshake = UpgradeHandshake()
            else:
                self.parser = self._h2(prior_knowledge=det.kind == d.KIND_PREFACE)
        elif det.protocol == d.WEBSOCKET:
            self.handshake = UpgradeHandshake()
        elif det.protocol == d.DUBBO:
            self.parser = DubboReader(max_message=cfg.max_frame, body_cap=cfg.body_cap)
        elif det.protocol == d.TLS:
            self.parser = TlsReader(keylog=cfg.keylog, from_start=self.from_start)
        elif det.protocol == d.HTTP1 and self.client_side is not None and self.pending[self.client_side] and \
                self.pending[self.client_side][0][0].lstrip(b"\r\n").startswith(b"CONNECT "):
            # A proxy tunnel: whatever runs inside (TLS, h2, gRPC) is detected afresh after the 2xx.
            self.handshake = UpgradeHandshake()
        self._detected = ProtocolDetected(det.protocol, det.kind, self.client_side or 0, self.nested)

    def adopt_upgrade(self, protocol: str | None, request: HttpHead, response: HttpHead, client_side: int,
                      ts: float) -> bool:
        """Take over a connection the sensor's HTTP/1 parser saw switch protocols (101): from here
        the session reads ``protocol`` ("h2c" or "websocket"). False (nothing taken) for another."""
        self.client_side = client_side
        if protocol == "h2c":
            reader = self._h2(prior_knowledge=True)
            body = Body(request.body, len(request.body), len(request.body))
            reader.upgrade(request.start_line[0], request.start_line[1], request.header("host"), request.headers,
                           body, ts)
            self.parser = reader
            self.protocol = d.H2C
        elif protocol == "websocket":
            self.parser = WebSocketReader.from_handshake(request, response, max_message=self.config.max_frame,
                                                         body_cap=self.config.body_cap)
            self.protocol = d.WEBSOCKET
        else:
            return False
        self.counters["protocol_" + self.protocol] += 1
        self._detected = ProtocolDetected(self.protocol, "upgrade", client_side, self.nested)
        return True

    def _h2(self, *, prior_knowledge: bool) -> H2Reader:
        cfg = self.config
        return H2Reader(prior_knowledge=prior_knowledge, from_start=self.from_start or prior_knowledge,
                        synced=True, body_cap=cfg.body_cap, max_decoded=cfg.max_decoded,
                        max_frame=cfg.max_frame, max_streams=cfg.max_streams)

    def _replay(self) -> list[object]:
        out: list[object] = [self._detected]
        # Replay in arrival order across both sides (timestamps), as the bytes were buffered.
        items = [(ts, i, s, data) for s in (0, 1) for i, (data, ts) in enumerate(self.pending[s])]
        self.pending = [[], []]
        self.pending_len = [0, 0]
        for ts, _, s, data in sorted(items, key=lambda x: (x[0], x[2] != self.client_side, x[1])):
            out.extend(self.feed(s, data, ts))
        return out

    def _side(self, raw_side: int) -> int:
        return CLIENT if raw_side == self.client_side else SERVER

    # -- hand-overs --------------------------------------------------------------------------
    def _after_handshake(self, ex: UpgradeExchange, ts: float) -> list[object]:
        hs = self.handshake
        assert hs is not None
        self.handshake = None
        out: list[object] = [ex]
        req, resp = ex.request, ex.response
        if (req is not None and resp is not None and req.start_line[0] == "CONNECT"
                and resp.start_line[1][:1] == "2"):
            self.counters["connect_tunnels"] += 1
            self.protocol = None
            client = self.client_side or 0
            for side in (CLIENT, SERVER):
                if hs.leftover[side]:
                    out.extend(self.feed(client if side == CLIENT else 1 - client, hs.leftover[side], ts))
            return out
        if not ex.switched or ex.request is None:
            self.protocol = d.HTTP1  # refused or not a handshake: plain HTTP/1 from here
            self.counters["upgrade_refused"] += 1
            return out
        if ex.protocol == "h2c":
            reader = self._h2(prior_knowledge=True)
            req = ex.request
            reader.upgrade(req.start_line[0], req.start_line[1], req.header("host"), req.headers,
                           Body(req.body, len(req.body), len(req.body)), req.ts)
            self.parser = reader
            self.protocol = d.H2C
        elif ex.protocol == "websocket":
            self.parser = WebSocketReader.from_handshake(ex.request, ex.response, max_message=self.config.max_frame,
                                                         body_cap=self.config.body_cap)
            self.protocol = d.WEBSOCKET
        else:
            self.protocol = d.UNKNOWN
            return out
        for side in (CLIENT, SERVER):
            if hs.leftover[side]:
                out.extend(self.parser.feed(side, hs.leftover[side], ts))
        return self._wrap(out, ts)

    def _wrap(self, events: Sequence[object], ts: float) -> list[object]:
        """Decrypted TLS application data goes to the nested session; everything else out."""
        out: list[object] = []
        for ev in events:
            if type(ev) is TlsPlaintext:
                if self.inner is None:
                    self.inner = ProtoSession(from_start=True, config=self.config, nested=True,
                                              ports=self.ports)
                client = self.client_side or 0
                out.extend(self.inner.feed(client if ev.side == CLIENT else 1 - client, ev.data, ev.ts))
            else:
                out.append(ev)
        return out
