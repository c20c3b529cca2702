"""Which protocol a connection speaks, from the first bytes of one direction. Pure functions.

The sensor looks at the first bytes each direction delivers (after TCP reassembly) and hands the
connection to that protocol's parser. ``detect`` never raises and never needs more than the bytes
given: a prefix too short to decide says so (``need_more``) so the caller can wait for a few more
bytes (bounded by ``DECIDE_BYTES``) before settling on ``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Protocol names, as record schema 2's ``protocol`` field spells them.
HTTP1 = "http/1.1"
H2C = "h2c"
GRPC = "grpc"
WEBSOCKET = "websocket"
DUBBO = "dubbo"
TLS = "tls"
UNKNOWN = "unknown"

# What the bytes were, more finely than the protocol.
KIND_REQUEST = "request"  # an HTTP/1 request (plain)
KIND_RESPONSE = "response"  # an HTTP/1 status line
KIND_H2C_UPGRADE = "h2c_upgrade"  # HTTP/1 request with Upgrade: h2c (the HTTP/1 side hands over on 101)
KIND_WEBSOCKET_UPGRADE = "websocket_upgrade"  # HTTP/1 request with Upgrade: websocket
KIND_PREFACE = "preface"  # the HTTP/2 client connection preface (prior knowledge)
KIND_FRAMES = "frames"  # HTTP/2 frames without a preface: a capture that starts mid-connection
KIND_CLIENT_HELLO = "client_hello"
KIND_SERVER_HELLO = "server_hello"
KIND_TLS_RECORDS = "records"  # TLS records that are not a hello (mid-connection)
KIND_DUBBO_REQUEST = "dubbo_request"
KIND_DUBBO_RESPONSE = "dubbo_response"
KIND_NONE = "none"

ROLE_CLIENT = "client"
ROLE_SERVER = "server"
ROLE_UNKNOWN = "unknown"

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DUBBO_MAGIC = b"\xda\xbb"
# Bytes after which a connection that still matches nothing is settled as unknown.
DECIDE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Detection:
    protocol: str  # HTTP1, H2C, WEBSOCKET, DUBBO, TLS or UNKNOWN
    kind: str  # KIND_*
    role: str  # who sent these bytes: ROLE_CLIENT, ROLE_SERVER or ROLE_UNKNOWN
    need_more: bool = False  # a longer prefix could change the answer

    @property
    def known(self) -> bool:
        return self.protocol != UNKNOWN


_METHOD = re.compile(rb"[A-Z][A-Z0-9_\-]{1,31} [^\s]{1,16384} HTTP/1\.[01]\r?\n")
_METHOD_PREFIX = re.compile(rb"[A-Z][A-Z0-9_\-]{1,31}( |$)")
_STATUS = re.compile(rb"HTTP/[0-9]\.[0-9] [0-9]{3}")
_UPGRADE = re.compile(rb"\r?\nupgrade[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_H2_KNOWN_TYPES = 10  # DATA .. CONTINUATION


def detect(data: bytes) -> Detection:
    """Classify the first bytes one direction of a connection sent."""
    if not data:
        return Detection(UNKNOWN, KIND_NONE, ROLE_UNKNOWN, need_more=True)
    if data.startswith(H2_PREFACE):
        return Detection(H2C, KIND_PREFACE, ROLE_CLIENT)
    if H2_PREFACE.startswith(data):
        return Detection(H2C, KIND_PREFACE, ROLE_CLIENT, need_more=True)
    tls = _detect_tls(data)
    if tls is not None:
        return tls
    if data[:2] == DUBBO_MAGIC:
        return _detect_dubbo(data)
    if data == DUBBO_MAGIC[:1]:
        return Detection(UNKNOWN, KIND_NONE, ROLE_UNKNOWN, need_more=True)
    http = _detect_http1(data)
    if http is not None:
        return http
    if looks_like_h2_frames(data):
        return Detection(H2C, KIND_FRAMES, ROLE_UNKNOWN, need_more=len(data) < 9)
    return Detection(UNKNOWN, KIND_NONE, ROLE_UNKNOWN, need_more=len(data) < 9)


def _detect_tls(data: bytes) -> Detection | None:
    # Record header: type, version 3.x, 2-byte length (<= 2^14 + 2048 for any TLS version).
    if data[0] not in (0x14, 0x15, 0x16, 0x17):
        return None
    if len(data) < 3:
        return Detection(UNKNOWN, KIND_NONE, ROLE_UNKNOWN, need_more=True) if len(data) < 2 or data[1] == 3 else None
    if data[1] != 3 or data[2] > 4:
        return None
    if len(data) >= 5 and (data[3] << 8 | data[4]) > 18432:
        return None
    if data[0] != 0x16:
        return Detection(TLS, KIND_TLS_RECORDS, ROLE_UNKNOWN)
    if len(data) < 6:
        return Detection(TLS, KIND_TLS_RECORDS, ROLE_UNKNOWN, need_more=True)
    if data[5] == 1:
        return Detection(TLS, KIND_CLIENT_HELLO, ROLE_CLIENT)
    if data[5] == 2:
        return Detection(TLS, KIND_SERVER_HELLO, ROLE_SERVER)
    return Detection(TLS, KIND_TLS_RECORDS, ROLE_UNKNOWN)


def _detect_dubbo(data: bytes) -> Detection:
    if len(data) < 3:
        return Detection(DUBBO, KIND_DUBBO_REQUEST, ROLE_UNKNOWN, need_more=True)
    if data[2] & 0x80:
        return Detection(DUBBO, KIND_DUBBO_REQUEST, ROLE_CLIENT)
    return Detection(DUBBO, KIND_DUBBO_RESPONSE, ROLE_SERVER)


def _detect_http1(data: bytes) -> Detection | None:
    probe = data.lstrip(b"\r\n")
    if not probe:
        return None
    if probe.startswith(b"HTTP/"):
        return Detection(HTTP1, KIND_RESPONSE, ROLE_SERVER)
    if b"HTTP/".startswith(probe):
        return Detection(HTTP1, KIND_RESPONSE, ROLE_SERVER, need_more=True)
    if not _METHOD.match(probe):
        if _METHOD_PREFIX.match(probe) and b"\n" not in probe and len(probe) < 8192:
            return Detection(HTTP1, KIND_REQUEST, ROLE_CLIENT, need_more=True)
        return None
    head_end = probe.find(b"\r\n\r\n")
    head = probe if head_end < 0 else probe[:head_end]
    upgrade = _UPGRADE.search(head)
    complete = head_end >= 0
    if upgrade is not None:
        tokens = {t.strip().lower() for t in upgrade.group(1).split(b",")}
        if b"h2c" in tokens:
            return Detection(H2C, KIND_H2C_UPGRADE, ROLE_CLIENT)
        if b"websocket" in tokens:
            return Detection(WEBSOCKET, KIND_WEBSOCKET_UPGRADE, ROLE_CLIENT)
    return Detection(HTTP1, KIND_REQUEST, ROLE_CLIENT, need_more=not complete)


def h2_frame_plausible(data: bytes, offset: int = 0, max_length: int = 1 << 20) -> int:
    """Length of the HTTP/2 frame at ``offset`` (header included) if its header is plausible, else -1.

    Plausible: a known type (DATA..CONTINUATION) or an extension type, no more flags than the
    type defines, the reserved bit clear, a stream id where the type needs one (none for
    SETTINGS/PING/GOAWAY) and a SETTINGS/PING/... length their type allows.
    """
    if len(data) - offset < 9:
        return -1
    length = data[offset] << 16 | data[offset + 1] << 8 | data[offset + 2]
    ftype = data[offset + 3]
    flags = data[offset + 4]
    if data[offset + 5] & 0x80 or length > max_length:
        return -1
    stream = (data[offset + 5] & 0x7F) << 24 | data[offset + 6] << 16 | data[offset + 7] << 8 | data[offset + 8]
    if ftype >= _H2_KNOWN_TYPES:
        return -1
    allowed = (0x09, 0x2D, 0x00, 0x00, 0x01, 0x0C, 0x01, 0x00, 0x00, 0x04)[ftype]
    if flags & ~allowed:
        return -1
    if ftype in (4, 6, 7):  # SETTINGS, PING, GOAWAY: connection-level
        if stream:
            return -1
        if (ftype == 4 and length % 6) or (ftype == 6 and length != 8) or (ftype == 7 and length < 8):
            return -1
    elif ftype == 8:
        if length != 4:
            return -1
    elif not stream:
        return -1
    if (ftype == 2 and length != 5) or (ftype == 3 and length != 4):
        return -1
    return 9 + length


def looks_like_h2_frames(data: bytes) -> bool:
    """Do these bytes start with HTTP/2 frames? Every whole frame in the prefix must be plausible.

    A frame carried past the end of ``data`` counts when its header is plausible: captures that
    start mid-connection often begin with one large DATA frame. At least one whole header is needed.
    """
    offset = 0
    frames = 0
    while offset + 9 <= len(data):
        # SETTINGS_MAX_FRAME_SIZE starts at 16384; a first frame larger than that is rare enough
        # that other binary protocols (SOFA Bolt, ...) which happen to fit the header are refused.
        size = h2_frame_plausible(data, offset, 16384)
        if size < 0:
            return False
        frames += 1
        offset += size
        if frames >= 8:
            break
    if frames == 0:
        return False
    if frames == 1 and offset > len(data):
        # One frame running past the data: only believe a HEADERS, DATA or SETTINGS frame.
        return data[3] in (0, 1, 4)
    return True
