"""Every public capture in ../shared/corpus: no traceback, and exchange counts against tshark.

Where we differ from tshark's count (SOURCES.md), the file is listed below with our count and why
we are right; the test pins our count so a change in behaviour is noticed. Skipped, with the reason,
in a plain clone where ../shared is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sensor.engine import iter_exchanges
from sensor.pcapio import CaptureError
from tests.sensor.conftest import SHARED_CORPUS

SOURCES = SHARED_CORPUS / "SOURCES.md"
pytestmark = pytest.mark.skipif(not SOURCES.exists(), reason=f"{SHARED_CORPUS} is absent (plain clone)")

# file -> (our requests, our responses, why we differ from tshark)
DIFFERENCES: dict[str, tuple[int, int, str]] = {
    "arkime_http-100-continue.pcap": (1, 1, "tshark counts the interim 100 as a response; we attach it to the final one"),
    "arkime_http-tcp-seq-issue.pcap": (1, 1, "tshark gives up on the sequence anomaly; the POST and its answer are in the payload"),
    "arkime_twovlan.pcap": (1, 1, "the response starts in the capture; tshark cannot reassemble it, we emit it tagged truncated_body"),
    "arkime_wireshark-retrans.pcap": (4, 4, "tshark counts retransmitted chunked responses twice; 4 POSTs get 4 answers"),
    "cs_http-espn.pcapng": (61, 61, "one response has a lost segment; tshark drops it, we keep it tagged gap"),
    "df_client-ip-json.pcap": (1, 1, "missing segments defeat tshark; the JSON POST and response are there (tagged gap)"),
    "df_erspan-json-api.pcap": (23, 17, "mid-stream and one-sided ERSPAN flows tshark does not dissect; each request is real"),
    "ndpi_1kxun.pcap": (133, 121, "tshark's 244 includes 143 SSDP requests over UDP (not HTTP/TCP); responses with gaps kept"),
    "ndpi_http-manipulated.pcap": (3, 3, "a malformed response tshark rejects is still the answer to the third GET"),
    "ndpi_ipp-chunked.pcap": (4, 4, "tshark counts 100 Continue interim responses; 4 POSTs, 4 final responses"),
    "ndpi_netflix.pcap": (32, 32, "tshark's 48 includes 16 SSDP M-SEARCH over UDP; responses with lost segments kept, tagged gap"),
    "ndpi_soap.pcap": (2, 1, "mid-stream, out-of-order SOAP flows; requests found by content after the gap"),
    "ppp_4k-http-requests.pcap": (310, 0, "keep-alive streams of back-to-back POSTs tshark does not reassemble across lost segments"),
    "ppp_http-malformed-response.pcapng": (0, 1, "a single 403 response packet with no request: emitted tagged missing_request"),
    "ppp_partial-http-request.pcap": (1, 0, "the request head is cut short; emitted at end of capture with what was seen"),
    "ppp_raw-ip.pcap": (19, 7, "one more response recovered from a flow tshark leaves unreassembled"),
    "ppp_unidirectional-missing-packet.pcap": (2, 0, "two POSTs on the connection; tshark stops at the missing segment"),
    "sv_http-connect-simple.pcap": (2, 2, "the GET inside the CONNECT tunnel is plain HTTP and got a response"),
    "sv_http-gap-beyond-body.pcap": (3, 2, "responses around the gap are recovered by resync; the gapped one is missing"),
    "sv_http-gap-simple.pcap": (3, 3, "the response with a gap in its body is kept, tagged gap"),
    "sv_http-multiple-cl.pcap": (2, 1, "two POSTs on the connection (SOURCES lists POST2); the second has no response"),
    "sv_http-multiple100.pcap": (1, 1, "tshark counts the interim 100 responses; one final response"),
    "sv_http-protocol-nodup.pcap": (40, 40, "40 pipelined GETs (SOURCES: tshark only splits 5/9)"),
    "sv_http-range-file.pcap": (15, 15, "the response tshark loses to the lost segment is kept, tagged gap"),
    "sv_http-request-invalid.pcap": (4, 6, "tshark's 8 includes 4 SSDP M-SEARCH over UDP"),
    "sv_http1-noint-status.pcap": (1, 0, "status '2OO' is not a number: the response is kept with status null, tagged bad_status"),
    "tcpflow_test1-part1-truncated.pcap": (1, 1, "the response head is in the first part; emitted tagged truncated_body"),
    "tcpflow_test5-lines-randomized.pcap": (1, 1, "shuffled packets reassembled by sequence number (SOURCES: tshark 0/0)"),
    "zeek_100-continue.pcap": (1, 1, "tshark counts the interim 100 as a response"),
    "zeek_261-te-cl-desync.pcap": (2, 0, "TE/CL desync: the smuggled GET is a second request (SOURCES: POST1, GET1)"),
    "zeek_bro.org.pcap": (31, 31, "one response has a lost segment; kept, tagged gap"),
    "zeek_entity-gap.pcap": (1, 1, "the response body has a gap; kept, tagged gap"),
    "zeek_http-desync-request-response.pcap": (5, 7, "two responses whose requests were not captured, tagged missing_request"),
    "zeek_http-single-conn-port22.pcap": (1, 1, "HTTP on port 22, found by content (tshark needs decode-as)"),
    "zeek_image-post-8000.pcap": (1, 1, "HTTP on port 8000, found by content (tshark needs decode-as)"),
    "zeek_ipv6-http-atomic-frag.pcap": (4, 4, "HTTP/0.9 GETs in atomic fragments, each answered by a raw body (no status line: counted by its 0.9 response); one flow's answer is captured before its request and is held until it"),
    "zeek_methods.pcap": (26, 49, "malformed lines with non-standard methods (CCM_POST /HTTP/1.1) are not taken as requests; their 400 answers are kept as missing_request"),
    "zeek_tcp-http-with-padding.pcap": (1, 1, "a request sent one byte per segment is reassembled"),
}


def tshark_counts() -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for line in SOURCES.read_text().splitlines():
        m = re.match(r"\| (\S+\.(?:pcap|pcapng|cap)) \|", line)
        if m:
            cols = [c.strip() for c in line.split("|")]
            counts[m.group(1)] = (int(cols[-4]), int(cols[-3]))
    return counts


COUNTS = tshark_counts() if SOURCES.exists() else {}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_capture_processed_and_counted(name: str) -> None:
    path: Path = SHARED_CORPUS / "pcaps" / name
    requests = responses = 0
    try:
        for ex in iter_exchanges(path):
            if ex.protocol != "http/1.1":
                continue  # tshark's "http" filter is HTTP/1 (h2, gRPC... are checked in tests/sensor/proto)
            requests += ex.method is not None
            responses += ex.status is not None or ex.response_version == "0.9"
    except CaptureError:
        pass  # truncated/corrupt files: counted up to the damage (test_pcapio checks the message)
    expected = DIFFERENCES[name][:2] if name in DIFFERENCES else COUNTS[name]
    assert (requests, responses) == expected


def test_every_documented_difference_is_a_real_file() -> None:
    assert set(DIFFERENCES) <= set(COUNTS)
