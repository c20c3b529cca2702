"""The HTTP/1.1 handshake that precedes an upgraded protocol (h2c, WebSocket), sans-I/O.

Reads one request head (and a Content-Length body: an h2c upgrade may be a POST) from the
client and the response heads from the server; on ``101 Switching Protocols`` the bytes after
the head belong to the new protocol and are handed back as ``leftover``. The sensor's own HTTP/1
parser records ordinary exchanges; this only has to find where the new protocol starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.proto.events import CLIENT, Headers, first_header

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpHead:
    start_line: tuple[str, str, str]  # request: method, target, version; response: version, status, reason
    headers: Headers  # names lower-cased, values stripped
    ts: float
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for k, v in self.headers if k == name for t in v.split(",") if t.strip()}


@dataclass(frozen=True, slots=True)
class UpgradeExchange:
    """The handshake, as one HTTP/1.1 exchange (recorded like any other, with its path)."""

    request: HttpHead | None
    response: HttpHead | None
    switched: bool  # 101 seen: the connection now speaks ``protocol``
    protocol: str | None  # Upgrade token the server switched to ("h2c", "websocket")
    tags: tuple[str, ...] = ()


def parse_head(buf: bytes) -> tuple[tuple[str, str, str], Headers, int] | None:
    """(start line parts, headers, bytes consumed) once the head is complete, else None."""
    end = buf.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = buf.find(b"\n\n")
        sep = 2
        if end < 0:
            return None
    lines = buf[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ", 2)
    while len(parts) < 3:
        parts.append("")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.append((name.strip().lower(), value.strip()))
    return (parts[0], parts[1], parts[2]), tuple(headers), end + sep


class UpgradeHandshake:
    """Feed both directions until the server answers; then ``done`` and ``leftover`` per side."""

    def __init__(self) -> None:
        self.bufs = [b"", b""]
        self.request: HttpHead | None = None
        self.response: HttpHead | None = None
        self.done = False
        self.failed = False  # not an HTTP/1 handshake after all (or over the bounds)
        self.leftover: list[bytes] = [b"", b""]
        self._body_needed = 0

    def feed(self, side: int, data: bytes, ts: float) -> UpgradeExchange | None:
        if self.done:
            self.leftover[side] += data
            return None
        self.bufs[side] += data
        if len(self.bufs[side]) > MAX_HEAD + MAX_BODY:
            self.failed = self.done = True
            return UpgradeExchange(self.request, self.response, False, None, ("handshake_too_large",))
        if side == CLIENT:
            return self._client(ts)
        return self._server(ts)

    def _client(self, ts: float) -> UpgradeExchange | None:
        if self.request is None:
            parsed = parse_head(self.bufs[CLIENT])
            if parsed is None:
                return None
            start, headers, used = parsed
            self.request = HttpHead(start, headers, ts)
            self.bufs[CLIENT] = self.bufs[CLIENT][used:]
            length = first_header(headers, "content-length")
            self._body_needed = int(length) if length and length.isdigit() and int(length) <= MAX_BODY else 0
        if self._body_needed and len(self.bufs[CLIENT]) >= self._body_needed:
            body = self.bufs[CLIENT][: self._body_needed]
            self.bufs[CLIENT] = self.bufs[CLIENT][self._body_needed:]
            self.request = HttpHead(self.request.start_line, self.request.headers, self.request.ts, body)
            self._body_needed = 0
        return self._server(ts) if self.bufs[1] else None

    def _server(self, ts: float) -> UpgradeExchange | None:
        while True:
            parsed = parse_head(self.bufs[1])
            if parsed is None:
                return None
            start, headers, used = parsed
            self.bufs[1] = self.bufs[1][used:]
            status = start[1]
            if status[:1] == "1" and status != "101":
                continue  # 100 Continue before the answer
            self.response = HttpHead(start, headers, ts)
            self.done = True
            connect = self.request is not None and self.request.start_line[0] == "CONNECT" and status[:1] == "2"
            switched = status == "101" or connect
            self.failed = not switched
            if self._body_needed and not connect:  # request body still arriving: it is not the new protocol's
                self.bufs[CLIENT] = self.bufs[CLIENT][self._body_needed:]
            self.leftover = [self.bufs[CLIENT], self.bufs[1]]
            self.bufs = [b"", b""]
            token = next(iter(self.response.tokens("upgrade")), None) if switched else None
            return UpgradeExchange(self.request, self.response, switched, token)
