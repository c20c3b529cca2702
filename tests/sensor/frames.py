"""Frames for engine tests, packed by sample_pcaps/quirks.py (``struct`` only, independent of the
sensor's decoder), and a pcap writer for captures made in a test."""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.sensor.conftest import SAMPLES

_spec = importlib.util.spec_from_file_location("sample_pcaps_quirks", SAMPLES / "quirks.py")
assert _spec is not None and _spec.loader is not None
QUIRKS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(QUIRKS)


class FrameFlow:
    """One client/server connection; each call returns the Ethernet frames it added."""

    def __init__(self, cport: int, *, client: str = "10.0.0.1", server: str = "10.0.0.2", sport: int = 80) -> None:
        self._capture = QUIRKS.Capture()
        self.flow = self._capture.flow(cport, client=client, server=server, sport=sport)

    def _take(self) -> list[bytes]:
        frames, self._capture.packets = self._capture.packets, []
        return frames

    def handshake(self, syn_data: bytes = b"") -> list[bytes]:
        self.flow.handshake(syn_data)
        return self._take()

    def request_frame(self, path: str) -> bytes:
        self.flow.request(QUIRKS.get(path))
        return self._take()[0]

    def send(self, from_client: bool, payload: bytes, **kwargs: object) -> list[bytes]:
        self.flow.send(from_client, QUIRKS.PSH | QUIRKS.ACK, payload, **kwargs)
        return self._take()

    def exchange(self, path: str, body: bytes = b'{"ok":true}') -> list[bytes]:
        self.flow.request(QUIRKS.get(path))
        self.flow.response(QUIRKS.ok(body))
        return self._take()

    def close(self) -> list[bytes]:
        self.flow.close()
        return self._take()


def write_pcap(path: Path, frames: Iterable[bytes], linktype: int = 1) -> Path:
    capture = QUIRKS.Capture(linktype)
    capture.packets = list(frames)
    path.write_bytes(capture.pcap())
    return path


def pcap_header(linktype: int = 1) -> bytes:
    return QUIRKS.Capture(linktype).pcap()  # the global header alone: no packets yet


def pcap_record(frame: bytes, usec: int) -> bytes:
    return struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame


def pathological_stream() -> Iterator[bytes]:
    """Frames without end of the inputs issue 14 found, each on its own connection: a head that
    never ends (the 64 KiB-bound hang), line noise a forward regex search backtracked over, and
    heads and chunk sizes full of superscript digits. Sequence numbers keep increasing."""
    hang, noise, digits = FrameFlow(45001), FrameFlow(45002), FrameFlow(45003)
    yield from hang.handshake() + noise.handshake() + digits.handshake()
    yield from hang.send(True, b"GET /hang HTTP/1.1\r\nHost: h\r\nX-Pad: ")
    while True:
        yield from hang.send(True, b"a" * 1460)
        yield from noise.send(True, b"A " * 730)
        yield from digits.send(True, b"POST /\xb2 HTTP/1.1\r\nContent-Length: \xb9\xb3\r\n\r\n3\xb2\r\n")
