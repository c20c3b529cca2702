"""TLS handshake messages as a sensor sees them: ClientHello, ServerHello, Certificate (TLS 1.2,
or TLS 1.3 once decrypted), and the fingerprints computed from them (JA3/JA3S, JA4).

Pure functions over message bodies (the 4-byte handshake header already stripped); a malformed
message raises ``TlsParseError``, which the reader turns into a tag.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))
EXT_SNI, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 10, 11, 13, 16, 43
VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_JA4_VERSION = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# Cipher suites by IANA number: the ones seen in practice, enough to name them and judge weakness.
CIPHER_NAMES = {
    0x0000: "TLS_NULL_WITH_NULL_NULL", 0x0001: "TLS_RSA_WITH_NULL_MD5", 0x0002: "TLS_RSA_WITH_NULL_SHA",
    0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", 0x0004: "TLS_RSA_WITH_RC4_128_MD5", 0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", 0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0009: "TLS_RSA_WITH_DES_CBC_SHA", 0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", 0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
    0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x003B: "TLS_RSA_WITH_NULL_SHA256",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x5600: "TLS_FALLBACK_SCSV", 0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", 0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
_WEAK_MARKERS = ("_NULL_", "NULL_", "_EXPORT", "_RC4_", "_RC2_", "_DES_", "_DES40_", "_3DES_", "_anon_", "_MD5")


def cipher_name(suite: int) -> str:
    return CIPHER_NAMES.get(suite, f"0x{suite:04X}")


def is_weak_cipher(suite: int) -> bool:
    """NULL, export, RC4/RC2, DES and 3DES, anonymous key exchange, MD5 MACs."""
    name = CIPHER_NAMES.get(suite)
    if name is None or suite in (0x00FF, 0x5600):
        return False
    return any(m in name + "_" for m in _WEAK_MARKERS)


class TlsParseError(ValueError):
    pass


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TlsParseError("truncated")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, size_len: int) -> bytes:
        n = int.from_bytes(self.take(size_len), "big")
        return self.take(n)

    def left(self) -> int:
        return len(self.data) - self.pos


def _u16_list(data: bytes) -> list[int]:
    return [int.from_bytes(data[i: i + 2], "big") for i in range(0, len(data) - 1, 2)]


def _extensions(r: _Reader) -> list[tuple[int, bytes]]:
    if not r.left():
        return []
    block = _Reader(r.vec(2))
    out = []
    while block.left():
        etype = block.u16()
        out.append((etype, block.vec(2)))
    return out


def _alpn(data: bytes) -> tuple[str, ...]:
    r = _Reader(data)
    lst = _Reader(r.vec(2))
    out = []
    while lst.left():
        out.append(lst.vec(1).decode("latin-1"))
    return tuple(out)


def _sni(data: bytes) -> str | None:
    r = _Reader(data)
    lst = _Reader(r.vec(2))
    while lst.left():
        kind = lst.u8()
        name = lst.vec(2)
        if kind == 0:
            return name.decode("idna" if name.startswith(b"xn--") else "latin-1", "replace").lower()
    return None


@dataclass(frozen=True, slots=True)
class ClientHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]  # types, in order
    sni: str | None
    alpn: tuple[str, ...]
    supported_versions: tuple[int, ...]
    groups: tuple[int, ...]
    point_formats: tuple[int, ...]
    signature_algorithms: tuple[int, ...]

    @property
    def max_version(self) -> int:
        real = [v for v in self.supported_versions if v not in GREASE]
        return max(real) if real else self.legacy_version

    def ja3_string(self) -> str:
        def dash(values: tuple[int, ...]) -> str:
            return "-".join(str(v) for v in values if v not in GREASE)

        return ",".join((str(self.legacy_version), dash(self.ciphers), dash(self.extensions), dash(self.groups),
                         dash(self.point_formats)))

    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string().encode(), usedforsecurity=False).hexdigest()

    def ja4(self) -> str:
        ciphers = [c for c in self.ciphers if c not in GREASE]
        exts = [e for e in self.extensions if e not in GREASE]
        alpn = self.alpn[0] if self.alpn else ""
        if not alpn:
            alpn_part = "00"
        elif alpn[0].isalnum() and alpn[-1].isalnum():
            alpn_part = alpn[0] + alpn[-1]
        else:
            h = alpn.encode("latin-1").hex()
            alpn_part = h[0] + h[-1]
        a = (f"t{_JA4_VERSION.get(self.max_version, '00')}{'d' if self.sni else 'i'}"
             f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn_part}")
        b = _ja4_hash(",".join(f"{c:04x}" for c in sorted(ciphers)))
        ext_list = ",".join(f"{e:04x}" for e in sorted(e for e in exts if e not in (EXT_SNI, EXT_ALPN)))
        sigs = ",".join(f"{s:04x}" for s in self.signature_algorithms if s not in GREASE)
        c = _ja4_hash(ext_list + ("_" + sigs if sigs else "")) if ext_list else "000000000000"
        return f"{a}_{b}_{c}"


def _ja4_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher: int
    extensions: tuple[int, ...]
    selected_version: int | None  # supported_versions (TLS 1.3)
    alpn: str | None
    is_retry: bool  # HelloRetryRequest

    @property
    def version(self) -> int:
        return self.selected_version or self.legacy_version

    def ja3s(self) -> str:
        text = f"{self.legacy_version},{self.cipher},{'-'.join(str(e) for e in self.extensions)}"
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_client_hello(body: bytes) -> ClientHello:
    r = _Reader(body)
    version = r.u16()
    random = r.take(32)
    session = r.vec(1)
    ciphers = tuple(_u16_list(r.vec(2)))
    r.vec(1)  # compression methods
    exts = _extensions(r)
    sni = None
    alpn: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    points: tuple[int, ...] = ()
    sigs: tuple[int, ...] = ()
    for etype, data in exts:
        if etype == EXT_SNI:
            sni = _sni(data)
        elif etype == EXT_ALPN:
            alpn = _alpn(data)
        elif etype == EXT_SUPPORTED_VERSIONS and data:
            versions = tuple(_u16_list(data[1: 1 + data[0]]))
        elif etype == EXT_GROUPS:
            groups = tuple(_u16_list(_Reader(data).vec(2)))
        elif etype == EXT_POINT_FORMATS and data:
            points = tuple(data[1: 1 + data[0]])
        elif etype == EXT_SIG_ALGS:
            sigs = tuple(_u16_list(_Reader(data).vec(2)))
    return ClientHello(version, random, session, ciphers, tuple(e for e, _ in exts), sni, alpn, versions,
                       groups, points, sigs)


def parse_server_hello(body: bytes) -> ServerHello:
    r = _Reader(body)
    version = r.u16()
    random = r.take(32)
    session = r.vec(1)
    cipher = r.u16()
    r.u8()  # compression
    exts = _extensions(r)
    selected = None
    alpn = None
    for etype, data in exts:
        if etype == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            selected = int.from_bytes(data, "big")
        elif etype == EXT_ALPN:
            names = _alpn(data)
            alpn = names[0] if names else None
    return ServerHello(version, random, session, cipher, tuple(e for e, _ in exts), selected, alpn,
                       random == HELLO_RETRY_RANDOM)


def parse_encrypted_extensions_alpn(body: bytes) -> str | None:
    """The protocol a TLS 1.3 server chose (ALPN lives in EncryptedExtensions, not ServerHello)."""
    for etype, data in _extensions(_Reader(body)):
        if etype == EXT_ALPN:
            names = _alpn(data)
            return names[0] if names else None
    return None


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_before: float  # epoch seconds
    not_after: float
    serial: str
    san: tuple[str, ...]
    self_signed: bool
    signature_algorithm: str | None
    sha256: str  # fingerprint of the DER

    def expired_at(self, ts: float) -> bool:
        return ts > self.not_after or ts < self.not_before


def parse_certificate_list(body: bytes, *, tls13: bool) -> tuple[list[CertificateInfo], int]:
    """(parsed certificates, how many failed to parse) of a Certificate message body."""
    r = _Reader(body)
    if tls13:
        r.vec(1)  # certificate_request_context
    lst = _Reader(r.vec(3))
    ders: list[bytes] = []
    while lst.left():
        ders.append(lst.vec(3))
        if tls13:
            lst.vec(2)  # per-certificate extensions
    out: list[CertificateInfo] = []
    bad = 0
    for der in ders[:8]:
        try:
            out.append(certificate_info(der))
        except ValueError:
            bad += 1
    return out, bad


def certificate_info(der: bytes) -> CertificateInfo:
    """Raises ValueError for DER that is not a certificate. cryptography's warnings about what it
    will refuse one day (a negative serial...) are not the sensor's to print per connection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _certificate_info(der)


def _certificate_info(der: bytes) -> CertificateInfo:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san = tuple(str(n) for n in san_ext.value.get_values_for_type(x509.DNSName))[:32]
    except (x509.ExtensionNotFound, ValueError):
        san = ()
    try:
        sig = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None
    except Exception:  # noqa: BLE001 - an unsupported algorithm is not a reason to lose the cert
        sig = None
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        serial=format(cert.serial_number, "x"),
        san=san,
        self_signed=cert.subject == cert.issuer,
        signature_algorithm=sig,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
