"""Our gRPC call count per real capture against tshark's (issue 13's floor: at least tshark's).

tshark's count is its view of each capture of ../shared/corpus/pcaps-protocols that the corpus's
SOURCES.md labels HTTP/2 or gRPC, with the decode-as option SOURCES.md gives for it (most use
non-standard ports or a CONNECT tunnel: ``-d tcp.port==P,http2`` / ``,http``): the distinct
(TCP stream, HTTP/2 stream id) pairs of packets carrying gRPC. Ours is the gRPC records the
sensor makes of the capture. tshark runs on the captures where SOURCES.md's own tshark columns
(``grpc``, and the decode-as ``http2.header / grpc``) show gRPC packets at all; where both say 0
its call count is 0 without a run (a run is about 0.5 s).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sensor.engine import iter_exchanges
from tests.sensor.proto.test_corpus import SHARED

TSHARK = shutil.which("tshark")
DECODE_AS = re.compile(r"`-d (tcp\.port==\d+,https?2?)`")


def _grpc_packets(cells: list[str]) -> int:
    """gRPC packets SOURCES.md's tshark columns report: default view plus the decode-as one."""
    default = int(cells[9]) if cells[9].isdigit() else 0
    m = re.search(r":\s*\d+\s*/\s*(\d+)\s*$", cells[-2])
    return default + (int(m.group(1)) if m else 0)


def _labelled_h2() -> Iterator[tuple[Path, str | None, int]]:
    """(capture, its decode-as option or None, gRPC packets per SOURCES.md) per HTTP/2 or gRPC row."""
    sources = SHARED / "SOURCES.md"
    for line in sources.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[1].endswith((".pcap", ".pcapng")) and (
                "gRPC" in cells[5] or "HTTP/2" in cells[5]):
            path = SHARED / cells[1]
            if path.is_file():
                m = DECODE_AS.search(cells[-2])
                yield path, m.group(1) if m else None, _grpc_packets(cells)


def tshark_calls(item: tuple[Path, str | None, int]) -> int:
    assert TSHARK is not None
    path, decode_as, packets = item
    if not packets:
        return 0
    done = subprocess.run(
        [TSHARK, "-r", str(path), *(("-d", decode_as) if decode_as else ()), "-Y", "grpc",
         "-T", "fields", "-e", "tcp.stream", "-e", "http2.streamid"],
        capture_output=True, text=True, timeout=120, check=False)
    calls = set()
    for line in done.stdout.splitlines():
        stream, _, ids = line.partition("\t")
        calls.update((stream, sid) for sid in ids.split(",") if sid and sid != "0")
    return len(calls)


def ours(path: Path) -> int:
    return sum(1 for ex in iter_exchanges(path) if ex.protocol == "grpc")


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (.ci/run installs it with apt-get)")
@pytest.mark.skipif(not (SHARED / "SOURCES.md").is_file(),
                    reason=f"the shared corpus is not beside this clone ({SHARED})")
def test_at_least_tshark_grpc_calls_on_every_capture() -> None:
    captures = sorted(_labelled_h2())
    assert len(captures) >= 10, captures  # the corpus lists 20: the selection works
    assert sum(1 for _, d, _ in captures if d) >= 5, captures  # and their decode-as options
    assert sum(1 for _, _, n in captures if n) >= 4, captures  # and their gRPC packet counts
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip((p.name for p, _, _ in captures), pool.map(tshark_calls, captures), strict=True))
    ours_by_name = {path.name: ours(path) for path, _, _ in captures}
    behind = {name: (ours_by_name[name], theirs) for name, theirs in counts.items() if ours_by_name[name] < theirs}
    assert not behind, f"fewer gRPC calls than tshark (ours, tshark): {behind}"
    # tshark finds gRPC in a handful of these; so do we, and where it finds none we may find more
    # (df_grpc-unknown: a call whose :path is not decodable).
    assert sum(counts.values()) >= 4 and sum(ours_by_name.values()) >= sum(counts.values())
