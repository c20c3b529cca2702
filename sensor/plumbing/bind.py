"""``HOST:PORT`` listen addresses, parsed one way for every command (``serve --bind``,
``--metrics``, ``APICENSUS_API_BIND``)."""

from __future__ import annotations

ALL_INTERFACES = "0.0.0.0"


def parse_bind(value: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (all interfaces) -> (host, port).

    ValueError with a message saying what is wrong otherwise. Port 0 (the system picks a free
    port) only where the caller reports the port it got (``allow_port_zero``).
    """
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {value!r}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected HOST:PORT or :PORT, got {value!r}")
        if ":" in host:
            raise ValueError(f"an IPv6 address needs brackets: [{host}]:{port_text}")
    lowest = 0 if allow_port_zero else 1
    # ASCII digits only: str.isdigit() also accepts '²' and other Unicode digits.
    if not (port_text.isascii() and port_text.isdigit()) or not lowest <= int(port_text) <= 65535:
        raise ValueError(f"invalid port {port_text!r} in {value!r}")
    return host or ALL_INTERFACES, int(port_text)
