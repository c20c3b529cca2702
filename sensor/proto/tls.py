"""Passive TLS reader: record layer, handshake facts, posture, and decryption with a key log.

Without keys a TLS connection still tells the inventory what it is: SNI, ALPN, version, cipher
suite, the certificate (TLS 1.2 sends it in clear), JA3/JA3S/JA4, and posture findings (TLS 1.0
/1.1, weak ciphers, expired or self-signed certificates) - one ``TlsSessionInfo`` per connection.

With an NSS key log (``SSLKEYLOGFILE``: ``CLIENT_RANDOM`` for TLS 1.2, the ``*_TRAFFIC_SECRET_*``
lines for TLS 1.3) records are decrypted with ``cryptography``'s AEADs: TLS 1.2 AES-GCM and
ChaCha20-Poly1305 (PRF and key expansion of RFC 5246/7905), TLS 1.3 (HKDF-Expand-Label traffic
keys, handshake then application secrets, KeyUpdate). Decrypted application data comes out as
``TlsPlaintext`` events for the next parser. A missing key or one that does not decrypt is a tag
and a counter; the direction then stops trying.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sensor.proto.events import CLIENT, SERVER, BoundedBuffer
from sensor.proto.tls_hello import (
    VERSION_NAMES,
    CertificateInfo,
    ClientHello,
    ServerHello,
    TlsParseError,
    cipher_name,
    is_weak_cipher,
    parse_certificate_list,
    parse_client_hello,
    parse_encrypted_extensions_alpn,
    parse_server_hello,
)

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_NEW_TICKET, HS_CERTIFICATE, HS_FINISHED, HS_KEY_UPDATE = 1, 2, 4, 11, 20, 24
HS_ENCRYPTED_EXTENSIONS = 8
MAX_RECORD = 16384 + 2048 + 5
MAX_HANDSHAKE = 64 * 1024

TAG_NO_KEY = "tls_no_key"  # a key log was given but holds no secret for this session
TAG_DECRYPT_FAILED = "tls_decrypt_failed"  # the key did not authenticate the records (wrong key)
TAG_UNSUPPORTED_CIPHER = "tls_cipher_not_decryptable"  # a suite this reader cannot decrypt (CBC...)
TAG_MALFORMED = "tls_malformed"  # a record or handshake message that does not parse
TAG_MID_STREAM = "mid_stream"  # the handshake was not seen

FINDING_OLD_VERSION = "tls_deprecated_version"  # TLS 1.0/1.1 or SSLv3 negotiated
FINDING_WEAK_CIPHER = "tls_weak_cipher"
FINDING_EXPIRED = "tls_certificate_expired"
FINDING_SELF_SIGNED = "tls_certificate_self_signed"

# suite -> (aead, key length, iv length, hash name) for the suites this reader decrypts
_TLS12_AEAD = {
    0x009C: ("gcm", 16, 4, "sha256"), 0x009D: ("gcm", 32, 4, "sha384"), 0x009E: ("gcm", 16, 4, "sha256"),
    0x009F: ("gcm", 32, 4, "sha384"), 0xC02B: ("gcm", 16, 4, "sha256"), 0xC02C: ("gcm", 32, 4, "sha384"),
    0xC02F: ("gcm", 16, 4, "sha256"), 0xC030: ("gcm", 32, 4, "sha384"), 0xCCA8: ("chacha", 32, 12, "sha256"),
    0xCCA9: ("chacha", 32, 12, "sha256"), 0xCCAA: ("chacha", 32, 12, "sha256"),
}
_TLS13_AEAD = {0x1301: ("gcm", 16, "sha256"), 0x1302: ("gcm", 32, "sha384"), 0x1303: ("chacha", 32, "sha256")}


# -- key log ---------------------------------------------------------------------------------

class KeyLog:
    """Secrets by client random, from NSS key log text. Unknown labels and bad lines are counted."""

    def __init__(self) -> None:
        self.secrets: dict[bytes, dict[str, bytes]] = {}
        self.bad_lines = 0

    @classmethod
    def from_file(cls, path: str | Path) -> KeyLog:
        return cls.parse(Path(path).read_text("ascii", errors="replace"))

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> KeyLog:
        log = cls()
        log.add_lines(text.splitlines() if isinstance(text, str) else text)
        return log

    def add_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3:
                self.bad_lines += 1
                continue
            label, random_hex, secret_hex = parts
            try:
                random = bytes.fromhex(random_hex)
                secret = bytes.fromhex(secret_hex)
            except ValueError:
                self.bad_lines += 1
                continue
            if len(random) != 32:
                self.bad_lines += 1
                continue
            self.secrets.setdefault(random, {})[label] = secret

    def get(self, client_random: bytes, label: str) -> bytes | None:
        return self.secrets.get(client_random, {}).get(label)


# -- key schedule ----------------------------------------------------------------------------

def _p_hash(hash_name: str, secret: bytes, seed: bytes, size: int) -> bytes:
    out = b""
    a = seed
    while len(out) < size:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:size]


def tls12_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    return _p_hash(hash_name, secret, label + seed, size)


def hkdf_expand_label(hash_name: str, secret: bytes, label: str, context: bytes, length: int) -> bytes:
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    out = b""
    block = b""
    i = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


class _Cipher:
    """One direction's record protection: AEAD, key, IV and sequence number."""

    __slots__ = ("aead", "iv", "seq", "tls13", "kind", "secret", "hash_name", "key_len")

    def __init__(self, kind: str, key: bytes, iv: bytes, *, tls13: bool, secret: bytes = b"",
                 hash_name: str = "sha256") -> None:
        self.kind = kind
        self.aead: AESGCM | ChaCha20Poly1305 = AESGCM(key) if kind == "gcm" else ChaCha20Poly1305(key)
        self.iv = iv
        self.seq = 0
        self.tls13 = tls13
        self.secret = secret
        self.hash_name = hash_name
        self.key_len = len(key)

    @classmethod
    def tls13_from_secret(cls, kind: str, key_len: int, hash_name: str, secret: bytes) -> _Cipher:
        key = hkdf_expand_label(hash_name, secret, "key", b"", key_len)
        iv = hkdf_expand_label(hash_name, secret, "iv", b"", 12)
        return cls(kind, key, iv, tls13=True, secret=secret, hash_name=hash_name)

    def updated(self) -> _Cipher:
        """KeyUpdate: the next generation of this direction's traffic secret."""
        digest = hashlib.new(self.hash_name).digest_size
        secret = hkdf_expand_label(self.hash_name, self.secret, "traffic upd", b"", digest)
        return _Cipher.tls13_from_secret(self.kind, self.key_len, self.hash_name, secret)

    def decrypt(self, ctype: int, version: bytes, fragment: bytes) -> bytes:
        seq = self.seq.to_bytes(8, "big")
        plain: bytes  # declared: the build's isolated mypyc run may lack cryptography (decrypt is Any there)
        if self.tls13:
            nonce = bytes(a ^ b for a, b in zip(self.iv, bytes(4) + seq, strict=True))
            aad = bytes([ctype]) + version + len(fragment).to_bytes(2, "big")
            plain = self.aead.decrypt(nonce, fragment, aad)
        elif self.kind == "gcm":
            if len(fragment) < 24:
                raise InvalidTag()
            nonce = self.iv + fragment[:8]
            body = fragment[8:]
            aad = seq + bytes([ctype]) + version + (len(body) - 16).to_bytes(2, "big")
            plain = self.aead.decrypt(nonce, body, aad)
        else:
            if len(fragment) < 16:
                raise InvalidTag()
            nonce = bytes(a ^ b for a, b in zip(self.iv, bytes(4) + seq, strict=True))
            aad = seq + bytes([ctype]) + version + (len(fragment) - 16).to_bytes(2, "big")
            plain = self.aead.decrypt(nonce, fragment, aad)
        self.seq += 1
        return plain


# -- events ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TlsClientHelloSeen:
    ts: float
    hello: ClientHello
    ja3: str
    ja4: str


@dataclass(frozen=True, slots=True)
class TlsServerHelloSeen:
    ts: float
    hello: ServerHello
    ja3s: str


@dataclass(frozen=True, slots=True)
class TlsCertificateSeen:
    ts: float
    certificates: tuple[CertificateInfo, ...]  # leaf first
    encrypted: bool  # read from a decrypted TLS 1.3 handshake


@dataclass(frozen=True, slots=True)
class TlsPlaintext:
    """Decrypted application data of one direction, in order."""

    side: int
    ts: float
    data: bytes


@dataclass(frozen=True, slots=True)
class TlsAlert:
    side: int
    ts: float
    level: int
    description: int
    encrypted: bool


@dataclass(frozen=True, slots=True)
class TlsSessionInfo:
    """What the connection showed, once per connection (at close): the encrypted service's facts."""

    sni: str | None
    alpn_offered: tuple[str, ...]
    alpn: str | None
    version: str | None  # negotiated, e.g. "TLSv1.3"
    cipher: str | None
    ja3: str | None
    ja3s: str | None
    ja4: str | None
    certificate: CertificateInfo | None  # the leaf
    findings: tuple[str, ...]
    decrypted: bool
    application_bytes: tuple[int, int]  # (client, server) application data bytes on the wire
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)


TlsEvent = TlsClientHelloSeen | TlsServerHelloSeen | TlsCertificateSeen | TlsPlaintext | TlsAlert | TlsSessionInfo


class _Dir:
    __slots__ = ("buf", "hs", "cipher", "encrypted", "failed", "app_bytes", "pending_key")

    def __init__(self) -> None:
        self.buf = BoundedBuffer(MAX_RECORD)
        self.hs = BoundedBuffer(MAX_HANDSHAKE)  # handshake messages spanning records
        self.cipher: _Cipher | None = None
        self.encrypted = False  # records from here on are protected
        self.failed = False  # decryption gave up
        self.app_bytes = 0
        self.pending_key: _Cipher | None = None  # TLS 1.2: armed by ChangeCipherSpec


class TlsReader:
    def __init__(self, *, keylog: KeyLog | None = None, from_start: bool = True) -> None:
        self.keylog = keylog
        self.from_start = from_start
        self.dirs = (_Dir(), _Dir())
        self.counters: Counter[str] = Counter()
        self.tags: list[str] = []
        self.client_hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None
        self.ja3: str | None = None
        self.ja4: str | None = None
        self.ja3s: str | None = None
        self.certificates: tuple[CertificateInfo, ...] = ()
        self.cert_ts = 0.0
        self.decrypted = False
        self.tls13 = False
        self.alpn13: str | None = None  # TLS 1.3: the server's ALPN choice, once decrypted
        self._out: list[TlsEvent] = []
        self._closed = False
        self._lost = [False, False]

    # -- input -------------------------------------------------------------------------------
    def feed(self, side: int, data: bytes, ts: float) -> list[TlsEvent]:
        if self._lost[side]:
            return []
        d = self.dirs[side]
        if not d.buf.append(data):
            self._malformed(side, "record_overflow")
            return self._take()
        while len(d.buf) >= 5:
            head = d.buf.peek(5)
            ctype, length = head[0], head[3] << 8 | head[4]
            if ctype not in (CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA, 24) or head[1] != 3 or length > MAX_RECORD - 5:
                self._malformed(side, "bad_record_header")
                return self._take()
            if len(d.buf) < 5 + length:
                break
            d.buf.consume(5)
            self.counters["records"] += 1
            self._record(side, d, ctype, head[1:3], d.buf.consume(length), ts)
        return self._take()

    def feed_gap(self, side: int, size: int, ts: float) -> list[TlsEvent]:
        self.counters["gap_bytes"] += size
        self._lost[side] = True  # record boundaries and sequence numbers are gone
        self.dirs[side].buf.clear()
        return []

    def close(self, ts: float) -> list[TlsEvent]:
        if not self._closed:
            self._closed = True
            self._out.append(self.session_info(ts))
        return self._take()

    # -- records -----------------------------------------------------------------------------
    def _record(self, side: int, d: _Dir, ctype: int, version: bytes, fragment: bytes, ts: float) -> None:
        if ctype == CT_CCS:
            if not self.tls13 and d.pending_key is not None:
                d.cipher, d.pending_key = d.pending_key, None
            if not self.tls13:
                d.encrypted = True
            return
        if d.encrypted and (ctype != CT_CCS):
            if ctype == CT_APPDATA:
                d.app_bytes += len(fragment)
            if d.cipher is None or d.failed:
                self.counters["records_encrypted_undecrypted"] += 1
                return
            try:
                plain = d.cipher.decrypt(ctype, version, fragment)
            except InvalidTag:
                d.failed = True
                self.counters["decrypt_failures"] += 1
                self.tags.append(TAG_DECRYPT_FAILED)
                return
            self.counters["records_decrypted"] += 1
            if d.cipher.tls13:
                stripped = plain.rstrip(b"\x00")
                if not stripped:
                    return
                ctype, plain = stripped[-1], stripped[:-1]
            self.decrypted = True
            self._content(side, d, ctype, plain, ts, encrypted=True)
            return
        if ctype == CT_APPDATA:
            d.app_bytes += len(fragment)
            d.encrypted = True  # application data before we saw a handshake: mid-stream
            if TAG_MID_STREAM not in self.tags and self.client_hello is None:
                self.tags.append(TAG_MID_STREAM)
            self.counters["records_encrypted_undecrypted"] += 1
            return
        self._content(side, d, ctype, fragment, ts, encrypted=False)

    def _content(self, side: int, d: _Dir, ctype: int, data: bytes, ts: float, *, encrypted: bool) -> None:
        if ctype == CT_APPDATA:
            self._out.append(TlsPlaintext(side, ts, data))
        elif ctype == CT_ALERT and len(data) >= 2:
            self._out.append(TlsAlert(side, ts, data[0], data[1], encrypted))
        elif ctype == CT_HANDSHAKE:
            if not d.hs.append(data):
                self._malformed(side, "handshake_overflow")
                return
            while len(d.hs) >= 4:
                head = d.hs.peek(4)
                length = head[1] << 16 | head[2] << 8 | head[3]
                if len(d.hs) < 4 + length:
                    break
                d.hs.consume(4)
                self._handshake(side, d, head[0], d.hs.consume(length), ts, encrypted)

    def _handshake(self, side: int, d: _Dir, htype: int, body: bytes, ts: float, encrypted: bool) -> None:
        self.counters["handshake_messages"] += 1
        try:
            if htype == HS_CLIENT_HELLO and side == CLIENT and self.client_hello is None:
                hello = parse_client_hello(body)
                self.client_hello = hello
                ja3, ja4 = hello.ja3(), hello.ja4()
                self.ja3, self.ja4 = ja3, ja4
                self._out.append(TlsClientHelloSeen(ts, hello, ja3, ja4))
            elif htype == HS_SERVER_HELLO and side == SERVER:
                sh = parse_server_hello(body)
                if sh.is_retry:
                    self.counters["hello_retry"] += 1
                    return
                self.server_hello = sh
                ja3s = sh.ja3s()
                self.ja3s = ja3s
                self.tls13 = sh.version == 0x0304
                self._out.append(TlsServerHelloSeen(ts, sh, ja3s))
                self._keys_after_server_hello()
            elif htype == HS_ENCRYPTED_EXTENSIONS and side == SERVER and self.tls13 and encrypted:
                self.alpn13 = parse_encrypted_extensions_alpn(body)
            elif htype == HS_CERTIFICATE and side == SERVER and not self.certificates:
                certs, bad = parse_certificate_list(body, tls13=self.tls13)
                if bad:
                    self.counters["certificates_unparsed"] += bad
                self.certificates = tuple(certs)
                self.cert_ts = ts
                if certs:
                    self._out.append(TlsCertificateSeen(ts, tuple(certs), encrypted))
            elif htype == HS_FINISHED and self.tls13 and encrypted:
                self._tls13_application_keys(side)
            elif htype == HS_KEY_UPDATE and self.tls13 and d.cipher is not None:
                d.cipher = d.cipher.updated()
                self.counters["key_updates"] += 1
        except TlsParseError:
            self.counters["handshake_malformed"] += 1
            self.tags.append(TAG_MALFORMED)

    # -- keys --------------------------------------------------------------------------------
    def _keys_after_server_hello(self) -> None:
        ch, sh = self.client_hello, self.server_hello
        if self.keylog is None or ch is None or sh is None:
            return
        if self.tls13:
            spec = _TLS13_AEAD.get(sh.cipher)
            if spec is None:
                self.tags.append(TAG_UNSUPPORTED_CIPHER)
                return
            kind, key_len, hash_name = spec
            c_secret = self.keylog.get(ch.random, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
            s_secret = self.keylog.get(ch.random, "SERVER_HANDSHAKE_TRAFFIC_SECRET")
            if c_secret is None or s_secret is None:
                self._no_key()
                return
            self.dirs[CLIENT].cipher = _Cipher.tls13_from_secret(kind, key_len, hash_name, c_secret)
            self.dirs[SERVER].cipher = _Cipher.tls13_from_secret(kind, key_len, hash_name, s_secret)
            # The server's next records are protected; the client's after its own (compat) CCS or first
            # encrypted record - both are type 23 on the wire, which is all ``_record`` looks at.
            self.dirs[CLIENT].encrypted = self.dirs[SERVER].encrypted = True
            return
        spec12 = _TLS12_AEAD.get(sh.cipher)
        if spec12 is None:
            self.tags.append(TAG_UNSUPPORTED_CIPHER)
            self.counters["cipher_not_decryptable"] += 1
            return
        master = self.keylog.get(ch.random, "CLIENT_RANDOM")
        if master is None:
            self._no_key()
            return
        kind, key_len, iv_len, hash_name = spec12
        block = tls12_prf(hash_name, master, b"key expansion", sh.random + ch.random, 2 * (key_len + iv_len))
        ck, sk = block[:key_len], block[key_len: 2 * key_len]
        civ, siv = block[2 * key_len: 2 * key_len + iv_len], block[2 * key_len + iv_len:]
        self.dirs[CLIENT].pending_key = _Cipher(kind, ck, civ, tls13=False)
        self.dirs[SERVER].pending_key = _Cipher(kind, sk, siv, tls13=False)

    def _tls13_application_keys(self, side: int) -> None:
        ch, sh = self.client_hello, self.server_hello
        if self.keylog is None or ch is None or sh is None:
            return
        spec = _TLS13_AEAD.get(sh.cipher)
        label = "CLIENT_TRAFFIC_SECRET_0" if side == CLIENT else "SERVER_TRAFFIC_SECRET_0"
        secret = self.keylog.get(ch.random, label)
        if spec is None or secret is None:
            self._no_key()
            self.dirs[side].cipher = None
            return
        kind, key_len, hash_name = spec
        self.dirs[side].cipher = _Cipher.tls13_from_secret(kind, key_len, hash_name, secret)

    def _no_key(self) -> None:
        if TAG_NO_KEY not in self.tags:
            self.tags.append(TAG_NO_KEY)
            self.counters["sessions_without_key"] += 1

    def _malformed(self, side: int, reason: str) -> None:
        self.counters[reason] += 1
        if TAG_MALFORMED not in self.tags:
            self.tags.append(TAG_MALFORMED)
        self._lost[side] = True
        self.dirs[side].buf.clear()

    # -- summary -----------------------------------------------------------------------------
    def session_info(self, ts: float) -> TlsSessionInfo:
        ch, sh = self.client_hello, self.server_hello
        version = sh.version if sh is not None else None
        findings: list[str] = []
        if version is not None and version < 0x0303:
            findings.append(FINDING_OLD_VERSION)
        if sh is not None and is_weak_cipher(sh.cipher):
            findings.append(FINDING_WEAK_CIPHER)
        leaf = self.certificates[0] if self.certificates else None
        if leaf is not None:
            if leaf.expired_at(self.cert_ts or ts):
                findings.append(FINDING_EXPIRED)
            if leaf.self_signed:
                findings.append(FINDING_SELF_SIGNED)
        tags = list(self.tags)
        if ch is None and sh is None and TAG_MID_STREAM not in tags:
            tags.append(TAG_MID_STREAM)
        return TlsSessionInfo(
            sni=ch.sni if ch else None,
            alpn_offered=ch.alpn if ch else (),
            alpn=(sh.alpn or self.alpn13) if sh else None,
            version=VERSION_NAMES.get(version, f"0x{version:04x}") if version is not None else None,
            cipher=cipher_name(sh.cipher) if sh else None,
            ja3=self.ja3, ja3s=self.ja3s, ja4=self.ja4,
            certificate=leaf,
            findings=tuple(findings),
            decrypted=self.decrypted,
            application_bytes=(self.dirs[CLIENT].app_bytes, self.dirs[SERVER].app_bytes),
            tags=tuple(dict.fromkeys(tags)),
        )

    def _take(self) -> list[TlsEvent]:
        out, self._out = self._out, []
        return out
