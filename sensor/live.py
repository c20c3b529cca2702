"""Live capture from a network interface: AF_PACKET with a kernel BPF filter (Linux).

The filter expression is compiled by libpcap (through ctypes, no capture library needed) and
attached with SO_ATTACH_FILTER so unwanted packets never reach user space. Kernel drop counters
(PACKET_STATISTICS) are read periodically and reported with the sensor's own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sensor import pcapio
from sensor.engine import relaxed_gc

if TYPE_CHECKING:
    from sensor.engine import Sensor

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_STATISTICS = 6
ARPHRD_NONE = 65534
ARPHRD_LOOPBACK = 772
PACKET_OUTGOING = 4
STATS_INTERVAL = 10.0


class LiveCaptureError(Exception):
    """A live capture could not start; the message says why in terms an operator can act on."""


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


def compile_bpf(expression: str, linktype: int = pcapio.LINKTYPE_ETHERNET, snaplen: int = 262144) -> bytes:
    """Compile a tcpdump-style filter to classic BPF instructions (8 bytes each)."""
    name = ctypes.util.find_library("pcap")
    if not name:
        raise LiveCaptureError("a BPF filter needs libpcap (Debian: libpcap0.8); use --bpf '' to capture all")
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_geterr.restype = ctypes.c_char_p
    handle = lib.pcap_open_dead(linktype, snaplen)
    program = _BpfProgram()
    try:
        if lib.pcap_compile(ctypes.c_void_p(handle), ctypes.byref(program), expression.encode(), 1,
                            ctypes.c_uint32(0xFFFFFFFF)) != 0:
            err = lib.pcap_geterr(ctypes.c_void_p(handle)).decode(errors="replace")
            raise LiveCaptureError(f"bad BPF filter {expression!r}: {err}")
        insns = bytes(ctypes.string_at(program.bf_insns, program.bf_len * 8))
        lib.pcap_freecode(ctypes.byref(program))
        return insns
    finally:
        lib.pcap_close(ctypes.c_void_p(handle))


def _arp_type(interface: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{interface}/type").read_text().strip())
    except (OSError, ValueError):
        return None


def _linktype_of(interface: str) -> int:
    return pcapio.LINKTYPE_RAW if _arp_type(interface) == ARPHRD_NONE else pcapio.LINKTYPE_ETHERNET


def open_socket(interface: str, bpf: str = "") -> tuple[socket.socket, int]:
    if not hasattr(socket, "AF_PACKET"):
        raise LiveCaptureError("live capture needs Linux (AF_PACKET)")
    if not Path(f"/sys/class/net/{interface}").exists():
        raise LiveCaptureError(f"no such network interface: {interface}")
    linktype = _linktype_of(interface)
    program = compile_bpf(bpf, linktype) if bpf else b""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError as exc:
        raise LiveCaptureError(
            f"capturing on {interface} needs root or CAP_NET_RAW (try: sudo setcap cap_net_raw+ep "
            f"{os.path.realpath(sys.executable)})"
        ) from exc
    try:
        if program:
            # Attach before bind so no unfiltered packet is queued in between.
            buf = ctypes.create_string_buffer(program)
            fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buf))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.bind((interface, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024 * 1024)
    except OSError as exc:
        sock.close()
        raise LiveCaptureError(f"cannot capture on {interface}: {exc.strerror or exc}") from exc
    return sock, linktype


def kernel_stats(sock: socket.socket) -> tuple[int, int]:
    """(packets, drops) since the last call, as the kernel counted them."""
    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    packets, drops = struct.unpack("II", raw)
    return packets, drops


def capture(interface: str, sensor: Sensor, *, bpf: str = "", duration: float | None = None,
            stats_interval: float = STATS_INTERVAL) -> None:
    """Run until SIGINT/SIGTERM or ``duration`` seconds, then flush every open connection."""
    sock, linktype = open_socket(interface, bpf)
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    deadline = time.monotonic() + duration if duration is not None else None
    next_stats = time.monotonic() + stats_interval
    process = sensor.process
    recv = sock.recv
    recvfrom = sock.recvfrom
    loopback = interface == "lo" or _arp_type(interface) == ARPHRD_LOOPBACK
    gc_context = relaxed_gc()
    gc_context.__enter__()
    try:
        sock.setblocking(False)
        while not stop:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= next_stats:
                _log_stats(sock, sensor, interface)
                next_stats = now + stats_interval
            ready, _, _ = select.select([sock], [], [], 0.2)
            if not ready:
                continue
            for _ in range(1024):  # drain what is queued before looking at the clock again
                try:
                    if loopback:
                        frame, addr = recvfrom(262144)
                        if addr[2] == PACKET_OUTGOING:
                            continue  # loopback shows every packet twice: leaving and arriving
                    else:
                        frame = recv(262144)
                except BlockingIOError:
                    break
                process(time.time(), linktype, frame)
    finally:
        gc_context.__exit__(None, None, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _log_stats(sock, sensor, interface)
        sock.close()
        sensor.flush()


def _log_stats(sock: socket.socket, sensor: Sensor, interface: str) -> None:
    packets, drops = kernel_stats(sock)
    sensor.counters["kernel_packets"] += packets
    sensor.counters["kernel_drops"] += drops
    stats = sensor.stats()
    record = {"event": "sensor_stats", "interface": interface, "ts": time.time(),
              "packets": stats.get("packets", 0), "kernel_drops": stats.get("kernel_drops", 0),
              "exchanges": stats.get("exchanges", 0), "connections": stats.get("connections", 0)}
    print(json.dumps(record), file=sys.stderr, flush=True)
