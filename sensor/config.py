"""Sensor settings: every buffer and queue has a bound, and this is where they are set."""

from __future__ import annotations

from dataclasses import dataclass

# JetStream stream shared by sensors and analyzers unless --stream / $APICENSUS_STREAM say otherwise.
DEFAULT_STREAM = "apicensus"
# Bytes an open flow costs at most, its waiting request's head included (measured with tracemalloc:
# README, "Memory"; tests/sensor/test_engine.py holds the sensor to it). max_flows and
# max_buffered_bytes below are chosen from it so that a sensor fits in 1 GB.
FLOW_BYTES_BOUND = 3072


@dataclass(frozen=True, slots=True)
class SensorConfig:
    # Bodies: keep at most this many decoded bytes per message; lengths are counted regardless.
    body_cap: int = 64 * 1024
    # Decompression bombs: stop decoding a body after this many decoded bytes.
    max_decoded_bytes: int = 32 * 1024 * 1024
    # HTTP heads larger than this are not HTTP we can use: the stream resyncs past them.
    max_head_bytes: int = 64 * 1024
    # TCP: out-of-order bytes held per direction before declaring a gap and moving on.
    max_ooo_bytes: int = 1024 * 1024
    max_ooo_segments: int = 512
    # Segments buffered for a half-stream whose start (SYN) was never seen, before picking
    # the lowest sequence number as its start (lets shuffled captures reassemble correctly).
    midstream_settle_segments: int = 8
    # Flow table: connections idle this long (capture time) are flushed and evicted.
    idle_timeout: float = 120.0
    # ...and the table never holds more than this many connections (oldest evicted first).
    max_flows: int = 200_000
    # Pipelining: requests awaiting a response per connection.
    max_pending_requests: int = 1024
    # Bytes scanned for an HTTP message start on a connection that never showed one.
    max_unrecognized_bytes: int = 256 * 1024
    # Bytes held by all flows together (out-of-order segments, partial heads and bodies, requests
    # waiting for their answer): past it the flows holding most are closed, their exchanges
    # emitted. With max_flows this bounds the sensor's memory (README, "Memory").
    max_buffered_bytes: int = 192 * 1024 * 1024
    # IPv4/IPv6 fragment reassembly bounds: sets in progress, their bytes together, their age.
    max_fragment_sets: int = 4096
    max_fragment_bytes: int = 32 * 1024 * 1024
    fragment_timeout: float = 30.0
    # How often (capture seconds) idle flows are swept.
    sweep_interval: float = 5.0
    # Protocols beyond HTTP/1 (sensor.proto): an NSS key log (SSLKEYLOGFILE) to decrypt TLS with,
    # and a FileDescriptorSet (protoc --descriptor_set_out) naming gRPC protobuf fields.
    tls_keylog: str | None = None
    proto_descriptors: str | None = None
    # HTTP/2 frames, WebSocket and Dubbo messages are held whole up to this size; streams per
    # HTTP/2 connection are bounded too.
    max_proto_frame: int = 1 << 20
    max_h2_streams: int = 1024
