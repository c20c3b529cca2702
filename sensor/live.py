"""Live capture from a network interface: AF_PACKET with a kernel BPF filter (Linux).

The filter expression is compiled by libpcap (through ctypes, no capture library needed) and
attached with SO_ATTACH_FILTER so unwanted packets never reach user space. Kernel drop counters
(PACKET_STATISTICS) are read periodically and reported with the sensor's own.

``capture`` runs one sensor in this process. ``capture_workers`` scales out: N forked worker
processes, each with its own packet socket in one PACKET_FANOUT_HASH group, so the kernel splits
the traffic by flow and every worker sees whole connections (see ``capture_workers``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from sensor import pcapio
from sensor.engine import relaxed_gc
from sensor.interrupts import SHUTDOWN_FLUSH_SECONDS

if TYPE_CHECKING:
    from sensor.config import SensorConfig
    from sensor.engine import Sensor

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_RCVBUFFORCE = 33
RCVBUF_BYTES = 32 * 1024 * 1024  # per socket, so per worker
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_FANOUT = 18
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
ARPHRD_NONE = 65534
ARPHRD_LOOPBACK = 772
PACKET_OUTGOING = 4
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100
# struct tpacket_auxdata {u32 status, len, snaplen; u16 mac, net, vlan_tci, vlan_tpid}: status and tag
_AUX_STATUS_TAG = struct.Struct("=I12xHH")
_AUX_SPACE = socket.CMSG_SPACE(_AUX_STATUS_TAG.size) if hasattr(socket, "CMSG_SPACE") else 0
STATS_INTERVAL = 10.0
# A fanout group created the legacy way holds at most 256 sockets (PACKET_FANOUT_MAX).
MAX_WORKERS = 256
# Exchange records a worker holds for the parent before it drops new ones (bytes, per worker).
WORKER_BACKLOG_BYTES = 16 * 1024 * 1024
# After a stop, a worker that sends nothing for this long is killed (it should be flushing).
SHUTDOWN_GRACE = 30.0
# One classic BPF instruction, "ret #0": accept nothing. Sockets wear it while the fanout group is
# assembled, so no packet is queued on a socket that has not joined yet (it would be a duplicate).
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)
_FRAME = struct.Struct("<BI")  # worker -> parent: kind, payload length
# Counters every report has, even before the first packet.
_ZERO_STATS = {"packets": 0, "bytes": 0, "kernel_packets": 0, "kernel_drops": 0, "connections": 0,
               "exchanges": 0, "exchanges_dropped": 0}
_RECORD, _STATS, _FINAL, _ERROR = b"R"[0], b"S"[0], b"F"[0], b"E"[0]  # _FINAL: last counters, after the flush


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


def _is_loopback(interface: str) -> bool:
    return interface == "lo" or _arp_type(interface) == ARPHRD_LOOPBACK


def _prepare(interface: str, bpf: str) -> tuple[int, bytes]:
    """Checks that need no socket: (linktype, compiled filter or b"")."""
    if not hasattr(socket, "AF_PACKET"):
        raise LiveCaptureError("live capture needs Linux (AF_PACKET)")
    if not Path(f"/sys/class/net/{interface}").exists():
        raise LiveCaptureError(f"no such network interface: {interface}")
    linktype = _linktype_of(interface)
    arp = _arp_type(interface)
    if arp not in (None, 1, ARPHRD_LOOPBACK, ARPHRD_NONE):  # 1: ARPHRD_ETHER
        # Not silent: what such an interface hands a packet socket may not start with an
        # Ethernet header, and the counters (decode_not_ip, decode_malformed) would be the only sign.
        print(f"apicensus sensor: {interface} has link type {arp} (ARPHRD): its frames are read as Ethernet; "
              "if nothing decodes, capture a mirror port or pipe tcpdump -w - into --pcap -", file=sys.stderr)
    return linktype, compile_bpf(bpf, linktype) if bpf else b""


def _packet_socket(interface: str) -> socket.socket:
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError as exc:
        raise LiveCaptureError(
            f"capturing on {interface} needs root or CAP_NET_RAW (try: sudo setcap cap_net_raw+ep "
            f"{os.path.realpath(sys.executable)})"
        ) from exc


def _attach(sock: socket.socket, program: bytes) -> None:
    # The kernel copies the program during setsockopt; the buffer only has to outlive the call.
    buf = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_socket(interface: str, bpf: str = "") -> tuple[socket.socket, int]:
    linktype, program = _prepare(interface, bpf)
    sock = _packet_socket(interface)
    try:
        if program:
            # Attach before bind so no unfiltered packet is queued in between.
            _attach(sock, program)
        _want_vlan_tags(sock, interface, linktype)
        sock.bind((interface, 0))
        _set_rcvbuf(sock)
    except OSError as exc:
        sock.close()
        raise LiveCaptureError(f"cannot capture on {interface}: {exc.strerror or exc}") from exc
    return sock, linktype


def _set_rcvbuf(sock: socket.socket, size: int = RCVBUF_BYTES) -> None:
    # The socket buffer absorbs bursts while the sensor is busy. SO_RCVBUF is silently capped at
    # net.core.rmem_max (208 KiB on many systems: a few hundred packets); root/CAP_NET_ADMIN may
    # exceed it with SO_RCVBUFFORCE.
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _reads_vlan_tags(interface: str, linktype: int) -> bool:
    return linktype == pcapio.LINKTYPE_ETHERNET and not _is_loopback(interface)


def _want_vlan_tags(sock: socket.socket, interface: str, linktype: int) -> None:
    # The kernel takes the outer 802.1Q/802.1ad tag off a received frame (and a transmitted one
    # never has it in the data when the driver offloads tagging) and keeps it in the skb's
    # metadata: plain recv() would hand the sensor the frame without it. PACKET_AUXDATA returns
    # the tag beside each frame so _Tap can put it back, as libpcap does.
    if _reads_vlan_tags(interface, linktype):
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)


def open_fanout_sockets(interface: str, bpf: str, count: int) -> tuple[list[socket.socket], int, int]:
    """``count`` packet sockets on ``interface`` in one new PACKET_FANOUT_HASH group, each with
    the filter ``bpf``: (sockets, linktype, group id).

    Every socket wears a drop-all filter until all have joined, then gets the real one: a socket
    bound but not yet in the group would receive every packet (duplicates of what the group gets),
    and a group that grows while traffic flows rehashes flows from one member to another. So no
    connection is split by the assembly; at worst a few packets are refused during the filter swap.
    """
    linktype, program = _prepare(interface, bpf)
    socks: list[socket.socket] = []
    group = 0
    try:
        for index in range(count):
            sock = _packet_socket(interface)
            socks.append(sock)
            try:
                _attach(sock, _DROP_ALL)
                _want_vlan_tags(sock, interface, linktype)
                sock.bind((interface, 0))
                _set_rcvbuf(sock)
            except OSError as exc:
                raise LiveCaptureError(f"cannot capture on {interface}: {exc.strerror or exc}") from exc
            if index == 0:
                group = _create_group(sock, interface)
            else:
                _join_group(sock, interface, group)
        for sock in socks:
            if program:
                _attach(sock, program)  # replaces the drop-all filter
            else:
                sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks, linktype, group


def _fanout_arg(group: int, flags: int) -> bytes:
    # Packed by hand: with the DEFRAG bit set the value does not fit the C int setsockopt takes.
    return struct.pack("I", group | ((PACKET_FANOUT_HASH | flags) << 16))


def _create_group(sock: socket.socket, interface: str) -> int:
    # DEFRAG: the kernel reassembles IPv4 fragments before hashing, so a fragmented segment goes
    # to the worker that has the rest of its connection (a non-first fragment has no ports).
    # UNIQUEID (Linux >= 4.3) makes the kernel pick a group id nobody in this network namespace
    # uses: joining someone else's group by accident would silently halve both captures.
    try:
        sock.setsockopt(SOL_PACKET, PACKET_FANOUT,
                        _fanout_arg(0, PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_UNIQUEID))
        return sock.getsockopt(SOL_PACKET, PACKET_FANOUT) & 0xFFFF
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise LiveCaptureError(f"cannot create a PACKET_FANOUT group on {interface}: "
                                   f"{exc.strerror or exc}") from exc
    # Older kernel: a group id of our own, from the pid (unique among live processes).
    group = os.getpid() & 0xFFFF
    _join_group(sock, interface, group)
    return group


def _join_group(sock: socket.socket, interface: str, group: int) -> None:
    try:
        sock.setsockopt(SOL_PACKET, PACKET_FANOUT, _fanout_arg(group, PACKET_FANOUT_FLAG_DEFRAG))
    except OSError as exc:
        raise LiveCaptureError(f"cannot join PACKET_FANOUT group {group} on {interface}: "
                               f"{exc.strerror or exc}") from exc


def kernel_stats(sock: socket.socket) -> tuple[int, int]:
    """(packets, drops) since the last call, as the kernel counted them."""
    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    packets, drops = struct.unpack("II", raw)
    return packets, drops


class _Tap:
    """One packet socket feeding one Sensor: the read loop of ``capture`` and of every worker."""

    def __init__(self, sock: socket.socket, linktype: int, sensor: Sensor, interface: str) -> None:
        self.sock = sock
        self.linktype = linktype
        self.sensor = sensor
        self.loopback = _is_loopback(interface)
        self.vlan_tags = _reads_vlan_tags(interface, linktype)
        self.bytes = 0

    def drain(self, stopped: Callable[[], bool] | None = None) -> None:
        """Process what is queued, at most 1024 frames before the caller looks at the clock, and
        no more once ``stopped()`` says so (checked every 64 frames).

        A failing read (the interface went down or away) raises ``_ReadFailed``; errors of the
        sensor's own output (a closed stdout...) propagate as they are. The try around each read
        costs nothing in CPython 3.11 while nothing is raised."""
        if self.vlan_tags:
            self._drain_tagged(stopped)
            return
        process = self.sensor.process
        linktype = self.linktype
        recv = self.sock.recv
        recvfrom = self.sock.recvfrom
        loopback = self.loopback
        nbytes = 0
        try:
            for i in range(1024):
                if i & 63 == 63 and stopped is not None and stopped():
                    return
                try:
                    if loopback:
                        frame, addr = recvfrom(262144)
                        if addr[2] == PACKET_OUTGOING:
                            continue  # loopback shows every packet twice: leaving and arriving
                    else:
                        frame = recv(262144)
                except BlockingIOError:
                    return
                except OSError as exc:
                    raise _ReadFailed(_reason(exc)) from exc
                nbytes += len(frame)
                process(time.time(), linktype, frame)
        finally:
            self.bytes += nbytes

    def _drain_tagged(self, stopped: Callable[[], bool] | None) -> None:
        """``drain`` for Ethernet: each frame with its VLAN tag restored from PACKET_AUXDATA."""
        process = self.sensor.process
        linktype = self.linktype
        recvmsg = self.sock.recvmsg
        status_and_tag = _AUX_STATUS_TAG.unpack_from
        pack_tag = struct.Struct(">HH").pack
        nbytes = 0
        try:
            for i in range(1024):
                if i & 63 == 63 and stopped is not None and stopped():
                    return
                try:
                    frame, ancdata, _flags, _addr = recvmsg(262144, _AUX_SPACE)
                except BlockingIOError:
                    return
                except OSError as exc:
                    raise _ReadFailed(_reason(exc)) from exc
                if ancdata:
                    # PACKET_AUXDATA is the only control message this socket asked for.
                    status, tci, tpid = status_and_tag(ancdata[0][2])
                    if status & TP_STATUS_VLAN_VALID:
                        if not status & TP_STATUS_VLAN_TPID_VALID:
                            tpid = ETH_P_8021Q
                        frame = frame[:12] + pack_tag(tpid, tci) + frame[12:]
                nbytes += len(frame)
                process(time.time(), linktype, frame)
        finally:
            self.bytes += nbytes

    def read_kernel(self) -> None:
        packets, drops = kernel_stats(self.sock)
        counters = self.sensor.counters
        counters["kernel_packets"] += packets
        counters["kernel_drops"] += drops

    def stats(self) -> dict[str, int]:
        out = {k: 0 for k in _ZERO_STATS if k != "exchanges_dropped"}
        out.update(self.sensor.stats())
        out["bytes"] = self.bytes
        return out


@contextlib.contextmanager
def _stop_on_signals(request_stop: Callable[[int, object], None]) -> Iterator[None]:
    """SIGINT/SIGTERM call ``request_stop`` instead of killing the process, while in the block.

    Only the main thread may set handlers: elsewhere the caller relies on ``duration``."""
    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
    except ValueError:
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def capture(interface: str, sensor: Sensor, *, bpf: str = "", duration: float | None = None,
            stats_interval: float = STATS_INTERVAL,
            on_stats: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
    """Run until SIGINT/SIGTERM or ``duration`` seconds, then flush every open connection.

    Counters (``Sensor.stats()`` plus ``bytes``, ``kernel_packets``, ``kernel_drops``) go to
    ``on_stats`` (default: a JSON line on stderr) at the start, every ``stats_interval`` seconds
    and once more after the flush; the final ones are also returned.
    """
    sock, linktype = open_socket(interface, bpf)
    report = on_stats or (lambda stats: _print_stats(interface, stats))
    tap = _Tap(sock, linktype, sensor, interface)
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    deadline = time.monotonic() + duration if duration is not None else None
    try:
        with _stop_on_signals(request_stop), relaxed_gc():
            sock.setblocking(False)
            # A first report says the capture is live (tests and supervisors wait for it).
            report(tap.stats())
            next_stats = time.monotonic() + stats_interval
            while not stop:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if now >= next_stats:
                    tap.read_kernel()
                    report(tap.stats())
                    next_stats = now + stats_interval
                ready, _, _ = select.select([sock], [], [], 0.2)
                if ready:
                    tap.drain(lambda: stop)
            tap.read_kernel()
    except _ReadFailed as exc:  # the interface went down or away: what was seen is still flushed
        raise LiveCaptureError(f"capture on {interface} failed: {exc}") from exc
    finally:
        sock.close()
        # Stopped by a signal: answer it within a second, flushing what can be flushed by then.
        sensor.flush(time.monotonic() + SHUTDOWN_FLUSH_SECONDS if stop else None)
    final = tap.stats()
    report(final)
    return final


class _ReadFailed(Exception):
    """Reading the packet socket failed; the message is the system's reason."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _ReadFailed):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _print_stats(interface: str, stats: dict[str, Any]) -> None:
    record = {"event": "sensor_stats", "interface": interface, "ts": time.time(),
              "packets": stats.get("packets", 0), "kernel_drops": stats.get("kernel_drops", 0),
              "exchanges": stats.get("exchanges", 0), "connections": stats.get("connections", 0)}
    if "workers" in stats:
        record["workers"] = stats["workers"]
        record["exchanges_dropped"] = stats.get("exchanges_dropped", 0)
    print(json.dumps(record), file=sys.stderr, flush=True)


# -- several workers ---------------------------------------------------------------------------


def capture_workers(interface: str, *, workers: int, config: SensorConfig, bpf: str = "",
                    duration: float | None = None, on_record: Callable[[dict[str, Any]], None],
                    on_stats: Callable[[dict[str, Any]], None] | None = None,
                    stats_interval: float = STATS_INTERVAL) -> dict[str, int]:
    """Capture with ``workers`` processes, the traffic split between them by flow.

    Every worker has its own packet socket; all of them are in one PACKET_FANOUT_HASH group, so
    the kernel hands each packet to the member chosen by a hash of its flow. The hash is the
    symmetric one (``fanout_demux_hash`` -> ``__skb_get_hash_symmetric``: the flow dissector's
    keys with addresses and ports put in a fixed order before hashing), so both directions of a
    TCP connection reach the same worker, which therefore sees whole connections and runs an
    ordinary ``Sensor``. IPv4 fragments are reassembled by the kernel before hashing (DEFRAG).

    Each exchange reaches ``on_record`` as a dict (the JSON of ``Exchange.to_dict()``), called in
    this process and thread only. Counters reach ``on_stats`` at the start, every
    ``stats_interval`` seconds and at the end: the sums over workers of ``Sensor.stats()`` plus
    ``bytes``, ``kernel_packets``, ``kernel_drops``, ``exchanges_dropped`` and ``workers``, with
    ``per_worker`` (a list of each worker's own counters). Without ``on_stats`` they are logged
    on stderr like ``capture`` does. The final sums are returned. Stops after ``duration`` seconds
    or on SIGINT/SIGTERM; workers then flush their open connections before exiting.

    A worker never blocks on the parent: if ``on_record`` falls behind, a worker holds up to
    ``WORKER_BACKLOG_BYTES`` of records, then drops new exchanges and counts them in
    ``exchanges_dropped``. Blocking instead would stop the worker reading its socket, and the
    kernel would drop packets, which breaks many exchanges (gaps, missing responses) where this
    loses whole ones, counted. Setup errors raise ``LiveCaptureError`` here before any worker
    starts; a worker that fails later stops the capture and its error is raised at the end.

    ``workers=1`` runs ``capture`` in this process, no fork; its records are ``to_dict()``
    itself (tuples where the JSON has arrays).

    What the hash cannot keep together (measured on veth, Linux 6.18): IPv6 fragments and IP
    fragments inside a tunnel (DEFRAG reassembles the outer IPv4 only; a non-first fragment has
    no ports); VXLAN/GENEVE, hashed on the outer UDP ports, when the encapsulator picks the
    source port per direction (connections split, records tagged ``one_sided``). ERSPAN, and
    VXLAN with one fixed source port, hash on outer headers only: all of it goes to one worker.
    Ethernet-over-GRE is hashed on the inner flow. For such mirrors use one worker.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise LiveCaptureError(f"workers must be between 1 and {MAX_WORKERS}, not {workers}")
    if workers == 1:
        return _capture_one(interface, config, bpf, duration, on_record, on_stats, stats_interval)
    socks, linktype, _ = open_fanout_sockets(interface, bpf, workers)
    deadline = time.monotonic() + duration if duration is not None else None
    return _Fanout(interface, socks, linktype, config, deadline, on_record, on_stats, stats_interval).run()


def _capture_one(interface: str, config: SensorConfig, bpf: str, duration: float | None,
                 on_record: Callable[[dict[str, Any]], None], on_stats: Callable[[dict[str, Any]], None] | None,
                 stats_interval: float) -> dict[str, int]:
    from sensor.engine import Sensor

    sensor = Sensor(lambda exchange: on_record(exchange.to_dict()), config)

    def report(stats: dict[str, int]) -> None:
        flat: dict[str, Any] = {**stats, "exchanges_dropped": 0, "workers": 1}
        if on_stats is not None:
            on_stats({**flat, "per_worker": [dict(stats)]})
        else:
            _print_stats(interface, flat)

    final = capture(interface, sensor, bpf=bpf, duration=duration, stats_interval=stats_interval,
                    on_stats=report)
    return {**final, "exchanges_dropped": 0, "workers": 1}


class _Outbox:
    """A worker's records and counters for the parent: frames (kind, length, payload) on a pipe.

    Writes are non-blocking while capturing, so the socket is always read; at most ``limit``
    bytes wait here, beyond that new records are dropped and counted. Once ``patient`` (capture
    stopped, connections being flushed) there are no packets to lose, so it waits instead.
    """

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.blocks: deque[bytes] = deque()
        self.tail = bytearray()  # small frames are coalesced into 64 KiB writes
        self.size = 0
        self.dropped = 0
        self.patient = False
        os.set_blocking(fd, False)

    def put(self, kind: int, payload: bytes, force: bool = False) -> None:
        if self.size >= self.limit and not force:
            if self.patient:
                os.set_blocking(self.fd, True)
                self.flush()
                os.set_blocking(self.fd, False)
            else:
                self.flush()
                if self.size >= self.limit:
                    self.dropped += 1
                    return
        self.tail += _FRAME.pack(kind, len(payload))
        self.tail += payload
        self.size += _FRAME.size + len(payload)
        if len(self.tail) >= 65536:
            self.blocks.append(bytes(self.tail))
            self.tail.clear()

    def flush(self) -> None:
        """Write what the pipe takes now."""
        if self.tail:
            self.blocks.append(bytes(self.tail))
            self.tail.clear()
        blocks = self.blocks
        while blocks:
            block = blocks[0]
            try:
                n = os.write(self.fd, block)
            except BlockingIOError:
                return
            self.size -= n
            if n < len(block):
                blocks[0] = block[n:]
                return
            blocks.popleft()

    def close(self) -> None:
        """Write everything, waiting for the parent, and close the pipe."""
        os.set_blocking(self.fd, True)
        try:
            self.flush()
        finally:
            os.close(self.fd)


def _worker(index: int, sock: socket.socket, linktype: int, interface: str, config: SensorConfig,
            out: _Outbox, deadline: float | None, stats_every: float, stopped: Callable[[], bool]) -> int:
    """A worker's whole life after fork: capture, flush, final counters. Returns the exit code."""
    from sensor.engine import Sensor

    dumps = orjson.dumps
    sensor = Sensor(lambda exchange: out.put(_RECORD, dumps(exchange.to_dict())), config)
    tap = _Tap(sock, linktype, sensor, interface)

    def counters() -> bytes:
        stats = tap.stats()
        stats["exchanges_dropped"] = out.dropped
        return dumps(stats)

    sock.setblocking(False)
    with relaxed_gc():
        next_stats = time.monotonic() + stats_every
        while not stopped():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= next_stats:
                tap.read_kernel()
                out.put(_STATS, counters(), force=True)
                next_stats = now + stats_every
            readable, _, _ = select.select([sock], [out.fd] if out.size else [], [], 0.1)
            if readable:
                tap.drain(stopped)
            if out.size:
                out.flush()
    # Stop taking packets but stay in the group while flushing: leaving it would rehash the
    # flows of this worker onto the others, which may still be reading.
    _attach(sock, _DROP_ALL)
    tap.read_kernel()
    out.patient = True
    sensor.flush(time.monotonic() + SHUTDOWN_FLUSH_SECONDS if stopped() else None)
    sock.close()
    out.put(_FINAL, counters(), force=True)
    out.close()
    return 0


def _worker_main(index: int, socks: list[socket.socket], pipes: list[tuple[int, int]], linktype: int,
                 interface: str, config: SensorConfig, deadline: float | None, stats_every: float,
                 parent_mask: set[int | signal.Signals]) -> int:
    """Entry point in the forked child. Never raises: errors go to the parent as a message."""
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    # Signals are blocked across fork; the handlers are ours before they are let in.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    signal.set_wakeup_fd(-1)  # the caller's (an event loop's) descriptor is closed below
    signal.pthread_sigmask(signal.SIG_SETMASK, parent_mask)
    # Keep only this worker's socket and pipe end: a sibling's write end held open here would
    # keep the parent from seeing that sibling's end of file, and the caller's descriptors
    # (output file, listening metrics socket, database connections) are none of a worker's
    # business and must not outlive the parent in it.
    for j, sock in enumerate(socks):
        if j != index:
            sock.close()
    keep = sorted({0, 1, 2, socks[index].fileno(), pipes[index][1]})
    for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, high)
    out = _Outbox(pipes[index][1], WORKER_BACKLOG_BYTES)
    try:
        return _worker(index, socks[index], linktype, interface, config, out, deadline, stats_every,
                       lambda: stop)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never a child traceback
        with contextlib.suppress(BaseException):
            out.put(_ERROR, _reason(exc).encode(), force=True)
            out.close()
        return 1


class _Fanout:
    """The parent: forks the workers, reads their pipes, aggregates counters, reaps them."""

    def __init__(self, interface: str, socks: list[socket.socket], linktype: int, config: SensorConfig,
                 deadline: float | None, on_record: Callable[[dict[str, Any]], None],
                 on_stats: Callable[[dict[str, Any]], None] | None, stats_interval: float) -> None:
        self.interface = interface
        self.socks = socks
        self.linktype = linktype
        self.config = config
        self.deadline = deadline
        self.on_record = on_record
        self.on_stats = on_stats
        self.stats_interval = stats_interval
        self.n = len(socks)
        self.pids: list[int] = []
        self.alive: set[int] = set()
        self.latest: list[dict[str, int]] = [dict(_ZERO_STATS) for _ in socks]
        self.finished = [False] * self.n  # final counters received (the worker flushed)
        self.failed: set[int] = set()  # workers that reported an error
        self.errors: list[str] = []
        self.stops = 0  # SIGINT/SIGTERM received
        self.stop_at: float | None = None
        self.killed = False  # SIGKILL sent on purpose: missing final counters are expected

    # -- start -------------------------------------------------------------------------------
    def _fork(self, pipes: list[tuple[int, int]]) -> None:
        stats_every = min(self.stats_interval, 1.0)  # so the parent's reports are at most 1 s stale
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for index in range(self.n):
                try:
                    pid = os.fork()
                except OSError as exc:
                    raise LiveCaptureError(f"cannot start capture worker {index}: {exc.strerror}") from exc
                if pid == 0:
                    code = 1
                    try:
                        code = _worker_main(index, self.socks, pipes, self.linktype, self.interface,
                                            self.config, self.deadline, stats_every, mask)
                    finally:
                        os._exit(code)  # no atexit, no buffered parent output written twice
                self.pids.append(pid)
                self.alive.add(pid)
        finally:
            if self.pids and len(self.pids) < self.n:
                self._kill(signal.SIGKILL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def run(self) -> dict[str, int]:
        pipes: list[tuple[int, int]] = []
        readers: dict[int, int] = {}
        try:
            for _ in range(self.n):
                r, w = os.pipe2(os.O_CLOEXEC)
                pipes.append((r, w))
                with contextlib.suppress(OSError):
                    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1024 * 1024)  # fewer wake-ups
        except OSError as exc:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            for sock in self.socks:
                sock.close()
            raise LiveCaptureError(f"cannot start capture workers: {exc.strerror}") from exc

        def request_stop(signum: int, frame: object) -> None:
            self.stops += 1

        try:
            with _stop_on_signals(request_stop):
                try:
                    self._fork(pipes)
                finally:
                    for sock in self.socks:
                        sock.close()  # the workers have theirs
                    for index, (r, w) in enumerate(pipes):
                        os.close(w)
                        readers[r] = index
                self._report()  # the capture is live
                self._loop(readers)
                self._reap()
        finally:
            for r in readers:
                with contextlib.suppress(OSError):
                    os.close(r)
            if self.alive:  # on_record/on_stats raised, or worse: do not leave workers behind
                self._kill(signal.SIGTERM)
                self._reap(timeout=5.0)
        totals = self._totals()
        self._report()
        if self.errors:
            raise LiveCaptureError("; ".join(self.errors))
        return totals

    # -- running -----------------------------------------------------------------------------
    def _loop(self, readers: dict[int, int]) -> None:
        sel = selectors.DefaultSelector()
        buffers = {r: bytearray() for r in readers}
        for r, index in readers.items():
            sel.register(r, selectors.EVENT_READ, index)
        next_stats = time.monotonic() + self.stats_interval
        last_data = time.monotonic()
        try:
            while readers:
                now = time.monotonic()
                # At most 0.1 s between looks at the stop requests: a SIGTERM is answered fast.
                for key, _ in sel.select(max(0.0, min(next_stats - now, 0.1))):
                    fd = key.fd
                    data = os.read(fd, 1024 * 1024)
                    if not data:
                        sel.unregister(fd)
                        os.close(fd)
                        del readers[fd]
                        self._worker_gone(key.data)
                        continue
                    last_data = time.monotonic()
                    self._feed(key.data, buffers[fd], data)
                now = time.monotonic()
                if self.stop_at is None and (self.stops or self.errors or any(self.finished) or (
                        self.deadline is not None and now >= self.deadline)):
                    # One worker stopping ends the capture for all: with one member fewer in the
                    # group the kernel would rehash flows between the others. SIGTERM reaches every
                    # worker whatever stopped us (a terminal's SIGINT reaches them by itself).
                    self.stop_at = now
                    self._kill(signal.SIGTERM)
                if self.stops > 1 and not self.killed:
                    self.killed = True  # asked twice: stop now, flushed or not
                    self._kill(signal.SIGKILL)
                if (self.stop_at is not None and not self.killed
                        and now - max(last_data, self.stop_at) > SHUTDOWN_GRACE):
                    self.errors.append(f"capture workers on {self.interface} did not stop within "
                                       f"{SHUTDOWN_GRACE:.0f} s and were killed")
                    self.killed = True
                    self._kill(signal.SIGKILL)
                if now >= next_stats:
                    self._report()
                    next_stats = now + self.stats_interval
        finally:
            sel.close()

    def _feed(self, index: int, buf: bytearray, data: bytes) -> None:
        buf += data
        pos, end_of_data = 0, len(buf)
        header = _FRAME.size
        while end_of_data - pos >= header:
            kind, length = _FRAME.unpack_from(buf, pos)
            end = pos + header + length
            if end > end_of_data:
                break
            payload = buf[pos + header:end]
            pos = end
            if kind == _RECORD:
                self.on_record(orjson.loads(payload))
            elif kind in (_STATS, _FINAL):
                self.latest[index] = {**_ZERO_STATS, **orjson.loads(payload)}
                self.finished[index] = kind == _FINAL
            elif kind == _ERROR:
                self.failed.add(index)
                self.errors.append(f"capture worker {index} on {self.interface} failed: "
                                   f"{payload.decode(errors='replace')}")
        del buf[:pos]

    def _worker_gone(self, index: int) -> None:
        """A worker closed its pipe. Without its final counters it crashed (or was killed)."""
        if not self.finished[index] and index not in self.failed and not self.killed:
            self.errors.append(f"capture worker {index} on {self.interface} stopped unexpectedly")

    def _kill(self, sig: int) -> None:
        for pid in self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _reap(self, timeout: float | None = None) -> None:
        """Wait for the workers; after ``timeout`` seconds, kill those still there."""
        give_up = time.monotonic() + timeout if timeout is not None else None
        for pid in self.pids:
            if pid not in self.alive:
                continue
            while not os.waitpid(pid, os.WNOHANG if give_up is not None else 0)[0]:
                if give_up is not None and time.monotonic() >= give_up:
                    os.kill(pid, signal.SIGKILL)
                    give_up = None  # now wait for it
                else:
                    time.sleep(0.05)
            self.alive.discard(pid)

    # -- counters ----------------------------------------------------------------------------
    def _totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for stats in self.latest:
            totals.update(stats)
        out = {**_ZERO_STATS, **totals}
        out["workers"] = self.n
        return out

    def _report(self) -> None:
        totals = self._totals()
        if self.on_stats is not None:
            self.on_stats({**totals, "per_worker": [dict(stats) for stats in self.latest]})
        else:
            _print_stats(self.interface, totals)
