"""Parsers for what receivers get, written from the specifications (not from the renderers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA [SP MSG]
_HEADER = re.compile(
    rb"^<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) "
    rb"(?P<timestamp>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    rb"(?P<hostname>[\x21-\x7e]{1,255}) (?P<app>[\x21-\x7e]{1,48}) (?P<procid>[\x21-\x7e]{1,128}) "
    rb"(?P<msgid>[\x21-\x7e]{1,32}) "
)


@dataclass
class Syslog5424:
    pri: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: dict[str, dict[str, str]]
    msg: str
    had_bom: bool

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def _parse_sd(data: bytes) -> tuple[dict[str, dict[str, str]], bytes]:
    if data.startswith(b"- ") or data == b"-":
        return {}, data[2:]
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] == b"[":
        end_id = pos + 1
        while data[end_id : end_id + 1] not in (b" ", b"]"):
            end_id += 1
        sd_id = data[pos + 1 : end_id].decode("ascii")
        params: dict[str, str] = {}
        pos = end_id
        while data[pos : pos + 1] == b" ":
            eq = data.index(b"=", pos)
            name = data[pos + 1 : eq].decode("ascii")
            assert data[eq + 1 : eq + 2] == b'"', "PARAM-VALUE must be quoted"
            i = eq + 2
            value = bytearray()
            while True:
                ch = data[i : i + 1]
                if ch == b"\\" and data[i + 1 : i + 2] in (b'"', b"\\", b"]"):
                    value += data[i + 1 : i + 2]
                    i += 2
                elif ch == b'"':
                    i += 1
                    break
                else:
                    assert ch not in (b"]",), "unescaped ] in PARAM-VALUE"
                    value += ch
                    i += 1
            params[name] = value.decode("utf-8")
            pos = i
        assert data[pos : pos + 1] == b"]", f"SD-ELEMENT not closed at {pos}"
        elements[sd_id] = params
        pos += 1
    rest = data[pos:]
    return elements, rest[1:] if rest.startswith(b" ") else rest


def parse_5424(raw: bytes) -> Syslog5424:
    match = _HEADER.match(raw)
    assert match, f"not RFC 5424: {raw[:120]!r}"
    sd, msg = _parse_sd(raw[match.end() :])
    bom = msg.startswith(b"\xef\xbb\xbf")
    return Syslog5424(
        pri=int(match["pri"]),
        version=int(match["version"]),
        timestamp=match["timestamp"].decode(),
        hostname=match["hostname"].decode(),
        app_name=match["app"].decode(),
        procid=match["procid"].decode(),
        msgid=match["msgid"].decode(),
        structured_data=sd,
        msg=(msg[3:] if bom else msg).decode("utf-8"),
        had_bom=bom,
    )


@dataclass
class Cef:
    version: str
    vendor: str
    product: str
    device_version: str
    signature_id: str
    name: str
    severity: str
    extensions: dict[str, str]


def parse_cef(line: str) -> Cef:
    """Split on unescaped pipes (7 header fields), then key=value pairs with CEF escapes."""
    assert line.startswith("CEF:"), line[:40]
    fields: list[str] = []
    current = []
    i = 0
    while len(fields) < 7:
        ch = line[i]
        if ch == "\\" and line[i + 1] in "|\\":
            current.append(line[i + 1])
            i += 2
            continue
        if ch == "|":
            fields.append("".join(current))
            current = []
        else:
            assert ch not in "\r\n", "line break in a CEF header"
            current.append(ch)
        i += 1
    extensions = _parse_extensions(line[i:])
    version = fields[0][4:]
    return Cef(version, fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], extensions)


_KEY = re.compile(r"[A-Za-z0-9_]+=")


def _parse_extensions(text: str) -> dict[str, str]:
    """Scan ``key=value`` pairs: escapes consume two characters; a value ends at a space that is
    followed by the next ``key=`` (keys never contain a backslash, so that ``=`` is unescaped)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _KEY.match(text, pos)
        assert match, f"expected key= at {text[pos : pos + 30]!r}"
        key = match.group()[:-1]
        pos = match.end()
        value: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                nxt = text[pos + 1] if pos + 1 < len(text) else ""
                assert nxt in ("\\", "=", "n", "r"), f"bad escape \\{nxt!r} in {key}"
                value.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
                pos += 2
                continue
            assert ch not in "=\r\n", f"unescaped {ch!r} in {key}"
            if ch == " " and _KEY.match(text, pos + 1):
                pos += 1
                break
            value.append(ch)
            pos += 1
        out[key] = "".join(value)
    return out
