"""Protocols beyond HTTP/1, as sans-I/O parsers behind one per-connection seam.

- ``detect``: the protocol of a connection from the first bytes of either direction.
- ``session.ProtoSession``: detection, roles, upgrade and CONNECT hand-overs, TLS decryption
  feeding a nested session; what the sensor's ``Connection`` will hold in phase 2.
- ``h2`` (with ``hpack_state``), ``grpc`` (with ``protobuf``), ``websocket`` (after ``upgrade``),
  ``dubbo`` (with ``hessian2``), ``tls`` (with ``tls_hello``).
- ``replay``: capture files through the sensor's TCP reassembly into sessions (tests, benches).

Every parser: ``feed(side, data, ts)``, ``feed_gap(side, size, ts)``, ``close(ts)`` returning
frozen event dataclasses; anomalies as tags and ``counters``; every buffer bounded.
"""
