"""One ``parse_bind`` for every listen address (serve --bind, --metrics, APICENSUS_API_BIND)."""

from __future__ import annotations

import pytest

from sensor.plumbing.bind import parse_bind


def test_bind_parsing() -> None:
    assert parse_bind("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind("[::1]:9000") == ("::1", 9000)
    assert parse_bind(":8000") == ("0.0.0.0", 8000)
    for bad in ("localhost", "host:0", "host:70000", "::1:80", "h:x"):
        with pytest.raises(ValueError):
            parse_bind(bad)


def test_every_command_reads_an_address_the_same_way() -> None:
    # ":PORT" is all interfaces for serve and --metrics alike (they used to disagree).
    assert parse_bind(":9102", allow_port_zero=True) == ("0.0.0.0", 9102)
    assert parse_bind("127.0.0.1:0", allow_port_zero=True) == ("127.0.0.1", 0)
    assert parse_bind(" [fe80::1]:80 ") == ("fe80::1", 80)
    for bad in ("9102", "h:\u00b2", "h:", "[::1]9000", "h:-1"):
        with pytest.raises(ValueError):
            parse_bind(bad, allow_port_zero=True)
